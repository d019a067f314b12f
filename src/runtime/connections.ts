/**
 * Connections the daemon handed to this worker: how many are open, which HTTP requests are in
 * flight on them, and the drain that closes each one at a response boundary.
 *
 * Draining never calls server.close() on an HTTP server: since Node 19 that closes idle
 * keep-alive sockets at once, racing a client that is just sending its next request. Instead
 * every response from now on carries `Connection: close`, and sockets that stay idle are
 * closed only after a grace period.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { toDaemon } from './channel.js';

interface Tracked {
  key: string;
  /** Responses not yet finished on this socket. */
  inflight: Set<ServerResponse>;
  /** True for sockets of HTTP servers, which can be closed at a response boundary. */
  http: boolean;
  idleTimer: NodeJS.Timeout | null;
}

const tracked = new Map<Socket, Tracked>();
const closedSinceReport = new Map<string, number>();
let reportScheduled = false;
let reportCloses = false;
let draining: { idleMs: number; onDrained: () => void } | null = null;

export function setReportCloses(enabled: boolean): void {
  reportCloses = reportCloses || enabled;
}

export function openCount(): number {
  return tracked.size;
}

export function isDraining(): boolean {
  return draining !== null;
}

export function track(socket: Socket, key: string, http: boolean): void {
  const entry: Tracked = { key, inflight: new Set(), http, idleTimer: null };
  tracked.set(socket, entry);
  socket.once('close', () => {
    if (entry.idleTimer) clearTimeout(entry.idleTimer);
    tracked.delete(socket);
    noteClosed(key);
    if (draining && tracked.size === 0) finishDrain();
  });
  if (draining) scheduleIdleClose(socket, entry);
}

/** Registered first on every HTTP server that listens through the daemon. */
export function onRequest(req: IncomingMessage, res: ServerResponse): void {
  const entry = tracked.get(req.socket);
  if (!entry) return;
  if (entry.idleTimer) {
    clearTimeout(entry.idleTimer);
    entry.idleTimer = null;
  }
  entry.inflight.add(res);
  if (draining) res.shouldKeepAlive = false;
  const done = (): void => {
    entry.inflight.delete(res);
    if (draining && entry.inflight.size === 0) scheduleIdleClose(req.socket, entry);
  };
  res.once('finish', done);
  res.once('close', done);
}

/** Stop keeping connections: last responses say `Connection: close`, idle ones close after idleMs. */
export function drain(idleMs: number, onDrained: () => void): void {
  if (draining) return;
  draining = { idleMs, onDrained };
  for (const [socket, entry] of tracked) {
    for (const res of entry.inflight) if (!res.headersSent) res.shouldKeepAlive = false;
    if (entry.inflight.size === 0) scheduleIdleClose(socket, entry);
  }
  if (tracked.size === 0) finishDrain();
}

function scheduleIdleClose(socket: Socket, entry: Tracked): void {
  if (!entry.http || entry.idleTimer || !draining) return;
  entry.idleTimer = setTimeout(() => {
    if (entry.inflight.size === 0) socket.destroy();
  }, draining.idleMs);
}

function finishDrain(): void {
  const current = draining;
  if (!current) return;
  current.onDrained();
}

function noteClosed(key: string): void {
  if (!reportCloses) return;
  closedSinceReport.set(key, (closedSinceReport.get(key) ?? 0) + 1);
  if (reportScheduled) return;
  reportScheduled = true;
  // One report per turn of the event loop however many sockets closed in it.
  setImmediate(() => {
    reportScheduled = false;
    const counts = Object.fromEntries(closedSinceReport);
    closedSinceReport.clear();
    toDaemon({ t: 'closed', counts });
  });
}
