#!/usr/bin/env node
// CLI latency and daemon memory: `supervisor list` and `pm2 jlist` vs `node -e 0`,
// each with 10 idle fork-mode apps, plus the daemons' VmRSS.
//
//   node bench/cli.mjs [--runs 30] [--block 5] [--apps 10] [--only supervisor,pm2] [--no-hyperfine]
//   BENCH_BEFORE_BIN=other/bin/supervisor.js node bench/cli.mjs   (adds supervisor-before, side by side)
//
// Timing is interleaved: the commands are timed in blocks of --block runs, command
// order rotating every block, until each has --runs measured runs (>= 20 enforced).
// hyperfine (-N, --export-json) is used when installed, else spawnSync wall time.
// Output: markdown on stdout and in bench/.out/cli-<timestamp>.md (+ .json with raw times).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  REPO_DIR,
  PM2_BIN,
  SUPERVISOR_BIN,
  descendants,
  describeFailure,
  ensurePm2,
  envSummary,
  fmt,
  median,
  mdTable,
  memKiB,
  mkTmp,
  onCleanup,
  procHandle,
  readPidFile,
  reapByEnv,
  rmTmp,
  run,
  runAllCleanups,
  runAsync,
  sleep,
  timestamp,
  writeOut,
} from './lib.mjs';

const ALL = ['supervisor', 'supervisor-before', 'pm2'];
const BEFORE_BIN = process.env.BENCH_BEFORE_BIN ? path.resolve(process.env.BENCH_BEFORE_BIN) : null;
const APP = 'bench/apps/idle.cjs';
const { values: opt } = parseArgs({
  options: {
    runs: { type: 'string', default: '30' },
    block: { type: 'string', default: '5' },
    apps: { type: 'string', default: '10' },
    only: { type: 'string', default: ALL.filter((c) => c !== 'supervisor-before' || BEFORE_BIN).join(',') },
    'no-hyperfine': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  console.log(fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(1, 12).join('\n'));
  process.exit(0);
}
const runs = Math.max(20, parseInt(opt.runs, 10) || 30);
const block = Math.max(1, Math.min(runs, parseInt(opt.block, 10) || 5));
const nApps = Math.max(1, parseInt(opt.apps, 10) || 10);
const only = opt.only.split(',').map((s) => s.trim()).filter(Boolean);
for (const c of only) if (!ALL.includes(c)) die(`unknown contender "${c}" (known: ${ALL.join(', ')})`);
if (only.includes('supervisor-before') && !BEFORE_BIN) die('supervisor-before needs BENCH_BEFORE_BIN=path/to/bin/supervisor.js');
const haveHyperfine = !opt['no-hyperfine'] && !spawnSync('hyperfine', ['--version']).error;

function die(msg) {
  console.error(`cli.mjs: ${msg}`);
  process.exit(2);
}
function log(msg) {
  console.error(`[cli] ${msg}`);
}

const skipped = []; // {contender, reason}
const daemons = []; // {contender, label, handle}
const commands = [{ id: 'baseline', label: '`node -e 0`', argv: [process.execPath, '-e', '0'], env: {} }];

// ------------------------------------------------------------------ setup ---

async function setupSupervisor(id = 'supervisor', bin = SUPERVISOR_BIN) {
  if (!fs.existsSync(bin)) throw new Error(`${path.relative(REPO_DIR, bin)} does not exist (not built yet?)`);
  const home = mkTmp('sv-bench-home-');
  const e = { SUPERVISOR_HOME: home };
  let tree = [];
  onCleanup(() => {
    const dpid = readPidFile(path.join(home, 'daemon.pid'));
    const d = dpid ? procHandle(dpid) : null;
    if (d) tree = [d, ...descendants(d.pid), ...tree];
    const k = run(process.execPath, [bin, 'kill'], { env: e, timeoutMs: 15_000 });
    if (k.status !== 0) log(`supervisor kill: ${describeFailure(k)}`);
    reapByEnv('SUPERVISOR_HOME', home, tree);
    rmTmp(home);
  });
  for (let k = 0; k < nApps; k++) {
    const r = run(process.execPath, [bin, 'start', APP, '--name', `idle-${k}`], { env: e, timeoutMs: 15_000 });
    if (r.status !== 0) throw new Error(`\`supervisor start ${APP} --name idle-${k}\` failed: ${describeFailure(r)}`);
  }
  const l = run(process.execPath, [bin, 'list'], { env: e, timeoutMs: 15_000 });
  if (l.status !== 0) throw new Error(`\`supervisor list\` failed: ${describeFailure(l)}`);
  const dpid = readPidFile(path.join(home, 'daemon.pid'));
  const handle = dpid ? procHandle(dpid) : null;
  if (handle) tree = [handle, ...descendants(handle.pid)];
  else log(`${id}: no readable daemon.pid; RSS will be n/a`);
  const running = handle ? descendants(handle.pid).length : null;
  const which = id === 'supervisor' ? '' : ` (${path.relative(REPO_DIR, bin)})`;
  commands.push({ id, label: `\`supervisor list\`${which}`, argv: [process.execPath, bin, 'list'], env: e });
  daemons.push({ contender: id, label: `supervisor daemon${which}`, handle, children: running });
  log(`${id}: ${nApps} idle apps started (daemon ${handle?.pid ?? '?'}, ${running ?? '?'} descendant processes)`);
}

async function setupPm2() {
  ensurePm2();
  const home = mkTmp('pm2-bench-home-');
  const e = { PM2_HOME: home };
  let tree = [];
  onCleanup(() => {
    const dpid = readPidFile(path.join(home, 'pm2.pid'));
    const d = dpid ? procHandle(dpid) : null;
    if (d) tree = [d, ...descendants(d.pid), ...tree];
    const k = run(process.execPath, [PM2_BIN, 'kill'], { env: e, timeoutMs: 30_000 });
    if (k.status !== 0) log(`pm2 kill: ${describeFailure(k)}`);
    reapByEnv('PM2_HOME', home, tree);
    rmTmp(home);
  });
  for (let k = 0; k < nApps; k++) {
    const r = run(process.execPath, [PM2_BIN, 'start', APP, '--name', `idle-${k}`], { env: e, timeoutMs: 30_000 });
    if (r.status !== 0) throw new Error(`\`pm2 start ${APP} --name idle-${k}\` failed: ${describeFailure(r)}`);
  }
  const l = run(process.execPath, [PM2_BIN, 'jlist'], { env: e, timeoutMs: 30_000 });
  if (l.status !== 0) throw new Error(`\`pm2 jlist\` failed: ${describeFailure(l)}`);
  let online = '?';
  try {
    const list = JSON.parse(l.stdout.slice(l.stdout.indexOf('[')));
    online = list.filter((p) => p.pm2_env?.status === 'online').length;
  } catch {}
  const dpid = readPidFile(path.join(home, 'pm2.pid'));
  const handle = dpid ? procHandle(dpid) : null;
  if (handle) tree = [handle, ...descendants(handle.pid)];
  commands.push({ id: 'pm2', label: '`pm2 jlist`', argv: [process.execPath, PM2_BIN, 'jlist'], env: e });
  daemons.push({ contender: 'pm2', label: 'pm2 God daemon', handle, children: online });
  log(`pm2: ${nApps} idle apps started, ${online} online (God daemon ${handle?.pid ?? '?'})`);
}

// ----------------------------------------------------------------- timing ---

function rotate(arr, k) {
  const n = k % arr.length;
  return [...arr.slice(n), ...arr.slice(0, n)];
}

async function timeWithHyperfine(times, tmpdir) {
  const blocks = Math.ceil(runs / block);
  for (let b = 0; b < blocks; b++) {
    const n = Math.min(block, runs - b * block);
    // One hyperfine per command: each has its own environment (SUPERVISOR_HOME / PM2_HOME).
    for (const c of rotate(commands, b)) {
      const json = path.join(tmpdir, `hf-${b}-${c.id}.json`);
      const args = ['-N', '--style', 'none', '--warmup', '1', '--runs', String(Math.max(2, n)), '--export-json', json, c.argv.join(' ')];
      const r = await runAsync('hyperfine', args, { env: c.env, timeoutMs: 600_000 });
      if (r.status !== 0) throw new Error(`hyperfine failed: ${r.error || (r.stderr || r.stdout).trim().slice(0, 500)}`);
      const [res] = JSON.parse(fs.readFileSync(json, 'utf8')).results;
      times[c.id].push(...res.times.slice(0, n).map((s) => s * 1000));
    }
  }
}

async function timeWithSpawnSync(times) {
  for (const c of commands) spawnSync(c.argv[0], c.argv.slice(1), { env: { ...process.env, ...c.env }, stdio: 'ignore' }); // warm-up
  for (let i = 0; i < runs; i++) {
    for (const c of rotate(commands, i)) {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(c.argv[0], c.argv.slice(1), { env: { ...process.env, ...c.env }, stdio: 'ignore', timeout: 60_000 });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.status !== 0) throw new Error(`${c.argv.join(' ')} exited ${r.status ?? r.signal}`);
      times[c.id].push(ms);
    }
    await sleep(0); // let a pending SIGINT be handled between runs
  }
}

// ------------------------------------------------------------------- main ---

const rss = {}; // contender -> {afterStart, afterRuns}

async function main() {
  try {
    await measure();
  } finally {
    runAllCleanups(); // supervisor kill / pm2 kill + reap leftovers, also on error
  }
}

async function measure() {
  const setups = { supervisor: () => setupSupervisor(), 'supervisor-before': () => setupSupervisor('supervisor-before', BEFORE_BIN), pm2: setupPm2 };
  for (const name of ALL.filter((c) => only.includes(c))) {
    try {
      await setups[name]();
    } catch (e) {
      log(`SKIP ${name}: ${e.message}`);
      skipped.push({ contender: name, reason: e.message });
    }
  }
  await sleep(3000); // let the daemons settle after spawning the apps
  for (const d of daemons) rss[d.contender] = { afterStart: d.handle ? memKiB(d.handle.pid) : null };

  const times = Object.fromEntries(commands.map((c) => [c.id, []]));
  const method = haveHyperfine ? 'hyperfine -N (blocks of ' + block + ' runs, one hyperfine per command, order rotated per block, 1 warm-up per command per block)' : 'spawnSync wall time (order rotated every run)';
  log(`timing ${commands.map((c) => c.id).join(', ')}: ${runs} runs each via ${method}`);
  const tmp = mkTmp('cli-bench-');
  const dropTmp = onCleanup(() => rmTmp(tmp));
  try {
    if (haveHyperfine) await timeWithHyperfine(times, tmp);
    else await timeWithSpawnSync(times);
  } finally {
    dropTmp();
  }
  for (const d of daemons) rss[d.contender].afterRuns = d.handle ? memKiB(d.handle.pid) : null;
  report(times, method);
}

function report(times, method) {
  const ts = timestamp();
  const base = median(times.baseline);
  const lines = [`# CLI latency and daemon memory (${ts})`, ''];
  lines.push(
    envSummary({
      params: `${nApps} idle fork-mode apps (${APP}) per manager; ${runs} timed runs per command`,
      timing: method,
      command: `node bench/cli.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    }),
    '',
  );
  lines.push(`## CLI wall time with ${nApps} idle apps (ms)`, '');
  const rows = commands.map((c) => {
    const t = times[c.id];
    const m = median(t);
    return [
      c.label,
      t.length,
      `**${fmt(m, 1)}**`,
      fmt(t.reduce((a, x) => a + x, 0) / t.length, 1),
      fmt(Math.min(...t), 1),
      fmt(Math.max(...t), 1),
      c.id === 'baseline' ? '1.00' : m != null && base ? `**${(m / base).toFixed(2)}**` : 'n/a',
      c.id === 'baseline' ? '0.0' : m != null && base != null ? fmt(m - base, 1) : 'n/a',
    ];
  });
  for (const s of skipped) rows.push([s.contender === 'pm2' ? '`pm2 jlist`' : `\`supervisor list\` (${s.contender})`, 0, 'skipped', '', '', '', 'n/a', 'n/a']);
  lines.push(mdTable(['command', 'runs', 'median', 'mean', 'min', 'max', 'ratio to `node -e 0`', 'overhead over `node -e 0`'], rows), '');

  lines.push(`## Daemon memory with ${nApps} idle apps`, '');
  const mib = (k) => (k == null ? 'n/a' : (k / 1024).toFixed(1));
  const mrows = daemons.map((d) => [
    d.label,
    d.handle?.pid ?? 'n/a',
    mib(rss[d.contender]?.afterStart?.rss),
    mib(rss[d.contender]?.afterRuns?.rss),
    mib(rss[d.contender]?.afterRuns?.hwm),
  ]);
  for (const s of skipped) mrows.push([s.contender, 'skipped', 'n/a', 'n/a', 'n/a']);
  lines.push(mdTable(['daemon', 'pid', 'VmRSS MiB (settled, 3 s after start)', `VmRSS MiB (after ${runs} list calls)`, 'VmHWM MiB'], mrows), '');
  lines.push('VmRSS/VmHWM from /proc/<daemon pid>/status; daemon pid from $SUPERVISOR_HOME/daemon.pid and $PM2_HOME/pm2.pid. App processes are not included.', '');

  if (skipped.length) {
    lines.push('## Skipped', '');
    for (const s of skipped) lines.push(`- ${s.contender}: ${s.reason}`);
    lines.push('');
  }
  const md = lines.join('\n') + '\n';
  process.stdout.write(md);
  const file = writeOut(`cli-${ts}.md`, md);
  writeOut(`cli-${ts}.json`, JSON.stringify({ runs, block, nApps, method, times, rss, skipped }, null, 2));
  log(`wrote ${path.relative(REPO_DIR, file)}`);
}

main().catch((e) => {
  console.error(e.stack || e);
  process.exitCode = 1;
});
