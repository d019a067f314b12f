/**
 * max_memory_restart: every few seconds, for apps that set a limit (and only those, so an
 * idle daemon stays idle), sample each process's resident memory; one over the limit is
 * replaced gracefully (a reload in cluster mode, a restart in fork mode) through the app's
 * operation queue, so it never interleaves with a command.
 */
import { type Clock, systemClock, type Timer } from './clock.js';
import { sampleUsage } from './metrics.js';
import type { Slot } from './slot.js';

const DEFAULT_INTERVAL_MS = 5000;

function memoryCheckInterval(env: NodeJS.ProcessEnv = process.env): number {
  const fromEnv = Number(env['SUPERVISOR_MEMORY_CHECK_MS']);
  return Number.isInteger(fromEnv) && fromEnv >= 100 ? fromEnv : DEFAULT_INTERVAL_MS;
}

/** Resident bytes by pid, for the pids it could read (a vanished one is left out). */
export type MemorySampler = (pids: number[]) => Promise<Record<number, { memory: number }>>;

interface MemoryGuardOptions {
  intervalMs?: number;
  clock?: Clock;
  /** How the processes are sampled (unit tests pass a fake). */
  sample?: MemorySampler;
}

export class MemoryGuard {
  readonly #intervalMs: number;
  readonly #clock: Clock;
  readonly #sample: MemorySampler;
  #timer: Timer | null = null;
  #stopped = false;
  readonly #busy = new Set<Slot>();

  constructor(
    private readonly limitBytes: number,
    private readonly slots: () => readonly Slot[],
    /** Replaces one process through the app's operation queue (skipped while others run). */
    private readonly replace: (slot: Slot) => Promise<void>,
    private readonly note: (slot: Slot, text: string) => void,
    options: MemoryGuardOptions = {},
  ) {
    this.#intervalMs = options.intervalMs ?? memoryCheckInterval();
    this.#clock = options.clock ?? systemClock;
    this.#sample = options.sample ?? sampleUsage;
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  /**
   * The next check is armed only once this one has finished, so a slow sample (a loaded
   * machine, many processes) delays the next check instead of running a second one beside it.
   */
  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      void this.#check().finally(() => this.#schedule());
    }, this.#intervalMs);
  }

  async #check(): Promise<void> {
    const due = new Map<Slot, number>();
    for (const slot of this.slots()) {
      const pid = slot.worker?.pid;
      if (pid && slot.state.status === 'online' && !this.#busy.has(slot)) due.set(slot, pid);
    }
    if (due.size === 0) return;
    // One sample for every process: the sampler reads the system's figures once per call, not per pid.
    let usage: Record<number, { memory: number }>;
    try {
      usage = await this.#sample([...due.values()]);
    } catch {
      return;
    }
    if (this.#stopped) return;
    for (const [slot, pid] of due) {
      const memory = usage[pid]?.memory;
      // Left out of the sample (it exited), or replaced, stopped or being replaced since.
      if (memory === undefined || memory <= this.limitBytes) continue;
      if (slot.worker?.pid !== pid || slot.state.status !== 'online' || this.#busy.has(slot)) continue;
      this.#busy.add(slot);
      this.note(slot, `process ${slot.id} uses ${Math.round(memory / 1048576)} MB, over max_memory_restart ${Math.round(this.limitBytes / 1048576)} MB: replacing it`);
      this.replace(slot)
        .catch((error: Error) => this.note(slot, `memory replacement of process ${slot.id} failed: ${error.message}`))
        .finally(() => this.#busy.delete(slot));
    }
  }
}
