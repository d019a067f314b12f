/**
 * When a new process counts as ready (docs/LIFECYCLE.md, "Readiness"):
 *
 * - `message` (wait_ready): when the app sends process.send('ready');
 * - `running` (everything else at start): when it sends 'ready', listens through the daemon,
 *   or has stayed alive min_uptime, whichever comes first; a cluster worker that never listens
 *   (a queue consumer) is online after min_uptime like a fork-mode process, and simply never
 *   enters rotation;
 * - `listening` (the replacement in a reload of a worker that listened): when it listens on
 *   every address its predecessor listened on, so the swap never leaves an address with one
 *   worker fewer.
 *
 * The waits are bounded by the caller's timeout; what a timeout means (carry on, or abort a
 * reload) is the caller's decision.
 */
import type { Clock, Timer } from './clock.js';
import type { ManagedProcess } from './managed-process.js';

export type ReadinessRule =
  | { kind: 'message'; timeoutMs: number }
  | { kind: 'running'; minUptimeMs: number; timeoutMs: number }
  | { kind: 'listening'; keys: ReadonlySet<string>; timeoutMs: number };

type ReadinessOutcome = 'ready' | 'timeout' | 'exit';

export class Readiness {
  readonly outcome: Promise<ReadinessOutcome>;
  #settle: (outcome: ReadinessOutcome, readyAt: number | null) => void = () => undefined;
  readonly #timers: Timer[] = [];

  constructor(
    process: ManagedProcess,
    /** The addresses the process listens on through the daemon so far. */
    private readonly listeningOn: () => Iterable<string>,
    private readonly rule: ReadinessRule,
    private readonly clock: Clock,
  ) {
    this.outcome = new Promise((resolve) => {
      let settled = false;
      const onReady = (): void => this.#settle('ready', clock.now());
      const onExit = (): void => this.#settle('exit', null);
      this.#settle = (outcome, readyAt) => {
        if (settled) return;
        settled = true;
        for (const timer of this.#timers) clock.clearTimeout(timer);
        process.off('ready', onReady);
        process.off('exit', onExit);
        if (outcome === 'ready' && process.readyAt === null) process.readyAt = readyAt;
        resolve(outcome);
      };
      if (process.exit) {
        this.#settle('exit', null);
        return;
      }
      process.once('exit', onExit);
      // 'ready' from the app always counts, whatever the rule.
      process.once('ready', onReady);
      this.#timers.push(clock.setTimeout(() => this.#settle('timeout', null), rule.timeoutMs));
      if (rule.kind === 'running') {
        // Alive for min_uptime counts as ready from the start: an exit after that is stable.
        this.#timers.push(clock.setTimeout(() => this.#settle('ready', process.startedAt), rule.minUptimeMs));
      }
      this.noteListened();
    });
  }

  /** Called whenever the process has joined one more address through the daemon. */
  noteListened(): void {
    const keys = new Set(this.listeningOn());
    if (keys.size === 0) return;
    if (this.rule.kind === 'running') this.#settle('ready', this.clock.now());
    else if (this.rule.kind === 'listening' && [...this.rule.keys].every((key) => keys.has(key))) this.#settle('ready', this.clock.now());
  }

  /** Stops waiting; the outcome becomes 'timeout' if it had not settled. */
  cancel(): void {
    this.#settle('timeout', null);
  }
}
