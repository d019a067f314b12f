/**
 * Taking one process out of service: drain it if it serves connections through the daemon,
 * then stop it (kill signal or 'shutdown' message, SIGKILL after kill_timeout).
 *
 * Every step is bounded, so a stop always ends within the process's stop budget:
 * - a worker that does not acknowledge `drain` within DRAIN_ACK_MS (busy-looping, SIGSTOPped,
 *   or its event loop otherwise stuck) is unresponsive: it goes straight to the kill signal
 *   instead of being given the whole drain_timeout to finish connections it cannot serve;
 * - a worker that acknowledged gets up to drain_timeout to close its connections;
 * - then terminate(): kill_timeout, SIGKILL, and a short grace for the exit itself.
 */
import type { AppSpec } from '../shared/app-spec.js';
import type { WorkerToDaemon } from '../shared/worker-messages.js';
import type { Clock } from './clock.js';
import type { ManagedProcess, WorkerExit } from './managed-process.js';

/** How long a worker may take to acknowledge `drain` before it counts as unresponsive. */
export const DRAIN_ACK_MS = 2000;
/** Slack on top of a process's own budget: the SIGKILL grace and the bookkeeping around it. */
const STOP_MARGIN_MS = 6000;

type StopBudgetSpec = Pick<AppSpec, 'drainTimeoutMs' | 'killTimeoutMs' | 'mode'>;

/** The longest a stop of one process of this app can take. */
export function stopBudgetMs(spec: StopBudgetSpec): number {
  const drain = spec.mode === 'cluster' ? DRAIN_ACK_MS + spec.drainTimeoutMs : 0;
  return drain + spec.killTimeoutMs + STOP_MARGIN_MS;
}

interface RetireOptions {
  /** It listens through the daemon, so it has connections to finish. */
  serves: boolean;
  /** It is draining already (an uncaught exception): only wait for it. */
  alreadyDraining: boolean;
  /** Send pm2's 'shutdown' message when the drain begins (shutdown_with_message). */
  shutdownMessage: boolean;
  /** Notes for the app's error log. */
  note(text: string): void;
}

export async function retire(process: ManagedProcess, spec: AppSpec, clock: Clock, options: RetireOptions): Promise<WorkerExit> {
  let messageSent = false;
  if (options.serves && !process.exit && process.connected) {
    // Both waits start before the drain is sent: 'drained' may follow 'draining' in one read.
    const drained = waitFor(process, clock, DRAIN_ACK_MS + spec.drainTimeoutMs, (m) => m.t === 'drained');
    let responsive = true;
    if (!options.alreadyDraining) {
      const acked = waitFor(process, clock, DRAIN_ACK_MS, (m) => m.t === 'draining' || m.t === 'drained');
      const sent = process.sendRuntime({ t: 'drain', idleMs: spec.drainIdleMs, timeoutMs: spec.drainTimeoutMs, shutdownMessage: spec.shutdownWithMessage });
      messageSent = sent && spec.shutdownWithMessage && options.shutdownMessage;
      responsive = sent && (await acked) !== 'timeout';
    }
    if (responsive) {
      // drain_timeout counts from the acknowledgement.
      const limit = clock.setTimeout(() => drained.cancel(), spec.drainTimeoutMs);
      await drained;
      clock.clearTimeout(limit);
    } else {
      drained.cancel();
      options.note(`process ${process.pid} did not acknowledge the drain within ${DRAIN_ACK_MS} ms (hung or stopped); stopping it now`);
    }
  }
  return process.terminate({ messageSent });
}

interface Wait extends Promise<'message' | 'exit' | 'timeout'> {
  cancel(): void;
}

/** Waits for a runtime message matching `match`, the exit, or the timeout; cancel() stops waiting. */
function waitFor(process: ManagedProcess, clock: Clock, timeoutMs: number, match: (message: WorkerToDaemon) => boolean): Wait {
  let finish: (outcome: 'message' | 'exit' | 'timeout') => void = () => undefined;
  const wait = new Promise<'message' | 'exit' | 'timeout'>((resolve) => {
    if (process.exit) {
      resolve('exit');
      return;
    }
    const onRuntime = (message: WorkerToDaemon): void => {
      if (match(message)) finish('message');
    };
    const onExit = (): void => finish('exit');
    const timer = clock.setTimeout(() => finish('timeout'), timeoutMs);
    finish = (outcome) => {
      clock.clearTimeout(timer);
      process.off('runtime', onRuntime);
      process.off('exit', onExit);
      resolve(outcome);
    };
    process.on('runtime', onRuntime);
    process.once('exit', onExit);
  }) as Wait;
  wait.cancel = () => finish('timeout');
  return wait;
}
