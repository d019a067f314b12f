import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppDescription } from '../../src/shared/protocol.js';
import { byStatus, expectOk, fixture, freePort, httpGet, isAlive, tempHome, waitFor, type Home } from '../helpers.js';

describe('lifecycle', () => {
  let home: Home;
  afterEach(async () => home?.cleanup());

  async function startConfig(app: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<void> {
    const file = join(home.dir, 'app.config.json');
    await writeFile(file, JSON.stringify({ apps: [app] }));
    const started = await home.cli(['start', file], { env });
    expect(started.code, started.stderr).toBe(0);
  }

  async function describeApp(name: string): Promise<AppDescription> {
    const result = await home.cli(['describe', name, '--json']);
    expect(result.code, result.stderr).toBe(0);
    return (JSON.parse(result.stdout) as AppDescription[])[0] as AppDescription;
  }

  it('marks a crash loop errored, says why in describe, and does not retry when told not to', async () => {
    home = await tempHome();
    await startConfig({
      name: 'crashy',
      script: fixture('crash-app.cjs'),
      max_restarts: 3,
      // Every exit unstable, however long a loaded machine takes between ready and exit.
      min_uptime: 60_000,
      exp_backoff_restart_delay: 20,
      backoff_cap: 200,
      retry_after_crash_loop: false,
    });
    const [row] = await byStatus(home, 'crashy', 'errored', 1);
    const described = await describeApp('crashy');
    const proc = described.processes[0];
    expect(proc?.erroredReason).toMatch(/crash loop: 3 unstable exits/);
    expect(proc?.lastExit?.code).toBe(1);
    expect(proc?.lastExit?.stderrTail.join('\n')).toMatch(/failing on purpose/);
    expect(proc?.nextRestartAt).toBeNull();
    expect(row?.restarts).toBe(2);
  });

  it('rides out a dependency outage: back online without a command once it returns', async () => {
    home = await tempHome();
    const port = await freePort();
    const marker = join(home.dir, 'dependency-up');
    await startConfig(
      { name: 'svc', script: fixture('dep-app.cjs'), max_restarts: 3, exp_backoff_restart_delay: 50, backoff_cap: 1000 },
      { MARKER: marker, PORT: String(port) },
    );
    await byStatus(home, 'svc', 'errored', 1);
    // Read while errored: each retry at the cap shows 'launching' for a moment.
    const errored = await waitFor(async () => {
      const app = await describeApp('svc');
      return app.processes[0]?.status === 'errored' ? app : null;
    }, 'svc to be errored between two retries');
    expect(errored.processes[0]?.nextRestartAt).toBeGreaterThan(0); // still retrying, at the cap
    await writeFile(marker, 'up');
    const upAt = Date.now();
    await byStatus(home, 'svc', 'online', 1);
    expect((await httpGet(port)).body).toMatch(/^up \d+/);
    // Within the cap (1 s) plus the start itself.
    expect(Date.now() - upAt).toBeLessThan(5000);
  });

  it('does not restart an exit code listed in stop_exit_codes, nor anything with autorestart off', async () => {
    home = await tempHome();
    await startConfig({ name: 'done', script: fixture('crash-app.cjs'), stop_exit_codes: [3] }, { EXIT_CODE: '3' });
    await startConfig({ name: 'once', script: fixture('crash-app.cjs'), autorestart: false });
    await byStatus(home, 'done', 'stopped', 1);
    await byStatus(home, 'once', 'stopped', 1);
    const rows = await home.list();
    expect(rows.map((r) => r.restarts)).toEqual([0, 0]);
  });

  it('stops with SIGINT by default, a configured signal, or the shutdown message', async () => {
    home = await tempHome();
    await startConfig({ name: 'int', script: fixture('signal-app.cjs') });
    await startConfig({ name: 'term', script: fixture('signal-app.cjs'), kill_signal: 'SIGTERM' });
    await startConfig({ name: 'msg', script: fixture('signal-app.cjs'), shutdown_with_message: true });
    for (const name of ['int', 'term', 'msg']) await byStatus(home, name, 'online', 1);
    const stopped = await home.cli(['stop', 'all']);
    expect(stopped.code, stopped.stderr).toBe(0);
    const logs = await home.cli(['logs', 'all', '--no-follow', '--out', '--lines', '5']);
    expect(logs.stdout).toMatch(/int-out\.log[\s\S]*stopping on SIGINT/);
    expect(logs.stdout).toMatch(/term-out\.log[\s\S]*stopping on SIGTERM/);
    expect(logs.stdout).toMatch(/msg-out\.log[\s\S]*stopping on shutdown message/);
  });

  it('starts the replacement of a worker with an uncaught exception while it finishes its requests', async () => {
    home = await tempHome();
    const port = await freePort();
    const started = await home.cli(['start', fixture('http-app.cjs'), '-i', '1', '--name', 'web'], { env: { PORT: String(port), SLOW_MS: '6000' } });
    expect(started.code, started.stderr).toBe(0);
    const [before] = await byStatus(home, 'web', 'online', 1);
    // Slow enough that the replacement is seen online before it ends, on a busy machine too.
    const slow = httpGet(port, '/slow', { timeoutMs: 20_000 });
    await waitFor(async () => (await home.list())[0]?.connections === 1, 'the slow request to arrive');
    expect((await httpGet(port, '/crash')).body).toBe('crashing\n');
    // The replacement is up while the old worker still finishes its slow request.
    const replaced = await waitFor(async () => {
      const [row] = await home.list();
      return row && row.pid !== before?.pid && row.status === 'online' ? row : null;
    }, 'a replacement worker');
    expect(isAlive(before?.pid as number)).toBe(true);
    const reply = await slow;
    expect(reply.body).toBe(`slow from ${before?.pid}\n`);
    expect((await httpGet(port)).body.split(' ')[0]).toBe(String(replaced.pid));
    await waitFor(() => !isAlive(before?.pid as number), 'the old worker to exit');
  });

  it('ends every worker, and their children, within two seconds of the daemon dying', async () => {
    home = await tempHome();
    const port = await freePort();
    expectOk(await home.cli(['start', fixture('http-app.cjs'), '-i', '2', '--name', 'web'], { env: { PORT: String(port) } }));
    expectOk(await home.cli(['start', fixture('idle-app.cjs'), '--name', 'idle']));
    await byStatus(home, 'web', 'online', 2);
    await byStatus(home, 'idle', 'online', 1);
    const pids = (await home.list()).map((p) => p.pid as number);
    const daemon = (await home.daemonPid()) as number;
    process.kill(daemon, 'SIGKILL');
    // Bounded by the wait: workers notice the lost channel at once, not at a later poll.
    await waitFor(() => pids.every((pid) => !isAlive(pid)), 'every worker to exit', 10_000, 20);
  });

  it('holds a wait_ready process in launching until it says ready', async () => {
    home = await tempHome();
    const port = await freePort();
    const readyFile = join(home.dir, 'say-ready');
    const started = await home.cli(['start', fixture('ready-app.cjs'), '--wait-ready', '--name', 'slowready'], {
      env: { PORT: String(port), READY_WHEN_FILE: readyFile },
    });
    expect(started.code, started.stderr).toBe(0);
    // It stays launching until the app says it is ready, however long start took.
    expect((await home.list())[0]?.status).toBe('launching');
    await writeFile(readyFile, '');
    await byStatus(home, 'slowready', 'online', 1);
  });

  it('replaces a process over max_memory_restart', async () => {
    home = await tempHome();
    await startConfig({ name: 'hog', script: fixture('memory-hog.cjs'), max_memory_restart: '150M' }, { HOG_MB: '250', SUPERVISOR_MEMORY_CHECK_MS: '200' });
    const [first] = await byStatus(home, 'hog', 'online', 1);
    await waitFor(async () => ((await home.list())[0]?.restarts ?? 0) >= 1, 'a restart over the memory limit');
    const logs = await home.cli(['logs', 'hog', '--no-follow', '--err']);
    expect(logs.stdout).toMatch(/over max_memory_restart 150 MB/);
    expect((await home.list())[0]?.pid).not.toBe(first?.pid);
  });
});
