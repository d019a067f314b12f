#!/usr/bin/env node
// Supervisor's LogFile against rotating-file-stream, the library issue 9 suggested: one
// process reads a flooding child's stdout (bench/apps/log-flood.cjs, 5 s) and writes it with
// either, both rotating at 10 MiB and keeping 4 files, pausing the pipe while the writer is
// behind. Prints MB/s (as the app measured it), the RSS the writer's module costs to load,
// and peak RSS. Run it as the daemon runs, in lite mode, after `npm run build`:
//
//   for w in ours rfs ours rfs ours rfs; do node --lite-mode --max-semi-space-size=1 bench/log-writer.mjs $w; done
//
// rotating-file-stream is installed into bench/.peers on first use (never a dependency).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

const BENCH = fileURLToPath(new URL('.', import.meta.url));
const PEERS = join(BENCH, '.peers');
const which = process.argv[2];
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
const r0 = rss();
const dir = mkdtempSync(join(tmpdir(), 'log-writer-'));
let write, drained;
if (which === 'rfs') {
  if (!existsSync(join(PEERS, 'node_modules', 'rotating-file-stream'))) {
    mkdirSync(PEERS, { recursive: true });
    spawnSync('npm', ['install', '--prefix', PEERS, '--no-audit', '--no-fund', '--loglevel=error', 'rotating-file-stream@3'], { stdio: ['ignore', 2, 2] });
  }
  const rfs = createRequire(join(PEERS, 'x.js'))('rotating-file-stream');
  const stream = rfs.createStream('app-out.log', { path: dir, size: '10M', maxFiles: 4 });
  stream.on('error', (e) => console.error('rfs error', e.message));
  write = (b) => stream.write(b);
  drained = () => new Promise((r) => stream.once('drain', r));
} else {
  const { LogFile } = await import(new URL('../dist/daemon/logs/log-file.js', import.meta.url).href);
  const f = new LogFile(join(dir, 'app-out.log'), { maxSize: 10 * 1024 * 1024, retain: 4, compress: false }, { failed() {}, recovered() {}, wrote() {}, dropped() {} });
  write = (b) => f.write(b);
  drained = () => f.drained();
}
const r1 = rss();
let peak = r1;
const child = spawn(process.execPath, [join(BENCH, 'apps', 'log-flood.cjs')], { env: { ...process.env, FLOOD_MS: '5000', FLOOD_EXIT: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
let done = '';
child.stderr.on('data', (c) => (done += c));
child.stdout.on('data', (chunk) => {
  // The flood writes whole-line batches; the daemon's line cutting is not what is compared here.
  if (!write(chunk)) {
    child.stdout.pause();
    drained().then(() => child.stdout.resume());
  }
});
const t = setInterval(() => (peak = Math.max(peak, rss())), 100);
child.on('exit', () => {
  clearInterval(t);
  const [, bytes, ms] = /flood-done (\d+) (\d+)/.exec(done);
  console.log(`${which}: ${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s, RSS before load ${r0.toFixed(1)} MiB, after load ${r1.toFixed(1)} MiB (+${(r1 - r0).toFixed(1)}), peak ${peak.toFixed(1)} MiB`);
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
