/**
 * What GET /metrics reports, gathered when a scrape asks and never in between: the registry is
 * read as it stands, CPU and memory come from /proc, and cluster workers are asked for their
 * open connection counts (bounded, as `list` does).
 */
import type { ProcessStatus } from '../../shared/protocol.js';
import type { ControlServer } from '../control-server.js';
import { refreshConnectionCounts } from '../metrics.js';
import type { Registry } from '../registry.js';
import type { EventLoopLag } from './event-loop-lag.js';
import { processUsage, type ProcessUsage } from './proc-usage.js';
import type { MetricFamily, Sample } from './prometheus-text.js';

/** The daemon's own figures, from whichever module keeps each. */
export interface DaemonFigures {
  version: string;
  startedAt: number;
  controlConnections(): number;
  /** The control socket's counters since the daemon started; null until it opens. */
  control(): ControlCounters | null;
  logLinesDropped(): number;
  logBytesWritten(): number;
  logOpenFiles(): number;
}

export type ControlCounters = Pick<ControlServer, 'refusedConnections' | 'closedConnections' | 'logLinesDropped'>;

export interface MetricsSource {
  registry: Registry;
  daemon: DaemonFigures;
  lag: EventLoopLag | null;
}

/**
 * One process as the collector sees it; built from the registry, then sampled. Its instance
 * number is labelled app_instance, not instance: Prometheus gives every scraped series an
 * `instance` label naming the target (the host), and would rename ours to exported_instance
 * (or, with honor_labels, let ours hide which host the series came from).
 */
interface ProcessRow {
  labels: { app: string; id: number; app_instance: number };
  status: ProcessStatus;
  pid: number | null;
  restarts: number;
  startedAt: number | null;
  cluster: boolean;
  openConnections: number;
}

interface AppRow {
  labels: { app: string };
  cluster: boolean;
  handedOff: number;
  queued: number;
  dropped: number;
  reloads: number;
  crashLoop: boolean;
  logsPaced: boolean;
  logsPacedMs: number;
}

export async function collectMetrics(source: MetricsSource): Promise<MetricFamily[]> {
  const { registry } = source;
  await refreshConnectionCounts(registry);
  const processes: ProcessRow[] = [];
  const apps: AppRow[] = [];
  for (const app of registry.apps.values()) {
    const cluster = app.spec.mode === 'cluster';
    // The queue and its drops belong to the address: during a blue/green overlap both apps on it
    // show them. Hand-offs are the app's own workers' (App.handedOff).
    let queued = 0;
    let dropped = 0;
    for (const socket of app.sockets.values()) {
      queued += socket.queued;
      dropped += socket.dropped;
    }
    apps.push({
      labels: { app: app.name },
      cluster,
      handedOff: app.handedOff,
      queued,
      dropped,
      reloads: app.reloads,
      crashLoop: app.slots.some((slot) => slot.state.status === 'errored'),
      ...pacingOf(app.logs.pacing()),
    });
    for (const slot of app.slots) {
      const worker = slot.worker;
      processes.push({
        labels: { app: app.name, id: slot.id, app_instance: slot.instance },
        status: slot.state.status,
        pid: worker && !worker.exit ? worker.pid : null,
        restarts: slot.restarts,
        startedAt: worker && !worker.exit ? worker.startedAt : null,
        cluster,
        openConnections: slot.member?.open ?? 0,
      });
    }
  }
  const usage = await Promise.all(processes.map((p) => (p.pid === null ? null : processUsage(p.pid))));
  return [...processFamilies(processes, usage), ...appFamilies(apps), ...daemonFamilies(source)];
}

function pacingOf(pacing: { paced: boolean; pacedMs: number }): Pick<AppRow, 'logsPaced' | 'logsPacedMs'> {
  return { logsPaced: pacing.paced, logsPacedMs: pacing.pacedMs };
}

function processFamilies(rows: readonly ProcessRow[], usage: readonly (ProcessUsage | null)[]): MetricFamily[] {
  const each = (value: (row: ProcessRow, i: number) => number | null): Sample[] =>
    rows.flatMap((row, i) => {
      const v = value(row, i);
      return v === null ? [] : [{ labels: row.labels, value: v }];
    });
  return [
    { name: 'supervisor_process_up', type: 'gauge', help: 'Whether the process is online (1) or not (0).', samples: each((row) => (row.status === 'online' ? 1 : 0)) },
    { name: 'supervisor_process_restarts_total', type: 'counter', help: 'Times the process slot was restarted or reloaded.', samples: each((row) => row.restarts) },
    {
      name: 'supervisor_process_cpu_seconds_total',
      type: 'counter',
      help: 'User and system CPU time of the current process; starts again from 0 when it is replaced.',
      samples: each((_row, i) => usage[i]?.cpuSeconds ?? null),
    },
    { name: 'supervisor_process_resident_memory_bytes', type: 'gauge', help: 'Resident memory of the current process.', samples: each((_row, i) => usage[i]?.residentBytes ?? null) },
    {
      name: 'supervisor_process_start_time_seconds',
      type: 'gauge',
      help: 'When the current process was started, in seconds since the Unix epoch.',
      samples: each((row) => (row.startedAt === null ? null : row.startedAt / 1000)),
    },
    {
      name: 'supervisor_process_open_connections',
      type: 'gauge',
      help: 'Cluster mode: connections handed to the process that are still open.',
      samples: each((row) => (row.cluster && row.pid !== null ? row.openConnections : null)),
    },
  ];
}

function appFamilies(rows: readonly AppRow[]): MetricFamily[] {
  const each = (value: (row: AppRow) => number | null): Sample[] =>
    rows.flatMap((row) => {
      const v = value(row);
      return v === null ? [] : [{ labels: row.labels, value: v }];
    });
  const cluster = (value: (row: AppRow) => number) => each((row) => (row.cluster ? value(row) : null));
  return [
    {
      name: 'supervisor_connections_handed_off_total',
      type: 'counter',
      help: "Cluster mode: connections a worker took from the daemon's sockets (0 under balance os, where workers accept themselves).",
      samples: cluster((row) => row.handedOff),
    },
    { name: 'supervisor_connections_queued', type: 'gauge', help: 'Cluster mode: connections waiting in the daemon for a worker.', samples: cluster((row) => row.queued) },
    {
      name: 'supervisor_connections_dropped_total',
      type: 'counter',
      help: 'Cluster mode: connections closed because the queue was full or they waited too long.',
      samples: cluster((row) => row.dropped),
    },
    { name: 'supervisor_reloads_total', type: 'counter', help: 'Zero-downtime reloads of the app that completed.', samples: each((row) => row.reloads) },
    { name: 'supervisor_crash_loop', type: 'gauge', help: 'Whether a process of the app is errored (crash loop): 1, else 0.', samples: each((row) => (row.crashLoop ? 1 : 0)) },
    { name: 'supervisor_logs_paced', type: 'gauge', help: "Whether the app's logs are paced now because other apps wait for CPU: 1, else 0.", samples: each((row) => (row.logsPaced ? 1 : 0)) },
    { name: 'supervisor_logs_paced_seconds_total', type: 'counter', help: "Time the app's logs were paced since the daemon started.", samples: each((row) => row.logsPacedMs / 1000) },
  ];
}

function daemonFamilies(source: MetricsSource): MetricFamily[] {
  const { daemon, lag } = source;
  const cpu = process.cpuUsage();
  const lagFigures = lag?.sinceLastScrape() ?? null;
  return [
    { name: 'supervisor_daemon_info', type: 'gauge', help: "The daemon's version, as a label; always 1.", samples: [{ labels: { version: daemon.version }, value: 1 }] },
    { name: 'supervisor_daemon_start_time_seconds', type: 'gauge', help: 'When the daemon started, in seconds since the Unix epoch.', samples: [{ value: daemon.startedAt / 1000 }] },
    { name: 'supervisor_daemon_resident_memory_bytes', type: 'gauge', help: 'Resident memory of the daemon.', samples: [{ value: process.memoryUsage.rss() }] },
    { name: 'supervisor_daemon_cpu_seconds_total', type: 'counter', help: 'User and system CPU time of the daemon.', samples: [{ value: (cpu.user + cpu.system) / 1e6 }] },
    {
      name: 'supervisor_daemon_event_loop_lag_p99_seconds',
      type: 'gauge',
      help: "99th percentile of the daemon's event-loop delay since the previous scrape.",
      samples: lagFigures ? [{ value: lagFigures.p99Seconds }] : [],
    },
    {
      name: 'supervisor_daemon_event_loop_lag_max_seconds',
      type: 'gauge',
      help: "Longest event-loop delay of the daemon since the previous scrape.",
      samples: lagFigures ? [{ value: lagFigures.maxSeconds }] : [],
    },
    ...controlFamilies(daemon.control()),
    { name: 'supervisor_daemon_control_connections', type: 'gauge', help: 'Open client connections on the control socket.', samples: [{ value: daemon.controlConnections() }] },
    { name: 'supervisor_daemon_log_lines_dropped_total', type: 'counter', help: 'Log lines the daemon could not keep up with and dropped.', samples: [{ value: daemon.logLinesDropped() }] },
    { name: 'supervisor_daemon_log_bytes_written_total', type: 'counter', help: "Bytes the daemon wrote to the apps' log files.", samples: [{ value: daemon.logBytesWritten() }] },
    { name: 'supervisor_daemon_log_open_files', type: 'gauge', help: 'Log files the daemon holds open.', samples: [{ value: daemon.logOpenFiles() }] },
  ];
}

function controlFamilies(control: ControlCounters | null): MetricFamily[] {
  const closed = control?.closedConnections ?? { slow: 0, overBudget: 0 };
  return [
    {
      name: 'supervisor_daemon_control_connections_refused_total',
      type: 'counter',
      help: 'Client connections on the control socket refused because SUPERVISOR_CONTROL_CONNECTIONS were open.',
      samples: [{ value: control?.refusedConnections ?? 0 }],
    },
    {
      name: 'supervisor_daemon_control_connections_closed_total',
      type: 'counter',
      help: 'Client connections the daemon closed: slow, for not reading its output; over_budget, to keep what all connections hold (partial input, unread output) within budget.',
      samples: [
        { labels: { reason: 'slow' }, value: closed.slow },
        { labels: { reason: 'over_budget' }, value: closed.overBudget },
      ],
    },
    {
      name: 'supervisor_daemon_control_log_lines_dropped_total',
      type: 'counter',
      help: 'Log lines not sent to followers (logs, monit) that did not read them fast enough.',
      samples: [{ value: control?.logLinesDropped ?? 0 }],
    },
  ];
}
