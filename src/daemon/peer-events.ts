/**
 * Turns the daemon's process status events into the peer events processes listen for
 * (`on('peer')`): a process came online, exited, or its slot got a new process. Pure, apart
 * from what it remembers per slot: the last process announced online, and whether it still is.
 *
 * - `online` status with a pid: `restart` if the slot announced another pid before (a crash
 *   and restart, `restart`, `reload`), else `online`. A reload replaces the process without
 *   a status change in between, so `restart` carries the old pid as `previousPid`.
 * - `waiting-restart`, `errored`, `stopped` after an announced process: `exit`, with its pid.
 * - `launching` and `stopping` say nothing to peers: a process that never came online was
 *   never announced, and one that is stopping still answers.
 */
import type { PeerEvent } from '../shared/messages.js';
import type { ProcessEvent } from '../shared/protocol.js';

interface Announced {
  pid: number;
  up: boolean;
}

/** The slot an event is about; identity only (a slot object lives as long as the slot). */
export interface SlotKey {
  readonly id: number;
  readonly instance: number;
}

export class PeerEvents {
  readonly #announced = new WeakMap<SlotKey, Announced>();

  translate(event: ProcessEvent, slot: SlotKey): PeerEvent | null {
    const known = this.#announced.get(slot);
    const base = { id: event.id, name: event.app, instance: slot.instance, detail: event.detail };
    switch (event.status) {
      case 'online': {
        if (event.pid === null || (known?.up && known.pid === event.pid)) return null;
        this.#announced.set(slot, { pid: event.pid, up: true });
        if (known && known.pid !== event.pid) return { ...base, event: 'restart', pid: event.pid, previousPid: known.pid };
        return { ...base, event: 'online', pid: event.pid, previousPid: null };
      }
      case 'waiting-restart':
      case 'errored':
      case 'stopped': {
        if (!known?.up) return null;
        known.up = false;
        return { ...base, event: 'exit', pid: known.pid, previousPid: null };
      }
      case 'launching':
      case 'stopping':
        return null;
    }
  }
}
