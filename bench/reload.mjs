// Requests lost across reloads: Supervisor vs pm2, same app, same load, same run.
// For each contender and each client kind (keep-alive, Connection: close): start
// bench/apps/hello.cjs with 4 workers, drive a load of 16 concurrent loops from this
// process, run `reload` three times, stop the load, and count failed requests.
// Usage: node bench/reload.mjs [--rounds 2]
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
  BENCH_DIR, OUT_DIR, PM2_BIN, SUPERVISOR_BIN, describeFailure, ensurePm2, freePort, mkTmp, reapByEnv,
  rmTmp, run, runAsync, timestamp, waitHttp200,
} from './lib.mjs';

const APP = path.join(BENCH_DIR, 'apps', 'hello.cjs');
const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 2;

function contenders() {
  return {
    supervisor: (home, port) => ({
      env: { SUPERVISOR_HOME: home, PORT: String(port) },
      start: [process.execPath, [SUPERVISOR_BIN, 'start', APP, '-i', '4', '--name', 'bench-hello']],
      reload: [process.execPath, [SUPERVISOR_BIN, 'reload', 'bench-hello']],
      stop: [process.execPath, [SUPERVISOR_BIN, 'kill']],
      marker: 'SUPERVISOR_HOME',
    }),
    pm2: (home, port) => ({
      env: { PM2_HOME: home, PORT: String(port) },
      start: [process.execPath, [PM2_BIN, 'start', APP, '-i', '4', '--name', 'bench-hello']],
      reload: [process.execPath, [PM2_BIN, 'reload', 'bench-hello']],
      stop: [process.execPath, [PM2_BIN, 'kill']],
      marker: 'PM2_HOME',
    }),
  };
}

function load(port, keepAlive) {
  const agent = new http.Agent({ keepAlive, maxSockets: 16 });
  const counts = { ok: 0, failed: 0, errors: {} };
  let stopped = false;
  const one = () =>
    new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, agent, timeout: 10_000, headers: keepAlive ? {} : { connection: 'close' } }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) counts.ok++;
          else counts.failed++;
          resolve();
        });
        res.on('error', () => {
          counts.failed++;
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => {
        counts.failed++;
        const key = e.code ?? e.message;
        counts.errors[key] = (counts.errors[key] ?? 0) + 1;
        resolve();
      });
    });
  const loops = Array.from({ length: 16 }, async () => {
    while (!stopped) await one();
  });
  return {
    async stop() {
      stopped = true;
      await Promise.all(loops);
      agent.destroy();
      return counts;
    },
  };
}

const results = [];
ensurePm2();
for (let round = 0; round < rounds; round++) {
  for (const [name, make] of Object.entries(contenders())) {
    for (const keepAlive of [true, false]) {
      const home = mkTmp(`rl-${name}-`);
      const port = await freePort();
      const c = make(home, port);
      try {
        const started = run(...c.start, { env: c.env, timeoutMs: 30_000 });
        if (started.status !== 0) throw new Error(`start failed: ${describeFailure(started)}`);
        await waitHttp200(port);
        const l = load(port, keepAlive);
        await new Promise((r) => setTimeout(r, 1000));
        const t0 = Date.now();
        for (let i = 0; i < 3; i++) {
          const r = await runAsync(...c.reload, { env: c.env, timeoutMs: 120_000 });
          if (r.status !== 0) throw new Error(`reload failed: ${describeFailure(r)}`);
        }
        const reloadMs = Date.now() - t0;
        await new Promise((r) => setTimeout(r, 1000));
        const counts = await l.stop();
        results.push({ name, client: keepAlive ? 'keep-alive' : 'close', round, ...counts, reloadMs });
        console.error(`[reload] ${name} ${keepAlive ? 'keep-alive' : 'close'} round ${round}: ok ${counts.ok} failed ${counts.failed} ${JSON.stringify(counts.errors)} (${reloadMs} ms for 3 reloads)`);
      } catch (error) {
        results.push({ name, client: keepAlive ? 'keep-alive' : 'close', round, error: String(error) });
        console.error(`[reload] ${name}: ${error}`);
      } finally {
        run(...c.stop, { env: c.env, timeoutMs: 30_000 });
        reapByEnv(c.marker, home);
        rmTmp(home);
      }
    }
  }
}

const lines = [
  `# Requests lost across three reloads (${new Date().toISOString()})`,
  '',
  '4 workers of bench/apps/hello.cjs, 16 concurrent client loops in one Node process, three reloads in a row.',
  '',
  '| contender | client | round | ok | failed | errors | time for 3 reloads |',
  '|---|---|---|---|---|---|---|',
  ...results.map((r) =>
    r.error
      ? `| ${r.name} | ${r.client} | ${r.round} | - | - | ${r.error} | - |`
      : `| ${r.name} | ${r.client} | ${r.round} | ${r.ok} | ${r.failed} | ${JSON.stringify(r.errors)} | ${r.reloadMs} ms |`,
  ),
];
fs.mkdirSync(OUT_DIR, { recursive: true });
fs.writeFileSync(path.join(OUT_DIR, `reload-${timestamp()}.md`), `${lines.join('\n')}\n`);
console.log(lines.join('\n'));
