/**
 * The daemon end to end: cluster traffic through worker deaths, start races, stale state,
 * file modes, and garbage on the control socket.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { APP_DEFAULTS } from '../../src/shared/app-spec.js';
import { PROTOCOL_VERSION, type ProcessInfo } from '../../src/shared/protocol.js';
import { byStatus, envReports, expectOk, fixture, freePort, httpGet, runCli, tempHome, waitFor, type CliResult, type Home } from '../helpers.js';

/**
 * Whether a pid names a live process. Unlike `process.kill(pid, 0)` a zombie counts as gone:
 * here PID 1 does not reap orphans, so a dead daemon can stay a zombie for ever.
 */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Live daemon processes (background or foreground) whose SUPERVISOR_HOME is `dir`. */
function daemonsOf(dir: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const isDaemon = cmdline.some((arg) => arg.endsWith('daemon/daemon.cjs')) || (cmdline.some((arg) => arg.endsWith('supervisor.js')) && cmdline.includes('daemon'));
      if (!isDaemon || !isRunning(pid)) continue;
      if (readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`SUPERVISOR_HOME=${dir}`)) found.push(pid);
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

async function snapshot(home: Home): Promise<unknown[]> {
  return (await home.list()).map(({ id, name, mode, instance, pid, status, restarts }) => ({ id, name, mode, instance, pid, status, restarts }));
}


function pingPid(result: CliResult): number {
  expectOk(result);
  const match = /^daemon pid (\d+), version \S+, home (.+?)( \(just started\))?$/.exec(result.stdout.trim());
  expect(match, result.stdout).not.toBeNull();
  return Number(match?.[1]);
}

/** A raw connection to daemon.sock: writes bytes, collects what comes back until it closes. */
function rawExchange(socketPath: string, bytes: Buffer | string, timeoutMs = 5000): Promise<{ reply: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ reply, closed: false });
    }, timeoutMs);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk) => (reply += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ reply, closed: true });
    });
  });
}

type Frame = Record<string, unknown> & { id?: number | null; error?: { code: string; message: string }; result?: unknown };

/** A `ws` client on daemon.sock that queues what it receives. */
class Probe {
  readonly #frames: Frame[] = [];
  readonly #waiting: ((frame: Frame) => void)[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  isClosed = false;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const frame = (isBinary ? { binary: true } : JSON.parse(data.toString())) as Frame;
      const waiter = this.#waiting.shift();
      if (waiter) waiter(frame);
      else this.#frames.push(frame);
    });
    ws.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.isClosed = true;
        resolve({ code, reason: reason.toString() });
      }),
    );
  }

  static open(socketPath: string): Promise<Probe> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws+unix://${socketPath}:/`);
      const probe = new Probe(ws);
      ws.once('open', () => resolve(probe));
      ws.once('error', reject);
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame), { binary: Buffer.isBuffer(frame) });
  }

  next(timeoutMs = 5000): Promise<Frame> {
    const queued = this.#frames.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no frame within ${timeoutMs} ms`)), timeoutMs);
      this.#waiting.push((frame) => {
        clearTimeout(timer);
        resolve(frame);
      });
    });
  }

  async request(frame: unknown): Promise<Frame> {
    this.send(frame);
    return this.next();
  }

  close(): void {
    this.ws.terminate();
  }
}

/** A client frame built by hand (masked, as RFC 6455 requires of clients), to break the rules on purpose. */
function clientFrame(opcode: number, payload: Buffer | string, options: { fin?: boolean; rsv?: number } = {}): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  const length = body.length;
  const header = length < 126 ? Buffer.alloc(2) : length < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  header[0] = ((options.fin ?? true) ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode;
  if (length < 126) header[1] = 0x80 | length;
  else if (length < 65536) {
    header[1] = 0x80 | 126;
    header.writeUInt16BE(length, 2);
  } else {
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = Buffer.alloc(length);
  for (let i = 0; i < length; i++) masked[i] = (body[i] as number) ^ (mask[i & 3] as number);
  return Buffer.concat([header, mask, masked]);
}

const UPGRADE =
  'GET / HTTP/1.1\r\nHost: supervisor\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

interface ServerMessage {
  opcode: number;
  payload: Buffer;
}

/** A WebSocket connection on raw bytes: the handshake, then frames written and read by hand. */
class RawWs {
  #buffer = Buffer.alloc(0);
  #handshaken = false;
  readonly #messages: ServerMessage[] = [];
  #wake: (() => void) | null = null;
  isClosed = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      if (!this.#handshaken) {
        const end = this.#buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        this.#handshaken = true;
        this.#buffer = this.#buffer.subarray(end + 4);
      }
      for (;;) {
        const b = this.#buffer;
        if (b.length < 2) break;
        let length = (b[1] as number) & 0x7f;
        let offset = 2;
        if (length === 126) {
          if (b.length < 4) break;
          length = b.readUInt16BE(2);
          offset = 4;
        } else if (length === 127) {
          if (b.length < 10) break;
          length = Number(b.readBigUInt64BE(2));
          offset = 10;
        }
        if (b.length < offset + length) break;
        this.#messages.push({ opcode: (b[0] as number) & 0x0f, payload: Buffer.from(b.subarray(offset, offset + length)) });
        this.#buffer = b.subarray(offset + length);
      }
      this.#wake?.();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.isClosed = true;
        this.#wake?.();
        resolve();
      }),
    );
  }

  static open(socketPath: string): Promise<RawWs> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(socketPath);
      const raw = new RawWs(socket);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.write(UPGRADE);
        resolve(raw);
      });
    });
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next frame from the daemon, or null once the connection has closed without one. */
  async next(timeoutMs = 5000): Promise<ServerMessage | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const message = this.#messages.shift();
      if (message) return message;
      if (this.isClosed) return null;
      if (Date.now() > deadline) throw new Error(`no frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = null;
    }
  }

  /** The next text frame as JSON. */
  async json(): Promise<Frame> {
    for (;;) {
      const message = await this.next();
      if (message === null) throw new Error('closed before a reply');
      if (message.opcode === 0x1) return JSON.parse(message.payload.toString('utf8')) as Frame;
    }
  }

  /** Waits for the daemon's close frame (its status code) and the end of the connection. */
  async closeCode(timeoutMs = 10_000): Promise<number | null> {
    let code: number | null = null;
    for (;;) {
      const message = await this.next(timeoutMs);
      if (message === null) return code;
      if (message.opcode === 0x8) code = message.payload.length >= 2 ? message.payload.readUInt16BE(0) : 1005;
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}

describe('daemon', () => {
  let home: Home;
  const homes: Home[] = [];
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0)) {
      try {
        await fn();
      } catch {
        // Best effort: the homes below are cleaned regardless.
      }
    }
    for (const h of homes.splice(0)) await h.cleanup();
    // Each home is cleaned once: a test that makes no `home` must not clean the last one again.
    const last = home as Home | undefined;
    home = undefined as unknown as Home;
    await last?.cleanup();
  });

  it('serves every worker of a 4-worker cluster and replaces a SIGKILLed worker without a failed request', async () => {
    home = await tempHome();
    const port = await freePort();
    expectOk(await home.cli(['start', fixture('http-app.cjs'), '-i', '4', '--name', 'web'], { env: { PORT: String(port) } }));
    const rows = await byStatus(home, 'web', 'online', 4);

    // Every worker answers, and says who it is: pid, SUPERVISOR_ID, SUPERVISOR_INSTANCE, NODE_APP_INSTANCE.
    const answers = new Map<number, string>();
    await waitFor(async () => {
      const body = (await httpGet(port)).body.trim();
      answers.set(Number(body.split(' ')[0]), body);
      return answers.size === 4;
    }, 'an answer from every worker', 10_000, 0);
    for (const row of rows) expect(answers.get(row.pid as number)).toBe(`${row.pid} ${row.id} ${row.instance} ${row.instance}`);

    // One request after another; the worker dies between two of them.
    const victim = rows[1] as ProcessInfo;
    const failures: string[] = [];
    const answeredBy = new Set<string>();
    let answered = 0;
    let killed = false;
    let done = false;
    const poller = (async () => {
      while (!done) {
        if (!killed && answered >= 20) {
          process.kill(victim.pid as number, 'SIGKILL');
          killed = true;
        }
        try {
          const reply = await httpGet(port, '/', { timeoutMs: 5000 });
          if (reply.status !== 200) failures.push(`status ${reply.status}`);
          answered++;
          if (killed) answeredBy.add(reply.body.split(' ')[0] as string);
        } catch (error) {
          failures.push(String(error));
        }
      }
    })();
    try {
      const replaced = await waitFor(async () => {
        if (!killed) return null;
        const row = (await home.list()).find((r) => r.id === victim.id);
        return row && row.status === 'online' && row.pid !== null && row.pid !== victim.pid ? row : null;
      }, 'the replacement worker', 15_000, 100);
      expect(replaced).toMatchObject({ id: victim.id, instance: victim.instance, restarts: 1, mode: 'cluster' });
      // It takes traffic too.
      await waitFor(() => answeredBy.has(String(replaced.pid)), 'a request served by the replacement', 10_000);
    } finally {
      done = true;
      await poller;
    }
    expect(failures).toEqual([]);
    expect(answered).toBeGreaterThan(25);
    expect(answeredBy.has(String(victim.pid)), 'the killed worker answered after its death').toBe(false);

    const after = await home.list();
    for (const row of rows.filter((r) => r.id !== victim.id)) {
      expect(after.find((r) => r.id === row.id)).toMatchObject({ pid: row.pid, restarts: 0, status: 'online' });
    }
  });

  it('ends with exactly one daemon when two starts race on a fresh home', async () => {
    for (let round = 0; round < 2; round++) {
      const h = await tempHome();
      homes.push(h);
      const [a, b] = await Promise.all([
        h.cli(['start', fixture('idle-app.cjs'), '--name', 'first']),
        h.cli(['start', fixture('idle-app.cjs'), '--name', 'second']),
      ]);
      expectOk(a as CliResult);
      expectOk(b as CliResult);
      const pid = await h.daemonPid();
      expect(pid).not.toBeNull();
      expect((await readFile(join(h.dir, 'daemon.pid'), 'utf8')).trim()).toBe(String(pid));
      expect((await h.list()).map((r) => r.name).sort()).toEqual(['first', 'second']);
      // The loser of the race exits on its own.
      await waitFor(() => {
        const daemons = daemonsOf(h.dir);
        return daemons.length === 1 && daemons[0] === pid;
      }, `one daemon for ${h.dir} (found ${daemonsOf(h.dir).join(', ')})`, 10_000);
    }
  });

  it('answers four concurrent pings on a fresh home from one daemon', async () => {
    home = await tempHome();
    const results = await Promise.all([1, 2, 3, 4].map(() => home.cli(['ping'])));
    const pids = results.map(pingPid);
    expect(new Set(pids).size, `pids ${pids.join(', ')}`).toBe(1);
    expect(await home.daemonPid()).toBe(pids[0]);
    await waitFor(() => {
      const daemons = daemonsOf(home.dir);
      return daemons.length === 1 && daemons[0] === pids[0];
    }, 'exactly one daemon process', 10_000);
  });

  it('starts a new daemon cleanly after the old one was SIGKILLed', async () => {
    home = await tempHome();
    expectOk(await home.cli(['start', fixture('idle-app.cjs'), '--name', 'idle']));
    const [worker] = await byStatus(home, 'idle', 'online', 1);
    cleanups.push(() => {
      if (isRunning(worker?.pid as number)) process.kill(worker?.pid as number, 'SIGKILL');
    });
    const old = (await home.daemonPid()) as number;
    process.kill(old, 'SIGKILL');
    await waitFor(() => !isRunning(old), 'the daemon to die');
    // What it leaves behind: a socket nobody listens on and a pid file naming a dead process.
    expect(existsSync(join(home.dir, 'daemon.sock'))).toBe(true);
    expect(await home.daemonPid()).toBe(old);
    await waitFor(() => !isRunning(worker?.pid as number), 'the orphaned worker to exit', 10_000);

    const pinged = await home.cli(['ping']);
    const fresh = pingPid(pinged);
    expect(pinged.stdout).toContain('(just started)');
    expect(fresh).not.toBe(old);
    expect(await home.daemonPid()).toBe(fresh);
    expect((await stat(join(home.dir, 'daemon.sock'))).isSocket()).toBe(true);
    // A crash is a restart, not a loss: the new daemon restored the app (same process id),
    // and the first command after the crash said so, once.
    expect(pinged.stderr).toMatch(/^supervisor: the previous daemon \(pid \d+\) stopped without a clean shutdown; restored 1 apps from .*state\.json/);
    const [restored] = await byStatus(home, 'idle', 'online', 1);
    expect(restored?.id).toBe(worker?.id);
    expect((await home.cli(['ping'])).stderr).toBe('');
    // The new daemon works: it starts more apps.
    expectOk(await home.cli(['start', fixture('idle-app.cjs'), '--name', 'idle2']));
    await byStatus(home, 'idle2', 'online', 1);
    expect(daemonsOf(home.dir)).toEqual([fresh]);
    expect((await home.cli(['check'])).stdout).toBe('ok\n');
  });

  it('starts a daemon when daemon.sock is a plain file and daemon.pid names no process', async () => {
    home = await tempHome();
    await writeFile(join(home.dir, 'daemon.sock'), 'not a socket\n');
    await writeFile(join(home.dir, 'daemon.pid'), '4194303\n');
    const pid = pingPid(await home.cli(['ping']));
    expect(await home.daemonPid()).toBe(pid);
    expect((await stat(join(home.dir, 'daemon.sock'))).isSocket()).toBe(true);
    expect(pingPid(await home.cli(['ping']))).toBe(pid);
  });

  it('save, kill, resurrect: the saved apps come back', async () => {
    home = await tempHome();
    const port = await freePort();
    expectOk(await home.cli(['start', fixture('http-app.cjs'), '-i', '2', '--name', 'web'], { env: { PORT: String(port) } }));
    expectOk(await home.cli(['start', fixture('env-app.cjs'), '--name', 'envy', '--', 'a1'], { env: { SV_TEST_FOO: 'saved' } }));
    await byStatus(home, 'web', 'online', 2);
    await byStatus(home, 'envy', 'online', 1);
    const before = await home.list();

    const saved = await home.cli(['save']);
    expectOk(saved);
    const dump = join(home.dir, 'dump.json');
    expect(saved.stdout.trim()).toBe(`saved 2 apps to ${dump}`);
    expect(existsSync(dump)).toBe(true);
    expect(((await stat(dump)).mode & 0o777).toString(8)).toBe('600');

    expectOk(await home.cli(['kill']));
    await waitFor(() => before.every((r) => !isRunning(r.pid as number)), 'the old processes to exit');
    await expect(httpGet(port, '/', { timeoutMs: 2000 })).rejects.toThrow();

    const resurrected = await home.cli(['resurrect']);
    expectOk(resurrected);
    const web = await byStatus(home, 'web', 'online', 2);
    const [envy] = await byStatus(home, 'envy', 'online', 1);
    const after = await home.list();
    expect(after.map((r) => [r.name, r.mode, r.instance, r.restarts])).toEqual(before.map((r) => [r.name, r.mode, r.instance, 0]));
    for (const row of after) expect(before.map((r) => r.pid)).not.toContain(row.pid);
    expect(web.map((r) => String(r.pid))).toContain((await httpGet(port)).body.split(' ')[0]);
    const reports = await envReports(home, 'envy', 2);
    const fresh = reports.find((r) => r.pid === envy?.pid);
    expect(fresh?.argv).toEqual(['a1']);
    expect(fresh?.env['SV_TEST_FOO']).toBe('saved');

    // Resurrecting again adds nothing: the apps are already there.
    const settled = await snapshot(home);
    expectOk(await home.cli(['resurrect']));
    expect(await snapshot(home)).toEqual(settled);
  });

  it('kill returns only once the daemon is gone, every time', async () => {
    home = await tempHome();
    const leftovers: string[] = [];
    for (let round = 0; round < 10; round++) {
      const daemon = pingPid(await home.cli(['ping']));
      expectOk(await home.cli(['kill']));
      if (existsSync(join(home.dir, 'daemon.sock'))) leftovers.push(`round ${round}: daemon.sock`);
      if (existsSync(join(home.dir, 'daemon.pid'))) leftovers.push(`round ${round}: daemon.pid`);
      if (isRunning(daemon)) leftovers.push(`round ${round}: daemon ${daemon} running`);
      await waitFor(() => !isRunning(daemon), `daemon ${daemon} to exit`);
    }
    expect(leftovers).toEqual([]);
  });

  it('keeps the home folder 0700 and the socket 0600', async () => {
    home = await tempHome();
    const mode = async (path: string): Promise<string> => ((await stat(path)).mode & 0o777).toString(8);
    // A home that exists with looser permissions is tightened.
    await chmod(home.dir, 0o755);
    expectOk(await home.cli(['ping']));
    expect((await stat(join(home.dir, 'daemon.sock'))).isSocket()).toBe(true);

    // A home that does not exist yet is created 0700.
    const nested = join(home.dir, 'nested-home');
    const env = { ...home.env, SUPERVISOR_HOME: nested };
    cleanups.push(async () => {
      const pid = Number(await readFile(join(nested, 'daemon.pid'), 'utf8').catch(() => '0'));
      await runCli(['kill'], env);
      if (pid && isRunning(pid)) process.kill(pid, 'SIGKILL');
    });
    const pinged = await runCli(['ping'], env);
    expectOk(pinged);
    expect(pinged.stdout).toContain(`home ${nested}`);

    expect({
      home: await mode(home.dir),
      socket: await mode(join(home.dir, 'daemon.sock')),
      nestedHome: await mode(nested),
      nestedSocket: await mode(join(nested, 'daemon.sock')),
    }).toEqual({ home: '700', socket: '600', nestedHome: '700', nestedSocket: '600' });
  });

  it('survives garbage on daemon.sock: every bad frame gets an error or a closed connection, and nothing changes', async () => {
    home = await tempHome();
    expectOk(await home.cli(['start', fixture('idle-app.cjs'), '--name', 'idle']));
    await byStatus(home, 'idle', 'online', 1);
    const before = await snapshot(home);
    const daemon = (await home.daemonPid()) as number;
    const socketPath = join(home.dir, 'daemon.sock');
    const stillUp = async (what: string): Promise<void> => {
      expect(isRunning(daemon), `${what}: daemon alive`).toBe(true);
      expect(pingPid(await home.cli(['ping'])), `${what}: same daemon`).toBe(daemon);
    };

    // Raw bytes that are not HTTP at all, then HTTP that is not a WebSocket upgrade.
    const junk = Buffer.from([0x00, 0xff, 0x13, 0x37, 0x80, 0x0d, 0x0a, 0x0d, 0x0a, ...Buffer.from('\x16\x03\x01 garbage\r\n\r\n')]);
    const raw = await rawExchange(socketPath, junk);
    expect(raw.closed, 'raw bytes: connection closed').toBe(true);
    // Its head ends at the first blank line, and it is no upgrade request: a 426, never silence.
    expect(raw.reply).toMatch(/^HTTP\/1\.1 426 Upgrade Required\r\n[\s\S]*\r\n\r\nsupervisor daemon: WebSocket only\n$/);
    const plain = await rawExchange(socketPath, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(plain.reply).toMatch(/^HTTP\/1\.1 426 /);
    // A WebSocket handshake followed by a frame that breaks the framing rules (unmasked).
    const handshake =
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
    const unmasked = await rawExchange(socketPath, Buffer.concat([Buffer.from(handshake), Buffer.from([0x81, 0x05]), Buffer.from('hello')]));
    expect(unmasked.reply).toMatch(/^HTTP\/1\.1 101 /);
    expect(unmasked.closed, 'bad framing: connection closed').toBe(true);
    await stillUp('raw bytes');

    const probe = await Probe.open(socketPath);
    cleanups.push(() => probe.close());
    const expectError = async (frame: unknown, code: string, message: RegExp, id: number | null): Promise<void> => {
      const reply = await probe.request(frame);
      expect(reply.error, JSON.stringify(reply.error)).toMatchObject({ code });
      expect(reply.error?.message).toMatch(message);
      expect(reply.id).toBe(id);
      expect(reply).not.toHaveProperty('result');
    };

    // Before hello.
    await expectError('{nope', 'INVALID_REQUEST', /not valid JSON/, null);
    await expectError({ id: 1, method: 'list', params: {} }, 'INVALID_REQUEST', /hello/, 1);
    await expectError({ id: 2, method: 'hello', params: { protocol: PROTOCOL_VERSION + 1 } }, 'VERSION_MISMATCH', /protocol/, 2);
    await expectError({ id: 3, method: 'kill', params: {} }, 'INVALID_REQUEST', /hello/, 3);
    await expectError({ id: 4, method: 'hello', params: { protocol: 'one' } }, 'INVALID_REQUEST', /params\.protocol/, 4);
    const hello = await probe.request({ id: 5, method: 'hello', params: { protocol: PROTOCOL_VERSION } });
    expect(hello).toMatchObject({ id: 5, result: { pid: daemon, protocol: PROTOCOL_VERSION } });

    // After hello.
    await expectError({ id: 6, method: 'frobnicate', params: {} }, 'INVALID_REQUEST', /unknown method "frobnicate"/, 6);
    await expectError({ id: 7, method: 'stop', params: { target: 5 } }, 'INVALID_REQUEST', /params\.target/, 7);
    await expectError({ id: 8, method: 'delete', params: { target: '' } }, 'INVALID_REQUEST', /params\.target/, 8);
    await expectError({ id: 9, method: 'scale', params: { name: 'idle', count: '2', relative: false } }, 'INVALID_REQUEST', /params\.count/, 9);
    await expectError({ id: 10, method: 'kill', params: 5 }, 'INVALID_REQUEST', /params must be an object/, 10);
    await expectError({ id: 11, method: 'start', params: { apps: [{ script: 'relative.js' }] } }, 'INVALID_REQUEST', /apps\[0\]/, 11);
    const spec = { ...APP_DEFAULTS, name: 'sneaky', script: fixture('idle-app.cjs'), cwd: home.dir, env: {}, interpreter: 'node' };
    await expectError({ id: 12, method: 'start', params: { apps: [{ ...spec, instances: 0 }] } }, 'INVALID_REQUEST', /instances/, 12);
    await expectError({ id: 13, method: 'start', params: { apps: [spec, { ...spec, name: 'idle' }] } }, 'CONFLICT', /idle/, 13);
    await expectError({ id: 14, method: 'signal', params: { target: 'idle', signal: 'SIGNOPE' } }, 'INVALID_REQUEST', /signal/, 14);
    await expectError({ id: 15, method: 'stop', params: { target: 'nope' } }, 'NOT_FOUND', /nope/, 15);
    // An interpreter the daemon cannot find is refused at start, never a crash loop.
    await expectError({ id: 30, method: 'start', params: { apps: [{ ...spec, interpreter: 'no-such-interpreter' }] } }, 'FAILED', /interpreter no-such-interpreter does not exist/, 30);
    await expectError({ id: 'x', method: 'ping', params: {} }, 'INVALID_REQUEST', /frame\.id/, null);
    await expectError({ id: 16.5, method: 'ping', params: {} }, 'INVALID_REQUEST', /frame\.id/, null);
    await expectError([16, 'ping'], 'INVALID_REQUEST', /frame must be an object/, null);
    await expectError('null', 'INVALID_REQUEST', /frame must be an object/, null);
    await expectError('', 'INVALID_REQUEST', /not valid JSON/, null);
    await expectError('['.repeat(200_000), 'INVALID_REQUEST', /^frame is not valid JSON$/, null);
    await expectError(Buffer.from(JSON.stringify({ id: 17, method: 'ping', params: {} })), 'INVALID_REQUEST', /binary/, null);
    // The connection still works after all that.
    expect(await probe.request({ id: 18, method: 'ping', params: {} })).toMatchObject({ id: 18, result: { pid: daemon } });
    await stillUp('bad frames');

    // A frame over the size limit: the daemon closes that connection, and only that one.
    const huge = await Probe.open(socketPath);
    cleanups.push(() => huge.close());
    huge.send(JSON.stringify({ id: 1, method: 'hello', params: { protocol: PROTOCOL_VERSION, pad: 'x'.repeat(9 * 1024 * 1024) } }));
    const closed = await Promise.race([huge.closed, new Promise<null>((r) => setTimeout(() => r(null), 10_000))]);
    expect(closed, 'huge frame: connection closed').not.toBeNull();
    expect(closed?.code).toBe(1009);
    expect(probe.isClosed, 'other connections stay open').toBe(false);
    expect(await probe.request({ id: 19, method: 'list', params: {} })).toMatchObject({ id: 19, result: [{ name: 'idle' }] });
    await stillUp('huge frame');

    // A client that vanishes mid-request leaves nothing behind.
    const rude = await Probe.open(socketPath);
    rude.send({ id: 1, method: 'hello', params: { protocol: PROTOCOL_VERSION } });
    rude.send({ id: 2, method: 'list', params: {} });
    rude.close();
    await stillUp('a vanished client');

    expect(await snapshot(home)).toEqual(before);
    expect(daemonsOf(home.dir)).toEqual([daemon]);
  });

  it('speaks WebSocket to the letter on daemon.sock: split frames, fragments, ping, close, and protocol errors', async () => {
    home = await tempHome();
    const daemon = pingPid(await home.cli(['ping']));
    const socketPath = join(home.dir, 'daemon.sock');
    const open = async (): Promise<RawWs> => {
      const raw = await RawWs.open(socketPath);
      cleanups.push(() => raw.destroy());
      return raw;
    };
    const hello = clientFrame(0x1, JSON.stringify({ id: 1, method: 'hello', params: { protocol: PROTOCOL_VERSION } }));

    // A frame that arrives a few bytes at a time.
    const dribble = await open();
    for (let i = 0; i < hello.length; i += 3) {
      dribble.write(hello.subarray(i, i + 3));
      await new Promise((r) => setImmediate(r));
    }
    expect(await dribble.json()).toMatchObject({ id: 1, result: { pid: daemon } });

    // A message in three fragments with a ping in the middle: the pong comes, then the reply.
    const ping = clientFrame(0x1, JSON.stringify({ id: 2, method: 'ping', params: {} }));
    const text = JSON.stringify({ id: 2, method: 'ping', params: {} });
    dribble.write(
      Buffer.concat([
        clientFrame(0x1, text.slice(0, 5), { fin: false }),
        clientFrame(0x0, text.slice(5, 12), { fin: false }),
        clientFrame(0x9, 'are you there'),
        clientFrame(0x0, text.slice(12)),
      ]),
    );
    const pong = await dribble.next();
    expect(pong?.opcode).toBe(0xa);
    expect(pong?.payload.toString()).toBe('are you there');
    expect(await dribble.json()).toMatchObject({ id: 2, result: { pid: daemon } });
    dribble.write(ping);
    expect(await dribble.json()).toMatchObject({ id: 2, result: { pid: daemon } });
    // A close frame is answered with a close frame and the end of the connection.
    dribble.write(clientFrame(0x8, Buffer.from([0x03, 0xe8])));
    expect(await dribble.closeCode()).toBe(1000);

    // Protocol errors close that connection with the right status code.
    const cases: [string, Buffer, number][] = [
      ['an unknown opcode', clientFrame(0x3, 'x'), 1002],
      ['reserved bits', clientFrame(0x1, 'x', { rsv: 4 }), 1002],
      ['a continuation without a message', clientFrame(0x0, 'x'), 1002],
      ['a fragmented ping', clientFrame(0x9, 'x', { fin: false }), 1002],
      ['a 64-bit length of 2^63', Buffer.from([0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]), 1009],
    ];
    for (const [what, bytes, code] of cases) {
      const raw = await open();
      raw.write(hello);
      expect(await raw.json(), what).toMatchObject({ id: 1 });
      raw.write(bytes);
      expect(await raw.closeCode(), what).toBe(code);
    }
    // Fragments that add up to more than the limit (8 MiB), each one under it.
    const big = await open();
    const chunk = 'x'.repeat(3 * 1024 * 1024);
    big.write(Buffer.concat([clientFrame(0x1, chunk, { fin: false }), clientFrame(0x0, chunk, { fin: false }), clientFrame(0x0, chunk)]));
    expect(await big.closeCode(), 'oversized fragmented message').toBe(1009);

    // Handshakes that are not: an oversized head, and a wrong version.
    const longHead = await rawExchange(socketPath, `GET / HTTP/1.1\r\nX-Long: ${'a'.repeat(10_000)}`);
    expect(longHead.reply).toMatch(/^HTTP\/1\.1 4\d\d /);
    expect(longHead.closed).toBe(true);
    const wrongVersion = await rawExchange(socketPath, UPGRADE.replace('Version: 13', 'Version: 8'));
    expect(wrongVersion.reply).toMatch(/^HTTP\/1\.1 4\d\d /);

    // Fifty connections stuck in the middle of a handshake do not keep anyone else out.
    const stuck = await Promise.all(
      Array.from({ length: 50 }, () =>
        new Promise<net.Socket>((resolve) => {
          const socket = net.connect(socketPath, () => {
            socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
            resolve(socket);
          });
          socket.on('error', () => undefined);
        }),
      ),
    );
    cleanups.push(() => stuck.forEach((socket) => socket.destroy()));
    expect(pingPid(await home.cli(['ping']))).toBe(daemon);
    expect(daemonsOf(home.dir)).toEqual([daemon]);
  });

  it('accepts a request sent right behind hello, without waiting for its reply', async () => {
    home = await tempHome();
    const daemon = pingPid(await home.cli(['ping']));
    const probe = await Probe.open(join(home.dir, 'daemon.sock'));
    cleanups.push(() => probe.close());
    // Corked, the three frames leave in one write and reach the daemon in one read.
    const socket = (probe.ws as unknown as { _socket: net.Socket })._socket;
    socket.cork();
    probe.send({ id: 1, method: 'hello', params: { protocol: PROTOCOL_VERSION } });
    probe.send({ id: 2, method: 'ping', params: {} });
    probe.send({ id: 3, method: 'list', params: {} });
    socket.uncork();
    const replies = [await probe.next(), await probe.next(), await probe.next()].sort((a, b) => (a.id as number) - (b.id as number));
    expect(replies).toEqual([
      expect.objectContaining({ id: 1, result: expect.objectContaining({ pid: daemon }) }),
      expect.objectContaining({ id: 2, result: expect.objectContaining({ pid: daemon }) }),
      { id: 3, result: [] },
    ]);
  });
});
