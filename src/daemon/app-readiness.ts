/**
 * Whether every app has its wanted processes online: what GET /readyz answers and what the
 * foreground daemon waits for before it tells systemd READY=1. One function, so the two never
 * disagree. Wanted is the slot's own notion (Slot.wanted): not stopped and not being stopped,
 * whether by a command or because it exited for good with autorestart off. A wanted process
 * in any status but online should be up and is not.
 */
import type { ProcessStatus } from '../shared/protocol.js';

interface WaitingProcess {
  app: string;
  id: number;
  status: ProcessStatus;
  /** It has exited at least once since the daemon started it: not merely slow to start. */
  exited: boolean;
}

export type DaemonPhase = 'starting' | 'running' | 'stopping';

export interface ReadinessReport {
  /** Apps are judged only while running; starting and stopping are never ready. */
  phase: DaemonPhase;
  ready: boolean;
  /** In words, for /readyz and systemd's STATUS=. */
  reason: string;
  /** Processes that should be online and are not (at most MAX_LISTED of them). */
  waiting: WaitingProcess[];
  /** Processes still on their first launch since the daemon started them. */
  firstLaunches: number;
}

/** What readiness needs to see of the registry. */
interface ReadinessSource {
  readonly apps: ReadonlyMap<string, { readonly name: string; readonly slots: readonly ReadinessSlot[] }>;
}

export interface ReadinessSlot {
  readonly id: number;
  readonly wanted: boolean;
  readonly state: { readonly status: ProcessStatus };
  readonly lastExit: unknown;
}

const MAX_LISTED = 10;

export function appReadiness(source: ReadinessSource): ReadinessReport {
  const waiting: WaitingProcess[] = [];
  let wanted = 0;
  let notOnline = 0;
  let firstLaunches = 0;
  for (const app of source.apps.values()) {
    for (const slot of app.slots) {
      if (!slot.wanted) continue;
      const status = slot.state.status;
      wanted += 1;
      if (status === 'online') continue;
      notOnline += 1;
      const exited = slot.lastExit !== null;
      if (status === 'launching' && !exited) firstLaunches += 1;
      if (waiting.length < MAX_LISTED) waiting.push({ app: app.name, id: slot.id, status, exited });
    }
  }
  if (notOnline === 0) return { phase: 'running', ready: true, reason: `${wanted} processes online`, waiting, firstLaunches };
  const first = waiting.map((p) => `${p.app}:${p.id} ${p.status}`).join(', ');
  return { phase: 'running', ready: false, reason: `${notOnline} of ${wanted} processes not online (${first}${notOnline > waiting.length ? ', ...' : ''})`, waiting, firstLaunches };
}

/** Not ready because of the daemon itself. */
export function daemonNotReady(phase: Exclude<DaemonPhase, 'running'>): ReadinessReport {
  return { phase, ready: false, reason: `the daemon is ${phase}`, waiting: [], firstLaunches: 0 };
}

/**
 * During start-up: true once no process is still on its first launch. A process that has
 * failed once (crash, crash loop) will not be online soon, and waiting for it would let one
 * broken app hold the whole unit in "activating" until systemd gives up on it.
 */
export function startupSettled(readiness: ReadinessReport): boolean {
  return readiness.phase === 'running' && (readiness.ready || readiness.firstLaunches === 0);
}
