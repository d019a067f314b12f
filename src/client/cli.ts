/**
 * The `supervisor` command line. Each command is a thin layer over the API: parse, call,
 * print. Every failure ends in one line on stderr and a non-zero exit (see run()).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BUNDLED, requireCommonJs } from '../shared/bundle.js';
import type * as CommanderModule from 'commander';
import { EXIT_STATUS, SupervisorError } from '../shared/errors.js';
import { homePaths, resolveHome } from '../shared/paths.js';
import type { ProcessInfo } from '../shared/protocol.js';
import { VERSION } from '../shared/version.js';
import { Supervisor } from './api.js';
import { isConfigFile } from './config-path.js';
import { describeText, processTable } from './format.js';

interface StartOptions {
  instances?: string;
  name?: string;
  namespace?: string;
  mode?: string;
  balance?: string;
  waitReady?: boolean;
  listenTimeout?: string;
  killTimeout?: string;
  interpreter?: string;
  nodeArgs?: string;
  maxMemoryRestart?: string;
  autorestart?: boolean;
  cron?: string;
  cronRestart?: string;
  watch?: true | string[];
  ignoreWatch?: string;
  watchDelay?: string;
  shutdownWithMessage?: boolean;
  output?: string;
  error?: string;
  log?: string | boolean;
  time?: boolean;
  logDateFormat?: string;
  mergeLogs?: boolean;
  logType?: string;
  env?: string;
  only?: string;
  strict?: boolean;
  force?: boolean;
  updateEnv?: boolean;
}

type Command = CommanderModule.Command;

const print = (text: string): void => void process.stdout.write(`${text}\n`);
const warn = (text: string): void => void process.stderr.write(`supervisor: ${text}\n`);

/** From --timeout, set before any command runs; undefined leaves SUPERVISOR_TIMEOUT or the default. */
let timeoutMs: number | undefined;

/** Runs `fn` on a connection that is closed afterwards, whether `fn` succeeds or throws. */
async function withDaemon<T>(fn: (sv: Supervisor) => Promise<T>, options: { start?: boolean } = {}): Promise<T> {
  const sv = await Supervisor.connect({ start: options.start ?? true, ...(timeoutMs !== undefined && { timeoutMs }) });
  // Once, from the daemon: e.g. that it restored its apps after dying.
  if (sv.daemon.notice) warn(sv.daemon.notice);
  try {
    return await fn(sv);
  } finally {
    sv.close();
  }
}

/** `--watch` alone is true; `--watch a,b --watch c` collects paths. */
function collectPaths(value: string | undefined, previous: true | string[] | undefined): true | string[] {
  const paths = (value ?? '').split(',').filter((path) => path.length > 0);
  if (paths.length === 0) return previous ?? true;
  return [...(Array.isArray(previous) ? previous : []), ...paths];
}

function printRows(rows: ProcessInfo[], json: boolean | undefined): void {
  print(json ? JSON.stringify(rows) : processTable(rows));
}

async function listCommand(opts: { json?: boolean }): Promise<void> {
  printRows(await withDaemon((sv) => sv.list()), opts.json);
}

/**
 * `list` (or an alias) with nothing else but --json: the command run most often, and the one
 * whose start-up is a budget (within 1.5x `node -e 0`, bench/cli.mjs). Loading commander and
 * building the whole program is about half of that start-up, so these argument lists skip it;
 * anything else, `list --help` included, goes through commander as usual.
 */
function plainList(args: string[]): { json?: boolean } | null {
  const [command, ...rest] = args;
  if (command !== 'list' && command !== 'ls' && command !== 'status') return null;
  if (rest.length === 0) return {};
  return rest.length === 1 && rest[0] === '--json' ? { json: true } : null;
}

type DaemonProgram = typeof import('../daemon/entry.js');

/**
 * The daemon for `daemon --foreground`: from the CLI's bundle, the daemon's own bundle, as the
 * launcher starts it (not a second copy inside the CLI's); from sources (tsx), its modules. The
 * specifier is a variable so that the bundler does not copy the daemon into the CLI.
 */
async function daemonProgram(): Promise<DaemonProgram> {
  if (BUNDLED) return requireCommonJs(fileURLToPath(new URL('../daemon/daemon.cjs', import.meta.url))) as DaemonProgram;
  const entry = '../daemon/entry.js';
  return (await import(entry)) as DaemonProgram;
}

async function buildProgram(): Promise<Command> {
  // commander is CommonJS: require() loads it in about half the time that import() takes, since
  // import() has to scan the file for its exports first. Loaded here, not at the top: plain
  // `list` does not need it (see run()).
  const { Command, Option } = requireCommonJs('commander') as typeof CommanderModule;
  // The option table (app-options.ts and what it imports), for --balance's choices.
  const { BALANCE_STRATEGIES } = await import('../shared/app-spec.js');
  const program = new Command('supervisor')
    .description('A process supervisor for Node.js services.')
    .version(VERSION, '-v, --version')
    .showSuggestionAfterError(true)
    .configureOutput({ outputError: (text, write) => write(`supervisor: ${text.replace(/^error: /, '').replace(/\n(?=.)/g, ' ')}`) })
    .option('--timeout <duration>', 'longest wait for the daemon\'s reply, e.g. 90s or 30m; 0 for none (default: SUPERVISOR_TIMEOUT, else 10m)')
    .hook('preAction', async (command) => {
      const value = command.opts<{ timeout?: string }>().timeout;
      if (value === undefined) return;
      const { requestTimeoutSetting } = await import('./timeouts.js');
      timeoutMs = requestTimeoutSetting(value, '--timeout');
    });

  program
    .command('start')
    .description('start an app from a script or every app in a config file')
    .argument('<script-or-config>')
    .argument('[args...]', 'arguments for the app (after --)')
    .option('-i, --instances <n>', 'number of processes, or "max"; with a Node script this means cluster mode')
    .option('-n, --name <name>', 'app name (default: the script name)')
    .option('--namespace <namespace>', "a group name that commands also take (pm2's namespace)")
    .addOption(new Option('--mode <mode>', 'execution mode').choices(['fork', 'cluster']))
    .addOption(new Option('--balance <strategy>', 'cluster balancing').choices([...BALANCE_STRATEGIES]))
    .option('--wait-ready', "processes are ready when they send process.send('ready')")
    .option('--listen-timeout <duration>', 'how long to wait for readiness')
    .option('--kill-timeout <duration>', 'how long a stop waits before SIGKILL')
    .option('--interpreter <command>', 'interpreter ("none" runs the script itself)')
    .option('--node-args <args>', 'arguments for node itself')
    .option('--max-memory-restart <size>', 'reload a process above this memory, e.g. 300M')
    .option('--no-autorestart', 'do not restart processes that exit')
    .option('--cron <expression>', 'restart (fork) or reload (cluster) at these times, e.g. "0 3 * * *" (pm2 cron_restart)')
    .option('--cron-restart <expression>', 'the same as --cron')
    .option('--watch [paths]', 'restart (fork) or reload (cluster) when files change under cwd, or under these paths (comma-separated, repeatable)', collectPaths)
    .option('--ignore-watch <globs>', 'changes that do not count (globs, space-separated)')
    .option('--watch-delay <delay>', 'how long changes settle before the reload: seconds, or a duration such as 500ms')
    .option('--shutdown-with-message', "stop by sending 'shutdown' over IPC instead of a signal")
    .option('-o, --output <path>', 'stdout log file (pm2 out_file; /dev/null discards)')
    .option('-e, --error <path>', 'stderr log file (pm2 error_file; /dev/null discards)')
    .option('-l, --log [path]', 'also write both streams to one file (pm2 log_file)')
    .option('--time', 'prefix log lines with the time (YYYY-MM-DDTHH:mm:ss)')
    .option('--log-date-format <format>', 'prefix log lines with the time in this format (pm2 date tokens)')
    .option('--merge-logs', 'one log file per stream for every process (the default)')
    .option('--no-merge-logs', 'one log file per stream and instance (<file>-<instance>.log)')
    .option('--log-type <type>', '"json": one JSON object per line')
    .option('--env <name>', 'config files: add each app\'s env_<name> over its env')
    .option('--only <names>', 'config files: start only these apps (comma-separated)')
    .option('--strict', 'config files: unknown or unsupported options are errors, not warnings')
    .option('-f, --force', 'a script that already runs is restarted instead of refused')
    .option('--update-env', "config files: apps that run get this shell's environment (else they keep theirs, plus the file's)")
    .option('--json', 'print the started processes as JSON')
    .action(async (target: string, args: string[], opts: StartOptions & { json?: boolean }) => {
      const { startCommand } = await import('./start-command.js');
      const config = {
        ...(opts.name !== undefined && { name: opts.name }),
        ...(opts.namespace !== undefined && { namespace: opts.namespace }),
        ...(opts.instances !== undefined && { instances: opts.instances }),
        ...(opts.mode !== undefined && { exec_mode: opts.mode }),
        ...(opts.balance !== undefined && { balance: opts.balance }),
        ...(opts.waitReady !== undefined && { wait_ready: opts.waitReady }),
        ...(opts.listenTimeout !== undefined && { listen_timeout: opts.listenTimeout }),
        ...(opts.killTimeout !== undefined && { kill_timeout: opts.killTimeout }),
        ...(opts.interpreter !== undefined && { interpreter: opts.interpreter }),
        ...(opts.nodeArgs !== undefined && { node_args: opts.nodeArgs }),
        ...(opts.maxMemoryRestart !== undefined && { max_memory_restart: opts.maxMemoryRestart }),
        ...(opts.autorestart === false && { autorestart: false }),
        ...((opts.cron ?? opts.cronRestart) !== undefined && { cron_restart: opts.cron ?? opts.cronRestart }),
        ...(opts.watch !== undefined && { watch: opts.watch }),
        ...(opts.ignoreWatch !== undefined && { ignore_watch: opts.ignoreWatch }),
        // pm2 reads a bare number as seconds here (it is milliseconds in a file).
        ...(opts.watchDelay !== undefined && { watch_delay: /^\d+(\.\d+)?$/.test(opts.watchDelay) ? `${opts.watchDelay}s` : opts.watchDelay }),
        ...(opts.shutdownWithMessage !== undefined && { shutdown_with_message: opts.shutdownWithMessage }),
        ...(opts.output !== undefined && { out_file: opts.output }),
        ...(opts.error !== undefined && { error_file: opts.error }),
        ...(opts.log !== undefined && { log_file: opts.log }),
        ...(opts.time !== undefined && { time: opts.time }),
        ...(opts.logDateFormat !== undefined && { log_date_format: opts.logDateFormat }),
        ...(opts.mergeLogs !== undefined && { merge_logs: opts.mergeLogs }),
        ...(opts.logType !== undefined && { log_type: opts.logType }),
      };
      const flags = {
        config,
        ...(opts.env !== undefined && { envName: opts.env }),
        ...(opts.only !== undefined && { only: opts.only.split(/[,\s]+/).filter((name) => name.length > 0) }),
        ...(opts.strict !== undefined && { strict: opts.strict }),
        ...(opts.force !== undefined && { force: opts.force }),
        ...(opts.updateEnv !== undefined && { updateEnv: opts.updateEnv }),
      };
      printRows(await startCommand(target, args, flags, withDaemon, warn), opts.json);
    });

  program
    .command('list')
    .aliases(['ls', 'status'])
    .description('one row per process')
    .option('--json', 'a JSON array, one object per process')
    .action(listCommand);

  for (const [name, description] of [
    ['stop', 'stop processes (the app stays listed)'],
    ['restart', 'stop then start processes'],
    ['reload', 'replace processes one by one without dropping connections'],
    ['delete', 'stop processes and forget the app'],
  ] as const) {
    const command = program.command(name).description(description);
    if (name === 'delete') command.alias('del');
    // pm2's startOrReload: with a file, apps not running start and the others are reloaded.
    if (name === 'reload') command.alias('startOrReload');
    if (name === 'restart' || name === 'reload') command.option('--update-env', "give the apps this shell's environment (over theirs)");
    // pm2's habit: restart --watch turns watching on or off, stop --watch stops and turns it off.
    if (name === 'restart') command.option('--watch', "turn watching of the apps' cwd on if it is off, off if it is on (pm2's toggle); then restart");
    if (name === 'stop') command.option('--watch', 'also turn watching off, so a later start or restart does not watch');
    command
      .argument('<target>', 'app name, namespace, process id, "all", or a config file')
      .option('--env <name>', "config files: add each app's env_<name> over its env")
      .option('--only <names>', 'config files: only these apps (comma-separated)')
      .option('--strict', 'config files: unknown or unsupported options are errors, not warnings')
      .option('--json', 'print the affected processes as JSON')
      .action(async (target: string, opts: { json?: boolean; updateEnv?: boolean; env?: string; only?: string; strict?: boolean; watch?: boolean }) => {
        if (isConfigFile(target)) {
          if (opts.watch) throw new SupervisorError('INVALID_REQUEST', `--watch applies to an app, process id, namespace or "all"; a config file's apps take watch from the file`);
          const deploy = await import('./deploy.js');
          const flags = {
            ...(opts.env !== undefined && { envName: opts.env }),
            ...(opts.only !== undefined && { only: opts.only.split(/[,\s]+/).filter((n) => n.length > 0) }),
            ...(opts.strict !== undefined && { strict: opts.strict }),
            ...(opts.updateEnv !== undefined && { updateEnv: opts.updateEnv }),
          };
          const rows =
            name === 'stop' || name === 'delete' ? await deploy.stopFile(withDaemon, name, target, flags, warn) : await deploy.deployFile(withDaemon, name, target, flags, warn);
          printRows(rows, opts.json);
          return;
        }
        if (opts.env !== undefined || opts.only !== undefined) warn('--env and --only apply to config files');
        const rows = await withDaemon(async (sv) => {
          if (opts.watch && (name === 'restart' || name === 'stop')) {
            for (const app of await sv.call('watch', { target, watch: name === 'restart' ? 'toggle' : 'off' })) {
              warn(`${app.name}: ${app.watching ? 'watching its cwd for changes' : 'not watching for changes'}`);
            }
          }
          if (opts.updateEnv && (name === 'restart' || name === 'reload')) return (await import('./deploy.js')).updateEnv(sv, name, target);
          return sv.call(name, { target });
        });
        // As pm2: "all" with nothing to act on is a failure, so a deploy script notices.
        if (target === 'all' && rows.length === 0) throw new SupervisorError('NOT_FOUND', `no apps to ${name} (see: supervisor list)`);
        printRows(rows, opts.json);
      });
  }

  program
    .command('reset')
    .description('set the restart counters of processes back to 0')
    .argument('<target>', 'app name, namespace, process id, or "all"')
    .option('--json', 'print the affected processes as JSON')
    .action(async (target: string, opts: { json?: boolean }) => {
      const rows = await withDaemon((sv) => sv.call('reset', { target }));
      if (target === 'all' && rows.length === 0) throw new SupervisorError('NOT_FOUND', 'no apps to reset (see: supervisor list)');
      printRows(rows, opts.json);
    });

  program
    .command('scale')
    .description('change the number of processes of an app')
    .argument('<name>')
    .argument('<count>', 'N, +N or -N')
    .action(async (name: string, count: string) => {
      if (!/^[+-]?\d+$/.test(count)) throw new SupervisorError('INVALID_REQUEST', `count must be N, +N or -N (got "${count}")`);
      const relative = count.startsWith('+') || count.startsWith('-');
      printRows(await withDaemon((sv) => sv.call('scale', { name, count: Number(count), relative })), false);
    });

  program
    .command('describe')
    .alias('show')
    .description('everything known about an app and its processes')
    .argument('<target>')
    .option('--json')
    .action(async (target: string, opts: { json?: boolean }) => {
      const apps = await withDaemon((sv) => sv.describe(target));
      print(opts.json ? JSON.stringify(apps, null, 2) : describeText(apps));
    });

  program
    .command('logs')
    .description('print the last lines of the logs (rotated files included), then follow them')
    .argument('[target]', 'app name or process id', 'all')
    .option('--lines <n>', 'lines of history to print per file', '15')
    .option('--err', 'only stderr')
    .option('--out', 'only stdout')
    .option('--no-follow', 'print history and exit')
    .option('--json', "one JSON object per line (pm2's fields: message, timestamp, type, process_id, app_name)")
    .option('--timestamp [format]', 'prefix followed lines with the time they arrive (pm2 date tokens)')
    .action(async (target: string, opts: { lines: string; err?: boolean; out?: boolean; follow: boolean; json?: boolean; timestamp?: string | boolean }) => {
      if (!/^\d+$/.test(opts.lines)) throw new SupervisorError('INVALID_REQUEST', `--lines must be a whole number (got "${opts.lines}")`);
      const timestamp = opts.timestamp === undefined ? null : opts.timestamp === true ? 'YYYY-MM-DD-HH:mm:ss' : String(opts.timestamp);
      if (timestamp !== null) {
        const { compileDateFormat } = await import('../shared/log-date-format.js');
        try {
          compileDateFormat(timestamp);
        } catch (error) {
          throw new SupervisorError('INVALID_REQUEST', `--timestamp format ${(error as Error).message}`);
        }
      }
      const { showLogs } = await import('./logs-command.js');
      await withDaemon((sv) => showLogs(sv, target, { lines: Number(opts.lines), err: !!opts.err, out: !!opts.out, follow: opts.follow, json: !!opts.json, timestamp }));
    });

  program
    .command('flush')
    .description('empty log files, current and rotated')
    .argument('[target]', 'app name', 'all')
    .action(async (target: string) => {
      const { files } = await withDaemon((sv) => sv.call('flush', { target }));
      print(`emptied ${files} log files`);
    });

  program
    .command('reload-logs')
    .alias('reloadLogs')
    .description('reopen every log file (after logrotate moved them; SIGUSR2 to the daemon does the same)')
    .action(async () => {
      const { files } = await withDaemon((sv) => sv.call('reload-logs', {}));
      print(`reopened ${files} log files`);
    });

  program
    .command('signal')
    .description('send a signal to processes')
    .argument('<signal>')
    .argument('<target>')
    .action(async (signal: string, target: string) => printRows(await withDaemon((sv) => sv.call('signal', { target, signal })), false));

  program
    .command('send')
    .description("deliver a JSON message to processes (process.on('message'))")
    .argument('<target>')
    .argument('<json>')
    .action(async (target: string, json: string) => {
      let data: unknown;
      try {
        data = JSON.parse(json);
      } catch {
        throw new SupervisorError('INVALID_REQUEST', `message is not valid JSON: ${json}`);
      }
      const { delivered } = await withDaemon((sv) => sv.call('send', { target, data: data as never }));
      print(`delivered to ${delivered} processes`);
    });

  program
    .command('save')
    .description('save the app list to dump.json')
    .action(async () => {
      const { file, apps } = await withDaemon((sv) => sv.call('save', {}));
      print(`saved ${apps} apps to ${file}`);
    });

  program
    .command('resurrect')
    .description('start the apps saved in dump.json')
    .action(async () => printRows(await withDaemon((sv) => sv.call('resurrect', {})), false));

  program
    .command('ping')
    .description('start the daemon if needed and report its pid and version')
    .action(async () => {
      await withDaemon(async (sv) => {
        print(`daemon pid ${sv.daemon.pid}, version ${sv.daemon.version}, home ${sv.daemon.home}${sv.startedDaemon ? ' (just started)' : ''}`);
      });
    });

  program
    .command('kill')
    .description('stop every app gracefully, then the daemon')
    .action(async () => {
      const paths = homePaths(resolveHome());
      const { connectIfRunning } = await import('./launcher.js');
      const connection = await connectIfRunning(paths, timeoutMs !== undefined ? { requestTimeoutMs: timeoutMs } : {});
      if (!connection) {
        print('no daemon running');
        return;
      }
      const pid = connection.daemon?.pid;
      const closed = new Promise<void>((resolve) => (connection.onClose = () => resolve()));
      try {
        await connection.request('kill', {});
      } catch (error) {
        connection.close();
        throw error;
      }
      await closed;
      // The connection closes just before the process exits: wait for the exit itself.
      const deadline = Date.now() + 10_000;
      while (pid !== undefined && processExists(pid)) {
        if (Date.now() > deadline) throw new SupervisorError('FAILED', `daemon ${pid} did not exit within 10 s`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      print(`daemon ${pid} stopped`);
    });

  program
    .command('check')
    .description("check the daemon's internal consistency (every process accounted for)")
    .action(async () => {
      const { problems } = await withDaemon((sv) => sv.call('check', {}), { start: false });
      if (problems.length > 0) throw new SupervisorError('INTERNAL', `${problems.length} problems: ${problems.join('; ')}`);
      print('ok');
    });

  program
    .command('daemon')
    .description('run the daemon (--foreground for systemd and containers)')
    .option('--foreground', 'stay in the foreground; SIGTERM stops apps gracefully and saves them')
    .option('--metrics <address>', 'serve /metrics, /healthz and /readyz on host:port (or a port, on 127.0.0.1)')
    .option('--start <config-or-script>', 'with --foreground: start these apps instead of those saved in dump.json')
    .action(async (opts: { foreground?: boolean; metrics?: string; start?: string }) => {
      if (opts.metrics !== undefined) {
        const { parseMetricsAddress } = await import('../shared/metrics-address.js');
        parseMetricsAddress(opts.metrics, '--metrics');
        // One source of truth for the daemon, whichever way it is started: its environment.
        process.env['SUPERVISOR_METRICS'] = opts.metrics;
      }
      if (opts.start !== undefined && !opts.foreground) throw new SupervisorError('INVALID_REQUEST', '--start needs --foreground');
      // Also when a daemon already runs (then they would not apply): a bad setting is an error, not ignored.
      if (!opts.foreground) await (await import('./launcher.js')).checkDaemonSettings(process.env);
      if (opts.foreground) {
        const { main } = await daemonProgram();
        await main({ foreground: true, ...(opts.start !== undefined && { start: opts.start }) });
        return;
      }
      await withDaemon(async (sv) => {
        print(`daemon pid ${sv.daemon.pid}`);
        if (opts.metrics !== undefined && !sv.startedDaemon) warn(`a daemon was already running: --metrics applies only to a daemon this command starts`);
      });
    });

  program
    .command('startup')
    .description('generate a systemd unit that runs the daemon in the foreground')
    .argument('<system>', 'only "systemd"')
    .option('--print', 'print the unit instead of installing it')
    .option('--user <user>', 'the user the daemon runs as')
    .action(async (system: string, opts: { print?: boolean; user?: string }) => {
      const { startup } = await import('./startup.js');
      await startup(system, opts, print);
    });

  program
    .command('monit')
    .description('live view of CPU, memory, restarts and connections')
    .action(async () => {
      // Said before connecting, so a script that runs it by mistake starts no daemon.
      if (!process.stdout.isTTY || !process.stdin.isTTY) {
        throw new SupervisorError('FAILED', 'monit needs a terminal (for scripts: supervisor list --json)');
      }
      const { monit } = await import('./monit.js');
      await withDaemon(monit);
    });

  return program;
}

/** Alive and not a zombie waiting to be reaped (a reaper may be slow in containers). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export async function run(argv: string[]): Promise<void> {
  try {
    const list = plainList(argv.slice(2));
    if (list) await listCommand(list);
    else await (await buildProgram()).parseAsync(argv);
  } catch (error) {
    if (error instanceof SupervisorError) {
      process.stderr.write(`supervisor: ${error.message}\n`);
      process.exitCode = EXIT_STATUS[error.code];
    } else {
      process.stderr.write(`supervisor: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    }
  }
}
