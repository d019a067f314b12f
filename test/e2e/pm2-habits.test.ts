/**
 * What pm2 users type and write, end to end with real daemons and processes: commands found on
 * PATH, missing interpreters, --env, --only, start of what already runs, reset, YAML and JSON5
 * files, instance_var and increment_var, namespaces, TypeScript.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { byStatus, envReports, expectOk, fixture, freePort, httpGet, ROOT, tempHome, waitFor, type CliResult, scratchDirs, type Home } from '../helpers.js';

function oneLineFailure(result: CliResult, status: number, pattern: RegExp): void {
  expect(result.code, `exit status (stderr: ${result.stderr})`).toBe(status);
  const lines = result.stderr.split('\n').filter((line) => line.length > 0);
  expect(lines, JSON.stringify(result.stderr)).toHaveLength(1);
  expect(lines[0]).toMatch(/^supervisor: \S/);
  expect(lines[0]).toMatch(pattern);
}

describe('pm2 habits', () => {
  let home: Home;
  const dirs = scratchDirs('sv-habits-');
  const scratch = dirs.make;
  afterEach(async () => {
    const last = home as Home | undefined;
    home = undefined as unknown as Home;
    await last?.cleanup();
    await dirs.removeAll();
  });

  it('runs `npm start` from the command line and from a config file, found on PATH', async () => {
    home = await tempHome();
    const dir = await scratch();
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'tiny', private: true, scripts: { start: 'node server.cjs' } }));
    await writeFile(join(dir, 'server.cjs'), "require('node:http').createServer((q, s) => s.end(`npm ${process.pid}\\n`)).listen(Number(process.env.PORT));\n");
    const [port1, port2] = [await freePort(), await freePort()];

    expectOk(await home.cli(['start', 'npm', '--name', 'web', '--', 'start'], { cwd: dir, env: { PORT: String(port1) } }));
    await waitFor(async () => (await httpGet(port1).catch(() => null))?.body.startsWith('npm '), 'npm start serving');
    const [web] = await home.list();
    expect(web).toMatchObject({ name: 'web', mode: 'fork', status: 'online' });

    await writeFile(join(dir, 'ecosystem.config.cjs'), `module.exports = { apps: [{ name: 'web2', script: 'npm', args: 'start', env: { PORT: ${port2} } }] };\n`);
    expectOk(await home.cli(['start', join(dir, 'ecosystem.config.cjs')]));
    await waitFor(async () => (await httpGet(port2).catch(() => null))?.body.startsWith('npm '), 'npm start from the config serving');

    // Stopping reaches the server that npm started (the whole process group).
    expectOk(await home.cli(['stop', 'all']));
    await waitFor(async () => (await httpGet(port1, '/', { timeoutMs: 500 }).catch(() => null)) === null, 'port 1 closed');
    await waitFor(async () => (await httpGet(port2, '/', { timeoutMs: 500 }).catch(() => null)) === null, 'port 2 closed');
  });

  it('refuses a missing command or interpreter at start, with the status of a missing script, and starts nothing', async () => {
    home = await tempHome();
    const dir = await scratch();
    const file = join(dir, 'missing-interpreter.config.cjs');
    await writeFile(file, `module.exports = { apps: [{ name: 'x', script: ${JSON.stringify(fixture('idle-app.cjs'))}, interpreter: 'no-such-interpreter' }] };\n`);
    const cases: [string[], RegExp][] = [
      [['start', join(dir, 'missing.js')], /missing\.js does not exist$/],
      [['start', 'no-such-command-xyz'], /no command "no-such-command-xyz" is in node_modules\/\.bin or on PATH/],
      [['start', fixture('idle-app.cjs'), '--interpreter', 'no-such-interpreter'], /interpreter no-such-interpreter does not exist/],
      [['start', file], /interpreter no-such-interpreter does not exist/],
    ];
    for (const [argv, pattern] of cases) oneLineFailure(await home.cli(argv, { cwd: dir }), 1, pattern);
    // tsx from the project's node_modules: found when the app lives under it, not from /tmp.
    oneLineFailure(await home.cli(['start', join(dir, 'app.ts')], { cwd: dir }), 1, /app\.ts does not exist/);
    await writeFile(join(dir, 'app.ts'), 'export {};\n');
    oneLineFailure(await home.cli(['start', join(dir, 'app.ts')], { cwd: dir, env: { PATH: '/usr/bin:/bin' } }), 1, /^supervisor: interpreter tsx does not exist/);
    expect(await home.daemonPid(), 'no daemon was started').toBeNull();
  });

  it('-i N with python: N fork-mode processes, and a warning that says so', async () => {
    home = await tempHome();
    const result = await home.cli(['start', fixture('script.py'), '-i', '2', '--name', 'py']);
    expectOk(result);
    expect(result.stderr).toContain('script.py runs with python3, not Node: 2 separate fork-mode processes');
    const rows = await byStatus(home, 'py', 'online', 2);
    expect(rows.map((r) => r.mode)).toEqual(['fork', 'fork']);
  });

  it('--env merges env_<name>; --only picks apps; YAML and JSON5 files load', async () => {
    home = await tempHome();
    const dir = await scratch();
    const app = (name: string): Record<string, unknown> => ({
      name,
      script: fixture('env-app.cjs'),
      env: { SV_TEST_STAGE: 'plain', SV_TEST_KEEP: 'kept' },
      env_production: { SV_TEST_STAGE: 'production' },
    });
    const js = join(dir, 'ecosystem.config.js');
    await writeFile(js, `module.exports = { apps: ${JSON.stringify([app('a'), app('b'), app('c')])} };\n`);
    await writeFile(join(dir, 'package.json'), '{ "type": "commonjs" }\n');
    const result = await home.cli(['start', js, '--env', 'production', '--only', 'a,c']);
    expectOk(result);
    await byStatus(home, 'a', 'online', 1);
    await byStatus(home, 'c', 'online', 1);
    expect((await home.list()).map((r) => r.name).sort()).toEqual(['a', 'c']);
    const [report] = await envReports(home, 'a', 1);
    expect(report?.env).toMatchObject({ SV_TEST_STAGE: 'production', SV_TEST_KEEP: 'kept' });

    oneLineFailure(await home.cli(['start', js, '--only', 'zz']), 4, /--only zz: no app of that name/);

    const yaml = join(dir, 'apps.yml');
    await writeFile(
      yaml,
      ['# pm2 reads YAML too', 'apps:', '  - name: y', `    script: ${fixture('env-app.cjs')}`, '    env:', '      SV_TEST_STAGE: yaml', '    instances: 2', ''].join('\n'),
    );
    expectOk(await home.cli(['start', yaml]));
    const ys = await byStatus(home, 'y', 'online', 2);
    expect(ys.map((r) => r.mode)).toEqual(['cluster', 'cluster']);
    expect((await envReports(home, 'y', 1))[0]?.env['SV_TEST_STAGE']).toBe('yaml');

    // A .json file with comments and trailing commas, as pm2 accepts, and a .json5 file.
    const json = join(dir, 'apps.json');
    await writeFile(json, `{\n  // comment\n  apps: [{ name: 'j', script: ${JSON.stringify(fixture('idle-app.cjs'))}, },],\n}\n`);
    const json5 = join(dir, 'apps.json5');
    await writeFile(json5, `{ apps: [{ name: 'j5', script: ${JSON.stringify(fixture('idle-app.cjs'))}, max_memory_restart: '300M', }] }\n`);
    expectOk(await home.cli(['start', json]));
    expectOk(await home.cli(['start', json5]));
    await byStatus(home, 'j', 'online', 1);
    await byStatus(home, 'j5', 'online', 1);

    const badYaml = join(dir, 'bad.yaml');
    await writeFile(badYaml, 'apps:\n  - name: [unclosed\n');
    oneLineFailure(await home.cli(['start', badYaml]), 4, /cannot read config file .*bad\.yaml/);
  });

  it('a key close to an option is an error with a suggestion; others warn, or fail under --strict', async () => {
    home = await tempHome();
    const dir = await scratch();
    const typo = join(dir, 'typo.json');
    await writeFile(typo, JSON.stringify({ apps: [{ name: 't', script: fixture('idle-app.cjs'), instance: 2 }] }));
    oneLineFailure(await home.cli(['start', typo]), 4, /unknown option "instance" \(did you mean "instances"\?\)/);
    const pm2 = join(dir, 'pm2.json');
    await writeFile(pm2, JSON.stringify({ apps: [{ name: 'p', script: fixture('idle-app.cjs'), watch_options: {}, pid_file: '/tmp/p.pid', colour: 'blue' }] }));
    oneLineFailure(await home.cli(['start', pm2, '--strict']), 4, /pm2 option "watch_options" is not supported \(.+\)/);
    expect(await home.daemonPid()).toBeNull();
    const warned = await home.cli(['start', pm2]);
    expectOk(warned);
    expect(warned.stderr.split('\n').filter((l) => l.length > 0)).toEqual([
      expect.stringMatching(/ignoring pm2 option "watch_options" \(not supported: .+\)$/),
      expect.stringMatching(/ignoring pm2 option "pid_file" \(not supported: .+\)$/),
      `supervisor: ${pm2}: apps[0]: ignoring unknown option "colour"`,
    ]);
    await byStatus(home, 'p', 'online', 1);
  });

  it('start of what already runs: as pm2 (name restarts, same script refused unless -f, stopped script started, file restarts its apps)', async () => {
    home = await tempHome();
    const script = fixture('idle-app.cjs');
    expectOk(await home.cli(['start', script, '--name', 'idle']));
    const [first] = await byStatus(home, 'idle', 'online', 1);

    // The same script under the same name, running: refused (pm2: "Script already launched").
    oneLineFailure(await home.cli(['start', script, '--name', 'idle']), 3, /"idle" already exists and runs .*idle-app\.cjs/);
    // -f restarts it.
    expectOk(await home.cli(['start', script, '--name', 'idle', '-f']));
    const [forced] = await byStatus(home, 'idle', 'online', 1);
    expect(forced?.pid).not.toBe(first?.pid);
    expect(forced?.restarts).toBe(1);
    // Stopped, the same command starts it again.
    expectOk(await home.cli(['stop', 'idle']));
    expectOk(await home.cli(['start', script, '--name', 'idle']));
    await byStatus(home, 'idle', 'online', 1);
    // `start <name>` restarts a known app, whatever its state.
    const before = (await home.list())[0];
    expectOk(await home.cli(['start', 'idle']));
    const [byName] = await byStatus(home, 'idle', 'online', 1);
    expect(byName?.pid).not.toBe(before?.pid);
    // Another script under a name in use: refused as before.
    oneLineFailure(await home.cli(['start', fixture('env-app.cjs'), '--name', 'idle']), 3, /"idle" already exists/);

    // A config file started twice: its running apps are restarted, the new ones started.
    const dir = await scratch();
    const file = join(dir, 'apps.json');
    await writeFile(file, JSON.stringify({ apps: [{ name: 'one', script }] }));
    expectOk(await home.cli(['start', file]));
    const [one] = await byStatus(home, 'one', 'online', 1);
    await writeFile(file, JSON.stringify({ apps: [{ name: 'one', script }, { name: 'two', script }] }));
    expectOk(await home.cli(['start', file]));
    const [oneAgain] = await byStatus(home, 'one', 'online', 1);
    await byStatus(home, 'two', 'online', 1);
    expect(oneAgain?.pid).not.toBe(one?.pid);
    expect(oneAgain?.restarts).toBe(1);
  });

  it('reset sets restart counters to 0; restart all with no apps fails; startOrReload is reload', async () => {
    home = await tempHome();
    oneLineFailure(await home.cli(['restart', 'all']), 2, /no apps to restart/);
    oneLineFailure(await home.cli(['reload', 'all']), 2, /no apps to reload/);
    expectOk(await home.cli(['start', fixture('idle-app.cjs'), '--name', 'idle']));
    await byStatus(home, 'idle', 'online', 1);
    expectOk(await home.cli(['restart', 'idle']));
    expectOk(await home.cli(['startOrReload', 'idle', '--update-env']));
    const [restarted] = await byStatus(home, 'idle', 'online', 1);
    expect(restarted?.restarts).toBe(2);
    const reset = await home.cli(['reset', 'idle', '--json']);
    expectOk(reset);
    expect((JSON.parse(reset.stdout) as { restarts: number }[])[0]?.restarts).toBe(0);
    expect((await home.list())[0]).toMatchObject({ restarts: 0, pid: restarted?.pid, status: 'online' });
    oneLineFailure(await home.cli(['reset', 'nope']), 2, /nope/);
  });

  it('instance_var, increment_var and namespace', async () => {
    home = await tempHome();
    const dir = await scratch();
    const file = join(dir, 'apps.json');
    const script = fixture('env-app.cjs');
    await writeFile(
      file,
      JSON.stringify({
        apps: [
          { name: 'inc', script, instances: 2, exec_mode: 'fork', instance_var: 'SV_TEST_INSTANCE', increment_var: 'SV_TEST_PORT', env: { SV_TEST_PORT: 5000 }, namespace: 'grp' },
          { name: 'other', script: fixture('idle-app.cjs'), namespace: 'grp' },
        ],
      }),
    );
    expectOk(await home.cli(['start', file]));
    const rows = await byStatus(home, 'inc', 'online', 2);
    const reports = await envReports(home, 'inc', 2);
    for (const row of rows) {
      const report = reports.find((r) => r.pid === row.pid);
      expect(report?.env).toMatchObject({ SV_TEST_INSTANCE: String(row.instance), SV_TEST_PORT: String(5000 + row.instance), SUPERVISOR_INSTANCE: String(row.instance), SUPERVISOR_NAMESPACE: 'grp' });
      expect(report?.env).not.toHaveProperty('NODE_APP_INSTANCE');
    }
    // The namespace names both apps.
    const stopped = await home.cli(['stop', 'grp', '--json']);
    expectOk(stopped);
    expect((JSON.parse(stopped.stdout) as { name: string }[]).map((r) => r.name).sort()).toEqual(['inc', 'inc', 'other']);
  });

  it('runs the TypeScript example in cluster mode with tsx', async () => {
    home = await tempHome();
    const port = await freePort();
    expectOk(await home.cli(['start', join(ROOT, 'examples', 'typescript', 'server.ts'), '-i', '2', '--name', 'ts'], { env: { PORT: String(port) } }));
    const rows = await byStatus(home, 'ts', 'online', 2);
    expect(rows.map((r) => r.mode)).toEqual(['cluster', 'cluster']);
    const pids = new Set<number>();
    await waitFor(async () => {
      const reply = JSON.parse((await httpGet(port)).body) as { pid: number };
      pids.add(reply.pid);
      return pids.size === 2;
    }, 'both TypeScript workers serving');
    // A zero-downtime reload works as for JavaScript.
    expectOk(await home.cli(['reload', 'ts']));
    const after = await byStatus(home, 'ts', 'online', 2);
    expect(after.every((r) => !pids.has(r.pid as number))).toBe(true);
  });

  it('an interpreter in the app\'s node_modules/.bin is found', async () => {
    home = await tempHome();
    const dir = await scratch();
    await mkdir(join(dir, 'node_modules', '.bin'), { recursive: true });
    const interpreter = join(dir, 'node_modules', '.bin', 'my-runner');
    await writeFile(interpreter, '#!/bin/sh\nexec node "$@"\n');
    await chmod(interpreter, 0o755);
    await writeFile(join(dir, 'app.cjs'), 'setInterval(() => {}, 1 << 30);\n');
    expectOk(await home.cli(['start', 'app.cjs', '--interpreter', 'my-runner', '--name', 'runner'], { cwd: dir }));
    await byStatus(home, 'runner', 'online', 1);
  });
});
