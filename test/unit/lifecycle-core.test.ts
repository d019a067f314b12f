/**
 * The lifecycle core on fake processes and a fake clock: the operation queue's rules, the
 * slot's reactions to process events while an operation works on it, stop budgets, and the
 * registry's name reservation. (interleavings.test.ts runs every pair of operations.)
 */
import { describe, expect, it } from 'vitest';
import { snapshot } from '../../src/daemon/desired-state.js';
import { handlers, type HandlerContext } from '../../src/daemon/handlers.js';
import { checkInvariants } from '../../src/daemon/invariants.js';
import { MAX_WAITING, OperationQueue, SKIPPED } from '../../src/daemon/operations.js';
import { DRAIN_ACK_MS, retire, stopBudgetMs } from '../../src/daemon/retire.js';
import { SupervisorError } from '../../src/shared/errors.js';
import { FakeClock, FakeProcess, fakeSpec, settleMicrotasks, world } from './fakes.js';

async function rejection(promise: Promise<unknown>): Promise<SupervisorError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(SupervisorError);
    return error as SupervisorError;
  }
  throw new Error('expected a rejection');
}

describe('the operation queue', () => {
  const never = (signal: AbortSignal): Promise<void> => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)));

  it('runs operations one at a time, in arrival order', async () => {
    const queue = new OperationQueue('web');
    const order: string[] = [];
    let release: () => void = () => undefined;
    const first = queue.run('restart', async () => {
      order.push('restart begins');
      await new Promise<void>((resolve) => (release = resolve));
      order.push('restart ends');
    });
    const second = queue.run('start', async () => void order.push('start'));
    await settleMicrotasks();
    expect(order).toEqual(['restart begins']);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['restart begins', 'restart ends', 'start']);
  });

  it('refuses a second reload while one runs or waits', async () => {
    const queue = new OperationQueue('web');
    const first = queue.run('reload', never);
    const error = await rejection(queue.run('reload', async () => undefined));
    expect(error.code).toBe('CONFLICT');
    expect(error.message).toBe('a reload of "web" is already in progress');
    void queue.run('stop', async () => undefined);
    expect((await rejection(first)).code).toBe('CONFLICT');
  });

  it('a stop aborts the running reload and cancels what waits, then runs', async () => {
    const queue = new OperationQueue('web');
    const reload = queue.run('reload', never);
    const start = queue.run('start', async () => 'started');
    const stop = queue.run('stop', async () => 'stopped');
    expect((await rejection(reload)).message).toBe('reload of "web" was cancelled: a stop of the same app came after it');
    expect((await rejection(start)).message).toBe('start of "web" was cancelled: a stop of the same app came after it');
    expect(await stop).toBe('stopped');
    expect(queue.idle).toBe(true);
  });

  it('a stop waits for a running operation that cannot be aborted', async () => {
    const queue = new OperationQueue('web');
    let release: () => void = () => undefined;
    const first = queue.run('stop', () => new Promise<string>((resolve) => (release = () => resolve('first'))));
    const second = queue.run('stop', async () => 'second');
    await settleMicrotasks();
    release();
    expect(await first).toBe('first');
    expect(await second).toBe('second');
  });

  it('refuses everything after a delete was accepted', async () => {
    const queue = new OperationQueue('web');
    void queue.run('delete', async () => undefined);
    const error = await rejection(queue.run('start', async () => undefined));
    expect(error.message).toBe('app "web" is being deleted');
  });

  it('skips a memory replacement unless idle', async () => {
    const queue = new OperationQueue('web');
    const running = queue.run('restart', never).catch(() => undefined);
    let ran = false;
    expect(await queue.run('replace', async () => void (ran = true))).toBe(SKIPPED);
    expect(ran).toBe(false);
    await queue.run('stop', async () => undefined);
    await running;
  });

  it('skips a cron tick unless idle; one that runs is aborted by a stop, and other operations wait behind it', async () => {
    const queue = new OperationQueue('web');
    const running = queue.run('restart', never).catch(() => undefined);
    let ran = false;
    expect(await queue.run('cron', async () => void (ran = true))).toBe(SKIPPED);
    expect(ran).toBe(false);
    expect(queue.waiting).toBe(0); // never queued behind the restart
    await queue.run('stop', async () => undefined);
    await running;

    const tick = queue.run('cron', never);
    // A reload arriving meanwhile is not refused as a second reload: it waits its turn.
    const reload = queue.run('reload', async () => 'reloaded');
    expect(queue.waiting).toBe(1);
    const stop = queue.run('stop', async () => 'stopped');
    expect((await rejection(tick)).message).toBe('cron of "web" was cancelled: a stop of the same app came after it');
    expect((await rejection(reload)).code).toBe('CONFLICT');
    expect(await stop).toBe('stopped');
  });

  it('a watch waits its turn behind anything, and one arriving while another waits joins it', async () => {
    const queue = new OperationQueue('web');
    const order: string[] = [];
    let release: () => void = () => undefined;
    const restart = queue.run('restart', () => new Promise<void>((resolve) => (release = resolve)));
    const first = queue.run('watch', async () => {
      order.push('first watch');
      return 'reloaded';
    });
    const second = queue.run('watch', async () => void order.push('second watch'));
    // The same operation: the second's body never runs, its caller gets the first's result.
    expect(second).toBe(first);
    expect(queue.waiting).toBe(1);
    release();
    await restart;
    expect(await second).toBe('reloaded');
    expect(order).toEqual(['first watch']);
  });

  it('a watch arriving while one runs waits for it (that one may have read the files before the change)', async () => {
    const queue = new OperationQueue('web');
    let release: () => void = () => undefined;
    const running = queue.run('watch', () => new Promise<string>((resolve) => (release = () => resolve('first'))));
    await settleMicrotasks();
    expect(queue.running).toBe('watch');
    const next = queue.run('watch', async () => 'second');
    expect(next).not.toBe(running);
    expect(queue.waiting).toBe(1);
    release();
    expect(await running).toBe('first');
    expect(await next).toBe('second');
  });

  it('a reload and a watch never refuse each other, in either order; a second reload still is refused; a cron tick is skipped', async () => {
    const queue = new OperationQueue('web');
    const order: string[] = [];
    let release: () => void = () => undefined;
    // A watch runs; a user reload waits behind it; a watch after that waits behind the reload.
    const running = queue.run('watch', () => new Promise<void>((resolve) => (release = resolve))).then(() => order.push('watch'));
    await settleMicrotasks();
    const reload = queue.run('reload', async () => void order.push('reload'));
    const watch = queue.run('watch', async () => void order.push('watch after reload'));
    expect(queue.waiting).toBe(2);
    expect((await rejection(queue.run('reload', async () => undefined))).message).toBe('a reload of "web" is already in progress');
    expect(await queue.run('cron', async () => 'ticked')).toBe(SKIPPED);
    release();
    await Promise.all([running, reload, watch]);
    expect(order).toEqual(['watch', 'reload', 'watch after reload']);
  });

  it('a stop aborts the running watch and cancels the waiting one, whoever joined it', async () => {
    const queue = new OperationQueue('web');
    const running = queue.run('watch', never);
    const waiting = queue.run('watch', never);
    const joined = queue.run('watch', never);
    const stop = queue.run('stop', async () => 'stopped');
    expect((await rejection(running)).message).toBe('watch of "web" was cancelled: a stop of the same app came after it');
    expect((await rejection(waiting)).message).toBe('watch of "web" was cancelled: a stop of the same app came after it');
    expect(joined).toBe(waiting);
    expect(await stop).toBe('stopped');
    expect(queue.idle).toBe(true);
  });

  it(`bounds the waiting operations at ${MAX_WAITING}`, async () => {
    const queue = new OperationQueue('web');
    void queue.run('restart', never).catch(() => undefined);
    const waiting = Array.from({ length: MAX_WAITING }, () => queue.run('start', async () => undefined).catch(() => undefined));
    const error = await rejection(queue.run('start', async () => undefined));
    expect(error.message).toContain(`too many operations are waiting for "web" (${MAX_WAITING})`);
    // A stop still gets in, and clears the way.
    await queue.run('stop', async () => undefined);
    await Promise.all(waiting);
  });

  it('survives a body that throws synchronously', async () => {
    const queue = new OperationQueue('web');
    const broken = queue.run('start', (() => {
      throw new Error('bug');
    }) as never);
    await expect(broken).rejects.toThrow('bug');
    expect(await queue.run('start', async () => 'next')).toBe('next');
  });
});

describe('slots and apps on fake processes', () => {
  it('an update checks each spec once, new apps and existing ones, before it changes anything', async () => {
    const w = world();
    const [web] = await w.registry.create([{ spec: fakeSpec({ name: 'web' }) }]);
    void web!.start();
    await w.clock.advance(2000);
    const verified: string[] = [];
    const verify = w.registry.verify.bind(w.registry);
    w.registry.verify = async (spec) => {
      verified.push(spec.name);
      await verify(spec);
    };
    const ctx = { registry: w.registry } as unknown as HandlerContext;
    // verify() reads the real disk: let real I/O finish between steps of the fake clock.
    let settled = false;
    const update = handlers.update({ apps: [fakeSpec({ name: 'web', killTimeoutMs: 100 }), fakeSpec({ name: 'api' })], how: 'restart' }, ctx).finally(() => (settled = true));
    for (let step = 0; step < 200 && !settled; step++) {
      await new Promise((resolve) => setImmediate(resolve));
      await w.clock.advance(500);
    }
    const result = await update;
    expect([result.started, result.updated]).toEqual([['api'], ['web']]);
    expect(verified).toEqual(['web', 'api']);

    // A spec that fails its check: nothing is created or changed, whichever app it is for.
    verified.length = 0;
    const failed = await rejection(handlers.update({ apps: [fakeSpec({ name: 'web', killTimeoutMs: 200 }), fakeSpec({ name: 'new', script: '/nonexistent/app.js' })], how: 'restart' }, ctx));
    expect([failed.code, failed.message]).toEqual(['FAILED', 'script /nonexistent/app.js does not exist']);
    expect(verified).toEqual(['web', 'new']);
    expect([...w.registry.apps.keys()]).toEqual(['web', 'api']);
    expect(w.registry.apps.get('web')?.spec.killTimeoutMs).toBe(100);
  });

  it("an app's spec.instances is its number of slots, at every moment (one fact, not two copies)", async () => {
    const w = world();
    const [app] = await w.registry.create([{ spec: fakeSpec({ instances: 1 }) }]);
    void app!.start();
    await w.clock.advance(2000);
    const counts = (): [number, number, number] => [app!.spec.instances, app!.slots.length, snapshot(w.registry).apps[0]?.spec.instances ?? -1];

    // Scaling up: the new slots count as soon as they exist, in the saved state too.
    const up = app!.scale(3);
    await settleMicrotasks();
    expect(counts()).toEqual([3, 3, 3]);
    await w.clock.advance(2000);
    await up;

    // Scaling down: the removed slots count until their processes are gone.
    const down = app!.scale(1);
    await settleMicrotasks();
    expect(counts()).toEqual([3, 3, 3]);
    await w.clock.advance(20_000);
    await down;
    expect(counts()).toEqual([1, 1, 1]);

    // Restored after a crash from a state file whose spec disagrees with its slots: the slots win.
    const [restored] = await w.registry.create([{ spec: fakeSpec({ name: 'again', instances: 5 }), slots: [{ id: 90, instance: 0 }, { id: 91, instance: 1 }] }]);
    expect(restored!.spec.instances).toBe(2);
    expect(checkInvariants(w.registry)).toEqual([]);
  });

  it('reload: a stop arriving mid-way terminates the replacement it started, and stops the rest', async () => {
    const w = world();
    const [app] = await w.registry.create([{ spec: fakeSpec({ mode: 'cluster', instances: 2 }) }]);
    void app!.start();
    await w.clock.advance(2000);
    const old = w.live();
    const reload = app!.reload().catch((error: unknown) => error);
    await w.clock.advance(300); // the first replacement is starting, not ready
    const candidate = w.live().find((p) => !old.includes(p)) as FakeProcess;
    expect(candidate).toBeDefined();
    const stop = app!.stop();
    await w.clock.advance(20_000);
    await stop;
    const error = (await reload) as SupervisorError;
    expect(error.code).toBe('CONFLICT');
    expect(candidate.alive).toBe(false);
    expect(candidate.signals).toContain('SIGINT');
    expect(w.live()).toEqual([]);
    expect(app!.slots.map((s) => s.state.status)).toEqual(['stopped', 'stopped']);
    expect(checkInvariants(w.registry)).toEqual([]);
  });

  it('reload: when the process being replaced crashes meanwhile, the replacement takes its place (no extra spawn)', async () => {
    const w = world();
    const [app] = await w.registry.create([{ spec: fakeSpec({ mode: 'cluster', instances: 1, expBackoffRestartDelayMs: 100 }) }]);
    void app!.start();
    await w.clock.advance(2000);
    const [old] = w.live() as [FakeProcess];
    const reload = app!.reload();
    await w.clock.advance(300);
    old.die(1, null); // its crash restart falls due at ~100 ms, while the reload holds the slot
    await w.clock.advance(5000);
    await reload;
    expect(w.spawned).toHaveLength(2);
    expect(app!.slots[0]!.state.status).toBe('online');
    expect(app!.slots[0]!.worker).toBe(w.spawned[1]);
    expect(checkInvariants(w.registry)).toEqual([]);
  });

  it('reload: a replacement that is never ready aborts the reload and the old process keeps serving', async () => {
    const w = world();
    const [app] = await w.registry.create([{ spec: fakeSpec({ mode: 'cluster', instances: 1, waitReady: true, listenTimeoutMs: 3000 }) }]);
    w.scripts.set('web', [{ readyAfterMs: 10 }, { readyAfterMs: null }]);
    void app!.start();
    await w.clock.advance(100);
    const [old] = w.live();
    const reload = app!.reload().catch((error: unknown) => error);
    await w.clock.advance(10_000);
    const error = (await reload) as SupervisorError;
    expect(error.code).toBe('FAILED');
    expect(error.message).toBe('reload of web aborted: the new process 0 was not ready within 3000 ms; the old one keeps serving');
    expect(w.live()).toEqual([old]);
    expect(app!.slots[0]!.state.status).toBe('online');
  });

  it('reload: old processes drain concurrently, so the reload takes about one drain', async () => {
    const w = world({ stopMs: 4000 });
    const [app] = await w.registry.create([{ spec: fakeSpec({ mode: 'cluster', instances: 3, killTimeoutMs: 10_000 }) }]);
    void app!.start();
    await w.clock.advance(2000);
    const began = w.clock.now();
    let done = 0;
    void app!.reload().then(() => (done = w.clock.now()));
    for (let i = 0; i < 40 && done === 0; i++) await w.clock.advance(250);
    // Three replacements ready after 1 s each (min_uptime), then the last old process's 4 s
    // stop: about 7 s, where one stop after another would take about 15 s.
    expect(done - began).toBeLessThan(8000);
    expect(done - began).toBeGreaterThanOrEqual(7000);
  });

  it('a crash restart waits while an operation holds the slot, then happens once', async () => {
    const w = world();
    const [app] = await w.registry.create([{ spec: fakeSpec({ instances: 1, restartDelayMs: 0 }) }]);
    void app!.start();
    await w.clock.advance(2000);
    const slot = app!.slots[0]!;
    let release: () => void = () => undefined;
    const held = slot.hold(() => new Promise<void>((resolve) => (release = resolve)));
    (slot.worker as FakeProcess).die(0, null);
    await w.clock.advance(1000);
    expect(slot.state.status).toBe('waiting-restart');
    expect(w.spawned).toHaveLength(1);
    release();
    await held;
    await w.clock.advance(10);
    expect(w.spawned).toHaveLength(2);
    expect(slot.state.status).not.toBe('waiting-restart');
  });

  it('an uncaught exception starts the replacement at once while the old process drains', async () => {
    const w = world();
    const [app] = await w.registry.create([{ spec: fakeSpec({ mode: 'cluster', instances: 1 }) }]);
    w.scripts.set('web', [{ stopMs: 3000 }]);
    void app!.start();
    await w.clock.advance(5000);
    const [old] = w.live() as [FakeProcess];
    old.fromRuntime({ t: 'fatal', message: 'boom' });
    await w.clock.advance(10);
    expect(w.spawned).toHaveLength(2);
    expect(app!.slots[0]!.worker).toBe(w.spawned[1]);
    expect([...app!.slots[0]!.processes()]).toContain(old);
    expect(checkInvariants(w.registry)).toEqual([]);
    await w.clock.advance(3000);
    expect(old.alive).toBe(false);
    expect([...app!.slots[0]!.processes()]).toEqual([w.spawned[1]]);
  });

  it('delete of one process lowers the instance count, so a saved state does not bring it back', async () => {
    const w = world();
    const [app] = await w.registry.create([{ spec: fakeSpec({ instances: 3 }) }]);
    void app!.start();
    await w.clock.advance(2000);
    const removed = app!.slots[1]!;
    const done = app!.remove([removed]);
    await w.clock.advance(1000);
    await done;
    expect(app!.spec.instances).toBe(2);
    expect(app!.slots.map((s) => s.id)).toEqual([0, 2]);
    expect(checkInvariants(w.registry)).toEqual([]);
  });

  it('a process stuck in the kernel (SIGKILL has no effect) does not keep a stop from finishing', async () => {
    const w = world({ ignoresSignal: true, unkillable: true });
    const [app] = await w.registry.create([{ spec: fakeSpec({ instances: 1, killTimeoutMs: 1000 }) }]);
    void app!.start();
    await w.clock.advance(2000);
    let stopped = false;
    void app!.stop().then(() => (stopped = true));
    await w.clock.advance(stopBudgetMs(app!.spec));
    expect(stopped).toBe(true);
    const [stuck] = w.spawned as [FakeProcess];
    expect(stuck.signals).toEqual(['SIGINT', 'SIGKILL']);
    expect(stuck.abandoned).toBe(true);
    expect(checkInvariants(w.registry)).toEqual([]);
  });

  it('two starts of one name at once: one creates the app, the other gets CONFLICT', async () => {
    const w = world();
    const results = await Promise.allSettled([w.registry.create([{ spec: fakeSpec() }]), w.registry.create([{ spec: fakeSpec() }])]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect((failed?.reason as SupervisorError).code).toBe('CONFLICT');
    expect(w.registry.apps.size).toBe(1);
  });
});

describe('stopping one process', () => {
  const spec = fakeSpec({ mode: 'cluster', drainTimeoutMs: 30_000, killTimeoutMs: 5000 });

  it('a worker that does not acknowledge the drain gets the kill signal after DRAIN_ACK_MS, not after drain_timeout', async () => {
    const clock = new FakeClock();
    const hung = new FakeProcess(clock, spec, { slotId: 0, instance: 0 }, { hung: true, ignoresSignal: true });
    let exited = false;
    void retire(hung, spec, clock, { serves: true, alreadyDraining: false, shutdownMessage: false, note: () => undefined }).then(() => (exited = true));
    await clock.advance(DRAIN_ACK_MS - 1);
    expect(hung.signals).toEqual([]);
    await clock.advance(1);
    expect(hung.signals).toEqual(['SIGINT']);
    await clock.advance(5000);
    expect(hung.signals).toEqual(['SIGINT', 'SIGKILL']);
    expect(exited).toBe(true);
  });

  it('a worker that acknowledges is given drain_timeout to finish, then stopped', async () => {
    const clock = new FakeClock();
    const busy = new FakeProcess(clock, spec, { slotId: 0, instance: 0 }, {});
    // It acknowledges but never reports drained.
    busy.sendRuntime = (message) => {
      if (message.t === 'drain') queueMicrotask(() => busy.fromRuntime({ t: 'draining' }));
      return true;
    };
    void retire(busy, spec, clock, { serves: true, alreadyDraining: false, shutdownMessage: false, note: () => undefined });
    await clock.advance(29_999);
    expect(busy.signals).toEqual([]);
    await clock.advance(1);
    expect(busy.signals).toEqual(['SIGINT']);
  });

  it('the stop budget is drain ack + drain_timeout + kill_timeout + a margin in cluster mode', () => {
    expect(stopBudgetMs(spec)).toBe(DRAIN_ACK_MS + 30_000 + 5000 + 6000);
    expect(stopBudgetMs({ ...spec, mode: 'fork' })).toBe(5000 + 6000);
  });
});
