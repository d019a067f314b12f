/**
 * cron_restart and watch end to end, with real daemons, real processes and real files: a cron
 * expression with seconds restarts a fork-mode app and reloads a cluster-mode one; a burst of
 * file changes is one restart; the app's own log file, the daemon's home, node_modules, .git
 * and ignore_watch never trigger; a stopped app does not come back on a change; a bad
 * expression is refused at start and changes nothing; a user reload and a watch reload that
 * overlap both run, neither refused.
 */
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppDescription, ProcessInfo, TriggerDescription } from '../../src/shared/protocol.js';
import { byStatus, expectOk, fixture, freePort, httpGet, logLines, tempHome, waitFor, scratchDirs, type Home } from '../helpers.js';

async function describeApp(home: Home, name: string): Promise<AppDescription> {
  const result = await home.cli(['describe', name, '--json']);
  expectOk(result);
  return (JSON.parse(result.stdout) as AppDescription[])[0] as AppDescription;
}

async function triggersOf(home: Home, name: string): Promise<TriggerDescription> {
  return (await describeApp(home, name)).triggers as TriggerDescription;
}

const rowsOf = async (home: Home, name: string): Promise<ProcessInfo[]> => (await home.list()).filter((row) => row.name === name);
const restartsOf = async (home: Home, name: string): Promise<number> => (await rowsOf(home, name)).reduce((sum, row) => sum + row.restarts, 0);

describe('cron_restart and watch', () => {
  let home: Home;
  const dirs = scratchDirs('sv-triggers-');
  const scratch = dirs.make;
  afterEach(async () => {
    const last = home as Home | undefined;
    home = undefined as unknown as Home;
    await last?.cleanup();
    await dirs.removeAll();
  });

  it('refuses a bad cron expression at start with one line and exit 4, and starts nothing', async () => {
    home = await tempHome();
    const result = await home.cli(['start', fixture('idle-app.cjs'), '--cron', '61 * * * *']);
    expect(result.code, result.stderr).toBe(4);
    const lines = result.stderr.split('\n').filter((line) => line.length > 0);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^supervisor: cron_restart "61 \* \* \* \*" is not a cron expression: /);
    expect(await home.list()).toEqual([]);
  });

  it('cron in fork mode restarts the app at each tick (new pid, restart counter), and not once it is stopped', async () => {
    home = await tempHome();
    expectOk(await home.cli(['start', fixture('idle-app.cjs'), '--name', 'job', '--cron-restart', '*/2 * * * * *']));
    const [first] = await byStatus(home, 'job', 'online', 1);
    const cron = await waitFor(async () => (await triggersOf(home, 'job')).cron, 'the cron armed');
    expect(cron).toMatchObject({ expression: '*/2 * * * * *', armed: true });
    expect(cron.nextRunAt! % 2000).toBe(0);
    const restarted = await waitFor(async () => (await rowsOf(home, 'job')).find((row) => row.pid !== first!.pid && row.status === 'online' && row.restarts >= 1), 'a restart by cron', 20_000);
    expect(restarted.pid).not.toBe(first!.pid);

    expectOk(await home.cli(['stop', 'job']));
    expect((await triggersOf(home, 'job')).cron).toEqual({ expression: '*/2 * * * * *', armed: false, nextRunAt: null });
    expect((await rowsOf(home, 'job')).map((row) => row.status)).toEqual(['stopped']);
    expect(await describeApp(home, 'job').then((app) => app.spec.cronRestart)).toBe('*/2 * * * * *');
  });

  it('cron in cluster mode reloads: every worker replaced, the app serving throughout', async () => {
    home = await tempHome();
    const port = await freePort();
    expectOk(await home.cli(['start', fixture('http-app.cjs'), '--name', 'api', '-i', '2', '--cron', '*/3 * * * * *'], { env: { PORT: String(port) } }));
    const before = (await byStatus(home, 'api', 'online', 2)).map((row) => row.pid);
    await waitFor(async () => {
      const rows = await rowsOf(home, 'api');
      return rows.length === 2 && rows.every((row) => row.status === 'online' && row.restarts >= 1 && !before.includes(row.pid));
    }, 'both workers replaced by a cron reload', 30_000);
    expect((await httpGet(port)).status).toBe(200);
    expect((await triggersOf(home, 'api')).cron?.armed).toBe(true);
  });

  it('watch: one restart per burst of changes; the log file, the home, node_modules, .git and ignore_watch never trigger; stop disarms', async () => {
    home = await tempHome();
    const dir = await scratch();
    for (const sub of ['src', 'ignored', 'node_modules', '.git']) await mkdir(join(dir, sub));
    await writeFile(join(dir, 'marker.txt'), 'start\n');
    // The app logs every 100 ms into a file in the watched folder, and the daemon's home (its
    // state file, its logs) is watched too: neither may ever cause a restart.
    await writeFile(
      join(dir, 'ecosystem.config.cjs'),
      `module.exports = { apps: [{ name: 'dev', script: ${JSON.stringify(fixture('tick-app.cjs'))}, cwd: ${JSON.stringify(dir)},
        env: { TICK_MS: '100' }, out_file: 'app.log', error_file: 'app-err.log',
        watch: ['.', ${JSON.stringify(home.dir)}], ignore_watch: ['ignored', '*.tmp'], watch_delay: 700 }] };\n`,
    );
    expectOk(await home.cli(['start', join(dir, 'ecosystem.config.cjs')]));
    const [first] = await byStatus(home, 'dev', 'online', 1);
    const watch = await waitFor(async () => {
      const w = (await triggersOf(home, 'dev')).watch;
      return w?.ready ? w : null;
    }, 'the watcher ready');
    expect(watch.paths).toEqual([dir, home.dir]);
    expect(watch.delayMs).toBe(700);

    // A burst: several files within the delay are one restart.
    for (let i = 0; i < 5; i++) await writeFile(join(dir, 'src', `file-${i}.js`), `// ${i}\n`);
    const second = await waitFor(async () => (await rowsOf(home, 'dev')).find((row) => row.status === 'online' && row.pid !== first!.pid), 'a restart after the burst', 20_000);
    expect(second.restarts).toBe(1);
    const afterBurst = (await triggersOf(home, 'dev')).watch!;
    expect(afterBurst.changes).toBeGreaterThanOrEqual(5);

    // Ignored writes first; then one change that counts. If any ignored one had counted, the
    // count would be off by more than the marker's one change.
    await writeFile(join(dir, 'ignored', 'a.js'), 'x\n');
    await writeFile(join(dir, 'node_modules', 'a.js'), 'x\n');
    await writeFile(join(dir, '.git', 'HEAD'), 'ref: x\n');
    await writeFile(join(dir, 'scratch.tmp'), 'x\n');
    await waitFor(async () => (await readLog(join(dir, 'app.log'))).length >= 5, 'the app writing its log in the watched folder');
    const counted = (await triggersOf(home, 'dev')).watch!.changes;
    await appendFile(join(dir, 'marker.txt'), 'change\n');
    await waitFor(async () => {
      const rows = await rowsOf(home, 'dev');
      return rows.length === 1 && rows[0]!.restarts === 2 && rows[0]!.status === 'online';
    }, 'a restart for the marker', 20_000);
    expect((await triggersOf(home, 'dev')).watch!.changes).toBe(counted + 1);
    // The restarted app writes its log, and the daemon its notes, state and logs: no restart.
    const lines = (await readLog(join(dir, 'app.log'))).length;
    await waitFor(async () => (await readLog(join(dir, 'app.log'))).length >= lines + 10, 'ten more log lines');
    expect(await restartsOf(home, 'dev')).toBe(2);
    expect((await triggersOf(home, 'dev')).watch!.changes).toBe(counted + 1);

    // Stopped, the app is not watched: a change does not start it. Started, it is again.
    expectOk(await home.cli(['stop', 'dev']));
    expect((await triggersOf(home, 'dev')).watch).toMatchObject({ armed: false, ready: false });
    await appendFile(join(dir, 'marker.txt'), 'while stopped\n');
    expectOk(await home.cli(['start', 'dev']));
    await waitFor(async () => (await triggersOf(home, 'dev')).watch?.ready, 'the watcher ready again');
    const running = await byStatus(home, 'dev', 'online', 1);
    await appendFile(join(dir, 'marker.txt'), 'after start\n');
    await waitFor(async () => (await rowsOf(home, 'dev')).find((row) => row.status === 'online' && row.pid !== running[0]!.pid), 'a restart once watched again', 20_000);
  });

  it("pm2's habit: restart <app> --watch toggles watching (then restarts), stop <app> --watch stops and turns it off", async () => {
    home = await tempHome();
    const dir = await scratch();
    await writeFile(join(dir, 'app.cjs'), 'setInterval(() => undefined, 1000);\n');
    expectOk(await home.cli(['start', 'app.cjs', '--watch-delay', '0.2'], { cwd: dir }));
    await byStatus(home, 'app', 'online', 1);
    expect((await triggersOf(home, 'app')).watch).toBeNull();
    const readyWatch = (): Promise<NonNullable<TriggerDescription['watch']>> =>
      waitFor(async () => {
        const w = (await triggersOf(home, 'app')).watch;
        return w?.ready ? w : null;
      }, 'the watcher ready');

    // Off -> on: the app's cwd is watched, and the app was restarted.
    const on = await home.cli(['restart', 'app', '--watch']);
    expectOk(on);
    expect(on.stderr).toContain('app: watching its cwd for changes');
    expect((await readyWatch()).paths).toEqual([dir]);
    expect((await describeApp(home, 'app')).spec.watch).toEqual(['.']);
    expect(await restartsOf(home, 'app')).toBe(1);
    const [before] = await byStatus(home, 'app', 'online', 1);
    await writeFile(join(dir, 'data.txt'), 'changed\n');
    await waitFor(async () => (await rowsOf(home, 'app')).find((row) => row.status === 'online' && row.pid !== before!.pid && row.restarts === 2), 'a restart by the change', 20_000);

    // On -> off: no watcher, and the spec says so (saved and restored with it).
    const off = await home.cli(['restart', 'app', '--watch']);
    expectOk(off);
    expect(off.stderr).toContain('app: not watching for changes');
    expect((await triggersOf(home, 'app')).watch).toBeNull();
    expect((await describeApp(home, 'app')).spec.watch).toEqual([]);
    expect(await restartsOf(home, 'app')).toBe(3);

    // stop --watch: stopped, and a later restart does not watch (plain stop only pauses watching).
    expectOk(await home.cli(['restart', 'app', '--watch']));
    await readyWatch();
    const stopped = await home.cli(['stop', 'app', '--watch']);
    expectOk(stopped);
    expect((await rowsOf(home, 'app')).map((row) => row.status)).toEqual(['stopped']);
    expect((await describeApp(home, 'app')).spec.watch).toEqual([]);
    expectOk(await home.cli(['restart', 'app']));
    await byStatus(home, 'app', 'online', 1);
    expect((await triggersOf(home, 'app')).watch).toBeNull();

    // Not for config files (their apps take watch from the file), and an unknown app changes nothing.
    const file = await home.cli(['restart', join(dir, 'ecosystem.config.js'), '--watch']);
    expect(file.code).toBe(4);
    expect(file.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^supervisor: --watch applies to an app/)]);
    const unknown = await home.cli(['stop', 'nope', '--watch']);
    expect(unknown.code).toBe(2);
    expect((await rowsOf(home, 'app')).map((row) => row.status)).toEqual(['online']);
  });

  it('--watch on the command line watches the current directory and reloads a cluster app', async () => {
    home = await tempHome();
    const dir = await scratch();
    const port = await freePort();
    await writeFile(join(dir, 'server.cjs'), "require('node:http').createServer((q, s) => s.end(String(process.pid))).listen(Number(process.env.PORT));\n");
    expectOk(await home.cli(['start', 'server.cjs', '-i', '2', '--watch', '--watch-delay', '0.3'], { cwd: dir, env: { PORT: String(port) } }));
    const before = (await byStatus(home, 'server', 'online', 2)).map((row) => row.pid);
    const watch = await waitFor(async () => {
      const w = (await triggersOf(home, 'server')).watch;
      return w?.ready ? w : null;
    }, 'the watcher ready');
    expect(watch).toMatchObject({ paths: [dir], delayMs: 300 });
    await writeFile(join(dir, 'server.cjs'), "require('node:http').createServer((q, s) => s.end('v2 ' + process.pid)).listen(Number(process.env.PORT));\n");
    await waitFor(async () => {
      const rows = await rowsOf(home, 'server');
      return rows.length === 2 && rows.every((row) => row.status === 'online' && !before.includes(row.pid));
    }, 'both workers reloaded', 30_000);
    expect((await httpGet(port)).body).toMatch(/^v2 /);
    expect((await describeApp(home, 'server')).spec.mode).toBe('cluster');
  });

  it('a user reload racing a watch reload: neither is refused, in either order; both run and the last change is live', async () => {
    home = await tempHome();
    const dir = await scratch();
    const port = await freePort();
    // Each worker listens 1.5 s after it starts, so a reload of two takes 3 s or more: the
    // other reload arrives while one is under way. It logs its version and pid when started.
    await writeFile(join(dir, 'version.txt'), 'v1\n');
    await writeFile(
      join(dir, 'server.cjs'),
      `const version = require('node:fs').readFileSync(__dirname + '/version.txt', 'utf8').trim();
       console.log('started ' + version + ' ' + process.pid);
       setTimeout(() => require('node:http').createServer((q, s) => s.end(version)).listen(Number(process.env.PORT)), 1500);\n`,
    );
    expectOk(await home.cli(['start', 'server.cjs', '-i', '2', '--watch', '--watch-delay', '0.2'], { cwd: dir, env: { PORT: String(port) } }));
    await byStatus(home, 'server', 'online', 2);
    await waitFor(async () => (await triggersOf(home, 'server')).watch?.ready, 'the watcher ready');
    const notes = async (): Promise<string[]> => (await logLines(home, 'server', 'err')).filter((line) => line.startsWith('[supervisor]'));
    const watchReloads = async (): Promise<number> => (await notes()).filter((line) => line.includes('watch: version.txt changed: reloading 2 processes')).length;
    const started = async (version: string): Promise<number> => (await logLines(home, 'server')).filter((line) => line.startsWith(`started ${version} `)).length;
    const serving = async (version: string): Promise<boolean> => {
      const rows = await rowsOf(home, 'server');
      if (rows.length !== 2 || !rows.every((row) => row.status === 'online')) return false;
      for (let i = 0; i < 4; i++) if ((await httpGet(port)).body !== version) return false;
      return true;
    };

    // 1. The watch reload first; the user's reload arrives while it runs, waits, and succeeds.
    await writeFile(join(dir, 'version.txt'), 'v2\n');
    await waitFor(async () => (await watchReloads()) === 1 && (await started('v2')) >= 1, 'the watch reload under way', 20_000);
    const during = await home.cli(['reload', 'server']);
    expect(during.code, during.stderr).toBe(0);
    // Two reloads of two workers, all of them v2.
    await waitFor(async () => (await started('v2')) === 4 && (await serving('v2')), 'both reloads done, v2 served', 30_000);

    // 2. The user's reload first; a change while it runs makes a watch reload after it.
    const reload = home.cli(['reload', 'server']);
    await waitFor(async () => (await started('v2')) === 5, "the user's reload under way", 20_000);
    await writeFile(join(dir, 'version.txt'), 'v3\n');
    const done = await reload;
    expect(done.code, done.stderr).toBe(0);
    await waitFor(async () => (await watchReloads()) === 2 && (await serving('v3')), 'the watch reload after it, v3 served', 30_000);

    const lines = await notes();
    expect(lines.filter((line) => /CONFLICT|already in progress|failed|cancelled|skipped/.test(line)), lines.join('\n')).toEqual([]);
    expect(await rowsOf(home, 'server')).toHaveLength(2);
  });
});

async function readLog(file: string): Promise<string[]> {
  try {
    return (await readFile(file, 'utf8')).split('\n').filter((line) => line.length > 0);
  } catch {
    return [];
  }
}
