/**
 * The socket.io example (examples/socketio/server.js) under cluster mode with 4 workers. With
 * the long-polling transport a session is a series of separate HTTP requests that must all
 * reach the worker holding the session: round-robin breaks it, sticky-ip keeps it.
 */
import http from 'node:http';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { byStatus, freePort, ROOT, tempHome, waitFor, type Home } from '../helpers.js';

const SERVER = join(ROOT, 'examples', 'socketio', 'server.js');
const ROUNDS = 8;

type Outcome = { ok: true; pids: number[]; sid: string } | { ok: false; reason: string };

/**
 * One polling session: connect, then ROUNDS emit/ack round-trips. Fails on the first
 * connect_error, disconnect or missing ack. Every wait is bounded by socket.io's own timeouts.
 */
function session(port: number, localAddress: string): Promise<Outcome> {
  const agent = new http.Agent({ localAddress });
  const client: Socket = io(`http://127.0.0.1:${port}`, {
    transports: ['polling'],
    reconnection: false,
    forceNew: true,
    timeout: 5000,
    agent: agent as unknown as string, // engine.io-client passes it on to Node's http.request
  });
  return new Promise<Outcome>((resolve) => {
    let done = false;
    const finish = (outcome: Outcome): void => {
      if (done) return;
      done = true;
      client.close();
      agent.destroy();
      resolve(outcome);
    };
    client.on('connect_error', (error: Error & { description?: unknown }) =>
      finish({ ok: false, reason: `connect_error: ${error.message} (${String(error.description)})` }),
    );
    client.on('disconnect', (reason) => finish({ ok: false, reason: `disconnect: ${reason}` }));
    client.on('connect', () => {
      void (async () => {
        const pids: number[] = [];
        for (let n = 0; n < ROUNDS; n++) {
          try {
            const ack = (await client.timeout(5000).emitWithAck('echo', { n })) as { n: number; pid: number; sid: string };
            if (ack.n !== n) return finish({ ok: false, reason: `ack ${ack.n} for message ${n}` });
            pids.push(ack.pid);
          } catch (error) {
            return finish({ ok: false, reason: `no ack for message ${n}: ${String(error)}` });
          }
        }
        finish({ ok: true, pids, sid: client.id ?? '' });
      })();
    });
  });
}

describe('socket.io example under cluster mode (polling transport)', () => {
  let home: Home;
  afterEach(async () => home?.cleanup());

  async function startExample(balance: string): Promise<{ port: number; pids: number[] }> {
    home = await tempHome();
    const port = await freePort();
    const started = await home.cli(['start', SERVER, '-i', '4', '--name', 'chat', '--balance', balance], {
      env: { PORT: String(port), HOST: '127.0.0.1' },
    });
    expect(started.code, started.stderr).toBe(0);
    const rows = await byStatus(home, 'chat', 'online', 4);
    return { port, pids: rows.map((r) => r.pid as number) };
  }

  it('with --balance round-robin a polling client cannot keep a session', async () => {
    const { port } = await startExample('round-robin');
    for (const address of ['127.0.0.2', '127.0.0.3']) {
      const outcome = await session(port, address);
      expect(outcome.ok, JSON.stringify(outcome)).toBe(false);
      // The handshake reached one worker; the next request reached another, which does not know
      // the session id and answers 400 ("Session ID unknown").
      if (!outcome.ok) expect(outcome.reason).toMatch(/\(400\)|disconnect|no ack/);
    }
  });

  it('with --balance sticky-ip a polling client connects, and every emit/ack round-trip is served by the same worker', async () => {
    const { port, pids } = await startExample('sticky-ip');
    const servedBy = new Map<string, number>();
    for (const address of ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6']) {
      const outcome = await session(port, address);
      expect(outcome.ok, JSON.stringify(outcome)).toBe(true);
      if (!outcome.ok) continue;
      expect(outcome.pids).toHaveLength(ROUNDS);
      expect(new Set(outcome.pids).size, `${address}: ${outcome.pids.join(' ')}`).toBe(1);
      expect(pids).toContain(outcome.pids[0]);
      servedBy.set(address, outcome.pids[0] as number);
    }
    // Different client addresses are spread over the workers, each sticking to its own.
    expect(new Set(servedBy.values()).size).toBeGreaterThanOrEqual(2);
    // A second session from the same address lands on the same worker again.
    const again = await session(port, '127.0.0.2');
    expect(again.ok, JSON.stringify(again)).toBe(true);
    if (again.ok) expect(new Set(again.pids)).toEqual(new Set([servedBy.get('127.0.0.2')]));
  });

  it('reloads 2 workers with 20 polling clients in well under 10 s: every client reconnects to a new worker, none is lost', async () => {
    home = await tempHome();
    const port = await freePort();
    const started = await home.cli(['start', SERVER, '-i', '2', '--name', 'chat', '--balance', 'sticky-ip'], { env: { PORT: String(port), HOST: '127.0.0.1' } });
    expect(started.code, started.stderr).toBe(0);
    const before = (await byStatus(home, 'chat', 'online', 2)).map((r) => r.pid as number);
    const clients = Array.from({ length: 20 }, (_, i) => {
      const agent = new http.Agent({ localAddress: `127.0.0.${i + 2}` });
      const client: Socket = io(`http://127.0.0.1:${port}`, {
        transports: ['polling'],
        forceNew: true,
        timeout: 5000,
        reconnectionDelay: 100,
        reconnectionDelayMax: 500,
        agent: agent as unknown as string,
      });
      const state = { client, agent, connects: 0 };
      client.on('connect', () => (state.connects += 1));
      return state;
    });
    try {
      await waitFor(() => clients.every((c) => c.client.connected), 'every client to connect');
      const began = Date.now();
      const reloaded = await home.cli(['reload', 'chat']);
      const reloadMs = Date.now() - began;
      expect(reloaded.code, reloaded.stderr).toBe(0);
      await waitFor(() => clients.every((c) => c.client.connected && c.connects >= 2), 'every client to reconnect', 15_000);
      // Each is served by a new worker now, and its session works.
      for (const { client } of clients) {
        const ack = (await client.timeout(5000).emitWithAck('whoami')) as { pid: number };
        expect(before).not.toContain(ack.pid);
      }
      process.stdout.write(`RELIABILITY socketio-reload ${JSON.stringify({ workers: 2, pollingClients: 20, reloadMs })}\n`);
      expect(reloadMs).toBeLessThan(10_000);
    } finally {
      for (const { client, agent } of clients) {
        client.close();
        agent.destroy();
      }
    }
  }, 60_000);
});
