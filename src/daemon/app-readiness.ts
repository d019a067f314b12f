/**
 * Whether every app has its wanted processes online: what GET /readyz answers and what the
 * foreground daemon waits for before it tells systemd READY=1. One function, so the two never
 * disagree. A stopped process is not wanted (someone stopped it, or it exited for good with
 * autorestart off); any other status but online is a process that should be up and is not.
 */
import type { ProcessStatus } from '../shared/protocol.js';

export interface WaitingProcess {
  app: string;
  id: number;
  status: ProcessStatus;
  /** It has exited at least once since the daemon started it: not merely slow to start. */
  exited: boolean;
}

export interface Readiness {
  ready: boolean;
  /** In words, for /readyz and systemd's STATUS=. */
  reason: string;
  /** Processes that should be online and are not (at most MAX_LISTED of them). */
  waiting: WaitingProcess[];
  /** Processes still on their first launch since the daemon started them. */
  firstLaunches: number;
}

/** What readiness needs to see of the registry. */
export interface ReadinessSource {
  readonly apps: ReadonlyMap<string, { readonly name: string; readonly slots: readonly ReadinessSlot[] }>;
}

export interface ReadinessSlot {
  readonly id: number;
  readonly state: { readonly status: ProcessStatus };
  readonly lastExit: unknown;
}

const MAX_LISTED = 10;

export function appReadiness(source: ReadinessSource): Readiness {
  const waiting: WaitingProcess[] = [];
  let wanted = 0;
  let notOnline = 0;
  let firstLaunches = 0;
  for (const app of source.apps.values()) {
    for (const slot of app.slots) {
      const status = slot.state.status;
      if (status === 'stopped') continue;
      wanted += 1;
      if (status === 'online') continue;
      notOnline += 1;
      const exited = slot.lastExit !== null;
      if (status === 'launching' && !exited) firstLaunches += 1;
      if (waiting.length < MAX_LISTED) waiting.push({ app: app.name, id: slot.id, status, exited });
    }
  }
  if (notOnline === 0) return { ready: true, reason: `${wanted} processes online`, waiting, firstLaunches };
  const first = waiting.map((p) => `${p.app}:${p.id} ${p.status}`).join(', ');
  return { ready: false, reason: `${notOnline} of ${wanted} processes not online (${first}${notOnline > waiting.length ? ', ...' : ''})`, waiting, firstLaunches };
}

/** Not ready with a reason that is about the daemon itself (starting, stopping). */
export function daemonNotReady(reason: string): Readiness {
  return { ready: false, reason, waiting: [], firstLaunches: 0 };
}

/**
 * During start-up: true once no process is still on its first launch. A process that has
 * failed once (crash, crash loop) will not be online soon, and waiting for it would let one
 * broken app hold the whole unit in "activating" until systemd gives up on it.
 */
export function startupSettled(readiness: Readiness): boolean {
  return readiness.ready || readiness.firstLaunches === 0;
}
