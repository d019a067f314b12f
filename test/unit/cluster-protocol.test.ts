/**
 * The daemon's half of Node's cluster protocol, without processes: parsing what a worker's own
 * cluster code sends, the keys of listening addresses, and a worker's connections in flight
 * (answered, refused, lost, orphaned) with a fake worker and fake sockets.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { labelOf, socketKey } from '../../src/daemon/cluster/bind-target.js';
import { connectionAck, parseFromWorker, type ServerQuery } from '../../src/daemon/cluster/cluster-messages.js';
import type { RawHandle } from '../../src/daemon/cluster/owned-socket.js';
import type { ClusterSocket } from '../../src/daemon/cluster/socket-table.js';
import { WorkerMember } from '../../src/daemon/cluster/worker-member.js';
import type { WorkerProcess } from '../../src/daemon/worker-process.js';

/** A queryServer message as Node's worker sends it for listen(port, host). */
function query(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { cmd: 'NODE_CLUSTER', act: 'queryServer', seq: 3, index: 0, data: null, address: '127.0.0.1', port: 3000, addressType: 4, fd: undefined, flags: 0, backlog: 511, ...fields };
}

function parsedQuery(fields: Record<string, unknown> = {}): ServerQuery {
  const parsed = parseFromWorker(query(fields));
  if (parsed?.act !== 'queryServer' || !parsed.query) throw new Error('not a query');
  return parsed.query;
}

describe('cluster messages from a worker', () => {
  it('reads a queryServer for TCP, a path and dgram', () => {
    expect(parsedQuery()).toMatchObject({ seq: 3, address: '127.0.0.1', port: 3000, addressType: 4, fd: null, backlog: 511, index: 0 });
    expect(parsedQuery({ address: null, port: 0, index: 2 })).toMatchObject({ address: null, port: 0, index: 2 });
    expect(parsedQuery({ address: '/run/app.sock', port: -1, addressType: -1, readableAll: true })).toMatchObject({ address: '/run/app.sock', port: -1, readableAll: true });
    expect(parsedQuery({ addressType: 'udp4', fd: -1 })).toMatchObject({ addressType: 'udp4', fd: null });
  });

  it('recovers an abstract socket name that the worker resolved against its directory', () => {
    expect(parsedQuery({ address: '/srv/app/\0supervisor-test', port: -1, addressType: -1 }).address).toBe('\0supervisor-test');
  });

  it('answers even a query it cannot serve (null query, the seq kept), and drops what has no seq', () => {
    for (const bad of [{ port: 70000 }, { port: 'x' }, { addressType: 5 }, { address: 7 }, { addressType: -1, port: 3000 }, { addressType: null, port: null, address: null, fd: 5 }]) {
      expect(parseFromWorker(query(bad)), JSON.stringify(bad)).toEqual({ act: 'queryServer', seq: 3, query: null });
    }
    expect(parseFromWorker(query({ seq: -1 }))).toBeNull();
    expect(parseFromWorker(query({ seq: '3' }))).toBeNull();
  });

  it('reads the other acts and the acknowledgement of a connection', () => {
    expect(parseFromWorker({ cmd: 'NODE_CLUSTER', act: 'online', seq: 0 })).toEqual({ act: 'online' });
    expect(parseFromWorker({ cmd: 'NODE_CLUSTER', act: 'listening', seq: 4, port: 3000 })).toEqual({ act: 'listening' });
    expect(parseFromWorker({ cmd: 'NODE_CLUSTER', act: 'close', key: 'tcp:*:80', seq: 5 })).toEqual({ act: 'close', key: 'tcp:*:80' });
    expect(parseFromWorker({ cmd: 'NODE_CLUSTER', act: 'close', seq: 5 })).toBeNull();
    expect(parseFromWorker({ cmd: 'NODE_CLUSTER', act: 'exitedAfterDisconnect', seq: 6 })).toEqual({ act: 'exitedAfterDisconnect', seq: 6 });
    expect(parseFromWorker({ cmd: 'NODE_CLUSTER', act: 'newconn', seq: 6 })).toBeNull();
    expect(connectionAck({ cmd: 'NODE_CLUSTER', ack: 12, accepted: true, seq: 9 })).toEqual({ ack: 12, accepted: true });
    expect(connectionAck({ cmd: 'NODE_CLUSTER', act: 'online', seq: 0 })).toBeNull();
  });
});

describe('listening addresses', () => {
  it('one key per fixed address for the whole daemon; listen(0) keyed per app and per n-th listen', () => {
    expect(socketKey(parsedQuery(), 'a')).toBe(socketKey(parsedQuery(), 'b'));
    expect(socketKey(parsedQuery({ address: null }), 'a')).not.toBe(socketKey(parsedQuery(), 'a'));
    expect(socketKey(parsedQuery({ port: 0 }), 'a')).not.toBe(socketKey(parsedQuery({ port: 0 }), 'b'));
    expect(socketKey(parsedQuery({ port: 0, index: 1 }), 'a')).not.toBe(socketKey(parsedQuery({ port: 0 }), 'a'));
    expect(socketKey(parsedQuery({ addressType: 'udp4' }), 'a')).not.toBe(socketKey(parsedQuery(), 'a'));
  });

  it('labels addresses as describe shows them', () => {
    expect(labelOf(parsedQuery(), null)).toBe('127.0.0.1:3000');
    expect(labelOf(parsedQuery({ address: null, port: 0 }), { address: '::', family: 'IPv6', port: 4321 })).toBe('[::]:4321');
    expect(labelOf(parsedQuery({ address: '::1', addressType: 6 }), null)).toBe('[::1]:3000');
    expect(labelOf(parsedQuery({ addressType: 'udp4' }), null)).toBe('udp4 127.0.0.1:3000');
    expect(labelOf(parsedQuery({ address: '/run/a.sock', port: -1, addressType: -1 }), null)).toBe('/run/a.sock');
  });
});

class FakeHandle implements RawHandle {
  closed = false;
  close(): void {
    this.closed = true;
  }
}

/** What a member needs of a worker process: window, channel, sends; acks are emitted by the test. */
class FakeWorker extends EventEmitter {
  connected = true;
  handleWindow = 2;
  nextSeq = 100;
  readonly sent: { seq: number; key: string; handle: unknown; lost: () => void }[] = [];

  sendConnection(key: string, handle: unknown, lost: () => void): number | null {
    if (!this.connected) return null;
    const seq = this.nextSeq++;
    this.sent.push({ seq, key, handle, lost });
    return seq;
  }

  sendRuntime(): boolean {
    return this.connected;
  }
}

function fakeSocket(key: string): ClusterSocket & { redispatched: RawHandle[] } {
  const redispatched: RawHandle[] = [];
  return {
    key,
    mode: 'handoff',
    label: key,
    members: new Set(),
    error: null,
    queued: 0,
    dropped: 0,
    data: null,
    reportsCloses: false,
    ready: Promise.resolve(),
    sharedHandle: null,
    sockname: () => null,
    flush: () => undefined,
    redispatch: (handle) => redispatched.push(handle),
    close: () => undefined,
    redispatched,
  };
}

function memberOn(...keys: string[]): { worker: FakeWorker; member: WorkerMember; sockets: ReturnType<typeof fakeSocket>[]; taken: { count: number } } {
  const worker = new FakeWorker();
  const taken = { count: 0 };
  const member = new WorkerMember(7, worker as unknown as WorkerProcess, () => void (taken.count += 1));
  const sockets = keys.map((key) => {
    const socket = fakeSocket(key);
    socket.members.add(member);
    member.sockets.set(key, socket);
    return socket;
  });
  member.inRotation = true;
  return { worker, member, sockets, taken };
}

describe('a worker\'s connections in flight', () => {
  it('an accepted connection closes our copy and counts for the app; the window fills and empties with the answers', () => {
    const { worker, member, taken } = memberOn('k');
    const [a, b] = [new FakeHandle(), new FakeHandle()];
    expect(member.handOff('k', a)).toBe(true);
    expect(member.handOff('k', b)).toBe(true);
    expect(member.saturated).toBe(true);
    expect(member.handled).toBe(2);
    worker.emit('connectionAck', worker.sent[0]?.seq, true);
    expect(a.closed).toBe(true);
    expect(b.closed).toBe(false);
    expect(taken.count).toBe(1);
    expect(member.inFlight).toBe(1);
    expect(member.saturated).toBe(false);
    // An answer to something never sent, or answered twice, changes nothing.
    worker.emit('connectionAck', worker.sent[0]?.seq, true);
    worker.emit('connectionAck', 999, false);
    expect(member.inFlight).toBe(1);
    expect(taken.count).toBe(1);
  });

  it('a connection the worker did not take (its server closed) goes back to its socket; so does one that arrived without its descriptor', () => {
    const { worker, member, sockets, taken } = memberOn('k');
    const [refused, lost] = [new FakeHandle(), new FakeHandle()];
    member.handOff('k', refused);
    member.handOff('k', lost);
    worker.sent[1]?.lost();
    worker.emit('connectionAck', worker.sent[0]?.seq, false);
    expect(sockets[0]?.redispatched).toEqual([lost, refused]);
    expect(refused.closed || lost.closed).toBe(false);
    expect(member.inFlight).toBe(0);
    expect(member.open).toBe(0);
    // Two facts, one counter each: the process was offered both (handled), the app was handed none.
    expect(taken.count).toBe(0);
    expect(member.handled).toBe(2);
  });

  it('a connection still goes back to its socket after the worker left that socket', () => {
    const { worker, member, sockets } = memberOn('k');
    const handle = new FakeHandle();
    member.handOff('k', handle);
    member.leave('k');
    expect(sockets[0]?.members.has(member)).toBe(false);
    worker.emit('connectionAck', worker.sent[0]?.seq, false);
    expect(sockets[0]?.redispatched).toEqual([handle]);
  });

  it('when the channel closes, everything unanswered goes back, and the worker leaves every socket', () => {
    const { worker, member, sockets } = memberOn('a', 'b');
    const [x, y] = [new FakeHandle(), new FakeHandle()];
    member.handOff('a', x);
    member.handOff('b', y);
    worker.connected = false;
    worker.emit('disconnect');
    expect(sockets[0]?.redispatched).toEqual([x]);
    expect(sockets[1]?.redispatched).toEqual([y]);
    expect(member.sockets.size).toBe(0);
    expect(sockets.every((s) => !s.members.has(member))).toBe(true);
    expect(member.eligible).toBe(false);
    expect(member.handOff('a', new FakeHandle())).toBe(false);
  });

  it('a disconnecting worker is out of rotation; handled counts what it accepted itself on shared sockets', () => {
    const { worker, member } = memberOn('k');
    expect(member.eligible).toBe(true);
    member.disconnecting = true;
    expect(member.eligible).toBe(false);
    worker.emit('runtime', { cmd: 'NODE_SUPERVISOR', t: 'stats', seq: 1, open: 0, accepted: 41 });
    worker.emit('runtime', { cmd: 'NODE_SUPERVISOR', t: 'stats', seq: 2, open: 0, accepted: 'x' });
    expect(member.handled).toBe(41);
  });
});
