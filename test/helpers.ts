/**
 * Shared test helpers: a temporary SUPERVISOR_HOME per test, the real CLI run as a child
 * process, bounded waits on conditions (never fixed sleeps), and clean-up by pid.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'vitest';
import type { ProcessInfo } from '../src/shared/protocol.js';

export const ROOT = resolve(import.meta.dirname, '..');
export const CLI = join(ROOT, 'bin', 'supervisor.js');
export const FIXTURES = join(ROOT, 'test', 'fixtures');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Home {
  dir: string;
  env: NodeJS.ProcessEnv;
  cli(args: string[], options?: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number }): Promise<CliResult>;
  list(): Promise<ProcessInfo[]>;
  daemonPid(): Promise<number | null>;
  /** Stops the daemon and everything it runs; SIGKILLs by pid whatever survives. */
  cleanup(): Promise<void>;
}

export async function tempHome(): Promise<Home> {
  // Short path: Unix socket paths are limited to 107 bytes.
  const dir = await mkdtemp(join(tmpdir(), 'sv-'));
  const env = { ...process.env, SUPERVISOR_HOME: dir };
  const home: Home = {
    dir,
    env,
    cli: (args, options = {}) => runCli(args, { ...env, ...options.env }, options.cwd ?? ROOT, options.timeoutMs ?? 30_000),
    list: async () => {
      const result = await home.cli(['list', '--json']);
      if (result.code !== 0) throw new Error(`list failed: ${result.stderr}`);
      return JSON.parse(result.stdout) as ProcessInfo[];
    },
    daemonPid: async () => {
      try {
        return Number((await readFile(join(dir, 'daemon.pid'), 'utf8')).trim()) || null;
      } catch {
        return null;
      }
    },
    cleanup: async () => {
      const daemon = await home.daemonPid();
      let workers: number[] = [];
      try {
        workers = (await home.list()).map((p) => p.pid).filter((pid): pid is number => pid !== null);
      } catch {
        // No daemon: nothing listed.
      }
      await home.cli(['kill'], { timeoutMs: 30_000 }).catch(() => undefined);
      for (const pid of [...workers, ...(daemon ? [daemon] : [])]) {
        if (isAlive(pid)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone meanwhile
          }
        }
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
  return home;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv, cwd = ROOT, timeoutMs = 30_000): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [CLI, ...args], { env, cwd, timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** A CLI command left running (`logs -f`, `daemon --foreground`), with its output so far. */
export interface RunningCli {
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Settles when it exits: its status, or the signal that ended it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Signals it by pid if it still runs (SIGKILL by default). */
  kill(signal?: NodeJS.Signals): void;
}

export function spawnCli(args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): RunningCli {
  const child = spawn(process.execPath, [CLI, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolvePromise) =>
    child.once('close', (code, signal) => resolvePromise({ code, signal })),
  );
  return {
    pid: child.pid as number,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    kill: (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `check` until it returns a truthy value; fails with `what` after timeoutMs. */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 15_000, intervalMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * A TCP port for one test, that nothing else will be given. Checking that a port is free and
 * using it later races with everything else on the machine; instead ports come from a range
 * below the kernel's ephemeral range (so no listen(0) and no outgoing connection ever gets
 * one), and each is reserved for the life of this process with a Linux abstract socket named
 * after it, which every test process on the machine (any worktree) respects and the kernel
 * releases when the process dies, however it dies. A port some other program holds is skipped.
 */
export async function freePort(): Promise<number> {
  const [low, high] = reservableRange();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (!(await holdAbstract(`\0supervisor-test-port-${port}`))) continue; // another test process has it
    if (await tcpPortFree(port)) return port;
    // Someone else listens there: keep the reservation so that no test here tries it again.
  }
  throw new Error(`no free port found in ${low}-${high}`);
}

/** Ports 20000 up to just below the ephemeral range (ip_local_port_range), at most 20000-32767. */
function reservableRange(): [number, number] {
  let ephemeralLow = 32768;
  try {
    ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || ephemeralLow;
  } catch {
    // not Linux-like: keep the IANA default
  }
  const high = Math.min(32767, ephemeralLow - 1);
  return high > 21000 ? [20000, high] : [10000, Math.max(10500, high)];
}

/** Binds an abstract Unix socket for the rest of this process; false if someone holds it. */
function holdAbstract(name: string): Promise<boolean> {
  return new Promise((resolvePromise, reject) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' ? resolvePromise(false) : reject(error)));
    server.listen({ path: name }, () => {
      server.unref();
      resolvePromise(true);
    });
  });
}

function tcpPortFree(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = net.createServer();
    server.once('error', () => resolvePromise(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePromise(true)));
  });
}

export interface HttpReply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

export function httpGet(port: number, path = '/', options: { agent?: http.Agent | false; timeoutMs?: number; localAddress?: string; host?: string } = {}): Promise<HttpReply> {
  return new Promise((resolvePromise, reject) => {
    const req = http.get(
      { host: options.host ?? '127.0.0.1', port, path, agent: options.agent ?? false, timeout: options.timeoutMs ?? 5000, ...(options.localAddress && { localAddress: options.localAddress }) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body, headers: res.headers }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

export async function byStatus(home: Home, name: string, status: ProcessInfo['status'], count: number): Promise<ProcessInfo[]> {
  return waitFor(async () => {
    const rows = (await home.list()).filter((p) => p.name === name);
    return rows.length === count && rows.every((p) => p.status === status) ? rows : null;
  }, `${count} processes of ${name} ${status}`);
}

export function fixture(name: string): string {
  return join(FIXTURES, name);
}

/** Lines of an app's log file so far (none if it does not exist yet). */
export async function logLines(home: Home, app: string, stream: 'out' | 'err' = 'out'): Promise<string[]> {
  try {
    return (await readFile(join(home.dir, 'logs', `${app}-${stream}.log`), 'utf8')).split('\n').filter((line) => line.length > 0);
  } catch {
    return [];
  }
}

export interface EnvReport {
  pid: number;
  argv: string[];
  env: Record<string, string>;
}

/** The reports fixtures/env-app.cjs wrote to its out log, once there are `count` of them. */
export async function envReports(home: Home, app: string, count: number): Promise<EnvReport[]> {
  return waitFor(async () => {
    const reports = (await logLines(home, app))
      .filter((l) => l.startsWith('env-app '))
      .map((l) => JSON.parse(l.slice('env-app '.length)) as EnvReport);
    return reports.length >= count ? reports : null;
  }, `${count} env reports from ${app}`);
}

export function expectOk(result: CliResult): void {
  expect(result.code, `exit status (stderr: ${result.stderr})`).toBe(0);
}

export { spawn };

/** Scratch folders for a test file: `make()` one per use, `removeAll()` in afterEach. */
export function scratchDirs(prefix: string): { make(): Promise<string>; removeAll(): Promise<void> } {
  const dirs: string[] = [];
  return {
    make: async () => {
      const dir = await mkdtemp(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    removeAll: async () => {
      for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
    },
  };
}
