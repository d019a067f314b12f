/**
 * The daemon as a function: `runDaemon({ home })` takes the home's lock, opens the control
 * socket and returns a handle. main.ts adds only argument parsing and signal handling, so
 * tests can run a daemon in-process as well as end to end.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SupervisorError } from '../shared/errors.js';
import { controlLimitsSetting } from '../shared/control-limits.js';
import { handOffWindowSetting } from '../shared/handoff-window.js';
import { metricsAddressSetting } from '../shared/metrics-address.js';
import { logDefaultsFromEnv } from '../shared/log-options.js';
import { homePaths } from '../shared/paths.js';
import { PROTOCOL_VERSION, type DaemonInfo } from '../shared/protocol.js';
import { ControlServer } from './control-server.js';
import { EventBus } from './events.js';
import { acquireHomeLock } from './lock.js';
import type { ObservabilityEndpoint } from './observability/http-endpoint.js';
import { appReadiness, daemonNotReady, type DaemonPhase, type ReadinessReport } from './app-readiness.js';
import { LogService, supervisedPids } from './logs.js';
import { loadRouter, MessageRouting } from './message-routing.js';
import { Registry } from './registry.js';
import { DesiredStateStore, loadDesiredState, snapshot, stopLeftovers, type DesiredState } from './desired-state.js';
import { stopBudgetMs } from './retire.js';
import { loadDump, saveDump } from './state-file.js';
import { VERSION } from '../shared/version.js';
import { isoTime } from '../shared/iso-time.js';

export interface DaemonOptions {
  home: string;
  /** Where daemon messages go (daemon.log in the background, the journal in the foreground). */
  log?: (line: string) => void;
  /** Save dump.json when stopping, and start its apps when starting (systemd, containers). */
  persistent?: boolean;
  /**
   * Start the apps of dump.json (with persistent) or of state.json (after an unclean stop);
   * default true. False when `--start` names the apps: the image's config is the truth.
   */
  resurrect?: boolean;
  /** Apps being started some other way (--start): not ready until this settles. */
  startup?: Promise<unknown>;
}

export interface DaemonHandle {
  info(): DaemonInfo;
  /** The apps and their processes (tests inspect them, and the consistency check runs on them). */
  readonly registry: Registry;
  /** Stops every app gracefully, closes the socket, releases the lock. Idempotent. */
  stop(): Promise<void>;
  /** Settles once stop() has finished, whoever called it. */
  readonly stopped: Promise<void>;
  /** Whether every app has its wanted processes online (GET /readyz, systemd's READY=1). */
  readiness(): ReadinessReport;
  /** Reopens every log file (SIGUSR2, like `reload-logs`); resolves to how many. */
  reopenLogs(): Promise<number>;
  /** Daemon-wide log counters (bytes written, lines dropped), for metrics. */
  readonly logs: LogService;
}

/** Slack on top of the longest stop budget before a shutdown SIGKILLs what is left. */
const SHUTDOWN_MARGIN_MS = 2000;
/** How long processes left by a dead daemon get between SIGTERM and SIGKILL. */
const LEFTOVER_GRACE_MS = 3000;

const RUNTIME_URL = pathToFileURL(fileURLToPath(new URL('../runtime/preload.js', import.meta.url))).href;

export async function runDaemon(options: DaemonOptions): Promise<DaemonHandle> {
  // Settings from the environment are checked before anything starts.
  handOffWindowSetting(process.env);
  const controlLimits = controlLimitsSetting(process.env);
  const metricsAddress = metricsAddressSetting(process.env);
  const logDefaults = logDefaultsFromEnv(process.env);
  const paths = homePaths(options.home);
  const log = options.log ?? ((line: string) => process.stderr.write(`${isoTime()} ${line}\n`));
  await mkdir(paths.logDir, { recursive: true, mode: 0o700 });
  await chmod(paths.home, 0o700);

  const lock = await acquireHomeLock(paths.home);
  if (!lock) throw new SupervisorError('CONFLICT', `a daemon is already running for ${paths.home}`);

  // We hold the lock, so a socket file here is a leftover of a daemon that died.
  await rm(paths.socket, { force: true });
  const startedAt = Date.now();
  const bus = new EventBus();
  const logService: LogService = new LogService({ logDir: paths.logDir, bus, log, defaults: logDefaults, processes: () => supervisedPids(registry.apps.values()) });
  const desired: { store: DesiredStateStore | null } = { store: null };
  const registry = new Registry({
    logDir: paths.logDir,
    runtimeUrl: RUNTIME_URL,
    bus,
    logService,
    changed: () => desired.store?.schedule(),
    processStarted: (app, slotId, process) => messages.attach(app, slotId, process),
  });
  // Before any app is restored below: it routes every process from its start.
  const messages = new MessageRouting(registry.apps, bus, loadRouter);
  const store = new DesiredStateStore(paths.stateFile, () => snapshot(registry), log);
  let notice: string | null = null;
  let phase: DaemonPhase = 'starting';
  const readiness = (): ReadinessReport => (phase === 'running' ? appReadiness(registry) : daemonNotReady(phase));
  const info = (): DaemonInfo => ({
    pid: process.pid,
    version: VERSION,
    protocol: PROTOCOL_VERSION,
    uptimeMs: Date.now() - startedAt,
    home: paths.home,
  });

  let resolveStopped: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      phase = 'stopping';
      log('stopping every app');
      registry.close();
      if (options.persistent) {
        await saveDump(paths.dumpFile, [...registry.apps.values()].map((app) => app.spec)).catch((error: Error) => log(`could not save: ${error.message}`));
      }
      await stopAll(registry, log);
      for (const app of [...registry.apps.values()]) registry.remove(app);
      await store.clear();
      messages.close();
      // Files first: once a client sees its connection close, the daemon must be gone for good.
      await rm(paths.socket, { force: true });
      await rm(paths.pidFile, { force: true });
      await server.close();
      await endpoint?.close();
      lock.release();
      log('stopped');
      resolveStopped();
    })());

  // Loaded only when asked for: a daemon without metrics carries no HTTP code. Bound before
  // any app starts, so that a taken port stops the daemon with nothing to undo.
  let endpoint: ObservabilityEndpoint | null = null;
  let controlServer: ControlServer | null = null;
  if (metricsAddress) {
    try {
      const { startEndpoint } = await import('./observability/http-endpoint.js');
      endpoint = await startEndpoint({
        address: metricsAddress,
        registry,
        readiness,
        log,
        daemon: {
          version: VERSION,
          startedAt,
          // The control server opens after the endpoint (so a taken metrics port undoes nothing).
          controlConnections: () => controlServer?.openConnections ?? 0,
          control: () => controlServer,
          logLinesDropped: () => logService.linesDropped,
          logBytesWritten: () => logService.bytesWritten,
          logOpenFiles: () => logService.openFiles,
        },
      });
    } catch (error) {
      lock.release();
      throw error;
    }
    log(`metrics on http://${endpoint.address}/metrics (and /healthz, /readyz)`);
  }

  // Before the socket opens: a command that started this daemon sees the restored apps.
  const saved = options.resurrect === false ? null : await loadDesiredState(paths.stateFile);
  if (saved && 'unreadable' in saved) {
    notice = `the previous daemon stopped uncleanly, but ${paths.stateFile} could not be read (${saved.unreadable}); no apps were restored`;
    log(notice);
  } else if (saved) {
    notice = await restore(registry, saved, paths.stateFile);
    log(notice);
  } else if (options.persistent && options.resurrect !== false && existsSync(paths.dumpFile)) {
    // Done here rather than by a second command so nothing races the daemon's own start.
    try {
      const apps = await registry.create((await loadDump(paths.dumpFile)).map((spec) => ({ spec })));
      for (const app of apps) void app.start().catch(() => undefined);
      log(`resurrected ${apps.length} apps from ${paths.dumpFile}`);
    } catch (error) {
      log(`could not resurrect ${paths.dumpFile}: ${(error as Error).message}`);
    }
  }
  desired.store = store;
  store.schedule();

  const server = new ControlServer(
    {
      registry,
      bus,
      messages,
      dumpFile: paths.dumpFile,
      info,
      takeNotice: () => {
        const once = notice;
        notice = null;
        return once;
      },
      reopenLogs: () => logService.reopenAll(),
      shutdown: () => setImmediate(() => void stop()),
    },
    bus,
    log,
    controlLimits,
  );
  controlServer = server;
  // The socket is created 0600 from the start, not chmod-ed after a window where it is open.
  const umask = process.umask(0o177);
  try {
    await server.listen(paths.socket);
  } finally {
    process.umask(umask);
  }
  await writeFile(paths.pidFile, `${process.pid}\n`, { mode: 0o600 });
  log(`daemon ${VERSION} (pid ${process.pid}) listening on ${paths.socket}`);
  const running = (): void => {
    if (phase === 'starting') phase = 'running';
  };
  if (options.startup) void options.startup.finally(running);
  else running();
  return { info, stop, stopped, registry, readiness, reopenLogs: () => logService.reopenAll(), logs: logService };
}

/**
 * Stops every app gracefully, within the longest stop budget of any of them plus a margin;
 * whatever is still running then is SIGKILLed, so a stop that fails or hangs can never keep
 * the daemon from exiting.
 */
async function stopAll(registry: Registry, log: (line: string) => void): Promise<void> {
  const apps = [...registry.apps.values()];
  const budgetMs = Math.max(0, ...apps.map((app) => stopBudgetMs(app.spec))) + SHUTDOWN_MARGIN_MS;
  let timer: NodeJS.Timeout | null = null;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), budgetMs)));
  // A stop supersedes whatever runs or waits; an app being deleted finishes its own stop.
  const all = Promise.allSettled(apps.map((app) => app.stop().catch(() => undefined).then(() => app.ops.drained())));
  const outcome = await Promise.race([all, late]);
  if (timer) clearTimeout(timer);
  if (outcome !== 'late') return;
  const left = [...registry.processes].filter((p) => !p.exit);
  log(`stopping took longer than ${budgetMs} ms; SIGKILL to ${left.length} processes: ${left.map((p) => p.pid).join(' ')}`);
  for (const process of left) process.signal('SIGKILL');
  await Promise.race([Promise.allSettled(left.map((p) => p.exited)), new Promise((resolve) => setTimeout(resolve, SHUTDOWN_MARGIN_MS))]);
}

/** Brings back the apps of a daemon that died; returns the line that says so. */
async function restore(registry: Registry, saved: DesiredState, file: string): Promise<string> {
  const leftovers = await stopLeftovers(saved, LEFTOVER_GRACE_MS);
  registry.nextId = saved.nextId;
  let restored = 0;
  const failures: string[] = [];
  for (const { spec, slots } of saved.apps) {
    try {
      const [app] = await registry.create([{ spec, slots }]);
      if (!app) continue;
      restored += 1;
      const wanted = new Set(slots.filter((slot) => slot.wanted).map((slot) => slot.id));
      void app.start(app.slots.filter((slot) => wanted.has(slot.id))).catch(() => undefined);
    } catch (error) {
      failures.push(`${spec.name} (${(error as Error).message})`);
    }
  }
  return (
    `the previous daemon (pid ${saved.pid}) stopped without a clean shutdown; restored ${restored} apps from ${file} (saved ${saved.savedAt})` +
    (leftovers > 0 ? `, after stopping ${leftovers} processes it left running` : '') +
    (failures.length > 0 ? `; could not restore ${failures.join(', ')}` : '')
  );
}
