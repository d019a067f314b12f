/**
 * `supervisor logs`: the last lines of each of the apps' log files (reaching back into rotated
 * ones, gzipped or not), then new lines as the daemon streams them. Following goes through the
 * daemon, not the files, so it carries on across rotations and reopened files. The daemon
 * says which files an app writes (describe), so out_file, per-instance files and the rest need
 * no guessing here.
 */
import { open, readFile } from 'node:fs/promises';
import type { AppDescription, EventFrame, LogFileDescription } from '../shared/protocol.js';
import { DISCARD } from '../shared/log-options.js';
import type { SupervisorError } from '../shared/errors.js';
import type { Supervisor } from './api.js';
import { listRotatedFiles } from '../shared/rotated-log-files.js';

interface LogsOptions {
  lines: number;
  err: boolean;
  out: boolean;
  follow: boolean;
  json: boolean;
  /** A date format for streamed lines (pm2's --timestamp), or null. */
  timestamp: string | null;
}

/** Events that arrive while history is printed wait here; past this many the oldest go. */
const MAX_EARLY_EVENTS = 10_000;
const TAIL_BLOCK = 64 * 1024;

/** Prints the history, then (with follow) streams until Ctrl-C or the daemon stops; the caller closes `sv`. */
export async function showLogs(sv: Supervisor, target: string, options: LogsOptions): Promise<void> {
  const streams = options.err && !options.out ? ['err'] : options.out && !options.err ? ['out'] : ['out', 'err'];
  const stamp = options.timestamp ? (await import('../shared/log-date-format.js')).cachedDateFormat(options.timestamp) : null;
  const print = (app: string, id: number | null, stream: 'out' | 'err', line: string, live: boolean): void => {
    if (options.json) {
      const timestamp = live ? new Date().toISOString() : null;
      process.stdout.write(`${JSON.stringify({ message: line, timestamp, type: stream, process_id: id, app_name: app })}\n`);
      return;
    }
    if (!live) {
      process.stdout.write(`${line}\n`);
      return;
    }
    const out = stream === 'err' ? process.stderr : process.stdout;
    out.write(`${stamp ? `${stamp()} ` : ''}${app}|${id} | ${line}\n`);
  };

  // Subscribe before reading history, so no line falls between the two.
  const early: EventFrame[] = [];
  let live = false;
  const onEvent = (event: EventFrame): void => {
    if (!live) {
      if (early.push(event) > MAX_EARLY_EVENTS) early.shift();
      return;
    }
    if (event.event === 'log') {
      if (streams.includes(event.data.stream)) print(event.data.app, event.data.id, event.data.stream, event.data.line, true);
    } else if (event.event === 'process' && !options.json) {
      process.stdout.write(`${event.data.app}|${event.data.id} ~ ${event.data.status}: ${event.data.detail}\n`);
    } else if (event.event === 'dropped') {
      // The daemon dropped lines while this terminal (or pipe) fell behind; say so in the stream.
      process.stderr.write(`supervisor: ${event.data.lines} log lines dropped (this terminal fell behind)\n`);
    }
  };
  // Ends with the daemon (it stopped: exit 0; it stopped answering: exit 6), or on Ctrl-C;
  // watched from the start, as the daemon may go while history is printed.
  let ended: { error: SupervisorError | null } | null = null;
  let onEnd = (): void => undefined;
  sv.onClose((error) => {
    ended = { error };
    onEnd();
  });
  if (options.follow) await sv.subscribe(target, { logs: true, events: true }, onEvent);

  for (const app of await sv.describe(target)) {
    for (const file of filesToShow(app, streams)) {
      const lines = await lastLines(file.file, options.lines);
      if (lines.length === 0) continue;
      if (!options.json) process.stdout.write(`==> ${file.file} <==\n`);
      const stream = file.stream === 'combined' ? 'out' : file.stream;
      for (const line of lines) print(app.name, null, stream, line, false);
    }
  }
  if (!options.follow) return;
  live = true;
  for (const event of early.splice(0)) onEvent(event);
  await new Promise<void>((resolve, reject) => {
    onEnd = () => {
      const error = (ended as { error: SupervisorError | null }).error;
      if (error) reject(error);
      else resolve();
    };
    if (ended) onEnd();
    process.once('SIGINT', () => resolve());
  });
}

/**
 * The files whose history to print: each wanted stream's own files (one per instance when logs
 * are not merged, only the selected processes' when a process id was asked for); the combined
 * file only when a stream has no file of its own, so no line is printed twice.
 */
function filesToShow(app: AppDescription, streams: string[]): LogFileDescription[] {
  const instances = new Set(app.processes.map((p) => p.instance));
  const ofSelected = (f: LogFileDescription): boolean => f.instance === null || instances.has(f.instance);
  const files = app.logs.filter((f) => f.file !== DISCARD && ofSelected(f));
  const own = files.filter((f) => streams.includes(f.stream));
  const chosen = own.length > 0 ? own : files.filter((f) => f.stream === 'combined');
  // out_file and error_file may name one file: print it once.
  return chosen.filter((f, i) => chosen.findIndex((g) => g.file === f.file) === i);
}

/** The last `count` lines of a log, reaching back into its rotated files, newest first. */
export async function lastLines(file: string, count: number): Promise<string[]> {
  if (count <= 0) return [];
  const lines = await tail(file, count);
  if (lines.length >= count) return lines;
  const rotated = await listRotatedFiles(file);
  for (let i = rotated.length - 1; i >= 0 && lines.length < count; i--) {
    const older = await tail(rotated[i] as string, count - lines.length);
    lines.unshift(...older);
  }
  return lines;
}

/** The last `count` lines of one file, reading blocks from its end (a gzipped file whole). */
async function tail(file: string, count: number): Promise<string[]> {
  if (file.endsWith('.gz')) {
    try {
      const { gunzipSync } = process.getBuiltinModule('node:zlib');
      return lastOf(gunzipSync(await readFile(file)).toString('utf8'), count, true);
    } catch {
      return [];
    }
  }
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return [];
  }
  try {
    const { size } = await handle.stat();
    let start = size;
    let text = '';
    let newlines = 0;
    // Read back until the text holds one more newline than the lines wanted (or the file ends).
    while (start > 0 && newlines <= count) {
      const length = Math.min(TAIL_BLOCK, start);
      start -= length;
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, start);
      for (let at = buffer.indexOf(10); at >= 0; at = buffer.indexOf(10, at + 1)) newlines++;
      text = buffer.toString('latin1') + text;
    }
    return lastOf(Buffer.from(text, 'latin1').toString('utf8'), count, start === 0);
  } finally {
    await handle.close();
  }
}

function lastOf(text: string, count: number, fromStart: boolean): string[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (!fromStart) lines.shift(); // the first line read is probably cut
  return lines.slice(-count);
}
