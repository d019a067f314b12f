import { afterEach, describe, expect, it } from 'vitest';
import { byStatus, fixture, freePort, httpGet, tempHome, type Home } from '../helpers.js';

describe('quick start', () => {
  let home: Home;
  afterEach(async () => home?.cleanup());

  it('serves HTTP from every worker of a 4-worker cluster app', async () => {
    home = await tempHome();
    const port = await freePort();
    const started = await home.cli(['start', fixture('http-app.cjs'), '-i', '4', '--name', 'web'], { env: { PORT: String(port) } });
    expect(started.code, started.stderr).toBe(0);
    const rows = await byStatus(home, 'web', 'online', 4);
    const pids = new Set<string>();
    for (let i = 0; i < 8; i++) pids.add((await httpGet(port)).body.split(' ')[0] as string);
    expect([...pids].sort()).toEqual(rows.map((r) => String(r.pid)).sort());
  });
});
