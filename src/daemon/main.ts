/**
 * The daemon process: `supervisor daemon --foreground`, or spawned in the background by the
 * client. SIGTERM and SIGINT stop every app gracefully, then the process exits 0.
 */
import { SupervisorError } from '../shared/errors.js';
import { resolveHome } from '../shared/paths.js';
import { runDaemon } from './run.js';

export async function main(options: { foreground: boolean }): Promise<void> {
  const home = resolveHome();
  let daemon;
  try {
    daemon = await runDaemon({ home, persistent: options.foreground });
  } catch (error) {
    if (error instanceof SupervisorError) {
      process.stderr.write(`supervisor: ${error.message}\n`);
      // Lost a start race (CONFLICT): another daemon owns this home, which is what was wanted.
      process.exit(error.code === 'CONFLICT' && !options.foreground ? 0 : 1);
    }
    throw error;
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`${new Date().toISOString()} received ${signal}\n`);
    void daemon.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', () => undefined);
  // What logrotate's postrotate sends (pm2 uses the same signal): reopen every log file.
  process.on('SIGUSR2', () => {
    void daemon.reopenLogs().then((files) => process.stderr.write(`${new Date().toISOString()} received SIGUSR2: reopened ${files} log files\n`));
  });
  // A bug must not take every app down with it: log, keep serving.
  process.on('uncaughtException', (error) => {
    process.stderr.write(`${new Date().toISOString()} uncaught: ${error.stack ?? String(error)}\n`);
  });
  await daemon.stopped;
  process.exit(0);
}
