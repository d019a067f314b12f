/**
 * CPU time and resident memory of a process, read from /proc when a scrape asks (Linux only;
 * elsewhere the reads fail and the samples are left out). Cheaper than pidusage for this: two
 * small reads, no history, no child process.
 */
import { readFile } from 'node:fs/promises';

/**
 * Clock ticks per second in /proc/<pid>/stat. The kernel reports these in USER_HZ, which is
 * 100 on every architecture Node runs on (sysconf(_SC_CLK_TCK) cannot be asked from Node
 * without spawning `getconf`).
 */
const USER_HZ = 100;

export interface ProcessUsage {
  /** User plus system CPU time of the process itself, in seconds. */
  cpuSeconds: number;
  /** Resident set size in bytes (VmRSS). */
  residentBytes: number;
}

/** utime + stime from the text of /proc/<pid>/stat, in seconds; null if it cannot be read. */
export function parseCpuSeconds(stat: string): number | null {
  // The command name (field 2) is in parentheses and may hold spaces or parentheses itself:
  // the fields that follow start after the last ')'.
  const end = stat.lastIndexOf(')');
  if (end < 0) return null;
  const fields = stat.slice(end + 2).split(' ');
  // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime) || fields[11] === undefined || fields[12] === undefined) return null;
  return (utime + stime) / USER_HZ;
}

/** VmRSS from the text of /proc/<pid>/status, in bytes (kernel threads and zombies have none). */
export function parseResidentBytes(status: string): number | null {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return match ? Number(match[1]) * 1024 : null;
}

export async function processUsage(pid: number): Promise<ProcessUsage | null> {
  try {
    const [stat, status] = await Promise.all([readFile(`/proc/${pid}/stat`, 'latin1'), readFile(`/proc/${pid}/status`, 'latin1')]);
    const cpuSeconds = parseCpuSeconds(stat);
    const residentBytes = parseResidentBytes(status);
    return cpuSeconds === null || residentBytes === null ? null : { cpuSeconds, residentBytes };
  } catch {
    // Exited between the listing and the read, or not Linux.
    return null;
  }
}
