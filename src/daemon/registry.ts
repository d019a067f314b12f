/**
 * Every app the daemon runs, by name; every slot, by id; every process it started (the
 * process table, which the invariant check compares with the apps). Resolves command targets
 * ("all", a name, an id). Names are reserved before anything awaits, so two `start`s of one
 * name cannot both succeed.
 */
import { access, constants, stat } from 'node:fs/promises';
import type { AppSpec } from '../shared/app-spec.js';
import { interpreterProblem } from '../shared/commands.js';
import { SupervisorError } from '../shared/errors.js';
import type { ProcessInfo } from '../shared/protocol.js';
import { App, type AppContext } from './app.js';
import { clusterCode, loadClusterCode } from './cluster-code.js';
import type { SocketTable } from './cluster/socket-table.js';
import { systemClock, type Clock } from './clock.js';
import type { EventBus } from './events.js';
import type { ManagedProcess } from './managed-process.js';
import type { Slot } from './slot.js';
import { checkTriggers } from './triggers/app-triggers.js';

export interface Selection {
  app: App;
  slots: Slot[];
}

/** An app to create: its spec, and the slots it had when restoring after a daemon crash. */
interface NewApp {
  spec: AppSpec;
  slots?: readonly { id: number; instance: number }[];
}

interface RegistryOptions extends Pick<AppContext, 'logDir' | 'runtimeUrl' | 'bus' | 'spawn' | 'createLogs' | 'logService' | 'processStarted'> {
  clock?: Clock;
  /** Something the desired state records changed. */
  changed?(): void;
}

export class Registry {
  readonly apps = new Map<string, App>();
  /** Every process started and not yet exited. */
  readonly processes = new Set<ManagedProcess>();
  readonly #reserved = new Set<string>();
  #nextId = 0;
  #closing = false;
  readonly #context: AppContext;

  constructor(options: RegistryOptions & { bus: EventBus }) {
    // Made at the first listen of a cluster-mode app (see cluster-code.ts).
    let sockets: SocketTable | null = null;
    this.#context = {
      logDir: options.logDir,
      runtimeUrl: options.runtimeUrl,
      bus: options.bus,
      get sockets(): SocketTable {
        return (sockets ??= new (clusterCode().SocketTable)());
      },
      clock: options.clock ?? systemClock,
      allocateId: () => this.#nextId++,
      track: (process) => {
        this.processes.add(process);
        void process.exited.then(() => this.processes.delete(process));
      },
      changed: options.changed ?? (() => undefined),
      forget: (app) => this.remove(app),
      ...(options.spawn && { spawn: options.spawn }),
      ...(options.createLogs && { createLogs: options.createLogs }),
      ...(options.logService && { logService: options.logService }),
      ...(options.processStarted && { processStarted: options.processStarted }),
    };
  }

  /** The id the next new slot gets (saved, so ids stay unique across a daemon crash). */
  get nextId(): number {
    return this.#nextId;
  }

  set nextId(value: number) {
    this.#nextId = Math.max(this.#nextId, value);
  }

  /** After this, nothing new is created: the daemon is shutting down. */
  close(): void {
    this.#closing = true;
  }

  /**
   * Creates apps (not started). The names are reserved first, synchronously, then the scripts
   * are checked: a batch that fails creates nothing, and a racing start of the same name gets
   * CONFLICT. `verified`: the caller has just checked every spec with verify() (an update
   * checks its whole batch, new and existing apps, before it changes anything).
   */
  async create(entries: readonly NewApp[], options: { verified?: boolean } = {}): Promise<App[]> {
    if (this.#closing) throw new SupervisorError('CONFLICT', 'the daemon is shutting down');
    const names = new Set<string>();
    for (const { spec } of entries) {
      if (this.apps.has(spec.name) || this.#reserved.has(spec.name) || names.has(spec.name)) {
        throw new SupervisorError('CONFLICT', `an app named "${spec.name}" already exists (delete it first, or pick another --name)`);
      }
      names.add(spec.name);
    }
    for (const name of names) this.#reserved.add(name);
    try {
      if (!options.verified) for (const { spec } of entries) await this.verify(spec);
      if (this.#closing) throw new SupervisorError('CONFLICT', 'the daemon is shutting down');
      const apps = entries.map(({ spec, slots }) => {
        for (const slot of slots ?? []) this.nextId = slot.id + 1;
        const app = new App(spec, this.#context, slots);
        this.apps.set(spec.name, app);
        return app;
      });
      this.#context.changed();
      return apps;
    } finally {
      for (const name of names) this.#reserved.delete(name);
    }
  }

  /** Checks what a spec needs from the machine (its script, its working directory), and loads the code it needs. */
  async verify(spec: AppSpec): Promise<void> {
    if (spec.mode === 'cluster') await loadClusterCode();
    await mustExist(spec.script, spec.interpreter === 'none' ? 'executable' : 'file', `script ${spec.script}`);
    await mustExist(spec.cwd, 'directory', `working directory ${spec.cwd}`);
    const interpreter = interpreterProblem(spec);
    if (interpreter !== null) throw new SupervisorError('FAILED', interpreter);
    await checkTriggers(spec);
  }

  /** Forgets an app whose processes have stopped. */
  remove(app: App): void {
    if (this.apps.get(app.name) === app) this.apps.delete(app.name);
    app.dispose();
    this.#context.changed();
  }

  /** The slots a target names, grouped by app. NOT_FOUND if it names nothing. */
  select(target: string): Selection[] {
    if (target === 'all') return [...this.apps.values()].map((app) => ({ app, slots: [...app.slots] }));
    const byName = this.apps.get(target);
    if (byName) return [{ app: byName, slots: [...byName.slots] }];
    // pm2's namespaces: a name no app has may name a group of apps.
    const group = [...this.apps.values()].filter((app) => app.spec.namespace === target);
    if (group.length > 0) return group.map((app) => ({ app, slots: [...app.slots] }));
    if (/^\d+$/.test(target)) {
      const id = Number(target);
      for (const app of this.apps.values()) {
        const slot = app.slots.find((s) => s.id === id);
        if (slot) return [{ app, slots: [slot] }];
      }
    }
    throw new SupervisorError('NOT_FOUND', `no app or process id "${target}" (see: supervisor list)`);
  }

  info(app: App, slot: Slot): ProcessInfo {
    const state = slot.state;
    const worker = slot.worker;
    const running = state.status === 'online' || state.status === 'launching' || state.status === 'stopping';
    return {
      id: slot.id,
      name: app.name,
      mode: app.spec.mode,
      instance: slot.instance,
      pid: worker?.pid ?? null,
      status: state.status,
      restarts: slot.restarts,
      uptimeMs: running && worker ? Date.now() - worker.startedAt : 0,
      cpu: 0,
      memory: 0,
      connections: slot.member?.open ?? 0,
      handled: slot.member?.handled ?? 0,
    };
  }

  allInfo(): ProcessInfo[] {
    const rows: ProcessInfo[] = [];
    for (const app of this.apps.values()) for (const slot of app.slots) rows.push(this.info(app, slot));
    return rows;
  }
}

async function mustExist(path: string, kind: 'file' | 'executable' | 'directory', what: string): Promise<void> {
  let stats;
  try {
    stats = await stat(path);
  } catch {
    throw new SupervisorError('FAILED', `${what} does not exist`);
  }
  if (kind === 'directory' && !stats.isDirectory()) throw new SupervisorError('FAILED', `${what} is not a directory`);
  if (kind !== 'directory' && stats.isDirectory()) throw new SupervisorError('FAILED', `${what} is a directory, not a file`);
  if (kind === 'executable') {
    try {
      await access(path, constants.X_OK);
    } catch {
      throw new SupervisorError('FAILED', `${what} is not executable (chmod +x it, or give an interpreter)`);
    }
  }
}
