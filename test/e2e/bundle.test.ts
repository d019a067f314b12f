/**
 * The daemon and the CLI run from CommonJS bundles (scripts/bundle.mjs) so that Node's ES module
 * loader stays out of them: about 1 MiB of the daemon's resident memory and 25-32 ms of each
 * `list` (docs/ARCHITECTURE.md, "Build"). These check the property itself, not a figure: what
 * the processes load, and what the bundles hold.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, expectOk, fixture, tempHome, waitFor, type Home } from '../helpers.js';

const BUNDLES = ['dist/daemon/daemon.cjs', 'dist/client/cli.cjs'];
const PRELOAD = fixture('module-list-preload.cjs');

/**
 * The modules of Node's ES module loader (the loader, its module jobs and translators) a
 * process loaded beyond what a plain CommonJS Node loads anyway: none on Node 20; Node 22 and
 * 24 load them at every start. (`require()` of a package with an `exports` map loads the
 * loader's resolver, `esm/resolve`, which is not the loader.)
 */
async function esmLoaderModules(list: string, baseline: Set<string>): Promise<string[]> {
  const loader = /internal\/modules\/esm\/(loader|module_job|translators)$/;
  return (await readFile(list, 'utf8')).split('\n').filter((m) => loader.test(m) && !baseline.has(m));
}

describe('bundles', () => {
  let home: Home | null = null;
  afterEach(async () => {
    await home?.cleanup();
    home = null;
  });

  it.each(BUNDLES)('%s is ASCII (V8 keeps it one byte per character) and loads no node:module', (bundle) => {
    const text = readFileSync(join(ROOT, bundle), 'utf8');
    expect(/[^\x00-\x7f]/.test(text)).toBe(false);
    expect(text).not.toContain('require("node:module")');
  });

  it('a daemon with fork-mode apps, one on a cron schedule, and a list never load the ES module loader', async () => {
    home = await tempHome();
    const plainList = join(home.dir, 'plain-modules.txt');
    const plain = spawnSync(process.execPath, ['-r', PRELOAD, fixture('module-list-preload.cjs')], { env: { ...process.env, MODULE_LIST_FILE: plainList } });
    expect(plain.status).toBe(0);
    const baseline = new Set((await readFile(plainList, 'utf8')).split('\n'));
    const daemonModules = join(home.dir, 'daemon-modules.txt');
    const env = { SUPERVISOR_DAEMON_NODE_FLAGS: `--max-semi-space-size=1 -r ${PRELOAD}`, MODULE_LIST_FILE: daemonModules };
    expectOk(await home.cli(['start', fixture('idle-app.cjs'), '--name', 'plain'], { env }));
    expectOk(await home.cli(['start', fixture('idle-app.cjs'), '--name', 'timed', '--cron', '0 0 1 1 *'], { env }));
    const daemon = await home.daemonPid();
    expect(readFileSync(`/proc/${daemon}/cmdline`, 'utf8').split('\0')).toContain(join(ROOT, 'dist/daemon/daemon.cjs'));

    const listModules = join(home.dir, 'list-modules.txt');
    expectOk(await home.cli(['list'], { env: { NODE_OPTIONS: `--require ${PRELOAD}`, MODULE_LIST_FILE: listModules } }));
    expect(await esmLoaderModules(listModules, baseline)).toEqual([]);

    expectOk(await home.cli(['kill']));
    const loaded = await waitFor(() => readFile(daemonModules, 'utf8').catch(() => null), 'the daemon to write its module list');
    expect(loaded.split('\n')).toContain('NativeModule child_process');
    expect(await esmLoaderModules(daemonModules, baseline)).toEqual([]);
  });
});
