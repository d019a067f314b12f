/**
 * Cluster-mode balancing, end to end: round-robin, least-connections and sticky-ip over real
 * workers, and the per-worker connection counts `list` and `describe` report.
 */
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppDescription, ProcessInfo } from '../../src/shared/protocol.js';
import { byStatus, fixture, freePort, isAlive, tempHome, waitFor, type Home } from '../helpers.js';

interface Reply {
  pid: number;
  id: string;
  server: string;
}

/** A GET on a new connection (Connection: close), optionally from a given loopback source address. */
function whoServes(port: number, localAddress?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: '/', agent: false, timeout: 5000, ...(localAddress && { localAddress }) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          try {
            resolve(JSON.parse(body) as Reply);
          } catch {
            reject(new Error(`status ${res.statusCode}, not JSON: ${body}`));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

interface Held {
  pid: number;
  socket: net.Socket;
  close(): Promise<void>;
}

/** A long-lived connection to the fixture's raw echo server, which first names the worker's pid. */
function hold(port: number): Promise<Held> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let data = '';
    const timer = setTimeout(() => socket.destroy(new Error('no greeting from the echo server')), 5000);
    socket.setEncoding('utf8');
    const onData = (chunk: string): void => {
      data += chunk;
      const newline = data.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      socket.off('data', onData);
      const pid = Number(data.slice(0, newline));
      resolve({
        pid,
        socket,
        close: () =>
          new Promise<void>((done) => {
            if (socket.destroyed) return done();
            socket.once('close', () => done());
            socket.end();
          }),
      });
    };
    socket.on('data', onData);
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

function tally(pids: number[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const pid of pids) counts.set(pid, (counts.get(pid) ?? 0) + 1);
  return counts;
}

describe('cluster mode: balancing', () => {
  let home: Home;
  const open: Held[] = [];
  afterEach(async () => {
    for (const held of open.splice(0)) held.socket.destroy();
    await home?.cleanup();
  });

  /** The listen-matrix fixture with an HTTP server on `web` and a raw echo server on `echo`. */
  async function startApp(balance: string, ports: { web: number; echo?: number }, instances = 4, options: { relistenEcho?: boolean } = {}): Promise<ProcessInfo[]> {
    const servers: Record<string, unknown>[] = [{ name: 'web', kind: 'http', form: 'port-host', port: ports.web, host: '127.0.0.1' }];
    if (ports.echo !== undefined) {
      servers.push({ name: 'echo', kind: 'net', form: 'port-host', port: ports.echo, host: '127.0.0.1', relisten: options.relistenEcho === true });
    }
    const started = await home.cli(
      ['start', fixture('listen-matrix.cjs'), '-i', String(instances), '--name', 'app', '--balance', balance, '--wait-ready'],
      { env: { SERVERS: JSON.stringify(servers) } },
    );
    expect(started.code, started.stderr).toBe(0);
    return byStatus(home, 'app', 'online', instances);
  }

  async function twoPorts(): Promise<{ web: number; echo: number }> {
    const web = await freePort();
    let echo = await freePort();
    while (echo === web) echo = await freePort();
    return { web, echo };
  }

  async function holdMore(port: number, count: number): Promise<Held[]> {
    const held: Held[] = [];
    // One at a time: each placement sees the connections placed before it. The worker sends its
    // acknowledgement of a hand-off before the app sees the connection, but on a busy machine the
    // daemon may read the next connection before that ack, and it steers new connections away
    // from workers with hand-offs in flight. One round trip to the daemon after each connection
    // makes it read the ack first, so the placement under test is the strategy's alone.
    for (let i = 0; i < count; i++) {
      const h = await hold(port);
      open.push(h);
      held.push(h);
      await home.list();
    }
    return held;
  }

  async function describeApp(): Promise<AppDescription> {
    const result = await home.cli(['describe', 'app', '--json']);
    expect(result.code, result.stderr).toBe(0);
    return (JSON.parse(result.stdout) as AppDescription[])[0] as AppDescription;
  }

  it('round-robin spreads 40 sequential Connection: close requests evenly over 4 workers, in turn', async () => {
    home = await tempHome();
    const port = await freePort();
    const rows = await startApp('round-robin', { web: port });
    const pids: number[] = [];
    for (let i = 0; i < 40; i++) pids.push((await whoServes(port)).pid);
    const counts = tally(pids);
    expect([...counts.keys()].sort()).toEqual(rows.map((r) => r.pid).sort());
    expect([...counts.values()]).toEqual([10, 10, 10, 10]);
    // In turn: every window of four consecutive requests met four different workers.
    for (let i = 0; i + 4 <= pids.length; i++) expect(new Set(pids.slice(i, i + 4)).size).toBe(4);
  });

  it('list --json and describe --json show per-worker open connections and handed-off totals that match the traffic', async () => {
    home = await tempHome();
    const ports = await twoPorts();
    const rows = await startApp('round-robin', ports);
    const handled = new Map<number, number>(rows.map((r) => [r.pid as number, 0]));
    const bump = (pid: number): void => void handled.set(pid, (handled.get(pid) ?? 0) + 1);
    for (let i = 0; i < 40; i++) bump((await whoServes(ports.web)).pid);
    const held = await holdMore(ports.echo, 8);
    for (const h of held) bump(h.pid);
    const holding = tally(held.map((h) => h.pid));
    expect([...holding.values()]).toEqual([2, 2, 2, 2]);

    const matches = (procs: ProcessInfo[], connections: (pid: number) => number): boolean =>
      procs.length === 4 && procs.every((p) => p.connections === connections(p.pid as number) && p.handled === handled.get(p.pid as number));
    await waitFor(async () => matches(await home.list(), (pid) => holding.get(pid) ?? 0), 'list to show 2 open connections and 12 handled per worker');
    await waitFor(async () => matches((await describeApp()).processes, (pid) => holding.get(pid) ?? 0), 'describe to show the same');
    expect([...handled.values()]).toEqual([12, 12, 12, 12]);

    await Promise.all(held.map((h) => h.close()));
    await waitFor(async () => matches(await home.list(), () => 0), 'list to show no open connection and the same totals');
    await waitFor(async () => matches((await describeApp()).processes, () => 0), 'describe to show no open connection');
  });

  it('least-connections: with connections held open on one worker, new ones go to the others until it has fewer', async () => {
    home = await tempHome();
    const ports = await twoPorts();
    // One worker first, so that it alone takes the long-lived connections.
    const [first] = await startApp('least-connections', ports, 1);
    const busy = first?.pid as number;
    const heldOnBusy = await holdMore(ports.echo, 5);
    expect(heldOnBusy.map((h) => h.pid)).toEqual([busy, busy, busy, busy, busy]);

    const scaled = await home.cli(['scale', 'app', '4']);
    expect(scaled.code, scaled.stderr).toBe(0);
    const rows = await byStatus(home, 'app', 'online', 4);
    const others = rows.map((r) => r.pid as number).filter((pid) => pid !== busy);
    expect(others).toHaveLength(3);

    // Six new connections: the idle workers take two each, the busy one none.
    const fresh = await holdMore(ports.echo, 6);
    const freshCounts = tally(fresh.map((h) => h.pid));
    expect(freshCounts.has(busy)).toBe(false);
    expect([...freshCounts.keys()].sort()).toEqual([...others].sort());
    expect([...freshCounts.values()]).toEqual([2, 2, 2]);
    const openOf = (pid: number): number => (pid === busy ? 5 : 2);
    await waitFor(async () => (await home.list()).every((p) => p.connections === openOf(p.pid as number) && p.handled === openOf(p.pid as number)), 'list to show 5 open on the busy worker, 2 on each other');

    // Short requests meanwhile also avoid the busy worker.
    for (let i = 0; i < 6; i++) expect((await whoServes(ports.web)).pid).not.toBe(busy);

    // Once its connections close, the formerly busy worker has the fewest and takes the next ones.
    await Promise.all(heldOnBusy.map((h) => h.close()));
    await waitFor(async () => (await home.list()).find((p) => p.pid === busy)?.connections === 0, 'the busy worker to report its connections closed');
    const next = await holdMore(ports.echo, 2);
    expect(next.map((h) => h.pid)).toEqual([busy, busy]);
  });

  it('least-connections: a server that closed and listened again in its worker still counts each closed connection once', async () => {
    home = await tempHome();
    const ports = await twoPorts();
    await startApp('least-connections', ports, 1, { relistenEcho: true });
    const held = await holdMore(ports.echo, 3);
    await waitFor(async () => (await home.list())[0]?.connections === 3, 'three open connections');
    await held[0]?.close();
    const after = await waitFor(async () => {
      const [row] = await home.list();
      return row && row.connections !== 3 ? row : null;
    }, 'the close to be reported');
    // Two of the three connections are still open.
    expect(after.connections).toBe(2);
    await held[1]?.close();
    await waitFor(async () => (await home.list())[0]?.connections !== 2, 'the second close to be reported');
    expect((await home.list())[0]?.connections).toBe(1);
  });

  describe('sticky-ip', () => {
    const CLIENTS = Array.from({ length: 19 }, (_, i) => `127.0.0.${i + 2}`); // 127.0.0.2 .. 127.0.0.20

    /** For every client address, the worker (pid, slot id) all of its `rounds` requests reached. */
    async function placement(port: number, rounds: number): Promise<Map<string, { pid: number; id: string }>> {
      const placed = new Map<string, { pid: number; id: string }>();
      for (let round = 0; round < rounds; round++) {
        for (const address of CLIENTS) {
          const reply = await whoServes(port, address);
          const before = placed.get(address);
          if (before) expect({ address, pid: reply.pid, id: reply.id }).toEqual({ address, ...before });
          else placed.set(address, { pid: reply.pid, id: reply.id });
        }
      }
      return placed;
    }

    it('keeps each client address (127.0.0.2 … 127.0.0.20) on one worker across 5 requests, and spreads the addresses', async () => {
      home = await tempHome();
      const port = await freePort();
      const rows = await startApp('sticky-ip', { web: port });
      const placed = await placement(port, 5);
      const used = new Set([...placed.values()].map((p) => p.pid));
      expect(used.size).toBeGreaterThanOrEqual(3);
      for (const pid of used) expect(rows.map((r) => r.pid)).toContain(pid);
    });

    it('when a worker is killed and replaced, clients of the other workers keep their worker, and its own clients return to its slot', async () => {
      home = await tempHome();
      const port = await freePort();
      const rows = await startApp('sticky-ip', { web: port });
      const before = await placement(port, 2);
      const victim = before.get(CLIENTS[0] as string) as { pid: number; id: string };
      process.kill(victim.pid, 'SIGKILL');
      await waitFor(() => !isAlive(victim.pid), `pid ${victim.pid} to die`);
      const after = await waitFor(async () => {
        const now = await home.list();
        const slot = now.find((p) => String(p.id) === victim.id);
        return now.every((p) => p.status === 'online') && slot && slot.pid !== victim.pid ? now : null;
      }, 'the killed worker to be replaced');
      expect(after.filter((p) => String(p.id) !== victim.id).map((p) => p.pid)).toEqual(
        rows.filter((p) => String(p.id) !== victim.id).map((p) => p.pid),
      );
      const replacement = after.find((p) => String(p.id) === victim.id)?.pid as number;

      const placedAgain = await placement(port, 5);
      for (const address of CLIENTS) {
        const was = before.get(address) as { pid: number; id: string };
        const now = placedAgain.get(address) as { pid: number; id: string };
        if (was.id === victim.id) expect({ address, ...now }).toEqual({ address, pid: replacement, id: victim.id });
        else expect({ address, ...now }).toEqual({ address, ...was });
      }
    });

    it('while one worker is stopped, only its clients move; they come back when it is restarted', async () => {
      home = await tempHome();
      const port = await freePort();
      await startApp('sticky-ip', { web: port });
      const before = await placement(port, 1);
      const victim = before.get(CLIENTS[0] as string) as { pid: number; id: string };
      const stopped = await home.cli(['stop', victim.id]);
      expect(stopped.code, stopped.stderr).toBe(0);

      const during = await placement(port, 3);
      for (const address of CLIENTS) {
        const was = before.get(address) as { pid: number; id: string };
        const now = during.get(address) as { pid: number; id: string };
        if (was.id === victim.id) expect(now.id).not.toBe(victim.id);
        else expect({ address, ...now }).toEqual({ address, ...was });
      }

      const restarted = await home.cli(['restart', victim.id]);
      expect(restarted.code, restarted.stderr).toBe(0);
      const rows = await byStatus(home, 'app', 'online', 4);
      const back = rows.find((p) => String(p.id) === victim.id)?.pid as number;
      const after = await placement(port, 3);
      for (const address of CLIENTS) {
        const was = before.get(address) as { pid: number; id: string };
        const now = after.get(address) as { pid: number; id: string };
        expect({ address, ...now }).toEqual({ address, id: was.id, pid: was.id === victim.id ? back : was.pid });
      }
    });
  });
});
