/**
 * The cluster queue's bounds (docs/CLUSTER.md, "While no worker is ready"): at most
 * `queue_size` connections wait, each at most `queue_timeout`; the others are closed and
 * counted as dropped.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppDescription, ListenerDescription } from '../../src/shared/protocol.js';
import { byStatus, fixture, freePort, httpGet, tempHome, waitFor, type Home, type HttpReply } from '../helpers.js';

describe('cluster queue', () => {
  let home: Home;
  afterEach(async () => {
    await home?.cleanup();
  });

  async function listener(): Promise<ListenerDescription> {
    const result = await home.cli(['describe', 'gated', '--json']);
    expect(result.code, result.stderr).toBe(0);
    return (JSON.parse(result.stdout) as AppDescription[])[0]?.listeners[0] as ListenerDescription;
  }

  it('holds at most queue_size connections while no worker is ready, closes each after queue_timeout, counts both as dropped, and serves again once a worker is ready', async () => {
    home = await tempHome();
    const port = await freePort();
    const marker = join(home.dir, 'ready-marker');
    const file = join(home.dir, 'gated.config.json');
    await writeFile(
      file,
      JSON.stringify({
        apps: [
          {
            name: 'gated',
            script: fixture('gated-app.cjs'),
            instances: 1,
            wait_ready: true,
            exp_backoff_restart_delay: 100,
            backoff_cap: 500,
            queue_size: 2,
            // Long enough for three describe round trips on a busy machine (each took 0.4-1.3 s
            // under load), so the second connection is seen waiting before the first expires.
            queue_timeout: '5s',
          },
        ],
      }),
    );
    const started = await home.cli(['start', file], { env: { PORT: String(port), MARKER: marker } });
    expect(started.code, started.stderr).toBe(0);
    // The port is bound, and the worker exits before it is ever ready.
    await waitFor(async () => {
      const l = await listener();
      return l?.address === `127.0.0.1:${port}` && l.error === null && (await home.list())[0]?.restarts;
    }, 'the port bound and the worker crashed at least once');

    const outcome = (request: Promise<HttpReply>): Promise<{ reply: HttpReply | Error; at: number }> =>
      request.then(
        (reply) => ({ reply, at: Date.now() }),
        (error: Error) => ({ reply: error, at: Date.now() }),
      );
    const sentAt = Date.now();
    const waiting = [outcome(httpGet(port, '/', { timeoutMs: 30_000 }))];
    await waitFor(async () => (await listener()).queued === 1, 'the first connection to wait');
    waiting.push(outcome(httpGet(port, '/', { timeoutMs: 30_000 })));
    await waitFor(async () => (await listener()).queued === 2, 'the second connection to wait');

    // The queue is full: the next connection is closed at once and counted.
    const overflow = await outcome(httpGet(port, '/', { timeoutMs: 30_000 }));
    expect(overflow.reply).toBeInstanceOf(Error);
    expect(overflow.at - sentAt).toBeLessThan(5000);
    expect(await listener()).toMatchObject({ queued: 2, dropped: 1 });

    // Each waiting one is closed once it has waited queue_timeout, and counted.
    const timedOut = await Promise.all(waiting);
    for (const { reply, at } of timedOut) {
      expect(reply).toBeInstanceOf(Error);
      expect(at - sentAt).toBeGreaterThanOrEqual(5000);
    }
    expect(await listener()).toMatchObject({ queued: 0, dropped: 3 });

    // With a worker ready, connections are served again; nothing more is dropped.
    await writeFile(marker, 'ready');
    await byStatus(home, 'gated', 'online', 1);
    const served = await httpGet(port, '/', { timeoutMs: 10_000 });
    expect(served.body).toMatch(/^up \d+/);
    expect(await listener()).toMatchObject({ queued: 0, dropped: 3 });
  });
});
