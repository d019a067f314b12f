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
import { homePaths } from '../shared/paths.js';
import { PROTOCOL_VERSION, type DaemonInfo } from '../shared/protocol.js';
import { ControlServer } from './control-server.js';
import { EventBus } from './events.js';
import { acquireHomeLock } from './lock.js';
import { Registry } from './registry.js';
import { loadDump, saveDump } from './state-file.js';
import { VERSION } from '../shared/version.js';

export interface DaemonOptions {
  home: string;
  /** Where daemon messages go (daemon.log in the background, the journal in the foreground). */
  log?: (line: string) => void;
  /** Save dump.json when stopping, and start its apps when starting (systemd, containers). */
  persistent?: boolean;
}

export interface DaemonHandle {
  info(): DaemonInfo;
  /** Stops every app gracefully, closes the socket, releases the lock. Idempotent. */
  stop(): Promise<void>;
  /** Settles once stop() has finished, whoever called it. */
  readonly stopped: Promise<void>;
}

const RUNTIME_URL = pathToFileURL(fileURLToPath(new URL('../runtime/preload.js', import.meta.url))).href;

export async function runDaemon(options: DaemonOptions): Promise<DaemonHandle> {
  // Settings from the environment are checked before anything starts.
  handOffWindowSetting(process.env);
  const controlLimits = controlLimitsSetting(process.env);
  const paths = homePaths(options.home);
  const log = options.log ?? ((line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`));
  await mkdir(paths.logDir, { recursive: true, mode: 0o700 });
  await chmod(paths.home, 0o700);

  const lock = await acquireHomeLock(paths.home);
  if (!lock) throw new SupervisorError('CONFLICT', `a daemon is already running for ${paths.home}`);

  // We hold the lock, so a socket file here is a leftover of a daemon that died.
  await rm(paths.socket, { force: true });
  const startedAt = Date.now();
  const bus = new EventBus();
  const registry = new Registry({ logDir: paths.logDir, runtimeUrl: RUNTIME_URL, bus });
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
      log('stopping every app');
      if (options.persistent) {
        await saveDump(paths.dumpFile, [...registry.apps.values()].map((app) => app.spec)).catch((error: Error) => log(`could not save: ${error.message}`));
      }
      const apps = [...registry.apps.values()];
      await Promise.all(apps.flatMap((app) => app.slots.map((slot) => slot.stop())));
      for (const app of apps) registry.remove(app);
      // Files first: once a client sees its connection close, the daemon must be gone for good.
      await rm(paths.socket, { force: true });
      await rm(paths.pidFile, { force: true });
      await server.close();
      lock.release();
      log('stopped');
      resolveStopped();
    })());

  const server = new ControlServer(
    { registry, bus, dumpFile: paths.dumpFile, info, shutdown: () => setImmediate(() => void stop()) },
    bus,
    log,
    controlLimits,
  );
  // The socket is created 0600 from the start, not chmod-ed after a window where it is open.
  const umask = process.umask(0o177);
  try {
    await server.listen(paths.socket);
  } finally {
    process.umask(umask);
  }
  await writeFile(paths.pidFile, `${process.pid}\n`, { mode: 0o600 });
  log(`daemon ${VERSION} (pid ${process.pid}) listening on ${paths.socket}`);
  if (options.persistent && existsSync(paths.dumpFile)) {
    // Done here rather than by a second command so nothing races the daemon's own start.
    try {
      const specs = await loadDump(paths.dumpFile);
      await registry.checkNew(specs);
      for (const spec of specs) for (const slot of registry.add(spec).slots) slot.start();
      log(`resurrected ${specs.length} apps from ${paths.dumpFile}`);
    } catch (error) {
      log(`could not resurrect ${paths.dumpFile}: ${(error as Error).message}`);
    }
  }
  return { info, stop, stopped };
}
