import { describe, expect, it } from 'vitest';
import { PeerEvents, type SlotKey } from '../../src/daemon/peer-events.js';
import { checkRuntimeMessage, isTarget } from '../../src/daemon/messages/validate.js';
import { MESSAGE_LIMITS } from '../../src/shared/messages.js';
import { OutboundQueue } from '../../src/shared/outbound-queue.js';
import type { ProcessEvent, ProcessStatus } from '../../src/shared/protocol.js';
import type { WorkerToDaemon } from '../../src/shared/worker-messages.js';

const slot: SlotKey = { id: 3, instance: 1 };
const event = (status: ProcessStatus, pid: number | null, detail = 'x'): ProcessEvent => ({ app: 'worker', id: 3, status, pid, detail });

describe('PeerEvents', () => {
  it('announces a first start as online, a crash as exit, the next start as restart with both pids', () => {
    const peers = new PeerEvents();
    expect(peers.translate(event('launching', 100), slot)).toBeNull();
    expect(peers.translate(event('online', 100, 'ready'), slot)).toEqual({ event: 'online', id: 3, name: 'worker', instance: 1, pid: 100, previousPid: null, detail: 'ready' });
    expect(peers.translate(event('waiting-restart', null, 'exited with code 1'), slot)).toMatchObject({ event: 'exit', pid: 100, detail: 'exited with code 1' });
    expect(peers.translate(event('launching', 200), slot)).toBeNull();
    expect(peers.translate(event('online', 200), slot)).toMatchObject({ event: 'restart', pid: 200, previousPid: 100 });
  });

  it('reads a reload (online with a new pid, nothing between) as one restart', () => {
    const peers = new PeerEvents();
    peers.translate(event('online', 100), slot);
    expect(peers.translate(event('online', 101), slot)).toMatchObject({ event: 'restart', pid: 101, previousPid: 100 });
    expect(peers.translate(event('online', 101), slot)).toBeNull();
  });

  it('says nothing of a process that never came online, and announces an exit once', () => {
    const peers = new PeerEvents();
    peers.translate(event('launching', 100), slot);
    expect(peers.translate(event('errored', null), slot)).toBeNull();
    peers.translate(event('online', 101), slot);
    expect(peers.translate(event('stopping', 101), slot)).toBeNull();
    expect(peers.translate(event('stopped', null), slot)).toMatchObject({ event: 'exit', pid: 101 });
    expect(peers.translate(event('stopped', null), slot)).toBeNull();
  });

  it('keeps slots apart', () => {
    const peers = new PeerEvents();
    const other: SlotKey = { id: 4, instance: 0 };
    peers.translate(event('online', 100), slot);
    expect(peers.translate({ ...event('online', 200), id: 4 }, other)).toMatchObject({ event: 'online', id: 4, instance: 0 });
  });
});

describe('checkRuntimeMessage', () => {
  const m = (fields: Record<string, unknown>): WorkerToDaemon => ({ cmd: 'NODE_SUPERVISOR', ...fields }) as unknown as WorkerToDaemon;

  it('passes well-formed messages and ignores kinds that are not the router’s', () => {
    expect(checkRuntimeMessage(m({ t: 'msg', seq: 1, to: 'web', payload: '1' }))).not.toBeNull();
    expect(checkRuntimeMessage(m({ t: 'req', seq: 2, to: { app: 'web', instance: 0 }, payload: '"x"' }))).not.toBeNull();
    expect(checkRuntimeMessage(m({ t: 'answer', rid: 5, payload: 'null' }))).not.toBeNull();
    expect(checkRuntimeMessage(m({ t: 'wants', messages: true, requests: false, peers: false }))).not.toBeNull();
    expect(checkRuntimeMessage(m({ t: 'peers', seq: 3, app: null }))).not.toBeNull();
    expect(checkRuntimeMessage(m({ t: 'drained' }))).toBe('ignore');
  });

  it('rejects what an app could forge', () => {
    for (const bad of [
      { t: 'msg', seq: 0, to: 'web', payload: '1' },
      { t: 'msg', seq: 1, to: 'web', payload: { not: 'text' } },
      { t: 'req', seq: 1.5, to: 'web', payload: '1' },
      { t: 'req', seq: 1, to: -3, payload: '1' },
      { t: 'req', seq: 1, to: { app: 'web' }, payload: '1' },
      { t: 'cancel', seq: 'x' },
      { t: 'answer', rid: 1 },
      { t: 'answer', rid: 1, error: 'boom' },
      { t: 'peers', seq: 1, app: 7 },
      { t: 'wants', messages: 'yes', requests: false, peers: false },
    ]) {
      expect(checkRuntimeMessage(m(bad)), JSON.stringify(bad)).toBeNull();
    }
  });

  it('keeps only the string fields of an error, bounded', () => {
    const checked = checkRuntimeMessage(m({ t: 'answer', rid: 1, error: { message: 'x'.repeat(10_000), name: 'E', code: 9, stack: 'long' } }));
    expect(checked).toEqual({ cmd: 'NODE_SUPERVISOR', t: 'answer', rid: 1, error: { message: 'x'.repeat(4096), name: 'E' } });
  });
});

describe('isTarget', () => {
  it('takes ids, app names and { app, instance }', () => {
    expect([0, 12, 'web', { app: 'web', instance: 0 }].every(isTarget)).toBe(true);
    expect([-1, 1.5, '', 'x'.repeat(201), null, {}, { app: 'web', instance: -1 }, [1]].some(isTarget)).toBe(false);
  });
});

describe('OutboundQueue', () => {
  it('counts messages and characters until they leave', () => {
    const queue = new OutboundQueue();
    queue.add(10);
    queue.add(5);
    expect([queue.messages, queue.chars]).toEqual([2, 15]);
    queue.remove(10);
    expect([queue.messages, queue.chars]).toEqual([1, 5]);
    queue.remove(5);
    expect([queue.messages, queue.chars]).toEqual([0, 0]);
  });

  it('has room up to maxQueuedChars characters, the limit itself included', () => {
    const queue = new OutboundQueue();
    expect(queue.hasRoom(MESSAGE_LIMITS.maxQueuedChars)).toBe(true);
    expect(queue.hasRoom(MESSAGE_LIMITS.maxQueuedChars + 1)).toBe(false);
    queue.add(MESSAGE_LIMITS.maxQueuedChars - 1);
    expect(queue.hasRoom(1)).toBe(true);
    expect(queue.hasRoom(2)).toBe(false);
    queue.remove(MESSAGE_LIMITS.maxQueuedChars - 1);
    expect(queue.hasRoom(2)).toBe(true);
  });

  it('has room for maxQueuedMessages messages, however small', () => {
    const queue = new OutboundQueue();
    for (let i = 0; i < MESSAGE_LIMITS.maxQueuedMessages - 1; i++) queue.add(0);
    expect(queue.hasRoom(0)).toBe(true);
    queue.add(0);
    expect(queue.hasRoom(0)).toBe(false);
    queue.remove(0);
    expect(queue.hasRoom(0)).toBe(true);
  });
});
