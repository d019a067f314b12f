/** Config files in every format pm2 reads, on real files: JS, JSON (and JSON5-style JSON), JSON5, YAML. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConfigFile, loadConfigFile } from '../../src/client/config-file.js';
import { SupervisorError } from '../../src/shared/errors.js';

let dir: string;
const warnings: string[] = [];
const warn = (line: string): void => void warnings.push(line);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sv-config-file-'));
  await writeFile(join(dir, 'app.js'), '// app\n');
  await writeFile(join(dir, 'package.json'), '{ "type": "commonjs" }\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function load(name: string, text: string, options: Parameters<typeof loadConfigFile>[2] = { warn }) {
  const file = join(dir, name);
  await writeFile(file, text);
  return loadConfigFile(file, { PATH: '/usr/bin' }, options);
}

async function failure(promise: Promise<unknown>): Promise<SupervisorError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SupervisorError);
  return error as SupervisorError;
}

describe('isConfigFile', () => {
  it.each(['a.config.js', 'a.config.cjs', 'a.config.mjs', 'apps.json', 'apps.json5', 'apps.yml', 'apps.yaml', '/x/ecosystem.config.js'])('%s is one', (name) => {
    expect(isConfigFile(name)).toBe(true);
  });
  it.each(['app.js', 'server.mjs', 'main.py', 'config.ts', 'yml', 'apps.json.bak'])('%s is not', (name) => {
    expect(isConfigFile(name)).toBe(false);
  });
});

describe('loadConfigFile', () => {
  it('reads YAML', async () => {
    const specs = await load('a.yml', 'apps:\n  - name: web\n    script: app.js\n    instances: 2\n    kill_timeout: 3s\n    env:\n      PORT: 3000\n');
    expect(specs).toHaveLength(1);
    expect(specs[0]).toMatchObject({ name: 'web', mode: 'cluster', instances: 2, killTimeoutMs: 3000, env: { PORT: '3000', PATH: '/usr/bin' }, cwd: dir });
  });

  it('reads .yaml holding a bare list', async () => {
    expect((await load('b.yaml', '- script: app.js\n  name: one\n- script: app.js\n  name: two\n')).map((s) => s.name)).toEqual(['one', 'two']);
  });

  it('reads JSON5 and JSON with comments and trailing commas (pm2 evaluates .json as JavaScript)', async () => {
    const text = "{\n  // the web app\n  apps: [{ name: 'web', script: 'app.js', max_memory_restart: '1G', },],\n}\n";
    expect((await load('c.json5', text))[0]?.maxMemoryRestart).toBe(1024 ** 3);
    expect((await load('c.json', text))[0]?.name).toBe('web');
    expect((await load('plain.json', JSON.stringify({ apps: [{ name: 'p', script: 'app.js' }] })))[0]?.name).toBe('p');
  });

  it('reads module.exports and a single app', async () => {
    expect((await load('d.config.js', "module.exports = { apps: [{ name: 'js', script: 'app.js' }] };\n"))[0]?.name).toBe('js');
    expect((await load('e.config.cjs', "module.exports = { name: 'single', script: 'app.js' };\n"))[0]?.name).toBe('single');
  });

  it('a file that does not parse is INVALID_REQUEST naming it', async () => {
    for (const [name, text] of [
      ['bad.yml', 'apps:\n  - name: [oops\n'],
      ['bad.json5', '{ apps: [ }'],
      ['bad.json', '{ "apps": [ '],
    ]) {
      const error = await failure(load(name as string, text as string));
      expect(error.code).toBe('INVALID_REQUEST');
      expect(error.message).toContain(name);
    }
  });

  it('a missing file is FAILED', async () => {
    for (const name of ['none.yml', 'none.json5', 'none.config.js']) {
      const error = await failure(loadConfigFile(join(dir, name), {}, { warn }));
      expect(error.code).toBe('FAILED');
      expect(error.message).toMatch(/does not exist$/);
    }
  });

  it('--only picks apps by name, in file order; a name the file lacks is an error', async () => {
    const text = JSON.stringify({ apps: ['a', 'b', 'c'].map((name) => ({ name, script: 'app.js' })) });
    expect((await load('only.json', text, { warn, only: ['c', 'a'] })).map((s) => s.name)).toEqual(['a', 'c']);
    const error = await failure(load('only.json', text, { warn, only: ['a', 'x'] }));
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.message).toContain('--only x: no app of that name');
  });

  it('--only skips the apps it does not name before checking them', async () => {
    const text = JSON.stringify({ apps: [{ name: 'good', script: 'app.js' }, { name: 'broken', script: 'missing.js' }] });
    expect((await load('skip.json', text, { warn, only: ['good'] })).map((s) => s.name)).toEqual(['good']);
  });

  it('--env and --strict reach every app', async () => {
    const text = 'apps:\n  - name: a\n    script: app.js\n    env: { STAGE: dev }\n    env_production: { STAGE: prod }\n    vizion: true\n';
    warnings.length = 0;
    expect((await load('env.yml', text, { warn, envName: 'production' }))[0]?.env['STAGE']).toBe('prod');
    expect(warnings).toEqual([`${join(dir, 'env.yml')}: apps[0]: ignoring pm2 option "vizion" (not supported: no version-control metadata is collected)`]);
    const error = await failure(load('env.yml', text, { warn, strict: true }));
    expect(error.message).toContain('pm2 option "vizion" is not supported');
  });
});
