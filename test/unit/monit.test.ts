/** monit's pure parts: text cells, keys, frames and the line-by-line redraw. */
import { describe, expect, it } from 'vitest';
import { parseKeys } from '../../src/client/monit/keys.js';
import { renderFrame, type MonitView } from '../../src/client/monit/layout.js';
import { frameUpdate } from '../../src/client/monit/screen.js';
import { displayWidth, fit, sanitize, sparkline } from '../../src/client/monit/text.js';
import type { ProcessInfo } from '../../src/shared/protocol.js';

/** What a terminal shows of a line: without SGR sequences. */
const visible = (line: string): string => line.replace(/\x1b\[[0-9;]*m/g, '');

describe('text', () => {
  it('counts cells: wide characters two, combining marks none', () => {
    expect(displayWidth('abc')).toBe(3);
    expect(displayWidth('日本')).toBe(4);
    expect(displayWidth('e\u0301')).toBe(1);
    expect(displayWidth('🙂')).toBe(2);
  });

  it('fits to an exact width, cutting with an ellipsis', () => {
    expect(fit('abc', 5)).toBe('abc  ');
    expect(fit('abc', 5, 'right')).toBe('  abc');
    expect(fit('abcdef', 4)).toBe('abc…');
    expect(fit('日本語', 4)).toBe('日… ');
    expect(displayWidth(fit('日本語', 4))).toBe(4);
    expect(fit('x', 0)).toBe('');
  });

  it('strips escapes and control characters from app output', () => {
    expect(sanitize('\x1b[31mred\x1b[0m \x1b]0;title\x07ok\x1b[2J\r\x00\x1bc')).toBe('red ok');
    expect(sanitize('a\tb')).toBe('a  b');
    expect(sanitize('\x1b(Bplain\x1b[?1049h')).toBe('plain');
  });

  it('draws sparklines right-aligned, scaled to a maximum', () => {
    expect(sparkline([0, 50, 100], 3, 100)).toBe('▁▅█');
    expect(sparkline([1, 2], 4)).toBe('  ▅█');
    expect(sparkline([5, 5, 5, 0], 2)).toBe('█▁');
    expect(sparkline([], 3)).toBe('   ');
  });
});

describe('keys', () => {
  it('reads arrows in both cursor modes, pages, letters, Ctrl-C, and skips the unknown', () => {
    expect(parseKeys('\x1b[A\x1bOB\x1b[5~\x1b[6~\x1b[H\x1b[F')).toEqual(['up', 'down', 'page-up', 'page-down', 'home', 'end']);
    expect(parseKeys('kjgGrlsq\x03')).toEqual(['up', 'down', 'home', 'end', 'restart', 'reload', 'stop', 'quit', 'quit']);
    expect(parseKeys('\x1b[1;5C\x1b\x1b[Bx')).toEqual(['down']);
  });
});

describe('frames', () => {
  const row = (id: number, name: string, extra: Partial<ProcessInfo> = {}): ProcessInfo => ({
    id,
    name,
    mode: 'cluster',
    instance: id,
    pid: 1000 + id,
    status: 'online',
    restarts: 0,
    uptimeMs: 65_000,
    cpu: 12.5,
    memory: 48 * 1024 * 1024,
    connections: 3,
    handled: 40,
    ...extra,
  });
  const view = (rows: ProcessInfo[], selectedId: number | null): MonitView => ({
    daemon: { pid: 42, version: '0.1.0' },
    rows,
    selectedId,
    history: new Map(rows.map((r) => [r.id, { cpu: [0, 50, 100], memory: [1, 2, 3] }])),
    logs: new Map([[1, [{ stream: 'out', text: 'hello' }, { stream: 'err', text: 'oops' }, { stream: 'event', text: 'online: ready' }]]]),
    message: { text: 'restarted api:1', error: false },
    sampleSeconds: 1,
    now: new Date(2026, 0, 1, 12, 0, 0),
  });

  it('fills exactly 80x24 and marks the selection', () => {
    const frame = renderFrame(view([row(0, 'api'), row(1, 'api'), row(2, 'worker', { mode: 'fork', status: 'errored' })], 1), 80, 24);
    expect(frame).toHaveLength(24);
    for (const line of frame) expect(displayWidth(visible(line))).toBe(80);
    const text = frame.map(visible);
    expect(text[0]).toMatch(/^ supervisor monit  daemon pid 42 · v0\.1\.0 · 2 apps · 2\/3 online · 12:00:00/);
    expect(text.filter((l) => l.startsWith('>'))).toEqual([expect.stringMatching(/^> +1 api +online/)]);
    expect(text).toContainEqual(expect.stringMatching(/^─ api:1 · cluster:1 · pid 1001 · online 1m · 0 restarts ─+$/));
    expect(text).toContainEqual(expect.stringMatching(/^ cpu +▁▅█ +100\.0% max 100\.0%/));
    expect(text.slice(-4, -1).map((l) => l.trimEnd())).toEqual([' out hello', ' err oops', ' ~ online: ready']);
    expect(text[23]).toMatch(/^ ↑↓ select  r restart  l reload  s stop  q quit  restarted api:1 +$/);
  });

  it('scrolls a long list to keep the selection in view, and uses more room when there is some', () => {
    const rows = Array.from({ length: 50 }, (_, i) => row(i, `app${i}`));
    const small = renderFrame(view(rows, 40), 80, 24).map(visible);
    expect(small.filter((l) => l.startsWith('>'))).toEqual([expect.stringMatching(/^> +40 app40 /)]);
    const big = renderFrame(view(rows, 40), 200, 60).map(visible);
    expect(big).toHaveLength(60);
    for (const line of big) expect(displayWidth(line)).toBe(200);
    expect(big.filter((l) => / app\d+ /.test(l)).length).toBeGreaterThan(small.filter((l) => / app\d+ /.test(l)).length);
  });

  it('says so when the terminal is too small, and when there is nothing to show', () => {
    expect(renderFrame(view([], null), 30, 8).map(visible).slice(0, 2).map((l) => l.trimEnd())).toEqual(['too small: 30x8', 'needs 40x12; q quits']);
    expect(renderFrame(view([], null), 80, 24).map(visible)).toContainEqual(expect.stringMatching(/no processes \(start one: supervisor start app\.js\)/));
  });

  it('redraws only the lines that changed', () => {
    expect(frameUpdate(['a', 'b', 'c'], ['a', 'B', 'c'])).toBe('\x1b[?2026h\x1b[2;1HB\x1b[?2026l');
    expect(frameUpdate(['a', 'b'], ['a', 'b'])).toBe('');
    expect(frameUpdate(null, ['a', 'b'])).toBe('\x1b[?2026h\x1b[H\x1b[2J\x1b[1;1Ha\x1b[2;1Hb\x1b[?2026l');
  });
});
