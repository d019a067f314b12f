/**
 * OwnedSocket's dispatch and queue with fake workers and fake connection handles: which worker
 * gets each connection, when it waits, and when it is dropped. Each socket binds a loopback
 * port (the constructor binds) that no client ever connects to; the connections are placed as
 * the accept callback would place them.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createBalancer, StickyIp } from '../../src/daemon/cluster/balancer.js';
import { OwnedSocket, type Member, type RawHandle } from '../../src/daemon/cluster/owned-socket.js';
import type { BalanceStrategy } from '../../src/shared/app-spec.js';
import type { ServerQuery } from '../../src/daemon/cluster/cluster-messages.js';

class FakeHandle implements RawHandle {
  closed = false;
  constructor(readonly label: string) {}
  close(): void {
    this.closed = true;
  }
}

/** A worker as the socket sees it: a window of unacknowledged hand-offs, acknowledged on demand. */
class FakeWorker implements Member {
  readonly open = 0;
  eligible = true;
  channelOpen = true;
  readonly received: FakeHandle[] = [];
  readonly #inFlight: FakeHandle[] = [];

  constructor(
    readonly slotId: number,
    public window: number,
    private readonly socket: () => OwnedSocket,
  ) {}

  get inFlight(): number {
    return this.#inFlight.length;
  }

  get saturated(): boolean {
    return this.#inFlight.length >= this.window;
  }

  handOff(_key: string, handle: RawHandle): boolean {
    if (!this.channelOpen) return false;
    this.#inFlight.push(handle as FakeHandle);
    this.received.push(handle as FakeHandle);
    return true;
  }

  /** Acknowledges the oldest hand-off; with room again, the socket's queue is flushed (as WorkerMember does). */
  ack(count = 1): void {
    for (let i = 0; i < count; i++) this.#inFlight.shift();
    if (!this.saturated) this.socket().flush();
  }

  labels(): string[] {
    return this.received.map((h) => h.label);
  }
}

const QUERY: ServerQuery = { seq: 0, address: '127.0.0.1', port: 0, addressType: 4, fd: null, flags: 0, backlog: 511, index: 0, readableAll: false, writableAll: false, data: null };
const opened: OwnedSocket[] = [];

function setup(strategy: BalanceStrategy, workers: number, options: { window?: number; size?: number; timeoutMs?: number } = {}) {
  const socket = new OwnedSocket('k', QUERY, createBalancer(strategy), { size: options.size ?? 100, timeoutMs: options.timeoutMs ?? 10_000 });
  opened.push(socket);
  const members = Array.from({ length: workers }, (_, slotId) => new FakeWorker(slotId, options.window ?? 2, () => socket));
  for (const member of members) socket.members.add(member);
  return { socket, members };
}

/** Client addresses that sticky-ip maps to each of `workers` slots (by the real hash). */
function addressesBySlot(workers: number, perSlot: number): string[][] {
  const sticky = new StickyIp();
  const candidates = Array.from({ length: workers }, (_, slotId) => ({ slotId, open: 0 }));
  const out: string[][] = Array.from({ length: workers }, () => []);
  for (let i = 0; out.some((list) => list.length < perSlot); i++) {
    const address = `10.1.${i >> 8}.${i & 255}`;
    const list = out[sticky.pick(candidates, address).slotId] as string[];
    if (list.length < perSlot) list.push(address);
  }
  return out;
}

function place(socket: OwnedSocket, label: string, remote: string | undefined): FakeHandle {
  const handle = new FakeHandle(label);
  socket.place(handle, remote);
  return handle;
}

afterEach(() => {
  for (const socket of opened.splice(0)) socket.close();
  vi.useRealTimers();
});

describe('OwnedSocket under sticky-ip', () => {
  const [toZero, toOne] = addressesBySlot(2, 4) as [string[], string[]];

  it('keeps each client on its worker while that worker has room', () => {
    const { socket, members } = setup('sticky-ip', 2, { window: 16 });
    for (let i = 0; i < 3; i++) {
      place(socket, `a${i}`, toZero[0]);
      place(socket, `b${i}`, toOne[0]);
    }
    expect(members[0]?.labels()).toEqual(['a0', 'a1', 'a2']);
    expect(members[1]?.labels()).toEqual(['b0', 'b1', 'b2']);
    expect(socket.queued).toBe(0);
  });

  it('a saturated pinned worker gets no more than its window: its clients wait in the queue, then go to it in order as it acknowledges', () => {
    const { socket, members } = setup('sticky-ip', 2, { window: 2 });
    const [zero, one] = members as [FakeWorker, FakeWorker];
    for (let i = 0; i < 5; i++) place(socket, `a${i}`, toZero[i % toZero.length]);
    expect(zero.inFlight).toBe(2);
    expect(zero.labels()).toEqual(['a0', 'a1']);
    expect(socket.queued).toBe(3);
    // Not handed to the other worker, though it has room: the clients stay with their worker.
    expect(one.received).toEqual([]);
    zero.ack();
    expect(zero.labels()).toEqual(['a0', 'a1', 'a2']);
    zero.ack(2);
    expect(zero.labels()).toEqual(['a0', 'a1', 'a2', 'a3', 'a4']);
    expect(socket.queued).toBe(0);
    expect(socket.dropped).toBe(0);
  });

  it('clients of other workers are not held up behind a stuck worker\'s waiting clients', () => {
    const { socket, members } = setup('sticky-ip', 2, { window: 1 });
    const [zero, one] = members as [FakeWorker, FakeWorker];
    place(socket, 'a0', toZero[0]);
    place(socket, 'b0', toOne[0]);
    // Worker 0 is stuck (never acknowledges); its clients queue up.
    for (let i = 1; i <= 3; i++) place(socket, `a${i}`, toZero[0]);
    // Worker 1 is saturated too, so its next client waits behind worker 0's.
    place(socket, 'b1', toOne[1]);
    place(socket, 'b2', toOne[2]);
    expect(socket.queued).toBe(5);
    one.ack();
    expect(one.labels()).toEqual(['b0', 'b1']);
    one.ack();
    expect(one.labels()).toEqual(['b0', 'b1', 'b2']);
    expect(zero.labels()).toEqual(['a0']);
    expect(socket.queued).toBe(3);
  });

  it('counts connections for a saturated worker as dropped when the queue is full, and closes them', () => {
    const { socket, members } = setup('sticky-ip', 2, { window: 1, size: 2 });
    place(socket, 'a0', toZero[0]);
    const waiting = [place(socket, 'a1', toZero[0]), place(socket, 'a2', toZero[0])];
    const overflow = place(socket, 'a3', toZero[0]);
    expect(socket.queued).toBe(2);
    expect(socket.dropped).toBe(1);
    expect(overflow.closed).toBe(true);
    expect(waiting.map((h) => h.closed)).toEqual([false, false]);
    expect(members[1]?.received).toEqual([]);
  });

  it('closes connections that waited queue_timeout for their saturated worker, and counts them', () => {
    vi.useFakeTimers();
    const { socket, members } = setup('sticky-ip', 2, { window: 1, timeoutMs: 1000 });
    place(socket, 'a0', toZero[0]);
    const first = place(socket, 'a1', toZero[0]);
    vi.advanceTimersByTime(600);
    const second = place(socket, 'a2', toZero[0]);
    vi.advanceTimersByTime(400);
    expect(first.closed).toBe(true);
    expect(second.closed).toBe(false);
    expect(socket.dropped).toBe(1);
    vi.advanceTimersByTime(600);
    expect(second.closed).toBe(true);
    expect(socket.dropped).toBe(2);
    expect(socket.queued).toBe(0);
    // Nothing left pinned: the worker's next acknowledgement finds nothing to send.
    members[0]?.ack();
    expect(members[0]?.labels()).toEqual(['a0']);
  });

  it('connections waiting for a worker that leaves rotation go where their address now maps', () => {
    const { socket, members } = setup('sticky-ip', 3, { window: 1 });
    const [zero, one, two] = members as [FakeWorker, FakeWorker, FakeWorker];
    one.window = two.window = 16;
    const clients = addressesBySlot(3, 6)[0] as string[];
    place(socket, 'first', clients[0]);
    clients.forEach((address, i) => place(socket, `w${i}`, address));
    expect(socket.queued).toBe(6);
    zero.eligible = false;
    socket.flush();
    expect(socket.queued).toBe(0);
    // The same rendezvous hash over the two left decides: each waiting client moves as a new one would.
    const sticky = new StickyIp();
    const remaining = [{ slotId: 1, open: 0 }, { slotId: 2, open: 0 }];
    const servedBy = (label: string): number => (one.labels().includes(label) ? 1 : two.labels().includes(label) ? 2 : -1);
    expect(clients.map((_, i) => servedBy(`w${i}`))).toEqual(clients.map((address) => sticky.pick(remaining, address).slotId));
    expect(one.received.length + two.received.length).toBe(6);
  });

  it('a connection whose worker\'s channel has just gone goes to the next choice', () => {
    const { socket, members } = setup('sticky-ip', 2, { window: 4 });
    const [zero, one] = members as [FakeWorker, FakeWorker];
    zero.channelOpen = false;
    place(socket, 'a0', toZero[0]);
    expect(one.labels()).toEqual(['a0']);
  });

  it('connections without an address (re-dispatched ones) never go to a saturated worker', () => {
    const { socket, members } = setup('sticky-ip', 2, { window: 1 });
    const [zero, one] = members as [FakeWorker, FakeWorker];
    place(socket, 'a0', toZero[0]);
    socket.redispatch(new FakeHandle('r0'));
    socket.redispatch(new FakeHandle('r1'));
    expect(zero.labels()).toEqual(['a0']);
    expect(one.labels()).toEqual(['r0']);
    expect(socket.queued).toBe(1);
    zero.ack();
    expect(zero.labels()).toEqual(['a0', 'r1']);
  });

  it('with no worker in rotation, connections wait unpinned and go by address once one is back', () => {
    const { socket, members } = setup('sticky-ip', 2, { window: 4 });
    for (const member of members) member.eligible = false;
    place(socket, 'a0', toZero[0]);
    place(socket, 'b0', toOne[0]);
    expect(socket.queued).toBe(2);
    for (const member of members) member.eligible = true;
    socket.flush();
    expect(members[0]?.labels()).toEqual(['a0']);
    expect(members[1]?.labels()).toEqual(['b0']);
  });
});

describe('OwnedSocket under round-robin', () => {
  it('passes over a saturated worker, queues when all are, and hands out in arrival order on the next acknowledgement', () => {
    const { socket, members } = setup('round-robin', 2, { window: 1 });
    const [zero, one] = members as [FakeWorker, FakeWorker];
    for (let i = 0; i < 4; i++) place(socket, `c${i}`, undefined);
    expect(zero.labels()).toEqual(['c0']);
    expect(one.labels()).toEqual(['c1']);
    expect(socket.queued).toBe(2);
    one.ack();
    expect(one.labels()).toEqual(['c1', 'c2']);
    zero.ack();
    expect(zero.labels()).toEqual(['c0', 'c3']);
    expect(socket.queued).toBe(0);
  });
});
