/**
 * The config file as the unit of deployment: start with --env, edit the file, reload it under
 * load (the new environment is live, no request fails), restart/stop/delete by file, --only,
 * --update-env, and a reload of an unchanged file that still replaces the processes (the code
 * on disk may have changed).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppDescription } from '../../src/shared/protocol.js';
import { byStatus, fixture, freePort, httpGet, tempHome, waitFor, type Home } from '../helpers.js';
import { startLoad } from '../load.js';
import { expectAccountedFor } from '../reliability/lib.js';

describe('deploying a config file', () => {
  let home: Home;
  let dir: string;
  afterEach(async () => {
    await home?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  async function writeConfig(apps: unknown[]): Promise<string> {
    const file = join(dir, 'ecosystem.config.cjs');
    await writeFile(file, `module.exports = ${JSON.stringify({ apps }, null, 2)};\n`);
    return file;
  }

  /** What the env app (fixtures/env-app.cjs, an HTTP server) reports for one request. */
  async function envOf(port: number): Promise<Record<string, string>> {
    return (JSON.parse((await httpGet(port, '/env')).body) as { env: Record<string, string> }).env;
  }

  it('start --env production, edit, reload <file> under load: the new env is live and no request fails', async () => {
    home = await tempHome();
    dir = await mkdtemp(join(tmpdir(), 'sv-deploy-'));
    const port = await freePort();
    const web = { name: 'web', script: fixture('http-env-app.cjs'), instances: 2, env: { PORT: port, RELEASE: 'one' }, env_production: { MODE: 'production' } };
    const file = await writeConfig([web]);
    const started = await home.cli(['start', file, '--env', 'production']);
    expect(started.code, started.stderr).toBe(0);
    const first = await byStatus(home, 'web', 'online', 2);
    expect(await envOf(port)).toMatchObject({ RELEASE: 'one', MODE: 'production' });

    await writeConfig([{ ...web, env: { ...web.env, RELEASE: 'two' } }]);
    const load = startLoad({ port, keepAlive: true, concurrency: 8 });
    await load.reached(200);
    const reloaded = await home.cli(['reload', file, '--env', 'production']);
    const result = await load.stop();
    expect(reloaded.code, reloaded.stderr).toBe(0);
    expect(reloaded.stderr).toBe('supervisor: reloaded with a new spec web\n');
    expect(result.errors.slice(0, 5)).toEqual([]);
    expect(result.failed).toBe(0);
    const after = await byStatus(home, 'web', 'online', 2);
    expect(after.map((p) => p.id)).toEqual(first.map((p) => p.id));
    expect(after.every((p) => !first.some((f) => f.pid === p.pid))).toBe(true);
    expect(await envOf(port)).toMatchObject({ RELEASE: 'two', MODE: 'production' });

    // Unchanged file: the processes are replaced all the same (the code on disk may have changed).
    const again = await home.cli(['startOrReload', file, '--env', 'production']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toBe('supervisor: reloaded web\n');
    const third = await byStatus(home, 'web', 'online', 2);
    expect(third.every((p) => !after.some((a) => a.pid === p.pid))).toBe(true);
    await expectAccountedFor(home);
  });

  it('reload <file> starts what is missing, scales, and leaves the shell out of running apps unless --update-env', async () => {
    home = await tempHome();
    dir = await mkdtemp(join(tmpdir(), 'sv-deploy-'));
    const port = await freePort();
    const web = { name: 'web', script: fixture('http-env-app.cjs'), instances: 2, env: { PORT: port } };
    const file = await writeConfig([web]);
    expect((await home.cli(['start', file], { env: { SHELL_VAR: 'first' } })).code).toBe(0);
    await byStatus(home, 'web', 'online', 2);
    expect((await envOf(port))['SHELL_VAR']).toBe('first');

    await writeConfig([{ ...web, instances: 3 }, { name: 'worker', script: fixture('idle-app.cjs') }]);
    const reloaded = await home.cli(['reload', file], { env: { SHELL_VAR: 'second' } });
    expect(reloaded.code, reloaded.stderr).toBe(0);
    expect(reloaded.stderr).toBe('supervisor: started worker; reloaded with a new spec web\n');
    await byStatus(home, 'web', 'online', 3);
    await byStatus(home, 'worker', 'online', 1);
    // The running app kept the environment it was started with.
    expect((await envOf(port))['SHELL_VAR']).toBe('first');

    const updated = await home.cli(['reload', 'web', '--update-env'], { env: { SHELL_VAR: 'third' } });
    expect(updated.code, updated.stderr).toBe(0);
    await byStatus(home, 'web', 'online', 3);
    await waitFor(async () => (await envOf(port))['SHELL_VAR'] === 'third', 'the new environment to be served');
    for (let i = 0; i < 6; i++) expect((await envOf(port))['SHELL_VAR']).toBe('third');
    await expectAccountedFor(home);
  });

  it('restart, stop and delete <file> act on its apps; --only picks some; a file naming no known app is status 2', async () => {
    home = await tempHome();
    dir = await mkdtemp(join(tmpdir(), 'sv-deploy-'));
    const file = await writeConfig([
      { name: 'a', script: fixture('idle-app.cjs') },
      { name: 'b', script: fixture('idle-app.cjs') },
    ]);
    expect((await home.cli(['start', file])).code).toBe(0);
    const [a] = await byStatus(home, 'a', 'online', 1);
    await byStatus(home, 'b', 'online', 1);
    const stopped = await home.cli(['stop', file, '--only', 'b']);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect((await home.list()).map((p) => `${p.name} ${p.status}`)).toEqual(['a online', 'b stopped']);
    const restarted = await home.cli(['restart', file]);
    expect(restarted.code, restarted.stderr).toBe(0);
    const rows = await byStatus(home, 'b', 'online', 1);
    expect(rows).toHaveLength(1);
    expect((await home.list()).find((p) => p.name === 'a')?.pid).not.toBe(a?.pid);
    const deleted = await home.cli(['delete', file]);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(await home.list()).toEqual([]);
    const again = await home.cli(['delete', file]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^supervisor: a is not running here; nothing to delete\nsupervisor: b is not running here; nothing to delete\nsupervisor: none of the apps of .* is known to the daemon\n$/);
  });

  it('a file that fails validation changes nothing', async () => {
    home = await tempHome();
    dir = await mkdtemp(join(tmpdir(), 'sv-deploy-'));
    const port = await freePort();
    const web = { name: 'web', script: fixture('http-env-app.cjs'), env: { PORT: port } };
    const file = await writeConfig([web]);
    expect((await home.cli(['start', file])).code).toBe(0);
    const [before] = await byStatus(home, 'web', 'online', 1);
    await writeConfig([{ ...web, kill_timeout: 'soon' }]);
    const bad = await home.cli(['reload', file]);
    expect(bad.code).toBe(4);
    await writeConfig([web, { name: 'ghost', script: join(dir, 'missing.js') }]);
    const missing = await home.cli(['reload', file]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/missing\.js does not exist/);
    expect((await home.list()).map((p) => `${p.name} ${p.pid}`)).toEqual([`web ${before?.pid}`]);
  });

  it('a bad size or rate in a file is one line naming the option and echoing the value, status 4, nothing changed', async () => {
    home = await tempHome();
    dir = await mkdtemp(join(tmpdir(), 'sv-deploy-'));
    const idle = { name: 'idle', script: fixture('idle-app.cjs'), log_pace_rate: '1M', max_memory_restart: '200M' };
    const file = await writeConfig([idle]);
    expect((await home.cli(['start', file])).code).toBe(0);
    const [before] = await byStatus(home, 'idle', 'online', 1);
    const specOf = async (): Promise<AppDescription['spec']> => {
      const described = await home.cli(['describe', 'idle', '--json']);
      expect(described.code, described.stderr).toBe(0);
      return (JSON.parse(described.stdout) as AppDescription[])[0]?.spec as AppDescription['spec'];
    };
    const specBefore = await specOf();
    expect([specBefore.logs.paceRate, specBefore.maxMemoryRestart]).toEqual([1024 * 1024, 200 * 1024 * 1024]);

    for (const [option, value, line] of [
      ['log_pace_rate', '1K', 'log_pace_rate must be 0 (never pace) or at least 64K (got "1K")'],
      ['log_pace_rate', 'fast', 'log_pace_rate must be a rate such as "8M" (bytes per second), or 0 to never pace (got "fast")'],
      ['max_memory_restart', '1T', 'max_memory_restart must be a size such as "300M" or "1G" (got "1T")'],
    ] as const) {
      await writeConfig([{ ...idle, [option]: value }]);
      for (const command of ['reload', 'start']) {
        const bad = await home.cli([command, file]);
        expect([bad.code, bad.stdout, bad.stderr]).toEqual([4, '', `supervisor: ${file}: apps[0].${line}\n`]);
      }
    }
    expect((await home.list()).map((p) => `${p.name} ${p.pid} ${p.status}`)).toEqual([`idle ${before?.pid} online`]);
    expect(await specOf()).toEqual(specBefore);
  });
});
