/**
 * One daemon per home. The lock is a Linux abstract-namespace Unix socket named after the
 * home: binding it is atomic, and the kernel releases it when the holder dies however it
 * dies, so a killed daemon never leaves a stale lock behind. Only the holder may touch
 * daemon.sock, which is what makes removing a stale socket safe.
 */
import net from 'node:net';
import { sha256Hex } from '../shared/sha256.js';

interface HomeLock {
  release(): void;
}

export function lockName(home: string): string {
  return `\0supervisor-${sha256Hex(home).slice(0, 32)}`;
}

/** Resolves with the lock, or null if another process holds it. */
export function acquireHomeLock(home: string): Promise<HomeLock | null> {
  const server = net.createServer();
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') resolve(null);
      else reject(error);
    });
    server.listen({ path: lockName(home) }, () => {
      server.unref();
      resolve({ release: () => server.close() });
    });
  });
}
