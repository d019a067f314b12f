/**
 * max_memory_restart: every few seconds, for apps that set a limit (and only those, so an
 * idle daemon stays idle), sample each process's resident memory; one over the limit is
 * replaced gracefully (a reload in cluster mode, a restart in fork mode) through the app's
 * operation queue, so it never interleaves with a command.
 */
import { pidusage } from './pidusage.js';
import type { Slot } from './slot.js';

const DEFAULT_INTERVAL_MS = 5000;

export function memoryCheckInterval(env: NodeJS.ProcessEnv = process.env): number {
  const fromEnv = Number(env['SUPERVISOR_MEMORY_CHECK_MS']);
  return Number.isInteger(fromEnv) && fromEnv >= 100 ? fromEnv : DEFAULT_INTERVAL_MS;
}

export class MemoryGuard {
  readonly #timer: NodeJS.Timeout;
  readonly #busy = new Set<Slot>();

  constructor(
    private readonly limitBytes: number,
    private readonly slots: () => readonly Slot[],
    /** Replaces one process through the app's operation queue (skipped while others run). */
    private readonly replace: (slot: Slot) => Promise<void>,
    private readonly note: (slot: Slot, text: string) => void,
    intervalMs = memoryCheckInterval(),
  ) {
    this.#timer = setInterval(() => void this.#check(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async #check(): Promise<void> {
    for (const slot of this.slots()) {
      const pid = slot.worker?.pid;
      if (!pid || slot.state.status !== 'online' || this.#busy.has(slot)) continue;
      let memory: number;
      try {
        memory = (await pidusage(pid)).memory;
      } catch {
        continue;
      }
      if (memory <= this.limitBytes) continue;
      this.#busy.add(slot);
      this.note(slot, `process ${slot.id} uses ${Math.round(memory / 1048576)} MB, over max_memory_restart ${Math.round(this.limitBytes / 1048576)} MB: replacing it`);
      this.replace(slot)
        .catch((error: Error) => this.note(slot, `memory replacement of process ${slot.id} failed: ${error.message}`))
        .finally(() => this.#busy.delete(slot));
    }
  }
}
