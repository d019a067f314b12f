#!/usr/bin/env node
// What the metrics endpoint costs the daemon, with 10 idle fork-mode apps: resident memory and
// idle CPU with SUPERVISOR_METRICS unset and set, and per scrape: latency at the client and
// daemon CPU. Run alone (bench-lock): idle CPU is a small figure.
//
//   node bench/metrics.mjs [--apps 10] [--idle 20] [--scrapes 200]
//
// Output: markdown on stdout and in bench/.out/metrics-<timestamp>.md (+ .json).

import http from 'node:http';
import path from 'node:path';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import {
  REPO_DIR,
  SUPERVISOR_BIN,
  clockTicks,
  cpuTicks,
  envSummary,
  fmt,
  freePort,
  mdTable,
  median,
  memKiB,
  mkTmp,
  readPidFile,
  rmTmp,
  run,
  sleep,
  timestamp,
  writeOut,
} from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    apps: { type: 'string', default: '10' },
    idle: { type: 'string', default: '20' },
    scrapes: { type: 'string', default: '200' },
  },
});
const nApps = Math.max(1, parseInt(opt.apps, 10) || 10);
const idleSeconds = Math.max(5, parseInt(opt.idle, 10) || 20);
const scrapes = Math.max(20, parseInt(opt.scrapes, 10) || 200);
const log = (line) => process.stderr.write(`[metrics] ${line}\n`);

function get(port, urlPath) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    http
      .get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
        let bytes = 0;
        res.on('data', (chunk) => (bytes += chunk.length));
        res.on('end', () => resolve({ status: res.statusCode, bytes, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
      })
      .on('error', reject);
  });
}

async function measure(withMetrics) {
  const home = mkTmp('sv-bench-');
  const port = withMetrics ? await freePort() : null;
  const env = { ...process.env, SUPERVISOR_HOME: home, ...(port ? { SUPERVISOR_METRICS: `127.0.0.1:${port}` } : { SUPERVISOR_METRICS: '' }) };
  const config = path.join(home, 'apps.json');
  fs.writeFileSync(config, JSON.stringify({ apps: Array.from({ length: nApps }, (_, i) => ({ name: `idle${i}`, script: path.join(REPO_DIR, 'bench/apps/idle.cjs') })) }));
  try {
    const started = run(process.execPath, [SUPERVISOR_BIN, 'start', config], { env, timeoutMs: 60_000 });
    if (started.status !== 0) throw new Error(`start failed: ${started.stderr}`);
    const pid = readPidFile(path.join(home, 'daemon.pid'));
    await sleep(3000);
    const settled = memKiB(pid);
    const t0 = cpuTicks(pid);
    await sleep(idleSeconds * 1000);
    const idleTicks = cpuTicks(pid) - t0;
    const result = { metrics: withMetrics, rssKiB: settled.rss, idleCpuPct: (idleTicks / clockTicks() / idleSeconds) * 100 };
    if (port) {
      const first = await get(port, '/metrics');
      const times = [];
      const c0 = cpuTicks(pid);
      for (let i = 0; i < scrapes; i++) times.push((await get(port, '/metrics')).ms);
      const cpuMsPerScrape = ((cpuTicks(pid) - c0) / clockTicks() / scrapes) * 1000;
      Object.assign(result, { bytes: first.bytes, scrapeMsMedian: median(times), scrapeMsP90: times.sort((a, b) => a - b)[Math.floor(times.length * 0.9)], cpuMsPerScrape, rssAfterScrapesKiB: memKiB(pid).rss });
    }
    return result;
  } finally {
    run(process.execPath, [SUPERVISOR_BIN, 'kill'], { env, timeoutMs: 30_000 });
    rmTmp(home);
  }
}

const results = [];
for (const withMetrics of [false, true, false, true]) {
  log(`${withMetrics ? 'with' : 'without'} metrics`);
  results.push(await measure(withMetrics));
}
const pick = (flag) => results.filter((r) => r.metrics === flag);
const lines = [
  `# Metrics endpoint cost (${timestamp()})`,
  '',
  envSummary({ apps: nApps, 'idle window': `${idleSeconds} s`, scrapes }),
  '',
  mdTable(
    ['SUPERVISOR_METRICS', 'daemon VmRSS MiB (3 s after start)', 'daemon idle CPU %', 'scrape bytes', 'scrape ms median / p90', 'daemon CPU ms per scrape', `VmRSS MiB after ${scrapes} scrapes`],
    results.map((r) => [
      r.metrics ? 'set' : 'unset',
      fmt(r.rssKiB / 1024, 1),
      fmt(r.idleCpuPct, 2),
      r.metrics ? fmt(r.bytes) : '-',
      r.metrics ? `${fmt(r.scrapeMsMedian, 2)} / ${fmt(r.scrapeMsP90, 2)}` : '-',
      r.metrics ? fmt(r.cpuMsPerScrape, 2) : '-',
      r.metrics ? fmt(r.rssAfterScrapesKiB / 1024, 1) : '-',
    ]),
  ),
  '',
  `Median VmRSS: unset ${fmt(median(pick(false).map((r) => r.rssKiB)) / 1024, 1)} MiB, set ${fmt(median(pick(true).map((r) => r.rssKiB)) / 1024, 1)} MiB.`,
  '',
];
const text = lines.join('\n');
process.stdout.write(text);
const ts = timestamp();
writeOut(`metrics-${ts}.md`, text);
writeOut(`metrics-${ts}.json`, JSON.stringify(results, null, 2));
