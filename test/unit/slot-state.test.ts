import { describe, expect, it } from 'vitest';
import { IllegalTransition, canTransition, pidOf, transition, type SlotState } from '../../src/daemon/slot-state.js';
import { PROCESS_STATUSES, type ProcessStatus } from '../../src/shared/protocol.js';

/**
 * The intended machine, written out independently of slot-state.ts. Every status not listed
 * under a source is illegal from it.
 *
 *   launching        → online (ready), stopping (stop), waiting-restart / errored / stopped
 *                      (exit: restart, crash loop, give up), launching (relaunch)
 *   online           → stopping, waiting-restart, errored, stopped, launching, online (reload)
 *   stopping         → stopped (exited), launching (restart)
 *   stopped          → launching (start), stopped (stop again)
 *   waiting-restart  → launching (timer), stopping, stopped (stop), errored
 *   errored          → launching (retry / start), stopping, stopped, errored
 */
const INTENDED: Record<ProcessStatus, readonly ProcessStatus[]> = {
  launching: ['launching', 'online', 'stopping', 'stopped', 'waiting-restart', 'errored'],
  online: ['launching', 'online', 'stopping', 'stopped', 'waiting-restart', 'errored'],
  stopping: ['launching', 'stopped'],
  stopped: ['launching', 'stopped'],
  'waiting-restart': ['launching', 'stopping', 'stopped', 'errored'],
  errored: ['launching', 'stopping', 'stopped', 'errored'],
};

function stateOf(status: ProcessStatus, since = 1000): SlotState {
  switch (status) {
    case 'launching':
      return { status, since, pid: 4242 };
    case 'online':
      return { status, since, pid: 4242, readyAt: since };
    case 'stopping':
      return { status, since, pid: 4242 };
    case 'stopped':
      return { status, since };
    case 'waiting-restart':
      return { status, since, restartAt: since + 100 };
    case 'errored':
      return { status, since, reason: 'crash loop', retryAt: null };
  }
}

const PAIRS: Array<[ProcessStatus, ProcessStatus, boolean]> = PROCESS_STATUSES.flatMap((from) =>
  PROCESS_STATUSES.map((to): [ProcessStatus, ProcessStatus, boolean] => [from, to, INTENDED[from].includes(to)]),
);

describe('the status transition table', () => {
  it('covers every pair of the six statuses', () => {
    expect(PROCESS_STATUSES).toHaveLength(6);
    expect(PAIRS).toHaveLength(36);
  });

  it.each(PAIRS)('%s → %s legal: %s', (from, to, legal) => {
    expect(canTransition(from, to)).toBe(legal);
    if (legal) {
      const next = stateOf(to, 2000);
      expect(transition(stateOf(from), next)).toBe(next);
    } else {
      expect(() => transition(stateOf(from), stateOf(to, 2000))).toThrow(IllegalTransition);
      expect(() => transition(stateOf(from), stateOf(to, 2000))).toThrow(`slot cannot go from ${from} to ${to}`);
    }
  });
});

describe('named transitions', () => {
  it.each<[ProcessStatus, ProcessStatus]>([
    ['launching', 'online'],
    ['online', 'stopping'],
    ['stopping', 'stopped'],
    ['stopped', 'launching'],
    ['waiting-restart', 'launching'],
    ['errored', 'launching'],
    ['launching', 'waiting-restart'],
    ['online', 'errored'],
  ])('legal: %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
    expect(() => transition(stateOf(from), stateOf(to))).not.toThrow();
  });

  it.each<[ProcessStatus, ProcessStatus]>([
    ['stopped', 'online'],
    ['stopping', 'online'],
    ['stopped', 'waiting-restart'],
    ['stopped', 'errored'],
    ['stopped', 'stopping'],
    ['stopping', 'waiting-restart'],
    ['stopping', 'errored'],
    ['stopping', 'stopping'],
    ['waiting-restart', 'online'],
    ['waiting-restart', 'waiting-restart'],
    ['errored', 'online'],
    ['errored', 'waiting-restart'],
  ])('illegal: %s → %s throws IllegalTransition', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
    let thrown: unknown;
    try {
      transition(stateOf(from), stateOf(to));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(IllegalTransition);
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).name).toBe('IllegalTransition');
  });

  it('every status can be left for launching (a person can always start the slot again)', () => {
    for (const from of PROCESS_STATUSES) expect(canTransition(from, 'launching'), from).toBe(true);
  });

  it('every status reaches stopped, directly or through stopping', () => {
    for (const from of PROCESS_STATUSES) {
      expect(canTransition(from, 'stopped') || (canTransition(from, 'stopping') && canTransition('stopping', 'stopped')), from).toBe(true);
    }
  });

  it('online is only reached from launching (or itself, on reload)', () => {
    expect(PROCESS_STATUSES.filter((from) => canTransition(from, 'online'))).toEqual(['launching', 'online']);
  });

  it('a typical life: start, ready, crash, restart, ready, stop', () => {
    const path: ProcessStatus[] = ['stopped', 'launching', 'online', 'waiting-restart', 'launching', 'online', 'stopping', 'stopped'];
    let state = stateOf('stopped');
    for (const status of path.slice(1)) state = transition(state, stateOf(status));
    expect(state.status).toBe('stopped');
  });

  it('a crash loop: launching exits into errored, retries, and is stopped by hand', () => {
    const path: ProcessStatus[] = ['launching', 'errored', 'launching', 'errored', 'stopped', 'launching'];
    let state = stateOf('launching');
    for (const status of path.slice(1)) state = transition(state, stateOf(status));
    expect(state.status).toBe('launching');
  });
});

describe('helpers', () => {
  it.each<[ProcessStatus, number | null]>([
    ['launching', 4242],
    ['online', 4242],
    ['stopping', 4242],
    ['stopped', null],
    ['waiting-restart', null],
    ['errored', null],
  ])('pidOf(%s) → %s', (status, pid) => {
    expect(pidOf(stateOf(status))).toBe(pid);
  });

  it('pidOf returns null for a launching state that has no pid yet', () => {
    expect(pidOf({ status: 'launching', since: 0, pid: null })).toBeNull();
  });
});
