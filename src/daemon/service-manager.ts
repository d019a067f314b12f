/**
 * Talking to systemd from a Type=notify service: READY=1 once the saved apps are up,
 * STOPPING=1 when a stop begins, WATCHDOG=1 every half WatchdogSec when the unit sets one.
 *
 * The protocol is a datagram on the Unix socket named by NOTIFY_SOCKET. Node cannot send one:
 * it has no Unix datagram sockets (dgram is UDP only, net is stream only, and a stream
 * connect to a datagram socket fails with EPROTOTYPE), and a native addon is not an option
 * for us. So the datagrams are sent by `systemd-notify`, which is installed wherever systemd
 * is; the unit says NotifyAccess=all because the sender is a child of the daemon, not its main
 * process. systemd-notify waits until systemd has processed each message (a barrier, since
 * systemd 246), so its exiting early cannot make systemd drop the message for want of a live
 * sender to attribute it to.
 *
 * NOTIFY_SOCKET and the WATCHDOG_* variables are taken out of the daemon's environment here,
 * as sd_notify's unset_environment does, so that no process the daemon starts inherits them
 * and speaks to systemd in the daemon's name.
 */
import { execFile } from 'node:child_process';

const SEND_TIMEOUT_MS = 10_000;

export interface ServiceManager {
  /** Start-up is done; `status` is shown by `systemctl status`. */
  ready(status: string): Promise<void>;
  /** A stop has begun. */
  stopping(): Promise<void>;
  /** Stops the watchdog pings. */
  close(): void;
}

/** The service manager named by NOTIFY_SOCKET, or null when the daemon does not run under one. */
export function serviceManagerFromEnv(env: NodeJS.ProcessEnv, log: (line: string) => void): ServiceManager | null {
  const socket = env['NOTIFY_SOCKET'];
  const watchdogUsec = env['WATCHDOG_USEC'];
  const watchdogPid = env['WATCHDOG_PID'];
  delete env['NOTIFY_SOCKET'];
  delete env['WATCHDOG_USEC'];
  delete env['WATCHDOG_PID'];
  if (!socket) return null;

  let warned = false;
  let chain: Promise<void> = Promise.resolve();
  let pending = 0;
  const run = (fields: string[]): Promise<void> =>
    new Promise((resolve) => {
      execFile('systemd-notify', fields, { env: { NOTIFY_SOCKET: socket, PATH: env['PATH'] ?? '/usr/bin:/bin' }, timeout: SEND_TIMEOUT_MS }, (error) => {
        if (error && !warned) {
          warned = true;
          const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
          log(
            missing
              ? 'NOTIFY_SOCKET is set but systemd-notify is not installed: systemd will not hear that the daemon is ready'
              : `systemd-notify ${fields.join(' ')} failed: ${error.message.split('\n')[0]}`,
          );
        }
        resolve();
      });
    });
  // In order, one at a time: READY=1 must not overtake anything sent before it.
  const send = (fields: string[]): Promise<void> => {
    pending += 1;
    chain = chain.then(() => run(fields)).finally(() => {
      pending -= 1;
    });
    return chain;
  };

  let watchdog: NodeJS.Timeout | null = null;
  const usec = Number(watchdogUsec);
  const forUs = watchdogPid === undefined || watchdogPid === '' || Number(watchdogPid) === process.pid;
  if (watchdogUsec && Number.isSafeInteger(usec) && usec > 0 && forUs) {
    // Half the timeout, as sd_watchdog_enabled(3) advises. A ping waits behind nothing: if the
    // previous messages are still going out, this one would add nothing.
    watchdog = setInterval(() => {
      if (pending === 0) void send(['WATCHDOG=1']);
    }, Math.max(1, Math.floor(usec / 2000)));
    watchdog.unref();
    void send(['WATCHDOG=1']);
  }

  return {
    ready: (status) => send(['READY=1', `STATUS=${status}`, `MAINPID=${process.pid}`]),
    stopping: () => send(['STOPPING=1', 'STATUS=stopping every app']),
    close: () => {
      if (watchdog) clearInterval(watchdog);
      watchdog = null;
    },
  };
}
