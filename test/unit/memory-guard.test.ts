/**
 * The memory guard on a fake clock with a fake sampler: one sample for all processes per
 * check, never two checks at once, replacements only of online processes over the limit.
 */
import { describe, expect, it } from 'vitest';
import { MemoryGuard, type MemorySampler } from '../../src/daemon/memory-guard.js';
import type { Slot } from '../../src/daemon/slot.js';
import { FakeClock, settleMicrotasks } from './fakes.js';

const MB = 1048576;

function fakeSlot(id: number, pid: number | null, status = 'online'): Slot {
  return { id, worker: pid === null ? null : { pid }, state: { status } } as unknown as Slot;
}

interface Rig {
  clock: FakeClock;
  calls: number[][];
  replaced: number[];
  notes: string[];
  guard: MemoryGuard;
}

function rig(slots: Slot[], sample: MemorySampler, replace: (slot: Slot) => Promise<void> = async () => undefined): Rig {
  const clock = new FakeClock();
  const calls: number[][] = [];
  const replaced: number[] = [];
  const notes: string[] = [];
  const guard = new MemoryGuard(
    100 * MB,
    () => slots,
    (slot) => {
      replaced.push(slot.id);
      return replace(slot);
    },
    (slot, text) => notes.push(`${slot.id}: ${text}`),
    {
      clock,
      intervalMs: 1000,
      sample: (pids) => {
        calls.push(pids);
        return sample(pids);
      },
    },
  );
  return { clock, calls, replaced, notes, guard };
}

describe('MemoryGuard', () => {
  it('samples every online process in one call per check and replaces those over the limit', async () => {
    const slots = [fakeSlot(1, 101), fakeSlot(2, 102), fakeSlot(3, 103, 'launching'), fakeSlot(4, null, 'stopped')];
    const { clock, calls, replaced, notes, guard } = rig(slots, async () => ({ 101: { memory: 50 * MB }, 102: { memory: 150 * MB } }));
    await clock.advance(999);
    expect(calls).toEqual([]);
    await clock.advance(1);
    expect(calls).toEqual([[101, 102]]);
    expect(replaced).toEqual([2]);
    expect(notes).toEqual(['2: process 2 uses 150 MB, over max_memory_restart 100 MB: replacing it']);
    await clock.advance(1000);
    expect(calls).toHaveLength(2);
    guard.stop();
    await clock.advance(5000);
    expect(calls).toHaveLength(2);
    expect(clock.pending).toBe(0);
  });

  it('never starts a second sample while one is still running', async () => {
    let finish: (usage: Record<number, { memory: number }>) => void = () => undefined;
    const { clock, calls, replaced, guard } = rig([fakeSlot(1, 101)], () => new Promise((resolve) => (finish = resolve)));
    await clock.advance(1000);
    expect(calls).toHaveLength(1);
    // Ten intervals pass while the sample hangs: no second one starts.
    await clock.advance(10_000);
    expect(calls).toHaveLength(1);
    finish({ 101: { memory: 200 * MB } });
    await settleMicrotasks();
    expect(replaced).toEqual([1]);
    // The next check comes one interval after the slow one ended.
    await clock.advance(999);
    expect(calls).toHaveLength(1);
    await clock.advance(1);
    expect(calls).toHaveLength(2);
    guard.stop();
  });

  it('leaves alone a process being replaced, one replaced or stopped during the sample, and one the sample missed', async () => {
    const slots = [fakeSlot(1, 101), fakeSlot(2, 102), fakeSlot(3, 103), fakeSlot(4, 104)];
    let endReplacement: () => void = () => undefined;
    let duringSample: () => void = () => undefined;
    const { clock, calls, replaced, guard } = rig(
      slots,
      async () => {
        duringSample();
        return { 101: { memory: 200 * MB }, 102: { memory: 200 * MB }, 103: { memory: 200 * MB } };
      },
      () => new Promise<void>((resolve) => (endReplacement = resolve)),
    );
    duringSample = () => {
      (slots[1] as unknown as { worker: { pid: number } }).worker = { pid: 202 }; // restarted meanwhile
      (slots[2] as unknown as { state: { status: string } }).state = { status: 'stopping' };
    };
    await clock.advance(1000);
    expect(replaced).toEqual([1]);
    duringSample = () => undefined;
    // Still over the limit, but its replacement has not finished: not sampled, not replaced again.
    await clock.advance(1000);
    expect(calls[1]).not.toContain(101);
    expect(replaced).toEqual([1]);
    endReplacement();
    await settleMicrotasks();
    await clock.advance(1000);
    expect(calls[2]).toContain(101);
    expect(replaced).toEqual([1, 1]);
    guard.stop();
  });

  it('keeps checking after a sample fails', async () => {
    let fail = true;
    const { clock, calls, replaced, guard } = rig([fakeSlot(1, 101)], async () => {
      if (fail) throw new Error('gone');
      return { 101: { memory: 500 * MB } };
    });
    await clock.advance(1000);
    fail = false;
    await clock.advance(1000);
    expect(calls).toHaveLength(2);
    expect(replaced).toEqual([1]);
    guard.stop();
  });
});
