/**
 * What a listening address is called: its key in the daemon's socket table, its label in
 * `describe`, and the error a failed bind reports.
 */
import { relative } from 'node:path';
import { getSystemErrorMap } from 'node:util';
import type { ServerQuery } from './cluster-messages.js';

export interface BoundAddress {
  address: string;
  family: string;
  port: number;
}

export interface ListenError {
  code: string;
  /** libuv's negative error number, which the worker turns back into its own error. */
  errno: number;
  syscall: string;
  message: string;
}

/**
 * The key of an address in the daemon's socket table. A fixed port or a path is one address
 * for the whole daemon, so cluster apps listening on it share it (blue/green). Port 0 means
 * "any free port": the n-th listen(0) of every worker of one app shares a port, and other apps
 * get ports of their own.
 */
export function socketKey(query: ServerQuery, app: string): string {
  const where = query.addressType === -1 ? `pipe:${query.address}` : `${protocolOf(query)}:${hostLabel(query.address)}:${query.port}`;
  return query.port === 0 ? `${app}/${where}#${query.index}` : where;
}

/** How `describe` shows an address, with the port actually bound once it is. */
export function labelOf(query: ServerQuery, bound: BoundAddress | null): string {
  if (query.addressType === -1) return query.address ?? '';
  const where = bound ? `${hostLabel(bound.address)}:${bound.port}` : `${hostLabel(query.address)}:${query.port}`;
  return typeof query.addressType === 'string' ? `${query.addressType} ${where}` : where;
}

export function isDatagram(query: ServerQuery): boolean {
  return query.addressType === 'udp4' || query.addressType === 'udp6';
}

/**
 * The path to bind: Unix socket paths are limited to 107 bytes, so as Node's primary does, a
 * path relative to the daemon's working directory (the home) is used when it is shorter.
 */
export function bindPath(path: string): string {
  if (path.startsWith('\0')) return path;
  const fromHere = relative(process.cwd(), path);
  return fromHere.length < path.length ? fromHere : path;
}

/** A ListenError for a libuv error number. */
export function listenErrorOf(errno: number, syscall = 'bind'): ListenError {
  const [code, message] = getSystemErrorMap().get(errno) ?? ['EINVAL', 'invalid argument'];
  return { code, errno, syscall, message };
}

/** A ListenError from a Node error (of net.Server's bind or listen). */
export function listenErrorFrom(error: NodeJS.ErrnoException): ListenError {
  const errno = typeof error.errno === 'number' ? error.errno : 0;
  const known = errno !== 0 ? getSystemErrorMap().get(errno) : undefined;
  return {
    code: error.code ?? known?.[0] ?? 'EINVAL',
    errno,
    syscall: error.syscall ?? 'listen',
    message: known?.[1] ?? error.message.replace(/^\w+ \w+: /, '').replace(/ [^ ]+$/, ''),
  };
}

function protocolOf(query: ServerQuery): string {
  return typeof query.addressType === 'string' ? query.addressType : 'tcp';
}

function hostLabel(address: string | null): string {
  if (address === null) return '*';
  return address.includes(':') ? `[${address}]` : address;
}
