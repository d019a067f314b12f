/**
 * Names of rotated log files, known to the daemon (which makes them) and the client (which
 * reads them for `logs --lines`). A rotated file is named after the current one with the UTC
 * time of its rotation, as pm2-logrotate does: `web-out.log` ->
 * `web-out__2024-05-01_10-15-00-123.log`, then `.log.gz` when compressed. Rotated files are
 * never renamed again, so compressing one cannot race the next rotation, and the names sort
 * in the order the files were written.
 */
import { readdir } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { pad } from './iso-time.js';


function stamp(date: Date): string {
  return (
    `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}_` +
    `${pad(date.getUTCHours())}-${pad(date.getUTCMinutes())}-${pad(date.getUTCSeconds())}-${pad(date.getUTCMilliseconds(), 3)}`
  );
}

function split(file: string): { dir: string; base: string; ext: string } {
  const ext = extname(file);
  return { dir: dirname(file), base: basename(file, ext), ext };
}

/** The name a rotation at `date` gives `file`; `seq` > 0 tells apart rotations in one millisecond. */
export function rotatedName(file: string, date: Date, seq: number): string {
  const { dir, base, ext } = split(file);
  return join(dir, `${base}__${stamp(date)}${seq > 0 ? `-${seq}` : ''}${ext}`);
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** What a rotation puts between the base name and the extension: the time (group 1) and a sequence (group 2). */
const STAMP = '__(\\d{4}-\\d\\d-\\d\\d_\\d\\d-\\d\\d-\\d\\d-\\d{3})(?:-(\\d+))?';

/**
 * A test for `file`, its rotated copies, and the same for one instance's copy of it
 * (`web-out-2.log`, the daemon's per-instance files): every name the logs of one file may
 * write, whether it exists yet or not.
 */
export function logFileFamily(file: string): (path: string) => boolean {
  const { dir, base, ext } = split(file);
  const pattern = new RegExp(`^${escape(base)}(?:-\\d+)?(?:${escape(ext)}|${STAMP}${escape(ext)}(?:\\.gz)?)$`);
  return (path) => dirname(path) === dir && pattern.test(basename(path));
}

interface Rotated {
  path: string;
  key: string;
  seq: number;
}

/** The rotated files of `file`, oldest first (compressed or not). */
export async function listRotatedFiles(file: string): Promise<string[]> {
  const { dir, base, ext } = split(file);
  const pattern = new RegExp(`^${escape(base)}${STAMP}${escape(ext)}(\\.gz)?$`);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const found: Rotated[] = [];
  for (const name of names) {
    const match = pattern.exec(name);
    if (match) found.push({ path: join(dir, name), key: match[1] as string, seq: Number(match[2] ?? 0) });
  }
  found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.seq - b.seq));
  return found.map((r) => r.path);
}
