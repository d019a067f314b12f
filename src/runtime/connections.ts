/**
 * Connections of the servers the daemon serves (handed over, or accepted on a shared socket):
 * how many are open, and the drain that closes each one at a response boundary.
 *
 * Nothing here runs per request while serving: requests are only looked at once a drain has
 * begun. At that point a response not yet started is switched to `Connection: close` (through
 * the socket's current response, `socket._httpMessage`, which Node's http server keeps), new
 * requests get the same, and sockets that stay idle are closed after a grace period.
 *
 * Draining never calls server.close() on an HTTP server: since Node 19 that closes idle
 * keep-alive sockets at once, racing a client that is just sending its next request.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { toDaemon } from './channel.js';

interface Tracked {
  /** Sockets of HTTP servers can be closed at a response boundary; raw ones cannot. */
  http: boolean;
  idleTimer: NodeJS.Timeout | null;
}

interface HttpSocket extends Socket {
  _httpMessage?: ServerResponse | null;
  /** Set while the http server parses this socket; null once it was upgraded (WebSocket). */
  parser?: unknown;
}

const tracked = new Map<HttpSocket, Tracked>();
const httpServers = new Set<Server>();
let closedSinceReport = 0;
let reportScheduled = false;
let reportCloses = false;
let draining: { idleMs: number; onDrained: () => void } | null = null;

/** From now on, tell the daemon about closed connections (least-connections counts them). */
export function startReportingCloses(): void {
  reportCloses = true;
}

export function openCount(): number {
  return tracked.size;
}

export function registerHttpServer(server: Server): void {
  httpServers.add(server);
  if (draining) server.prependListener('request', closeAfterResponse);
}

export function track(socket: HttpSocket, http: boolean): void {
  const entry: Tracked = { http, idleTimer: null };
  tracked.set(socket, entry);
  // One shared listener rather than a closure per connection: this runs for every connection.
  socket.on('close', untrack);
  if (draining) closeWhenIdle(socket, entry);
}

function untrack(this: HttpSocket): void {
  const entry = tracked.get(this);
  if (!entry) return;
  if (entry.idleTimer) clearTimeout(entry.idleTimer);
  tracked.delete(this);
  noteClosed();
  if (draining && tracked.size === 0) draining.onDrained();
}

/** Stop keeping connections: last responses say `Connection: close`, idle ones close after idleMs. */
export function drain(idleMs: number, onDrained: () => void): void {
  if (draining) return;
  draining = { idleMs, onDrained };
  for (const server of httpServers) server.prependListener('request', closeAfterResponse);
  for (const [socket, entry] of tracked) {
    const current = socket._httpMessage;
    if (current && !current.headersSent) current.shouldKeepAlive = false;
    closeWhenIdle(socket, entry);
  }
  if (tracked.size === 0) onDrained();
}

function closeAfterResponse(_req: IncomingMessage, res: ServerResponse): void {
  res.shouldKeepAlive = false;
}

/** Checks every idleMs; a socket with no response in progress is closed. */
function closeWhenIdle(socket: HttpSocket, entry: Tracked): void {
  if (!entry.http || entry.idleTimer || !draining) return;
  const idleMs = draining.idleMs;
  const check = (): void => {
    entry.idleTimer = null;
    // An upgraded socket (WebSocket) has no response boundary: leave it to the app and the kill signal.
    if (!socket.parser) return;
    if (!socket._httpMessage) socket.destroy();
    else entry.idleTimer = setTimeout(check, idleMs);
  };
  entry.idleTimer = setTimeout(check, idleMs);
}

function noteClosed(): void {
  if (!reportCloses) return;
  closedSinceReport += 1;
  if (reportScheduled) return;
  reportScheduled = true;
  // One report per turn of the event loop however many sockets closed in it.
  setImmediate(() => {
    reportScheduled = false;
    const count = closedSinceReport;
    closedSinceReport = 0;
    toDaemon({ t: 'closed', count });
  });
}
