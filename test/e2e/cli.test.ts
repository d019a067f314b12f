/**
 * The command line as CLI.md promises it, end to end: real daemons, real workers, a
 * temporary SUPERVISOR_HOME per test.
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppDescription, ProcessInfo } from '../../src/shared/protocol.js';
import { byStatus, envReports, expectOk, fixture, freePort, httpGet, logLines, tempHome, waitFor, type CliResult, type EnvReport, type Home } from '../helpers.js';

const STATUSES = ['launching', 'online', 'stopping', 'stopped', 'waiting-restart', 'errored'];

/**
 * Whether a pid names a live process. Unlike `process.kill(pid, 0)` a zombie counts as gone:
 * here PID 1 does not reap orphans, so a dead daemon or grandchild can stay a zombie for ever.
 */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** What a failed command must not change: the rows without their clocks and gauges. */
async function snapshot(home: Home): Promise<unknown[]> {
  return (await home.list()).map(({ id, name, mode, instance, pid, status, restarts }) => ({ id, name, mode, instance, pid, status, restarts }));
}

function logFile(home: Home, app: string, stream: 'out' | 'err' = 'out'): string {
  return join(home.dir, 'logs', `${app}-${stream}.log`);
}


/** CLI.md: non-zero, one clear line on stderr. */
function expectOneLineFailure(result: CliResult, what: string): void {
  expect(result.code, `${what}: exit status`).not.toBe(0);
  const lines = result.stderr.split('\n').filter((line) => line.length > 0);
  expect(lines, `${what}: stderr ${JSON.stringify(result.stderr)}`).toHaveLength(1);
  expect(lines[0], what).toMatch(/^supervisor: \S/);
}

describe('cli', () => {
  let home: Home;
  const extraCleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const fn of extraCleanup.splice(0)) await fn().catch(() => undefined);
    // Each home is cleaned once: a test that makes no `home` must not clean the last one again.
    const last = home as Home | undefined;
    home = undefined as unknown as Home;
    await last?.cleanup();
  });

  it('start, list --json, stop, restart and delete, with stable ids and instance numbers', async () => {
    home = await tempHome();
    const port = await freePort();
    const idle = await home.cli(['start', fixture('idle-app.cjs'), '--name', 'idle']);
    expectOk(idle);
    expect(idle.stdout).toMatch(/idle/);
    expectOk(await home.cli(['start', fixture('http-app.cjs'), '-i', '3', '--name', 'web'], { env: { PORT: String(port) } }));
    await byStatus(home, 'idle', 'online', 1);
    await byStatus(home, 'web', 'online', 3);

    // Every field CLI.md lists, with its type.
    const rows = await home.list();
    expect(rows).toHaveLength(4);
    for (const row of rows) {
      expect(Number.isSafeInteger(row.id) && row.id >= 0, `id ${row.id}`).toBe(true);
      expect(typeof row.name).toBe('string');
      expect(['fork', 'cluster']).toContain(row.mode);
      expect(Number.isSafeInteger(row.instance)).toBe(true);
      expect(Number.isSafeInteger(row.pid)).toBe(true);
      expect(isRunning(row.pid as number)).toBe(true);
      expect(STATUSES).toContain(row.status);
      expect(row.status).toBe('online');
      expect(row.restarts).toBe(0);
      for (const key of ['uptimeMs', 'cpu', 'memory'] as const) {
        expect(typeof row[key], key).toBe('number');
        expect(Number.isFinite(row[key]) && row[key] >= 0, `${key} ${row[key]}`).toBe(true);
      }
    }
    expect(new Set(rows.map((r) => r.id)).size).toBe(4);
    expect(new Set(rows.map((r) => r.pid)).size).toBe(4);
    const idleRow = rows.find((r) => r.name === 'idle') as ProcessInfo;
    expect(idleRow).toMatchObject({ mode: 'fork', instance: 0 });
    const web = rows.filter((r) => r.name === 'web');
    expect(web.every((r) => r.mode === 'cluster')).toBe(true);
    expect(web.map((r) => r.instance).sort()).toEqual([0, 1, 2]);

    // The table and its aliases.
    for (const command of ['list', 'ls', 'status']) {
      const table = await home.cli([command]);
      expectOk(table);
      expect(table.stdout).toMatch(/^id\s+name\s+mode\s+pid\s+status/);
      for (const row of rows) expect(table.stdout).toMatch(new RegExp(`^${row.id}\\s+${row.name}\\s.*\\s${row.pid}\\s+online`, 'm'));
    }

    // stop: listed, stopped, no pid; the process is gone when the command returns.
    expectOk(await home.cli(['stop', 'idle']));
    expect(isRunning(idleRow.pid as number)).toBe(false);
    const afterStop = await home.list();
    expect(afterStop.find((r) => r.name === 'idle')).toMatchObject({ id: idleRow.id, status: 'stopped', pid: null, restarts: 0 });
    expect(afterStop.filter((r) => r.name === 'web').map((r) => r.pid)).toEqual(web.map((r) => r.pid));

    // restart: new pids, restarts + 1, same ids and instances.
    expectOk(await home.cli(['restart', 'web']));
    for (const old of web) expect(isRunning(old.pid as number), `old pid ${old.pid}`).toBe(false);
    const restarted = await byStatus(home, 'web', 'online', 3);
    for (const old of web) {
      const now = restarted.find((r) => r.id === old.id);
      expect(now, `slot ${old.id}`).toMatchObject({ instance: old.instance, restarts: 1 });
      expect(now?.pid).not.toBe(old.pid);
    }
    expect(new Set(restarted.map((r) => r.pid)).size).toBe(3);

    // restart by id touches that process only.
    const one = restarted[1] as ProcessInfo;
    expectOk(await home.cli(['restart', String(one.id)]));
    const again = await byStatus(home, 'web', 'online', 3);
    for (const row of again) {
      const before = restarted.find((r) => r.id === row.id) as ProcessInfo;
      if (row.id === one.id) expect(row).toMatchObject({ restarts: 2, instance: one.instance });
      else expect(row).toMatchObject({ pid: before.pid, restarts: 1 });
    }
    expect(again.find((r) => r.id === one.id)?.pid).not.toBe(one.pid);

    // restart of a stopped app starts it, in the same slot.
    expectOk(await home.cli(['restart', 'idle']));
    const [idleAgain] = await byStatus(home, 'idle', 'online', 1);
    expect(idleAgain).toMatchObject({ id: idleRow.id, instance: 0, restarts: 1 });
    expect(idleAgain?.pid).not.toBeNull();

    // delete: gone from the list, processes gone.
    expectOk(await home.cli(['delete', 'web']));
    for (const row of again) expect(isRunning(row.pid as number)).toBe(false);
    expect((await home.list()).map((r) => r.name)).toEqual(['idle']);
    await expect(httpGet(port, '/', { timeoutMs: 2000 })).rejects.toThrow();
    expectOk(await home.cli(['delete', String(idleRow.id)]));
    expect(isRunning(idleAgain?.pid as number)).toBe(false);
    expect(await home.list()).toEqual([]);
  });

  it('kill stops every worker and the daemon, and removes daemon.sock and daemon.pid', async () => {
    home = await tempHome();
    const port = await freePort();
    expectOk(await home.cli(['start', fixture('idle-app.cjs'), '--name', 'idle']));
    expectOk(await home.cli(['start', fixture('http-app.cjs'), '-i', '2', '--name', 'web'], { env: { PORT: String(port) } }));
    await byStatus(home, 'idle', 'online', 1);
    await byStatus(home, 'web', 'online', 2);
    const workers = (await home.list()).map((r) => r.pid as number);
    const daemon = (await home.daemonPid()) as number;
    expect(isRunning(daemon)).toBe(true);

    const killed = await home.cli(['kill']);
    expectOk(killed);
    expect(killed.stdout.trim()).toBe(`daemon ${daemon} stopped`);
    // The apps are stopped before `kill` returns.
    for (const pid of workers) expect(isRunning(pid), `worker ${pid}`).toBe(false);
    // The daemon goes, and takes its files with it. (That this is over by the time `kill`
    // returns is checked, strictly, in daemon.test.ts.)
    await waitFor(() => !existsSync(join(home.dir, 'daemon.sock')), 'daemon.sock to be removed', 5000);
    await waitFor(() => !existsSync(join(home.dir, 'daemon.pid')), 'daemon.pid to be removed', 5000);
    await waitFor(() => !isRunning(daemon), 'the daemon to exit', 5000);
    await expect(httpGet(port, '/', { timeoutMs: 2000 })).rejects.toThrow();

    // A second kill has nothing to do, and starts nothing.
    const again = await home.cli(['kill']);
    expectOk(again);
    expect(again.stdout.trim()).toBe('no daemon running');
    expect(await home.daemonPid()).toBeNull();
  });

  it('gives workers their identity, the args after --, and the environment of the start command', async () => {
    home = await tempHome();
    const port = await freePort();
    // The daemon is started with a variable that the apps must not inherit from it.
    expectOk(await home.cli(['ping'], { env: { SV_TEST_DAEMON: 'daemon-only', SV_TEST_FOO: 'from-daemon' } }));
    expectOk(await home.cli(['start', fixture('env-app.cjs'), '--name', 'envy', '--', 'alpha', 'two words', '--flag', '-x'], { env: { SV_TEST_FOO: 'foo-1' } }));
    expectOk(await home.cli(['start', fixture('env-app.cjs'), '-i', '2', '--name', 'envc'], { env: { SV_TEST_FOO: 'foo-2', PORT: String(port) } }));
    const [envy] = await byStatus(home, 'envy', 'online', 1);
    const envc = await byStatus(home, 'envc', 'online', 2);

    const [fork] = await envReports(home, 'envy', 1);
    expect(fork?.pid).toBe(envy?.pid);
    expect(fork?.argv).toEqual(['alpha', 'two words', '--flag', '-x']);
    expect(fork?.env).toMatchObject({
      SUPERVISOR_ID: String(envy?.id),
      SUPERVISOR_INSTANCE: '0',
      NODE_APP_INSTANCE: '0',
      SV_TEST_FOO: 'foo-1',
    });
    expect(fork?.env).not.toHaveProperty('SV_TEST_DAEMON');

    const cluster = await envReports(home, 'envc', 2);
    expect(cluster.map((r) => r.pid).sort()).toEqual(envc.map((r) => r.pid).sort());
    for (const row of envc) {
      const report = cluster.find((r) => r.pid === row.pid) as EnvReport;
      expect(report.argv).toEqual([]);
      expect(report.env).toMatchObject({
        SUPERVISOR_ID: String(row.id),
        SUPERVISOR_INSTANCE: String(row.instance),
        NODE_APP_INSTANCE: String(row.instance),
        SV_TEST_FOO: 'foo-2',
      });
      expect(report.env).not.toHaveProperty('SV_TEST_DAEMON');
    }
    // The same, over HTTP from the cluster.
    const served = JSON.parse((await httpGet(port)).body) as EnvReport;
    expect(envc.map((r) => r.pid)).toContain(served.pid);

    // A restarted process keeps its id, instance, args and environment.
    expectOk(await home.cli(['restart', 'envy']));
    const [restarted] = await byStatus(home, 'envy', 'online', 1);
    const reports = await envReports(home, 'envy', 2);
    const latest = reports.find((r) => r.pid === restarted?.pid) as EnvReport;
    expect(latest, 'a report from the restarted process').toBeDefined();
    expect(latest.argv).toEqual(['alpha', 'two words', '--flag', '-x']);
    expect(latest.env).toMatchObject({ SUPERVISOR_ID: String(envy?.id), SUPERVISOR_INSTANCE: '0', SV_TEST_FOO: 'foo-1' });
  });

  it('runs .sh scripts with bash and .py scripts with python3 in fork mode', async () => {
    home = await tempHome();
    expectOk(await home.cli(['start', fixture('script.sh'), '--', 'x', 'y']));
    expectOk(await home.cli(['start', fixture('script.py'), '--name', 'py', '--', 'p', 'q']));
    const [sh] = await byStatus(home, 'script', 'online', 1);
    const [py] = await byStatus(home, 'py', 'online', 1);
    expect(sh).toMatchObject({ mode: 'fork', instance: 0 });
    expect(py).toMatchObject({ mode: 'fork', instance: 0 });
    await waitFor(async () => (await logLines(home, 'script')).includes(`bash app ${sh?.id} x y`), 'the bash app line');
    await waitFor(async () => (await logLines(home, 'py')).includes(`python app ${py?.id} p q`), 'the python app line');
    const described = JSON.parse((await home.cli(['describe', 'all', '--json'])).stdout) as AppDescription[];
    expect(described.map((a) => [a.name, a.spec.interpreter, a.spec.mode])).toEqual([
      ['script', 'bash', 'fork'],
      ['py', 'python3', 'fork'],
    ]);
    // Stopping them ends the whole group: `exec sleep` and python are gone.
    expectOk(await home.cli(['stop', 'all']));
    expect(isRunning(sh?.pid as number)).toBe(false);
    expect(isRunning(py?.pid as number)).toBe(false);
  });

  it('fails with one line on stderr, a non-zero status and no change, for each bad command', async () => {
    home = await tempHome();
    expectOk(await home.cli(['start', fixture('idle-app.cjs'), '--name', 'idle']));
    await byStatus(home, 'idle', 'online', 1);
    const before = await snapshot(home);
    const daemon = await home.daemonPid();

    const syntax = join(home.dir, 'syntax.config.js');
    await writeFile(syntax, 'module.exports = { apps: [ { script: "x.js" }\n');
    const badJson = join(home.dir, 'bad.json');
    await writeFile(badJson, '{ "apps": [ { "script": ');
    const unknownOption = join(home.dir, 'unknown.json');
    await writeFile(unknownOption, JSON.stringify({ apps: [{ script: fixture('idle-app.cjs'), name: 'other', colour: 'blue' }] }));
    const sameNameTwice = join(home.dir, 'twice.json');
    await writeFile(sameNameTwice, JSON.stringify({ apps: [{ script: fixture('idle-app.cjs'), name: 'twin' }, { script: fixture('idle-app.cjs'), name: 'twin' }] }));
    const noApps = join(home.dir, 'empty.json');
    await writeFile(noApps, JSON.stringify({ apps: [] }));

    // [what, argv, expected exit status (errors.ts), stderr pattern]
    const cases: [string, string[], number, RegExp][] = [
      ['missing script', ['start', join(home.dir, 'missing.js')], 1, /missing\.js does not exist/],
      ['duplicate app name', ['start', fixture('idle-app.cjs'), '--name', 'idle'], 3, /"idle" already exists/],
      ['a batch naming one app twice', ['start', sameNameTwice], 3, /"twin" already exists/],
      ['stop of an unknown app', ['stop', 'nope'], 2, /nope/],
      ['restart of an unknown app', ['restart', 'nope'], 2, /nope/],
      ['delete of an unknown app', ['delete', 'nope'], 2, /nope/],
      ['describe of an unknown app', ['describe', 'nope'], 2, /nope/],
      ['stop of an unknown id', ['stop', '999'], 2, /999/],
      ['-i abc', ['start', fixture('idle-app.cjs'), '--name', 'other', '-i', 'abc'], 4, /instances/],
      ['-i 5000', ['start', fixture('idle-app.cjs'), '--name', 'other', '-i', '5000'], 4, /instances/],
      ['-i 1.5', ['start', fixture('idle-app.cjs'), '--name', 'other', '-i', '1.5'], 4, /instances/],
      ['an invalid app name', ['start', fixture('idle-app.cjs'), '--name', '42'], 4, /name/],
      ['a config file with a syntax error', ['start', syntax], 4, /syntax\.config\.js/],
      ['a JSON config that does not parse', ['start', badJson], 4, /bad\.json/],
      // Without --strict an unknown key far from any option is a warning, as in pm2.
      ['a config with an unknown option', ['start', unknownOption, '--strict'], 4, /unknown option "colour"/],
      ['a config listing no apps', ['start', noApps], 4, /no apps/],
      ['a missing config file', ['start', join(home.dir, 'missing.config.js')], 1, /does not exist/],
      ['an unknown command', ['frobnicate'], 1, /unknown command/],
      ['start without a script', ['start'], 1, /missing required argument/],
      ['an unknown option', ['list', '--colour'], 1, /unknown option/],
      ['a bad --mode', ['start', fixture('idle-app.cjs'), '--name', 'other', '--mode', 'thread'], 1, /thread/],
      ['cluster mode for a bash script', ['start', fixture('script.sh'), '--mode', 'cluster'], 4, /cluster mode/],
      ['a bad scale count', ['scale', 'idle', 'lots'], 4, /count/],
      ['a signal that does not exist', ['signal', 'SIGNOPE', 'idle'], 4, /signal/],
      ['send with bad JSON', ['send', 'idle', '{nope'], 4, /JSON/],
    ];
    // Every case runs, and every problem is reported, before the test fails. Cases run three
    // at a time to keep the file short; the list is compared after every batch.
    const failures: string[] = [];
    for (let i = 0; i < cases.length; i += 3) {
      const batch = cases.slice(i, i + 3);
      const results = await Promise.all(batch.map(([, argv]) => home.cli(argv)));
      batch.forEach(([what, , status, pattern], j) => {
        const result = results[j] as CliResult;
        const lines = result.stderr.split('\n').filter((line) => line.length > 0);
        if (result.code === 0) failures.push(`${what}: exit status 0`);
        else if (result.code !== status) failures.push(`${what}: exit status ${result.code}, expected ${status}`);
        if (lines.length !== 1 || !/^supervisor: \S/.test(lines[0] as string)) failures.push(`${what}: stderr is not one line: ${JSON.stringify(result.stderr)}`);
        if (!pattern.test(result.stderr)) failures.push(`${what}: stderr ${JSON.stringify(result.stderr)} does not match ${pattern}`);
        if (result.stdout !== '') failures.push(`${what}: stdout ${JSON.stringify(result.stdout)}`);
      });
      const after = await snapshot(home);
      if (JSON.stringify(after) !== JSON.stringify(before)) failures.push(`${batch.map(([what]) => what).join(' / ')}: the list changed to ${JSON.stringify(after)}`);
    }
    expect(await home.daemonPid()).toBe(daemon);
    for (const name of ['fresh', 'twin', 'other']) expect(existsSync(logFile(home, name)), `a log file for ${name}`).toBe(false);
    expect(failures).toEqual([]);
  });

  it('fails with one line on stderr for a mistyped command, suggestion included', async () => {
    home = await tempHome();
    const result = await home.cli(['stopp', 'idle']);
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^supervisor: unknown command 'stopp'/);
    expect(result.stderr.split('\n').filter((line) => line.length > 0), JSON.stringify(result.stderr)).toHaveLength(1);
    expect(await home.daemonPid()).toBeNull();
  });

  it('starts no daemon for a command that fails before reaching it', async () => {
    home = await tempHome();
    const syntax = join(home.dir, 'syntax.config.js');
    await writeFile(syntax, 'module.exports = {');
    for (const argv of [
      ['start', join(home.dir, 'missing.js')],
      ['start', fixture('idle-app.cjs'), '-i', 'lots'],
      ['start', syntax],
      ['frobnicate'],
      ['start', fixture('script.sh'), '--mode', 'cluster'],
    ]) {
      expectOneLineFailure(await home.cli(argv), argv.join(' '));
      expect(existsSync(join(home.dir, 'daemon.pid')), argv.join(' ')).toBe(false);
      expect(existsSync(join(home.dir, 'daemon.sock')), argv.join(' ')).toBe(false);
    }
  });

  it('describes an app as text and as JSON', async () => {
    home = await tempHome();
    const port = await freePort();
    expectOk(await home.cli(['start', fixture('http-app.cjs'), '-i', '2', '--name', 'web', '--kill-timeout', '3s', '--', 'one', 'two'], { env: { PORT: String(port) } }));
    const rows = await byStatus(home, 'web', 'online', 2);
    await httpGet(port);

    const json = await home.cli(['describe', 'web', '--json']);
    expectOk(json);
    const apps = JSON.parse(json.stdout) as AppDescription[];
    expect(apps).toHaveLength(1);
    const app = apps[0] as AppDescription;
    expect(app.name).toBe('web');
    expect(app.spec).toMatchObject({
      name: 'web',
      script: fixture('http-app.cjs'),
      args: ['one', 'two'],
      mode: 'cluster',
      instances: 2,
      interpreter: 'node',
      killTimeoutMs: 3000,
      balance: 'round-robin',
    });
    expect(app.spec.env['PORT']).toBe(String(port));
    expect(app.listeners.map((l) => l.error)).toEqual([null]);
    expect(app.listeners[0]?.address).toMatch(new RegExp(`:${port}$`));
    expect(app.processes.map((p) => p.id)).toEqual(rows.map((r) => r.id));
    for (const p of app.processes) {
      const row = rows.find((r) => r.id === p.id) as ProcessInfo;
      expect(p).toMatchObject({ pid: row.pid, instance: row.instance, status: 'online', restarts: 0, lastExit: null, erroredReason: null, nextRestartAt: null, unstableExits: 0 });
    }

    const text = await home.cli(['describe', 'web']);
    expectOk(text);
    expect(text.stdout).toMatch(/^app web$/m);
    expect(text.stdout).toContain(`script       ${fixture('http-app.cjs')} one two`);
    expect(text.stdout).toMatch(/mode\s+cluster x2 \(balance: round-robin\), interpreter node/);
    expect(text.stdout).toMatch(/SIGKILL after 3000 ms/);
    for (const row of rows) {
      expect(text.stdout).toContain(`process ${row.id} (instance ${row.instance})`);
      expect(text.stdout).toMatch(new RegExp(`status\\s+online, pid ${row.pid}, 0 restarts`));
    }

    // By id: that process only; `show` is an alias.
    const second = rows[1] as ProcessInfo;
    const byId = JSON.parse((await home.cli(['show', String(second.id), '--json'])).stdout) as AppDescription[];
    expect(byId.map((a) => [a.name, a.processes.map((p) => p.id)])).toEqual([['web', [second.id]]]);

    // After a stop, the last exit is described.
    expectOk(await home.cli(['stop', String(second.id)]));
    const stopped = (JSON.parse((await home.cli(['describe', String(second.id), '--json'])).stdout) as AppDescription[])[0]?.processes[0];
    expect(stopped).toMatchObject({ status: 'stopped', pid: null });
    expect(stopped?.lastExit).not.toBeNull();
  });

  it('stops a process that ignores SIGINT and SIGTERM after --kill-timeout, with its grandchild', async () => {
    home = await tempHome();
    expectOk(await home.cli(['start', fixture('ignore-sigterm.cjs'), '--name', 'stubborn', '--kill-timeout', '1000']));
    const [row] = await byStatus(home, 'stubborn', 'online', 1);
    const grandchild = await waitFor(async () => {
      const line = (await logLines(home, 'stubborn')).find((l) => /^grandchild \d+$/.test(l));
      return line ? Number(line.split(' ')[1]) : null;
    }, 'the grandchild pid');
    extraCleanup.push(async () => {
      if (isRunning(grandchild)) process.kill(grandchild, 'SIGKILL');
    });
    expect(isRunning(row?.pid as number)).toBe(true);
    expect(isRunning(grandchild)).toBe(true);

    const startedAt = Date.now();
    const stopped = await home.cli(['stop', 'stubborn']);
    const took = Date.now() - startedAt;
    expectOk(stopped);
    expect(took, 'stop waits for the kill timeout').toBeGreaterThanOrEqual(900);
    expect(took, 'and not for the default 5 s').toBeLessThan(4500);
    expect(isRunning(row?.pid as number), 'the process').toBe(false);
    await waitFor(() => !isRunning(grandchild), 'the grandchild to be gone', 2000);
    expect((await home.list())[0]).toMatchObject({ status: 'stopped', pid: null });
  });
});
