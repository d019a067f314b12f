/**
 * One handler per protocol method. The map's type makes a method without a handler a compile
 * error. Handlers receive validated params; whatever they throw becomes an error reply.
 */
import { isSignalName } from '../shared/app-spec-validate.js';
import { SupervisorError } from '../shared/errors.js';
import { PROTOCOL_VERSION, type DaemonInfo, type Method, type Params, type ProcessInfo, type Result, type UpdateResult } from '../shared/protocol.js';
import type { EventBus, Subscriber } from './events.js';
import type { MessageRouting } from './message-routing.js';
import { withMetrics } from './metrics.js';
import type { Registry, Selection } from './registry.js';
import { checkInvariants } from './invariants.js';
import { loadDump, saveDump } from './state-file.js';

export interface HandlerContext {
  registry: Registry;
  bus: EventBus;
  messages: MessageRouting;
  dumpFile: string;
  info(): DaemonInfo;
  /** A notice for the next client (e.g. apps restored after a crash), given out once. */
  takeNotice(): string | null;
  /** Reopens every log file once (`reload-logs`, as SIGUSR2 does); resolves to how many. */
  reopenLogs(): Promise<number>;
  /** Stop every app, then the daemon (after the reply has gone out). */
  shutdown(): void;
  /** The connection the request came on, for subscriptions. */
  connection: { subscribe(subscriber: Omit<Subscriber, 'deliver'>): void };
}

type Handler<M extends Method> = (params: Params<M>, ctx: HandlerContext) => Promise<Result<M>>;
export type HandlerMap = { [M in Method]: Handler<M> };

export const handlers: HandlerMap = {
  hello: async (params, ctx) => {
    if (params.protocol !== PROTOCOL_VERSION) {
      const info = ctx.info();
      throw new SupervisorError(
        'VERSION_MISMATCH',
        `the daemon (pid ${info.pid}, ${info.version}) speaks protocol ${PROTOCOL_VERSION}, this client ${params.protocol}: stop it with "kill ${info.pid}" (its apps stop gracefully) and retry`,
      );
    }
    const notice = ctx.takeNotice();
    return notice ? { ...ctx.info(), notice } : ctx.info();
  },

  ping: async (_params, ctx) => ctx.info(),

  start: async ({ apps: specs }, ctx) => {
    const created = await ctx.registry.create(specs.map((spec) => ({ spec })));
    await eachApp(created.map((app) => ({ app, slots: app.slots })), ({ app }) => app.start());
    return rowsOf(ctx.registry, created.map((app) => ({ app, slots: app.slots })));
  },

  list: async (_params, ctx) => withMetrics(ctx.registry, ctx.registry.allInfo()),

  stop: async ({ target }, ctx) => {
    const selection = ctx.registry.select(target);
    await eachApp(selection, ({ app, slots }) => app.stop(slots));
    return rowsOf(ctx.registry, selection);
  },

  restart: async ({ target }, ctx) => {
    const selection = ctx.registry.select(target);
    await eachApp(selection, ({ app, slots }) => app.restart(slots));
    return rowsOf(ctx.registry, selection);
  },

  reload: async ({ target }, ctx) => {
    const selection = ctx.registry.select(target);
    // App after app, so that a failure stops the reload before the next app is touched.
    for (const { app, slots } of selection) await app.reload(slots);
    return rowsOf(ctx.registry, selection);
  },

  delete: async ({ target }, ctx) => {
    const selection = ctx.registry.select(target);
    await eachApp(selection, ({ app, slots }) => (slots.length < app.slots.length ? app.remove(slots) : app.delete()));
    return rowsOf(ctx.registry, selection);
  },

  reset: async ({ target }, ctx) => {
    const selection = ctx.registry.select(target);
    await eachApp(selection, ({ app, slots }) => app.reset(slots));
    return rowsOf(ctx.registry, selection);
  },

  describe: async ({ target }, ctx) => {
    const selection = ctx.registry.select(target);
    const rows = await withMetrics(ctx.registry, rowsOf(ctx.registry, selection));
    return selection.map(({ app, slots }) =>
      app.describe(
        slots.map((slot) => ({
          ...(rows.find((r) => r.id === slot.id) as ProcessInfo),
          lastExit: slot.lastExit,
          erroredReason: slot.erroredReason,
          nextRestartAt: slot.nextRestartAt,
          unstableExits: slot.policy.unstableExits,
          messages: { ...ctx.messages.counters(slot) },
        })),
      ),
    );
  },

  scale: async ({ name, count, relative }, ctx) => {
    const [selection] = ctx.registry.select(name);
    if (!selection || selection.app.name !== name) throw new SupervisorError('NOT_FOUND', `no app named "${name}"`);
    const app = selection.app;
    const wanted = relative ? app.slots.length + count : count;
    if (wanted < 1 || wanted > 1024) throw new SupervisorError('INVALID_REQUEST', `cannot scale ${name} to ${wanted} processes (1 to 1024)`);
    await app.scale(wanted);
    return rowsOf(ctx.registry, [{ app, slots: app.slots }]);
  },

  signal: async ({ target, signal }, ctx) => {
    const name = signal.toUpperCase().startsWith('SIG') ? signal.toUpperCase() : `SIG${signal.toUpperCase()}`;
    if (!isSignalName(name)) throw new SupervisorError('INVALID_REQUEST', `"${signal}" is not a signal name`);
    const selection = ctx.registry.select(target);
    let delivered = 0;
    for (const { slots } of selection) for (const slot of slots) if (slot.signal(name)) delivered++;
    if (delivered === 0) throw new SupervisorError('FAILED', `no running process of "${target}" to signal`);
    return rowsOf(ctx.registry, selection);
  },

  send: async ({ target, data }, ctx) => {
    const selection = ctx.registry.select(target);
    let delivered = 0;
    for (const { slots } of selection) for (const slot of slots) if (slot.send(data)) delivered++;
    if (delivered === 0) throw new SupervisorError('FAILED', `no running Node process of "${target}" to send to`);
    return { delivered };
  },

  sendData: async ({ id, packet }, ctx) => {
    ctx.messages.sendData(id, packet);
    return { success: true, data: packet };
  },

  flush: async ({ target }, ctx) => {
    let files = 0;
    for (const { app } of ctx.registry.select(target)) files += await app.logs.flush();
    return { files };
  },

  'reload-logs': async (_params, ctx) => ({ files: await ctx.reopenLogs() }),

  save: async (_params, ctx) => {
    const specs = [...ctx.registry.apps.values()].map((app) => app.spec);
    await saveDump(ctx.dumpFile, specs);
    return { file: ctx.dumpFile, apps: specs.length };
  },

  resurrect: async (_params, ctx) => {
    const specs = (await loadDump(ctx.dumpFile)).filter((spec) => !ctx.registry.apps.has(spec.name));
    if (specs.length === 0) return [];
    return handlers.start({ apps: specs }, ctx);
  },

  check: async (_params, ctx) => ({ problems: checkInvariants(ctx.registry) }),

  update: async ({ apps: specs, how }, ctx) => {
    // Everything is checked before anything changes.
    for (const spec of specs) await ctx.registry.verify(spec);
    const fresh = specs.filter((spec) => !ctx.registry.apps.has(spec.name));
    const created = await ctx.registry.create(fresh.map((spec) => ({ spec })), { verified: true });
    const result: UpdateResult = { started: created.map((app) => app.name), updated: [], unchanged: [], processes: [] };
    await eachApp(created.map((app) => ({ app, slots: app.slots })), ({ app }) => app.start());
    // One app after another, as a reload goes, so that a failure stops before the next app.
    for (const spec of specs) {
      const app = ctx.registry.apps.get(spec.name);
      if (!app || created.includes(app)) continue;
      (await app.update(spec, how)) ? result.updated.push(spec.name) : result.unchanged.push(spec.name);
    }
    result.processes = rowsOf(
      ctx.registry,
      specs.flatMap((spec) => {
        const app = ctx.registry.apps.get(spec.name);
        return app ? [{ app, slots: app.slots }] : [];
      }),
    );
    return result;
  },

  subscribe: async ({ target, logs, events, messages = false }, ctx) => {
    let apps: Set<string> | null = null;
    let id: number | null = null;
    if (target !== 'all') {
      // An app, a namespace (its apps as they are now) or one process id.
      const selection = ctx.registry.select(target);
      apps = new Set(selection.map(({ app }) => app.name));
      const [only] = selection;
      if (selection.length === 1 && only && only.app.name !== target && only.app.spec.namespace !== target) id = only.slots[0]?.id ?? null;
    }
    ctx.connection.subscribe({ logs, events, messages, apps, id });
    return { subscribed: true };
  },

  kill: async (_params, ctx) => {
    const stopped = ctx.registry.allInfo().filter((row) => row.status !== 'stopped').length;
    ctx.shutdown();
    return { stopped };
  },

  watch: async ({ target, watch }, ctx) => {
    // `watch` belongs to the app: a process id or a namespace selects the apps it names.
    const apps = [...new Set(ctx.registry.select(target).map(({ app }) => app))];
    const result: Result<'watch'> = [];
    for (const app of apps) {
      const watching = watch === 'toggle' && app.spec.watch.length === 0;
      await app.setWatch(watching ? ['.'] : []);
      result.push({ name: app.name, watching });
    }
    return result;
  },
};

function rowsOf(registry: Registry, selection: readonly Selection[]): ProcessInfo[] {
  return selection.flatMap(({ app, slots }) => slots.map((slot) => registry.info(app, slot)));
}

/**
 * Runs an operation on every selected app at once and waits for all of them, so one app's
 * failure does not leave another half done; then throws the first failure, if any.
 */
async function eachApp(selection: readonly Selection[], operation: (selection: Selection) => Promise<void>): Promise<void> {
  const outcomes = await Promise.allSettled(selection.map(operation));
  const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failed) throw failed.reason;
}
