/**
 * state.json: what the daemon is asked to run, kept on disk so that a daemon that dies without
 * stopping (SIGKILL, the OOM killer, a bug) is a restart rather than a loss. It is rewritten
 * (atomically, coalesced) on every change, and removed by a clean stop, so its presence when a
 * daemon starts means the previous one died: the new one restores every app, with the same
 * process ids, and starts the processes that were wanted running.
 *
 * It also records the pid (and kernel start time, so a reused pid is never mistaken) of every
 * process the daemon started. Node processes end themselves when the daemon goes, but other
 * programs have no IPC channel to notice: the restoring daemon stops what is left of them
 * first, so nothing runs twice.
 *
 * Separate from dump.json, which is the user's own snapshot (`save`/`resurrect`).
 */
import { readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import type { AppSpec } from '../shared/app-spec.js';
import { validateAppSpec } from '../shared/app-spec-validate.js';
import { isRecord } from '../shared/validate.js';
import { writeFileAtomically } from './atomic-file.js';
import type { ManagedProcess } from './managed-process.js';
import type { Registry } from './registry.js';
import { signalGroup } from './signals.js';
import { isoTime } from '../shared/iso-time.js';

const STATE_VERSION = 1;

interface SavedProcess {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: tells this process from a later one with the same pid. */
  startTime: string;
}

interface SavedSlot {
  id: number;
  instance: number;
  /** A command wants it running (it may be waiting for a crash restart). */
  wanted: boolean;
  processes: SavedProcess[];
}

interface SavedApp {
  spec: AppSpec;
  slots: SavedSlot[];
}

export interface DesiredState {
  version: typeof STATE_VERSION;
  /** The daemon that wrote it. */
  pid: number;
  savedAt: string;
  nextId: number;
  apps: SavedApp[];
}

/** Kernel start times of the processes we started, read once per process. */
const startTimes = new WeakMap<ManagedProcess, string | null>();

function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses); starttime is field 22.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

export function snapshot(registry: Registry): DesiredState {
  return {
    version: STATE_VERSION,
    pid: process.pid,
    savedAt: isoTime(),
    nextId: registry.nextId,
    apps: [...registry.apps.values()].map((app) => ({
      spec: app.spec,
      slots: app.slots.map((slot) => ({
        id: slot.id,
        instance: slot.instance,
        wanted: slot.wanted,
        processes: [...slot.processes()].flatMap((p) => {
          if (p.pid === null || p.exit) return [];
          if (!startTimes.has(p)) startTimes.set(p, processStartTime(p.pid));
          const startTime = startTimes.get(p);
          return startTime ? [{ pid: p.pid, startTime }] : [];
        }),
      })),
    })),
  };
}

/**
 * Writes the state after each change, coalescing bursts into one write and never running two
 * writes at once. A failed write (a full disk) is reported once per failure streak and retried
 * with the next change.
 */
export class DesiredStateStore {
  #scheduled = false;
  #writing: Promise<void> | null = null;
  #dirty = false;
  #closed = false;
  #failing = false;

  constructor(
    private readonly file: string,
    private readonly take: () => DesiredState,
    private readonly log: (line: string) => void,
  ) {}

  /** Something changed: write soon. */
  schedule(): void {
    if (this.#closed) return;
    this.#dirty = true;
    if (this.#scheduled || this.#writing) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#write();
    });
  }

  /** Stops writing and removes the file: the daemon is stopping cleanly. */
  async clear(): Promise<void> {
    this.#closed = true;
    await this.#writing;
    await rm(this.file, { force: true });
  }

  async #write(): Promise<void> {
    if (this.#closed || !this.#dirty) return;
    this.#dirty = false;
    const text = `${JSON.stringify(this.take())}\n`;
    this.#writing = writeFileAtomically(this.file, text).then(
      () => {
        this.#failing = false;
      },
      (error: Error) => {
        if (!this.#failing) this.log(`cannot save the desired state to ${this.file}: ${error.message}`);
        this.#failing = true;
      },
    );
    await this.#writing;
    this.#writing = null;
    if (this.#dirty) this.schedule();
  }
}

/**
 * The state a previous daemon left behind: null if it stopped cleanly (or never ran), and what
 * is wrong with the file if it cannot be read.
 */
export async function loadDesiredState(file: string): Promise<DesiredState | { unreadable: string } | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return null;
  }
  try {
    const raw: unknown = JSON.parse(text);
    if (!isRecord(raw) || raw['version'] !== STATE_VERSION || !Array.isArray(raw['apps'])) throw new Error(`not version ${STATE_VERSION}`);
    return {
      version: STATE_VERSION,
      pid: Number(raw['pid']),
      savedAt: String(raw['savedAt']),
      nextId: Number(raw['nextId']) || 0,
      apps: raw['apps'].map((app, i) => {
        if (!isRecord(app) || !Array.isArray(app['slots'])) throw new Error(`apps[${i}] is malformed`);
        return {
          spec: validateAppSpec(app['spec'], `apps[${i}].spec`, { fillDefaults: true }),
          slots: app['slots'].map((slot) => savedSlot(slot)),
        };
      }),
    };
  } catch (error) {
    return { unreadable: (error as Error).message };
  }
}

function savedSlot(value: unknown): SavedSlot {
  if (!isRecord(value) || !Number.isInteger(value['id']) || !Number.isInteger(value['instance'])) throw new Error('a slot is malformed');
  const processes = Array.isArray(value['processes']) ? value['processes'] : [];
  return {
    id: value['id'] as number,
    instance: value['instance'] as number,
    wanted: value['wanted'] === true,
    processes: processes.filter(
      (p): p is SavedProcess => isRecord(p) && Number.isInteger(p['pid']) && (p['pid'] as number) > 1 && typeof p['startTime'] === 'string',
    ),
  };
}

/**
 * Stops processes a dead daemon left running: SIGTERM to each one's group, then SIGKILL to
 * whatever is still there after `graceMs`. Only processes whose start time matches the record
 * are touched; the pid may since belong to something else.
 */
export async function stopLeftovers(state: DesiredState, graceMs: number): Promise<number> {
  const alive = (p: SavedProcess): boolean => processStartTime(p.pid) === p.startTime;
  const leftovers = state.apps.flatMap((app) => app.slots.flatMap((slot) => slot.processes)).filter(alive);
  for (const p of leftovers) signalGroup(p.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (leftovers.some(alive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  for (const p of leftovers.filter(alive)) signalGroup(p.pid, 'SIGKILL');
  return leftovers.length;
}
