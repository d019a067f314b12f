/**
 * The control channel end to end: the CLI never hangs on a daemon that stops answering, is
 * not cut short while a slow command runs on a live one, honours --timeout; the daemon's
 * connection cap and idle timeout as a client sees them; `logs -f` told about lines it missed.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Supervisor } from '../../src/client/api.js';
import { PROTOCOL_VERSION } from '../../src/shared/protocol.js';
import { byStatus, expectOk, fixture, freePort, spawnCli, tempHome, waitFor, type Home, type RunningCli } from '../helpers.js';

/** A `ws` connection that has said hello, and how it was closed. */
async function openClient(socketPath: string): Promise<{ ws: WebSocket; closed: () => { code: number; reason: string } | null }> {
  const ws = new WebSocket(`ws+unix://${socketPath}:/`);
  let closed: { code: number; reason: string } | null = null;
  ws.on('close', (code, reason) => (closed = { code, reason: reason.toString() }));
  ws.on('error', () => undefined);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const reply = new Promise((resolve) => ws.once('message', resolve));
  ws.send(JSON.stringify({ id: 1, method: 'hello', params: { protocol: PROTOCOL_VERSION } }));
  await reply;
  return { ws, closed: () => closed };
}

/** Signals a process that may have exited already. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // gone
  }
}

describe('control channel', () => {
  let home: Home;
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    // Every clean-up runs, and the home's last: a failing one must not leave a daemon behind.
    for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve().then(cleanup).catch(() => undefined);
    await home?.cleanup();
  });

  function spawn(args: string[], env: NodeJS.ProcessEnv = {}): RunningCli {
    const cli = spawnCli(args, { ...home.env, ...env });
    cleanups.push(async () => {
      cli.kill();
      await cli.exited;
    });
    return cli;
  }

  /** A cluster app whose workers say 'ready' only after `readyAfterMs`: each reload step takes that long. */
  async function startSlowReady(readyAfterMs: number, instances = 1): Promise<void> {
    const port = await freePort();
    const started = await home.cli(['start', fixture('ready-app.cjs'), '-i', String(instances), '--name', 'slow', '--wait-ready', '--listen-timeout', '30s'], {
      env: { PORT: String(port), READY_AFTER_MS: String(readyAfterMs) },
    });
    expectOk(started);
    await byStatus(home, 'slow', 'online', instances);
  }

  it('a daemon whose event loop is stopped: a new command, a pending reload and logs -f each end with status 6 and one line', async () => {
    home = await tempHome();
    // Two workers that take 5 s each to be ready: a reload lasts about 10 s.
    await startSlowReady(5000, 2);
    const daemon = (await home.daemonPid()) as number;
    // Whatever happens, the daemon is let go again before clean-up.
    cleanups.push(() => signal(daemon, 'SIGCONT'));

    const follow = spawn(['logs', 'slow']);
    const reload = spawn(['reload', 'slow']);
    let reloading = true;
    void reload.exited.then(() => (reloading = false));
    // logs -f is subscribed once it prints an event of the reload; the reload is then under way.
    await waitFor(() => /slow\|\d+ ~ (launching|online): /.test(follow.stdout()), 'logs -f to show an event of the reload', 20_000);
    expect(reloading, 'the reload must still be waiting when the daemon stops').toBe(true);
    process.kill(daemon, 'SIGSTOP');
    const stoppedAt = Date.now();

    const list = await home.cli(['list'], { timeoutMs: 30_000 });
    expect(list.code).toBe(6);
    expect(list.stderr).toMatch(/^supervisor: cannot reach the daemon at .*: no answer on .* within 5000 ms\n$/);

    const endedAfterMs: Record<string, number> = {};
    for (const [what, cli] of [['reload', reload], ['logs -f', follow]] as const) {
      const exited = await Promise.race([cli.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 30_000))]);
      endedAfterMs[what] = Date.now() - stoppedAt;
      expect(exited, `${what} must end`).toEqual({ code: 6, signal: null });
      // 10 s, or a little more on a busy machine (the check runs once a second).
      expect(cli.stderr().trim().split('\n'), what).toEqual([expect.stringMatching(new RegExp(`^supervisor: the daemon \\(pid ${daemon}\\) has not answered for 1\\d s: it is stopped or overloaded$`))]);
    }
    // Ten seconds of silence and a second of ping interval, not the 10-minute request limit.
    expect(Date.now() - stoppedAt).toBeLessThan(30_000);
    console.log(`FIGURE sigstop: commands ended ${JSON.stringify(endedAfterMs)} ms after the daemon was stopped`);

    process.kill(daemon, 'SIGCONT');
    expectOk(await home.cli(['ping']));
  });

  it('a reload that takes longer than the liveness window completes while the daemon answers pings', async () => {
    home = await tempHome();
    await startSlowReady(6500, 2);
    const started = Date.now();
    const reloaded = await home.cli(['reload', 'slow'], { timeoutMs: 60_000 });
    expectOk(reloaded);
    expect(Date.now() - started).toBeGreaterThan(12_000);
    console.log(`FIGURE long-reload: ${Date.now() - started} ms, status 0`);
  });

  it('--timeout and SUPERVISOR_TIMEOUT bound the wait for a reply (status 6, one line); a bad value is status 4 and starts nothing', async () => {
    home = await tempHome();
    await startSlowReady(4000);
    const [before] = await home.list();
    const cut = await home.cli(['reload', 'slow', '--timeout', '1s']);
    expect(cut.code).toBe(6);
    expect(cut.stderr).toBe('supervisor: no reply to reload within 1 s (set --timeout or SUPERVISOR_TIMEOUT to wait longer)\n');
    // The daemon goes on with the reload; only the client stopped waiting.
    await waitFor(async () => {
      const [row] = await home.list();
      return row && row.pid !== before?.pid && row.status === 'online';
    }, 'the reload to finish anyway');
    const viaEnv = await home.cli(['reload', 'slow'], { env: { SUPERVISOR_TIMEOUT: '1500ms' } });
    expect(viaEnv.code).toBe(6);
    expect(viaEnv.stderr).toBe('supervisor: no reply to reload within 1500 ms (set --timeout or SUPERVISOR_TIMEOUT to wait longer)\n');

    const other = await tempHome();
    cleanups.push(() => other.cleanup());
    for (const [args, env] of [[['--timeout', 'soon', 'ping'], {}], [['ping'], { SUPERVISOR_TIMEOUT: '-1' }]] as const) {
      const bad = await other.cli([...args], { env });
      expect(bad.code).toBe(4);
      expect(bad.stderr).toMatch(/^supervisor: (--timeout|SUPERVISOR_TIMEOUT) must be a duration such as "90s", "10m" or 0 for none \(got "(soon|-1)"\)\n$/);
    }
    expect(await other.daemonPid()).toBeNull();
  });

  it('past SUPERVISOR_CONTROL_CONNECTIONS a command waits for a free connection, then fails with status 6 and says why', async () => {
    home = await tempHome();
    expectOk(await home.cli(['ping'], { env: { SUPERVISOR_CONTROL_CONNECTIONS: '3' } }));
    const socketPath = join(home.dir, 'daemon.sock');
    const clients = await Promise.all([1, 2, 3].map(() => openClient(socketPath)));
    cleanups.push(() => clients.forEach((c) => c.ws.terminate()));

    const refused = await home.cli(['list']);
    expect(refused.code).toBe(6);
    expect(refused.stderr).toMatch(/^supervisor: cannot reach the daemon at .*: the daemon refused the connection: too many control connections \(3 open\)\n$/);

    // Once one goes, commands get in again (the retry itself is unit-tested).
    clients[0]?.ws.close();
    expectOk(await home.cli(['list']));

    const other = await tempHome();
    cleanups.push(() => other.cleanup());
    const bad = await other.cli(['ping'], { env: { SUPERVISOR_CONTROL_CONNECTIONS: '0' } });
    expect(bad.code).toBe(4);
    expect(bad.stderr).toBe('supervisor: SUPERVISOR_CONTROL_CONNECTIONS must be an integer from 1 to 4096 (got "0")\n');
    expect(await other.daemonPid()).toBeNull();
    // `supervisor daemon` checks its settings even when a daemon already runs: not ignored.
    const running = await home.cli(['daemon'], { env: { SUPERVISOR_CONTROL_CONNECTIONS: '0' } });
    expect(running.code).toBe(4);
    expect(running.stderr).toBe('supervisor: SUPERVISOR_CONTROL_CONNECTIONS must be an integer from 1 to 4096 (got "0")\n');
  });

  it('the daemon closes an idle connection (1000); the API opens a new one on its next call', async () => {
    home = await tempHome();
    expectOk(await home.cli(['ping'], { env: { SUPERVISOR_CONTROL_IDLE_TIMEOUT: '1s' } }));
    const raw = await openClient(join(home.dir, 'daemon.sock'));
    cleanups.push(() => raw.ws.terminate());
    await waitFor(() => raw.closed(), 'the idle connection to be closed');
    expect(raw.closed()).toEqual({ code: 1000, reason: 'idle for 1 s' });

    const sv = await Supervisor.connect({ home: home.dir, start: false });
    cleanups.push(() => sv.close());
    let closedWith: Error | null | undefined;
    sv.onClose((error) => (closedWith = error));
    await waitFor(() => closedWith !== undefined, 'the API connection to be closed as idle');
    expect(closedWith?.message).toBe('the daemon closed the connection: idle for 1 s');
    expect(await sv.list()).toEqual([]);
  });

  it('logs -f that fell behind is told how many lines it missed, on stderr, and goes on', async () => {
    home = await tempHome();
    expectOk(await home.cli(['start', fixture('flood-app.cjs'), '--name', 'flood'], { env: { FLOOD_LINES_PER_SEC: '20000', SUPERVISOR_LOG_MAX_SIZE: '0' } }));
    await byStatus(home, 'flood', 'online', 1);
    const follow = spawn(['logs', 'flood', '--lines', '0']);
    await waitFor(() => /flood\|\d+ \| line \d+/.test(follow.stdout()), 'lines to stream');
    // Stopped like a terminal with Ctrl-Z: it reads nothing while the app writes megabytes.
    process.kill(follow.pid, 'SIGSTOP');
    cleanups.push(() => signal(follow.pid, 'SIGCONT'));
    const outLog = join(home.dir, 'logs', 'flood-out.log');
    const sizeAtStop = statSync(outLog).size;
    // 4 MB: well past the 1 MiB of unread output after which the daemon drops log lines for it.
    // (The log does not rotate in this test, so its size counts what the app wrote.)
    await waitFor(() => statSync(outLog).size > sizeAtStop + 4 * 1024 * 1024, 'the app to write 4 MB more', 45_000);
    process.kill(follow.pid, 'SIGCONT');
    await waitFor(() => /supervisor: \d+ log lines dropped \(this terminal fell behind\)\n/.test(follow.stderr()), 'the dropped-lines note');
    const dropped = Number(/supervisor: (\d+) log lines dropped/.exec(follow.stderr())?.[1]);
    expect(dropped).toBeGreaterThan(1000);
    const length = follow.stdout().length;
    await waitFor(() => follow.stdout().length > length, 'lines to stream again');
    follow.kill('SIGINT');
    expect(await follow.exited).toEqual({ code: 0, signal: null });
  });
});
