/**
 * Every listening address the daemon holds for cluster apps, by key. One table per daemon:
 * cluster apps of different names that listen on the same address share its socket, and each
 * connection goes to a worker of either (blue/green: start app-v2 on the port, then delete
 * app-v1). An address stays open while at least one app holds it; the last one to let go
 * (stopped as a whole, or deleted) closes it.
 *
 * The first app to listen on an address decides how it is served: in hand-off mode (the daemon
 * accepts, with that app's balance and queue limits) or shared (balance 'os': every worker gets
 * the socket). An app that joins later is served the same way.
 */
import type { AppSpec } from '../../shared/app-spec.js';
import { createBalancer } from './balancer.js';
import { isDatagram, type BoundAddress, type ListenError } from './bind-target.js';
import type { ServerQuery } from './cluster-messages.js';
import { OwnedSocket, type Member, type QueueLimits, type RawHandle } from './owned-socket.js';
import { SharedSocket, sharedSocketsAvailable } from './shared-socket.js';

/** What the app and the workers' listen replies need of an address, in either mode. */
export interface ClusterSocket {
  readonly key: string;
  /** 'handoff': the daemon accepts and hands each connection over; 'shared': every worker gets the socket. */
  readonly mode: 'handoff' | 'shared';
  readonly label: string;
  readonly members: Set<Member>;
  readonly error: ListenError | null;
  readonly queued: number;
  readonly dropped: number;
  /** Server data of the first worker that listened (TLS session ticket keys), given to every later one. */
  data: unknown;
  /** Whether members must report closed connections (least-connections). */
  readonly reportsCloses: boolean;
  /** Settles once the bind has; rejects with a ListenError. */
  readonly ready: Promise<void>;
  /** The listening handle every worker gets (shared mode only). */
  readonly sharedHandle: RawHandle | null;
  /** What a worker's server.address() reports (TCP in hand-off mode; a shared handle answers itself). */
  sockname(): BoundAddress | null;
  /** Hands queued connections to members that can take them now. */
  flush(): void;
  /** Places again a connection a member did not take (it never reached it, or its server had closed). */
  redispatch(handle: RawHandle, remote?: string): void;
  close(): void;
}

interface Entry {
  socket: ClusterSocket;
  /** Names of the apps holding it. */
  holders: Set<string>;
  /** The app that bound it. */
  owner: string;
}

export class SocketTable {
  readonly #entries = new Map<string, Entry>();

  /** The socket for `key`, bound now with `spec`'s settings if nobody holds it yet; `app` holds it from now on. */
  acquire(key: string, query: ServerQuery, spec: AppSpec): { socket: ClusterSocket; owner: string } {
    let entry = this.#entries.get(key);
    if (!entry) {
      entry = { socket: bindSocket(key, query, spec), holders: new Set(), owner: spec.name };
      this.#entries.set(key, entry);
    }
    entry.holders.add(spec.name);
    return { socket: entry.socket, owner: entry.owner };
  }

  /** `app` no longer holds the socket; the last holder closes it. */
  release(socket: ClusterSocket, app: string): void {
    const entry = this.#entries.get(socket.key);
    if (!entry || entry.socket !== socket) return;
    entry.holders.delete(app);
    if (entry.holders.size > 0) return;
    this.#entries.delete(socket.key);
    socket.close();
  }

  /** A socket whose bind failed: forgotten, so that the next listen tries again. */
  forget(socket: ClusterSocket): void {
    if (this.#entries.get(socket.key)?.socket === socket) this.#entries.delete(socket.key);
    socket.close();
  }

  /**
   * `app`'s spec changed (a config reload): the addresses it bound take its new strategy and
   * queue bounds. Whether an address is shared (balance 'os') stays as it was bound.
   */
  reconfigure(socket: ClusterSocket, spec: AppSpec): void {
    const entry = this.#entries.get(socket.key);
    if (entry?.socket !== socket || entry.owner !== spec.name || !(socket instanceof OwnedSocket)) return;
    socket.reconfigure(createBalancer(spec.balance), queueLimits(spec));
  }

  /** The apps holding the address, the one that bound it first. */
  holdersOf(socket: ClusterSocket): string[] {
    const entry = this.#entries.get(socket.key);
    return entry?.socket === socket ? [entry.owner, ...[...entry.holders].filter((name) => name !== entry.owner)] : [];
  }
}

function bindSocket(key: string, query: ServerQuery, spec: AppSpec): ClusterSocket {
  // Datagram sockets are always shared (there are no connections to hand over), as in node:cluster.
  const datagram = isDatagram(query);
  if ((datagram || spec.balance === 'os') && sharedSocketsAvailable(datagram)) return new SharedSocket(key, query);
  return new OwnedSocket(key, query, createBalancer(spec.balance), queueLimits(spec));
}

function queueLimits(spec: AppSpec): QueueLimits {
  return { size: spec.queueSize, timeoutMs: spec.queueTimeoutMs };
}
