/**
 * The metrics endpoint end to end: promtool accepts what it serves, a real Prometheus server
 * scrapes it, counters move with what happens to processes, /readyz follows a crash loop,
 * and a daemon without SUPERVISOR_METRICS opens no TCP port at all.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { byStatus, expectOk, fixture, freePort, httpGet, isAlive, ROOT, runCli, tempHome, waitFor, type Home } from '../helpers.js';

/** Value of one sample in Prometheus text, or null when absent. */
function sample(text: string, name: string, labels: Record<string, string | number> = {}): number | null {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const wanted = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (wanted) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return null;
}

function promtool(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile('promtool', ['check', 'metrics'], (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output: stdout + stderr });
    });
    child.stdin?.end(text);
  });
}

/** Inodes of the TCP sockets in LISTEN state in this network namespace. */
function listeningTcpInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] === '0A' && fields[9]) inodes.add(fields[9]);
    }
  }
  return inodes;
}

/** How many listening TCP sockets a process holds. */
function listeningSocketsOf(pid: number): number {
  const listening = listeningTcpInodes();
  let count = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match && listening.has(match[1] as string)) count += 1;
    } catch {
      // closed meanwhile
    }
  }
  return count;
}

/** The ```yaml block of docs/METRICS.md whose first line is `# <name>`. */
function docBlock(name: string): string {
  const doc = readFileSync(join(ROOT, 'docs', 'METRICS.md'), 'utf8');
  const block = doc.split('```yaml\n').map((part) => part.split('```')[0] as string).find((part) => part.startsWith(`# ${name}\n`));
  if (!block) throw new Error(`no yaml block "# ${name}" in docs/METRICS.md`);
  return block;
}

describe('docs/METRICS.md examples', () => {
  it('has a scrape config and alert rules that promtool accepts, and the alerts fire as described', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sv-prom-'));
    try {
      writeFileSync(join(dir, 'prometheus.yml'), docBlock('prometheus.yml'));
      writeFileSync(join(dir, 'supervisor-alerts.yml'), docBlock('supervisor-alerts.yml'));
      const run = (args: string[]) =>
        new Promise<{ code: number; output: string }>((resolve) =>
          execFile('promtool', args, { cwd: dir }, (error, stdout, stderr) => resolve({ code: error ? 1 : 0, output: stdout + stderr })),
        );
      const config = await run(['check', 'config', 'prometheus.yml']);
      expect(config.code, config.output).toBe(0);
      const rules = await run(['check', 'rules', 'supervisor-alerts.yml']);
      expect(rules.code, rules.output).toBe(0);
      // promtool's rule unit tests: a crash loop of 3 minutes pages, one of 1 minute does not;
      // 2 GB for 15 minutes warns.
      writeFileSync(
        join(dir, 'alerts-test.yml'),
        [
          'rule_files: [supervisor-alerts.yml]',
          'evaluation_interval: 1m',
          'tests:',
          '  - interval: 1m',
          '    input_series:',
          '      - series: \'supervisor_crash_loop{app="api",instance="h1:9209",job="supervisor"}\'',
          '        values: "0 1 1 1 1"',
          '      - series: \'supervisor_crash_loop{app="web",instance="h1:9209",job="supervisor"}\'',
          '        values: "0 0 0 1 1"',
          '      - series: \'supervisor_process_resident_memory_bytes{app="api",id="3",app_instance="0",instance="h1:9209",job="supervisor"}\'',
          '        values: "2e9x15"',
          '    alert_rule_test:',
          '      - eval_time: 4m',
          '        alertname: SupervisorCrashLoop',
          '        exp_alerts:',
          '          - exp_labels: { severity: page, app: api, instance: "h1:9209", job: supervisor }',
          '            exp_annotations:',
          '              summary: api on h1:9209 is crash-looping',
          "              description: 'A process of api has been errored for 2 minutes; see supervisor describe api.'",
          '      - eval_time: 15m',
          '        alertname: SupervisorProcessMemoryHigh',
          '        exp_alerts:',
          '          - exp_labels: { severity: warn, app: api, id: "3", app_instance: "0", instance: "h1:9209", job: supervisor }',
          '            exp_annotations:',
          '              summary: api:3 on h1:9209 uses 1.863GiB',
          "              description: 'Resident memory above 1.5 GB for 10 minutes. max_memory_restart replaces a process above a limit you set.'",
          '',
        ].join('\n'),
      );
      const tested = await run(['test', 'rules', 'alerts-test.yml']);
      expect(tested.code, tested.output).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('metrics endpoint', () => {
  let home: Home;
  let prometheus: ChildProcess | null = null;
  afterEach(async () => {
    if (prometheus?.pid && isAlive(prometheus.pid)) {
      const exited = new Promise((resolve) => prometheus?.once('exit', resolve));
      prometheus.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (prometheus.pid && isAlive(prometheus.pid)) prometheus.kill('SIGKILL');
    }
    prometheus = null;
    await home?.cleanup();
  });

  async function startWithMetrics(): Promise<{ metricsPort: number; env: NodeJS.ProcessEnv }> {
    home = await tempHome();
    const metricsPort = await freePort();
    const env = { SUPERVISOR_METRICS: `127.0.0.1:${metricsPort}` };
    return { metricsPort, env };
  }

  it('counts each hand-off once, under the app whose worker took it, when two apps share an address (blue/green)', async () => {
    const { metricsPort, env } = await startWithMetrics();
    const appPort = await freePort();
    const appEnv = { ...env, PORT: String(appPort) };
    expectOk(await home.cli(['start', fixture('http-app.cjs'), '-i', '1', '--name', 'blue'], { env: appEnv }));
    await byStatus(home, 'blue', 'online', 1);
    for (let i = 0; i < 3; i++) expect((await httpGet(appPort)).status).toBe(200);
    expectOk(await home.cli(['start', fixture('http-app.cjs'), '-i', '1', '--name', 'green'], { env: appEnv }));
    await byStatus(home, 'green', 'online', 1);
    for (let i = 0; i < 6; i++) expect((await httpGet(appPort)).status).toBe(200);
    const body = (await httpGet(metricsPort, '/metrics')).body;
    const blue = sample(body, 'supervisor_connections_handed_off_total', { app: 'blue' });
    const green = sample(body, 'supervisor_connections_handed_off_total', { app: 'green' });
    // Every request was one connection handed to one worker: counted once in all.
    expect((blue ?? 0) + (green ?? 0)).toBe(9);
    expect(blue).toBeGreaterThanOrEqual(3);
    const handled = Object.fromEntries((await home.list()).map((row) => [row.name, row.handled]));
    expect({ blue, green }).toEqual(handled);
  });

  it('serves metrics that promtool accepts and a Prometheus server scrapes: up for every process', async () => {
    const { metricsPort, env } = await startWithMetrics();
    const appPort = await freePort();
    expectOk(await home.cli(['start', fixture('http-app.cjs'), '-i', '2', '--name', 'web'], { env: { ...env, PORT: String(appPort) } }));
    expectOk(await home.cli(['start', fixture('idle-app.cjs'), '--name', 'idle@2'], { env }));
    await byStatus(home, 'web', 'online', 2);
    for (let i = 0; i < 6; i++) expect((await httpGet(appPort)).status).toBe(200);

    const metrics = await httpGet(metricsPort, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const checked = await promtool(metrics.body);
    expect(checked.output).toBe('');
    expect(checked.code).toBe(0);
    const rows = await home.list();
    for (const row of rows) {
      const labels = { app: row.name, id: row.id, app_instance: row.instance };
      expect(sample(metrics.body, 'supervisor_process_up', labels), row.name).toBe(1);
      expect(sample(metrics.body, 'supervisor_process_resident_memory_bytes', labels)).toBeGreaterThan(1_000_000);
      expect(sample(metrics.body, 'supervisor_process_cpu_seconds_total', labels)).toBeGreaterThan(0);
      expect(sample(metrics.body, 'supervisor_process_start_time_seconds', labels)).toBeGreaterThan(Date.now() / 1000 - 300);
    }
    expect(sample(metrics.body, 'supervisor_connections_handed_off_total', { app: 'web' })).toBe(6);
    expect(sample(metrics.body, 'supervisor_connections_queued', { app: 'web' })).toBe(0);
    expect(sample(metrics.body, 'supervisor_connections_dropped_total', { app: 'web' })).toBe(0);
    expect(sample(metrics.body, 'supervisor_connections_handed_off_total', { app: 'idle@2' })).toBeNull(); // fork mode
    expect(sample(metrics.body, 'supervisor_daemon_resident_memory_bytes')).toBeGreaterThan(1_000_000);

    // A real Prometheus server, on loopback, scraping every second.
    const dir = join(home.dir, 'prometheus');
    await mkdir(dir);
    const promPort = await freePort();
    await writeFile(
      join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: supervisor\n    static_configs:\n      - targets: ['127.0.0.1:${metricsPort}']\n`,
    );
    prometheus = spawn(
      'prometheus',
      [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'],
      { stdio: 'ignore' },
    );
    const result = await waitFor(
      async () => {
        const reply = await httpGet(promPort, '/api/v1/query?query=supervisor_process_up');
        if (reply.status !== 200) return null;
        const data = JSON.parse(reply.body) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
        return data.data.result.length === rows.length ? data.data.result : null;
      },
      'Prometheus to have scraped supervisor_process_up for every process',
      30_000,
      200,
    );
    const seen = result.map((r) => `${r.metric['app']}/${r.metric['id']}/${r.metric['app_instance']}=${r.value[1]}`).sort();
    expect(seen).toEqual(rows.map((row) => `${row.name}/${row.id}/${row.instance}=1`).sort());
    // Prometheus's own labels stay intact: the target (host) and the job.
    expect(result.every((r) => r.metric['job'] === 'supervisor' && r.metric['instance'] === `127.0.0.1:${metricsPort}`)).toBe(true);
  });

  it('counts the restart of a killed worker and the reloads of an app', async () => {
    const { metricsPort, env } = await startWithMetrics();
    const appPort = await freePort();
    expectOk(await home.cli(['start', fixture('http-app.cjs'), '-i', '2', '--name', 'web'], { env: { ...env, PORT: String(appPort) } }));
    const [first] = await byStatus(home, 'web', 'online', 2);
    const labels = { app: 'web', id: first?.id ?? -1 };
    expect(sample((await httpGet(metricsPort, '/metrics')).body, 'supervisor_process_restarts_total', labels)).toBe(0);
    process.kill(first?.pid as number, 'SIGKILL');
    await waitFor(async () => sample((await httpGet(metricsPort, '/metrics')).body, 'supervisor_process_restarts_total', labels) === 1, 'restarts_total to reach 1');
    await byStatus(home, 'web', 'online', 2);
    const text = (await httpGet(metricsPort, '/metrics')).body;
    expect(sample(text, 'supervisor_process_up', labels)).toBe(1);
    expect(sample(text, 'supervisor_reloads_total', { app: 'web' })).toBe(0);
    expectOk(await home.cli(['reload', 'web']));
    expect(sample((await httpGet(metricsPort, '/metrics')).body, 'supervisor_reloads_total', { app: 'web' })).toBe(1);
  });

  it('answers /readyz 503 while an app crash-loops and 200 once it is back; /healthz 200 throughout', async () => {
    const { metricsPort, env } = await startWithMetrics();
    const marker = join(home.dir, 'dependency-up');
    const file = join(home.dir, 'app.config.json');
    await writeFile(file, JSON.stringify({ apps: [{ name: 'svc', script: fixture('dep-app.cjs'), max_restarts: 3, exp_backoff_restart_delay: 50, backoff_cap: 1000 }] }));
    expectOk(await home.cli(['start', fixture('idle-app.cjs'), '--name', 'steady'], { env }));
    expect((await httpGet(metricsPort, '/readyz')).status).toBe(200);
    expectOk(await home.cli(['start', file], { env: { ...env, MARKER: marker, PORT: String(await freePort()) } }));
    await byStatus(home, 'svc', 'errored', 1);

    const notReady = await httpGet(metricsPort, '/readyz');
    expect(notReady.status).toBe(503);
    expect(notReady.headers['content-type']).toBe('application/json');
    const body = JSON.parse(notReady.body) as { ready: boolean; reason: string; waiting: { app: string; status: string }[] };
    expect(body.ready).toBe(false);
    expect(body.reason).toMatch(/^1 of 2 processes not online \(svc:\d+ (errored|launching)\)$/);
    expect(body.waiting).toEqual([expect.objectContaining({ app: 'svc' })]);
    expect((await httpGet(metricsPort, '/healthz')).status).toBe(200);
    expect(sample((await httpGet(metricsPort, '/metrics')).body, 'supervisor_crash_loop', { app: 'svc' })).toBe(1);

    await writeFile(marker, 'up');
    const ready = await waitFor(async () => {
      const reply = await httpGet(metricsPort, '/readyz');
      return reply.status === 200 ? reply : null;
    }, '/readyz to answer 200 again');
    expect(JSON.parse(ready.body)).toEqual({ ready: true, reason: '2 processes online' });
    expect(sample((await httpGet(metricsPort, '/metrics')).body, 'supervisor_crash_loop', { app: 'svc' })).toBe(0);
  });

  it('answers only GET and HEAD, on three paths', async () => {
    const { metricsPort, env } = await startWithMetrics();
    expectOk(await home.cli(['ping'], { env }));
    expect((await httpGet(metricsPort, '/nope')).status).toBe(404);
    expect((await httpGet(metricsPort, '/metrics?x=1')).status).toBe(200);
    const posted = await new Promise<number>((resolve, reject) => {
      const request = http.request({ host: '127.0.0.1', port: metricsPort, path: '/metrics', method: 'POST' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      request.on('error', reject);
      request.end('x');
    });
    expect(posted).toBe(405);
  });

  it('opens no TCP port without SUPERVISOR_METRICS, and one with it', async () => {
    home = await tempHome();
    expectOk(await home.cli(['start', fixture('idle-app.cjs'), '--name', 'idle'], { env: { SUPERVISOR_METRICS: '' } }));
    const pid = await home.daemonPid();
    expect(listeningSocketsOf(pid as number)).toBe(0);
    await home.cleanup();

    const { env } = await startWithMetrics();
    expectOk(await home.cli(['start', fixture('idle-app.cjs'), '--name', 'idle'], { env }));
    expect(listeningSocketsOf((await home.daemonPid()) as number)).toBe(1);
  });

  it("exports the control socket's counters: a connection refused over SUPERVISOR_CONTROL_CONNECTIONS is counted", async () => {
    const { metricsPort, env } = await startWithMetrics();
    expectOk(await home.cli(['start', fixture('idle-app.cjs'), '--name', 'idle'], { env: { ...env, SUPERVISOR_CONTROL_CONNECTIONS: '2' } }));
    const scrape = async (): Promise<string> => (await httpGet(metricsPort, '/metrics')).body;
    const before = await scrape();
    expect(sample(before, 'supervisor_daemon_control_connections_refused_total')).toBe(0);
    expect(sample(before, 'supervisor_daemon_control_connections_closed_total', { reason: 'slow' })).toBe(0);
    expect(sample(before, 'supervisor_daemon_control_connections_closed_total', { reason: 'over_budget' })).toBe(0);
    expect(sample(before, 'supervisor_daemon_control_log_lines_dropped_total')).toBe(0);

    const sockets: net.Socket[] = [];
    try {
      await waitFor(async () => sample(await scrape(), 'supervisor_daemon_control_connections') === 0, "the CLI's connection to be let go");
      for (let i = 0; i < 2; i++) {
        const socket = net.connect(join(home.dir, 'daemon.sock'));
        sockets.push(socket);
        await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      }
      await waitFor(async () => sample(await scrape(), 'supervisor_daemon_control_connections') === 2, 'two connections open');
      // The third is over the limit: answered 503 and counted.
      const third = net.connect(join(home.dir, 'daemon.sock'));
      sockets.push(third);
      let reply = '';
      third.on('data', (chunk: Buffer) => (reply += chunk.toString()));
      third.on('error', () => undefined);
      await waitFor(() => reply.startsWith('HTTP/1.1 503'), 'the third connection to be refused');
      const after = await scrape();
      expect(sample(after, 'supervisor_daemon_control_connections_refused_total')).toBe(1);
      expect((await promtool(after)).code).toBe(0);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });

  it('refuses a bad SUPERVISOR_METRICS with one line and starts no daemon; a taken port stops the foreground daemon', async () => {
    home = await tempHome();
    const started = await home.cli(['start', fixture('idle-app.cjs')], { env: { SUPERVISOR_METRICS: ':9209' } });
    expect(started.code).toBe(4);
    expect(started.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^supervisor: SUPERVISOR_METRICS must be host:port or a port .*name the host/)]);
    const flag = await home.cli(['daemon', '--metrics', '70000']);
    expect(flag.code).toBe(4);
    // The flag the user typed is named, not the variable it is passed on as.
    expect(flag.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^supervisor: --metrics must be host:port or a port .*\(got "70000"\)$/)]);
    expect(await home.daemonPid()).toBeNull();

    // Taken by someone else: the foreground daemon says so in one line and exits 1.
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const foreground = await runCli(['daemon', '--foreground', '--metrics', `127.0.0.1:${port}`], home.env, undefined, 15_000);
      expect(foreground.code).toBe(1);
      expect(foreground.stderr.trim().split('\n')).toEqual([`supervisor: cannot serve metrics on 127.0.0.1:${port}: EADDRINUSE`]);
    } finally {
      blocker.close();
    }
    expect(await home.daemonPid()).toBeNull();
  });
});
