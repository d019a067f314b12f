/**
 * The three examples of docs/MESSAGES.md, end to end, started from their ecosystem files as a
 * user would: the master/worker system of seed 000 (examples/master-worker), the socket.io
 * chat over Redis (examples/chat) and state shared in Redis (examples/shared-state). Redis is
 * a real redis-server on a free port, started and stopped here.
 */
import http from 'node:http';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { byStatus, freePort, httpGet, logLines, ROOT, tempHome, waitFor, type Home } from '../helpers.js';
import { REDIS_MISSING, redisCommand, startRedis, type RedisServer } from '../redis.js';

const EXAMPLES = join(ROOT, 'examples');

if (REDIS_MISSING) console.warn(`skipping the Redis examples: ${REDIS_MISSING}`);

interface MasterState {
  master: { id: number; pid: number };
  workers: Record<string, { pid: number; jobs: number }>;
  resets: { id: number; event: string; pid: number; previousPid: number | null }[];
}

interface WorkerFailure {
  worker: number;
  code: string;
  at: number;
}

describe('examples/master-worker: seed 000 done with supervisor-node/process', () => {
  let home: Home | undefined;
  afterEach(async () => home?.cleanup());

  it('serves 20 workers, survives a SIGKILLed master (TARGET_GONE at once, then resumes) and resets a restarted worker', async () => {
    home = await tempHome();
    const port = await freePort();
    // Jobs of 200 ms keep requests in flight, so some are in the master's hands when it dies.
    const started = await home.cli(['start', join(EXAMPLES, 'master-worker', 'ecosystem.config.js')], { env: { MASTER_PORT: String(port), JOB_MS: '200' } });
    expect(started.code, started.stderr).toBe(0);
    const state = async (): Promise<MasterState> => JSON.parse((await httpGet(port, '/state')).body) as MasterState;
    const first = await waitFor(async () => {
      const s = await state();
      return Object.keys(s.workers).length === 20 ? s : null;
    }, 'the master to hear from all 20 workers', 30_000);

    const killedAt = Date.now();
    process.kill(first.master.pid, 'SIGKILL');
    const failures = async (): Promise<WorkerFailure[]> =>
      (await logLines(home as Home, 'worker')).filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as WorkerFailure);
    const gone = await waitFor(async () => {
      const seen = (await failures()).filter((f) => f.code === 'TARGET_GONE');
      return seen.length > 0 ? seen : null;
    }, 'workers to see TARGET_GONE');
    expect(Math.min(...gone.map((f) => f.at)) - killedAt).toBeLessThan(1000);
    // Only TARGET_GONE: the requests made while the master was away waited for the new one.
    expect(new Set((await failures()).map((f) => f.code))).toEqual(new Set(['TARGET_GONE']));

    const second = await waitFor(async () => {
      const s = await state().catch(() => null);
      return s && s.master.pid !== first.master.pid && Object.keys(s.workers).length === 20 ? s : null;
    }, 'every worker to resume with the new master', 30_000);
    expect(second.master.id).toBe(first.master.id);

    // A worker restarted: the new master drops what it kept about the old process.
    const [victimId, victim] = Object.entries(second.workers)[0] as [string, { pid: number }];
    process.kill(victim.pid, 'SIGKILL');
    const reset = await waitFor(async () => {
      const s = await state();
      const restart = s.resets.find((e) => e.id === Number(victimId) && e.event === 'restart');
      return restart && s.workers[victimId]?.pid === restart.pid ? { s, restart } : null;
    }, 'the master to reset the restarted worker');
    expect(reset.restart.previousPid).toBe(victim.pid);
    expect(reset.restart.pid).not.toBe(victim.pid);
    expect(reset.s.resets.find((e) => e.id === Number(victimId) && e.event === 'exit')).toMatchObject({ pid: victim.pid });
  });
});

describe.skipIf(REDIS_MISSING !== null)('examples that share state through a real Redis', () => {
  let home: Home | undefined;
  let redis: RedisServer | undefined;
  afterEach(async () => {
    await home?.cleanup();
    await redis?.stop();
    home = undefined;
    redis = undefined;
  });

  async function startExample(dir: string, name: string, count: number): Promise<{ port: number; pids: number[] }> {
    redis = await startRedis();
    home = await tempHome();
    const port = await freePort();
    const started = await home.cli(['start', join(EXAMPLES, dir, 'ecosystem.config.js')], { env: { PORT: String(port), HOST: '127.0.0.1', REDIS_URL: redis.url } });
    expect(started.code, started.stderr).toBe(0);
    const rows = await byStatus(home, name, 'online', count);
    return { port, pids: rows.map((r) => r.pid as number) };
  }

  it('examples/chat: a chat message reaches clients on every worker (socket.io + redis-adapter, sticky-ip)', async () => {
    const { port, pids } = await startExample('chat', 'chat', 4);
    const clients: { socket: Socket; agent: http.Agent; pid: number; got: unknown[] }[] = [];
    try {
      // Clients from different loopback addresses, until they sit on at least three workers.
      for (let n = 2; n < 40 && new Set(clients.map((c) => c.pid)).size < 3; n++) {
        const agent = new http.Agent({ localAddress: `127.0.0.${n}` });
        const socket = io(`http://127.0.0.1:${port}`, { reconnection: false, forceNew: true, timeout: 5000, agent: agent as unknown as string });
        const got: unknown[] = [];
        socket.on('chat message', (message: unknown) => got.push(message));
        const me = (await socket.timeout(5000).emitWithAck('whoami')) as { pid: number };
        clients.push({ socket, agent, pid: me.pid, got });
      }
      const workers = new Set(clients.map((c) => c.pid));
      expect(workers.size).toBeGreaterThanOrEqual(3);
      expect([...workers].every((pid) => pids.includes(pid))).toBe(true);

      const sender = clients[0] as (typeof clients)[number];
      sender.socket.emit('chat message', 'hello from one worker to all');
      await waitFor(() => clients.every((c) => c.got.length === 1), 'every client to get the message', 10_000);
      for (const c of clients) expect(c.got[0]).toEqual({ text: 'hello from one worker to all', from: sender.socket.id, worker: sender.pid });
    } finally {
      for (const c of clients) {
        c.socket.close();
        c.agent.destroy();
      }
    }
  });

  it('examples/shared-state: a counter and sessions stay right across 4 workers and a reload; memory does not', async () => {
    const { port } = await startExample('shared-state', 'shared-state', 4);
    const get = async (path: string, cookie?: string): Promise<{ body: Record<string, unknown>; cookie: string | undefined }> => {
      const reply = await new Promise<http.IncomingMessage & { text: string }>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers: cookie ? { cookie } : {} }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve(Object.assign(res, { text })));
        });
        req.on('error', reject);
      });
      expect(reply.statusCode, reply.text).toBe(200);
      return { body: JSON.parse(reply.text) as Record<string, unknown>, cookie: reply.headers['set-cookie']?.[0]?.split(';')[0] };
    };

    // 40 hits, one connection each: round-robin spreads them over the 4 workers.
    const hits: number[] = [];
    const memoryHits: number[] = [];
    const servedBy = new Set<unknown>();
    for (let i = 0; i < 40; i++) {
      const hit = await get('/hit');
      hits.push(hit.body['hits'] as number);
      servedBy.add(hit.body['pid']);
      const memoryHit = await get('/memory/hit');
      memoryHits.push(memoryHit.body['hits'] as number);
      servedBy.add(memoryHit.body['pid']);
    }
    expect(servedBy.size).toBe(4);
    expect(hits).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    // Each worker counted only its own share.
    expect(Math.max(...memoryHits)).toBeLessThan(40);

    const start = await get('/session');
    const cookie = start.cookie as string;
    expect(cookie).toMatch(/^sid=/);
    const memoryStart = await get('/memory/session');
    const memoryCookie = memoryStart.cookie as string;
    const views: number[] = [start.body['views'] as number];
    const memoryViews: number[] = [memoryStart.body['views'] as number];
    for (let i = 0; i < 7; i++) {
      views.push((await get('/session', cookie)).body['views'] as number);
      memoryViews.push((await get('/memory/session', memoryCookie)).body['views'] as number);
    }
    expect(views).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(memoryViews).not.toEqual([1, 2, 3, 4, 5, 6, 7, 8]);

    // Hits and session views keep counting while every worker is replaced.
    let during = 0;
    let stop = false;
    const traffic = (async () => {
      while (!stop) {
        await get('/hit');
        await get('/session', cookie);
        during += 1;
      }
    })();
    const reloaded = await (home as Home).cli(['reload', 'shared-state']);
    expect(reloaded.code, reloaded.stderr).toBe(0);
    stop = true;
    await traffic;
    expect(during).toBeGreaterThan(0);
    const after = await get('/hit');
    expect(after.body['hits']).toBe(40 + during + 1);
    expect((await get('/session', cookie)).body['views']).toBe(8 + during + 1);
    // And Redis itself holds that count.
    expect(await redisCommand((redis as RedisServer).port, 'INCRBY hits 0')).toBe(`:${40 + during + 1}`);
  });
});
