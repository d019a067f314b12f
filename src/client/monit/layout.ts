/**
 * One frame of `supervisor monit`, as a pure function of what it shows and the terminal's
 * size: every line exactly `cols` cells wide, `rows` lines in all, so the screen can redraw
 * only the lines that changed. Fits 80x24; more rows go to the process list and the log pane,
 * more columns to names and sparklines.
 *
 *   title       supervisor monit · daemon pid · counts · time
 *   table       one row per process, the selected one marked
 *   detail      the selected process: CPU and memory sparklines
 *   logs        its recent output and status changes
 *   footer      keys, and the outcome of the last action
 */
import type { ProcessInfo } from '../../shared/protocol.js';
import { formatBytes, formatDuration } from '../format.js';
import { displayWidth, fit, sparkline } from './text.js';

export interface LogLine {
  stream: 'out' | 'err' | 'event';
  text: string;
}

export interface History {
  cpu: number[];
  memory: number[];
}

export interface MonitView {
  daemon: { pid: number; version: string };
  rows: readonly ProcessInfo[];
  selectedId: number | null;
  history: ReadonlyMap<number, History>;
  logs: ReadonlyMap<number, readonly LogLine[]>;
  message: { text: string; error: boolean } | null;
  /** Seconds between samples, for the sparklines' caption. */
  sampleSeconds: number;
  now: Date;
}

const MIN_COLS = 40;
const MIN_ROWS = 12;

const SGR = { reset: '\x1b[0m', bold: '\x1b[1m', dim: '\x1b[2m', inverse: '\x1b[7m', red: '\x1b[31m', green: '\x1b[32m', yellow: '\x1b[33m', cyan: '\x1b[36m' };
type Style = keyof typeof SGR | null;

interface Segment {
  text: string;
  style: Style;
}

/** Segments joined into one line of exactly `cols` cells; `base` styles the whole line. */
function line(cols: number, segments: readonly Segment[], base: Style = null): string {
  let out = base ? SGR[base] : '';
  let used = 0;
  for (const { text, style } of segments) {
    if (used >= cols) break;
    const room = cols - used;
    const piece = displayWidth(text) > room ? fit(text, room) : text;
    out += style ? `${SGR[style]}${piece}${SGR.reset}${base ? SGR[base] : ''}` : piece;
    used += displayWidth(piece);
  }
  return `${out}${' '.repeat(Math.max(0, cols - used))}${SGR.reset}`;
}

const plain = (text: string): Segment => ({ text, style: null });
const styled = (text: string, style: Style): Segment => ({ text, style });

function statusStyle(status: ProcessInfo['status']): Style {
  switch (status) {
    case 'online':
      return 'green';
    case 'errored':
      return 'red';
    case 'stopped':
      return 'dim';
    default:
      return 'yellow';
  }
}

interface Column {
  title: string;
  width: number;
  align: 'left' | 'right';
  /** Columns with the lowest priority go first when the terminal is narrow. */
  priority: number;
  cell(row: ProcessInfo): string;
  style?(row: ProcessInfo): Style;
}

function columns(rows: readonly ProcessInfo[], cols: number): { list: Column[]; nameWidth: number } {
  const cluster = rows.some((r) => r.mode === 'cluster');
  const all: Column[] = [
    { title: 'id', width: 4, align: 'right', priority: 9, cell: (r) => String(r.id) },
    { title: 'name', width: 0, align: 'left', priority: 10, cell: (r) => r.name },
    { title: 'mode', width: 10, align: 'left', priority: 2, cell: (r) => (r.mode === 'cluster' ? `cluster:${r.instance}` : 'fork') },
    { title: 'status', width: 15, align: 'left', priority: 8, cell: (r) => r.status, style: (r) => statusStyle(r.status) },
    { title: 'cpu', width: 6, align: 'right', priority: 7, cell: (r) => `${r.cpu.toFixed(1)}%` },
    { title: 'mem', width: 7, align: 'right', priority: 6, cell: (r) => formatBytes(r.memory) },
    { title: '↺', width: 4, align: 'right', priority: 5, cell: (r) => String(r.restarts) },
    { title: 'uptime', width: 6, align: 'right', priority: 3, cell: (r) => formatDuration(r.uptimeMs) },
    ...(cluster ? [{ title: 'conns', width: 9, align: 'right' as const, priority: 4, cell: (r: ProcessInfo) => (r.mode === 'cluster' ? `${r.connections}/${r.handled}` : '-') }] : []),
  ];
  const MIN_NAME = 10;
  const MARKER = 2;
  let list = all;
  const fixed = (l: Column[]): number => l.reduce((sum, c) => sum + c.width + 1, MARKER);
  while (fixed(list) + MIN_NAME > cols) {
    const lowest = list.filter((c) => c.title !== 'name').reduce((a, b) => (a.priority <= b.priority ? a : b));
    list = list.filter((c) => c !== lowest);
  }
  const longest = Math.max(4, ...rows.map((r) => displayWidth(r.name)));
  const nameWidth = Math.min(Math.max(MIN_NAME, longest), cols - fixed(list), 40);
  return { list, nameWidth };
}

function tableLine(cols: number, list: Column[], nameWidth: number, row: ProcessInfo | null, selected: boolean): string {
  const segments: Segment[] = [plain(selected ? '> ' : '  ')];
  for (const column of list) {
    const width = column.title === 'name' ? nameWidth : column.width;
    const text = row ? column.cell(row) : column.title;
    segments.push(row && column.style && !selected ? styled(fit(text, width, column.align), column.style(row)) : plain(fit(text, width, column.align)));
    segments.push(plain(' '));
  }
  return line(cols, segments, row === null ? 'bold' : selected ? 'inverse' : null);
}

function rule(cols: number, title: string): string {
  const head = `─ ${title} `;
  return line(cols, [styled(`${head}${'─'.repeat(Math.max(0, cols - displayWidth(head)))}`, 'cyan')]);
}

function shortTime(date: Date): string {
  return date.toTimeString().slice(0, 8);
}

export function renderFrame(view: MonitView, cols: number, rows: number): string[] {
  if (cols < MIN_COLS || rows < MIN_ROWS) {
    const lines = Array.from({ length: rows }, () => line(cols, []));
    lines[0] = line(cols, [plain(`too small: ${cols}x${rows}`)]);
    if (rows > 1) lines[1] = line(cols, [plain(`needs ${MIN_COLS}x${MIN_ROWS}; q quits`)]);
    return lines;
  }
  const out: string[] = [];
  const processes = view.rows;
  const apps = new Set(processes.map((p) => p.name)).size;
  const online = processes.filter((p) => p.status === 'online').length;
  out.push(
    line(
      cols,
      [
        styled(' supervisor monit ', 'bold'),
        plain(` daemon pid ${view.daemon.pid} · v${view.daemon.version} · ${apps} apps · ${online}/${processes.length} online · ${shortTime(view.now)}`),
      ],
      'inverse',
    ),
  );

  // The process table: at most half of what is left, at least 3 rows, scrolled to keep the
  // selection in view.
  const FIXED = 7; // title, table head, detail rule, cpu, memory, log rule, footer
  const listRows = Math.min(Math.max(processes.length, 1), Math.max(3, Math.floor((rows - FIXED) / 2)));
  const { list, nameWidth } = columns(processes, cols);
  out.push(tableLine(cols, list, nameWidth, null, false));
  const selectedIndex = Math.max(0, processes.findIndex((p) => p.id === view.selectedId));
  const top = Math.max(0, Math.min(selectedIndex - Math.floor(listRows / 2), processes.length - listRows));
  for (let i = 0; i < listRows; i++) {
    const row = processes[top + i];
    if (row) out.push(tableLine(cols, list, nameWidth, row, row.id === view.selectedId));
    else if (processes.length === 0 && i === 0) out.push(line(cols, [styled('  no processes (start one: supervisor start app.js)', 'dim')]));
    else out.push(line(cols, []));
  }

  const selected = processes.find((p) => p.id === view.selectedId) ?? null;
  const history = selected ? view.history.get(selected.id) : undefined;
  if (selected) {
    const how = selected.mode === 'cluster' ? `cluster:${selected.instance}` : 'fork';
    const pid = selected.pid === null ? 'no pid' : `pid ${selected.pid}`;
    out.push(rule(cols, `${selected.name}:${selected.id} · ${how} · ${pid} · ${selected.status} ${formatDuration(selected.uptimeMs)} · ${selected.restarts} restarts`));
  } else {
    out.push(rule(cols, 'no process selected'));
  }
  const cpu = history?.cpu ?? [];
  const memory = history?.memory ?? [];
  const graphWidth = Math.max(8, cols - 37);
  const caption = `last ${Math.round(graphWidth * view.sampleSeconds)} s`;
  out.push(
    line(cols, [
      plain(' cpu '),
      styled(sparkline(cpu, graphWidth, 100), 'green'),
      plain(fit(` ${(cpu.at(-1) ?? 0).toFixed(1)}%`, 9, 'right')),
      styled(fit(` max ${Math.max(0, ...cpu).toFixed(1)}%`, 12), 'dim'),
      styled(` ${caption}`, 'dim'),
    ]),
  );
  out.push(
    line(cols, [
      plain(' mem '),
      styled(sparkline(memory, graphWidth), 'cyan'),
      plain(fit(` ${formatBytes(memory.at(-1) ?? 0)}`, 9, 'right')),
      styled(fit(` max ${formatBytes(Math.max(0, ...memory))}`, 12), 'dim'),
    ]),
  );

  const logRows = rows - out.length - 2;
  out.push(rule(cols, selected ? `logs of ${selected.name}:${selected.id}` : 'logs'));
  const lines = selected ? (view.logs.get(selected.id) ?? []) : [];
  const shown = lines.slice(-logRows);
  for (let i = 0; i < logRows; i++) {
    const entry = shown[i - (logRows - shown.length)];
    if (!entry) {
      out.push(line(cols, i === 0 && lines.length === 0 ? [styled(selected ? ' (no output since monit started)' : '', 'dim')] : []));
      continue;
    }
    if (entry.stream === 'event') out.push(line(cols, [styled(` ~ ${entry.text}`, 'yellow')]));
    else out.push(line(cols, [styled(entry.stream === 'err' ? ' err ' : ' out ', entry.stream === 'err' ? 'red' : 'dim'), plain(entry.text)]));
  }

  const keys = ' ↑↓ select  r restart  l reload  s stop  q quit ';
  const message = view.message;
  out.push(line(cols, [styled(keys, 'inverse'), ...(message ? [styled(` ${message.text}`, message.error ? 'red' : null)] : [])]));
  return out;
}
