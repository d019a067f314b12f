/**
 * Cluster-mode listening semantics, end to end: every form of listen() a worker can call goes
 * through the daemon (which binds once per app and hands connections over), except the forms
 * that must bind in the worker itself. Real daemons, real workers, real sockets, loopback only.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppDescription, ProcessInfo } from '../../src/shared/protocol.js';
import { byStatus, fixture, freePort, httpGet, tempHome, waitFor, type Home } from '../helpers.js';

/** One server of the listen-matrix fixture. */
interface ServerSpec {
  name: string;
  kind: 'http' | 'https' | 'express' | 'net';
  form: 'port' | 'port-host' | 'options' | 'zero' | 'path' | 'exclusive';
  port?: number;
  host?: string;
  path?: string;
  relisten?: boolean;
  closeEarly?: boolean;
}

/** What the fixture's HTTP servers answer. */
interface Reply {
  pid: number;
  id: string;
  server: string;
  address: { address: string; family: string; port: number } | string | null;
  url: string;
}

interface ServerState {
  /** The 'listening' event fired. */
  listening: boolean;
  /** server.listening when the status was asked. */
  live: boolean;
  closeError: string | null;
  address: { address: string; family: string; port: number } | string | null;
  error: { code: string; message: string; address?: string; port?: number } | null;
  closed: boolean;
}

const HAS_IPV6 = await canBind('::1');
const HAS_OPENSSL = await new Promise<boolean>((resolve) => execFile('openssl', ['version'], (error) => resolve(!error)));

function canBind(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(0, host, () => server.close(() => resolve(true)));
  });
}

/** `count` ports that were free a moment ago, all different. */
async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

type Target = { port: number; host?: string } | { socketPath: string };

function getJson<T = Reply>(target: Target, path = '/', options: { tls?: { ca: string }; timeoutMs?: number } = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const where = 'socketPath' in target ? { socketPath: target.socketPath } : { host: target.host ?? '127.0.0.1', port: target.port };
    const common = { ...where, path, agent: false as const, timeout: options.timeoutMs ?? 5000 };
    const onResponse = (res: http.IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as T);
        } catch {
          reject(new Error(`status ${res.statusCode}, not JSON: ${body}`));
        }
      });
      res.on('error', reject);
    };
    const req = options.tls
      ? https.get({ ...common, ca: options.tls.ca, servername: 'localhost' }, onResponse)
      : http.get(common, onResponse);
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

/** Connects to the raw echo server: it says which pid took the connection, then echoes. */
function echo(port: number, text: string, host = '127.0.0.1'): Promise<{ pid: number; echoed: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host });
    let data = '';
    let pid = 0;
    const timer = setTimeout(() => socket.destroy(new Error('echo timed out')), 5000);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
      const newline = data.indexOf('\n');
      if (pid === 0 && newline >= 0) {
        pid = Number(data.slice(0, newline));
        data = data.slice(newline + 1);
        socket.write(text);
      }
      if (pid !== 0 && data.length >= text.length) {
        clearTimeout(timer);
        socket.end();
        resolve({ pid, echoed: data });
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

describe('cluster mode: listen() through the daemon', () => {
  let home: Home;
  afterEach(async () => home?.cleanup());

  /** Starts the listen-matrix fixture in cluster mode; resolves once every worker is ready. */
  async function startMatrix(servers: ServerSpec[], options: { instances?: number; env?: NodeJS.ProcessEnv } = {}): Promise<ProcessInfo[]> {
    const instances = options.instances ?? 4;
    const started = await home.cli(['start', fixture('listen-matrix.cjs'), '-i', String(instances), '--name', 'matrix', '--wait-ready'], {
      env: { SERVERS: JSON.stringify(servers), ...options.env },
    });
    expect(started.code, started.stderr).toBe(0);
    return byStatus(home, 'matrix', 'online', instances);
  }

  async function describeApp(name: string): Promise<AppDescription> {
    const result = await home.cli(['describe', name, '--json']);
    expect(result.code, result.stderr).toBe(0);
    return (JSON.parse(result.stdout) as AppDescription[])[0] as AppDescription;
  }

  /** `times` requests, each on a new connection; the replies in order. */
  async function many(times: number, target: Target, path = '/', options: { tls?: { ca: string } } = {}): Promise<Reply[]> {
    const replies: Reply[] = [];
    for (let i = 0; i < times; i++) replies.push(await getJson(target, path, options));
    return replies;
  }

  const pidsOf = (rows: { pid: number | null }[]): number[] => [...new Set(rows.map((r) => r.pid as number))].sort((a, b) => a - b);

  it('serves listen(port), listen(port, host), listen({port, host}), an express-style app and a raw net echo server from every worker, on several ports at once', async () => {
    home = await tempHome();
    const [plain, hosted, options, express, raw] = (await freePorts(5)) as [number, number, number, number, number];
    const rows = await startMatrix([
      { name: 'plain', kind: 'http', form: 'port', port: plain },
      { name: 'hosted', kind: 'http', form: 'port-host', port: hosted, host: '127.0.0.1' },
      { name: 'options', kind: 'http', form: 'options', port: options, host: '127.0.0.1' },
      { name: 'express', kind: 'express', form: 'port-host', port: express, host: '127.0.0.1' },
      { name: 'echo', kind: 'net', form: 'options', port: raw, host: '127.0.0.1' },
    ]);
    const workers = pidsOf(rows);

    // listen(port) binds every interface, as it would without the daemon; we talk to it on loopback.
    const plainReplies = await many(8, { port: plain });
    expect(pidsOf(plainReplies)).toEqual(workers);
    for (const reply of plainReplies) {
      expect(reply.server).toBe('plain');
      // As without the daemon: the dual-stack wildcard address.
      expect(reply.address).toEqual({ address: '::', family: 'IPv6', port: plain });
    }

    for (const [name, port] of [['hosted', hosted], ['options', options], ['express', express]] as const) {
      const replies = await many(8, { port });
      expect(pidsOf(replies), name).toEqual(workers);
      for (const reply of replies) {
        expect(reply.server).toBe(name);
        expect(reply.address).toEqual({ address: '127.0.0.1', family: 'IPv4', port });
      }
    }
    // The express-style middleware chain ran in the worker.
    expect((await httpGet(express)).headers['x-middleware']).toBe('yes');

    const echoes = [];
    for (let i = 0; i < 8; i++) echoes.push(await echo(raw, `hello ${i}`));
    expect(pidsOf(echoes)).toEqual(workers);
    expect(echoes.map((e) => e.echoed)).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => `hello ${i}`));

    // One daemon-owned listener per address, none failed.
    const described = await describeApp('matrix');
    expect(described.listeners.map((l) => l.address).sort()).toEqual(
      [`[::]:${plain}`, `127.0.0.1:${hosted}`, `127.0.0.1:${options}`, `127.0.0.1:${express}`, `127.0.0.1:${raw}`].sort(),
    );
    expect(described.listeners.every((l) => l.error === null)).toBe(true);
  });

  it.skipIf(!HAS_IPV6)('serves IPv6 ::1 with listen({port, host}) and listen(port, host) next to IPv4 127.0.0.1', async () => {
    home = await tempHome();
    const [v6options, v6args, v4] = (await freePorts(3)) as [number, number, number];
    const rows = await startMatrix([
      { name: 'v6options', kind: 'http', form: 'options', port: v6options, host: '::1' },
      { name: 'v6args', kind: 'http', form: 'port-host', port: v6args, host: '::1' },
      { name: 'v4', kind: 'http', form: 'port-host', port: v4, host: '127.0.0.1' },
    ]);
    const workers = pidsOf(rows);
    for (const [name, port] of [['v6options', v6options], ['v6args', v6args]] as const) {
      const replies = await many(8, { port, host: '::1' });
      expect(pidsOf(replies), name).toEqual(workers);
      for (const reply of replies) expect(reply.address).toEqual({ address: '::1', family: 'IPv6', port });
    }
    expect(pidsOf(await many(8, { port: v4 }))).toEqual(workers);
    // Bound to ::1 only: the same port on 127.0.0.1 is not ours.
    await expect(getJson({ port: v6options, host: '127.0.0.1' }, '/', { timeoutMs: 2000 })).rejects.toThrow();
    const described = await describeApp('matrix');
    expect(described.listeners.map((l) => l.address)).toEqual(expect.arrayContaining([`[::1]:${v6options}`, `[::1]:${v6args}`]));
  });

  it.skipIf(!HAS_OPENSSL)('serves https (self-signed certificate made at test time) from every worker, next to plain http', async () => {
    home = await tempHome();
    const dir = join(home.dir, 'tls');
    await mkdir(dir);
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    await new Promise<void>((resolve, reject) =>
      execFile(
        'openssl',
        ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=localhost', '-days', '1'],
        { timeout: 30_000 },
        (error, _stdout, stderr) => (error ? reject(new Error(`openssl failed: ${stderr}`)) : resolve()),
      ),
    );
    const [securePort, plainPort] = (await freePorts(2)) as [number, number];
    const rows = await startMatrix(
      [
        { name: 'secure', kind: 'https', form: 'port-host', port: securePort, host: '127.0.0.1' },
        { name: 'plain', kind: 'http', form: 'port-host', port: plainPort, host: '127.0.0.1' },
      ],
      { env: { TLS_KEY: key, TLS_CERT: cert } },
    );
    const ca = await readFile(cert, 'utf8');
    const replies = await many(8, { port: securePort }, '/', { tls: { ca } });
    expect(pidsOf(replies)).toEqual(pidsOf(rows));
    for (const reply of replies) expect(reply).toMatchObject({ server: 'secure', address: { address: '127.0.0.1', port: securePort } });
    // The TLS handshake happens in the worker: a plain-text request to it is not answered as HTTP.
    await expect(httpGet(securePort, '/', { timeoutMs: 2000 })).rejects.toThrow();
    expect(pidsOf(await many(4, { port: plainPort }))).toEqual(pidsOf(rows));
  });

  it('listen(0): the n-th listen(0) of every worker shares one port, which server.address() reports and which answers', async () => {
    home = await tempHome();
    const rows = await startMatrix([
      { name: 'zero-a', kind: 'http', form: 'zero', host: '127.0.0.1' },
      { name: 'zero-b', kind: 'http', form: 'zero', host: '127.0.0.1' },
      // listen(0) with no host: every interface, reached here on loopback.
      { name: 'zero-any', kind: 'http', form: 'zero' },
    ]);
    const workers = pidsOf(rows);
    const described = await describeApp('matrix');
    // Three listen(0) per worker, four workers: three ports, not twelve.
    expect(described.listeners).toHaveLength(3);
    const ports = described.listeners.map((l) => {
      const match = /^(127\.0\.0\.1|\[::\]):(\d+)$/.exec(l.address);
      expect(match, l.address).not.toBeNull();
      return { port: Number(match?.[2]), any: match?.[1] === '[::]' };
    });
    expect(new Set(ports.map((p) => p.port)).size).toBe(3);
    const served = new Set<string>();
    for (const { port, any } of ports) {
      expect(port).toBeGreaterThan(0);
      const replies = await many(8, { port });
      expect(pidsOf(replies)).toEqual(workers);
      // Every worker's server.address() names the port the daemon bound.
      const address = any ? { address: '::', family: 'IPv6', port } : { address: '127.0.0.1', family: 'IPv4', port };
      for (const reply of replies) expect(reply.address).toEqual(address);
      const names = new Set(replies.map((r) => r.server));
      expect(names.size).toBe(1);
      served.add([...names][0] as string);
    }
    expect([...served].sort()).toEqual(['zero-a', 'zero-any', 'zero-b']);
  });

  it('listen(path): connections to a Unix socket in a temp dir reach every worker', async () => {
    home = await tempHome();
    const path = join(home.dir, 'app.sock');
    const rows = await startMatrix([{ name: 'unix', kind: 'http', form: 'path', path }]);
    const replies = await many(8, { socketPath: path });
    expect(pidsOf(replies)).toEqual(pidsOf(rows));
    for (const reply of replies) expect(reply.address).toBe(path);
    const described = await describeApp('matrix');
    expect(described.listeners.map((l) => l.address)).toEqual([path]);
  });

  it('listen({exclusive: true}) binds in the worker itself: only one worker gets the fixed port, the others get EADDRINUSE', async () => {
    home = await tempHome();
    const [control, exclusive] = (await freePorts(2)) as [number, number];
    const rows = await startMatrix([
      { name: 'control', kind: 'http', form: 'port-host', port: control, host: '127.0.0.1' },
      { name: 'mine', kind: 'http', form: 'exclusive', port: exclusive, host: '127.0.0.1' },
    ]);
    const statuses = new Map<number, Record<string, ServerState>>();
    await waitFor(async () => {
      const status = await getJson<{ pid: number; servers: Record<string, ServerState> }>({ port: control }, '/status');
      statuses.set(status.pid, status.servers);
      return statuses.size === rows.length;
    }, 'the status of every worker');
    const owners = [...statuses].filter(([, servers]) => servers['mine']?.listening).map(([pid]) => pid);
    const refused = [...statuses].filter(([, servers]) => servers['mine']?.error?.code === 'EADDRINUSE').map(([pid]) => pid);
    expect(owners).toHaveLength(1);
    expect(refused).toHaveLength(rows.length - 1);
    // Every connection to the exclusive port reaches the one worker that bound it.
    const replies = await many(6, { port: exclusive });
    expect(pidsOf(replies)).toEqual(owners);
    // The daemon owns only the shared address.
    const described = await describeApp('matrix');
    expect(described.listeners.map((l) => l.address)).toEqual([`127.0.0.1:${control}`]);
  });

  it('a second server listening on the same address in the same worker gets EADDRINUSE (as in plain Node and node:cluster); the first keeps every connection', async () => {
    home = await tempHome();
    const port = await freePort();
    const rows = await startMatrix([
      { name: 'first', kind: 'http', form: 'port-host', port, host: '127.0.0.1' },
      { name: 'second', kind: 'http', form: 'port-host', port, host: '127.0.0.1' },
    ]);
    const replies = await many(8, { port });
    expect(pidsOf(replies)).toEqual(pidsOf(rows));
    expect(new Set(replies.map((r) => r.server))).toEqual(new Set(['first']));
    const statuses = new Map<number, Record<string, ServerState>>();
    await waitFor(async () => {
      const status = await getJson<{ pid: number; servers: Record<string, ServerState> }>({ port }, '/status');
      statuses.set(status.pid, status.servers);
      return statuses.size === rows.length;
    }, 'the status of every worker');
    for (const servers of statuses.values()) {
      expect(servers['first']?.listening).toBe(true);
      expect(servers['second']?.listening).toBe(false);
      expect(servers['second']?.error?.code).toBe('EADDRINUSE');
    }
  });

  it('server.close() in the same tick as listen() cancels the listen, as in plain Node and node:cluster: the server never listens', async () => {
    home = await tempHome();
    const [control, early] = (await freePorts(2)) as [number, number];
    const rows = await startMatrix(
      [
        { name: 'early', kind: 'http', form: 'port-host', port: early, host: '127.0.0.1', closeEarly: true },
        // Listens after the early one asked, so its reply (and readiness) comes after the early one's.
        { name: 'control', kind: 'http', form: 'port-host', port: control, host: '127.0.0.1' },
      ],
      { instances: 2 },
    );
    const statuses = new Map<number, Record<string, ServerState>>();
    await waitFor(async () => {
      const status = await getJson<{ pid: number; servers: Record<string, ServerState> }>({ port: control }, '/status');
      statuses.set(status.pid, status.servers);
      return statuses.size === rows.length;
    }, 'the status of every worker');
    for (const servers of statuses.values()) {
      expect(servers['early']).toMatchObject({ closed: true, closeError: 'ERR_SERVER_NOT_RUNNING', listening: false, live: false });
      expect(servers['control']).toMatchObject({ listening: true, live: true });
    }
  });

  it('server.close() in one worker takes it out of rotation for that server only', async () => {
    home = await tempHome();
    const [closing, staying] = (await freePorts(2)) as [number, number];
    const rows = await startMatrix([
      { name: 'closing', kind: 'http', form: 'port-host', port: closing, host: '127.0.0.1' },
      { name: 'staying', kind: 'http', form: 'port-host', port: staying, host: '127.0.0.1' },
    ]);
    const workers = pidsOf(rows);
    const { pid: closed } = await getJson<{ pid: number; closed: string }>({ port: closing }, '/close');
    expect(workers).toContain(closed);

    const afterClose = await many(12, { port: closing });
    expect(afterClose.map((r) => r.pid)).not.toContain(closed);
    expect(pidsOf(afterClose)).toEqual(workers.filter((pid) => pid !== closed));

    // The same worker still serves its other server.
    const other = await many(8, { port: staying });
    expect(pidsOf(other)).toEqual(workers);
    const state = await waitFor(async () => {
      const status = await getJson<{ pid: number; servers: Record<string, ServerState> }>({ port: staying }, '/status');
      return status.pid === closed ? status.servers : null;
    }, 'the status of the worker that closed');
    expect(state['closing']?.closed).toBe(true);
    expect(state['staying']?.listening).toBe(true);
  });

  it('a port taken by another process: the workers fail with EADDRINUSE naming the address, describe shows it, the daemon still answers, and the app binds once the port is free', async () => {
    home = await tempHome();
    const port = await freePort();
    const blocker = net.createServer();
    await new Promise<void>((resolve, reject) => {
      blocker.once('error', reject);
      blocker.listen(port, '127.0.0.1', resolve);
    });
    try {
      const file = join(home.dir, 'taken.config.json');
      await writeFile(
        file,
        JSON.stringify({
          apps: [{ name: 'taken', script: fixture('http-app.cjs'), instances: 2, exp_backoff_restart_delay: 50, backoff_cap: 500 }],
        }),
      );
      const started = await home.cli(['start', file], { env: { PORT: String(port), HOST: '127.0.0.1' } });
      expect(started.code, started.stderr).toBe(0);
      const address = `127.0.0.1:${port}`;
      const described = await waitFor(async () => {
        const d = await describeApp('taken');
        const failedBoth = d.processes.every((p) => (p.lastExit?.stderrTail ?? []).join('\n').includes('EADDRINUSE'));
        return failedBoth && d.listeners.some((l) => l.error !== null) ? d : null;
      }, 'both processes to fail with EADDRINUSE');
      const listener = described.listeners.find((l) => l.error !== null);
      expect(listener?.address).toBe(address);
      expect(listener?.error).toMatch(/EADDRINUSE/);
      for (const proc of described.processes) {
        const tail = (proc.lastExit?.stderrTail ?? []).join('\n');
        expect(tail).toMatch(/EADDRINUSE/);
        expect(tail).toContain(address);
        expect(proc.lastExit?.code).toBe(1);
      }
      const ping = await home.cli(['ping']);
      expect(ping.code, ping.stderr).toBe(0);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
    // The failed address was forgotten, so the next attempt binds it.
    const reply = await waitFor(() => httpGet(port, '/', { timeoutMs: 2000 }), 'the app to bind the freed port', 20_000, 100);
    expect(reply.status).toBe(200);
    const described = await describeApp('taken');
    expect(described.listeners.find((l) => l.address === `127.0.0.1:${port}`)?.error ?? null).toBeNull();
  });

  it('with no worker ready the port stays open and a request waits, then is answered once a worker comes up', async () => {
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
            instances: 2,
            wait_ready: true,
            exp_backoff_restart_delay: 100,
            backoff_cap: 1000,
            queue_timeout: '30s',
          },
        ],
      }),
    );
    const started = await home.cli(['start', file], { env: { PORT: String(port), MARKER: marker } });
    expect(started.code, started.stderr).toBe(0);

    // The workers bound the port through the daemon, then exited without ever being ready.
    await waitFor(async () => {
      const d = await describeApp('gated');
      return d.listeners.some((l) => l.address === `127.0.0.1:${port}` && l.error === null) && d.processes.every((p) => p.restarts >= 1);
    }, 'the port bound and both workers crashed at least once');
    const notOnline = async (): Promise<void> => {
      const rows = await home.list();
      expect(rows.filter((r) => r.status === 'online')).toEqual([]);
    };
    await notOnline();

    let settled = false;
    const pending = httpGet(port, '/', { timeoutMs: 40_000 }).finally(() => (settled = true));
    pending.catch(() => undefined);
    // It waits in the daemon's queue instead of being refused.
    await waitFor(async () => ((await describeApp('gated')).listeners[0]?.queued ?? 0) >= 1, 'the request to be queued');
    // The port is open: another connection succeeds too while no worker is ready.
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1' }, () => {
        socket.destroy();
        resolve();
      });
      socket.on('error', reject);
    });
    await notOnline();
    expect(settled).toBe(false);

    await writeFile(marker, 'ready');
    const upAt = Date.now();
    const reply = await pending;
    expect(Date.now() - upAt).toBeLessThan(20_000);
    expect(reply.status).toBe(200);
    const pid = Number(/^up (\d+)/.exec(reply.body)?.[1]);
    const rows = await home.list();
    expect(rows.map((r) => r.pid)).toContain(pid);
    expect((await describeApp('gated')).listeners[0]?.dropped).toBe(0);
  });
});
