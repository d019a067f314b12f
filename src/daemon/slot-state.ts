/**
 * A process slot's status as a discriminated union: each variant carries only what is true in
 * that state. `transition` is the one place that decides which moves are legal; the slot is
 * the only caller, and the rest of the daemon reads the state but never writes it.
 */
import type { ProcessStatus } from '../shared/protocol.js';

export type SlotState =
  /** Spawned, not yet ready (no 'ready', no listen, not yet alive for min_uptime). */
  | { status: 'launching'; since: number; pid: number | null }
  /** Ready and, in cluster mode, in rotation. */
  | { status: 'online'; since: number; pid: number | null; readyAt: number }
  /** Asked to stop; waiting for the process to drain and exit. */
  | { status: 'stopping'; since: number; pid: number | null }
  /** Not running, and nothing will start it but a command. */
  | { status: 'stopped'; since: number }
  /** Exited; an automatic restart is scheduled. */
  | { status: 'waiting-restart'; since: number; restartAt: number }
  /** Crash loop (or could not start); a retry may be scheduled at the back-off cap. */
  | { status: 'errored'; since: number; reason: string; retryAt: number | null };

const LEGAL: Record<ProcessStatus, readonly ProcessStatus[]> = {
  launching: ['online', 'stopping', 'waiting-restart', 'errored', 'stopped', 'launching'],
  online: ['stopping', 'waiting-restart', 'errored', 'stopped', 'launching', 'online'],
  stopping: ['stopped', 'launching'],
  stopped: ['launching', 'stopped'],
  'waiting-restart': ['launching', 'stopping', 'stopped', 'errored'],
  errored: ['launching', 'stopping', 'stopped', 'errored'],
};

export class IllegalTransition extends Error {
  override name = 'IllegalTransition';
}

export function canTransition(from: ProcessStatus, to: ProcessStatus): boolean {
  return LEGAL[from].includes(to);
}

/** Returns `next` if the move from `current` is legal; throws otherwise (a daemon bug, not input). */
export function transition(current: SlotState, next: SlotState): SlotState {
  if (!canTransition(current.status, next.status)) {
    throw new IllegalTransition(`slot cannot go from ${current.status} to ${next.status}`);
  }
  return next;
}

/** The pid a state records, if it has a process. */
export function pidOf(state: SlotState): number | null {
  return 'pid' in state ? state.pid : null;
}
