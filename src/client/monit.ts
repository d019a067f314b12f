/** `supervisor monit`: the process table, refreshed every second until Ctrl-C. */
import type { Supervisor } from './api.js';
import { processTable } from './format.js';

/** Runs until Ctrl-C; the caller closes `sv`. */
export async function monit(sv: Supervisor): Promise<void> {
  let running = true;
  process.once('SIGINT', () => {
    running = false;
  });
  while (running) {
    const rows = await sv.list();
    process.stdout.write(`\x1b[2J\x1b[H${new Date().toISOString()}  (Ctrl-C to quit)\n\n${processTable(rows)}\n`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
