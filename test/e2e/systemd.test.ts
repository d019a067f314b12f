/**
 * Running under systemd: the generated unit passes `systemd-analyze verify` with values that
 * need escaping, and the foreground daemon speaks the notify protocol to a fake NOTIFY_SOCKET
 * (a Python datagram listener): READY=1 after the saved apps are online, STOPPING=1 on SIGTERM,
 * WATCHDOG=1 when WATCHDOG_USEC asks for it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { systemdUnit } from '../../src/client/startup.js';
import { byStatus, CLI, expectOk, fixture, isAlive, logLines, tempHome, waitFor, type Home } from '../helpers.js';

function verify(file: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile('systemd-analyze', ['verify', '--man=no', file], (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output: `${stdout}${stderr}` });
    });
  });
}

interface Datagram {
  at: number;
  data: string;
}

/** The fake service manager: every datagram it received so far. */
interface Listener {
  process: ChildProcess;
  received: Datagram[];
  fields(): Record<string, string>[];
}

async function listen(address: string): Promise<Listener> {
  const child = spawn('python3', [fixture('notify-listener.py'), address], { stdio: ['ignore', 'pipe', 'inherit'] });
  const received: Datagram[] = [];
  let listening = false;
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    if (line === 'listening') listening = true;
    else received.push(JSON.parse(line) as Datagram);
  });
  await waitFor(() => listening, 'the fake notify socket to listen');
  return {
    process: child,
    received,
    fields: () => received.map((d) => Object.fromEntries(d.data.split('\n').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))),
  };
}

interface SlowReadyReport {
  pid: number;
  readyAt: number;
  notifySocket: string | null;
  watchdog: string | null;
}

async function reports(home: Home, app: string, count: number): Promise<SlowReadyReport[]> {
  return waitFor(async () => {
    const found = (await logLines(home, app)).filter((l) => l.startsWith('slow-ready {')).map((l) => JSON.parse(l.slice('slow-ready '.length)) as SlowReadyReport);
    return found.length >= count ? found : null;
  }, `${count} reports from ${app}`);
}

describe('systemd', () => {
  let home: Home;
  const started: ChildProcess[] = [];
  afterEach(async () => {
    for (const child of started.splice(0)) {
      if (child.pid && isAlive(child.pid) && child.exitCode === null) child.kill('SIGKILL');
    }
    await home?.cleanup();
  });

  /** `supervisor daemon --foreground` as systemd would run it, with NOTIFY_SOCKET set. */
  function foreground(env: NodeJS.ProcessEnv, args: string[] = []): { child: ChildProcess; exited: Promise<number | null>; stderr: () => string } {
    const child = spawn(process.execPath, [CLI, 'daemon', '--foreground', ...args], { env: { ...home.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    started.push(child);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    return { child, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))), stderr: () => stderr };
  }

  it('generates a Type=notify unit that passes systemd-analyze verify, with % and spaces escaped', async () => {
    home = await tempHome();
    const odd = join(home.dir, 'my home 100%');
    const printed = await home.cli(['startup', 'systemd', '--print', '--user', 'root'], { env: { SUPERVISOR_HOME: odd, PATH: `${join(home.dir, 'bin 5%')}:/usr/bin:/bin` } });
    expectOk(printed);
    const unit = printed.stdout;
    expect(unit).toContain('Type=notify\nNotifyAccess=all\n');
    expect(unit).toContain(`Environment="SUPERVISOR_HOME=${odd.replace(/%/g, '%%')}"\n`);
    expect(unit).toContain(`Environment="PATH=${join(home.dir, 'bin 5%%')}:/usr/bin:/bin"\n`);
    const file = join(home.dir, 'supervisor-root.service');
    await writeFile(file, unit);
    expect(await verify(file)).toEqual({ code: 0, output: '' });

    // The executable itself in a folder with a space and a % (systemd-analyze checks that
    // ExecStart's program exists, so a wrong escape shows as a missing file).
    const binDir = join(home.dir, 'node 50% off', 'bin');
    await mkdir(binDir, { recursive: true });
    await symlink(process.execPath, join(binDir, 'node'));
    const tricky = systemdUnit({ user: 'app', home: '/srv/a "b" \\c $d %h', node: join(binDir, 'node'), cli: join(home.dir, 'cli %i $x.js'), path: '/usr/bin' });
    expect(tricky).toContain(`ExecStart="${join(binDir, 'node').replace(/%/g, '%%')}" "${join(home.dir, 'cli %%i $$x.js')}" daemon --foreground\n`);
    expect(tricky).toContain('Environment="SUPERVISOR_HOME=/srv/a \\"b\\" \\\\c $d %%h"\n');
    await writeFile(file, tricky);
    expect(await verify(file)).toEqual({ code: 0, output: '' });
    await writeFile(file, tricky.replace(join(binDir, 'node').replace(/%/g, '%%'), join(binDir, 'nodeX').replace(/%/g, '%%')));
    expect((await verify(file)).output).toContain(`Command ${join(binDir, 'nodeX')} is not executable`);

    const badUser = await home.cli(['startup', 'systemd', '--print', '--user', 'a b']);
    expect(badUser.code).toBe(4);
    expect(badUser.stderr.trim().split('\n')).toEqual(['supervisor: "a b" is not a user name systemd accepts']);
  });

  it('sends READY=1 once the saved apps are online, STOPPING=1 on SIGTERM, then exits 0', async () => {
    home = await tempHome();
    const file = join(home.dir, 'apps.json');
    await writeFile(file, JSON.stringify({ apps: [{ name: 'slow', script: fixture('slow-ready-app.cjs'), instances: 2, exec_mode: 'fork', wait_ready: true, listen_timeout: 20_000 }] }));
    expectOk(await home.cli(['start', file], { env: { READY_AFTER_MS: '1500' } }));
    await byStatus(home, 'slow', 'online', 2);
    expectOk(await home.cli(['save']));
    expectOk(await home.cli(['kill']));

    const socket = join(home.dir, 'notify.sock');
    const manager = await listen(socket);
    started.push(manager.process);
    const daemon = foreground({ NOTIFY_SOCKET: socket });
    const ready = await waitFor(() => manager.fields().find((f) => f['READY'] === '1'), 'READY=1', 30_000);
    const readyAt = (manager.received.find((d) => d.data.includes('READY=1')) as Datagram).at;
    // Both processes of the resurrected app said ready before the daemon did.
    const apps = (await reports(home, 'slow', 4)).slice(-2);
    for (const report of apps) expect(report.readyAt).toBeLessThanOrEqual(readyAt);
    expect(ready['STATUS']).toBe('2 processes online');
    expect(ready['MAINPID']).toBe(String(daemon.child.pid));
    expect(manager.fields().filter((f) => f['READY'])).toHaveLength(1);
    // The apps do not inherit the daemon's line to systemd.
    for (const report of apps) expect(report.notifySocket).toBeNull();
    expect((await home.list()).map((p) => p.status)).toEqual(['online', 'online']);

    daemon.child.kill('SIGTERM');
    const code = await daemon.exited;
    expect(code).toBe(0);
    const stopping = manager.received.findIndex((d) => d.data.includes('STOPPING=1'));
    expect(stopping).toBeGreaterThan(-1);
    expect(manager.fields()[stopping]).toEqual({ STOPPING: '1', STATUS: 'stopping every app' });
    // The resurrected processes were stopped gracefully: each reports the signal it got.
    const stoppedPids = (await logLines(home, 'slow')).filter((l) => l.startsWith('slow-ready stopping')).map((l) => Number(l.split(' ')[2]));
    expect(stoppedPids).toEqual(expect.arrayContaining(apps.map((report) => report.pid)));
  });

  it('does not hold READY=1 for an app that crash-loops, and says which one is down', async () => {
    home = await tempHome();
    const file = join(home.dir, 'apps.json');
    await writeFile(
      file,
      JSON.stringify({
        apps: [
          { name: 'good', script: fixture('idle-app.cjs'), min_uptime: 500 },
          { name: 'bad', script: fixture('crash-app.cjs'), max_restarts: 50, exp_backoff_restart_delay: 2000 },
        ],
      }),
    );
    const socket = join(home.dir, 'notify.sock');
    const manager = await listen(socket);
    started.push(manager.process);
    const daemon = foreground({ NOTIFY_SOCKET: socket }, ['--start', file]);
    const ready = await waitFor(() => manager.fields().find((f) => f['READY'] === '1'), 'READY=1', 30_000);
    expect(ready['STATUS']).toMatch(/^1 of 2 processes not online \(bad:1 (waiting-restart|launching|errored)\)$/);
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
  });

  it('pings the watchdog every half WATCHDOG_USEC (abstract socket), and not when WATCHDOG_PID names another process', async () => {
    home = await tempHome();
    const address = `@sv-test-${process.pid}-${Date.now()}`;
    const manager = await listen(address);
    started.push(manager.process);
    const daemon = foreground({ NOTIFY_SOCKET: address, WATCHDOG_USEC: '400000' });
    await waitFor(() => manager.fields().filter((f) => f['WATCHDOG'] === '1').length >= 3, 'three WATCHDOG=1 pings', 20_000);
    expect(manager.fields().some((f) => f['READY'] === '1' && f['STATUS'] === '0 processes online')).toBe(true);
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);

    await home.cleanup();
    home = await tempHome();
    const other = await listen(`${address}-2`);
    started.push(other.process);
    const second = foreground({ NOTIFY_SOCKET: `${address}-2`, WATCHDOG_USEC: '400000', WATCHDOG_PID: '1' });
    await waitFor(() => other.fields().find((f) => f['READY'] === '1'), 'READY=1');
    // Long enough for several pings had they been due.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(other.fields().filter((f) => f['WATCHDOG'])).toEqual([]);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('without NOTIFY_SOCKET it sends nothing and needs no systemd-notify', async () => {
    home = await tempHome();
    const daemon = foreground({ PATH: '/nonexistent' });
    await waitFor(async () => (await readFile(join(home.dir, 'daemon.pid'), 'utf8').catch(() => '')).trim() === String(daemon.child.pid), 'the daemon to start');
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
    expect(daemon.stderr()).not.toMatch(/systemd-notify/);
  });
});
