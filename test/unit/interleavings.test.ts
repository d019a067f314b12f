/**
 * Every pair of lifecycle operations, the second arriving at several points while the first
 * runs ("operation A, then B at step k"), on fake processes and a fake clock. Whatever
 * interleaves, afterwards:
 * - both operations have settled (nothing hangs), and a refusal is a CONFLICT; a watch reload
 *   and any other operation but a stop or delete both succeed (they wait for each other);
 * - the daemon's consistency check finds nothing (no orphaned process, no slot in a state its
 *   processes contradict, instance counts right, no port held by a stopped app);
 * - the app ends as the later command asked: stopped after a stop, gone after a delete,
 *   online after a start, restart, reload or scale.
 */
import { describe, expect, it } from 'vitest';
import type { App } from '../../src/daemon/app.js';
import { checkInvariants } from '../../src/daemon/invariants.js';
import { SupervisorError } from '../../src/shared/errors.js';
import { fakeSpec, world, type FakeProcess, type Script, type World } from './fakes.js';

type Intent = 'online' | 'stopped' | 'gone' | null;

interface Op {
  run(w: World, app: App): Promise<unknown>;
  /** What the app should look like once this op has succeeded (null: no opinion). */
  intent: Intent;
}

// Each command names the slots as they are when it arrives, as the request handlers do.
const OPS: Record<string, Op> = {
  start: { run: (_w, app) => app.start([...app.slots]), intent: 'online' },
  stop: { run: (_w, app) => app.stop([...app.slots]), intent: 'stopped' },
  restart: { run: (_w, app) => app.restart([...app.slots]), intent: 'online' },
  reload: { run: (_w, app) => app.reload([...app.slots]), intent: 'online' },
  delete: { run: (_w, app) => app.delete(), intent: 'gone' },
  // Scaling changes the count, not whether the app runs.
  'scale to 3': { run: (_w, app) => app.scale(3), intent: null },
  'scale to 1': { run: (_w, app) => app.scale(1), intent: null },
  // Of the app's first process as it is when the command arrives; if that turns out to be the
  // last one, the app goes.
  'delete one process': { run: (_w, app) => app.remove([app.slots[0]!]), intent: null },
  'config reload': { run: (_w, app) => app.update({ ...app.spec, env: { DEPLOY: String(Math.random()) } }, 'reload'), intent: 'online' },
  'memory replacement': { run: (_w, app) => app.replaceOne(app.slots[0]!), intent: null },
  // The triggers' operations, choosing at their turn what should run then (as AppTriggers does):
  // they change which processes run, not whether the app runs.
  'cron tick': { run: (_w, app) => app.triggered('cron', () => app.slots.filter((slot) => slot.wanted)), intent: null },
  'watch change': { run: (_w, app) => app.triggered('watch', () => app.slots.filter((slot) => slot.wanted)), intent: null },
  crash: {
    run: async (_w, app) => {
      (app.slots[0]?.worker as FakeProcess | null)?.die(1, null);
    },
    intent: null,
  },
};

const SUPERSEDING = ['stop', 'delete', 'delete one process'];

/** Fake milliseconds after A at which B arrives: at once, a moment later, mid-readiness, after the first swap. */
const STEPS = [0, 1, 300, 1200];

interface Outcome {
  settled: boolean;
  error: unknown;
}

function track(promise: Promise<unknown>): Outcome {
  const outcome: Outcome = { settled: false, error: null };
  promise.then(
    () => (outcome.settled = true),
    (error: unknown) => {
      outcome.settled = true;
      outcome.error = error;
    },
  );
  return outcome;
}

async function onlineApp(script: Script, mode: 'cluster' | 'fork' = 'cluster'): Promise<{ w: World; app: App }> {
  const w = world(script);
  const [app] = await w.registry.create([{ spec: fakeSpec({ mode, instances: 2 }) }]);
  const started = track(app!.start());
  await w.clock.advance(2000);
  expect(started.settled).toBe(true);
  expect(app!.slots.map((s) => s.state.status)).toEqual(['online', 'online']);
  return { w, app: app! };
}

async function runPair(a: string, b: string, step: number, script: Script): Promise<void> {
  const { w, app } = await onlineApp(script);
  const first = track(OPS[a]!.run(w, app));
  if (step > 0) await w.clock.advance(step);
  const second = track(OPS[b]!.run(w, app));
  // Long enough for every stop budget, back-off and settle wait to run out.
  for (let i = 0; i < 12 && !(first.settled && second.settled && app.ops.idle); i++) await w.clock.advance(20_000);

  expect(first.settled, `${a} settled`).toBe(true);
  expect(second.settled, `${b} settled`).toBe(true);
  for (const [name, outcome] of [[a, first], [b, second]] as const) {
    if (outcome.error !== null) {
      expect(outcome.error, `${name} failed with ${String(outcome.error)}`).toBeInstanceOf(SupervisorError);
      expect((outcome.error as SupervisorError).code, String(outcome.error)).toBe('CONFLICT');
    }
  }
  // A watch reload waits its turn and is waited for: only what supersedes it (a stop, a delete) makes either fail.
  if ([a, b].includes('watch change') && ![a, b].some((name) => SUPERSEDING.includes(name))) {
    expect([first.error, second.error], `${a} then ${b}`).toEqual([null, null]);
  }
  await w.clock.advance(30_000); // crash restarts that fell due
  expect(checkInvariants(w.registry)).toEqual([]);

  const succeeded = (name: string, outcome: Outcome): Intent => (outcome.error === null ? OPS[name]!.intent : null);
  let intent: Intent = succeeded(b, second) ?? succeeded(a, first) ?? 'online';
  // Deleting what turned out to be the app's last process deletes the app.
  const removedOne = [[a, first], [b, second]].some(([name, outcome]) => name === 'delete one process' && (outcome as Outcome).error === null);
  if (removedOne && !w.registry.apps.has('web')) intent = 'gone';
  const live = w.live();
  if (intent === 'gone') {
    expect(w.registry.apps.has('web')).toBe(false);
    expect(live).toEqual([]);
    return;
  }
  expect(w.registry.apps.get('web')).toBe(app);
  const statuses = app.slots.map((slot) => slot.state.status);
  expect(statuses.every((s) => s === intent), `${statuses.join(', ')} after ${a} then ${b}`).toBe(true);
  // Exactly one process per online slot, and it is the slot's own.
  expect(live.length).toBe(intent === 'online' ? app.slots.length : 0);
  for (const process of live) expect(app.slots.some((slot) => slot.worker === process)).toBe(true);
  expect(app.spec.instances).toBe(app.slots.length);
}

const CASES = Object.keys(OPS).flatMap((a) => Object.keys(OPS).flatMap((b) => STEPS.map((step): [string, string, number] => [a, b, step])));

describe('operation A, then operation B at step k (healthy processes)', () => {
  it.each(CASES)('%s, then %s after %i ms', async (a, b, step) => {
    await runPair(a, b, step, {});
  });
});

describe('operation A, then operation B at step k (processes that ignore the kill signal)', () => {
  const slow = CASES.filter(([a, b]) => ['stop', 'reload', 'delete', 'restart'].includes(a) && ['stop', 'reload', 'delete', 'start'].includes(b));
  it.each(slow)('%s, then %s after %i ms', async (a, b, step) => {
    await runPair(a, b, step, { ignoresSignal: true });
  });
});
