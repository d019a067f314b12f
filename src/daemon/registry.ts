/**
 * Every app the daemon runs, by name, and every slot, by id. Resolves command targets
 * ("all", a name, an id) and holds the operations the request handlers call.
 */
import { access, constants, stat } from 'node:fs/promises';
import type { AppSpec } from '../shared/app-spec.js';
import { SupervisorError } from '../shared/errors.js';
import type { ProcessInfo } from '../shared/protocol.js';
import { App, type AppContext } from './app.js';
import { SocketTable } from './cluster/socket-table.js';
import type { EventBus } from './events.js';
import type { Slot } from './slot.js';

export interface Selection {
  app: App;
  slots: Slot[];
}

export class Registry {
  readonly apps = new Map<string, App>();
  #nextId = 0;
  readonly #context: AppContext;

  constructor(options: { logDir: string; runtimeUrl: string; bus: EventBus }) {
    this.#context = { ...options, sockets: new SocketTable(), allocateId: () => this.#nextId++ };
  }

  /** Checks a whole batch first, so that a start that fails starts nothing. */
  async checkNew(specs: readonly AppSpec[]): Promise<void> {
    const names = new Set<string>();
    for (const spec of specs) {
      if (this.apps.has(spec.name) || names.has(spec.name)) {
        throw new SupervisorError('CONFLICT', `an app named "${spec.name}" already exists (delete it first, or pick another --name)`);
      }
      names.add(spec.name);
      await mustExist(spec.script, spec.interpreter === 'none' ? 'executable' : 'file', `script ${spec.script}`);
      await mustExist(spec.cwd, 'directory', `working directory ${spec.cwd}`);
    }
  }

  add(spec: AppSpec): App {
    const app = new App(spec, this.#context);
    this.apps.set(spec.name, app);
    return app;
  }

  remove(app: App): void {
    this.apps.delete(app.name);
    app.dispose();
  }

  /** The slots a target names, grouped by app. NOT_FOUND if it names nothing. */
  select(target: string): Selection[] {
    if (target === 'all') return [...this.apps.values()].map((app) => ({ app, slots: [...app.slots] }));
    const byName = this.apps.get(target);
    if (byName) return [{ app: byName, slots: [...byName.slots] }];
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
    const online = state.status === 'online' || state.status === 'launching' || state.status === 'stopping';
    return {
      id: slot.id,
      name: app.name,
      mode: app.spec.mode,
      instance: slot.instance,
      pid: slot.worker?.pid ?? null,
      status: state.status,
      restarts: slot.restarts,
      uptimeMs: online && slot.worker ? Date.now() - slot.worker.startedAt : 0,
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
