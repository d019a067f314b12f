/**
 * Cluster mode: the daemon starts the worker with NODE_UNIQUE_ID, so it is a real Node cluster
 * worker (`cluster.isWorker`, `cluster.worker.id`, `worker.disconnect()`), and Node's own
 * worker code asks the daemon, as its cluster primary, for the socket of every listen() and
 * dgram bind(). This module only watches that: it learns which servers get their socket from
 * the daemon, counts their connections (for drain, least-connections and `list`), and at drain
 * closes their listening handles so the worker takes nothing new while it finishes.
 *
 * It wraps `cluster._getServer`, the one function net and dgram call in a worker to reach the
 * primary, and checks for it first: without it, listen() is still served through the daemon by
 * Node's code, only without drain at response boundaries.
 *
 * listen({ fd }) is the one form Node's worker code cannot route: the descriptor is this
 * process's, and a primary would open its own descriptor of that number. It binds here, as
 * listen({ exclusive: true }) and listen(handle) do.
 */
import cluster from 'node:cluster';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { registerHttpServer, track } from './connections.js';

type GetServer = (server: unknown, options: { fd?: unknown }, callback: (errno: number, handle: ListenHandle | null) => void) => void;

/** A listening handle from the daemon: a real one (shared socket) or Node's stand-in (hand-off). */
interface ListenHandle {
  close(callback?: () => void): void;
  getAsyncId?(): number;
}

/**
 * Servers listening on a socket the daemon holds, and the handle each got (until the server
 * closes). A server that listens again gets a new entry here, so "it still listens" is enough
 * to know that the handle is its current one: the public `server.listening`, not net's
 * internal `_handle`.
 */
const routed = new Map<net.Server, { handle: ListenHandle; shared: boolean }>();
let accepting = true;
const instrumented = new WeakSet<net.Server>();
let acceptedOnShared = 0;

/** Hooks into Node's worker code; false when this Node does not look as expected. */
export function installClusterWorker(): boolean {
  const internals = cluster as unknown as { _getServer?: GetServer };
  const getServer = internals._getServer;
  if (!cluster.isWorker || typeof getServer !== 'function') return false;
  internals._getServer = function getServerThroughDaemon(this: unknown, server, options, callback) {
    if (typeof options.fd === 'number' && options.fd >= 0) {
      // No handle from a primary: net then makes its own from the descriptor.
      callback(0, null);
      return;
    }
    if (!(server instanceof net.Server)) return getServer.call(this, server, options, callback);
    instrument(server);
    getServer.call(this, server, options, (errno, handle) => {
      // A real handle (a shared socket, balance 'os') has an async id; Node's stand-in does not.
      if (!errno && handle) routed.set(server, { handle, shared: typeof handle.getAsyncId === 'function' });
      callback(errno, handle);
      // Listened while draining: it takes nothing new either.
      if (!accepting && handle && server.listening) handle.close();
    });
  };
  return true;
}

/** Connections accepted on shared sockets, which the daemon never sees. */
export function acceptedItself(): number {
  return acceptedOnShared;
}

/**
 * Takes no new connections: closes the listening handle of every server the daemon serves,
 * not the servers themselves (an http server's close() would end idle keep-alive sockets at
 * once, racing a client that is sending its next request). Node's worker code tells the daemon
 * each handle closed; a hand-off already on its way is sent back and goes to another worker.
 */
export function stopAccepting(): void {
  if (!accepting) return;
  accepting = false;
  for (const [server, { handle }] of routed) {
    if (server.listening) handle.close();
  }
}

function instrument(server: net.Server): void {
  if (instrumented.has(server)) return;
  instrumented.add(server);
  const isHttp = server instanceof http.Server || server instanceof https.Server;
  server.prependListener('connection', (socket: net.Socket) => {
    const entry = routed.get(server);
    if (!entry) return; // listening on a socket of its own (exclusive, fd)
    if (entry.shared) acceptedOnShared += 1;
    track(socket, isHttp);
  });
  server.on('close', () => routed.delete(server));
  if (isHttp) registerHttpServer(server as unknown as http.Server);
}
