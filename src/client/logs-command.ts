/** `supervisor logs`: the last lines of each log file, then new lines as the daemon streams them. */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { homePaths, resolveHome } from '../shared/paths.js';
import type { Supervisor } from './api.js';

interface LogsOptions {
  lines: number;
  err: boolean;
  out: boolean;
  follow: boolean;
}

/** Prints the history, then (with follow) streams until Ctrl-C or the daemon stops; the caller closes `sv`. */
export async function showLogs(sv: Supervisor, target: string, options: LogsOptions): Promise<void> {
  const streams = options.err && !options.out ? ['err'] : options.out && !options.err ? ['out'] : ['out', 'err'];
  const apps = target === 'all' ? [...new Set((await sv.list()).map((row) => row.name))] : (await sv.describe(target)).map((app) => app.name);
  const logDir = homePaths(resolveHome()).logDir;
  for (const app of apps) {
    for (const stream of streams) {
      const file = join(logDir, `${app}-${stream}.log`);
      const lines = await tail(file, options.lines);
      if (lines.length === 0) continue;
      process.stdout.write(`==> ${file} <==\n${lines.join('\n')}\n`);
    }
  }
  if (!options.follow) return;
  await new Promise<void>((resolve, reject) => {
    // Ends with the daemon (it stopped: exit 0; it stopped answering: exit 6), or on Ctrl-C.
    sv.onClose((error) => (error ? reject(error) : resolve()));
    process.once('SIGINT', () => resolve());
    sv.subscribe(target, { logs: true, events: true }, (event) => {
      switch (event.event) {
        case 'log': {
          if (!streams.includes(event.data.stream)) return;
          const out = event.data.stream === 'err' ? process.stderr : process.stdout;
          out.write(`${event.data.app}|${event.data.id} | ${event.data.line}\n`);
          return;
        }
        case 'process':
          process.stdout.write(`${event.data.app}|${event.data.id} ~ ${event.data.status}: ${event.data.detail}\n`);
          return;
        case 'dropped':
          // The daemon dropped lines while this terminal (or pipe) fell behind; say so in the stream.
          process.stderr.write(`supervisor: ${event.data.lines} log lines dropped (this terminal fell behind)\n`);
          return;
      }
    }).catch(reject);
  });
}

/** The last `count` lines of a file, reading only its end. */
async function tail(file: string, count: number): Promise<string[]> {
  if (count <= 0) return [];
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return [];
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, Math.max(4096, count * 400));
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    const lines = buffer.toString('utf8').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    if (length < size) lines.shift(); // probably a partial first line
    return lines.slice(-count);
  } finally {
    await handle.close();
  }
}
