/**
 * Helpers for the fault suite: what runs for a home (found through /proc, independently of
 * what the daemon says), the daemon's resident memory and CPU time, and one line of figures per
 * test that docs/RELIABILITY.md quotes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { waitFor, type Home } from '../helpers.js';

/** Pids of live processes whose environment names this home (the daemon, its workers and their children). */
export function processesOfHome(dir: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z' || state === 'X') continue;
      if (readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`SUPERVISOR_HOME=${dir}`)) found.push(pid);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** Alive and not a zombie waiting for its parent (a detached daemon's parent may be slow to reap it). */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Resident memory of a process in bytes (0 if it is gone). */
export function rssOf(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU time (user + system) a process has used, in milliseconds. */
export function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

/**
 * The daemon accounts for every process: its consistency check is clean, and every process
 * running for this home is the daemon or one listed (or a child of one listed).
 */
export async function expectAccountedFor(home: Home): Promise<void> {
  const check = await home.cli(['check']);
  if (check.stdout !== 'ok\n') {
    const { readFile } = await import('node:fs/promises');
    process.stdout.write(`check failed: ${check.stderr}\nlist: ${JSON.stringify(await home.list())}\ndaemon.log:\n${await readFile(`${home.dir}/daemon.log`, 'utf8').catch(() => '')}\n`);
    for (const name of ['web']) process.stdout.write(`${name}-err.log:\n${(await readFile(`${home.dir}/logs/${name}-err.log`, 'utf8').catch(() => '')).split('\n').slice(-60).join('\n')}\n`);
  }
  expect(check.stdout + check.stderr).toBe('ok\n');
  const daemon = await home.daemonPid();
  // Processes come and go (crash restarts, a replacement draining its predecessor): a stray is
  // one seen before a listing that does not show it, still running after it, for 10 s.
  const strays = async (): Promise<number[]> => {
    const running = processesOfHome(home.dir);
    const listed = new Set((await home.list()).map((row) => row.pid).filter((pid): pid is number => pid !== null));
    return running.filter((pid) => pid !== daemon && !listed.has(pid) && !listed.has(parentOf(pid)) && isRunning(pid));
  };
  let last: number[] = [];
  await waitFor(async () => (last = await strays()).length === 0, `no process running for this home that list does not show (last seen: ${last.join(' ')})`, 10_000).catch(() => undefined);
  expect(last, 'processes running for this home that list does not show').toEqual([]);
}

export function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

/** Prints one line of figures for docs/RELIABILITY.md. */
export function report(test: string, figures: Record<string, unknown>): void {
  process.stdout.write(`RELIABILITY ${test} ${JSON.stringify(figures)}\n`);
}

/** The p-th percentile of a list of numbers. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
