/**
 * Pruning, compression and removal of rotated log files (their names: shared/rotated-log-files.ts).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, unlink } from 'node:fs/promises';
import { listRotatedFiles as listRotated } from '../../shared/rotated-log-files.js';

export { rotatedName } from '../../shared/rotated-log-files.js';

/** Deletes the oldest rotated files of `file` beyond `retain`. */
export async function pruneRotated(file: string, retain: number): Promise<void> {
  const rotated = await listRotated(file);
  // A file and its .gz during compression are one rotation: count names without .gz.
  const seen = new Map<string, string[]>();
  for (const path of rotated) {
    const key = path.endsWith('.gz') ? path.slice(0, -3) : path;
    seen.set(key, [...(seen.get(key) ?? []), path]);
  }
  const groups = [...seen.values()];
  for (const group of groups.slice(0, Math.max(0, groups.length - retain))) {
    for (const path of group) await rm(path, { force: true });
  }
}

/** Gzips a rotated file to `<file>.gz` and removes the original; leaves it as it was on failure. */
export async function compressRotated(path: string): Promise<void> {
  // Only apps that ask for compression pay for loading zlib.
  // getBuiltinModule, not import(): in the daemon's CommonJS bundle import() loads the ES module loader.
  const { createGzip } = process.getBuiltinModule('node:zlib');
  const { pipeline } = process.getBuiltinModule('node:stream/promises');
  const target = `${path}.gz`;
  try {
    await pipeline(createReadStream(path), createGzip(), createWriteStream(target, { mode: 0o600 }));
  } catch (error) {
    await rm(target, { force: true });
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // pruned meanwhile
    throw error;
  }
  await unlink(path).catch(() => undefined);
}

/** Removes every rotated file of `file`; returns how many there were. */
export async function removeRotated(file: string): Promise<number> {
  const rotated = await listRotated(file);
  for (const path of rotated) await rm(path, { force: true });
  return rotated.length;
}
