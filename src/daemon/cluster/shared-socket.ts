/**
 * A listening address whose socket every worker gets (balance 'os', and every dgram socket):
 * the daemon binds it, sends each worker the bound handle in its listen reply, and never polls
 * its own copy. Each worker listens and accepts on its copy, so the kernel decides which
 * worker's accept() wins; no connection passes through the daemon.
 *
 * The daemon's copy is what keeps the port: once a worker has called listen() on it, the
 * kernel socket stays in LISTEN for as long as any process holds it, so while no worker is up
 * (a crash, a restart) connections wait in the kernel's backlog and are accepted by the next
 * worker that listens. The backlog is the queue: queue_size and queue_timeout do not apply.
 *
 * Binding uses the same helpers Node's own cluster primary uses (net._createServerHandle,
 * dgram._createSocketHandle): undocumented, so feature-detected by sharedSocketsAvailable().
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { constants } from 'node:os';
import { bindPath, isDatagram, labelOf, listenErrorOf, type BoundAddress, type ListenError } from './bind-target.js';
import type { ServerQuery } from './cluster-messages.js';
import type { Member, RawHandle } from './owned-socket.js';
import type { ClusterSocket } from './socket-table.js';

interface BoundHandle extends RawHandle {
  getsockname?(out: Record<string, unknown>): number;
}

type CreateHandle = (address: string | null, port: number, addressType: ServerQuery['addressType'], fd: undefined, flags: number) => BoundHandle | number;

const netInternals = net as unknown as { _createServerHandle?: CreateHandle };
const dgramInternals = dgram as unknown as { _createSocketHandle?: CreateHandle };

/** Whether this Node can bind a handle without listening on it, for TCP and paths (and for dgram). */
export function sharedSocketsAvailable(datagram = false): boolean {
  return typeof (datagram ? dgramInternals._createSocketHandle : netInternals._createServerHandle) === 'function';
}

const UV_EADDRINUSE = -constants.errno.EADDRINUSE;

export class SharedSocket implements ClusterSocket {
  readonly mode = 'shared';
  readonly members = new Set<Member>();
  readonly queued = 0;
  readonly dropped = 0;
  readonly reportsCloses = false;
  data: unknown = null;
  error: ListenError | null = null;
  #handle: BoundHandle | null = null;
  #bound: BoundAddress | null = null;
  readonly ready: Promise<void>;

  constructor(
    readonly key: string,
    readonly query: ServerQuery,
  ) {
    this.ready = this.#bind();
  }

  get label(): string {
    return labelOf(this.query, this.#bound);
  }

  get sharedHandle(): RawHandle | null {
    return this.#handle;
  }

  sockname(): BoundAddress | null {
    return this.#bound;
  }

  /** Nothing to hand out: workers accept themselves. */
  flush(): void {}

  /** Never called: nothing is handed over from a shared socket. */
  redispatch(handle: RawHandle, _remote?: string): void {
    handle.close();
  }

  close(): void {
    this.#handle?.close();
    this.#handle = null;
    this.members.clear();
  }

  async #bind(): Promise<void> {
    const { address, port, addressType, flags } = this.query;
    const where = addressType === -1 ? bindPath(address ?? '') : address;
    const result = isDatagram(this.query) ? createDatagramHandle(where, port, addressType, flags) : (netInternals._createServerHandle as CreateHandle)(where, port, addressType, undefined, flags);
    if (typeof result === 'number') {
      this.error = listenErrorOf(result);
      throw this.error;
    }
    if (result.getsockname) {
      const out: Record<string, unknown> = {};
      result.getsockname(out);
      // libuv reports EADDRINUSE only at listen(); a port other than the one asked for means
      // the bind failed (the check Node's net does on a handle from the primary).
      if (port > 0 && out['port'] !== port) {
        result.close();
        this.error = listenErrorOf(UV_EADDRINUSE);
        throw this.error;
      }
      if (typeof out['address'] === 'string' && typeof out['port'] === 'number') {
        this.#bound = { address: out['address'], family: String(out['family']), port: out['port'] };
      }
    }
    this.#handle = result;
  }
}

/** dgram's helper is deprecated (DEP0112) for apps; the daemon uses it as Node's primary does, without the warning. */
function createDatagramHandle(address: string | null, port: number, addressType: ServerQuery['addressType'], flags: number): BoundHandle | number {
  const quiet = process.noDeprecation;
  process.noDeprecation = true;
  try {
    return (dgramInternals._createSocketHandle as CreateHandle)(address, port, addressType, undefined, flags);
  } finally {
    process.noDeprecation = quiet;
  }
}
