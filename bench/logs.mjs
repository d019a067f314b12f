#!/usr/bin/env node
// Log throughput and the cost of a log flood to its neighbours.
//
//   node bench/logs.mjs [--seconds 10] [--rounds 2] [--only direct,supervisor,pm2] [--parts throughput,neighbour]
//                       [--workers 2] [--connections 50]
//
// throughput: bench/apps/log-flood.cjs writes 100-byte lines as fast as stdout takes them for
//   --seconds: straight to a file (`node app > file`, the ceiling), under Supervisor, under
//   pm2. The app reports its own rate (bytes written / time), so every contender is measured
//   the same way, in the same run, on the same disk. Also: the daemon's CPU and peak RSS, and
//   what the logs folder holds at the end.
// neighbour: bench/apps/hello.cjs in cluster mode (--workers) under wrk for --seconds, alone
//   and then with the flooding app running under the same daemon; meanwhile `supervisor list`
//   (`pm2 jlist`) is timed back to back, and the flooding app's own rate over the same window
//   is taken from its progress reports. `supervisor-before` is another build of the CLI
//   (BENCH_BEFORE_BIN=path/to/bin/supervisor.js), for before/after figures.
// Output: markdown on stdout and in bench/.out/logs-<timestamp>.md (+ .json).

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  PM2_BIN,
  REPO_DIR,
  SUPERVISOR_BIN,
  cpuTicks,
  clockTicks,
  describeFailure,
  ensurePm2,
  envSummary,
  fmt,
  freePort,
  median,
  mdTable,
  memKiB,
  mkTmp,
  onCleanup,
  readPidFile,
  reapByEnv,
  rmTmp,
  run,
  runAllCleanups,
  runWrk,
  sleep,
  timestamp,
  waitHttp200,
  writeOut,
} from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    only: { type: 'string', default: 'direct,supervisor,supervisor-before,pm2' },
    parts: { type: 'string', default: 'throughput,neighbour' },
    workers: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  console.log(fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(1, 17).join('\n'));
  process.exit(0);
}
const seconds = Math.max(2, Number(opt.seconds) || 10);
const rounds = Math.max(1, Number(opt.rounds) || 2);
const parts = opt.parts.split(',');
const workers = Math.max(1, Number(opt.workers) || 2);
const connections = Math.max(1, Number(opt.connections) || 50);
const BEFORE_BIN = process.env.BENCH_BEFORE_BIN ? path.resolve(process.env.BENCH_BEFORE_BIN) : null;
const only = opt.only.split(',').filter((c) => c !== 'supervisor-before' || BEFORE_BIN);
const FLOOD = path.join(REPO_DIR, 'bench/apps/log-flood.cjs');
const HELLO = path.join(REPO_DIR, 'bench/apps/hello.cjs');
const log = (line) => console.error(`[logs] ${line}`);
const MB = 1e6;

function dirBytes(dir) {
  let total = 0;
  for (const name of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, name.name);
    total += name.isDirectory() ? dirBytes(p) : fs.statSync(p, { throwIfNoEntry: false })?.size ?? 0;
  }
  return total;
}

/** "flood-done <bytes> <ms>" from a file, once it is there. */
async function floodResult(file, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    const m = /flood-done (\d+) (\d+)/.exec(text);
    if (m) return { bytes: Number(m[1]), ms: Number(m[2]) };
    await sleep(200);
  }
  throw new Error(`no flood-done in ${file} within ${timeoutMs} ms`);
}

/** The flooding app's last progress report ("flood-at <bytes> <ms>"), or null. */
function lastFloodReport(file) {
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const all = [...text.matchAll(/flood-at (\d+) (\d+)/g)];
  const m = all.at(-1);
  return m ? { bytes: Number(m[1]), ms: Number(m[2]) } : null;
}

/** Samples a daemon's RSS and CPU while `until` is pending. */
async function watchDaemon(pid, until) {
  let peak = 0;
  const t0 = cpuTicks(pid);
  const start = Date.now();
  let done = false;
  until.finally(() => (done = true));
  while (!done) {
    peak = Math.max(peak, memKiB(pid)?.rss ?? 0);
    await sleep(100);
  }
  const cpu = t0 == null ? null : (((cpuTicks(pid) ?? t0) - t0) / clockTicks() / ((Date.now() - start) / 1000)) * 100;
  return { peakRssKiB: peak, cpuPercent: cpu };
}

// ------------------------------------------------------------ contenders ---

/** A Supervisor (or pm2) home with its daemon; `start(args, env)` runs the start command. */
function supervisorHome(bin) {
  const home = mkTmp('sv-logs-');
  const env = { SUPERVISOR_HOME: home };
  const cli = (args, extraEnv = {}, timeoutMs = 30_000) => run(process.execPath, [bin, ...args], { env: { ...env, ...extraEnv }, timeoutMs });
  const drop = onCleanup(() => {
    const pid = readPidFile(path.join(home, 'daemon.pid'));
    const k = cli(['kill'], {}, 30_000);
    if (k.status !== 0) log(`supervisor kill: ${describeFailure(k)}`);
    reapByEnv('SUPERVISOR_HOME', home);
    rmTmp(home);
  });
  return {
    home,
    logDir: path.join(home, 'logs'),
    daemonPid: () => readPidFile(path.join(home, 'daemon.pid')),
    start: (script, name, extra, startEnv) => cli(['start', script, '--name', name, ...extra], startEnv),
    listCommand: [process.execPath, bin, 'list'],
    floodErrFile: (name) => path.join(home, 'logs', `${name}-err.log`),
    /** How long the app's logs were paced (null from a build without pacing); its daemon.log lines go to stderr. */
    pacedMs: (name) => {
      const daemonLog = path.join(home, 'daemon.log');
      const lines = fs.existsSync(daemonLog) ? fs.readFileSync(daemonLog, 'utf8').split('\n') : [];
      for (const line of lines.filter((l) => l.includes(`app "${name}": pacing`) || l.includes(`app "${name}": reading its logs`))) log(`  ${line}`);
      const r = cli(['describe', name, '--json']);
      try {
        return JSON.parse(r.stdout)[0]?.logPacing?.pacedMs ?? null;
      } catch {
        return null;
      }
    },
    close: drop,
  };
}

function pm2Home() {
  const home = mkTmp('pm2-logs-');
  const env = { PM2_HOME: home };
  const cli = (args, extraEnv = {}, timeoutMs = 30_000) => run(process.execPath, [PM2_BIN, ...args], { env: { ...env, ...extraEnv }, timeoutMs });
  const drop = onCleanup(() => {
    const k = cli(['kill'], {}, 30_000);
    if (k.status !== 0) log(`pm2 kill: ${describeFailure(k)}`);
    reapByEnv('PM2_HOME', home);
    rmTmp(home);
  });
  return {
    home,
    logDir: path.join(home, 'logs'),
    daemonPid: () => readPidFile(path.join(home, 'pm2.pid')),
    start: (script, name, extra, startEnv) => cli(['start', script, '--name', name, ...extra], startEnv),
    listCommand: [process.execPath, PM2_BIN, 'jlist'],
    floodErrFile: (name) => path.join(home, 'logs', `${name}-error.log`),
    pacedMs: () => null,
    close: drop,
  };
}

function homeFor(contender) {
  if (contender === 'pm2') return pm2Home();
  return supervisorHome(contender === 'supervisor-before' ? BEFORE_BIN : SUPERVISOR_BIN);
}

// ------------------------------------------------------------ throughput ---

async function throughputDirect() {
  const dir = mkTmp('direct-logs-');
  const drop = onCleanup(() => rmTmp(dir));
  try {
    const out = fs.openSync(path.join(dir, 'out.log'), 'a');
    const err = path.join(dir, 'err.log');
    const errFd = fs.openSync(err, 'a');
    const child = spawn(process.execPath, [FLOOD], { env: { ...process.env, FLOOD_MS: String(seconds * 1000), FLOOD_EXIT: '1' }, stdio: ['ignore', out, errFd] });
    await new Promise((resolve) => child.once('exit', resolve));
    fs.closeSync(out);
    fs.closeSync(errFd);
    const result = await floodResult(err, 5000);
    return { ...result, diskBytes: dirBytes(dir) };
  } finally {
    drop();
  }
}

async function throughputSupervised(contender) {
  const h = homeFor(contender);
  try {
    const pre = h.start(HELLO, 'warm', [], { PORT: String(await freePort()) }); // starts the daemon
    if (pre.status !== 0) throw new Error(`start failed: ${describeFailure(pre)}`);
    const pid = h.daemonPid();
    const r = h.start(FLOOD, 'flood', [], { FLOOD_MS: String(seconds * 1000) });
    if (r.status !== 0) throw new Error(`start failed: ${describeFailure(r)}`);
    const result = floodResult(h.floodErrFile('flood'), seconds * 1000 + 60_000);
    const daemon = pid ? await watchDaemon(pid, result) : {};
    const { bytes, ms } = await result;
    await sleep(500);
    return { bytes, ms, ...daemon, diskBytes: dirBytes(h.logDir), rssAfterKiB: pid ? memKiB(pid)?.rss : null, pacedMs: h.pacedMs('flood') };
  } finally {
    h.close();
  }
}

// ------------------------------------------------------------- neighbour ---

/** Times the list command back to back until `until` settles. */
async function timeList(argv, env, until) {
  const times = [];
  let done = false;
  until.finally(() => (done = true));
  while (!done) {
    const t = process.hrtime.bigint();
    const r = spawnSync(argv[0], argv.slice(1), { env: { ...process.env, ...env }, stdio: 'ignore', timeout: 30_000 });
    if (r.status === 0) times.push(Number(process.hrtime.bigint() - t) / 1e6);
    await sleep(50);
  }
  return times;
}

async function neighbour(contender) {
  const h = homeFor(contender);
  const env = contender === 'pm2' ? { PM2_HOME: h.home } : { SUPERVISOR_HOME: h.home };
  try {
    const port = await freePort();
    const r = h.start(HELLO, 'hello', ['-i', String(workers)], { PORT: String(port) });
    if (r.status !== 0) throw new Error(`start hello failed: ${describeFailure(r)}`);
    const up = await waitHttp200(port, 15_000);
    if (!up.ok) throw new Error(`hello not answering: ${up.reason}`);
    const measure = async () => {
      const wrk = runWrk({ port, seconds, connections });
      const list = timeList(h.listCommand, env, wrk);
      const [w, l] = await Promise.all([wrk, list]);
      return { rps: w.rps, listMs: median(l), listRuns: l.length };
    };
    const alone = await measure();
    const f = h.start(FLOOD, 'flood', [], { FLOOD_MS: String((seconds + 8) * 1000), FLOOD_REPORT_MS: '500' });
    if (f.status !== 0) throw new Error(`start flood failed: ${describeFailure(f)}`);
    await sleep(1000);
    const first = lastFloodReport(h.floodErrFile('flood'));
    const flooded = await measure();
    // A paced app's stderr is read at its pace too: give its last report a moment to arrive.
    await sleep(600);
    const last = lastFloodReport(h.floodErrFile('flood'));
    const pacedMs = h.pacedMs('flood');
    const floodMBps = first && last && last.ms > first.ms ? (last.bytes - first.bytes) / MB / ((last.ms - first.ms) / 1000) : null;
    return { alone, flooded: { ...flooded, floodMBps, pacedMs } };
  } finally {
    h.close();
  }
}

// ------------------------------------------------------------------ main ---

async function main() {
  if (only.includes('pm2')) ensurePm2();
  const results = { throughput: {}, neighbour: {} };
  if (parts.includes('throughput')) {
    for (let round = 0; round < rounds; round++) {
      // Order rotates each round so no contender always runs on a warmer or cooler machine.
      const order = only.map((_, i) => only[(i + round) % only.length]);
      for (const c of order) {
        log(`throughput round ${round + 1}: ${c}`);
        try {
          const res = c === 'direct' ? await throughputDirect() : await throughputSupervised(c);
          (results.throughput[c] ??= []).push(res);
          log(`  ${fmt(res.bytes / MB / (res.ms / 1000), 1)} MB/s`);
        } catch (error) {
          log(`  ${c} failed: ${error.message}`);
          (results.throughput[c] ??= []).push({ error: error.message });
        }
      }
    }
  }
  if (parts.includes('neighbour')) {
    const contenders = only.filter((x) => x !== 'direct');
    for (let round = 0; round < rounds; round++) {
      for (const c of contenders.map((_, i) => contenders[(i + round) % contenders.length])) {
        log(`neighbour round ${round + 1}: ${c}`);
        try {
          const r = await neighbour(c);
          (results.neighbour[c] ??= []).push(r);
          log(`  ${fmt(r.alone.rps)} -> ${fmt(r.flooded.rps)} req/s, list ${fmt(r.alone.listMs)} -> ${fmt(r.flooded.listMs)} ms, flood ${fmt(r.flooded.floodMBps, 1)} MB/s`);
        } catch (error) {
          log(`  ${c} failed: ${error.message}`);
          (results.neighbour[c] ??= []).push({ error: error.message });
        }
      }
    }
  }
  return results;
}

function report(results) {
  const lines = [`# Logs benchmark (${timestamp()})`, '', envSummary({ seconds, rounds, workers, connections, before: BEFORE_BIN ?? 'not run' }), ''];
  const direct = median((results.throughput.direct ?? []).map((r) => (r.bytes ? r.bytes / r.ms : null)));
  if (Object.keys(results.throughput).length) {
    lines.push('## Throughput of one app writing 100-byte lines as fast as it can', '');
    const rows = Object.entries(results.throughput).map(([c, rs]) => {
      const rates = rs.map((r) => (r.bytes ? (r.bytes / MB) / (r.ms / 1000) : null));
      const rate = median(rates);
      return [
        c,
        rates.map((x) => fmt(x, 1)).join(', '),
        fmt(rate, 1),
        direct ? fmt(median(rs.map((r) => (r.bytes ? r.bytes / r.ms : null))) / direct, 2) : 'n/a',
        fmt(median(rs.map((r) => r.cpuPercent)), 0),
        fmt(median(rs.map((r) => (r.peakRssKiB ? r.peakRssKiB / 1024 : null))), 1),
        fmt(median(rs.map((r) => (r.rssAfterKiB ? r.rssAfterKiB / 1024 : null))), 1),
        fmt(median(rs.map((r) => (r.diskBytes != null ? r.diskBytes / MB : null))), 0),
        rs.map((r) => (r.pacedMs == null ? 'n/a' : fmt(r.pacedMs / 1000, 1))).join(', '),
      ];
    });
    lines.push(mdTable(['contender', 'MB/s per round', 'MB/s (median)', 'x direct', 'daemon CPU %', 'daemon peak RSS MiB', 'daemon RSS after MiB', 'logs on disk MB', 'logs paced s per round'], rows), '');
  }
  if (Object.keys(results.neighbour).length) {
    lines.push(`## A cluster app (${workers} workers, wrk -c${connections}, ${seconds} s) alone and next to a flooding app`, '');
    const rows = Object.entries(results.neighbour).map(([c, rs]) => {
      const ok = rs.filter((r) => !r.error);
      if (ok.length === 0) return [c, 'failed', rs[0]?.error ?? '', '', '', '', '', '', ''];
      const m = (f) => median(ok.map(f));
      const alone = m((r) => r.alone.rps);
      const flooded = m((r) => r.flooded.rps);
      const slow = ok.map((r) => `${fmt((1 - r.flooded.rps / r.alone.rps) * 100, 0)} %`).join(', ');
      const floods = ok.map((r) => fmt(r.flooded.floodMBps, 1)).join(', ');
      const paced = ok.map((r) => (r.flooded.pacedMs == null ? 'n/a' : fmt(r.flooded.pacedMs / 1000, 1))).join(', ');
      return [c, fmt(alone), fmt(flooded), slow, fmt(m((r) => r.alone.listMs), 0), fmt(m((r) => r.flooded.listMs), 0), ok.map((r) => fmt(r.flooded.listMs / r.alone.listMs, 2)).join(', '), floods, paced];
    });
    lines.push(mdTable(['contender', 'req/s alone (median)', 'req/s with flood (median)', 'slowdown per round', 'list ms alone (median)', 'list ms with flood (median)', 'list x per round', 'flood MB/s per round', 'flood paced s per round'], rows), '');
  }
  return lines.join('\n');
}

let code = 0;
try {
  const results = await main();
  const text = report(results);
  const stamp = timestamp();
  writeOut(`logs-${stamp}.md`, text);
  writeOut(`logs-${stamp}.json`, JSON.stringify(results, null, 2));
  process.stdout.write(`${text}\n`);
} catch (error) {
  console.error(error);
  code = 1;
} finally {
  runAllCleanups();
}
process.exit(code);
