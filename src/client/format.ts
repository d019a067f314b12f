/** Plain-text rendering for the CLI: the process table and the describe view. */
import type { AppDescription, ProcessInfo } from '../shared/protocol.js';

export function formatBytes(n: number): string {
  if (n <= 0) return '0b';
  const units = ['b', 'kb', 'mb', 'gb'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 10 || unit === 0 ? Math.round(value) : value.toFixed(1)}${units[unit]}`;
}

export function formatDuration(ms: number): string {
  if (ms <= 0) return '0';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function processTable(rows: readonly ProcessInfo[]): string {
  if (rows.length === 0) return 'no processes (start one: supervisor start app.js)';
  const showConns = rows.some((r) => r.mode === 'cluster');
  const headers = ['id', 'name', 'mode', 'pid', 'status', 'restarts', 'uptime', 'cpu', 'mem', ...(showConns ? ['conns'] : [])];
  return table(
    headers,
    rows.map((r) => [
      String(r.id),
      r.name,
      r.mode === 'cluster' ? `cluster:${r.instance}` : 'fork',
      r.pid === null ? '-' : String(r.pid),
      r.status,
      String(r.restarts),
      formatDuration(r.uptimeMs),
      `${r.cpu}%`,
      formatBytes(r.memory),
      ...(showConns ? [r.mode === 'cluster' ? `${r.connections}/${r.handled}` : '-'] : []),
    ]),
  );
}

/** cron_restart and watch: what they do and whether they are armed (off while the app is stopped). */
function triggerLines(app: AppDescription): string[] {
  const lines: string[] = [];
  const how = app.spec.mode === 'cluster' ? 'reload' : 'restart';
  const cron = app.triggers?.cron;
  if (cron) {
    const next = cron.nextRunAt !== null ? `next ${new Date(cron.nextRunAt).toISOString()}` : cron.armed ? 'no next run' : 'off while stopped';
    lines.push(`  cron         ${cron.expression} (${how}), ${next}`);
  }
  const watch = app.triggers?.watch;
  if (watch) {
    const state = !watch.armed ? 'off while stopped' : watch.ready ? `${watch.changes} changes seen${watch.lastChangeAt ? `, last ${new Date(watch.lastChangeAt).toISOString()}` : ''}` : 'starting';
    lines.push(`  watch        ${watch.paths.join(', ')} (${how} ${watch.delayMs} ms after changes settle), ${state}`);
    lines.push(`  not watched  node_modules, .git, logs${watch.ignored.length === 0 ? ', dot files' : `, ${watch.ignored.join(' ')}`}`);
  }
  return lines;
}

export function describeText(apps: readonly AppDescription[]): string {
  const out: string[] = [];
  for (const app of apps) {
    const s = app.spec;
    out.push(`app ${app.name}`);
    out.push(`  script       ${s.script}${s.args.length ? ` ${s.args.join(' ')}` : ''}`);
    out.push(`  cwd          ${s.cwd}`);
    out.push(`  mode         ${s.mode} x${s.instances}${s.mode === 'cluster' ? ` (balance: ${s.balance})` : ''}, interpreter ${s.interpreter}`);
    out.push(`  stop         ${s.shutdownWithMessage ? "'shutdown' message" : s.killSignal}, SIGKILL after ${s.killTimeoutMs} ms`);
    out.push(`  restarts     ${s.autorestart ? 'on' : 'off'}; min_uptime ${s.minUptimeMs} ms, back-off ${s.expBackoffRestartDelayMs} ms to ${s.backoffCapMs} ms, crash loop at ${s.maxRestarts} unstable exits`);
    out.push(...triggerLines(app));
    for (const l of app.listeners) {
      out.push(`  listens on   ${l.address}${l.error ? `  ERROR ${l.error}` : ''}${l.queued ? `  ${l.queued} queued` : ''}${l.dropped ? `  ${l.dropped} dropped` : ''}`);
    }
    const l = s.logs;
    const rotation = l.maxSize === 0 ? 'never rotated' : `rotated at ${l.maxSize === null ? 'the daemon default' : formatBytes(l.maxSize)}, ${l.retain ?? 'default'} kept${l.compress ? ', gzipped' : ''}`;
    out.push(`  logs         ${l.mergeLogs ? 'merged' : 'one file per instance'}${l.logType === 'json' ? ', JSON lines' : ''}${l.dateFormat ? `, dated "${l.dateFormat}"` : ''}; ${rotation}`);
    const pace = app.logPacing;
    if (pace) {
      const total = pace.pacedMs > 0 ? `, paced ${formatDuration(pace.pacedMs)} in total` : '';
      const state = pace.rate === 0 ? 'never paced' : `${pace.paced ? 'PACED now' : 'paced'} to ${formatBytes(pace.rate)}/s while other apps wait for CPU${total}`;
      out.push(`  log pacing   ${state}`);
    }
    for (const log of app.logs) {
      const which = `${log.stream}${log.instance === null ? '' : ` ${log.instance}`}`;
      if (log.file === '/dev/null') {
        out.push(`  log ${which.padEnd(8)} /dev/null`);
        continue;
      }
      const trouble = [
        log.linesDropped ? `${log.linesDropped} lines dropped` : '',
        log.lastError ? `${log.failing ? 'FAILING' : 'last error'} ${log.lastError} at ${new Date(log.lastErrorAt ?? 0).toISOString()}` : '',
      ].filter(Boolean);
      out.push(`  log ${which.padEnd(8)} ${log.file} (${formatBytes(log.size)})${trouble.length ? `  ${trouble.join(', ')}` : ''}`);
    }
    for (const p of app.processes) {
      out.push(`  process ${p.id} (instance ${p.instance})`);
      out.push(`    status     ${p.status}${p.pid ? `, pid ${p.pid}` : ''}, ${p.restarts} restarts, up ${formatDuration(p.uptimeMs)}`);
      out.push(`    usage      cpu ${p.cpu}%, mem ${formatBytes(p.memory)}${s.mode === 'cluster' ? `, ${p.connections} open connections, ${p.handled} handled` : ''}`);
      if (p.messages && (p.messages.in || p.messages.out || p.messages.dropped)) {
        out.push(`    messages   ${p.messages.in} in, ${p.messages.out} out, ${p.messages.dropped} dropped`);
      }
      if (p.erroredReason) out.push(`    errored    ${p.erroredReason}`);
      if (p.nextRestartAt) out.push(`    next start ${new Date(p.nextRestartAt).toISOString()}`);
      if (p.lastExit) {
        const how = p.lastExit.signal ? `killed by ${p.lastExit.signal}` : `exit code ${p.lastExit.code}`;
        out.push(`    last exit  ${how} at ${new Date(p.lastExit.at).toISOString()}${p.lastExit.unstable ? ' (unstable)' : ''}`);
        for (const line of p.lastExit.stderrTail) out.push(`      | ${line}`);
      }
    }
  }
  return out.join('\n');
}
