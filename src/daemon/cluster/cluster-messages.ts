/**
 * Node's cluster protocol, the primary's half. Cluster-mode workers are started with
 * NODE_UNIQUE_ID, so Node's own worker code (lib/internal/cluster/child.js) runs in them and
 * talks to the daemon as to a cluster primary, with `cmd: 'NODE_CLUSTER'` messages:
 *
 *   worker -> daemon                           daemon -> worker
 *   { act: 'online' }                          -
 *   { act: 'queryServer', seq, address, ... }  { ack: seq, errno, key, data, sockname? } (+ the
 *                                              listening handle itself for a shared socket)
 *   { act: 'listening', ... }                  -
 *   { act: 'close', key }                      -
 *   { act: 'exitedAfterDisconnect', seq }      { ack: seq }
 *   { ack: seq, accepted }                     <- answers { act: 'newconn', key, seq } (+ handle)
 *
 * Every message also carries the sender's own `seq`; a reply names the request's in `ack`.
 * The shapes are the same in Node 20, 22 and 24. Workers run app code, so everything here is
 * validated: a malformed message is dropped, never trusted.
 */

export const CLUSTER_CMD = 'NODE_CLUSTER';

/** What a worker's listen() (or dgram bind()) asks for, as net and dgram put it. */
export interface ServerQuery {
  /** The worker's sequence number, which the reply names in `ack`. */
  seq: number;
  /** An IP address (the worker resolved any host name), a socket path, or null for every interface. */
  address: string | null;
  /** -1 for a Unix socket path. */
  port: number;
  /** 4 or 6 for TCP, -1 for a path, 'udp4' or 'udp6' for dgram. */
  addressType: 4 | 6 | -1 | 'udp4' | 'udp6';
  /** Set only for listen({ fd }), which the worker runtime keeps local. */
  fd: number | null;
  /** libuv bind flags (IPv6-only, reuse-address). */
  flags: number;
  backlog: number;
  /** The how-many-th listen of this worker on this address: every worker's n-th listen(0) shares one port. */
  index: number;
  readableAll: boolean;
  writableAll: boolean;
  /** Server data to share between workers (TLS session ticket keys): the first worker's wins. */
  data: unknown;
}

export type FromWorker =
  | { act: 'online' }
  /** `query` is null when the worker asked for something we cannot serve; it still gets a reply. */
  | { act: 'queryServer'; seq: number; query: ServerQuery | null }
  | { act: 'listening' }
  | { act: 'close'; key: string }
  | { act: 'exitedAfterDisconnect'; seq: number };

/** The worker's answer to one `newconn`: it took the connection, or closed its copy. */
export interface ConnectionAck {
  ack: number;
  accepted: boolean;
}

export function isClusterMessage(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && (value as { cmd?: unknown }).cmd === CLUSTER_CMD;
}

/** An acknowledgement of a `newconn`, or null: checked first, since it comes once per connection. */
export function connectionAck(message: Record<string, unknown>): ConnectionAck | null {
  const { ack, accepted } = message;
  return typeof ack === 'number' && typeof accepted === 'boolean' ? { ack, accepted } : null;
}

/** A request or notice from a worker, or null when it is not one we answer. */
export function parseFromWorker(message: Record<string, unknown>): FromWorker | null {
  switch (message['act']) {
    case 'online':
      return { act: 'online' };
    case 'listening':
      return { act: 'listening' };
    case 'close':
      return typeof message['key'] === 'string' ? { act: 'close', key: message['key'] } : null;
    case 'exitedAfterDisconnect':
      return isSeq(message['seq']) ? { act: 'exitedAfterDisconnect', seq: message['seq'] } : null;
    case 'queryServer':
      // Unanswered, the worker's listen() would wait forever: whatever it asked, it gets a reply.
      return isSeq(message['seq']) ? { act: 'queryServer', seq: message['seq'], query: serverQuery(message) } : null;
    default:
      return null;
  }
}

function serverQuery(m: Record<string, unknown>): ServerQuery | null {
  const { seq, address, port, addressType, fd, flags, backlog, index } = m;
  if (!isSeq(seq) || !isSeq(index)) return null;
  if (address !== null && address !== undefined && typeof address !== 'string') return null;
  if (!(addressType === 4 || addressType === 6 || addressType === -1 || addressType === 'udp4' || addressType === 'udp6')) return null;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < -1 || port > 65535) return null;
  if (addressType === -1 ? typeof address !== 'string' || port !== -1 : port < 0) return null;
  return {
    seq,
    address: typeof address === 'string' && addressType === -1 ? abstractName(address) : (address ?? null),
    port,
    addressType,
    fd: typeof fd === 'number' && fd >= 0 ? fd : null,
    flags: typeof flags === 'number' && Number.isInteger(flags) ? flags : 0,
    backlog: typeof backlog === 'number' && backlog > 0 ? Math.min(Math.floor(backlog), 65535) : 511,
    index,
    readableAll: m['readableAll'] === true,
    writableAll: m['writableAll'] === true,
    data: m['data'] ?? null,
  };
}

/**
 * Node's worker resolves every socket path against its working directory, which turns a Linux
 * abstract name ("\0name") into "/cwd/\0name". A file path cannot contain NUL, so whatever
 * starts at the NUL is the abstract name the app asked for.
 */
function abstractName(path: string): string {
  const nul = path.indexOf('\0');
  return nul > 0 ? path.slice(nul) : path;
}

function isSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}
