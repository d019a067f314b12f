/**
 * One handler per protocol method. The map's type makes a method without a handler a compile
 * error. Handlers receive validated params; whatever they throw becomes an error reply.
 */
import { isSignalName } from '../shared/app-spec-validate.js';
import { SupervisorError } from '../shared/errors.js';
import { PROTOCOL_VERSION, type DaemonInfo, type Method, type Params, type ProcessInfo, type Result } from '../shared/protocol.js';
import type { EventBus, Subscriber } from './events.js';
import type { MessageRouter } from './messages/router.js';
import { withMetrics } from './metrics.js';
import type { Registry, Selection } from './registry.js';
import type { Slot } from './slot.js';
import { loadDump, saveDump } from './state-file.js';

export interface HandlerContext {
  registry: Registry;
  bus: EventBus;
  messages: MessageRouter;
  dumpFile: string;
  info(): DaemonInfo;
  /** Stop every app, then the daemon (after the reply has gone out). */
  shutdown(): void;
  /** The connection the request came on, for subscriptions. */
  connection: { subscribe(subscriber: Omit<Subscriber, 'deliver'>): void };
}

type Handler<M extends Method> = (params: Params<M>, ctx: HandlerContext) => Promise<Result<M>>;
export type HandlerMap = { [M in Method]: Handler<M> };

/** How long `start` waits for new processes to leave 'launching' before it answers. */
const START_SETTLE_MS = 2000;

export const handlers: HandlerMap = {
  hello: async (params, ctx) => {
    if (params.protocol !== PROTOCOL_VERSION) {
      const info = ctx.info();
      throw new SupervisorError(
        'VERSION_MISMATCH',
        `the daemon (pid ${info.pid}, ${info.version}) speaks protocol ${PROTOCOL_VERSION}, this client ${params.protocol}: stop it with "kill ${info.pid}" (its apps stop gracefully) and retry`,
      );
    }
    return ctx.info();
  },

  ping: async (_params, ctx) => ctx.info(),

  start: async ({ apps: specs }, ctx) => {
    await ctx.registry.checkNew(specs);
    const started = specs.map((spec) => ctx.registry.add(spec));
    for (const app of started) for (const slot of app.slots) slot.start();
    await settle(started.flatMap((app) => app.slots));
    return rowsOf(ctx.registry, started.map((app) => ({ app, slots: app.slots })));
  },

  list: async (_params, ctx) => withMetrics(ctx.registry, ctx.registry.allInfo()),

  stop: async ({ target }, ctx) => {
    const selection = ctx.registry.select(target);
    await Promise.all(selection.flatMap(({ slots }) => slots.map((slot) => slot.stop())));
    for (const { app } of selection) {
      if (app.slots.every((slot) => slot.state.status === 'stopped')) app.closeSockets();
    }
    return rowsOf(ctx.registry, selection);
  },

  restart: async ({ target }, ctx) => {
    const selection = ctx.registry.select(target);
    await Promise.all(selection.flatMap(({ slots }) => slots.map((slot) => slot.restart())));
    await settle(selection.flatMap(({ slots }) => slots));
    return rowsOf(ctx.registry, selection);
  },

  reload: async ({ target }, ctx) => {
    const selection = ctx.registry.select(target);
    for (const { slots } of selection) {
      // One slot at a time: the others keep serving while each is replaced.
      for (const slot of slots) await slot.reload();
    }
    await settle(selection.flatMap(({ slots }) => slots));
    return rowsOf(ctx.registry, selection);
  },

  delete: async ({ target }, ctx) => {
    const selection = ctx.registry.select(target);
    await Promise.all(selection.flatMap(({ slots }) => slots.map((slot) => slot.stop())));
    const rows = rowsOf(ctx.registry, selection);
    for (const { app, slots } of selection) {
      if (slots.length === app.slots.length) ctx.registry.remove(app);
      else app.slots.splice(0, app.slots.length, ...app.slots.filter((s) => !slots.includes(s)));
    }
    return rows;
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
    while (app.slots.length < wanted) app.addSlot().start();
    const removed = app.slots.splice(wanted);
    await Promise.all(removed.map((slot) => slot.stop()));
    app.spec = { ...app.spec, instances: wanted };
    await settle(app.slots);
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

  subscribe: async ({ target, logs, events, messages = false }, ctx) => {
    let app: string | null = null;
    let id: number | null = null;
    if (target !== 'all') {
      const [selection] = ctx.registry.select(target);
      app = selection?.app.name ?? null;
      if (selection && selection.app.name !== target) id = selection.slots[0]?.id ?? null;
    }
    ctx.connection.subscribe({ logs, events, messages, app, id });
    return { subscribed: true };
  },

  kill: async (_params, ctx) => {
    const stopped = ctx.registry.allInfo().filter((row) => row.status !== 'stopped').length;
    ctx.shutdown();
    return { stopped };
  },
};

function rowsOf(registry: Registry, selection: readonly Selection[]): ProcessInfo[] {
  return selection.flatMap(({ app, slots }) => slots.map((slot) => registry.info(app, slot)));
}

/** Waits, bounded, until no slot is still launching, so replies show where things landed. */
async function settle(slots: readonly Slot[]): Promise<void> {
  const deadline = Date.now() + START_SETTLE_MS;
  while (Date.now() < deadline && slots.some((slot) => slot.state.status === 'launching')) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
