/**
 * cron_restart and watch on a fake clock: the cron schedule (with croner's real parser), the
 * merging of file changes into bursts, the ignore rules (the app's log files among them), and
 * the triggers of an app of fake processes (fired as operations of their own kinds on the
 * app's queue: a tick skipped while another operation runs, a burst waiting its turn and
 * joined by the next; disarmed by a stop, re-armed by an update).
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { AppTriggers, checkTriggers, type TriggerApp } from '../../src/daemon/triggers/app-triggers.js';
import { CronSchedule, MAX_TIMER_MS, parseCron } from '../../src/daemon/triggers/cron.js';
import { ignoreMatcher, type IgnoreRules } from '../../src/daemon/triggers/ignore.js';
import { BURST_CAP, ChangeBursts, type WatchOptions } from '../../src/daemon/triggers/watch.js';
import type { App } from '../../src/daemon/app.js';
import { appLogFiles } from '../../src/daemon/logs/app-logs.js';
import type { Clock } from '../../src/daemon/clock.js';
import { SupervisorError } from '../../src/shared/errors.js';
import { DEFAULT_LOG_SPEC } from '../../src/shared/log-options.js';
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

describe('what a watch ignores', () => {
  const rules = (patterns: string[], extra: Partial<IgnoreRules> = {}): ((path: string) => boolean) =>
    ignoreMatcher({ cwd: '/srv/app', roots: ['/srv/app', '/srv/shared'], patterns, never: [], own: () => false, ...extra }, (glob) => picomatch(glob, { dot: true }));

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

  it('never what the daemon writes: its home, and what the app\'s own test says', () => {
    const match = rules(['x'], { cwd: '/srv/app', never: ['/srv/app/.supervisor'], own: (path) => path.startsWith('/srv/app/web-out') });
    expect(match('/srv/app/.supervisor/state.json')).toBe(true);
    expect(match('/srv/app/web-out.log')).toBe(true);
    expect(match('/srv/app/lib/a.js')).toBe(false);
  });
});

describe("an app's own log files", () => {
  it('each file, its per-instance copies and the rotated copies of both, existing yet or not', () => {
    const own = appLogFiles('web', { ...DEFAULT_LOG_SPEC, outFile: '/srv/app/out.log', errFile: '/dev/null', logFile: true }, '/home/u/.supervisor/logs');
    for (const path of [
      '/srv/app/out.log',
      '/srv/app/out-0.log',
      '/srv/app/out-12.log',
      '/srv/app/out__2026-01-01_00-00-00-000.log',
      '/srv/app/out-3__2026-01-01_00-00-00-000-1.log.gz',
      '/home/u/.supervisor/logs/web.log',
      '/home/u/.supervisor/logs/web-1.log',
    ]) {
      expect(own(path), path).toBe(true);
    }
    for (const path of ['/srv/app/out.js', '/srv/app/outer.log', '/srv/app/out-x.log', '/srv/app/out.log.bak', '/srv/app/lib/out.log', '/dev/null', '/home/u/.supervisor/logs/web-err.log']) {
      expect(own(path), path).toBe(false);
    }
    // Sources whose names merely begin like a rotated copy are the app's, not its logs'.
    for (const path of ['/srv/app/out__tests__/a.js', '/srv/app/out__x.js', '/srv/app/out__2026-01-01_00-00-00-000.js', '/srv/app/out.log.gz']) {
      expect(own(path), path).toBe(false);
    }
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
    if (!watcher.never.some((p) => path === p || path.startsWith(`${p}/`)) && !watcher.own(path)) watcher.onChange(path);
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
    triggered: (kind, choose) => app.triggered(kind, choose),
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

  it('watch never sees the daemon home or the log files; the log test is made once, and again when the log options change', async () => {
    const w = world();
    const trigger: Parameters<typeof fakeSpec>[0] = { watch: ['.'], logs: { ...DEFAULT_LOG_SPEC, outFile: '/srv/app/out.log' } };
    const { app, triggers, watchers, sync } = await triggered(w, { instances: 1 }, trigger);
    void app.start();
    await w.clock.advance(2000);
    await sync();
    const watcher = watchers.live[0]!;
    expect(watcher.never).toEqual(['/home/u/.supervisor', '/home/u/.supervisor/logs']);
    expect(watcher.own('/srv/app/out-1.log')).toBe(true);
    expect(watcher.own('/srv/app/new-out.log')).toBe(false);
    // Another slot change is not a log change: the same test, the same watcher.
    await sync();
    // An update with a new out_file: the watcher stays, its own files follow.
    trigger.logs = { ...DEFAULT_LOG_SPEC, outFile: '/srv/app/new-out.log' };
    await sync();
    expect(watchers.opened).toHaveLength(1);
    expect(watcher.own('/srv/app/new-out__2026-01-01_00-00-00-000.log')).toBe(true);
    expect(watcher.own('/srv/app/out.log')).toBe(false);
    triggers.close();
  });

  it('watch: bursts while its reload waits join it (one reload, one note); it picks the processes at its turn', async () => {
    const w = world();
    const { app, triggers, watchers, sync } = await triggered(w, { mode: 'cluster', instances: 2 }, { watch: ['.'], watchDelayMs: 100 });
    void app.start();
    await w.clock.advance(2000);
    await sync();
    const scale = app.scale(3);
    // Two bursts while the scale runs: one watch operation waits, the second joined it.
    watchers.change(`${app.spec.cwd}/a.js`);
    await w.clock.advance(100);
    expect(app.ops.running).toBe('scale');
    watchers.change(`${app.spec.cwd}/b.js`);
    await w.clock.advance(100);
    expect(app.ops.waiting).toBe(1);
    await w.clock.advance(10_000);
    await scale;
    // The reload came after the scale, so it replaced the third process too.
    expect(app.reloads).toBe(1);
    expect(app.slots.map((slot) => slot.restarts)).toEqual([1, 1, 1]);
    expect(w.notes.filter((n) => n.includes('watch:'))).toEqual(['web/0: watch: b.js changed: reloading 3 processes']);
    triggers.close();
  });

  it('watch and a user reload never refuse each other: each waits its turn, both run', async () => {
    const w = world();
    const { app, triggers, watchers, sync } = await triggered(w, { mode: 'cluster', instances: 2 }, { watch: ['.'], watchDelayMs: 100 });
    void app.start();
    await w.clock.advance(2000);
    await sync();
    // A burst first: its reload runs; a user reload arriving meanwhile waits behind it.
    watchers.change(`${app.spec.cwd}/a.js`);
    await w.clock.advance(100);
    expect(app.ops.running).toBe('watch');
    const reload = app.reload();
    // ... and a burst during the user's reload waits behind that.
    watchers.change(`${app.spec.cwd}/b.js`);
    await w.clock.advance(100);
    expect(app.ops.waiting).toBe(2);
    await w.clock.advance(20_000);
    await reload;
    expect(app.reloads).toBe(3);
    expect(app.ops.idle).toBe(true);
    expect(w.notes.filter((n) => /failed|CONFLICT|already in progress/.test(n))).toEqual([]);
    expect(app.slots.every((slot) => slot.state.status === 'online')).toBe(true);
    triggers.close();
  });

  it('watch: a stop of some processes cancels the waiting reload; it is asked again and the others end up restarted', async () => {
    const w = world();
    const { app, triggers, watchers, sync } = await triggered(w, { instances: 2, killTimeoutMs: 20_000 }, { watch: ['.'], watchDelayMs: 100 });
    w.scripts.set('web', [{ stopMs: 3000 }, { stopMs: 3000 }]); // the first processes take 3 s to stop
    void app.start();
    await w.clock.advance(2000);
    await sync();
    const restart = app.restart().catch((error: unknown) => error);
    watchers.change(`${app.spec.cwd}/a.js`);
    await w.clock.advance(100);
    expect(app.ops.waiting).toBe(1);
    const stopOne = app.stop([app.slots[1]!]);
    await w.clock.advance(30_000);
    await restart;
    await stopOne;
    await w.clock.advance(30_000);
    expect(w.notes.filter((n) => n.includes('was cancelled'))).toHaveLength(1);
    // The process still wanted runs what changed: it was restarted by the watch's second try.
    expect(app.slots[0]!.state.status).toBe('online');
    expect(w.notes.some((n) => /watch: a\.js changed: restarting 1 process$/.test(n))).toBe(true);
    expect(app.ops.idle).toBe(true);
    triggers.close();
  });

  it('watch: a stop cancels the waiting reload (noted once) and nothing starts again', async () => {
    const w = world();
    const { app, triggers, watchers, sync } = await triggered(w, { instances: 1, killTimeoutMs: 20_000 }, { watch: ['.'], watchDelayMs: 100 });
    w.scripts.set('web', [{ stopMs: 3000 }]); // the first process takes 3 s to stop
    void app.start();
    await w.clock.advance(2000);
    await sync();
    const restart = app.restart().catch((error: unknown) => error);
    watchers.change(`${app.spec.cwd}/a.js`);
    await w.clock.advance(100);
    watchers.change(`${app.spec.cwd}/b.js`);
    await w.clock.advance(100);
    expect(app.ops.waiting).toBe(1);
    const stop = app.stop();
    await w.clock.advance(30_000);
    expect(await restart).toBeInstanceOf(SupervisorError);
    await stop;
    expect(w.notes.filter((n) => n.includes('watch:'))).toEqual(['web/0: watch: b.js changed: watch of "web" was cancelled: a stop of the same app came after it']);
    expect(w.live()).toEqual([]);
    triggers.close();
  });

  it('cron: a skipped tick is noted once, by the queue\'s one check', async () => {
    const w = world();
    const { app, triggers, sync } = await triggered(w, { instances: 1, killTimeoutMs: 20_000 }, { cronRestart: '*/2 * * * * *' });
    w.scripts.set('web', [{ ignoresSignal: true }]);
    void app.start();
    await w.clock.advance(1000);
    await sync();
    const restart = app.restart(); // takes until SIGKILL (20 s)
    await w.clock.advance(2000); // one tick, at 1 002 000
    expect(w.notes.filter((n) => n.includes('cron_restart'))).toEqual(['web/0: cron_restart: skipped, an operation on the app is in progress']);
    await w.clock.advance(30_000);
    await restart;
    triggers.close();
  });
});
