/** `supervisor monit`: the process table, refreshed every second until Ctrl-C. */
import { Supervisor } from './api.js';
import { processTable } from './format.js';

export async function monit(): Promise<void> {
  const sv = await Supervisor.connect();
  let running = true;
  process.once('SIGINT', () => {
    running = false;
  });
  while (running) {
    const rows = await sv.list();
    process.stdout.write(`\x1b[2J\x1b[H${new Date().toISOString()}  (Ctrl-C to quit)\n\n${processTable(rows)}\n`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  sv.close();
}
