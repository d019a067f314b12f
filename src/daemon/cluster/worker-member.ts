/**
 * The daemon's view of one cluster worker as a receiver of connections: which of the app's
 * sockets it listens on, whether it is in rotation, and the handles in flight to it.
 *
 * The worker acknowledges each handle in the order sent (NODE_HANDLE_ACK), so the handles in
 * flight form a queue: an ack closes our copy of the oldest one. Up to the worker's window may
 * be in flight at once (see handOffWindow). If the worker dies first, the handles not
 * acknowledged go to another worker instead of being lost with it.
 */
import type { ManagedProcess } from '../managed-process.js';
import type { Member, OwnedSocket, RawHandle } from './owned-socket.js';

export class WorkerMember implements Member {
  readonly sockets = new Map<string, OwnedSocket>();
  /** Handed connections not yet reported closed (exact under least-connections, else on demand). */
  open = 0;
  handled = 0;
  /** Set by the slot: ready and not being replaced, stopped or drained. */
  inRotation = false;
  readonly #inFlight: { key: string; handle: RawHandle }[] = [];

  constructor(
    readonly slotId: number,
    readonly worker: ManagedProcess,
  ) {
    worker.on('handleAck', () => {
      const delivered = this.#inFlight.shift();
      if (delivered) {
        delivered.handle.close();
        const socket = this.sockets.get(delivered.key);
        if (socket) socket.handedOff += 1;
      }
      this.#flushIfRoom();
    });
    worker.on('handleNack', () => {
      // Its message arrived without the descriptor: the connection is still only ours to place.
      const lost = this.#inFlight.shift();
      if (lost) {
        this.open = Math.max(0, this.open - 1);
        const socket = this.sockets.get(lost.key);
        if (socket) socket.redispatch(lost.handle);
        else lost.handle.close();
      }
      this.#flushIfRoom();
    });
  }

  get inFlight(): number {
    return this.#inFlight.length;
  }

  get saturated(): boolean {
    return this.#inFlight.length >= this.worker.handleWindow;
  }

  #flushIfRoom(): void {
    if (!this.saturated) for (const socket of this.sockets.values()) socket.flush();
  }

  get eligible(): boolean {
    return this.inRotation && this.worker.connected;
  }

  handOff(key: string, handle: RawHandle): boolean {
    if (!this.worker.sendConnection(key, handle)) return false;
    this.#inFlight.push({ key, handle });
    this.open += 1;
    this.handled += 1;
    return true;
  }

  noteClosed(count: number): void {
    this.open = Math.max(0, this.open - count);
  }

  /** Leaves every socket; connections still in flight go back to be dispatched again. */
  detach(): void {
    for (const socket of this.sockets.values()) socket.members.delete(this);
    const orphans = this.#inFlight.splice(0);
    for (const { key, handle } of orphans) {
      const socket = this.sockets.get(key);
      if (socket) socket.redispatch(handle);
      else handle.close();
    }
    this.sockets.clear();
  }
}
