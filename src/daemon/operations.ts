/**
 * The one ordered path of an app's lifecycle: every change of an app (start, stop, restart,
 * reload, delete, scale, spec update, memory-guard replacement, a trigger's reload) runs as an
 * operation here, one at a time, in arrival order. What happens when one arrives while another
 * runs is decided by the table below and nowhere else (docs/LIFECYCLE.md has it in words):
 *
 * - `stop`, `delete` and `remove` (delete of one process) supersede: the running operation is
 *   aborted if it can be (a reload terminates the replacement it started, nothing is orphaned),
 *   and every waiting one is cancelled, since it was asked for before the stop. They run next.
 * - `reload` and `update` are exclusive: a second one while one runs or waits is refused
 *   (CONFLICT) rather than run twice. Exclusive is per kind: a `reload` never conflicts with a
 *   `watch` or a `cron`, it waits behind them and they behind it.
 * - `replace` (the memory guard's) and `cron` (a cron_restart tick's reload or restart) run
 *   only when nothing else runs or waits; otherwise they are skipped (run resolves SKIPPED):
 *   the guard tries again at its next check, and the next tick comes anyway.
 * - `watch` (a burst of watched changes: its reload or restart) waits its turn like a command,
 *   and coalesces: arriving while another `watch` waits, it joins that one (the waiting one
 *   picks the processes at its turn, after every change so far). One arriving while a `watch`
 *   runs waits for it: that one may have loaded files before the change.
 * - after a `delete` is accepted, everything later is refused: the app is going away.
 * - anything else waits its turn; at most MAX_WAITING operations wait per app.
 *
 * Crash restarts are not operations: they belong to one slot, and a slot defers its own
 * restart while an operation works on it (Slot.hold), so a long reload of other slots never
 * keeps a crashed worker down.
 */
import { SupervisorError } from '../shared/errors.js';

interface KindRules {
  /** A later stop or delete may abort it; it must then clean up what it started. */
  abortable: boolean;
  /** Aborts the running operation (when abortable) and cancels the waiting ones. */
  supersedes: boolean;
  /** Refused while another of the same kind runs or waits. */
  exclusive: boolean;
  /** Skipped unless the queue is empty. */
  whenIdle: boolean;
  /** Joins a waiting one of the same kind (whose caller's body runs, at its turn) instead of waiting as a second one. */
  coalesces: boolean;
}

const RULES = {
  start: { abortable: true, supersedes: false, exclusive: false, whenIdle: false, coalesces: false },
  stop: { abortable: false, supersedes: true, exclusive: false, whenIdle: false, coalesces: false },
  delete: { abortable: false, supersedes: true, exclusive: false, whenIdle: false, coalesces: false },
  /** `delete <id>`: one process leaves the app. */
  remove: { abortable: false, supersedes: true, exclusive: false, whenIdle: false, coalesces: false },
  restart: { abortable: true, supersedes: false, exclusive: false, whenIdle: false, coalesces: false },
  reload: { abortable: true, supersedes: false, exclusive: true, whenIdle: false, coalesces: false },
  update: { abortable: true, supersedes: false, exclusive: true, whenIdle: false, coalesces: false },
  scale: { abortable: true, supersedes: false, exclusive: false, whenIdle: false, coalesces: false },
  replace: { abortable: true, supersedes: false, exclusive: false, whenIdle: true, coalesces: false },
  /** cron_restart's reload (cluster) or restart (fork): a tick that finds the app busy is skipped, the next comes anyway. */
  cron: { abortable: true, supersedes: false, exclusive: false, whenIdle: true, coalesces: false },
  /**
   * A watched change's reload (cluster) or restart (fork). It must happen (the last change has
   * to end up live), so it waits rather than being skipped; it picks its processes at its turn,
   * so one waiting covers every change before its turn, and later ones join it.
   */
  watch: { abortable: true, supersedes: false, exclusive: false, whenIdle: false, coalesces: true },
  reset: { abortable: false, supersedes: false, exclusive: false, whenIdle: false, coalesces: false },
  /** `restart|stop --watch`: a new watch list, nothing else. */
  'watch-list': { abortable: false, supersedes: false, exclusive: false, whenIdle: false, coalesces: false },
} as const satisfies Record<string, KindRules>;

export type OperationKind = keyof typeof RULES;

/** The kinds the queue may skip (whenIdle): only their run() can resolve SKIPPED. */
type SkippableKind = { [K in OperationKind]: (typeof RULES)[K]['whenIdle'] extends true ? K : never }[OperationKind];

/** What run() resolves with for an operation its kind's rule skipped (`replace`, `cron` while the app is busy). */
export const SKIPPED: unique symbol = Symbol('skipped');
export type Skipped = typeof SKIPPED;

/** Operations that may wait behind the running one, per app. */
export const MAX_WAITING = 16;

type OperationBody<T> = (signal: AbortSignal) => Promise<T>;

interface Entry {
  kind: OperationKind;
  body: OperationBody<unknown>;
  controller: AbortController;
  /** What its callers (more than one when others coalesced into it) are given. */
  outcome: Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** Why an operation was aborted or cancelled: the message the caller's command prints. */
class Superseded extends SupervisorError {
  constructor(what: string, by: OperationKind) {
    super('CONFLICT', `${what} was cancelled: a ${by} of the same app came after it`);
  }
}

export class OperationQueue {
  #running: Entry | null = null;
  readonly #waiting: Entry[] = [];
  #deleting = false;
  #idleWaiters: (() => void)[] = [];

  /** `name` is how messages call the app ("web"). */
  constructor(private readonly name: string) {}

  /** The kind of the operation running now, if any. */
  get running(): OperationKind | null {
    return this.#running?.kind ?? null;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  get idle(): boolean {
    return this.#running === null && this.#waiting.length === 0;
  }

  /** From now on everything is refused: the app is going away (a delete of its last process). */
  closeForDelete(): void {
    this.#deleting = true;
  }

  /** Settles once nothing runs or waits. */
  drained(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Runs `body` when its turn comes. Resolves with its result, or SKIPPED for a kind the rules
   * skip (`replace`, `cron`) when the app is busy; rejects with CONFLICT when refused or
   * superseded. A coalescing kind (`watch`) that joins a waiting one gets the very promise that
   * one's caller got (so a caller can tell it joined), and its own body never runs.
   */
  run<T>(kind: Exclude<OperationKind, SkippableKind>, body: OperationBody<T>): Promise<T>;
  run<T>(kind: OperationKind, body: OperationBody<T>): Promise<T | Skipped>;
  run<T>(kind: OperationKind, body: OperationBody<T>): Promise<T | Skipped> {
    const rules: KindRules = RULES[kind];
    if (this.#deleting) return Promise.reject(new SupervisorError('CONFLICT', `app "${this.name}" is being deleted`));
    if (rules.whenIdle && !this.idle) return Promise.resolve(SKIPPED);
    if (rules.coalesces) {
      const pending = this.#waiting.find((entry) => entry.kind === kind);
      if (pending) return pending.outcome as Promise<T>;
    }
    if (rules.exclusive && (this.#running?.kind === kind || this.#waiting.some((e) => e.kind === kind))) {
      return Promise.reject(new SupervisorError('CONFLICT', `a ${kind} of "${this.name}" is already in progress`));
    }
    if (!rules.supersedes && this.#waiting.length >= MAX_WAITING) {
      return Promise.reject(new SupervisorError('CONFLICT', `too many operations are waiting for "${this.name}" (${MAX_WAITING}); try again when they are done`));
    }
    if (kind === 'delete') this.#deleting = true;
    let resolve!: (value: unknown) => void;
    let reject!: (error: unknown) => void;
    const outcome = new Promise<T>((res, rej) => {
      resolve = res as (value: unknown) => void;
      reject = rej;
    });
    const entry: Entry = { kind, body, controller: new AbortController(), outcome, resolve, reject };
    if (rules.supersedes) this.#supersede(kind);
    this.#waiting.push(entry);
    this.#next();
    return outcome;
  }

  #supersede(by: OperationKind): void {
    for (const entry of this.#waiting.splice(0)) entry.reject(new Superseded(`${entry.kind} of "${this.name}"`, by));
    const running = this.#running;
    if (running && RULES[running.kind].abortable) running.controller.abort(new Superseded(`${running.kind} of "${this.name}"`, by));
  }

  #next(): void {
    if (this.#running) return;
    const entry = this.#waiting.shift();
    if (!entry) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
      return;
    }
    this.#running = entry;
    let result: Promise<unknown>;
    try {
      result = entry.body(entry.controller.signal);
    } catch (error) {
      result = Promise.reject(error);
    }
    result.then(entry.resolve, entry.reject).finally(() => {
      this.#running = null;
      this.#next();
    });
  }
}

/** Throws the abort reason if the operation was superseded; call it after every await. */
export function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason;
}

/** Settles with `promise`, or with 'aborted' as soon as `signal` aborts, whichever is first. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T | 'aborted'> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.resolve('aborted');
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
