import { afterEach, describe, expect, it } from 'vitest';
import { byStatus, fixture, freePort, httpGet, tempHome, waitFor, type Home } from '../helpers.js';
import { startLoad } from '../load.js';

describe('zero-downtime reload', () => {
  let home: Home;
  afterEach(async () => home?.cleanup());

  async function startWeb(extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<number> {
    home = await tempHome();
    const port = await freePort();
    const started = await home.cli(['start', fixture('http-app.cjs'), '-i', '4', '--name', 'web', ...extra], { env: { PORT: String(port), ...env } });
    expect(started.code, started.stderr).toBe(0);
    await byStatus(home, 'web', 'online', 4);
    return port;
  }

  for (const keepAlive of [true, false]) {
    it(`loses no request across three reloads under ${keepAlive ? 'keep-alive' : 'Connection: close'} load`, async () => {
      const port = await startWeb();
      const before = (await home.list()).map((p) => p.pid);
      const load = startLoad({ port, keepAlive, concurrency: 16 });
      await load.reached(200);
      for (let i = 0; i < 3; i++) {
        const reloaded = await home.cli(['reload', 'web']);
        expect(reloaded.code, reloaded.stderr).toBe(0);
      }
      const count = (await load.stop());
      const after = await home.list();
      expect(count.errors.slice(0, 5)).toEqual([]);
      expect(count.failed).toBe(0);
      expect(count.ok).toBeGreaterThan(200);
      expect(after.every((p) => p.status === 'online' && !before.includes(p.pid))).toBe(true);
      expect(after.map((p) => p.restarts)).toEqual([3, 3, 3, 3]);
    });
  }

  it('lets a long request that started before the reload finish', async () => {
    // Slow enough that a busy machine's list still sees them open.
    const port = await startWeb([], { SLOW_MS: '6000' });
    const slow = Promise.all([1, 2, 3, 4].map(() => httpGet(port, '/slow', { timeoutMs: 15_000 })));
    // The slow requests must have reached their workers before the reload begins.
    await waitFor(async () => (await home.list()).reduce((n, p) => n + p.connections, 0) >= 4, 'four open connections');
    const reloaded = await home.cli(['reload', 'web']);
    expect(reloaded.code, reloaded.stderr).toBe(0);
    const replies = await slow;
    for (const reply of replies) {
      expect(reply.status).toBe(200);
      expect(reply.body).toMatch(/^slow from \d+/);
    }
  });

  it('aborts when the replacement never becomes ready and keeps the old workers serving', async () => {
    // wait_ready without the app ever sending 'ready': every replacement times out.
    const port = await startWeb(['--wait-ready', '--listen-timeout', '1500'], { SEND_READY: '' });
    const before = await home.list();
    const reloaded = await home.cli(['reload', 'web']);
    // FAILED: exit status 1, as ARCHITECTURE.md's table says for an aborted reload.
    expect(reloaded.code).toBe(1);
    expect(reloaded.stderr.trim().split('\n')).toHaveLength(1);
    expect(reloaded.stderr).toMatch(/reload of web aborted/);
    const after = await home.list();
    expect(after.map((p) => p.pid)).toEqual(before.map((p) => p.pid));
    expect((await httpGet(port)).status).toBe(200);
  });
});
