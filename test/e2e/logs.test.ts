/**
 * Logs end to end, with real files, real pipes and real disks: rotation under a flood,
 * backpressure on a slow sink, a full disk and its recovery, external rotation with
 * reload-logs and SIGUSR2, line-atomic merging of two workers' long lines, and a flood paced
 * while another app waits for CPU.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lastLines } from '../../src/client/logs-command.js';
import type { AppDescription, LogFileDescription } from '../../src/shared/protocol.js';
import { listRotatedFiles } from '../../src/shared/rotated-log-files.js';
import { byStatus, expectOk, fixture, isAlive, logLines, spawnCli, tempHome, waitFor, type Home } from '../helpers.js';

const MiB = 1024 * 1024;

async function describeApp(home: Home, name: string): Promise<AppDescription> {
  const result = await home.cli(['describe', name, '--json']);
  expectOk(result);
  return (JSON.parse(result.stdout) as AppDescription[])[0] as AppDescription;
}

function logOf(app: AppDescription, stream: LogFileDescription['stream']): LogFileDescription {
  const log = app.logs.find((l) => l.stream === stream);
  if (!log) throw new Error(`no ${stream} log in ${JSON.stringify(app.logs)}`);
  return log;
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    total += (await stat(join(dir, name)).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0) * 1024;
}

describe('logs', () => {
  let home: Home | undefined;
  const extraCleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    const last = home;
    home = undefined;
    await last?.cleanup().catch(() => undefined);
    for (const fn of extraCleanup.splice(0).reverse()) await Promise.resolve(fn()).catch(() => undefined);
  });

  it('rotation holds the bound under a 15 s flood, and the newest lines stay readable across files', async () => {
    home = await tempHome();
    const logDir = join(home.dir, 'logs');
    // Daemon-wide defaults from the daemon's environment: 1 MiB files, 2 rotated kept.
    const env = { SUPERVISOR_LOG_MAX_SIZE: '1M', SUPERVISOR_LOG_RETAIN: '2', FLOOD_MS: '15000', STDERR: '1' };
    expectOk(await home.cli(['start', fixture('log-flood.cjs'), '--name', 'flood'], { env }));
    const bound = 2 * (1 + 2) * MiB;
    let peak = 0;
    await waitFor(
      async () => {
        peak = Math.max(peak, await dirBytes(logDir));
        return (await lastLines(join(logDir, 'flood-out.log'), 1))[0]?.startsWith('flood 0 done');
      },
      'the flood to end',
      60_000,
      100,
    );
    expect(peak, `peak bytes on disk (bound ${bound})`).toBeLessThanOrEqual(bound);
    expect(await listRotatedFiles(join(logDir, 'flood-out.log'))).toHaveLength(2);
    const out = logOf(await describeApp(home, 'flood'), 'out');
    expect(out.size).toBeLessThanOrEqual(MiB);
    expect(out.linesDropped).toBe(0);

    const result = await home.cli(['logs', 'flood', '--out', '--no-follow', '--lines', '3']);
    expectOk(result);
    expect(result.stdout).toMatch(/flood 0 done/);
    // 15,000 lines is more than the current file holds: the rest comes from the rotated ones.
    // (What `logs --lines 15000` prints, read here without 1.5 MB going through a pipe.)
    const lines = (await lastLines(join(logDir, 'flood-out.log'), 15_000)).filter((l) => l.startsWith('flood 0 '));
    expect(lines.length).toBeGreaterThanOrEqual(14_999);
    expect(lines[lines.length - 1]).toMatch(/^flood 0 done/);
    const numbers = lines.slice(0, -1).map((l) => Number(l.split(' ')[2]));
    for (let i = 1; i < numbers.length; i++) expect(numbers[i]).toBe((numbers[i - 1] as number) + 1);
  }, 90_000);

  it('backpressure: a flood into a sink that reads 256 KiB/s leaves the daemon memory bounded', async () => {
    home = await tempHome();
    const logDir = join(home.dir, 'logs');
    await mkdir(logDir, { recursive: true, mode: 0o700 });
    const fifo = join(logDir, 'flood-out.log');
    execFileSync('mkfifo', ['-m', '0600', fifo]);
    const countFile = join(home.dir, 'read-count');
    const reader = spawn(process.execPath, [fixture('slow-reader.cjs'), fifo], { env: { ...process.env, RATE: String(256 * 1024), COUNT_FILE: countFile }, stdio: 'ignore' });
    extraCleanup.push(() => void (reader.pid && isAlive(reader.pid) && process.kill(reader.pid, 'SIGKILL')));

    expectOk(await home.cli(['start', fixture('log-flood.cjs'), '--name', 'flood'], { env: { SUPERVISOR_LOG_MAX_SIZE: '0', FLOOD_MS: '60000' } }));
    const daemon = (await home.daemonPid()) as number;
    await waitFor(async () => Number(await readFile(countFile, 'utf8').catch(() => '0')) > 0, 'the reader to get lines');
    const start = Date.now();
    let peak = 0;
    while (Date.now() - start < 8000) {
      peak = Math.max(peak, rssBytes(daemon));
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    // Without backpressure the daemon would hold most of what the app wrote: the app writes
    // around 100 MB/s here, the sink takes 0.25 MB/s.
    expect(peak, 'daemon peak RSS').toBeLessThan(150 * MiB);
    const got = Number(await readFile(countFile, 'utf8'));
    expect(got).toBeLessThan(16 * MiB);
    const [row] = await home.list();
    expect(row?.status).toBe('online');
  }, 60_000);

  it('a full disk: lines dropped and counted per stream, the app named once in daemon.log, writing resumes by itself', async (context) => {
    if (process.getuid?.() !== 0) {
      console.warn('skipped: mounting a small tmpfs needs root');
      context.skip();
    }
    home = await tempHome();
    const logDir = join(home.dir, 'logs');
    await mkdir(logDir, { recursive: true, mode: 0o700 });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', logDir], { stdio: 'pipe' });
    } catch (error) {
      console.warn(`skipped: cannot mount a tmpfs here (${(error as Error).message.split('\n')[0]})`);
      context.skip();
    }
    extraCleanup.push(() => void execFileSync('umount', ['-l', logDir], { stdio: 'ignore' }));

    expectOk(await home.cli(['start', fixture('tick-app.cjs'), '--name', 'ticker'], { env: { TICK_MS: '10', TICK_BYTES: '200' } }));
    const [before] = await byStatus(home, 'ticker', 'online', 1);
    await waitFor(async () => (await logLines(home as Home, 'ticker')).length > 5, 'first lines');

    // Fill the disk: the filler gets what space is left, then ENOSPC.
    const filler = join(logDir, 'filler');
    try {
      await writeFile(filler, Buffer.alloc(2 * MiB));
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
    }
    const failing = await waitFor(async () => {
      const app = await describeApp(home as Home, 'ticker');
      return logOf(app, 'out').failing && logOf(app, 'err').failing ? app : null;
    }, 'both streams to report the full disk');
    for (const stream of ['out', 'err'] as const) {
      expect(logOf(failing, stream).lastError).toMatch(/^ENOSPC/);
    }
    const text = await home.cli(['describe', 'ticker']);
    expect(text.stdout).toMatch(/log out .*FAILING ENOSPC/);
    expect(text.stdout).toMatch(/log err .*FAILING ENOSPC/);
    // The app is not blocked or killed by the disk.
    const [during] = await home.list();
    expect(during?.pid).toBe(before?.pid);
    expect(during?.status).toBe('online');

    const lastBefore = (await logLines(home, 'ticker')).at(-1) ?? '';
    await rm(filler);
    const after = await waitFor(async () => {
      const app = await describeApp(home as Home, 'ticker');
      return !logOf(app, 'out').failing && !logOf(app, 'err').failing ? app : null;
    }, 'writing to resume');
    expect(logOf(after, 'out').linesDropped).toBeGreaterThan(0);
    await waitFor(async () => {
      const lines = await logLines(home as Home, 'ticker');
      return lines.length > 0 && lines.at(-1) !== lastBefore;
    }, 'new lines in the log');

    const daemonLog = await readFile(join(home.dir, 'daemon.log'), 'utf8');
    const complaints = daemonLog.split('\n').filter((l) => l.includes('app "ticker"') && l.includes('cannot write'));
    expect(complaints, daemonLog).toHaveLength(1);
    expect(complaints[0]).toMatch(/ENOSPC/);
    expect(daemonLog).toMatch(/app "ticker": writing its logs again/);
    expect(daemonLog).not.toMatch(/uncaught/);
  }, 60_000);

  it('external rotation: a renamed file is reopened by reload-logs, a deleted one recreated on SIGUSR2', async () => {
    home = await tempHome();
    const out = join(home.dir, 'logs', 'ticker-out.log');
    expectOk(await home.cli(['start', fixture('tick-app.cjs'), '--name', 'ticker'], { env: { TICK_MS: '20' } }));
    await waitFor(async () => (await logLines(home as Home, 'ticker')).length > 3, 'first lines');

    await rename(out, `${out}.1`);
    const reload = await home.cli(['reload-logs']);
    expectOk(reload);
    expect(reload.stdout).toMatch(/reopened 2 log files/);
    await waitFor(async () => (await logLines(home as Home, 'ticker')).length > 3, 'lines in the new file');
    const movedSize = (await stat(`${out}.1`)).size;
    await waitFor(async () => (await logLines(home as Home, 'ticker')).length > 10, 'more lines in the new file');
    expect((await stat(`${out}.1`)).size, 'the moved file stopped growing').toBe(movedSize);

    await rm(out);
    process.kill((await home.daemonPid()) as number, 'SIGUSR2');
    await waitFor(() => existsSync(out) && readFileSync(out, 'utf8').includes('tick'), 'the deleted file to be recreated');
    expect(await readFile(join(home.dir, 'daemon.log'), 'utf8')).toMatch(/received SIGUSR2: reopened 2 log files/);
  }, 60_000);

  it('logs <namespace> follows every app of the namespace, logs <id> only that process; --namespace; stop <namespace>', async () => {
    home = await tempHome();
    const dir = await mkdtemp(join(tmpdir(), 'sv-ns-'));
    extraCleanup.push(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'ns.config.cjs');
    const app = (name: string, namespace: string): object => ({ name, script: fixture('tick-app.cjs'), namespace, env: { TICK_MS: '100' } });
    await writeFile(file, `module.exports = ${JSON.stringify({ apps: [app('front', 'shop'), app('back', 'shop'), app('other', 'misc')] })};\n`);
    expectOk(await home.cli(['start', file]));
    const [back] = await byStatus(home, 'back', 'online', 1);
    await byStatus(home, 'front', 'online', 1);
    await byStatus(home, 'other', 'online', 1);

    const shop = spawnCli(['logs', 'shop', '--lines', '0', '--out'], home.env);
    const one = spawnCli(['logs', String(back?.id), '--lines', '0', '--out'], home.env);
    extraCleanup.push(() => shop.kill(), () => one.kill());
    await waitFor(() => /^front\|\d+ \| tick/m.test(shop.stdout()) && /^back\|\d+ \| tick/m.test(shop.stdout()), 'lines of both apps of the namespace');
    await waitFor(() => one.stdout().split('\n').filter((l) => l.startsWith('back|')).length >= 3, 'lines of the one process');
    expect(shop.stdout()).not.toMatch(/^other\|/m);
    expect(one.stdout()).not.toMatch(/^(front|other)\|/m);
    shop.kill('SIGINT');
    one.kill('SIGINT');
    expect(await shop.exited).toEqual({ code: 0, signal: null });
    expect(await one.exited).toEqual({ code: 0, signal: null });

    // --namespace on the command line; a command on the namespace acts on all of its apps.
    expectOk(await home.cli(['start', fixture('idle-app.cjs'), '--name', 'extra', '--namespace', 'shop']));
    const stopped = await home.cli(['stop', 'shop', '--json']);
    expectOk(stopped);
    expect((JSON.parse(stopped.stdout) as { name: string }[]).map((p) => p.name).sort()).toEqual(['back', 'extra', 'front']);
    expect((await home.list()).map((p) => `${p.name} ${p.status}`).sort()).toEqual(['back stopped', 'extra stopped', 'front stopped', 'other online']);
  });

  it('two workers writing long lines in pieces into one merged file: no line is cut into another', async () => {
    home = await tempHome();
    expectOk(await home.cli(['start', fixture('long-lines.cjs'), '-i', '2', '--name', 'long'], { env: { LINE_BYTES: '32768', LINES: '150' } }));
    const lines = await waitFor(async () => {
      const all = await logLines(home as Home, 'long');
      return all.filter((l) => l.startsWith('long-lines done')).length === 2 ? all : null;
    }, 'both workers to finish', 45_000);
    const counts: Record<string, number> = {};
    for (const line of lines) {
      if (line.startsWith('long-lines done')) continue;
      expect(line.length).toBe(32767);
      const letter = line[0] as string;
      expect(line, 'one worker per line').toBe(letter.repeat(32767));
      counts[letter] = (counts[letter] ?? 0) + 1;
    }
    expect(counts).toEqual({ A: 150, B: 150 });
  }, 60_000);

  it('a flood is paced while another app waits for CPU, loses no line, and is read at full speed once that app stops', async (context) => {
    // Enough spinners to keep every core busy and make them wait for one another; above 8
    // that is more load than a test should put on a machine.
    const spinners = availableParallelism() + 1;
    if (spinners > 8) {
      console.warn(`skipped: ${spinners} spinning processes would be needed to make this machine's CPUs contended (at most 8)`);
      context.skip();
    }
    home = await tempHome();
    const logDir = join(home.dir, 'logs');
    // Daemon-wide: pace to 1 MiB/s, never rotate (every line stays in one file to be counted).
    const daemonEnv = { SUPERVISOR_LOG_PACE_RATE: '1M', SUPERVISOR_LOG_MAX_SIZE: '0' };
    expectOk(await home.cli(['start', fixture('spin.cjs'), '--name', 'busy', '-i', String(spinners)], { env: daemonEnv }));
    await byStatus(home, 'busy', 'online', spinners);
    // 4 MiB/s of numbered lines, for at most 60 s.
    expectOk(await home.cli(['start', fixture('log-flood.cjs'), '--name', 'flood'], { env: { FLOOD_RATE: String(4 * MiB), FLOOD_MS: '60000' } }));

    const paced = await waitFor(async () => {
      const pacing = (await describeApp(home as Home, 'flood')).logPacing;
      return pacing?.paced ? pacing : null;
    }, 'the flood to be paced', 20_000, 200);
    expect(paced.rate).toBe(MiB);
    const text = await home.cli(['describe', 'flood']);
    expect(text.stdout).toMatch(/log pacing +PACED now to 1\.0mb\/s while other apps wait for CPU/);
    // The busy app is not paced: it writes nothing.
    expect((await describeApp(home, 'busy')).logPacing?.paced).toBe(false);

    expectOk(await home.cli(['stop', 'busy']));
    const after = await waitFor(async () => {
      const pacing = (await describeApp(home as Home, 'flood')).logPacing;
      return pacing && !pacing.paced ? pacing : null;
    }, 'pacing to end once the busy app stopped', 30_000, 200);
    expect(after.pacedMs).toBeGreaterThan(0);
    expectOk(await home.cli(['stop', 'flood']));

    const daemonLog = readFileSync(join(home.dir, 'daemon.log'), 'utf8');
    expect(daemonLog).toMatch(/app "flood": pacing its logs to 1 MiB\/s while other apps wait for CPU/);
    expect(daemonLog).toMatch(/app "flood": reading its logs at full speed again \(paced \d+\.\d s\)/);
    expect(daemonLog.match(/app "flood": pacing its logs/g)?.length).toBe(daemonLog.match(/full speed again/g)?.length);

    // No line lost: the numbers in the file run on without a gap.
    const lines = (await readFile(join(logDir, 'flood-out.log'), 'utf8')).split('\n').filter((l) => l.length > 0);
    let expected = 0;
    for (const line of lines) {
      const n = Number(/^flood 0 (\d+) /.exec(line)?.[1]);
      if (n !== expected) throw new Error(`line ${expected} expected, got ${JSON.stringify(line.slice(0, 40))}`);
      expected += 1;
    }
    expect(expected).toBeGreaterThan(1000);
    expect(logOf(await describeApp(home, 'flood'), 'out').linesDropped).toBe(0);
  }, 90_000);
});

describe("pm2's log options", () => {
  let home: Home | undefined;
  const children: number[] = [];
  afterEach(async () => {
    for (const pid of children.splice(0)) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    const last = home;
    home = undefined;
    await last?.cleanup().catch(() => undefined);
  });

  it('out_file, error_file, /dev/null, log_file, time, merge_logs, log_type json, rotation per app, logs --json/--timestamp, flush', async () => {
    home = await tempHome();
    const dir = join(home.dir, 'apps');
    await mkdir(dir, { recursive: true });
    const tick = fixture('tick-app.cjs');
    const config = join(dir, 'ecosystem.config.cjs');
    await writeFile(
      config,
      `module.exports = { apps: [
        { name: 'web', script: ${JSON.stringify(tick)}, out_file: 'custom/web.out', error_file: '/dev/null', log_file: 'custom/all.log', time: true },
        { name: 'per', script: ${JSON.stringify(tick)}, exec_mode: 'fork', instances: 2, merge_logs: false },
        { name: 'js', script: ${JSON.stringify(tick)}, log_type: 'json', log_date_format: 'YYYY' },
        { name: 'quiet', script: ${JSON.stringify(tick)}, out_file: '/dev/null', error_file: 'NULL' },
        { name: 'rot', script: ${JSON.stringify(fixture('log-flood.cjs'))}, log_max_size: '64K', log_retain: 2, log_compress: true, env: { FLOOD_BYTES: '600000' } },
      ] };\n`,
    );
    expectOk(await home.cli(['start', config], { env: { TICK_MS: '30' } }));
    const logDir = join(home.dir, 'logs');

    // out_file relative to the app's cwd (the config's folder), with pm2's --time prefix.
    const webOut = join(dir, 'custom', 'web.out');
    await waitFor(() => existsSync(webOut) && readFileSync(webOut, 'utf8').split('\n').length > 3, 'web.out');
    expect(readFileSync(webOut, 'utf8').split('\n')[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d: tick \d+$/);
    // stderr to /dev/null still reaches log_file, which gets both streams.
    await waitFor(() => /: tock \d+/.test(readFileSync(join(dir, 'custom', 'all.log'), 'utf8')), 'tock in all.log');
    expect(readFileSync(join(dir, 'custom', 'all.log'), 'utf8')).toMatch(/: tick \d+/);
    expect(existsSync(join(logDir, 'web-err.log'))).toBe(false);
    const web = await describeApp(home, 'web');
    expect(web.logs.map((l) => [l.stream, l.file])).toEqual([
      ['out', webOut],
      ['err', '/dev/null'],
      ['combined', join(dir, 'custom', 'all.log')],
    ]);

    // merge_logs: false: one file per stream and instance, pm2's names.
    for (const name of ['per-out-0.log', 'per-out-1.log', 'per-err-0.log', 'per-err-1.log']) {
      await waitFor(() => existsSync(join(logDir, name)), name);
    }

    // log_type json: pm2's fields, the timestamp in log_date_format.
    const jsLine = await waitFor(async () => (await logLines(home as Home, 'js'))[0], 'a json line');
    expect(JSON.parse(jsLine)).toMatchObject({ message: 'tick 1', timestamp: expect.stringMatching(/^\d{4}$/), type: 'out', app_name: 'js' });

    // Both streams to /dev/null: not even a pipe, the process writes to /dev/null itself.
    const [quiet] = (await home.list()).filter((p) => p.name === 'quiet');
    const { readlinkSync } = await import('node:fs');
    expect(readlinkSync(`/proc/${quiet?.pid}/fd/1`)).toBe('/dev/null');
    expect(readlinkSync(`/proc/${quiet?.pid}/fd/2`)).toBe('/dev/null');

    // Rotation per app: 64K files, 2 kept, gzipped.
    await waitFor(async () => (await lastLines(join(logDir, 'rot-out.log'), 1))[0]?.startsWith('flood 0 done'), 'the small flood');
    const rotated = await waitFor(async () => {
      const files = await listRotatedFiles(join(logDir, 'rot-out.log'));
      return files.length === 2 && files.every((f) => f.endsWith('.gz')) ? files : null;
    }, 'two gzipped rotated files');
    const history = await lastLines(join(logDir, 'rot-out.log'), 1000);
    expect(history).toHaveLength(1000);
    expect(history.at(-1)).toMatch(/^flood 0 done/);

    // logs --json: one object per line; the history of every stream of the app.
    const json = await home.cli(['logs', 'js', '--no-follow', '--json', '--lines', '2', '--out']);
    expectOk(json);
    const objects = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(objects).toHaveLength(2);
    expect(objects[0]).toMatchObject({ app_name: 'js', type: 'out' });

    // logs --timestamp: followed lines carry the time they arrived.
    const { spawn: spawnChild } = await import('node:child_process');
    const follower = spawnChild(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'supervisor.js'), 'logs', 'web', '--lines', '0', '--timestamp', 'YYYY-MM-DD-HH:mm:ss'], { env: home.env, stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(follower.pid as number);
    let followed = '';
    follower.stdout.on('data', (chunk: Buffer) => (followed += chunk.toString()));
    await waitFor(() => /^\d{4}-\d\d-\d\d-\d\d:\d\d:\d\d web\|\d+ \| tick \d+$/m.test(followed), `a followed line with a timestamp (got ${JSON.stringify(followed.slice(0, 200))})`);
    follower.kill('SIGINT');

    // flush empties current files and removes rotated ones.
    const flushed = await home.cli(['flush', 'rot']);
    expectOk(flushed);
    expect(await listRotatedFiles(join(logDir, 'rot-out.log'))).toEqual([]);
    expect(rotated.length).toBe(2);
    expect((await stat(join(logDir, 'rot-out.log'))).size).toBe(0);

    // Bad options: one line, exit 4, nothing started.
    const bad = await home.cli(['start', tick, '--name', 'bad', '--log-type', 'xml']);
    expect(bad.code).toBe(4);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  }, 90_000);

  it('CLI -o, -e, -l and --time', async () => {
    home = await tempHome();
    const out = join(home.dir, 'o.log');
    const err = join(home.dir, 'e.log');
    const all = join(home.dir, 'all.log');
    expectOk(await home.cli(['start', fixture('tick-app.cjs'), '--name', 'cli', '-o', out, '-e', err, '-l', all, '--time'], { env: { TICK_MS: '30' } }));
    await waitFor(() => existsSync(all) && /tick[\s\S]*tock|tock[\s\S]*tick/.test(readFileSync(all, 'utf8')), 'both streams in the combined file');
    expect(readFileSync(out, 'utf8')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d: tick 1\n/);
    expect(readFileSync(err, 'utf8')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d: tock 1\n/);

    // A bad daemon-wide default: one line, exit 4, no daemon.
    const other = await tempHome();
    try {
      const bad = await other.cli(['ping'], { env: { SUPERVISOR_LOG_MAX_SIZE: '1K' } });
      expect(bad.code).toBe(4);
      expect(bad.stderr).toMatch(/^supervisor: SUPERVISOR_LOG_MAX_SIZE must be 0 \(never rotate\) or at least 64K \(got "1K"\)\n$/);
      expect(await other.daemonPid()).toBeNull();
    } finally {
      await other.cleanup();
    }
  }, 60_000);
});
