import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { systemdUnit } from '../../src/client/startup.js';

describe('systemdUnit', () => {
  const unit = systemdUnit({ user: 'app', home: '/home/app/.supervisor', node: '/usr/bin/node', cli: '/opt/x/bin/supervisor.js', path: '/usr/bin' });
  const documentation = /^Documentation=(.*)$/m.exec(unit)?.[1]?.split(' ') ?? [];

  it("points its Documentation at this project's docs, not another package's", () => {
    expect(documentation).toHaveLength(2);
    expect(documentation[1]).toBe('https://www.npmjs.com/package/supervisor-node');
    expect(documentation[0]).toMatch(/^file:\/\/\/.*\/docs\/SYSTEMD\.md$/);
    expect(existsSync(fileURLToPath(documentation[0] as string))).toBe(true);
    expect(unit).not.toContain('package/supervisor\n');
  });
});
