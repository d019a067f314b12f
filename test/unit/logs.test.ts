/**
 * The log mechanics on their own: lines, formats, names, and one LogFile on real files in a
 * temporary folder (rotation at line boundaries, retention, reopen, flush, a vanished folder).
 */
import { mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { perInstance } from '../../src/daemon/logs/app-logs.js';
import { lineFormat } from '../../src/daemon/logs/line-format.js';
import { LineSource, MAX_PARTIAL, PARTIAL_MARKER } from '../../src/daemon/logs/line-source.js';
import { LogFile, type LogFileEvents } from '../../src/daemon/logs/log-file.js';
import { compileDateFormat } from '../../src/shared/log-date-format.js';
import { LogService } from '../../src/daemon/logs/log-service.js';
import { EventBus } from '../../src/daemon/events.js';
import { checkMaxSize, DEFAULT_LOG_SPEC, LOG_DEFAULTS, logDefaultsFromEnv, logNumber } from '../../src/shared/log-options.js';
import { parseSize } from '../../src/shared/size.js';
import { listRotatedFiles, rotatedName } from '../../src/shared/rotated-log-files.js';

const quiet = (): LogFileEvents => ({ failed: () => undefined, recovered: () => undefined, wrote: () => undefined, dropped: () => undefined });

describe('LineSource', () => {
  const source = (): LineSource => new LineSource(1, 0, 'out', () => undefined);

  it('passes whole lines on and keeps the partial end for the next chunk', () => {
    const s = source();
    expect(s.take(Buffer.from('a\nb'))?.toString()).toBe('a\n');
    expect(s.take(Buffer.from('cd'))).toBeNull();
    expect(s.take(Buffer.from('e\nf\n'))?.toString()).toBe('bcde\nf\n');
    expect(s.end()).toBeNull();
  });

  it('cuts a line that outgrows the bound, with a marker, and ends a last line with a newline', () => {
    const s = source();
    const cut = s.take(Buffer.alloc(MAX_PARTIAL, 'x'));
    expect(cut?.length).toBe(MAX_PARTIAL + PARTIAL_MARKER.length);
    expect(cut?.toString().endsWith(PARTIAL_MARKER)).toBe(true);
    expect(s.take(Buffer.from('tail'))).toBeNull();
    expect(s.end()?.toString()).toBe('tail\n');
  });
});

describe('line formats', () => {
  it('prefixes every line with the date, as pm2 does ("<date>: <line>")', () => {
    const format = lineFormat({ app: 'web', dateFormat: '[at]', json: false });
    expect(format?.(Buffer.from('one\ntwo\n'), { id: 3, stream: 'out' }).toString()).toBe('at: one\nat: two\n');
  });

  it("writes one JSON object per line with pm2's fields, blank lines included", () => {
    const format = lineFormat({ app: 'web', dateFormat: null, json: true });
    const out = format?.(Buffer.from('one\n\n'), { id: 3, stream: 'err' }).toString().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(out).toHaveLength(2);
    expect(out?.[0]).toMatchObject({ message: 'one', type: 'err', process_id: 3, app_name: 'web' });
    expect(out?.[1]?.['message']).toBe('');
    expect(typeof out?.[0]?.['timestamp']).toBe('string');
  });

  it('writes lines untouched when no format is asked for', () => {
    expect(lineFormat({ app: 'web', dateFormat: null, json: false })).toBeNull();
  });
});

describe('dates, sizes, names', () => {
  it("formats pm2's (dayjs's) tokens, with [literal] text", () => {
    const d = new Date(2024, 0, 5, 7, 8, 9, 45);
    expect(compileDateFormat('YYYY-MM-DD HH:mm:ss.SSS')(d)).toBe('2024-01-05 07:08:09.045');
    expect(compileDateFormat('YY M D H m s [YYYY] hh A')(d)).toBe('24 1 5 7 8 9 YYYY 07 AM');
    expect(compileDateFormat('Z')(d)).toMatch(/^[+-]\d\d:\d\d$/);
    expect(() => compileDateFormat('[open')).toThrow(/unclosed/);
  });

  it('reads sizes and refuses tiny rotation sizes', () => {
    expect(parseSize('10M')).toBe(10 * 1024 * 1024);
    expect(parseSize('512k')).toBe(512 * 1024);
    expect(parseSize(1000)).toBe(1000);
    expect(parseSize('ten')).toBeNull();
    expect(checkMaxSize(1000)).toMatch(/at least 64K/);
    expect(checkMaxSize(0)).toBeNull();
    expect(() => logDefaultsFromEnv({ SUPERVISOR_LOG_RETAIN: '-1' })).toThrow(/SUPERVISOR_LOG_RETAIN/);
    expect(logDefaultsFromEnv({ SUPERVISOR_LOG_MAX_SIZE: '1M', SUPERVISOR_LOG_COMPRESS: '1' })).toMatchObject({ maxSize: 1024 * 1024, compress: true });
    expect(parseSize('9999999999G')).toBeNull();
  });

  it('reads the numeric log options one way, for config files and the environment alike', () => {
    expect(logNumber('maxSize', '64K', 'f')).toBe(64 * 1024);
    expect(logNumber('retain', '3', 'f')).toBe(3);
    expect(logNumber('retain', 0, 'f')).toBe(0);
    expect(logNumber('paceRate', '8M/s', 'f')).toBe(8 * 1024 * 1024);
    for (const [option, value, message] of [
      ['maxSize', '1K', 'f must be 0 (never rotate) or at least 64K (got "1K")'],
      ['retain', '3.5', 'f must be a whole number from 0 to 1000 (got "3.5")'],
      ['retain', 1001, 'f must be a whole number from 0 to 1000 (got 1001)'],
      ['paceRate', '8M/min', 'f must be a rate such as "8M" (bytes per second), or 0 to never pace (got "8M/min")'],
    ] as const) {
      expect(() => logNumber(option, value, 'f')).toThrow(message);
    }
    expect(() => logDefaultsFromEnv({ SUPERVISOR_LOG_RETAIN: '1001' })).toThrow('SUPERVISOR_LOG_RETAIN must be a whole number from 0 to 1000 (got "1001")');
  });

  it("names per-instance files as pm2 does, and rotated files so they sort by age", () => {
    expect(perInstance('/l/web-out.log', 2)).toBe('/l/web-out-2.log');
    expect(perInstance('/l/web', 0)).toBe('/l/web-0');
    expect(rotatedName('/l/web-out.log', new Date(Date.UTC(2024, 4, 1, 10, 15, 0, 7)), 0)).toBe('/l/web-out__2024-05-01_10-15-00-007.log');
    expect(rotatedName('/l/web-out.log', new Date(0), 2)).toMatch(/__1970-01-01_00-00-00-000-2\.log$/);
  });
});

describe('LogFile', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('rotates at line boundaries and keeps `retain` rotated files', async () => {
    dir = await mkdtemp(join(tmpdir(), 'svlog-'));
    const path = join(dir, 'a-out.log');
    const file = new LogFile(path, { maxSize: 64 * 1024, retain: 2, compress: false }, quiet());
    const line = (n: number): Buffer => Buffer.from(`${String(n).padStart(6, '0')} ${'y'.repeat(992)}\n`); // 1000 bytes
    for (let n = 0; n < 300; n++) file.write(line(n));
    await file.close();
    const rotated = await listRotatedFiles(path);
    expect(rotated).toHaveLength(2);
    const files = [...rotated, path];
    const numbers: number[] = [];
    for (const f of files) {
      const text = await readFile(f, 'utf8');
      expect((await stat(f)).size).toBeLessThanOrEqual(64 * 1024);
      for (const l of text.split('\n').filter(Boolean)) {
        expect(l).toHaveLength(999); // no line cut
        numbers.push(Number(l.slice(0, 6)));
      }
    }
    // The newest lines, in order, with none missing among the files kept.
    expect(numbers[numbers.length - 1]).toBe(299);
    numbers.forEach((n, i) => i > 0 && expect(n).toBe((numbers[i - 1] as number) + 1));
  });

  it('reopens a renamed file and recreates a deleted one; flush empties current and rotated files', async () => {
    dir = await mkdtemp(join(tmpdir(), 'svlog-'));
    const path = join(dir, 'b-out.log');
    const file = new LogFile(path, { maxSize: 0, retain: 2, compress: false }, quiet());
    file.write(Buffer.from('one\n'));
    await file.settled();
    await rename(path, `${path}.moved`);
    file.write(Buffer.from('two\n'));
    await file.settled();
    await file.reopen();
    file.write(Buffer.from('three\n'));
    await file.settled();
    await rm(path);
    await file.reopen();
    file.write(Buffer.from('four\n'));
    await file.settled();
    expect(await readFile(`${path}.moved`, 'utf8')).toBe('one\ntwo\n');
    expect(await readFile(path, 'utf8')).toBe('four\n');
    expect(await file.flush()).toBe(1);
    expect(await readFile(path, 'utf8')).toBe('');
    file.write(Buffer.from('five\n'));
    await file.close();
    expect(await readFile(path, 'utf8')).toBe('five\n');
  });

  it('counts lines it cannot write, reports once, and writes again when it can', async () => {
    dir = await mkdtemp(join(tmpdir(), 'svlog-'));
    const path = join(dir, 'gone', 'c-out.log');
    const reports: string[] = [];
    const file = new LogFile(path, { maxSize: 0, retain: 1, compress: false }, {
      ...quiet(),
      failed: (_f, e) => reports.push(`failed ${e.code}`),
      recovered: (_f, dropped) => reports.push(`recovered ${dropped}`),
    });
    // A directory where the file should be: open fails with EISDIR.
    await rm(join(dir, 'gone'), { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(path, { recursive: true }));
    file.write(Buffer.from('lost 1\nlost 2\n'));
    await file.settled();
    file.write(Buffer.from('lost 3\n'));
    expect(file.failing).toBe(true);
    expect(file.linesDropped).toBe(3);
    expect(reports).toEqual(['failed EISDIR']);
    await rm(path, { recursive: true });
    await file.reopen();
    file.write(Buffer.from('back\n'));
    await file.close();
    expect(await readFile(path, 'utf8')).toBe('back\n');
    expect(reports).toEqual(['failed EISDIR', 'recovered 3']);
    expect(await readdir(join(dir, 'gone'))).toEqual(['c-out.log']);
  });
});

describe('AppLogs and LogService', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('logs replaced by an update wait for their pipes for good; a deleted app\'s, only their cap', async () => {
    dir = await mkdtemp(join(tmpdir(), 'svlog-'));
    const service = new LogService({ logDir: dir, bus: new EventBus(), log: () => undefined, defaults: LOG_DEFAULTS });
    const replaced = service.forApp('web', DEFAULT_LOG_SPEC);
    const deleted = service.forApp('api', DEFAULT_LOG_SPEC);
    const webPipe = new PassThrough();
    const apiPipe = new PassThrough();
    replaced.sinkFor(0, 0).attach('out', webPipe);
    deleted.sinkFor(0, 0).attach('out', apiPipe);
    let replacedClosed = false;
    const closingReplaced = replaced.close(Infinity).then(() => (replacedClosed = true));
    // A failed update leaves the old process serving: its lines still reach the old file after
    // the cap a deleted app's logs get has passed.
    await deleted.close(50);
    expect(replacedClosed).toBe(false);
    webPipe.write('still serving\n');
    webPipe.end();
    apiPipe.end();
    await closingReplaced;
    expect(await readFile(join(dir, 'web-out.log'), 'utf8')).toBe('still serving\n');
    expect(service.openFiles).toBe(0);
  });

  it('closes replaced logs once their pipes have closed, writing their last lines; reopens a shared file once', async () => {
    dir = await mkdtemp(join(tmpdir(), 'svlog-'));
    const service = new LogService({ logDir: dir, bus: new EventBus(), log: () => undefined, defaults: LOG_DEFAULTS });
    const old = service.forApp('web', DEFAULT_LOG_SPEC);
    const pipe = new PassThrough();
    old.sinkFor(0, 0).attach('out', pipe);
    pipe.write('first\n');
    // An update replaced these logs (a date format, say) while the old process still runs.
    const replacement = service.forApp('web', { ...DEFAULT_LOG_SPEC, dateFormat: 'YYYY' });
    let closed = false;
    const closing = old.close().then(() => (closed = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    pipe.end('last\n');
    await closing;
    // Still open: the replacement holds the same two files, and writes on.
    expect(service.openFiles).toBe(2);
    replacement.sinkFor(1, 0).write('out', 'new');
    // Two apps sharing one file: reopened once.
    const other = service.forApp('api', { ...DEFAULT_LOG_SPEC, outFile: join(dir, 'web-out.log') });
    expect(service.openFiles).toBe(3);
    expect(await service.reopenAll()).toBe(3);
    await replacement.close();
    await other.close();
    expect(service.openFiles).toBe(0);
    expect(await readFile(join(dir, 'web-out.log'), 'utf8')).toMatch(/^first\nlast\n\d{4}: new\n$/);
    expect(service.bytesWritten).toBeGreaterThan(0);
  });
});
