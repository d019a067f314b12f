/**
 * The hand-off path under bursts and faults: several handles in flight per worker (the
 * hand-off window), a worker whose event loop is stuck, and the daemon's copies of handed
 * connections, which must all be closed once workers have them.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StickyIp } from '../../src/daemon/cluster/balancer.js';
import { DEFAULT_HANDOFF_WINDOW } from '../../src/shared/handoff-window.js';
import type { AppDescription, ListenerDescription, ProcessInfo } from '../../src/shared/protocol.js';
import { byStatus, fixture, freePort, httpGet, logLines, tempHome, waitFor, type Home, type HttpReply } from '../helpers.js';

const WINDOW = DEFAULT_HANDOFF_WINDOW;

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

describe('cluster mode: hand-off window', () => {
  let home: Home;
  afterEach(async () => {
    await home?.cleanup();
  });

  async function startHttpApp(instances: number, env: NodeJS.ProcessEnv = {}): Promise<{ port: number; pids: number[] }> {
    const port = await freePort();
    const started = await home.cli(['start', fixture('http-app.cjs'), '-i', String(instances), '--name', 'web', '--wait-ready'], {
      env: { PORT: String(port), HOST: '127.0.0.1', SEND_READY: '1', ...env },
    });
    expect(started.code, started.stderr).toBe(0);
    const rows = await byStatus(home, 'web', 'online', instances);
    return { port, pids: rows.map((r) => r.pid as number) };
  }

  it.each([
    ['the default window', {}],
    ['SUPERVISOR_HANDOFF_WINDOW=1 (one at a time, as plain Node)', { SUPERVISOR_HANDOFF_WINDOW: '1' }],
  ])('with %s, a burst of 300 concurrent Connection: close requests over 2 workers is served in full, and the daemon keeps no copy of any', async (_label, daemonEnv) => {
    home = await tempHome();
    // The first CLI call starts the daemon, which inherits this environment.
    const { port, pids } = await startHttpApp(2, daemonEnv);
    const daemon = (await home.daemonPid()) as number;
    const fdsBefore = openFds(daemon);

    const replies = await Promise.all(Array.from({ length: 300 }, () => httpGet(port, '/', { timeoutMs: 20_000 })));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    const servedBy = new Set(replies.map((r) => Number(r.body.split(' ')[0])));
    expect([...servedBy].sort()).toEqual([...pids].sort());

    const rows = await home.list();
    expect(rows.reduce((sum, r) => sum + (r.handled ?? 0), 0)).toBe(300);
    // Every handle the daemon accepted was acknowledged and its copy closed.
    await waitFor(() => openFds(daemon) <= fdsBefore, `the daemon's open descriptors to return to ${fdsBefore}`);
  });

  it.each([
    [WINDOW, {}],
    [1, { SUPERVISOR_HANDOFF_WINDOW: '1' }],
  ])('with a window of %i, a worker whose event loop is stuck gets one connection while the other keeps up, at most its window in a burst, and what it held is served once it dies', async (window, daemonEnv) => {
    home = await tempHome();
    const { port, pids } = await startHttpApp(2, daemonEnv);

    // One request blocks whichever worker it reaches; it says which before it blocks.
    const blocked = httpGet(port, '/block', { timeoutMs: 60_000 }).catch((error: Error) => error);
    const stuckPid = await waitFor(async () => {
      const line = (await logLines(home, 'web')).find((l) => l.startsWith('blocking '));
      return line ? Number(line.split(' ')[1]) : null;
    }, 'a worker to report that it is blocking');
    const freePid = pids.find((pid) => pid !== stuckPid) as number;

    const settled: (HttpReply | Error | undefined)[] = [];
    const requests: Promise<unknown>[] = [];
    const fire = (): void => {
      const i = settled.push(undefined) - 1;
      requests.push(httpGet(port, '/', { timeoutMs: 60_000 }).then((reply) => (settled[i] = reply), (error: Error) => (settled[i] = error)));
    };
    const servedByFree = (): number => settled.filter((r) => r && !(r instanceof Error) && r.body.startsWith(`${freePid} `)).length;
    const waiting = (): number => settled.filter((r) => r === undefined).length;

    // One at a time: the stuck worker gets one when its turn comes, then never again while the
    // other worker acknowledges each hand-off at once.
    for (let i = 1; i <= 10; i++) {
      fire();
      await waitFor(() => servedByFree() >= i - 1 && waiting() <= 1, `request ${i} to be served or to wait on the stuck worker`);
    }
    expect(waiting()).toBe(1);

    // A burst outruns the acknowledgements: the stuck worker may take up to its window.
    for (let i = 0; i < 30; i++) fire();
    await waitFor(() => servedByFree() >= 40 - window, `at least ${40 - window} requests served by the worker that is not stuck`);
    expect(waiting()).toBeLessThanOrEqual(window);
    if (window === 1) expect(waiting()).toBe(1);

    process.kill(stuckPid, 'SIGKILL');
    await Promise.all(requests);
    for (const reply of settled) expect(reply instanceof Error ? reply.message : reply?.status).toBe(200);
    // The request that was being handled when the worker died is the only one lost.
    expect(await blocked).toBeInstanceOf(Error);
  });

  it('under sticky-ip, a stuck worker gets at most its window: its clients wait in the bounded queue (overflow dropped and counted) while the other worker\'s clients are served, and the waiting ones are served once it dies', async () => {
    home = await tempHome();
    const port = await freePort();
    const file = join(home.dir, 'sticky.config.json');
    await writeFile(
      file,
      JSON.stringify({
        apps: [
          {
            name: 'web',
            script: fixture('http-app.cjs'),
            instances: 2,
            exec_mode: 'cluster',
            balance: 'sticky-ip',
            wait_ready: true,
            queue_size: 4,
            queue_timeout: '60s',
            env: { PORT: String(port), HOST: '127.0.0.1', SEND_READY: '1', BLOCK_MS: '60000' },
          },
        ],
      }),
    );
    // A window of 2 keeps the figures small; the first command starts the daemon with it.
    const started = await home.cli(['start', file], { env: { SUPERVISOR_HANDOFF_WINDOW: '2' } });
    expect(started.code, started.stderr).toBe(0);
    const rows = await byStatus(home, 'web', 'online', 2);
    // Loopback addresses by the slot sticky-ip maps them to (the daemon's own hash).
    const sticky = new StickyIp();
    const slots = rows.map((r) => ({ slotId: r.id, open: 0 }));
    const addressesOf = new Map<number, string[]>(rows.map((r) => [r.id, []]));
    for (let i = 2; i < 250; i++) addressesOf.get(sticky.pick(slots, `127.0.0.${i}`).slotId)?.push(`127.0.0.${i}`);
    const [stuckRow, freeRow] = rows as [ProcessInfo, ProcessInfo];
    const stuckClients = addressesOf.get(stuckRow.id) as string[];
    const freeClients = addressesOf.get(freeRow.id) as string[];
    expect(stuckClients.length).toBeGreaterThan(8);
    expect(freeClients.length).toBeGreaterThan(5);
    const describeWeb = async (): Promise<AppDescription> => {
      const result = await home.cli(['describe', 'web', '--json']);
      expect(result.code, result.stderr).toBe(0);
      return (JSON.parse(result.stdout) as AppDescription[])[0] as AppDescription;
    };

    const blocked = httpGet(port, '/block', { localAddress: stuckClients[0], timeoutMs: 90_000 }).catch((error: Error) => error);
    await waitFor(async () => (await logLines(home, 'web')).includes(`blocking ${stuckRow.pid}`), 'the pinned worker to block');

    // Its clients' connections: two go out (the window), four wait, two more overflow the queue.
    const settled: (HttpReply | Error | undefined)[] = [];
    const requests: Promise<unknown>[] = [];
    for (let i = 1; i <= 8; i++) {
      const at = settled.push(undefined) - 1;
      requests.push(
        httpGet(port, '/', { localAddress: stuckClients[i], timeoutMs: 90_000 }).then(
          (reply) => (settled[at] = reply),
          (error: Error) => (settled[at] = error),
        ),
      );
      // One at a time past the window, so that the ones that overflow are the last two.
      if (i > 2) {
        await waitFor(async () => {
          const { queued, dropped } = (await describeWeb()).listeners[0] as ListenerDescription;
          return queued + dropped >= i - 2;
        }, `connection ${i} to be queued or dropped`);
      }
    }
    await waitFor(() => settled.slice(6).every((r) => r instanceof Error), 'the two over the queue to be closed');
    const listener = (await describeWeb()).listeners[0];
    expect(listener).toMatchObject({ queued: 4, dropped: 2 });
    expect(settled.slice(0, 6)).toEqual(Array(6).fill(undefined));

    // The other worker's clients are not held up behind them.
    for (const address of freeClients.slice(0, 5)) {
      const reply = await httpGet(port, '/', { localAddress: address, timeoutMs: 10_000 });
      expect(reply.body.split(' ')[0]).toBe(String(freeRow.pid));
    }
    expect((await describeWeb()).listeners[0]).toMatchObject({ queued: 4, dropped: 2 });

    // Once the stuck worker dies, what it held and what waited for it is served.
    process.kill(stuckRow.pid as number, 'SIGKILL');
    await Promise.all(requests);
    for (const reply of settled.slice(0, 6)) expect(reply instanceof Error ? reply.message : reply?.status).toBe(200);
    expect(await blocked).toBeInstanceOf(Error);
    expect((await describeWeb()).listeners[0]).toMatchObject({ queued: 0, dropped: 2 });
  });

  it.skipIf(!existsSync('/usr/bin/prlimit'))('a worker out of file descriptors gets each handle\'s message without the handle (NODE_HANDLE_NACK); the daemon passes the connection to another worker', async () => {
    home = await tempHome();
    const { port, pids } = await startHttpApp(2);
    const [starved, healthy] = pids as [number, number];
    // Lower its limit to its lowest free descriptor number: the next one it receives cannot be
    // installed, so the kernel drops it (MSG_CTRUNC) and Node answers with a NACK.
    const used = new Set(readdirSync(`/proc/${starved}/fd`).map(Number));
    let lowestFree = 0;
    while (used.has(lowestFree)) lowestFree += 1;
    execFileSync('/usr/bin/prlimit', ['--pid', String(starved), `--nofile=${lowestFree}:`]);

    const replies = [];
    for (let i = 0; i < 6; i++) replies.push(await httpGet(port, '/', { timeoutMs: 10_000 }));
    expect(replies.map((r) => Number(r.body.split(' ')[0]))).toEqual(Array(6).fill(healthy));
    // Round-robin offered the starved worker its turns; each came back and went on. It is the
    // lower slot, so it has the first turn, and after each NACK the cursor is on the healthy
    // worker, whose turn it takes: the starved one is offered every one of the 6 first.
    const rows = await home.list();
    expect(rows.find((r) => r.pid === starved)?.handled).toBe(6);
    expect(rows.find((r) => r.pid === healthy)?.handled).toBe(6);
    expect(rows.find((r) => r.pid === starved)?.status).toBe('online');
  });

  it.each([['abc'], ['0'], ['65'], ['2.5']])('SUPERVISOR_HANDOFF_WINDOW=%s: start and daemon --foreground each print one line and exit non-zero, and no daemon runs', async (value) => {
    home = await tempHome();
    const env = { SUPERVISOR_HANDOFF_WINDOW: value, PORT: String(await freePort()) };
    const oneLine = (stderr: string): string[] => stderr.split('\n').filter((line) => line.length > 0);

    const started = await home.cli(['start', fixture('http-app.cjs'), '-i', '2', '--name', 'web'], { env });
    expect(started.code).toBe(4);
    expect(oneLine(started.stderr)).toEqual([expect.stringContaining(`SUPERVISOR_HANDOFF_WINDOW must be an integer from 1 to 64 (got "${value}")`)]);
    expect(await home.daemonPid()).toBeNull();

    const foreground = await home.cli(['daemon', '--foreground'], { env, timeoutMs: 15_000 });
    expect(foreground.code).toBe(1);
    expect(oneLine(foreground.stderr)).toEqual([expect.stringContaining('SUPERVISOR_HANDOFF_WINDOW must be an integer from 1 to 64')]);
    expect(await home.daemonPid()).toBeNull();
  });
});
