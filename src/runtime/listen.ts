/**
 * Cluster mode: `server.listen()` asks the daemon instead of binding. The daemon owns the
 * socket; this worker gets a stand-in handle, and every connection the daemon hands over is
 * fed to net's own accept path, so http, https, tls and raw net servers behave as if they had
 * accepted it themselves. This is the technique of Node's cluster workers, reimplemented
 * against our daemon.
 *
 * Listens that name a handle or fd, or pass `exclusive: true`, bind in the worker as usual.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { listenKey, type BoundAddress, type DaemonToWorker, type ListenRequest } from '../shared/worker-messages.js';
import { closeHandle, onDaemon, toDaemon } from './channel.js';
import { isDraining, registerHttpServer, setReportCloses, track } from './connections.js';
import { hold, release } from './keep-alive.js';

/** The parts of net.Server's internals this module relies on, the same ones Node's cluster uses. */
interface ServerInternals extends net.Server {
  _handle: StandIn | null;
  /** Bumped by net on close(); a reply for an older listen must not revive the server. */
  _listeningId: number;
  _pipeName?: string;
  _listen2(address: string | null, port: number, addressType: number, backlog: number): void;
}

/** What net.Server needs of a listening handle: listen, close, getsockname, ref, unref. */
interface StandIn {
  onconnection?: (status: number, handle: unknown) => void;
  listen(): number;
  close(callback?: () => void): void;
  getsockname?(out: Record<string, unknown>): number;
  ref(): void;
  unref(): void;
}

interface Routed {
  server: ServerInternals;
  handle: StandIn;
  closed: boolean;
}

type ListenArgs = { route: false } | { route: true; request: Omit<ListenRequest, 'index'>; callback?: () => void };

const routed = new Map<string, Routed>();
/** Keys this worker listens on or is asking for: a second listen on one is EADDRINUSE, as in Node. */
const claimed = new Set<string>();
/** Servers already instrumented, with the key their connections count against now. */
const instrumented = new WeakMap<net.Server, { key: string }>();
const pendingReplies = new Map<number, (reply: ReplyOf<'listening'>) => void>();
type ReplyOf<T extends string> = Extract<DaemonToWorker, { t: T }>;
let nextSeq = 1;
let zeroPortIndex = 0;
let handingOver = false;

export function installListenRouting(): void {
  const originalListen = net.Server.prototype.listen;

  net.Server.prototype.listen = function listenThroughDaemon(this: ServerInternals, ...args: unknown[]) {
    const parsed = parseListenArgs(args);
    if (!parsed.route) return originalListen.apply(this, args as Parameters<typeof originalListen>);
    if (this._handle) {
      const error = new Error('Listen method has been called more than once without closing.');
      (error as NodeJS.ErrnoException).code = 'ERR_SERVER_ALREADY_LISTEN';
      throw error;
    }
    if (parsed.callback) this.once('listening', parsed.callback);
    const request: ListenRequest = { ...parsed.request, index: parsed.request.port === 0 ? zeroPortIndex++ : 0 };
    const key = listenKey(request);
    if (claimed.has(key)) {
      process.nextTick(() => this.emit('error', listenError(request, { code: 'EADDRINUSE', errno: -98, syscall: 'listen', message: 'address already in use' })));
      return this;
    }
    claimed.add(key);
    askDaemon(this, request);
    return this;
  };

  onDaemon('listening', (reply) => {
    const resolve = pendingReplies.get(reply.seq);
    pendingReplies.delete(reply.seq);
    resolve?.(reply);
  });

  onDaemon('conn', (message, handle) => {
    const entry = routed.get(message.key);
    if (!entry || entry.closed || isDraining() || !entry.handle.onconnection) {
      // Back to the daemon, which gives it to another worker; our copy closes once it is sent.
      toDaemon({ t: 'refuse', key: message.key }, handle, () => closeHandle(handle));
      return;
    }
    handingOver = true;
    try {
      entry.handle.onconnection(0, handle);
    } finally {
      handingOver = false;
    }
  });
}

function askDaemon(server: ServerInternals, request: ListenRequest): void {
  const seq = nextSeq++;
  const listeningId = server._listeningId;
  hold(); // a pending listen keeps the worker alive, as a binding socket would
  pendingReplies.set(seq, (reply) => {
    release();
    if (server._listeningId !== listeningId) {
      // Closed while we were asking: the listen is cancelled, as net does it.
      claimed.delete(listenKey(request));
      if (!reply.error) toDaemon({ t: 'unlisten', key: reply.key });
      return;
    }
    if (reply.error) {
      claimed.delete(listenKey(request));
      const error = listenError(request, reply.error);
      process.nextTick(() => server.emit('error', error));
      return;
    }
    setReportCloses(reply.reportCloses);
    adopt(server, reply.key, reply.address, request);
  });
  toDaemon({ t: 'listen', seq, request });
}

function adopt(server: ServerInternals, key: string, address: BoundAddress | string | null, request: ListenRequest): void {
  const entry: Routed = { server, closed: false, handle: undefined as unknown as StandIn };
  let referenced = false;
  const ref = (): void => {
    if (!referenced && !entry.closed) {
      referenced = true;
      hold();
    }
  };
  const unref = (): void => {
    if (referenced) {
      referenced = false;
      release();
    }
  };
  entry.handle = {
    listen: () => 0,
    close(callback) {
      if (entry.closed) return;
      entry.closed = true;
      unref();
      routed.delete(key);
      claimed.delete(key);
      toDaemon({ t: 'unlisten', key });
      if (callback) process.nextTick(callback);
    },
    ref,
    unref,
  };
  if (address !== null && typeof address === 'object') {
    entry.handle.getsockname = (out) => {
      Object.assign(out, address);
      return 0;
    };
  }
  ref();
  routed.set(key, entry);

  const isHttp = server instanceof http.Server || server instanceof https.Server;
  const current = instrumented.get(server);
  if (current) current.key = key;
  else {
    // Once per server: a server that closes and listens again must not count sockets twice.
    const state = { key };
    instrumented.set(server, state);
    server.prependListener('connection', (socket: net.Socket) => {
      if (handingOver) track(socket, state.key, isHttp);
    });
    if (isHttp) registerHttpServer(server as http.Server);
  }

  server._handle = entry.handle;
  if (request.path !== null) {
    server._pipeName = request.path;
    server._listen2(request.path, -1, -1, request.backlog);
  } else {
    const bound = typeof address === 'object' && address !== null ? address : null;
    const addressType = bound?.family === 'IPv6' ? 6 : 4;
    server._listen2(bound?.address ?? request.host, bound?.port ?? request.port, addressType, request.backlog);
  }
}

/** The error net would give for a failed listen, naming the address. */
function listenError(request: ListenRequest, error: { code: string; errno: number; syscall: string; message: string }): Error {
  const where = request.path ?? `${request.host ?? '::'}:${request.port}`;
  return Object.assign(new Error(`${error.syscall} ${error.code}: ${error.message} ${where}`), {
    code: error.code,
    errno: error.errno,
    syscall: error.syscall,
    address: request.path ?? request.host ?? '::',
    port: request.path ? undefined : request.port,
  });
}

/** Mirrors net.Server#listen's argument forms; anything unusual binds locally as before. */
export function parseListenArgs(input: readonly unknown[]): ListenArgs {
  const args = [...input];
  const callback = typeof args[args.length - 1] === 'function' ? (args.pop() as () => void) : undefined;
  const first = args[0];
  const base = { ipv6Only: false, backlog: 511 };

  if (typeof first === 'object' && first !== null) {
    const o = first as Record<string, unknown>;
    if ('_handle' in o || 'fd' in o || o['handle'] !== undefined || o['exclusive'] === true) return { route: false };
    const backlog = typeof o['backlog'] === 'number' ? o['backlog'] : base.backlog;
    const ipv6Only = o['ipv6Only'] === true;
    if (typeof o['path'] === 'string') return withCallback({ path: socketPath(o['path']), host: null, port: 0, backlog, ipv6Only }, callback);
    const port = toPort(o['port']);
    if (port === null) return { route: false };
    const host = typeof o['host'] === 'string' ? o['host'] : null;
    return withCallback({ path: null, host, port, backlog, ipv6Only }, callback);
  }
  if (typeof first === 'string' && !/^\d+$/.test(first)) {
    const backlog = typeof args[1] === 'number' ? args[1] : base.backlog;
    return withCallback({ path: socketPath(first), host: null, port: 0, backlog, ipv6Only: false }, callback);
  }
  const port = toPort(first);
  if (port === null) return { route: false };
  const host = typeof args[1] === 'string' ? args[1] : null;
  const backlogArg = typeof args[1] === 'number' ? args[1] : args[2];
  const backlog = typeof backlogArg === 'number' ? backlogArg : base.backlog;
  return withCallback({ path: null, host, port, backlog, ipv6Only: false }, callback);
}

/** The daemon binds the path, from its own working directory: make a relative one the worker's. */
function socketPath(path: string): string {
  return path.startsWith('\0') ? path : resolvePath(path);
}

function withCallback(request: Omit<ListenRequest, 'index'>, callback: (() => void) | undefined): ListenArgs {
  return callback ? { route: true, request, callback } : { route: true, request };
}

/** A valid port, 0 for "any", or null when net's own validation should throw. */
function toPort(value: unknown): number | null {
  if (value === undefined || value === null) return 0;
  const port = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof port === 'number' && Number.isInteger(port) && port >= 0 && port <= 65535 ? port : null;
}

