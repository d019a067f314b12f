/**
 * Messages between processes (`supervisor-node/process`) and pm2's bus, end to end: real
 * daemon, real processes, apps in a folder outside the repository that do not depend on the
 * package (ESM and CommonJS), driven through the API with sendDataToProcessId and watched
 * through launchBus (see test/message-probe.ts).
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppDescription } from '../../src/shared/protocol.js';
import { byStatus, isAlive, ROOT, tempHome, waitFor, type Home } from '../helpers.js';
import { ProbeDriver, writeProbes, type ProbeFiles, type ProbeReport } from '../message-probe.js';

interface Running {
  home: Home;
  probes: ProbeFiles;
  driver: ProbeDriver;
}

async function setUp(): Promise<Running> {
  const home = await tempHome();
  const probes = await writeProbes();
  const ping = await home.cli(['ping']);
  expect(ping.code, ping.stderr).toBe(0);
  const driver = await ProbeDriver.connect(home.dir);
  return { home, probes, driver };
}

async function tearDown(running: Running | undefined): Promise<void> {
  running?.driver.close();
  await running?.home.cleanup();
  await running?.probes.remove();
}

/** Starts an app of the probe and waits until each of its processes has reported in. */
async function startProbe(r: Running, name: string, file: string, options: { args?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<number[]> {
  const started = await r.home.cli(['start', file, '--name', name, ...(options.args ?? [])], { env: options.env ?? {}, cwd: r.probes.dir });
  expect(started.code, started.stderr).toBe(0);
  const rows = await waitFor(async () => {
    const mine = (await r.home.list()).filter((p) => p.name === name);
    return mine.length > 0 && mine.every((p) => p.pid !== null) ? mine : null;
  }, `processes of ${name}`);
  await Promise.all(rows.map((row) => r.driver.started(row.id, row.pid as number)));
  return rows.map((row) => row.id);
}

async function describeApp(home: Home, name: string): Promise<AppDescription> {
  const result = await home.cli(['describe', name, '--json']);
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as AppDescription[])[0] as AppDescription;
}

function failed(report: ProbeReport, code: string): void {
  expect(report.ok, JSON.stringify(report)).toBe(false);
  expect(report.code, JSON.stringify(report)).toBe(code);
  expect(report.isMessageError).toBe(true);
}

describe('supervisor-node/process between ESM and CommonJS apps outside the repository', () => {
  let r: Running;
  let esm: number;
  let cjs: number[];
  beforeAll(async () => {
    r = await setUp();
    [esm] = (await startProbe(r, 'esm', r.probes.esm)) as [number];
    cjs = await startProbe(r, 'cjs', r.probes.cjs, { args: ['-i', '2', '--mode', 'fork'] });
  });
  afterAll(async () => tearDown(r));

  it('knows itself and its peers', async () => {
    const mine = await r.driver.do(esm, 'self');
    expect(mine.value).toMatchObject({ self: { id: esm, name: 'esm', instance: 0 }, supervised: true });
    const theirs = await r.driver.do(cjs[1] as number, 'self');
    expect(theirs.value).toMatchObject({ self: { id: cjs[1], name: 'cjs', instance: 1 }, supervised: true });

    const all = await r.driver.do(esm, 'peers');
    const rows = await r.home.list();
    expect(all.value).toEqual(rows.map((p) => ({ id: p.id, name: p.name, instance: p.instance, pid: p.pid, status: p.status })));
    const some = await r.driver.do(esm, 'peers', { app: 'cjs' });
    expect((some.value as { id: number }[]).map((p) => p.id)).toEqual(cjs);
    failed(await r.driver.do(esm, 'peers', { app: 'nope' }), 'NOT_FOUND');
  });

  it('answers requests by id, by instance and by app name (round-robin), both ways', async () => {
    const byId = await r.driver.do(esm, 'request', { target: cjs[0], data: { n: 1 } });
    expect(byId.value).toEqual({ data: { n: 1 }, from: { id: esm, name: 'esm', instance: 0, pid: expect.any(Number) }, by: cjs[0] });
    const back = await r.driver.do(cjs[0] as number, 'request', { target: 'esm', data: 'ping' });
    expect(back.value).toMatchObject({ data: 'ping', by: esm, from: { id: cjs[0], name: 'cjs', instance: 0 } });
    const byInstance = await r.driver.do(esm, 'request', { target: { app: 'cjs', instance: 1 }, data: null });
    expect(byInstance.value).toMatchObject({ by: cjs[1] });

    const answeredBy = new Set<number>();
    for (let i = 0; i < 4; i++) answeredBy.add(((await r.driver.do(esm, 'request', { target: 'cjs', data: i })).value as { by: number }).by);
    expect([...answeredBy].sort()).toEqual([...cjs].sort());
  });

  it('sends to every listening process of an app, and to nobody who does not listen', async () => {
    expect((await r.driver.do(esm, 'send', { target: 'cjs', data: 'unheard' })).value).toBe(0);
    for (const id of cjs) await r.driver.do(id, 'listen', { on: true });
    const sent = await r.driver.do(esm, 'send', { target: 'cjs', data: { hello: 'all' } });
    expect(sent.value).toBe(2);
    for (const id of cjs) {
      const got = await r.driver.waitReport((rep, topic, p) => topic === 'message' && p.process.id === id, `message in ${id}`);
      expect(got['data']).toEqual({ hello: 'all' });
      expect(got['from']).toMatchObject({ id: esm, name: 'esm', instance: 0 });
    }
    expect((await r.driver.do(esm, 'send', { target: cjs[0], data: 1 })).value).toBe(1);
    for (const id of cjs) await r.driver.do(id, 'listen', { on: false });
    expect((await r.driver.do(esm, 'send', { target: 'cjs', data: 'unheard' })).value).toBe(0);
  });

  it('fails with a code: NOT_FOUND, TOO_LARGE, REMOTE, TIMEOUT, QUEUE_FULL', async () => {
    failed(await r.driver.do(esm, 'request', { target: 999, data: 1 }), 'NOT_FOUND');
    failed(await r.driver.do(esm, 'send', { target: 'nope', data: 1 }), 'NOT_FOUND');
    failed(await r.driver.do(esm, 'request', { target: { app: 'cjs', instance: 7 }, data: 1 }), 'NOT_FOUND');

    const tooLarge = await r.driver.do(esm, 'flood', { kind: 'send', target: 'cjs', count: 1, size: 1024 * 1024 + 1 });
    expect(tooLarge.value).toEqual({ TOO_LARGE: 1 });

    await r.driver.do(cjs[0] as number, 'serve', { behavior: 'throw' });
    const thrown = await r.driver.do(esm, 'request', { target: cjs[0], data: { x: 1 } });
    failed(thrown, 'REMOTE');
    expect(thrown.message).toBe('handler failed on {"x":1}');
    expect(thrown.remote).toMatchObject({ name: 'Error', code: 'E_APP', message: 'handler failed on {"x":1}' });

    await r.driver.do(cjs[0] as number, 'serve', { behavior: 'big' });
    failed(await r.driver.do(esm, 'request', { target: cjs[0], data: 1 }), 'TOO_LARGE');

    await r.driver.do(cjs[0] as number, 'serve', { behavior: 'never' });
    const startedAt = Date.now();
    const timedOut = await r.driver.do(esm, 'request', { target: cjs[0], data: 1, timeout: 300 });
    failed(timedOut, 'TIMEOUT');
    expect(timedOut.at - startedAt).toBeGreaterThanOrEqual(250);

    // 4096 requests may await an answer at once; the rest are refused at once.
    const flood = await r.driver.do(esm, 'flood', { kind: 'request', target: cjs[0], count: 5000, data: 1, timeout: 1500 });
    expect(flood.value).toEqual({ TIMEOUT: 4096, QUEUE_FULL: 904 });

    // A handler that lets a MessageError through passes its code on.
    await r.driver.do(cjs[0] as number, 'serve', { behavior: 'nested' });
    failed(await r.driver.do(esm, 'request', { target: cjs[0], data: { target: 12345, data: 1 } }), 'NOT_FOUND');
    await r.driver.do(cjs[0] as number, 'serve', { behavior: 'echo' });
  });

  it('refuses messages to a process whose queue is full (QUEUE_FULL) and counts them in describe', async () => {
    // The target stops reading its channel for 3 s; 30 messages of 512 Ki characters do not fit in 8 Mi.
    await r.driver.do(cjs[1] as number, 'listen', { on: true });
    await r.driver.do(cjs[1] as number, 'block', { ms: 3000 });
    const flood = await r.driver.do(esm, 'flood', { kind: 'send', target: cjs[1], count: 30, size: 512 * 1024, sequential: true });
    const codes = flood.value as Record<string, number>;
    expect(codes['QUEUE_FULL'], JSON.stringify(codes)).toBeGreaterThan(0);
    expect(codes['ok'], JSON.stringify(codes)).toBeGreaterThan(0);
    expect((codes['ok'] ?? 0) + (codes['QUEUE_FULL'] ?? 0)).toBe(30);
    await r.driver.do(cjs[1] as number, 'listen', { on: false });

    const described = await describeApp(r.home, 'cjs');
    const counters = described.processes.find((p) => p.id === cjs[1])?.messages;
    expect(counters?.dropped).toBeGreaterThanOrEqual(codes['QUEUE_FULL'] as number);
    expect(counters?.in).toBeGreaterThan(0);
    const text = await r.home.cli(['describe', 'cjs']);
    expect(text.stdout).toMatch(/messages {3}\d+ in, \d+ out, \d+ dropped/);
  });

  it('rejects a bad target at once with a TypeError', async () => {
    const bad = await r.driver.do(esm, 'request', { target: -1, data: 1 });
    expect(bad).toMatchObject({ ok: false, name: 'TypeError', isMessageError: false });
  });
});

describe('requests to processes that exit, restart or are not serving yet', () => {
  let r: Running;
  afterAll(async () => tearDown(r));
  beforeAll(async () => {
    r = await setUp();
  });

  it('rejects with TARGET_GONE within 1 s of a SIGKILL, then resumes when the target is back', async () => {
    const [master] = (await startProbe(r, 'master', r.probes.cjs)) as [number];
    const [worker] = (await startProbe(r, 'worker', r.probes.esm, { env: { PROBE_SERVE: 'none' } })) as [number];
    const pid = (await r.home.list()).find((p) => p.id === master)?.pid as number;

    // { hang: true } is never answered.
    const ref = r.driver.do(worker, 'request', { target: 'master', data: { hang: true }, timeout: 20_000 });
    // The request is in the master's hands once its counters say so.
    await waitFor(async () => (await describeApp(r.home, 'master')).processes[0]?.messages.in === 1, 'the request to reach the master');
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    const gone = await ref;
    failed(gone, 'TARGET_GONE');
    expect(gone.at - killedAt).toBeLessThan(1000);
    expect(gone.message).toMatch(/exited before answering \(killed by SIGKILL\)/);

    // Sent while the master is down: it waits for the new master and gets its answer.
    const waiting = r.driver.do(worker, 'request', { target: 'master', data: 'after', timeout: 20_000 }, 25_000);
    const newPid = await waitFor(async () => {
      const row = (await r.home.list()).find((p) => p.id === master);
      return row?.pid && row.pid !== pid ? row.pid : null;
    }, 'the master to be restarted');
    await r.driver.started(master, newPid);
    const answered = await waiting;
    expect(answered.ok, JSON.stringify(answered)).toBe(true);
    expect(answered.value).toMatchObject({ data: 'after', by: master });
  });

  it('holds a request until its target registers a handler, up to the timeout', async () => {
    const [late] = (await startProbe(r, 'late', r.probes.esm, { env: { PROBE_SERVE: 'echo', PROBE_SERVE_AFTER: '4000' } })) as [number];
    const lateStarted = r.driver.reports('started', late)[0] as ProbeReport;
    const [asker] = (await startProbe(r, 'asker', r.probes.cjs, { env: { PROBE_SERVE: 'none' } })) as [number];
    const answered = await r.driver.do(asker, 'request', { target: 'late', data: 'early', timeout: 10_000 });
    expect(answered.ok, JSON.stringify(answered)).toBe(true);
    expect(answered.at - lateStarted.at).toBeGreaterThanOrEqual(4000);

    // Nobody serves 'asker' itself: a request to it times out.
    const [other] = (await startProbe(r, 'other', r.probes.cjs, { env: { PROBE_SERVE: 'none' } })) as [number];
    failed(await r.driver.do(other, 'request', { target: 'asker', data: 1, timeout: 500 }), 'TIMEOUT');
  });

  it('fails at once for a stopped target, and a waiting request when its target stops', async () => {
    const [sleeper] = (await startProbe(r, 'sleeper', r.probes.cjs, { env: { PROBE_SERVE: 'none' } })) as [number];
    const [asker2] = (await startProbe(r, 'asker2', r.probes.cjs, { env: { PROBE_SERVE: 'none' } })) as [number];
    const waiting = r.driver.do(asker2, 'request', { target: sleeper, data: 1, timeout: 20_000 });
    // Commands run in order, and so do the process's calls to the daemon: once peers() is
    // answered, the daemon holds the request.
    await r.driver.do(asker2, 'peers');
    expect((await r.home.cli(['stop', 'sleeper'])).code).toBe(0);
    failed(await waiting, 'TARGET_GONE');
    failed(await r.driver.do(asker2, 'request', { target: 'sleeper', data: 1 }), 'TARGET_GONE');
  });
});

describe('peer events', () => {
  let r: Running;
  afterAll(async () => tearDown(r));
  beforeAll(async () => {
    r = await setUp();
  });

  it('tells a watcher when a peer exits, restarts (new pid) or is reloaded, and only a watcher', async () => {
    const [watcher] = (await startProbe(r, 'watcher', r.probes.esm)) as [number];
    const [bystander] = (await startProbe(r, 'bystander', r.probes.cjs)) as [number];
    await r.driver.do(watcher, 'watch', { on: true });
    const peerEvents = (): { event: string; id: number; pid: number | null; previousPid: number | null }[] =>
      r.driver.reports('peer', watcher).map((rep) => rep['event'] as { event: string; id: number; pid: number | null; previousPid: number | null });

    const ids = await startProbe(r, 'pool', r.probes.cjs, { args: ['-i', '2'], env: { PROBE_READY: '1' } });
    const [first, second] = ids as [number, number];
    await waitFor(() => peerEvents().filter((e) => e.event === 'online' && ids.includes(e.id)).length === 2, 'online events');
    // Cluster-mode processes serve requests like any other.
    const answers = [await r.driver.do(watcher, 'request', { target: 'pool', data: 'c' }), await r.driver.do(watcher, 'request', { target: 'pool', data: 'c' })];
    expect(answers.map((a) => (a.value as { by: number }).by).sort()).toEqual([...ids].sort());

    const pid = (await r.home.list()).find((p) => p.id === first)?.pid as number;
    process.kill(pid, 'SIGKILL');
    const restart = await waitFor(() => peerEvents().find((e) => e.event === 'restart' && e.id === first), 'restart event');
    expect(restart.previousPid).toBe(pid);
    expect(restart.pid).not.toBe(pid);
    expect(peerEvents().find((e) => e.event === 'exit' && e.id === first)).toMatchObject({ pid });
    expect((await r.home.list()).find((p) => p.id === first)?.pid).toBe(restart.pid);

    // A reload replaces the process with no status in between: one restart event.
    const before = (await r.home.list()).find((p) => p.id === second)?.pid as number;
    const reloaded = await r.home.cli(['reload', 'pool']);
    expect(reloaded.code, reloaded.stderr).toBe(0);
    const after = await waitFor(() => peerEvents().find((e) => e.event === 'restart' && e.id === second), 'reload restart event');
    expect(after.previousPid).toBe(before);

    // The bystander never asked for peer events, so it was sent none.
    expect(r.driver.reports('peer', bystander)).toEqual([]);
    const described = await describeApp(r.home, 'bystander');
    expect(described.processes[0]?.messages.in).toBe(0);
  });
});

describe("pm2's bus and sendDataToProcessId", () => {
  let r: Running;
  afterAll(async () => tearDown(r));
  beforeAll(async () => {
    r = await setUp();
  });

  it('delivers packets both ways in pm2 shapes, with pm2 callbacks, and checks them as pm2 does', async () => {
    const [id] = (await startProbe(r, 'app', r.probes.cjs)) as [number];
    const pid = (await r.home.list()).find((p) => p.id === id)?.pid as number;
    const started = r.driver.packets.find((p) => p.topic === 'started' && p.process.id === id);
    expect(started).toMatchObject({ type: 'process:msg', topic: 'started', process: { id, pm_id: id, name: 'app', instance: 0, pid } });
    expect(typeof started?.at).toBe('number');

    const self = await r.driver.do(id, 'self');
    expect((self.value as { packet: unknown }).packet).toMatchObject({ id, type: 'process:msg', topic: 'do' });

    // pm2's callback form, with the id inside the packet.
    const result = await new Promise<unknown>((resolve, reject) =>
      void r.driver.sv.sendDataToProcessId({ id: String(id), type: 'process:msg', topic: 'do', data: { ref: 0, op: 'noop' } }, (error, res) => (error ? reject(error) : resolve(res))),
    );
    expect(result).toEqual({ success: true, data: { id, type: 'process:msg', topic: 'do', data: { ref: 0, op: 'noop' } } });

    const error = (packet: Record<string, unknown>, target: number = id): Promise<{ code: string; message: string }> =>
      r.driver.sv.sendDataToProcessId(target, packet as never).then(
        () => ({ code: 'none', message: '' }),
        (e: { code: string; message: string }) => e,
      );
    expect(await error({ type: 'process:msg', data: 1 })).toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringMatching(/topic/) });
    expect(await error({ type: 'process:msg', topic: 't' })).toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringMatching(/data/) });
    expect(await error({ topic: 't', data: 1 })).toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringMatching(/type/) });
    expect(await error({ type: 'process:msg', topic: 't', data: 1 }, 4242)).toMatchObject({ code: 'NOT_FOUND' });

    expect((await r.home.cli(['stop', 'app'])).code).toBe(0);
    expect(await error({ type: 'process:msg', topic: 't', data: 1 })).toMatchObject({ code: 'FAILED', message: expect.stringMatching(/offline/) });
    expect(isAlive(pid)).toBe(false);
  });
});

describe("seed 000's code with pm2 swapped for the API", () => {
  let r: Running;
  afterAll(async () => tearDown(r));
  beforeAll(async () => {
    r = await setUp();
  });

  it('finds the master with list(), and round-trips through sendDataToProcessId and callbacks', async () => {
    const config = join(r.probes.dir, 'seed.config.json');
    const dir = join(ROOT, 'test', 'fixtures', 'pm2-seed');
    await writeFile(
      config,
      JSON.stringify({
        apps: [
          { name: 'Master', script: join(dir, 'master.cjs') },
          { name: 'Worker', script: join(dir, 'worker.cjs'), instances: 3, exec_mode: 'fork' },
        ],
      }),
    );
    const started = await r.home.cli(['start', config]);
    expect(started.code, started.stderr).toBe(0);
    const done = await waitFor(() => {
      const reports = r.driver.reports('done');
      return reports.length === 3 ? reports : null;
    }, 'three workers to finish');
    const workers = (await r.home.list()).filter((p) => p.name === 'Worker').map((p) => p.id);
    expect(done.map((d) => d['processPID']).sort()).toEqual(workers.sort());
    for (const d of done) expect(d['answers']).toEqual([0, 2, 4, 6, 8]);
  });
});

describe('outside a daemon', () => {
  it('is not supervised, has no self, and rejects with DAEMON_GONE', async () => {
    const script = `import('${join(ROOT, 'dist', 'process', 'index.js')}').then(async (sv) => {
      const codes = [];
      for (const call of [() => sv.request('x', 1), () => sv.send(1, 1), () => sv.peers()]) await call().catch((e) => codes.push(e.code));
      console.log(JSON.stringify({ supervised: sv.supervised, self: sv.self, codes }));
    });`;
    const output = await run(process.execPath, ['-e', script], {});
    expect(JSON.parse(output.stdout)).toEqual({ supervised: false, self: null, codes: ['DAEMON_GONE', 'DAEMON_GONE', 'DAEMON_GONE'] });
  });

  it('rejects pending requests with DAEMON_GONE when the daemon goes, before the process ends', async () => {
    const probes = await writeProbes();
    try {
      const app = join(probes.dir, 'asks.cjs');
      await writeFile(
        app,
        `const sv = require('supervisor-node/process');
         process.on('SIGTERM', () => { console.log('SIGTERM'); process.exit(0); });
         sv.request('master', 1, { timeout: 30000 }).catch((e) => console.log(e.code));`,
      );
      // This test plays the daemon: it takes the request, then closes the channel.
      const child = spawn(process.execPath, ['--import', join(ROOT, 'dist', 'runtime', 'preload.js'), app], {
        env: { ...process.env, SUPERVISOR_ID: '7', SUPERVISOR_APP: 'asks', SUPERVISOR_INSTANCE: '0', SUPERVISOR_MODE: 'fork' },
        stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
        detached: true,
      });
      let stdout = '';
      child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      await new Promise<void>((resolve) =>
        child.on('internalMessage', (message: { t?: string }) => {
          if (message.t === 'req') resolve();
        }),
      );
      child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      // It ends either way (nothing holds it once the request failed, else the group's SIGTERM).
      expect(await exited).toBe(0);
      clearTimeout(timer);
      expect(stdout.trim().split('\n')[0]).toBe('DAEMON_GONE');
    } finally {
      await probes.remove();
    }
  });
});

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
