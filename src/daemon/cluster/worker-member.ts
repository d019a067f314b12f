/**
 * The daemon's view of one cluster worker as a receiver of connections: which sockets it
 * listens on, whether it is in rotation, and the connections on their way to it.
 *
 * Each connection goes out as Node's `newconn` with a sequence number, and the worker's own
 * cluster code answers `{ ack: seq, accepted }`: taken (our copy is closed) or not, because the
 * server it was for has closed (our copy goes to another worker). Up to the worker's window may
 * be unanswered at once (see handOffWindow). A message that reaches the worker without its
 * descriptor (NODE_HANDLE_NACK) is never answered: that connection is dispatched again. If the
 * worker dies or disconnects first, everything unanswered goes to another worker instead of
 * being lost with it.
 */
import type { ManagedProcess } from '../managed-process.js';
import type { Member, RawHandle } from './owned-socket.js';
import type { ClusterSocket } from './socket-table.js';

interface InFlight {
  seq: number;
  /** Where it came from, and where it goes back to if the worker does not take it. */
  socket: ClusterSocket;
  handle: RawHandle;
  /** The client's address under sticky-ip, so a re-dispatch keeps the client's worker. */
  remote: string | undefined;
}

export class WorkerMember implements Member {
  readonly sockets = new Map<string, ClusterSocket>();
  /** Handed connections not yet reported closed (exact under least-connections, else on demand). */
  open = 0;
  /** Connections it accepted itself on shared sockets, as it last reported (balance 'os'). */
  acceptedItself = 0;
  /** Set by the slot: ready and not being replaced, stopped or drained. */
  inRotation = false;
  /** It called cluster.worker.disconnect() (or destroy()): it is leaving and takes nothing new. */
  disconnecting = false;
  /**
   * Connections sent to the process since it started, taken or not (`handled` in list). Not the
   * app's `handedOff` (metrics), which counts only those a worker answered it took (`onTaken`).
   */
  #offered = 0;
  #reportsCloses = false;
  readonly #inFlight: InFlight[] = [];

  constructor(
    readonly slotId: number,
    readonly worker: ManagedProcess,
    /**
     * A connection was taken. Counted for the member's app, not on the socket: apps of different
     * names can share one address (blue/green), and each app's figure must be its own workers'.
     */
    private readonly onTaken: () => void = () => undefined,
  ) {
    worker.on('connectionAck', (seq, accepted) => this.#answered(seq, accepted));
    worker.on('runtime', (message) => {
      if (message.t === 'stats' && Number.isSafeInteger(message.accepted)) this.acceptedItself = message.accepted;
    });
    // A closed channel delivers nothing more: what is on its way goes elsewhere now.
    worker.on('disconnect', () => this.detach());
  }

  get handled(): number {
    return this.#offered + this.acceptedItself;
  }

  get inFlight(): number {
    return this.#inFlight.length;
  }

  get saturated(): boolean {
    return this.#inFlight.length >= this.worker.handleWindow;
  }

  get eligible(): boolean {
    return this.inRotation && !this.disconnecting && this.worker.connected;
  }

  handOff(key: string, handle: RawHandle, remote?: string): boolean {
    const socket = this.sockets.get(key);
    if (!socket) return false;
    const seq = this.worker.sendConnection(key, handle, () => this.#lost(seq as number));
    if (seq === null) return false;
    this.#inFlight.push({ seq, socket, handle, remote });
    this.open += 1;
    this.#offered += 1;
    return true;
  }

  /** Asks the worker to report closed connections, once. */
  reportCloses(): void {
    if (this.#reportsCloses) return;
    this.#reportsCloses = this.worker.sendRuntime({ t: 'report-closes' });
  }

  noteClosed(count: number): void {
    this.open = Math.max(0, this.open - count);
  }

  /** Leaves one socket (the worker closed its server); what is on its way still gets answered. */
  leave(key: string): void {
    this.sockets.get(key)?.members.delete(this);
    this.sockets.delete(key);
  }

  /** Leaves every socket; connections still unanswered go back to be dispatched again. */
  detach(): void {
    for (const socket of this.sockets.values()) socket.members.delete(this);
    this.sockets.clear();
    for (const { socket, handle, remote } of this.#inFlight.splice(0)) socket.redispatch(handle, remote);
  }

  #answered(seq: number, accepted: boolean): void {
    const entry = this.#take(seq);
    if (!entry) return;
    if (accepted) {
      entry.handle.close();
      this.onTaken();
    } else {
      // Its server closed before the connection arrived; the worker closed its copy, ours goes on.
      this.open = Math.max(0, this.open - 1);
      entry.socket.redispatch(entry.handle, entry.remote);
    }
    this.#flushIfRoom();
  }

  /** The message arrived without its descriptor: the connection is still only ours to place. */
  #lost(seq: number): void {
    const entry = this.#take(seq);
    if (!entry) return;
    this.open = Math.max(0, this.open - 1);
    entry.socket.redispatch(entry.handle, entry.remote);
    this.#flushIfRoom();
  }

  #take(seq: number): InFlight | undefined {
    // Answers come in the order sent, so this is almost always the first entry.
    const at = this.#inFlight.findIndex((entry) => entry.seq === seq);
    return at < 0 ? undefined : this.#inFlight.splice(at, 1)[0];
  }

  #flushIfRoom(): void {
    if (!this.saturated) for (const socket of this.sockets.values()) socket.flush();
  }
}
