/**
 * The control socket's bounds, in-process with small limits: a real ControlServer on a real
 * Unix socket in a temporary folder, real `ws` clients, and an EventBus the test publishes on
 * (no apps, no registry). Clients that "stop reading" pause their socket, so the kernel
 * buffers fill and the daemon's side sees unread output pile up, as with a stuck subscriber.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connectIfRunning } from '../../src/client/launcher.js';
import { ControlServer } from '../../src/daemon/control-server.js';
import { EventBus } from '../../src/daemon/events.js';
import { MessageRouting } from '../../src/daemon/message-routing.js';
import * as routerModule from '../../src/daemon/messages/router.js';
import type { Registry } from '../../src/daemon/registry.js';
import { DEFAULT_CONTROL_LIMITS, type ControlLimits } from '../../src/shared/control-limits.js';
import { homePaths } from '../../src/shared/paths.js';
import { PROTOCOL_VERSION } from '../../src/shared/protocol.js';
import { encodeFrame, OP_TEXT } from '../../src/shared/ws-frames.js';
import { waitFor } from '../helpers.js';

const KiB = 1024;

interface Harness {
  server: ControlServer;
  bus: EventBus;
  socketPath: string;
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(limits: Partial<ControlLimits> = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'sv-ctl-'));
  const socketPath = join(dir, 'daemon.sock');
  const bus = new EventBus();
  const info = { pid: process.pid, version: 'test', protocol: PROTOCOL_VERSION, uptimeMs: 0, home: dir };
  const server = new ControlServer(
    { registry: {} as Registry, bus, messages: new MessageRouting(new Map(), bus, () => routerModule), dumpFile: join(dir, 'dump.json'), info: () => info, takeNotice: () => null, reopenLogs: async () => 0, shutdown: () => undefined },
    bus,
    () => undefined,
    { ...DEFAULT_CONTROL_LIMITS, ...limits },
  );
  await server.listen(socketPath);
  cleanups.push(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { server, bus, socketPath };
}

type Frame = Record<string, unknown> & { id?: number; event?: string; data?: Record<string, unknown> };

/** A `ws` client that keeps what it receives and how it was closed. */
class Client {
  readonly frames: Frame[] = [];
  closed: { code: number; reason: string } | null = null;
  #nextId = 1;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.frames.push(JSON.parse(data.toString()) as Frame));
    ws.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
    ws.on('error', () => undefined);
  }

  static open(socketPath: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws+unix://${socketPath}:/`);
      const client = new Client(ws);
      cleanups.push(() => ws.terminate());
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
    });
  }

  async request(method: string, params: unknown = {}): Promise<Frame> {
    const id = this.#nextId++;
    this.ws.send(JSON.stringify({ id, method, params }));
    return waitFor(() => this.frames.find((f) => f.id === id), `a reply to ${method}`, 5000, 5);
  }

  async greet(): Promise<void> {
    expect(await this.request('hello', { protocol: PROTOCOL_VERSION })).toHaveProperty('result');
  }

  /** Stops reading: the socket is paused, so what the server sends piles up in the kernel, then in the server. */
  stopReading(): void {
    (this.ws as unknown as { _socket: net.Socket })._socket.pause();
  }

  resumeReading(): void {
    (this.ws as unknown as { _socket: net.Socket })._socket.resume();
  }
}

/** A raw connection that completed the upgrade, for bytes `ws` would never send. */
function rawUpgrade(socketPath: string): Promise<net.Socket & { received: () => string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.once('connect', () =>
      socket.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'),
    );
    const check = setInterval(() => {
      if (received.includes('\r\n\r\n')) {
        clearInterval(check);
        if (!received.startsWith('HTTP/1.1 101 ')) reject(new Error(received));
        else resolve(Object.assign(socket, { received: () => received }));
      }
    }, 5);
    cleanups.push(() => {
      clearInterval(check);
      socket.destroy();
    });
  });
}

/** The header of a masked text frame announcing `length` bytes, plus `sent` of them. */
function partialFrame(length: number, sent: number): Buffer {
  const whole = encodeFrame(OP_TEXT, Buffer.alloc(length, 0x20), true);
  return whole.subarray(0, whole.length - (length - sent));
}

function closedWhen(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
}

function rawConnect(socketPath: string, bytes: string): Promise<{ reply: string; closedAfterMs: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(socketPath);
    let reply = '';
    socket.on('data', (chunk) => (reply += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.once('connect', () => socket.write(bytes));
    socket.once('close', () => resolve({ reply, closedAfterMs: Date.now() - started }));
    cleanups.push(() => socket.destroy());
  });
}

describe('control socket: connections', () => {
  it('refuses connections over the cap with HTTP 503, counts them, and accepts again once one closes', async () => {
    const { server, socketPath } = await start({ maxConnections: 2 });
    const a = await Client.open(socketPath);
    await Client.open(socketPath);
    expect(server.openConnections).toBe(2);
    const refused = await rawConnect(socketPath, 'GET / HTTP/1.1\r\n\r\n');
    expect(refused.reply).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n[\s\S]*too many control connections \(2 open\)\n$/);
    expect(server.refusedConnections).toBe(1);
    a.ws.close();
    await waitFor(() => server.openConnections === 1, 'the closed connection to be let go');
    const c = await Client.open(socketPath);
    await c.greet();
  });

  it('a client refused for too many connections retries, and gets in once one closes', async () => {
    const { server, socketPath } = await start({ maxConnections: 1 });
    const holder = await Client.open(socketPath);
    const connecting = connectIfRunning(homePaths(dirname(socketPath)));
    await waitFor(() => server.refusedConnections > 0, 'the client to be refused once');
    holder.ws.close();
    const connection = await connecting;
    cleanups.push(() => connection?.close());
    expect(connection?.daemon?.pid).toBe(process.pid);
  });

  it('counts a connection that has not finished its handshake, and ends it at the deadline however it trickles', async () => {
    const { server, socketPath } = await start({ handshakeTimeoutMs: 400 });
    const socket = net.connect(socketPath);
    socket.on('error', () => undefined);
    cleanups.push(() => socket.destroy());
    await new Promise((resolve) => socket.once('connect', resolve));
    await waitFor(() => server.openConnections === 1, 'the connection to be counted');
    // A byte every 50 ms: an inactivity timeout would never fire.
    const trickle = setInterval(() => socket.writable && socket.write('G'), 50);
    cleanups.push(() => clearInterval(trickle));
    const started = Date.now();
    await closedWhen(socket);
    expect(Date.now() - started).toBeLessThan(5000);
    await waitFor(() => server.openConnections === 0, 'the count to drop');
  });

  it('closes an upgraded connection that has nothing pending and no subscription (1000, idle), but not a subscribed one', async () => {
    const { server, socketPath } = await start({ idleTimeoutMs: 300 });
    const subscribed = await Client.open(socketPath);
    await subscribed.greet();
    expect(await subscribed.request('subscribe', { target: 'all', logs: true, events: true })).toMatchObject({ result: { subscribed: true } });
    const idle = await Client.open(socketPath);
    await idle.greet();
    await waitFor(() => idle.closed, 'the idle connection to be closed');
    expect(idle.closed).toEqual({ code: 1000, reason: 'idle for 0.3 s' });
    // It idled after the subscribed one had connected: that one outlived the timeout and is open.
    expect(subscribed.closed).toBeNull();
    expect(server.openConnections).toBe(1);
    const silent = await Client.open(socketPath);
    await waitFor(() => silent.closed, 'a connection that never sent anything to be closed as idle');
  });

  it('refuses requests beyond the pending limit with FAILED and answers the others', async () => {
    const { socketPath } = await start({ maxPendingRequests: 2 });
    const client = await Client.open(socketPath);
    // hello plus three pipelined pings in one go: the daemon reads them before any is answered.
    client.ws.send(JSON.stringify({ id: 1, method: 'hello', params: { protocol: PROTOCOL_VERSION } }));
    for (const id of [2, 3, 4]) client.ws.send(JSON.stringify({ id, method: 'ping', params: {} }));
    await waitFor(() => client.frames.length === 4, 'four replies');
    const byId = new Map(client.frames.map((f) => [f.id, f]));
    expect(byId.get(1)).toHaveProperty('result');
    expect(byId.get(2)).toHaveProperty('result');
    expect(byId.get(3)?.['error']).toMatchObject({ code: 'FAILED', message: expect.stringMatching(/too many requests in flight/) });
    expect(byId.get(4)?.['error']).toMatchObject({ code: 'FAILED' });
    expect(await client.request('ping')).toHaveProperty('result');
  });
});

describe('control socket: a subscriber that does not keep up', () => {
  const line = 'x'.repeat(200);
  let published = 0;
  const publishLogs = (bus: EventBus, count: number): void => {
    for (let i = 0; i < count; i++) bus.log({ app: 'web', id: 0, stream: 'out', line: `${published++} ${line}` });
  };

  it('gets its log lines dropped and counted, then one dropped event with the count once it reads again, and every process event', async () => {
    const { server, bus, socketPath } = await start({ outboundSoftBytes: 16 * KiB, outboundHardBytes: 10_000 * KiB, outboundBudgetBytes: 100_000 * KiB });
    const client = await Client.open(socketPath);
    await client.greet();
    await client.request('subscribe', { target: 'all', logs: true, events: true });
    client.stopReading();
    // Enough to fill the kernel's buffers and then the daemon's threshold many times over.
    for (let round = 0; round < 40 && server.logLinesDropped === 0; round++) {
      publishLogs(bus, 1000);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(server.logLinesDropped).toBeGreaterThan(0);
    for (let i = 0; i < 50; i++) bus.process({ app: 'web', id: 0, status: 'online', pid: 1000 + i, detail: `event ${i}` });
    publishLogs(bus, 100);
    const dropped = server.logLinesDropped;
    client.resumeReading();
    await waitFor(() => client.frames.some((f) => f.event === 'dropped'), 'the dropped marker');
    const markers = client.frames.filter((f) => f.event === 'dropped');
    expect(markers).toEqual([{ event: 'dropped', data: { lines: dropped } }]);
    const logs = client.frames.filter((f) => f.event === 'log');
    const processEvents = client.frames.filter((f) => f.event === 'process');
    // Every line published was either delivered or counted as dropped, and no process event was lost.
    expect(logs.length + dropped).toBe(published);
    expect(processEvents.map((f) => f.data?.['detail'])).toEqual(Array.from({ length: 50 }, (_, i) => `event ${i}`));
    // After the marker, lines flow again.
    const before = client.frames.length;
    publishLogs(bus, 3);
    await waitFor(() => client.frames.length === before + 3, 'new lines after catching up');
    expect(client.frames.slice(before).map((f) => f.event)).toEqual(['log', 'log', 'log']);
  });

  it('is closed with 1008 once it leaves more than the hard limit unread, and counted', async () => {
    const { server, bus, socketPath } = await start({ outboundSoftBytes: 8 * KiB, outboundHardBytes: 64 * KiB, outboundBudgetBytes: 100_000 * KiB });
    const client = await Client.open(socketPath);
    await client.greet();
    await client.request('subscribe', { target: 'all', logs: false, events: true });
    client.stopReading();
    const detail = 'y'.repeat(1000);
    for (let round = 0; round < 200 && server.closedConnections.slow === 0; round++) {
      for (let i = 0; i < 100; i++) bus.process({ app: 'web', id: 0, status: 'online', pid: 1, detail });
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(server.closedConnections.slow).toBe(1);
    client.resumeReading();
    await waitFor(() => client.closed, 'the client to see the close');
    expect(client.closed).toMatchObject({ code: 1008, reason: expect.stringMatching(/not reading/) });
    expect(server.logLinesDropped).toBe(0);
  });

  it('when unread output of all connections passes the budget, the largest holder is closed with 1013', async () => {
    const { server, bus, socketPath } = await start({ outboundSoftBytes: 8 * KiB, outboundHardBytes: 10_000 * KiB, outboundBudgetBytes: 200 * KiB });
    const slow = await Client.open(socketPath);
    await slow.greet();
    expect(await slow.request('subscribe', { target: 'all', logs: false, events: true })).toHaveProperty('result');
    const other = await Client.open(socketPath);
    await other.greet();
    slow.stopReading();
    const detail = 'z'.repeat(1000);
    for (let round = 0; round < 500 && server.closedConnections.overBudget === 0; round++) {
      for (let i = 0; i < 50; i++) bus.process({ app: 'web', id: 0, status: 'online', pid: 1, detail });
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(server.closedConnections.overBudget).toBe(1);
    slow.resumeReading();
    await waitFor(() => slow.closed, 'the slow client to see its close');
    expect(slow.closed?.code).toBe(1013);
    expect(await other.request('ping')).toHaveProperty('result');
  });
});

describe('control socket: partial input', () => {
  it('keeps partially received messages of all connections within the budget by closing the largest holder (1013)', async () => {
    const { server, socketPath } = await start({ maxMessageBytes: 256 * KiB, inboundBudgetBytes: 512 * KiB });
    const sockets = await Promise.all(Array.from({ length: 4 }, () => rawUpgrade(socketPath)));
    // Three connections each hold 200 KiB of a 256 KiB message: 600 KiB, over the budget.
    for (const socket of sockets.slice(0, 3)) socket.write(partialFrame(256 * KiB, 200 * KiB));
    await waitFor(() => server.closedConnections.overBudget === 1, 'one connection closed over budget');
    const closed = await waitFor(async () => {
      const states = sockets.slice(0, 3).map((s) => s.received());
      return states.filter((r) => r.includes('\x88')).length === 1 ? states : null;
    }, 'exactly one of the three to receive a close frame');
    const victim = closed.findIndex((r) => r.includes('\x88'));
    // The close frame carries 1013 (0x03f5).
    expect(closed[victim]).toContain('\x88');
    expect(Buffer.from(closed[victim] as string, 'latin1').includes(Buffer.from([0x03, 0xf5]))).toBe(true);
    // The fourth connection, and the two others, still work.
    const good = sockets[3] as net.Socket & { received: () => string };
    good.write(encodeFrame(OP_TEXT, Buffer.from(JSON.stringify({ id: 1, method: 'hello', params: { protocol: PROTOCOL_VERSION } })), true));
    await waitFor(() => good.received().includes('"result"'), 'hello on a fresh connection');
  });

  it('answers ping and requests on other connections while one sends a huge message byte by byte', async () => {
    const { socketPath } = await start();
    const slow = await rawUpgrade(socketPath);
    const frame = partialFrame(4 * 1024 * KiB, 4 * 1024 * KiB - 1);
    slow.write(frame);
    const client = await Client.open(socketPath);
    await client.greet();
    expect(await client.request('ping')).toHaveProperty('result');
  });
});
