#!/usr/bin/env node
// Messages between two processes: request/response round trip (p50, p99), requests per second
// with 32 in flight, and one-way messages per second, for Supervisor's supervisor-node/process
// against a raw process.send relay through a Node cluster primary (the anchor).
//
//   node bench/messages.mjs [--rounds 3] [--only supervisor,supervisor-jit,node-relay] [--pad 0] [--cgroups]
//
// Every contender runs bench/apps/msg-measure.mjs in process A against process B; rounds are
// interleaved (A B C A B C ...) and fresh processes are started for each round. supervisor-jit
// is Supervisor with its daemon on the full JIT (SUPERVISOR_DAEMON_NODE_FLAGS), since the
// daemon is the relay and runs in V8 lite mode by default. --cgroups runs each contender in a
// CPU cgroup of its own, as systemd runs a service (see bench/README.md: sessions and autogroup).
// Output: markdown on stdout and in bench/.out/messages-<timestamp>.md (+ .json).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  REPO_DIR,
  SUPERVISOR_BIN,
  cgroupBase,
  describeFailure,
  envSummary,
  fmt,
  inCgroup,
  makeCgroup,
  mdTable,
  median,
  mkTmp,
  onCleanup,
  procHandle,
  readPidFile,
  reapByEnv,
  rmTmp,
  run,
  sleep,
  terminateGroup,
  timestamp,
  writeOut,
} from './lib.mjs';

const ALL = ['supervisor', 'supervisor-jit', 'node-relay'];
const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    only: { type: 'string', default: ALL.join(',') },
    pad: { type: 'string', default: '0' },
    cgroups: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  console.log(fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(1, 13).join('\n'));
  process.exit(0);
}
const rounds = Math.max(1, parseInt(opt.rounds, 10) || 3);
const only = opt.only.split(',').map((s) => s.trim()).filter((s) => ALL.includes(s));
const ROUND_TIMEOUT_MS = 180_000;
if (opt.cgroups && !cgroupBase()) {
  console.error('--cgroups needs root and a cpu cgroup controller');
  process.exit(2);
}
const cgroups = new Map();
/** With --cgroups, the cgroup directory for `name` (made on first use); else null. */
function cgroupFor(name) {
  if (!opt.cgroups) return null;
  if (!cgroups.has(name)) cgroups.set(name, makeCgroup(name));
  return cgroups.get(name);
}
const APP = path.join(REPO_DIR, 'bench', 'apps', 'msg-supervisor.mjs');
const RELAY = path.join(REPO_DIR, 'bench', 'peers', 'node-cluster-relay.cjs');

async function waitForFile(file, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      await sleep(100);
    }
  }
  throw new Error(`no result in ${file} within ${timeoutMs} ms`);
}

async function runSupervisor(name, daemonFlags) {
  const home = mkTmp('sv-bench-msg-');
  const resultFile = path.join(home, 'result.json');
  const env = { ...process.env, SUPERVISOR_HOME: home, PAYLOAD_PAD: opt.pad };
  if (daemonFlags !== null) env.SUPERVISOR_DAEMON_NODE_FLAGS = daemonFlags;
  else delete env.SUPERVISOR_DAEMON_NODE_FLAGS;
  const cleanup = onCleanup(() => {
    run(process.execPath, [SUPERVISOR_BIN, 'kill'], { env, timeoutMs: 20_000 });
    const daemon = readPidFile(path.join(home, 'daemon.pid'));
    reapByEnv('SUPERVISOR_HOME', home, daemon ? [procHandle(daemon)].filter(Boolean) : []);
    rmTmp(home);
  });
  try {
    // The first start starts the daemon, which (with its workers) stays in that command's cgroup.
    for (const [role, app, extra] of [['b', 'msg-b', {}], ['a', 'msg-a', { RESULT_FILE: resultFile }]]) {
      const [cmd, args] = inCgroup(cgroupFor(name), process.execPath, [SUPERVISOR_BIN, 'start', APP, '--name', app, '--no-autorestart']);
      const r = run(cmd, args, { env: { ...env, ROLE: role, ...extra }, timeoutMs: 30_000 });
      if (r.status !== 0) throw new Error(`supervisor start ${app} failed: ${describeFailure(r)}`);
    }
    return await waitForFile(resultFile, ROUND_TIMEOUT_MS);
  } finally {
    cleanup();
  }
}

async function runRelay() {
  const dir = mkTmp('sv-bench-relay-');
  const resultFile = path.join(dir, 'result.json');
  const [cmd, args] = inCgroup(cgroupFor('node-relay'), process.execPath, [RELAY]);
  const child = spawn(cmd, args, {
    env: { ...process.env, RESULT_FILE: resultFile, PAYLOAD_PAD: opt.pad },
    stdio: ['ignore', 'inherit', 'inherit'],
    detached: true,
  });
  const cleanup = onCleanup(() => {
    terminateGroup(child.pid, 3000);
    rmTmp(dir);
  });
  try {
    return await waitForFile(resultFile, ROUND_TIMEOUT_MS);
  } finally {
    cleanup();
  }
}

const contenders = {
  supervisor: () => runSupervisor('supervisor', null),
  'supervisor-jit': () => runSupervisor('supervisor-jit', '--max-semi-space-size=1'),
  'node-relay': () => runRelay(),
};

const results = Object.fromEntries(only.map((name) => [name, []]));
const failures = [];
for (let round = 1; round <= rounds; round++) {
  for (const name of only) {
    process.stderr.write(`[messages] round ${round}/${rounds}: ${name}\n`);
    try {
      results[name].push(await contenders[name]());
    } catch (error) {
      failures.push(`${name}, round ${round}: ${error.message}`);
    }
  }
}

const summary = Object.fromEntries(
  only.map((name) => {
    const runs = results[name];
    return [
      name,
      {
        p50: median(runs.map((r) => r.latencyUs.p50)),
        p99: median(runs.map((r) => r.latencyUs.p99)),
        mean: median(runs.map((r) => r.latencyUs.mean)),
        requestsPerS: median(runs.map((r) => r.requestsPerS)),
        messagesPerS: median(runs.map((r) => r.messagesPerS)),
        runs,
      },
    ];
  }),
);
const anchor = summary['node-relay'];
const rows = only.map((name) => {
  const s = summary[name];
  const x = (a, b) => (a && b ? `${(a / b).toFixed(2)}x` : 'n/a');
  return [
    name,
    fmt(s.p50, 1),
    fmt(s.p99, 1),
    fmt(s.mean, 1),
    fmt(s.requestsPerS),
    fmt(s.messagesPerS),
    anchor && name !== 'node-relay' ? x(s.p50, anchor.p50) : '-',
    s.runs.map((r) => fmt(r.latencyUs.p50, 1)).join(' / '),
  ];
});

const report = [
  `# Messages between two processes (${new Date().toISOString()})`,
  '',
  `Command: \`node bench/messages.mjs --rounds ${rounds} --only ${only.join(',')} --pad ${opt.pad}${opt.cgroups ? ' --cgroups' : ''}\``,
  '',
  envSummary({ rounds, 'payload padding (chars)': opt.pad, cgroups: opt.cgroups ? 'one per contender' : 'no' }),
  '',
  'Round trip: sequential requests A -> B -> A, 10,000 after 2,000 warm-up (microseconds, median over rounds). Requests/s: 40,000 with 32 in flight. Messages/s: 100,000 one-way sends, B granting a credit every 200 (at most 400 unacknowledged).',
  '',
  mdTable(['contender', 'p50 us', 'p99 us', 'mean us', 'requests/s', 'messages/s', 'p50 / relay', 'p50 per round'], rows),
  '',
  failures.length ? `Failures:\n${failures.map((f) => `- ${f}`).join('\n')}\n` : '',
].join('\n');

const stamp = timestamp();
writeOut(`messages-${stamp}.md`, report);
writeOut(`messages-${stamp}.json`, JSON.stringify({ options: opt, summary, failures }, null, 2));
process.stdout.write(`${report}\n`);
