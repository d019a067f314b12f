/** Finding commands as a shell does, on a real temporary file tree. */
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCommand, findTsxLoader, interpreterProblem } from '../../src/shared/commands.js';

let dir: string;
const bin = (): string => join(dir, 'bin');
const app = (): string => join(dir, 'app', 'sub');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sv-commands-'));
  await mkdir(bin());
  await mkdir(join(dir, 'app', 'node_modules', '.bin'), { recursive: true });
  await mkdir(app());
  for (const [path, mode] of [
    [join(bin(), 'tool'), 0o755],
    [join(bin(), 'shadowed'), 0o755],
    [join(bin(), 'not-executable'), 0o644],
    [join(dir, 'app', 'node_modules', '.bin', 'shadowed'), 0o755],
    [join(dir, 'app', 'node_modules', '.bin', 'local'), 0o755],
  ] as const) {
    await writeFile(path, '#!/bin/sh\n');
    await chmod(path, mode);
  }
  await mkdir(join(bin(), 'a-directory'));
  // A global tsx: bin/tsx -> lib/node_modules/tsx/dist/cli.mjs
  const tsx = join(dir, 'lib', 'node_modules', 'tsx');
  await mkdir(join(tsx, 'dist'), { recursive: true });
  await writeFile(join(tsx, 'package.json'), JSON.stringify({ name: 'tsx', exports: { '.': { import: './dist/loader.mjs' } } }));
  await writeFile(join(tsx, 'dist', 'loader.mjs'), '');
  await writeFile(join(tsx, 'dist', 'cli.mjs'), '#!/usr/bin/env node\n');
  await chmod(join(tsx, 'dist', 'cli.mjs'), 0o755);
  await symlink(join(tsx, 'dist', 'cli.mjs'), join(bin(), 'tsx'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('findCommand', () => {
  const where = (): { cwd: string; env: Record<string, string> } => ({ cwd: app(), env: { PATH: `relative/bin:${bin()}:/nonexistent` } });

  it('finds a command on PATH', () => {
    expect(findCommand('tool', where())).toEqual({ path: join(bin(), 'tool'), onPath: true });
  });

  it('prefers node_modules/.bin of the app directory or a parent, as npm run does', () => {
    expect(findCommand('shadowed', where())).toEqual({ path: join(dir, 'app', 'node_modules', '.bin', 'shadowed'), onPath: false });
    expect(findCommand('local', where())).toEqual({ path: join(dir, 'app', 'node_modules', '.bin', 'local'), onPath: false });
  });

  it('skips files that are not executable, directories and relative PATH entries', () => {
    expect(findCommand('not-executable', where())).toBeNull();
    expect(findCommand('a-directory', where())).toBeNull();
    expect(findCommand('nothing-here', where())).toBeNull();
    expect(findCommand('tool', { cwd: app(), env: {} })).toBeNull();
  });

  it('takes a name with a slash as a path from the app directory', () => {
    expect(findCommand('../../bin/tool', where())).toEqual({ path: join(bin(), 'tool'), onPath: false });
    expect(findCommand('./tool', where())).toBeNull();
  });
});

describe('findTsxLoader', () => {
  it('finds the loader of a global tsx through its link on PATH', () => {
    expect(findTsxLoader({ cwd: app(), env: { PATH: bin() } })).toBe(`file://${join(dir, 'lib', 'node_modules', 'tsx', 'dist', 'loader.mjs')}`);
  });

  it('is null without tsx', () => {
    expect(findTsxLoader({ cwd: app(), env: { PATH: '/nonexistent' } })).toBeNull();
  });
});

describe('interpreterProblem (the daemon\'s check)', () => {
  it('accepts node, none, a name on PATH and an executable path', () => {
    for (const interpreter of ['node', 'none', 'tool', join(bin(), 'tool')]) expect(interpreterProblem({ interpreter, env: { PATH: bin() } }), interpreter).toBeNull();
  });

  it('refuses a name not on PATH (node_modules/.bin is not searched by spawn), a missing or relative path', () => {
    expect(interpreterProblem({ interpreter: 'local', env: { PATH: bin() } })).toMatch(/interpreter local does not exist/);
    expect(interpreterProblem({ interpreter: join(bin(), 'nope'), env: {} })).toMatch(/does not exist/);
    expect(interpreterProblem({ interpreter: join(bin(), 'not-executable'), env: {} })).toMatch(/not executable/);
    expect(interpreterProblem({ interpreter: 'bin/tool', env: {} })).not.toBeNull();
  });
});
