#!/usr/bin/env node
// HTTP throughput benchmark: Supervisor (round-robin, --balance os) vs node cluster (rr/none)
// vs pm2 cluster.
//
//   node bench/http.mjs [--workers 2,4] [--duration 10] [--rounds 3] [--only a,b,...]
//                       [--warmup 2] [--connections 50] [--threads 1]
//                       [--idle-workers 4] [--idle-seconds 10] [--kinds keep-alive,close] [--cgroups]
//                       [--split-seconds 5]
//
// Contenders: supervisor, supervisor-os, node-rr, node-none, pm2 (see bench/README.md).
// Output: a markdown report on stdout and in bench/.out/http-<timestamp>.md
// (raw per-run numbers in bench/.out/http-<timestamp>.json).

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  BENCH_DIR,
  REPO_DIR,
  PM2_BIN,
  SUPERVISOR_BIN,
  clockTicks,
  cpuTicks,
  descendants,
  describeFailure,
  distinctPids,
  cgroupBase,
  ensurePm2,
  envSummary,
  inCgroup,
  makeCgroup,
  fmt,
  freePort,
  isAlive,
  median,
  mdTable,
  mkTmp,
  onCleanup,
  procHandle,
  ratio,
  readPidFile,
  reapByEnv,
  rmTmp,
  run,
  runWrk,
  sleep,
  sumSocketErrors,
  terminateGroup,
  timestamp,
  waitHttp200,
  writeOut,
} from './lib.mjs';

// supervisor-alt: Supervisor again with extra environment for its daemon, to compare a setting
// side by side: BENCH_ALT_ENV (JSON), by default the daemon on V8's full JIT instead of lite
// mode. Listed only when asked for with --only.
const ALL = ['supervisor', 'supervisor-os', 'supervisor-alt', 'node-rr', 'node-none', 'pm2'];
const ALT_ENV = JSON.parse(process.env.BENCH_ALT_ENV ?? (process.env.BENCH_ALT_BIN ? '{}' : '{"SUPERVISOR_DAEMON_NODE_FLAGS":"--max-semi-space-size=1"}'));
// BENCH_ALT_BIN: supervisor-alt runs another build's CLI (say main's), to compare two builds.
const ALT_BIN = process.env.BENCH_ALT_BIN ? path.resolve(process.env.BENCH_ALT_BIN) : SUPERVISOR_BIN;
const DEFAULT_ONLY = ['supervisor', 'supervisor-os', 'node-rr', 'node-none', 'pm2'];
const SPLIT_SCRIPT = path.join(BENCH_DIR, 'split.lua');
const START_TIMEOUT_MS = 15_000;
const APP = 'bench/apps/hello.cjs'; // relative to the repo root (cwd of every CLI call)

const { values: opt } = parseArgs({
  options: {
    workers: { type: 'string', default: '2,4' },
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    only: { type: 'string', default: DEFAULT_ONLY.join(',') },
    kinds: { type: 'string', default: 'keep-alive,close' },
    cgroups: { type: 'boolean', default: false },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    threads: { type: 'string', default: '1' },
    'idle-workers': { type: 'string', default: '4' },
    'idle-seconds': { type: 'string', default: '10' },
    'split-seconds': { type: 'string', default: '5' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  console.log(fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(1, 14).join('\n'));
  process.exit(0);
}

const workersList = opt.workers.split(',').map((s) => parseInt(s, 10)).filter((n) => n > 0);
const duration = Number(opt.duration);
const rounds = parseInt(opt.rounds, 10);
const warmup = Number(opt.warmup);
const connections = parseInt(opt.connections, 10);
const threads = parseInt(opt.threads, 10);
const idleSeconds = Number(opt['idle-seconds']);
const splitSeconds = Number(opt['split-seconds']);
const only = opt.only.split(',').map((s) => s.trim()).filter(Boolean);
for (const c of only) if (!ALL.includes(c)) die(`unknown contender "${c}" (known: ${ALL.join(', ')})`);
const contenders = ALL.filter((c) => only.includes(c)); // fixed order A B C D
if (!workersList.length || !(duration > 0) || !(rounds > 0)) die('bad --workers/--duration/--rounds');
let idleWorkers = parseInt(opt['idle-workers'], 10);
if (!workersList.includes(idleWorkers)) {
  const fallback = Math.max(...workersList);
  log(`note: --idle-workers ${idleWorkers} is not in --workers ${workersList.join(',')}; measuring daemon idle CPU at ${fallback} workers instead`);
  idleWorkers = fallback;
}

const KINDS = [
  { id: 'keep-alive', close: false },
  { id: 'close', close: true },
].filter((kind) => opt.kinds.split(',').includes(kind.id));
if (!KINDS.length) die('bad --kinds (keep-alive,close)');

function die(msg) {
  console.error(`http.mjs: ${msg}`);
  process.exit(2);
}
function log(msg) {
  console.error(`[http] ${msg}`);
}
class Skip extends Error {}

if (spawnSync('wrk', ['-v']).error) die('wrk not found: apt-get install -y wrk');
if (opt.cgroups && !cgroupBase()) die('--cgroups needs root and a cpu cgroup controller');

const cgroups = new Map();
/** With --cgroups, the cgroup directory for `name` (made on first use); else null. */
function cgroupFor(name) {
  if (!opt.cgroups) return null;
  if (!cgroups.has(name)) cgroups.set(name, makeCgroup(name));
  return cgroups.get(name);
}

// ------------------------------------------------------------ contenders ---

/** Spawn a long-running helper in its own process group; collect its output. */
function spawnGroup(args, env, cgroup = null) {
  const [cmd, cmdArgs] = inCgroup(cgroup, process.execPath, args);
  const child = spawn(cmd, cmdArgs, {
    cwd: REPO_DIR,
    env: { ...process.env, ...env },
    detached: true, // own process group: we can kill exactly it, by -pgid
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const st = { child, out: '', err: '', exited: false, code: null, signal: null };
  child.stdout.setEncoding('utf8').on('data', (d) => (st.out += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (st.err += d));
  child.on('exit', (code, signal) => Object.assign(st, { exited: true, code, signal }));
  child.on('error', (e) => Object.assign(st, { exited: true, code: -1, err: st.err + e.message }));
  return st;
}
const tail = (s, n = 3) => s.trim().split('\n').slice(-n).join(' | ');

async function startNodeCluster(sched, workers) {
  const port = await freePort();
  const g = spawnGroup(
    [path.join(BENCH_DIR, 'peers', 'node-cluster.cjs')],
    { WORKERS: String(workers), SCHED: sched, PORT: String(port) },
    cgroupFor(`node-${sched}`),
  );
  const pgid = g.child.pid;
  const stop = onCleanup(() => terminateGroup(pgid));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!/^ready$/m.test(g.out)) {
    if (g.exited) {
      stop();
      throw new Skip(`node-cluster exited (code=${g.code}, signal=${g.signal}): ${tail(g.err)}`);
    }
    if (Date.now() > deadline) {
      stop();
      throw new Skip(`node-cluster did not print "ready" within ${START_TIMEOUT_MS / 1000}s`);
    }
    await sleep(50);
  }
  const ready = await waitHttp200(port, Math.max(1000, deadline - Date.now()));
  if (!ready.ok) {
    stop();
    throw new Skip(ready.reason);
  }
  return { port, daemon: procHandle(pgid), daemonLabel: `node cluster primary (SCHED=${sched})`, stop };
}

async function startSupervisor(workers, extraEnv = {}, name = 'supervisor', extraArgs = [], bin = SUPERVISOR_BIN) {
  if (!fs.existsSync(bin)) throw new Skip(`${path.relative(REPO_DIR, bin)} does not exist (not built yet?)`);
  const home = mkTmp('sv-bench-home-');
  const port = await freePort();
  const env = { SUPERVISOR_HOME: home, PORT: String(port), ...extraEnv };
  // The CLI runs in its own process group so a hung CLI can be killed precisely.
  // The first CLI call starts the daemon, which (with its workers) stays in the CLI's cgroup.
  const g = spawnGroup([bin, 'start', APP, '-i', String(workers), '--name', 'bench-hello', ...extraArgs], env, cgroupFor(name));
  let daemonTree = [];
  const stop = onCleanup(() => {
    const dpid = readPidFile(path.join(home, 'daemon.pid'));
    const d = dpid ? procHandle(dpid) : null;
    if (d) daemonTree = [d, ...descendants(d.pid), ...daemonTree];
    const k = run(process.execPath, [bin, 'kill'], { env, timeoutMs: 15_000 });
    if (k.status !== 0) log(`supervisor kill: ${describeFailure(k)}`);
    terminateGroup(g.child.pid, 2000);
    reapByEnv('SUPERVISOR_HOME', home, daemonTree);
    rmTmp(home);
  });
  const ready = await waitHttp200(port, START_TIMEOUT_MS, () =>
    g.exited && g.code !== 0 ? `\`supervisor start\` exited ${g.code ?? g.signal}: ${tail(g.err || g.out) || '(no output)'}` : null,
  );
  if (!ready.ok) {
    stop();
    throw new Skip(ready.reason);
  }
  // Give the CLI a moment to return; a CLI that stays in the foreground is tolerated (killed at stop).
  for (let i = 0; i < 50 && !g.exited; i++) await sleep(100);
  const dpid = readPidFile(path.join(home, 'daemon.pid'));
  const daemon = dpid ? procHandle(dpid) : null;
  if (daemon) daemonTree = [daemon, ...descendants(daemon.pid)];
  else log(`supervisor: no daemon.pid in SUPERVISOR_HOME; idle CPU will be n/a`);
  return { port, daemon, daemonLabel: 'supervisor daemon', stop };
}

async function startPm2(workers) {
  const home = mkTmp('pm2-bench-home-');
  const port = await freePort();
  const env = { PM2_HOME: home, PORT: String(port) };
  let daemonTree = [];
  const stop = onCleanup(() => {
    const dpid = readPidFile(path.join(home, 'pm2.pid'));
    const d = dpid ? procHandle(dpid) : null;
    if (d) daemonTree = [d, ...descendants(d.pid), ...daemonTree];
    const k = run(process.execPath, [PM2_BIN, 'kill'], { env, timeoutMs: 30_000 });
    if (k.status !== 0) log(`pm2 kill: ${describeFailure(k)}`);
    reapByEnv('PM2_HOME', home, daemonTree);
    rmTmp(home);
  });
  const [pm2Cmd, pm2Args] = inCgroup(cgroupFor('pm2'), process.execPath, [PM2_BIN, 'start', APP, '-i', String(workers), '--name', 'bench-hello']);
  const r = run(pm2Cmd, pm2Args, {
    env,
    timeoutMs: 30_000,
  });
  if (r.status !== 0) {
    stop();
    throw new Skip(`pm2 start failed: ${describeFailure(r)}`);
  }
  const ready = await waitHttp200(port, START_TIMEOUT_MS);
  if (!ready.ok) {
    stop();
    throw new Skip(ready.reason);
  }
  const dpid = readPidFile(path.join(home, 'pm2.pid'));
  const daemon = dpid ? procHandle(dpid) : null;
  if (daemon) daemonTree = [daemon, ...descendants(daemon.pid)];
  return { port, daemon, daemonLabel: 'pm2 God daemon', stop };
}

const STARTERS = {
  supervisor: (n) => startSupervisor(n),
  'supervisor-os': (n) => startSupervisor(n, {}, 'supervisor-os', ['--balance', 'os']),
  'supervisor-alt': (n) => startSupervisor(n, ALT_ENV, 'supervisor-alt', [], ALT_BIN),
  'node-rr': (n) => startNodeCluster('rr', n),
  'node-none': (n) => startNodeCluster('none', n),
  pm2: startPm2,
};

// ------------------------------------------------------------------ main ---

const runs = []; // {workers, kind, contender, round, rps, ...}
const skipped = []; // {workers, contender, reason}
const spread = {}; // `${workers}/${contender}` -> "pid:count ..."
const idle = []; // {workers, contender, label, pid, cpuPct, ticks}
const splits = []; // {workers, contender, requests, counts: number[] (per worker, busiest first)}
let pm2Ver = null;

/**
 * CPU ticks of the contender's daemon (or primary) and of its workers (every descendant), by
 * pid handle so a worker that restarted mid-run is not mistaken for the one before it.
 */
function cpuSnapshot(instance) {
  if (!instance.daemon) return null;
  const workers = new Map();
  for (const h of descendants(instance.daemon.pid)) workers.set(`${h.pid}:${h.start}`, cpuTicks(h.pid) ?? 0);
  return { daemon: cpuTicks(instance.daemon.pid) ?? 0, workers };
}

/** Microseconds of CPU per request spent in the daemon and in the workers during one wrk run. */
function cpuPerRequest(before, after, requests) {
  if (!before || !after || !requests) return { daemonUs: null, workersUs: null };
  const usPerTick = 1e6 / clockTicks();
  let workerTicks = 0;
  for (const [id, ticks] of after.workers) workerTicks += ticks - (before.workers.get(id) ?? 0);
  return {
    daemonUs: ((after.daemon - before.daemon) * usPerTick) / requests,
    workersUs: (workerTicks * usPerTick) / requests,
  };
}

async function measureIdle(instances, workers) {
  const targets = Object.entries(instances)
    .filter(([, inst]) => inst.daemon && isAlive(inst.daemon))
    .map(([name, inst]) => ({ name, inst, t0: cpuTicks(inst.daemon.pid) }));
  for (const [name, inst] of Object.entries(instances)) {
    if (!inst.daemon) idle.push({ workers, contender: name, label: inst.daemonLabel, pid: null, cpuPct: null, ticks: null });
  }
  if (!targets.length) return;
  log(`idle CPU: ${targets.map((t) => `${t.name}=${t.inst.daemon.pid}`).join(' ')} over ${idleSeconds}s`);
  const t0 = process.hrtime.bigint();
  await sleep(idleSeconds * 1000);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const t of targets) {
    const t1 = cpuTicks(t.inst.daemon.pid);
    const ticks = t1 == null || t.t0 == null ? null : t1 - t.t0;
    idle.push({
      workers,
      contender: t.name,
      label: t.inst.daemonLabel,
      pid: t.inst.daemon.pid,
      ticks,
      cpuPct: ticks == null ? null : (100 * ticks) / clockTicks() / secs,
      seconds: secs,
    });
  }
}

/**
 * How the workers shared a Connection: close load: wrk counts the responses of each pid (a
 * separate run, since reading bodies slows wrk down). Workers that served nothing count as 0.
 */
async function measureSplit(name, instance, workers) {
  const r = await runWrk({ port: instance.port, seconds: splitSeconds, threads, connections, close: true, cgroup: cgroupFor('wrk'), script: SPLIT_SCRIPT });
  const counts = [...r.stdout.matchAll(/^split (\d+) (\d+)$/gm)].map((m) => Number(m[2]));
  while (counts.length < workers) counts.push(0);
  counts.sort((a, b) => b - a);
  const requests = counts.reduce((a, n) => a + n, 0);
  splits.push({ workers, contender: name, requests, counts });
  log(`w=${workers} split ${name.padEnd(13)} ${counts.map((n) => ((100 * n) / (requests || 1)).toFixed(1) + '%').join(' / ')} of ${requests}`);
}

async function main() {
  if (contenders.includes('pm2')) {
    try {
      pm2Ver = ensurePm2();
    } catch (e) {
      log(`pm2 unavailable: ${e.message}`);
    }
  }
  const perBlock = contenders.length * (warmup + rounds * duration);
  log(
    `contenders: ${contenders.join(', ')}; workers: ${workersList.join(',')}; ${rounds} round(s) x ${duration}s; ` +
      `estimated load time ~${Math.ceil((workersList.length * KINDS.length * perBlock) / 60)} min`,
  );

  for (const workers of workersList) {
    const instances = {};
    try {
      for (const name of contenders) {
        if (name === 'pm2' && !pm2Ver) {
          skipped.push({ workers, contender: name, reason: 'pm2 could not be installed' });
          continue;
        }
        const t0 = Date.now();
        try {
          instances[name] = await STARTERS[name](workers);
          const seen = await distinctPids(instances[name].port, 40);
          spread[`${workers}/${name}`] = [...seen.values()].sort((a, b) => b - a).join('/');
          log(`${name} (${workers} workers) ready on :${instances[name].port} in ${Date.now() - t0} ms; ` + `40 fresh connections served by ${seen.size} pid(s)`);
        } catch (e) {
          const reason = e instanceof Skip ? e.message : `unexpected: ${e.stack || e}`;
          log(`SKIP ${name} (${workers} workers): ${reason}`);
          skipped.push({ workers, contender: name, reason });
        }
      }
      const live = contenders.filter((c) => instances[c]);
      if (!live.length) continue;

      for (const kind of KINDS) {
        for (const name of live) {
          try {
            await runWrk({ port: instances[name].port, seconds: warmup, threads, connections, close: kind.close, cgroup: cgroupFor('wrk') });
          } catch (e) {
            log(`warm-up ${name}/${kind.id}: ${e.message}`);
          }
        }
        for (let round = 1; round <= rounds; round++) {
          for (const name of live) {
            try {
              const before = cpuSnapshot(instances[name]);
              const r = await runWrk({ port: instances[name].port, seconds: duration, threads, connections, close: kind.close, cgroup: cgroupFor('wrk') });
              const cpu = cpuPerRequest(before, cpuSnapshot(instances[name]), r.requests);
              runs.push({ workers, kind: kind.id, contender: name, round, ...r, ...cpu });
              log(
                `w=${workers} ${kind.id.padEnd(10)} round ${round} ${name.padEnd(10)} ${fmt(r.rps)} req/s` +
                  `  errors=${sumSocketErrors(r.socketErrors)} non2xx=${r.non2xx}` +
                  `  cpu/req: daemon ${fmt(cpu.daemonUs, 1)} us, workers ${fmt(cpu.workersUs, 1)} us`,
              );
            } catch (e) {
              log(`w=${workers} ${kind.id} round ${round} ${name}: FAILED ${e.message}`);
              runs.push({ workers, kind: kind.id, contender: name, round, rps: null, error: e.message });
            }
          }
        }
      }
      if (splitSeconds > 0 && KINDS.some((kind) => kind.close)) {
        for (const name of live) {
          try {
            await measureSplit(name, instances[name], workers);
          } catch (e) {
            log(`split ${name} (${workers} workers): FAILED ${e.message}`);
          }
        }
      }
      if (workers === idleWorkers) {
        await sleep(1000); // let post-load work (timers, GC) settle
        await measureIdle(instances, workers);
      }
    } finally {
      for (const name of Object.keys(instances).reverse()) instances[name].stop();
    }
  }
  report();
}

function report() {
  const ts = timestamp();
  const lines = [];
  lines.push(`# HTTP throughput: Supervisor vs peers (${ts})`, '');
  lines.push(
    envSummary({
      params: `workers=${workersList.join(',')} duration=${duration}s rounds=${rounds} warmup=${warmup}s wrk -t${threads} -c${connections}${opt.cgroups ? ' cgroups: one per contender, one for wrk' : ''}`,
      contenders: contenders.join(', '),
      command: `node bench/http.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    }),
    '',
  );

  lines.push('## Throughput (median over rounds)', '');
  const rows = [];
  const med = {};
  for (const workers of workersList) {
    for (const kind of KINDS) {
      for (const name of contenders) {
        const rs = runs.filter((r) => r.workers === workers && r.kind === kind.id && r.contender === name);
        const sk = skipped.find((s) => s.workers === workers && s.contender === name);
        if (!rs.length) {
          rows.push([workers, kind.id, name, sk ? 'skipped' : 'n/a', '', '', '', '', '', '', '', '']);
          continue;
        }
        const ok = rs.filter((r) => r.rps != null);
        const m = median(ok.map((r) => r.rps));
        med[`${workers}/${kind.id}/${name}`] = m;
        const se = ok.reduce(
          (a, r) => ({
            connect: a.connect + r.socketErrors.connect,
            read: a.read + r.socketErrors.read,
            write: a.write + r.socketErrors.write,
            timeout: a.timeout + r.socketErrors.timeout,
          }),
          { connect: 0, read: 0, write: 0, timeout: 0 },
        );
        rows.push([
          workers,
          kind.id,
          name,
          `**${fmt(m)}**`,
          rs.map((r) => (r.rps == null ? 'fail' : fmt(r.rps))).join(', '),
          fmt(median(ok.map((r) => r.p50Ms)), 2),
          fmt(median(ok.map((r) => r.p99Ms)), 2),
          fmt(median(ok.map((r) => r.daemonUs).filter((x) => x != null)), 1),
          fmt(median(ok.map((r) => r.workersUs).filter((x) => x != null)), 1),
          `${se.connect}/${se.read}/${se.write}/${se.timeout}`,
          ok.reduce((a, r) => a + r.non2xx, 0),
          spread[`${workers}/${name}`] ?? '',
        ]);
      }
    }
  }
  lines.push(
    mdTable(
      ['workers', 'client', 'contender', 'median req/s', 'runs (req/s)', 'p50 ms', 'p99 ms', 'daemon us/req', 'workers us/req', 'sock err c/r/w/t', 'non-2xx', 'conns per pid (40 fresh)'],
      rows,
    ),
    '',
  );

  lines.push('## Ratios of median req/s (> 1 means Supervisor is faster)', '');
  const rrows = [];
  for (const workers of workersList) {
    for (const kind of KINDS) for (const ours of contenders.filter((c) => c.startsWith('supervisor'))) {
      const s = med[`${workers}/${kind.id}/${ours}`];
      rrows.push([
        workers,
        kind.id,
        ours,
        ratio(s, med[`${workers}/${kind.id}/node-rr`]),
        ratio(s, med[`${workers}/${kind.id}/node-none`]),
        ratio(s, med[`${workers}/${kind.id}/pm2`]),
      ]);
    }
  }
  lines.push(mdTable(['workers', 'client', 'ours', 'ours/node-rr', 'ours/node-none', 'ours/pm2'], rrows), '');

  if (splits.length) {
    lines.push(`## Per-worker split under Connection: close (${splitSeconds}s wrk run each, responses counted per pid)`, '');
    lines.push(
      mdTable(
        ['workers', 'contender', 'requests', 'share per worker (busiest first)', 'busiest / idlest'],
        splits.map((s) => [
          s.workers,
          s.contender,
          s.requests,
          s.counts.map((n) => `${fmt((100 * n) / (s.requests || 1), 1)}%`).join(' / '),
          s.counts[s.counts.length - 1] > 0 ? fmt(s.counts[0] / s.counts[s.counts.length - 1], 2) : 'inf',
        ]),
      ),
      '',
    );
  }

  lines.push(`## Daemon idle CPU (${idleWorkers} workers, ${idleSeconds}s idle right after load)`, '');
  if (idle.length) {
    lines.push(
      mdTable(
        ['contender', 'process', 'pid', 'CPU ticks', 'CPU %'],
        idle.map((i) => [i.contender, i.label, i.pid ?? 'n/a', i.ticks ?? 'n/a', fmt(i.cpuPct, 2)]),
      ),
      '',
      `CPU % = (utime+stime delta from /proc/<pid>/stat) / CLK_TCK (${clockTicks()}) / elapsed seconds x 100; 100 % = one core. ` +
        'The node cluster primaries are listed as a reference point for "the process that owns the socket".',
      '',
    );
  } else {
    lines.push('not measured (no contender ran at that worker count)', '');
  }

  if (skipped.length) {
    lines.push('## Skipped', '');
    for (const s of skipped) lines.push(`- ${s.contender} (${s.workers} workers): ${s.reason}`);
    lines.push('');
  }
  const failed = runs.filter((r) => r.rps == null);
  if (failed.length) {
    lines.push('## Failed runs', '');
    for (const f of failed) lines.push(`- ${f.contender} w=${f.workers} ${f.kind} round ${f.round}: ${f.error}`);
    lines.push('');
  }
  lines.push('## Load commands', '');
  lines.push('- keep-alive: `wrk -t' + threads + ' -c' + connections + ' -d' + duration + 's --latency http://127.0.0.1:<port>/`');
  lines.push("- close: `wrk -t" + threads + ' -c' + connections + ' -d' + duration + "s --latency -H 'Connection: close' http://127.0.0.1:<port>/`");
  lines.push(`- order per (workers, client): ${warmup}s warm-up of each contender, then ${contenders.join(' ')} repeated ${rounds}x`);

  const md = lines.join('\n') + '\n';
  process.stdout.write(md);
  const file = writeOut(`http-${ts}.md`, md);
  const jfile = writeOut(
    `http-${ts}.json`,
    JSON.stringify({ params: { workersList, duration, rounds, warmup, connections, threads, contenders, splitSeconds }, runs, skipped, idle, spread, splits }, null, 2),
  );
  log(`wrote ${path.relative(REPO_DIR, file)} and ${path.relative(REPO_DIR, jfile)}`);
}

main().catch((e) => {
  console.error(e.stack || e);
  process.exitCode = 1;
});
