/**
 * The container entrypoint, `supervisor daemon --foreground --start <config>`, run as PID 1 of
 * a new PID namespace (what `docker run` gives it; Docker itself is not available here):
 * SIGTERM stops the apps gracefully and exits 0; a daemon that is killed or cannot start its
 * apps exits non-zero, so the orchestrator restarts the container.
 *
 * Processes in the namespace have pids of their own, so nothing here signals a pid the daemon
 * reports: only the daemon's pid as seen from outside, found as the child of `unshare`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtemp, readFileSync, rm } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, fixture, freePort, httpGet, isAlive, logLines, runCli, waitFor, type Home } from '../helpers.js';

const canUnshare = process.getuid?.() === 0;

/** The children of a process, as seen from here. */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Every descendant of a process, as seen from here. */
function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  for (const child of childrenOf(pid)) out.push(child, ...descendantsOf(child));
  return out;
}

/** The pid in a home's daemon.pid, 0 if there is none. */
function recordedDaemonPid(home: string): number {
  try {
    return Number(readFileSync(join(home, 'daemon.pid'), 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}

interface Container {
  unshare: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The daemon's pid outside the namespace (it is 1 inside). */
  daemonPid(): Promise<number>;
}

describe.skipIf(!canUnshare)('container entrypoint (foreground daemon as PID 1)', () => {
  let dir = '';
  let env: NodeJS.ProcessEnv = {};
  let daemonLog = '';
  const running: ChildProcess[] = [];

  afterEach(async () => {
    // Killing a namespace's PID 1 kills everything in it; nothing else is signalled.
    for (const child of running.splice(0)) {
      if (child.exitCode === null && child.signalCode === null && child.pid) {
        for (const pid of childrenOf(child.pid)) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
        child.kill('SIGKILL');
      }
    }
    // A daemon a command started outside the namespace (daemon.pid is 1 for the one inside).
    const pid = dir ? recordedDaemonPid(dir) : 0;
    if (pid > 1 && isAlive(pid)) process.kill(pid, 'SIGKILL');
    if (dir) await promisify(rm)(dir, { recursive: true, force: true });
  });

  async function setup(apps: unknown[]): Promise<string> {
    dir = await promisify(mkdtemp)(join(tmpdir(), 'sv-'));
    env = { ...process.env, SUPERVISOR_HOME: dir };
    const file = join(dir, 'ecosystem.json');
    await writeFile(file, JSON.stringify({ apps }));
    return file;
  }

  function run(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Container {
    const unshare = spawn('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, CLI, 'daemon', '--foreground', ...args], {
      env: { ...env, ...extraEnv },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    // The daemon's own messages; shown only when an assertion fails.
    unshare.stderr?.on('data', (chunk: Buffer) => (daemonLog += chunk.toString()));
    running.push(unshare);
    return {
      unshare,
      exited: new Promise((resolve) => unshare.once('exit', (code, signal) => resolve({ code, signal }))),
      daemonPid: () => waitFor(() => childrenOf(unshare.pid as number)[0], 'the daemon to be forked by unshare'),
    };
  }

  const home = (): Home => ({ dir, env } as Home);

  it('runs the apps of --start; SIGTERM stops them gracefully and the daemon exits 0', async () => {
    const file = await setup([{ name: 'svc', script: fixture('signal-app.cjs'), instances: 2, exec_mode: 'fork', kill_signal: 'SIGTERM', min_uptime: 300 }]);
    const metricsPort = await freePort();
    const container = run(['--start', file], { SUPERVISOR_METRICS: `127.0.0.1:${metricsPort}` });
    const outerPid = await container.daemonPid();
    // The readiness probe a container healthcheck would use.
    await waitFor(async () => (await httpGet(metricsPort, '/readyz').catch(() => null))?.status === 200, '/readyz 200', 30_000);
    const ping = await runCli(['ping'], env);
    expect(ping.stdout).toMatch(/^daemon pid 1, /);
    // The daemon reads its apps' /proc entries in its own namespace: memory is reported.
    const metrics = (await httpGet(metricsPort, '/metrics')).body;
    expect(metrics.match(/^supervisor_process_resident_memory_bytes\{app="svc".*\} [1-9]\d+$/gm)).toHaveLength(2);
    const apps = descendantsOf(outerPid);
    expect(apps.length).toBeGreaterThanOrEqual(2);

    process.kill(outerPid, 'SIGTERM');
    expect(await container.exited, daemonLog).toEqual({ code: 0, signal: null });
    const lines = await logLines(home(), 'svc');
    expect(lines.filter((line) => line === 'stopping on SIGTERM'), lines.join('\n')).toHaveLength(2);
    for (const pid of apps) expect(isAlive(pid)).toBe(false);
    // Saved on the way out, as on any graceful stop.
    expect(JSON.parse(readFileSync(join(dir, 'dump.json'), 'utf8'))).toEqual(expect.objectContaining({ apps: [expect.objectContaining({ name: 'svc' })] }));
  });

  it('a killed daemon exits non-zero, and its apps go with the namespace', async () => {
    const file = await setup([{ name: 'svc', script: fixture('idle-app.cjs'), min_uptime: 300 }]);
    const container = run(['--start', file]);
    const outerPid = await container.daemonPid();
    // Not a command before the daemon listens: one would start a background daemon of its own.
    await waitFor(() => existsSync(join(dir, 'daemon.sock')), 'the daemon to listen', 30_000);
    await waitFor(async () => {
      const rows = JSON.parse((await runCli(['list', '--json'], env)).stdout || '[]') as { status: string }[];
      return rows.length === 1 && rows[0]?.status === 'online';
    }, 'the app online', 30_000);
    const apps = descendantsOf(outerPid);
    expect(apps.length).toBeGreaterThanOrEqual(1);
    process.kill(outerPid, 'SIGKILL');
    const exit = await container.exited;
    expect(exit.code !== 0 || exit.signal !== null).toBe(true);
    await waitFor(() => apps.every((pid) => !isAlive(pid)), 'the apps to be gone with the namespace');
  });

  it('a daemon that cannot start its apps exits 1', async () => {
    const file = await setup([{ name: 'svc', script: join(tmpdir(), 'no-such-script.js') }]);
    const container = run(['--start', file]);
    expect(await container.exited).toEqual({ code: 1, signal: null });
    expect(daemonLog).toMatch(/supervisor: script .*no-such-script\.js does not exist\n.*could not start the apps of .*ecosystem\.json; stopping/);
  });
});
