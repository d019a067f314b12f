/**
 * cron_restart and watch on a fake clock: the cron schedule (with croner's real parser), the
 * merging of file changes into bursts, the runner that keeps at most one action running and
 * one waiting, the ignore rules, and the triggers of an app of fake processes (fired through
 * the app's operation queue, skipped or postponed while another operation runs, disarmed by a
 * stop, re-armed by an update).
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { AppTriggers, checkTriggers, type TriggerApp } from '../../src/daemon/triggers/app-triggers.js';
import { CronSchedule, MAX_TIMER_MS, parseCron } from '../../src/daemon/triggers/cron.js';
import { ignoreMatcher, type IgnoreRules } from '../../src/daemon/triggers/ignore.js';
import { TriggerRunner } from '../../src/daemon/triggers/runner.js';
import { BURST_CAP, ChangeBursts, type WatchOptions } from '../../src/daemon/triggers/watch.js';
import type { App } from '../../src/daemon/app.js';
import type { Clock } from '../../src/daemon/clock.js';
import { SupervisorError } from '../../src/shared/errors.js';
import { FakeClock, fakeSpec, settleMicrotasks, world, type World } from './fakes.js';

const picomatch = createRequire(import.meta.url)('picomatch') as typeof import('picomatch');

describe('the cron schedule', () => {
  it('ticks at every matching second, on the clock it is given', async () => {
    const clock = new FakeClock(); // starts at 1 000 000 ms, a whole second
    const ticks: number[] = [];
    const schedule = new CronSchedule(clock, await parseCron('*/5 * * * * *'), () => ticks.push(clock.now()));
    expect(schedule.nextRunAt).toBe(1_005_000);
    await clock.advance(16_000);
    expect(ticks).toEqual([1_005_000, 1_010_000, 1_015_000]);
    expect(schedule.nextRunAt).toBe(1_020_000);
    schedule.close();
    await clock.advance(60_000);
    expect(ticks).toHaveLength(3);
    expect(clock.pending).toBe(0);
  });

  it('waits longer than a timer can in steps, and ticks once', async () => {
    const clock = new FakeClock();
    const ticks: number[] = [];
    // Once a year, on 1 July: more than 2^31 ms from 1 January 1970.
    const schedule = new CronSchedule(clock, await parseCron('0 0 1 7 *'), () => ticks.push(clock.now()));
    const due = schedule.nextRunAt as number;
    expect(due - clock.now()).toBeGreaterThan(MAX_TIMER_MS);
    await clock.advance(due - clock.now() - 1);
    expect(ticks).toEqual([]);
    await clock.advance(1);
    expect(ticks).toEqual([due]);
    schedule.close();
  });

  it('a timer that fires late (a suspended machine) ticks once and plans from now, not every missed time', async () => {
    const clock = new FakeClock();
    const late: Clock = { now: () => clock.now(), setTimeout: (callback, ms) => clock.setTimeout(callback, ms + 5500), clearTimeout: (timer) => clock.clearTimeout(timer) };
    const ticks: number[] = [];
    const schedule = new CronSchedule(late, await parseCron('* * * * * *'), () => ticks.push(clock.now()));
    await clock.advance(13_000);
    expect(ticks).toEqual([1_006_500, 1_012_500]);
    schedule.close();
  });

  it('parses 5 and 6 fields; anything else is INVALID_REQUEST with the reason', async () => {
    await expect(parseCron('0 3 * * *')).resolves.toBeDefined();
    await expect(parseCron('*/2 * * * * *')).resolves.toBeDefined();
    await expect(parseCron('@daily')).resolves.toBeDefined();
    for (const bad of ['not cron', '61 * * * *', '* * * * * * 2020', '0 0 30 2 *']) {
      const error = await parseCron(bad).catch((e: unknown) => e);
      expect(error, bad).toBeInstanceOf(SupervisorError);
      expect((error as SupervisorError).code).toBe('INVALID_REQUEST');
      expect((error as SupervisorError).message).toMatch(new RegExp(`^cron_restart "${bad.replace(/\*/g, '\\*')}" (is not a cron expression|never matches)`));
    }
    await expect(checkTriggers(fakeSpec({ cronRestart: 'every day' }))).rejects.toThrow('cron_restart "every day" is not a cron expression');
    await expect(checkTriggers(fakeSpec())).resolves.toBeUndefined();
  });
});

describe('file changes in bursts', () => {
  it('fires once when changes settle for the delay', async () => {
    const clock = new FakeClock();
    let fired = 0;
    const bursts = new ChangeBursts(clock, 1000, () => fired++);
    for (let i = 0; i < 4; i++) {
      bursts.change();
      await clock.advance(300);
    }
    expect(fired).toBe(0);
    await clock.advance(699);
    expect(fired).toBe(0);
    await clock.advance(1);
    expect(fired).toBe(1);
    expect(bursts.changes).toBe(4);
    expect(clock.pending).toBe(0);
  });

  it(`fires at most ${BURST_CAP} delays after the first change, however long changes go on`, async () => {
    const clock = new FakeClock();
    const fires: number[] = [];
    const start = clock.now();
    const bursts = new ChangeBursts(clock, 1000, () => fires.push(clock.now() - start));
    for (let i = 0; i < 120; i++) {
      bursts.change();
      await clock.advance(100);
    }
    bursts.close();
    // 12 s of changes every 100 ms: a fire every 5 s instead of none.
    expect(fires).toEqual([5000, 10_000]);
    expect(clock.pending).toBe(0);
  });
});

describe('the trigger runner', () => {
  function gate(): { open(): void; action: () => Promise<void>; runs: number } {
    const state = { runs: 0, open: () => undefined as void, action: async () => undefined as void };
    state.action = () => {
      state.runs += 1;
      return new Promise<void>((resolve) => (state.open = resolve));
    };
    return state;
  }

  it('drop: a request while the action runs is dropped', async () => {
    const g = gate();
    const runner = new TriggerRunner(() => g.action(), 'drop');
    expect(runner.request()).toBe('run');
    expect(runner.request()).toBe('dropped');
    g.open();
    await settleMicrotasks();
    expect(g.runs).toBe(1);
    expect(runner.request()).toBe('run');
    expect(g.runs).toBe(2);
  });

  it('coalesce: requests while it runs make one more run after it', async () => {
    const g = gate();
    const runner = new TriggerRunner(() => g.action(), 'coalesce');
    expect(runner.request()).toBe('run');
    expect(runner.request()).toBe('pending');
    expect(runner.request()).toBe('dropped');
    g.open();
    await settleMicrotasks();
    expect(g.runs).toBe(2);
    g.open();
    await settleMicrotasks();
    expect(g.runs).toBe(2);
    expect(runner.running).toBe(false);
  });

  it('keeps working after a failed action; closed, it starts nothing', async () => {
    let runs = 0;
    const runner = new TriggerRunner(async () => {
      runs += 1;
      throw new Error('reload failed');
    }, 'coalesce');
    runner.request();
    await settleMicrotasks();
    runner.request();
    await settleMicrotasks();
    expect(runs).toBe(2);
    runner.close();
    expect(runner.request()).toBe('dropped');
  });
});

describe('what a watch ignores', () => {
  const rules = (patterns: string[], extra: Partial<IgnoreRules> = {}): ((path: string) => boolean) =>
    ignoreMatcher({ cwd: '/srv/app', roots: ['/srv/app', '/srv/shared'], patterns, never: () => [], neverPrefixes: () => [], ...extra }, (glob) => picomatch(glob, { dot: true }));

  it('always node_modules and .git; dot files only without ignore_watch (as pm2)', () => {
    const none = rules([]);
    expect(none('/srv/app/server.js')).toBe(false);
    expect(none('/srv/app/lib/a.js')).toBe(false);
    expect(none('/srv/app/node_modules/x/index.js')).toBe(true);
    expect(none('/srv/app/.git/HEAD')).toBe(true);
    expect(none('/srv/app/.env')).toBe(true);
    expect(none('/srv/app/src/.server.js.swp')).toBe(true);
    const some = rules(['tmp']);
    expect(some('/srv/app/.env')).toBe(false);
    expect(some('/srv/app/.git/index')).toBe(true);
    expect(some('/srv/app/lib/node_modules/a.js')).toBe(true);
  });

  it('a glob without / matches any name on the path; with /, the path from cwd and its folders', () => {
    const match = rules(['*.log', 'tmp*', '\\.cache', 'client/img', '**/*.test.js', '/srv/shared/big']);
    expect(match('/srv/app/out.log')).toBe(true);
    expect(match('/srv/app/a/b/debug.log')).toBe(true);
    expect(match('/srv/app/tmp-1/x.js')).toBe(true);
    expect(match('/srv/app/.cache/x')).toBe(true);
    expect(match('/srv/app/client/img/a/logo.png')).toBe(true);
    expect(match('/srv/app/client/js/app.js')).toBe(false);
    expect(match('/srv/app/lib/a.test.js')).toBe(true);
    expect(match('/srv/app/lib/a.js')).toBe(false);
    expect(match('/srv/shared/big/file')).toBe(true);
    expect(match('/srv/shared/small/file')).toBe(false);
    // A root outside cwd: names are read from that root.
    expect(match('/srv/shared/x.log')).toBe(true);
  });

  it('never what the daemon writes: its home, the log files and their rotated copies', () => {
    const match = rules(['x'], { cwd: '/srv/app', never: () => ['/srv/app/.supervisor', '/srv/app/web-out.log'], neverPrefixes: () => ['/srv/app/web-out__'] });
    expect(match('/srv/app/.supervisor/state.json')).toBe(true);
    expect(match('/srv/app/web-out.log')).toBe(true);
    expect(match('/srv/app/web-out__2026-01-01_00-00-00-000.log.gz')).toBe(true);
    expect(match('/srv/app/web-out.js')).toBe(false);
  });
});

/** A watcher the test drives: `change(path)` is a file change that was not ignored. */
class FakeWatchers {
  opened: (WatchOptions & { closed: boolean })[] = [];
  readonly open = async (options: WatchOptions): Promise<{ ready: boolean; close(): Promise<void> }> => {
    const entry = { ...options, closed: false };
    this.opened.push(entry);
    return { ready: true, close: async () => void (entry.closed = true) };
  };

  get live(): (WatchOptions & { closed: boolean })[] {
    return this.opened.filter((w) => !w.closed);
  }

  change(path: string): void {
    const [watcher] = this.live;
    if (!watcher) throw new Error('no watcher is open');
    if (!watcher.never().some((p) => path === p || path.startsWith(`${p}/`))) watcher.onChange(path);
  }
}

/**
 * An app of fake processes and AppTriggers under test, with their own spec (the app's own
 * triggers see no watch and no cron). `sync()` is called where the app would call it.
 */
async function triggered(w: World, specOverrides: Parameters<typeof fakeSpec>[0], triggerSpec: Parameters<typeof fakeSpec>[0]) {
  const [app] = (await w.registry.create([{ spec: fakeSpec(specOverrides) }])) as [App];
  const watchers = new FakeWatchers();
  const target: TriggerApp = {
    get spec() {
      return { ...app.spec, ...triggerSpec };
    },
    clock: app.clock,
    slots: app.slots,
    ops: app.ops,
    logs: app.logs,
    reload: (slots, as) => app.reload(slots, as),
    restart: (slots, as) => app.restart(slots, as),
    note: (id, text) => app.note(id, text),
  } as TriggerApp;
  const triggers = new AppTriggers(target, '/home/u/.supervisor/logs', watchers.open);
  const sync = async (): Promise<void> => {
    triggers.sync();
    await settleMicrotasks();
  };
  return { app, triggers, watchers, sync };
}

const pids = (w: World): number[] => w.live().map((p) => p.pid);

describe('the triggers of an app', () => {
  it('cron in fork mode: restarts the running processes at each tick (restart counter, new pid)', async () => {
    const w = world();
    const { app, triggers, sync } = await triggered(w, { instances: 2 }, { cronRestart: '*/10 * * * * *' });
    void app.start();
    await w.clock.advance(2000);
    await sync();
    const before = pids(w);
    expect(triggers.describe().cron).toEqual({ expression: '*/10 * * * * *', armed: true, nextRunAt: 1_010_000 });
    await w.clock.advance(8000 + 3000);
    expect(pids(w)).toHaveLength(2);
    expect(pids(w).some((pid) => before.includes(pid))).toBe(false);
    expect(app.slots.map((s) => s.restarts)).toEqual([1, 1]);
    expect(w.notes.some((n) => n.includes('cron_restart: restarting 2 processes'))).toBe(true);
    triggers.close();
  });

  it('cron in cluster mode: a reload (replacement before the old one goes)', async () => {
    const w = world();
    const { app, triggers, sync } = await triggered(w, { mode: 'cluster', instances: 2 }, { cronRestart: '*/10 * * * * *' });
    void app.start();
    await w.clock.advance(2000);
    await sync();
    await w.clock.advance(8000 + 5000);
    expect(app.reloads).toBe(1);
    expect(app.slots.every((s) => s.state.status === 'online')).toBe(true);
    triggers.close();
  });

  it('cron: a tick while another operation runs is skipped, never queued behind it', async () => {
    const w = world();
    const { app, triggers, sync } = await triggered(w, { instances: 1, killTimeoutMs: 20_000 }, { cronRestart: '*/2 * * * * *' });
    w.scripts.set('web', [{ ignoresSignal: true }]);
    void app.start();
    await w.clock.advance(1000);
    await sync();
    void app.restart(); // takes until SIGKILL (20 s)
    await w.clock.advance(1000);
    void app.restart().catch(() => undefined);
    await w.clock.advance(6000);
    expect(w.notes.filter((n) => n.includes('cron_restart: skipped')).length).toBeGreaterThanOrEqual(2);
    expect(app.ops.waiting).toBe(1); // only the second restart waits; no tick queued
    triggers.close();
  });

  it('cron: off once the app is stopped, on again when it starts; an update re-arms with the new expression', async () => {
    const w = world();
    const trigger = { cronRestart: '*/10 * * * * *' as string | null };
    const { app, triggers, sync } = await triggered(w, { instances: 1 }, trigger);
    void app.start();
    await w.clock.advance(2000);
    await sync();
    expect(triggers.describe().cron?.armed).toBe(true);
    const stop = app.stop();
    await w.clock.advance(1000);
    await stop;
    await sync();
    expect(triggers.describe().cron).toEqual({ expression: '*/10 * * * * *', armed: false, nextRunAt: null });
    const spawned = w.spawned.length;
    await w.clock.advance(30_000);
    expect(w.spawned).toHaveLength(spawned);
    void app.start();
    await w.clock.advance(100);
    await sync();
    expect(triggers.describe().cron?.armed).toBe(true);
    trigger.cronRestart = '0 0 * * * *';
    await sync();
    expect(triggers.describe().cron).toMatchObject({ expression: '0 0 * * * *', armed: true, nextRunAt: 3_600_000 });
    trigger.cronRestart = null;
    await sync();
    expect(triggers.describe().cron).toBeNull();
    triggers.close();
  });

  it('watch: a burst of changes is one restart, after the delay; changes during it make one more', async () => {
    const w = world();
    const { app, triggers, watchers, sync } = await triggered(w, { instances: 1, killTimeoutMs: 3000 }, { watch: ['.'], watchDelayMs: 500 });
    w.scripts.set('web', [{ stopMs: 2000 }]); // the first process takes 2 s to stop
    void app.start();
    await w.clock.advance(2000);
    await sync();
    expect(watchers.live).toHaveLength(1);
    expect(watchers.live[0]!.roots).toEqual([app.spec.cwd]);
    for (let i = 0; i < 10; i++) {
      watchers.change(`${app.spec.cwd}/file-${i}.js`);
      await w.clock.advance(50);
    }
    expect(app.slots[0]!.restarts).toBe(0);
    await w.clock.advance(500);
    expect(w.notes.filter((n) => n.includes('watch: file-9.js changed: restarting 1 process'))).toHaveLength(1);
    // The restart is under way (the old process takes 2 s to stop): these make one more.
    watchers.change(`${app.spec.cwd}/late.js`);
    watchers.change(`${app.spec.cwd}/later.js`);
    await w.clock.advance(10_000);
    expect(app.slots[0]!.restarts).toBe(2);
    expect(w.notes.filter((n) => n.includes('restarting 1 process'))).toHaveLength(2);
    triggers.close();
  });

  it('watch: a change while another operation runs waits for it, then reloads once', async () => {
    const w = world();
    const { app, triggers, watchers, sync } = await triggered(w, { mode: 'cluster', instances: 2 }, { watch: ['src'], watchDelayMs: 100 });
    void app.start();
    await w.clock.advance(2000);
    await sync();
    const reload = app.reload();
    watchers.change(`${app.spec.cwd}/src/a.js`);
    await w.clock.advance(200);
    expect(app.reloads).toBe(0);
    await w.clock.advance(5000);
    await reload;
    await w.clock.advance(5000);
    expect(app.reloads).toBe(2);
    triggers.close();
  });

  it('watch: stop closes the watcher (a stopped app does not start on change); start opens it again', async () => {
    const w = world();
    const { app, triggers, watchers, sync } = await triggered(w, { instances: 1 }, { watch: ['.'], watchDelayMs: 100 });
    void app.start();
    await w.clock.advance(2000);
    await sync();
    const stop = app.stop();
    await sync();
    await w.clock.advance(1000);
    await stop;
    await sync();
    expect(watchers.live).toHaveLength(0);
    expect(triggers.describe().watch).toMatchObject({ armed: false });
    void app.start();
    await w.clock.advance(100);
    await sync();
    expect(watchers.live).toHaveLength(1);
    expect(watchers.opened).toHaveLength(2);
    triggers.close();
    expect(watchers.live).toHaveLength(0);
  });

  it('watch: a restart (stop then start inside one operation) keeps the watcher', async () => {
    const w = world();
    const { app, triggers, watchers, sync } = await triggered(w, { instances: 1 }, { watch: ['.'] });
    void app.start();
    await w.clock.advance(2000);
    await sync();
    const restart = app.restart();
    await sync();
    await w.clock.advance(3000);
    await restart;
    await sync();
    expect(watchers.opened).toHaveLength(1);
    expect(watchers.live).toHaveLength(1);
    triggers.close();
  });

  it('watch never sees the daemon home or the log files', async () => {
    const w = world();
    const { app, triggers, watchers, sync } = await triggered(w, { instances: 1 }, { watch: ['.'] });
    void app.start();
    await w.clock.advance(2000);
    await sync();
    const never = watchers.live[0]!.never();
    expect(never).toContain('/home/u/.supervisor');
    expect(never).toContain('/home/u/.supervisor/logs');
    triggers.close();
  });
});
