/**
 * `supervisor monit`: a live view of every process, with the selected one's CPU and memory
 * history and recent output; keys restart, reload or stop it.
 *
 * Hand-written on ANSI sequences rather than a terminal library: measured here, ink (with
 * React) took about 1 s to import and 45-50 MB of memory, terminal-kit 70-110 ms and 10 MB,
 * and blessed has not been released since 2015. monit needs a table, two sparklines, a log
 * pane and a few keys: monit/layout.ts draws frames as plain lines, monit/screen.ts writes
 * only the lines that change.
 *
 * Data: `list` once a second (the history of the sparklines, bounded), and one subscription
 * to every process's log lines and status changes (a bounded buffer per process), so switching
 * the selection shows what that process said since monit started.
 */
import type { EventFrame, ProcessInfo } from '../shared/protocol.js';
import { SupervisorError } from '../shared/errors.js';
import type { Supervisor } from './api.js';
import { parseKeys, type Key } from './monit/keys.js';
import { renderFrame, type History, type LogLine, type MonitView } from './monit/layout.js';
import { Screen } from './monit/screen.js';
import { sanitize } from './monit/text.js';

const SAMPLE_MS = 1000;
/** Samples kept per process: enough for the widest sparkline on a 300-column terminal. */
const HISTORY_SAMPLES = 300;
const LOG_LINES_PER_PROCESS = 200;
const LOG_LINE_CHARS = 1000;
/** Log bursts are drawn at most this often. */
const REDRAW_MS = 50;

/** Runs until a quit key, a signal or the daemon's end; the caller closes `sv`. */
export async function monit(sv: Supervisor): Promise<void> {
  const screen = new Screen(process.stdin, process.stdout);
  const history = new Map<number, History>();
  const logs = new Map<number, LogLine[]>();
  let rows: ProcessInfo[] = [];
  let selectedId: number | null = null;
  let message: MonitView['message'] = null;
  let timer: NodeJS.Timeout | null = null;
  let redrawTimer: NodeJS.Timeout | null = null;

  let finish: (error?: Error) => void = () => undefined;
  const finished = new Promise<void>((resolve, reject) => {
    finish = (error) => {
      if (timer) clearTimeout(timer);
      if (redrawTimer) clearTimeout(redrawTimer);
      screen.restore();
      sv.onClose(() => undefined);
      if (error) reject(error);
      else resolve();
    };
  });
  // Awaited below once the screen is up; an end that comes before then must not go unhandled.
  finished.catch(() => undefined);

  const draw = (): void => {
    if (redrawTimer) clearTimeout(redrawTimer);
    redrawTimer = null;
    const view: MonitView = { daemon: sv.daemon, rows, selectedId, history, logs, message, sampleSeconds: SAMPLE_MS / 1000, now: new Date() };
    screen.draw(renderFrame(view, screen.cols, screen.rows));
  };
  const drawSoon = (): void => {
    redrawTimer ??= setTimeout(draw, REDRAW_MS);
  };

  const keep = (id: number, entry: LogLine): void => {
    let lines = logs.get(id);
    if (!lines) {
      // Only for processes that exist: a burst from a process deleted meanwhile stays bounded.
      if (!rows.some((r) => r.id === id)) return;
      lines = [];
      logs.set(id, lines);
    }
    lines.push({ stream: entry.stream, text: entry.text.length > LOG_LINE_CHARS ? entry.text.slice(0, LOG_LINE_CHARS) : entry.text });
    if (lines.length > LOG_LINES_PER_PROCESS) lines.splice(0, lines.length - LOG_LINES_PER_PROCESS);
  };
  const onEvent = (event: EventFrame): void => {
    // Bus messages are not shown; a 'dropped' notice only means some log lines were skipped.
    if (event.event === 'message' || event.event === 'dropped') return;
    if (event.event === 'log') keep(event.data.id, { stream: event.data.stream, text: sanitize(event.data.line) });
    else keep(event.data.id, { stream: 'event', text: `${event.data.status}: ${sanitize(event.data.detail)}` });
    if (selectedId === event.data.id) drawSoon();
  };

  const sample = async (): Promise<void> => {
    rows = await sv.list();
    const ids = new Set(rows.map((r) => r.id));
    for (const row of rows) {
      let h = history.get(row.id);
      if (!h) history.set(row.id, (h = { cpu: [], memory: [] }));
      h.cpu.push(row.cpu);
      h.memory.push(row.memory);
      if (h.cpu.length > HISTORY_SAMPLES) h.cpu.shift();
      if (h.memory.length > HISTORY_SAMPLES) h.memory.shift();
      if (!logs.has(row.id)) logs.set(row.id, []);
    }
    for (const id of [...history.keys()]) if (!ids.has(id)) history.delete(id);
    for (const id of [...logs.keys()]) if (!ids.has(id)) logs.delete(id);
    if (selectedId === null || !ids.has(selectedId)) selectedId = rows[0]?.id ?? null;
  };
  // One sample at a time: the next is due a second after the previous answered.
  const loop = (): void => {
    sample().then(
      () => {
        draw();
        timer = setTimeout(loop, SAMPLE_MS);
      },
      (error: Error) => finish(error),
    );
  };

  const move = (key: Key): void => {
    if (rows.length === 0) return;
    const index = Math.max(0, rows.findIndex((r) => r.id === selectedId));
    const page = Math.max(1, Math.floor(screen.rows / 4));
    const target =
      key === 'up' ? index - 1 : key === 'down' ? index + 1 : key === 'page-up' ? index - page : key === 'page-down' ? index + page : key === 'home' ? 0 : rows.length - 1;
    selectedId = (rows[Math.max(0, Math.min(rows.length - 1, target))] as ProcessInfo).id;
  };

  const act = (action: 'restart' | 'reload' | 'stop'): void => {
    const row = rows.find((r) => r.id === selectedId);
    if (!row) return;
    const label = `${row.name}:${row.id}`;
    const verb = { restart: ['restarting', 'restarted'], reload: ['reloading', 'reloaded'], stop: ['stopping', 'stopped'] }[action];
    message = { text: `${verb[0]} ${label}…`, error: false };
    sv.call(action, { target: String(row.id) }).then(
      () => {
        message = { text: `${verb[1]} ${label}`, error: false };
        draw();
      },
      (error: Error) => {
        message = { text: `${action} ${label} failed: ${error.message}`, error: true };
        draw();
      },
    );
  };

  const onKeys = (text: string): void => {
    for (const key of parseKeys(text)) {
      if (key === 'quit') return finish();
      if (key === 'restart' || key === 'reload' || key === 'stop') act(key);
      else move(key);
    }
    draw();
  };

  // Whatever ends monit leaves the terminal as it was.
  const onSignal = (): void => finish();
  const onCrash = (error: unknown): void => finish(error instanceof Error ? error : new Error(String(error)));
  const onExit = (): void => screen.restore();
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', onSignal);
  process.on('uncaughtException', onCrash);
  process.on('exit', onExit);
  sv.onClose((error) => finish(error ?? new SupervisorError('UNREACHABLE', 'the daemon closed the connection')));
  try {
    await sv.subscribe('all', { logs: true, events: true }, onEvent);
    await sample();
    screen.start(onKeys, draw);
    draw();
    timer = setTimeout(loop, SAMPLE_MS);
    await finished;
  } finally {
    finish();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('SIGHUP', onSignal);
    process.off('uncaughtException', onCrash);
    process.off('exit', onExit);
  }
}
