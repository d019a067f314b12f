/**
 * The `supervisor` command line. Each command is a thin layer over the API: parse, call,
 * print. Every failure ends in one line on stderr and a non-zero exit (see run()).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as CommanderModule from 'commander';
import { BALANCE_STRATEGIES } from '../shared/app-spec.js';
import { EXIT_STATUS, SupervisorError } from '../shared/errors.js';
import { homePaths, resolveHome } from '../shared/paths.js';
import type { ProcessInfo } from '../shared/protocol.js';
import { VERSION } from '../shared/version.js';
import { Supervisor } from './api.js';
import { describeText, processTable } from './format.js';

interface StartOptions {
  instances?: string;
  name?: string;
  mode?: string;
  balance?: string;
  waitReady?: boolean;
  listenTimeout?: string;
  killTimeout?: string;
  interpreter?: string;
  nodeArgs?: string;
  maxMemoryRestart?: string;
  autorestart?: boolean;
  shutdownWithMessage?: boolean;
}

// commander is CommonJS: require() loads it in about half the time that import() takes, since
// import() has to scan the file for its exports first. Every CLI command pays this.
const { Command, Option } = createRequire(import.meta.url)('commander') as typeof CommanderModule;
type Command = CommanderModule.Command;

const print = (text: string): void => void process.stdout.write(`${text}\n`);
const warn = (text: string): void => void process.stderr.write(`supervisor: ${text}\n`);

async function withDaemon<T>(fn: (sv: Supervisor) => Promise<T>, options: { start?: boolean } = {}): Promise<T> {
  const sv = await Supervisor.connect({ start: options.start ?? true });
  // Once, from the daemon: e.g. that it restored its apps after dying.
  if (sv.daemon.notice) warn(sv.daemon.notice);
  try {
    return await fn(sv);
  } finally {
    sv.close();
  }
}

function printRows(rows: ProcessInfo[], json: boolean | undefined): void {
  print(json ? JSON.stringify(rows) : processTable(rows));
}

export function buildProgram(): Command {
  const program = new Command('supervisor')
    .description('A process supervisor for Node.js services.')
    .version(VERSION, '-v, --version')
    .showSuggestionAfterError(true)
    .configureOutput({ outputError: (text, write) => write(`supervisor: ${text.replace(/^error: /, '').replace(/\n(?=.)/g, ' ')}`) });

  program
    .command('start')
    .description('start an app from a script or every app in a config file')
    .argument('<script-or-config>')
    .argument('[args...]', 'arguments for the app (after --)')
    .option('-i, --instances <n>', 'number of processes, or "max"; with a Node script this means cluster mode')
    .option('-n, --name <name>', 'app name (default: the script name)')
    .addOption(new Option('--mode <mode>', 'execution mode').choices(['fork', 'cluster']))
    .addOption(new Option('--balance <strategy>', 'cluster balancing').choices([...BALANCE_STRATEGIES]))
    .option('--wait-ready', "processes are ready when they send process.send('ready')")
    .option('--listen-timeout <duration>', 'how long to wait for readiness')
    .option('--kill-timeout <duration>', 'how long a stop waits before SIGKILL')
    .option('--interpreter <command>', 'interpreter ("none" runs the script itself)')
    .option('--node-args <args>', 'arguments for node itself')
    .option('--max-memory-restart <size>', 'reload a process above this memory, e.g. 300M')
    .option('--no-autorestart', 'do not restart processes that exit')
    .option('--shutdown-with-message', "stop by sending 'shutdown' over IPC instead of a signal")
    .option('--json', 'print the started processes as JSON')
    .action(async (target: string, args: string[], opts: StartOptions & { json?: boolean }) => {
      const { existsSync } = await import('node:fs');
      if (!existsSync(target) && /^[\w.@-]+$/.test(target) && !/\.(c|m)?js$|\.json$/.test(target)) {
        // `start <name>` on an app the daemon knows starts its stopped processes, as in pm2.
        // No daemon means no such app: fail without starting one.
        const rows = await withDaemon((sv) => sv.call('restart', { target }), { start: false }).catch((error: unknown) => {
          if (error instanceof SupervisorError && (error.code === 'NOT_FOUND' || error.code === 'UNREACHABLE')) {
            throw new SupervisorError('FAILED', `script ${target} does not exist, and no app is named "${target}"`);
          }
          throw error;
        });
        printRows(rows, opts.json);
        return;
      }
      const { isConfigFile, loadConfigFile } = await import('./config-file.js');
      const { toAppSpec } = await import('./app-config.js');
      const specs = isConfigFile(target)
        ? await loadConfigFile(target, process.env, warn)
        : [
            toAppSpec(
              {
                script: target,
                args,
                ...(opts.name !== undefined && { name: opts.name }),
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
                ...(opts.shutdownWithMessage !== undefined && { shutdown_with_message: opts.shutdownWithMessage }),
              },
              { cwd: process.cwd(), env: process.env, warn },
            ),
          ];
      if (isConfigFile(target) && (opts.name || opts.instances)) warn('--name and -i apply to scripts; the config file decides for its apps');
      const rows = await withDaemon((sv) => sv.call('start', { apps: specs }));
      printRows(rows, opts.json);
    });

  program
    .command('list')
    .aliases(['ls', 'status'])
    .description('one row per process')
    .option('--json', 'a JSON array, one object per process')
    .action(async (opts: { json?: boolean }) => printRows(await withDaemon((sv) => sv.list()), opts.json));

  for (const [name, description] of [
    ['stop', 'stop processes (the app stays listed)'],
    ['restart', 'stop then start processes'],
    ['reload', 'replace processes one by one without dropping connections'],
    ['delete', 'stop processes and forget the app'],
  ] as const) {
    const command = program.command(name).description(description);
    if (name === 'delete') command.alias('del');
    command
      .argument('<target>', 'app name, process id, or "all"')
      .option('--json', 'print the affected processes as JSON')
      .action(async (target: string, opts: { json?: boolean }) => {
        printRows(await withDaemon((sv) => sv.call(name, { target })), opts.json);
      });
  }

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
    .description('print and follow logs')
    .argument('[target]', 'app name or process id', 'all')
    .option('--lines <n>', 'lines of history to print per file', '15')
    .option('--err', 'only stderr')
    .option('--out', 'only stdout')
    .option('--no-follow', 'print history and exit')
    .action(async (target: string, opts: { lines: string; err?: boolean; out?: boolean; follow: boolean }) => {
      const { showLogs } = await import('./logs-command.js');
      await showLogs(target, { lines: Number(opts.lines), err: !!opts.err, out: !!opts.out, follow: opts.follow });
    });

  program
    .command('flush')
    .description('empty log files')
    .argument('[target]', 'app name', 'all')
    .action(async (target: string) => {
      const { files } = await withDaemon((sv) => sv.call('flush', { target }));
      print(`emptied ${files} log files`);
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
      const connection = await connectIfRunning(paths);
      if (!connection) {
        print('no daemon running');
        return;
      }
      const pid = connection.daemon?.pid;
      const closed = new Promise<void>((resolve) => (connection.onClose = resolve));
      await connection.request('kill', {});
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
    .action(async (opts: { foreground?: boolean }) => {
      if (opts.foreground) {
        const { main } = await import('../daemon/main.js');
        await main({ foreground: true });
        return;
      }
      await withDaemon(async (sv) => print(`daemon pid ${sv.daemon.pid}`));
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
      const { monit } = await import('./monit.js');
      await monit();
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
    await buildProgram().parseAsync(argv);
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
