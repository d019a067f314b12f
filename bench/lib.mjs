// Shared helpers for the Supervisor benchmark harness (plain ESM, Node >= 20).
//
// Process hygiene rules followed everywhere in bench/:
//   * we only ever signal pids we started ourselves (directly, or processes
//     that carry a unique temp-dir path we created in their environment, i.e.
//     daemons spawned by a CLI we ran with SUPERVISOR_HOME / PM2_HOME = tmpdir);
//   * every pid is remembered together with its /proc start time so that a
//     recycled pid is never signalled by mistake;
//   * cleanup is synchronous so it can also run from an 'exit' handler.

import { spawn, spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_DIR = path.resolve(BENCH_DIR, '..');
export const OUT_DIR = path.join(BENCH_DIR, '.out');
export const PEERS_DIR = path.join(BENCH_DIR, '.peers');
export const PM2_BIN = path.join(PEERS_DIR, 'node_modules', 'pm2', 'bin', 'pm2');
// BENCH_SUPERVISOR_BIN lets you point the harness at another build of the CLI.
export const SUPERVISOR_BIN = path.resolve(REPO_DIR, process.env.BENCH_SUPERVISOR_BIN || path.join('bin', 'supervisor.js'));

// ---------------------------------------------------------------- timing ---

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
export function sleepSync(ms) {
  Atomics.wait(sleepCell, 0, 0, Math.max(0, ms));
}
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function timestamp() {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
}

let clkTck = null;
export function clockTicks() {
  if (clkTck == null) {
    try {
      clkTck = parseInt(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim(), 10) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

// ------------------------------------------------------------------ /proc ---

/** Parse /proc/<pid>/stat. Returns null if the pid does not exist. */
export function procStat(pid) {
  let raw;
  try {
    raw = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const close = raw.lastIndexOf(')');
  const comm = raw.slice(raw.indexOf('(') + 1, close);
  const f = raw.slice(close + 2).split(' ');
  // f[0] is field 3 (state); field N is f[N - 3].
  return {
    pid: Number(pid),
    comm,
    state: f[0],
    ppid: Number(f[1]),
    pgrp: Number(f[2]),
    utime: Number(f[11]),
    stime: Number(f[12]),
    starttime: Number(f[19]),
  };
}

/** A handle on a process: pid + start time, so a reused pid is never mistaken for it. */
export function procHandle(pid) {
  const st = procStat(pid);
  return st ? { pid: st.pid, start: st.starttime } : null;
}

export function isAlive(h) {
  if (!h) return false;
  const st = procStat(h.pid);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return h.start == null || st.starttime === h.start;
}

function allPids() {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** Live (non-zombie) descendants of pid, as handles. */
export function descendants(pid) {
  const children = new Map();
  for (const p of allPids()) {
    const st = procStat(p);
    if (!st || st.state === 'Z') continue;
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid).push(st);
  }
  const out = [];
  const queue = [pid];
  while (queue.length) {
    const cur = queue.shift();
    for (const st of children.get(cur) || []) {
      out.push({ pid: st.pid, start: st.starttime });
      queue.push(st.pid);
    }
  }
  return out;
}

/** Live members of a process group we created (spawned with detached:true). */
export function groupMembers(pgid) {
  const out = [];
  for (const p of allPids()) {
    const st = procStat(p);
    if (st && st.pgrp === pgid && st.state !== 'Z') out.push({ pid: st.pid, start: st.starttime });
  }
  return out;
}

/**
 * Processes whose environment contains KEY=VALUE exactly. Used with a unique
 * mkdtemp path (SUPERVISOR_HOME / PM2_HOME) so it only matches processes that
 * descend from commands this harness ran.
 */
export function pidsWithEnv(key, value) {
  const needle = Buffer.from(`${key}=${value}\0`);
  const out = [];
  for (const p of allPids()) {
    if (p === process.pid) continue;
    let env;
    try {
      env = fs.readFileSync(`/proc/${p}/environ`);
    } catch {
      continue;
    }
    if (env.length && (env.indexOf(needle) === 0 || env.indexOf(Buffer.concat([Buffer.from('\0'), needle])) >= 0)) {
      const st = procStat(p);
      if (st && st.state !== 'Z') out.push({ pid: p, start: st.starttime });
    }
  }
  return out;
}

export function signalHandle(h, sig) {
  if (!isAlive(h)) return false;
  try {
    process.kill(h.pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM the given handles, wait up to graceMs, then SIGKILL survivors. Synchronous. */
export function terminate(handles, graceMs = 5000) {
  const live = handles.filter(isAlive);
  if (!live.length) return 0;
  for (const h of live) signalHandle(h, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && live.some(isAlive)) sleepSync(50);
  const stubborn = live.filter(isAlive);
  for (const h of stubborn) signalHandle(h, 'SIGKILL');
  const d2 = Date.now() + 2000;
  while (Date.now() < d2 && stubborn.some(isAlive)) sleepSync(20);
  return live.length;
}

/** Kill a process group we created ourselves (negative pid), synchronously. */
export function terminateGroup(pgid, graceMs = 5000) {
  if (!groupMembers(pgid).length) return;
  try {
    process.kill(-pgid, 'SIGTERM');
  } catch {}
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && groupMembers(pgid).length) sleepSync(50);
  if (groupMembers(pgid).length) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {}
    const d2 = Date.now() + 2000;
    while (Date.now() < d2 && groupMembers(pgid).length) sleepSync(20);
  }
}

export function cpuTicks(pid) {
  const st = procStat(pid);
  return st ? st.utime + st.stime : null;
}

/** VmRSS / VmHWM in KiB from /proc/<pid>/status. */
export function memKiB(pid) {
  let s;
  try {
    s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const get = (k) => {
    const m = s.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) : null;
  };
  return { rss: get('VmRSS'), hwm: get('VmHWM') };
}

export function readPidFile(file) {
  try {
    const n = parseInt(fs.readFileSync(file, 'utf8').trim(), 10);
    return Number.isFinite(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

// ------------------------------------------------------------- cleanup ---

const cleanups = [];
let cleaning = false;
let interrupted = false;
export const isInterrupted = () => interrupted;
/** Register a synchronous cleanup; returns a function that runs+unregisters it. */
export function onCleanup(fn) {
  const entry = { fn, done: false };
  cleanups.push(entry);
  return () => {
    if (entry.done) return;
    entry.done = true;
    try {
      fn();
    } catch (e) {
      console.error(`cleanup failed: ${e?.message ?? e}`);
    }
  };
}
export function runAllCleanups() {
  if (cleaning) return;
  cleaning = true;
  for (const e of cleanups.slice().reverse()) {
    if (e.done) continue;
    e.done = true;
    try {
      e.fn();
    } catch (err) {
      console.error(`cleanup failed: ${err?.message ?? err}`);
    }
  }
  cleaning = false;
}
process.on('exit', runAllCleanups);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\n${sig} received: cleaning up`);
    interrupted = true;
    runAllCleanups();
    // Give libuv a moment to reap the children we just killed (no zombies left behind).
    setTimeout(() => process.exit(130), 300);
  });
}

// -------------------------------------------------------------- network ---

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** One GET with Connection: close. Resolves {status, body} or rejects. */
export function httpGet(port, timeoutMs = 1000) {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: '/', agent: false, timeout: timeoutMs, headers: { connection: 'close' } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Poll until GET / answers 200, or until timeoutMs. `abort()` returning a string stops early. */
export async function waitHttp200(port, timeoutMs = 15000, abort = () => null) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  while (Date.now() < deadline) {
    const why = abort();
    if (why) return { ok: false, reason: why };
    try {
      const r = await httpGet(port, 1000);
      if (r.status === 200) return { ok: true };
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = e.code || e.message;
    }
    await sleep(100);
  }
  return { ok: false, reason: `port ${port} not answering 200 within ${timeoutMs / 1000}s (last: ${last})` };
}

/** Distinct worker pids seen over n fresh connections ("hello from <pid>"). */
export async function distinctPids(port, n = 40) {
  const seen = new Map();
  for (let i = 0; i < n; i++) {
    try {
      const r = await httpGet(port, 1000);
      const m = /hello from (\d+)/.exec(r.body);
      if (m) seen.set(m[1], (seen.get(m[1]) || 0) + 1);
    } catch {}
  }
  return seen;
}

// ------------------------------------------------------------------ wrk ---

function toMs(v, unit) {
  const x = parseFloat(v);
  if (unit === 'us') return x / 1000;
  if (unit === 'ms') return x;
  if (unit === 's') return x * 1000;
  if (unit === 'm') return x * 60000;
  return NaN;
}

export function parseWrk(out) {
  const num = (re) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : null;
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const lat = {};
  for (const m of out.matchAll(/^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$/gm)) lat[m[1]] = toMs(m[2], m[3]);
  const avg = /^\s+Latency\s+([\d.]+)(us|ms|s|m)/m.exec(out);
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    requests: num(/(\d+) requests in/),
    socketErrors: sock
      ? { connect: +sock[1], read: +sock[2], write: +sock[3], timeout: +sock[4] }
      : { connect: 0, read: 0, write: 0, timeout: 0 },
    non2xx: num(/Non-2xx or 3xx responses:\s+(\d+)/) ?? 0,
    latAvgMs: avg ? toMs(avg[1], avg[2]) : null,
    p50Ms: lat['50'] ?? null,
    p99Ms: lat['99'] ?? null,
  };
}

export function sumSocketErrors(se) {
  return se.connect + se.read + se.write + se.timeout;
}

/**
 * Run a tool asynchronously (so SIGINT/SIGTERM handlers can fire while it runs)
 * in its own process group; it is killed by cleanup if we are interrupted.
 */
export function runAsync(cmd, args, { env, timeoutMs = 600_000, cwd = REPO_DIR } = {}) {
  // Once interrupted, start nothing new and let callers stall until process.exit.
  if (interrupted) return new Promise(() => {});
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd,
      env: { ...process.env, ...env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const kill = onCleanup(() => terminateGroup(child.pid, 1000));
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs);
    const done = (status, signal, error) => {
      clearTimeout(timer);
      kill(); // no-op if the group is already gone
      if (interrupted) return; // killed by the signal handler: stall the caller
      resolve({ status, signal, stdout, stderr, error: timedOut ? `timed out after ${timeoutMs / 1000}s` : error });
    };
    child.on('error', (e) => done(null, null, e.message));
    child.on('close', (status, signal) => done(status, signal, null));
  });
}

export async function runWrk({ port, seconds, threads = 1, connections = 50, close = false, cgroup = null, script = null }) {
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--latency'];
  if (close) args.push('-H', 'Connection: close');
  if (script) args.push('-s', script);
  args.push(`http://127.0.0.1:${port}/`);
  const [cmd, cmdArgs] = inCgroup(cgroup, 'wrk', args);
  const r = await runAsync(cmd, cmdArgs, { timeoutMs: (seconds + 30) * 1000 });
  if (r.error) throw new Error(`wrk failed: ${r.error}`);
  const parsed = parseWrk(r.stdout || '');
  if (r.status !== 0 || parsed.rps == null) {
    throw new Error(`wrk exit ${r.status ?? r.signal}: ${(r.stderr || r.stdout || '').trim().slice(0, 400)}`);
  }
  return { ...parsed, stdout: script ? r.stdout : undefined, cmd: `wrk ${args.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')}` };
}

// ------------------------------------------------------------------ pm2 ---

/** Install pm2 into bench/.peers (gitignored) if it is not there yet. */
export function ensurePm2() {
  if (fs.existsSync(PM2_BIN)) return pm2Version();
  console.error(`[bench] pm2 not found in ${path.relative(REPO_DIR, PEERS_DIR)}; installing pm2@latest there (never a project dependency)`);
  fs.mkdirSync(PEERS_DIR, { recursive: true });
  const r = spawnSync('npm', ['install', '--prefix', PEERS_DIR, '--no-audit', '--no-fund', '--loglevel=error', 'pm2@latest'], {
    stdio: ['ignore', 2, 2], // keep stdout clean for the markdown report
    timeout: 300_000,
  });
  if (r.status !== 0 || !fs.existsSync(PM2_BIN)) throw new Error(`npm install pm2 failed (exit ${r.status})`);
  return pm2Version();
}

export function pm2Version() {
  try {
    return JSON.parse(fs.readFileSync(path.join(PEERS_DIR, 'node_modules', 'pm2', 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

/** Run a command to completion with a timeout; returns {status, stdout, stderr, error}. */
export function run(cmd, args, { env, timeoutMs = 15000, cwd = REPO_DIR } = {}) {
  const r = spawnSync(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return {
    status: r.status,
    signal: r.signal,
    stdout: r.stdout || '',
    stderr: r.stderr || '',
    error: r.error ? (r.error.code === 'ETIMEDOUT' ? `timed out after ${timeoutMs / 1000}s` : r.error.message) : null,
  };
}

export function describeFailure(r) {
  if (r.error) return r.error;
  const tail = (r.stderr || r.stdout).trim().split('\n').slice(-4).join(' | ');
  return `exit ${r.status ?? r.signal}${tail ? `: ${tail}` : ''}`;
}

/**
 * Tear down everything that carries KEY=<our tmp dir> in its environment:
 * first the tool's own stop command (already run by the caller), then
 * SIGTERM/SIGKILL of leftovers found by that unique env marker or as
 * descendants of the daemon pid.
 */
export function reapByEnv(key, value, extra = []) {
  const deadline = Date.now() + 3000;
  let left = [...pidsWithEnv(key, value), ...extra.filter(isAlive)];
  while (left.length && Date.now() < deadline) {
    sleepSync(100);
    left = [...pidsWithEnv(key, value), ...extra.filter(isAlive)];
  }
  if (left.length) {
    const uniq = [...new Map(left.map((h) => [h.pid, h])).values()];
    console.error(`[bench] reaping ${uniq.length} leftover process(es) of ${key}=${value}: ${uniq.map((h) => h.pid).join(' ')}`);
    terminate(uniq, 3000);
  }
}

export function mkTmp(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function rmTmp(dir) {
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch {}
}

// ---------------------------------------------------------------- stats ---

export function median(xs) {
  const v = xs.filter((x) => x != null && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

export function fmt(x, digits = 0) {
  if (x == null || !Number.isFinite(x)) return 'n/a';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function ratio(a, b, digits = 3) {
  if (a == null || b == null || !b) return 'n/a';
  return (a / b).toFixed(digits);
}

export function mdTable(header, rows) {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

/**
 * With autogroup on, each session is one scheduling group. Supervisor's workers each lead a
 * session of their own (spawned detached, for their own process group), node:cluster and pm2
 * workers share their primary's, so on a machine that also runs the load generator the CPU
 * split between client and servers differs by contender. Every report records the setting.
 */
function autogroupSetting() {
  try {
    return fs.readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim();
  } catch {
    return 'n/a';
  }
}

export function envSummary(extra = {}) {
  const cpu = os.cpus();
  const wrkV = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
  const hyper = spawnSync('hyperfine', ['--version'], { encoding: 'utf8' });
  const lines = [
    `- date: ${new Date().toISOString()}`,
    `- host: ${os.type()} ${os.release()}, ${cpu.length} x ${cpu[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, loadavg ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`,
    `- node: ${process.version}`,
    `- wrk: ${wrkV.error ? 'missing' : ((wrkV.stdout || '') + (wrkV.stderr || '')).split('\n')[0].split(' Copyright')[0].trim()}`,
    `- hyperfine: ${hyper.error ? 'missing' : (hyper.stdout || '').trim()}`,
    `- pm2: ${pm2Version() ?? 'not installed'}`,
    `- kernel.sched_autogroup_enabled: ${autogroupSetting()}`,
  ];
  for (const [k, v] of Object.entries(extra)) lines.push(`- ${k}: ${v}`);
  return lines.join('\n');
}

export function writeOut(name, text) {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const file = path.join(OUT_DIR, name);
  fs.writeFileSync(file, text);
  return file;
}

// --------------------------------------------------------------- cgroups ---
//
// With --cgroups, every contender runs in a CPU cgroup of its own and wrk in another, the way
// systemd runs each service in its own cgroup. Tasks outside the root cgroup are not grouped by
// session (autogroup), so every contender gets the same share of the machine however many
// sessions its processes lead. Needs root and a cpu controller (cgroup v1 or v2).

const CGROUP_V1 = '/sys/fs/cgroup/cpu';
const CGROUP_V2 = '/sys/fs/cgroup';

/** The directory under which bench cgroups can be made, or null. */
export function cgroupBase() {
  if (fs.existsSync(path.join(CGROUP_V1, 'cgroup.procs'))) return CGROUP_V1;
  try {
    const controllers = fs.readFileSync(path.join(CGROUP_V2, 'cgroup.subtree_control'), 'utf8');
    if (controllers.split(/\s+/).includes('cpu')) return CGROUP_V2;
  } catch {
    // no cgroup v2 with a delegated cpu controller
  }
  return null;
}

/** Makes (or reuses) the cgroup `name`; returns its directory. Removed by cleanup once empty. */
export function makeCgroup(name) {
  const base = cgroupBase();
  if (!base) throw new Error('no writable cpu cgroup hierarchy (need root and a cpu controller)');
  const dir = path.join(base, `sv-bench-${process.pid}-${name}`);
  fs.mkdirSync(dir, { recursive: true });
  onCleanup(() => {
    for (let i = 0; i < 50; i++) {
      try {
        fs.rmdirSync(dir);
        return;
      } catch {
        sleepSync(100); // processes still leaving
      }
    }
  });
  return dir;
}

/** The command line that runs `cmd args` inside cgroup directory `dir` (as is when dir is null). */
export function inCgroup(dir, cmd, args) {
  if (!dir) return [cmd, args];
  return ['sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, cmd, ...args]];
}
