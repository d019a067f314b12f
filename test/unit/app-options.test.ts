/**
 * The option table is the one source for types, conversion, the daemon's checks and the docs:
 * these tests hold the table to its own rules and the docs to the table.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP_DEFAULTS, APP_OPTIONS, PM2_UNSUPPORTED, type AppSpec, type OptionDef } from '../../src/shared/app-options.js';
import { generatedSection, withGeneratedSection } from '../../src/shared/app-options-doc.js';
import { validateAppSpec } from '../../src/shared/app-spec-validate.js';
import { ROOT } from '../helpers.js';

const defs = Object.entries(APP_OPTIONS as unknown as Record<string, OptionDef>);

function minimalSpec(): Record<string, unknown> {
  return { ...APP_DEFAULTS, name: 'web', script: '/srv/app/server.js', cwd: '/srv/app', env: {}, interpreter: 'node' };
}

describe('the option table', () => {
  it('gives every config key to one option only', () => {
    const keys = defs.flatMap(([, def]) => [def.pm2, ...(def.aliases ?? [])]).filter((key) => key !== null);
    expect(new Set(keys).size).toBe(keys.length);
    for (const key of keys) expect(Object.keys(PM2_UNSUPPORTED), key as string).not.toContain(key);
  });

  it('documents every option', () => {
    for (const [field, def] of defs) {
      expect(def.doc.length, field).toBeGreaterThan(10);
      expect(def.type.length, field).toBeGreaterThan(0);
      expect(def.defaultText.length, field).toBeGreaterThan(0);
    }
  });

  it('has defaults that the daemon accepts', () => {
    expect(validateAppSpec(minimalSpec())).toEqual(minimalSpec());
  });

  it('has drain_timeout, a duration of 30 s by default', () => {
    expect(APP_OPTIONS.drainTimeoutMs).toMatchObject({ kind: 'duration', pm2: 'drain_timeout', default: 30_000 });
    expect(APP_DEFAULTS.drainTimeoutMs).toBe(30_000);
  });

  it('checks every field on the wire by its kind', () => {
    for (const [field, def] of defs) {
      const bad = def.kind === 'flag' ? 'yes' : def.kind === 'list' || def.kind === 'exit-codes' ? 'x' : def.kind === 'env' ? [] : 12.5;
      expect(() => validateAppSpec({ ...minimalSpec(), [field]: bad }), field).toThrow(`app.${field}`);
    }
  });

  it('a dump from an older version gets the defaults of fields it lacks, a request does not', () => {
    const old = minimalSpec();
    delete old['drainTimeoutMs'];
    delete old['namespace'];
    expect(validateAppSpec(old, 'dump', { fillDefaults: true })).toMatchObject({ drainTimeoutMs: 30_000, namespace: 'default' });
    expect(() => validateAppSpec(old)).toThrow('app.drainTimeoutMs');
    const noScript = minimalSpec();
    delete noScript['script'];
    expect(() => validateAppSpec(noScript, 'dump', { fillDefaults: true })).toThrow('dump.script');
  });
});

describe('docs/CONFIG.md', () => {
  it('has the option tables generated from the table (run: npm run docs:config)', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'CONFIG.md'), 'utf8');
    expect(doc).toContain(generatedSection());
    expect(withGeneratedSection(doc)).toBe(doc);
  });

  it('lists every option and every unsupported pm2 option', () => {
    const section = generatedSection();
    for (const [field, def] of defs) if (def.pm2 !== null) expect(section, field).toContain(`| \`${def.pm2}\``);
    for (const key of Object.keys(PM2_UNSUPPORTED)) expect(section, key).toContain(`\`${key}\``);
  });
});

// Compile-time: the derived types have the fields the code relies on.
const typed: Pick<AppSpec, 'drainTimeoutMs' | 'incrementVar'> = { drainTimeoutMs: 1, incrementVar: null };
void typed;
