/**
 * Every app option, declared once. From this table come:
 * - `AppSpec`, the plain data the daemon runs (the keys of APP_OPTIONS, typed by their kind),
 *   and `AppConfig`, what a user writes (pm2's snake_case names, looser input types);
 * - the client's conversion from one to the other (src/client/app-config.ts reads `pm2`,
 *   `aliases`, the kind and the default);
 * - the daemon's check of a spec that arrives over the wire or from dump.json
 *   (src/shared/app-spec-validate.ts walks the table);
 * - the option table of docs/CONFIG.md (src/shared/app-options-doc.ts; `npm run docs:config`
 *   writes it and a unit test fails when the file is stale).
 *
 * Plain data and small builder functions only: the daemon and every `start` load this module,
 * so it must cost nothing to import. A schema library was measured for the job and did not
 * fit the budgets (see docs/CONFIG.md, "Why a hand-written schema").
 */

export const EXEC_MODES = ['fork', 'cluster'] as const;
export type ExecMode = (typeof EXEC_MODES)[number];

/**
 * Who takes each connection in cluster mode. The first three are the daemon's choice (it accepts
 * and hands each connection over); 'os' hands every worker the listening socket itself and the
 * kernel decides which worker's accept() wins.
 */
export const BALANCE_STRATEGIES = ['round-robin', 'least-connections', 'sticky-ip', 'os'] as const;
export type BalanceStrategy = (typeof BALANCE_STRATEGIES)[number];

import { DEFAULT_LOG_SPEC, type LogConfig, type LogSpec } from './log-options.js';
import { DAY_MS } from './duration.js';

export const MAX_INSTANCES = 1024;

/**
 * How an option is read, checked and documented. `W` is its type in the spec (on the wire),
 * `I` what a user may write for it.
 */
export type OptionKind =
  | 'text'
  | 'optional-text'
  | 'flag'
  | 'count'
  | 'duration'
  | 'size'
  | 'list'
  | 'exit-codes'
  | 'choice'
  | 'signal'
  | 'env'
  | 'instances'
  /** A cron expression or null (off); checked with croner by the daemon (src/daemon/triggers/). */
  | 'cron'
  /** Paths to watch, relative to `cwd`; empty: off. */
  | 'watch'
  /** The log options, one composite field; its pm2 keys are declared in log-options.ts. */
  | 'logs';

export interface OptionDef<W = unknown, I = unknown> {
  readonly kind: OptionKind;
  /** The key in a config file (pm2's name), or null for a spec field no user writes. */
  readonly pm2: string | null;
  /** Other keys accepted for it (pm2's aliases); the first key found wins, `pm2` first. */
  readonly aliases?: readonly string[];
  /** Absent: the option is required (or derived by the client). */
  readonly default?: W;
  /** Computed by the client from other options (name, mode, interpreter...): no generic read. */
  readonly derived?: boolean;
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly string[];
  /** The `start` flag that sets it, for the docs and the CLI. */
  readonly cli?: string;
  /** Docs: the type as a user writes it, the default in words, the meaning. */
  readonly type: string;
  readonly defaultText: string;
  readonly doc: string;
  /** Phantom fields carrying the types; never set. */
  readonly __wire?: W;
  readonly __input?: I;
}

type Doc = { pm2?: string | null; aliases?: readonly string[]; cli?: string; type?: string; defaultText?: string; doc: string; derived?: boolean };

/** The literal config keys of a def, kept in its type so that AppConfig can be derived. */
type Keys<D extends Doc> = {
  readonly pm2: D['pm2'] extends string ? D['pm2'] : null;
  readonly aliases: D['aliases'] extends readonly string[] ? D['aliases'] : readonly never[];
};

const def = <W, I, const D extends Doc = Doc>(kind: OptionKind, doc: D, extra: Partial<OptionDef<W, I>> = {}): Omit<OptionDef<W, I>, 'pm2' | 'aliases'> & Keys<D> =>
  ({
  kind,
  pm2: doc.pm2 === undefined ? null : doc.pm2,
  ...(doc.aliases && { aliases: doc.aliases }),
  ...(doc.cli && { cli: doc.cli }),
  ...(doc.derived && { derived: true }),
  type: doc.type ?? '',
  defaultText: doc.defaultText ?? '',
  doc: doc.doc,
  ...extra,
  }) as Omit<OptionDef<W, I>, 'pm2' | 'aliases'> & Keys<D>;

/** A def whose default is known to the type system (for `APP_DEFAULTS`' type). */
type WithDefault<W, I, D extends Doc> = Omit<OptionDef<W, I>, 'pm2' | 'aliases'> & Keys<D> & { readonly default: W };
const defaulted = <W, I, const D extends Doc = Doc>(kind: OptionKind, doc: D, fallback: W, extra: Partial<OptionDef<W, I>> = {}): WithDefault<W, I, D> =>
  def<W, I, D>(kind, doc, { ...extra, default: fallback }) as WithDefault<W, I, D>;

/** For kinds with their own types: `typed<W, I>()(kind, doc, fallback)` keeps the doc's literal keys. */
const typed =
  <W, I>() =>
  <const D extends Doc>(kind: OptionKind, doc: D, fallback: W, extra: Partial<OptionDef<W, I>> = {}) =>
    defaulted<W, I, D>(kind, doc, fallback, extra);
const required =
  <W, I>() =>
  <const D extends Doc>(kind: OptionKind, doc: D) =>
    def<W, I, D>(kind, doc);

const text = <const D extends Doc>(doc: D) => def<string, string, D>('text', { type: 'string', ...doc });
const textOr = <const D extends Doc>(doc: D, fallback: string) => defaulted<string, string, D>('text', { type: 'string', ...doc }, fallback);
const optionalText = <const D extends Doc>(doc: D) => defaulted<string | null, string, D>('optional-text', { type: 'string', defaultText: 'none', ...doc }, null);
const flag = <const D extends Doc>(doc: D, fallback: boolean) => defaulted<boolean, boolean, D>('flag', { type: 'boolean', defaultText: String(fallback), ...doc }, fallback);
const count = <const D extends Doc>(doc: D, fallback: number, min: number, max: number) =>
  defaulted<number, number, D>('count', { type: `integer, ${fmt(min)} to ${fmt(max)}`, defaultText: String(fallback), ...doc }, fallback, { min, max });
const duration = <const D extends Doc>(doc: D, fallback: number) =>
  defaulted<number, number | string, D>('duration', { type: 'duration', defaultText: ms(fallback), ...doc }, fallback, { min: 0, max: DAY_MS });
const size = <const D extends Doc>(doc: D, fallback: number) =>
  defaulted<number, number | string, D>('size', { type: 'size', defaultText: fallback === 0 ? '0 (off)' : String(fallback), ...doc }, fallback, {
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
  });
const list = <const D extends Doc>(doc: D) => defaulted<string[], string | string[], D>('list', { type: 'string (split on spaces) or array', defaultText: 'none', ...doc }, []);
const choiceOr = <const C extends readonly string[], const D extends Doc>(choices: C, doc: D, fallback: C[number]) =>
  defaulted<C[number], string, D>('choice', { type: choices.map((c) => `\`${c}\``).join(', '), ...doc }, fallback, { choices });

function fmt(n: number): string {
  // Not toLocaleString: it loads ICU data, 25 ms and 8 MB for every importer of this module.
  return n >= 10_000 ? String(n).replace(/\B(?=(\d{3})+$)/g, ' ') : String(n);
}

function ms(value: number): string {
  if (value === 0) return '0';
  if (value % 60_000 === 0) return `${value / 60_000} min`;
  if (value % 1000 === 0) return `${value / 1000} s`;
  return `${value} ms`;
}

/**
 * The options, in the order of the docs table. Keys are AppSpec's field names.
 * Ranges here are what the daemon enforces; the client converts units and fills defaults.
 */
export const APP_OPTIONS = {
  name: text({
    pm2: 'name',
    cli: '-n, --name',
    defaultText: 'script file name without extension',
    derived: true,
    doc: 'letters, digits, `. _ - @` (spaces after the first character), at most 100; not all digits, not `all`',
  }),
  script: text({
    pm2: 'script',
    cli: 'the argument',
    type: 'path or command',
    defaultText: 'required',
    derived: true,
    doc: 'a file relative to `cwd`, or a command looked up in `cwd/node_modules/.bin` and then on `PATH` (`npm`, `next`...)',
  }),
  args: list({ pm2: 'args', cli: 'after `--`', doc: 'arguments for the script' }),
  cwd: text({ pm2: 'cwd', cli: '(the current directory)', type: 'path', defaultText: "the config file's directory", derived: true, doc: 'working directory' }),
  env: required<Record<string, string>, Record<string, string | number | boolean>>()('env', {
    pm2: 'env',
    cli: '(the shell\'s environment)',
    type: 'object of strings, numbers, booleans',
    defaultText: 'none',
    derived: true,
    doc: 'added over the environment of the start command; `env_<name>` is added over it with `--env <name>` (see Environment)',
  }),
  mode: choiceOr(EXEC_MODES, {
    pm2: 'exec_mode',
    cli: '--mode',
    type: '`fork`, `cluster` (`fork_mode`, `cluster_mode` too)',
    defaultText: 'see below',
    derived: true,
    doc: 'how processes run ([ARCHITECTURE.md](ARCHITECTURE.md#fork-mode-and-cluster-mode))',
  }, 'fork'),
  instances: typed<number, number | string>()(
    'instances',
    {
      pm2: 'instances',
      cli: '-i, --instances',
      type: 'integer or `"max"`',
      defaultText: '1',
      derived: true,
      doc: '`max` or 0: one per CPU; negative: CPUs minus that many; 1 to 1024 in the end',
    },
    1,
    { min: 1, max: MAX_INSTANCES },
  ),
  interpreter: text({
    pm2: 'interpreter',
    aliases: ['exec_interpreter'],
    cli: '--interpreter',
    type: 'command',
    defaultText: 'by extension',
    derived: true,
    doc: '`node` for `.js .mjs .cjs`, `tsx` for `.ts .mts .cts` (Node with tsx loaded), `python3` for `.py`, `bash` for `.sh`, else `none` (run the script itself); any other command is looked up like `script`',
  }),
  interpreterArgs: list({
    pm2: 'interpreter_args',
    aliases: ['node_args', 'interpreterArgs'],
    cli: '--node-args',
    doc: 'arguments for the interpreter, before the script (`node_args` is the same option; `interpreter_args` wins if both are set)',
  }),
  balance: choiceOr(BALANCE_STRATEGIES, { pm2: 'balance', cli: '--balance', defaultText: '`round-robin`', doc: "cluster mode: who gets each connection; `os`: every worker accepts on the daemon's socket ([CLUSTER.md](CLUSTER.md))" }, 'round-robin'),
  killSignal: typed<NodeJS.Signals, string>()('signal', { pm2: 'kill_signal', type: 'signal name, any case', defaultText: '`SIGINT`', doc: 'first signal of a stop' }, 'SIGINT'),
  killTimeoutMs: duration({ pm2: 'kill_timeout', cli: '--kill-timeout', doc: 'from the kill signal to SIGKILL' }, 5000),
  shutdownWithMessage: flag({ pm2: 'shutdown_with_message', cli: '--shutdown-with-message', doc: "stop by sending `'shutdown'` over IPC instead of the signal (Node apps)" }, false),
  autorestart: flag({ pm2: 'autorestart', cli: '--no-autorestart', doc: 'restart processes that exit' }, true),
  cronRestart: typed<string | null, string | number>()(
    'cron',
    {
      pm2: 'cron_restart',
      aliases: ['cron'],
      cli: '--cron, --cron-restart',
      type: 'cron expression: 5 fields, or 6 with seconds first',
      defaultText: 'none',
      doc: 'restart (fork mode) or reload (cluster mode) the app at these times, in the daemon\'s time zone, while it runs; `0` is none ([Cron and watch](#cron-and-watch))',
    },
    null,
  ),
  watch: typed<string[], boolean | string | string[]>()(
    'watch',
    {
      pm2: 'watch',
      cli: '--watch [paths]',
      type: '`true`, a path, or an array of paths',
      defaultText: 'false',
      doc: 'restart (fork) or reload (cluster) when a file changes under these paths (relative to `cwd`; `true` or `[]`: `cwd`), while the app runs ([Cron and watch](#cron-and-watch))',
    },
    [],
  ),
  ignoreWatch: list({
    pm2: 'ignore_watch',
    cli: '--ignore-watch <globs>',
    type: 'glob (split on spaces) or array of globs',
    doc: 'changes that do not count, besides `node_modules`, `.git`, the log files and the daemon\'s home: a glob without `/` matches any file or folder name, one with `/` the path from `cwd`',
  }),
  watchDelayMs: duration({ pm2: 'watch_delay', cli: '--watch-delay', doc: 'how long changes must settle before the one reload they cause (bursts are merged)' }, 1000),
  waitReady: flag({ pm2: 'wait_ready', cli: '--wait-ready', doc: "ready only on `process.send('ready')`" }, false),
  listenTimeoutMs: duration({ pm2: 'listen_timeout', cli: '--listen-timeout', doc: 'longest wait for readiness' }, 8000),
  minUptimeMs: duration({ pm2: 'min_uptime', doc: 'an exit sooner than this after ready is unstable' }, 1000),
  maxRestarts: count({ pm2: 'max_restarts', doc: 'unstable exits within 60 s that make a crash loop' }, 10, 0, 1_000_000),
  restartDelayMs: duration({ pm2: 'restart_delay', doc: 'wait before every restart (added to the back-off)' }, 0),
  expBackoffRestartDelayMs: duration({ pm2: 'exp_backoff_restart_delay', doc: 'first back-off step; 0 turns the back-off off' }, 100),
  // A capped retry every 15 s brings an app back within 15 s of its database returning, and
  // costs one fork per 15 s meanwhile: cheap enough to be the default.
  backoffCapMs: duration({ pm2: 'backoff_cap', doc: 'longest back-off; retry interval after a crash loop' }, 15_000),
  retryAfterCrashLoop: flag({ pm2: 'retry_after_crash_loop', doc: 'keep retrying after a crash loop' }, true),
  stopExitCodes: typed<number[], number | number[]>()(
    'exit-codes',
    { pm2: 'stop_exit_codes', type: 'integer or array, 0 to 255', defaultText: 'none', doc: 'exit codes that are not restarted' },
    [],
    { min: 0, max: 255 },
  ),
  maxMemoryRestart: size({ pm2: 'max_memory_restart', cli: '--max-memory-restart', doc: 'replace a process whose resident memory exceeds this' }, 0),
  queueSize: count({ pm2: 'queue_size', doc: 'cluster mode: connections held while no worker is ready' }, 1024, 0, 1_000_000),
  queueTimeoutMs: duration({ pm2: 'queue_timeout', doc: 'cluster mode: longest a held connection waits' }, 10_000),
  drainIdleMs: duration({ pm2: 'drain_idle_timeout', doc: 'cluster mode: interval at which draining closes idle keep-alive sockets' }, 2000),
  drainTimeoutMs: duration({ pm2: 'drain_timeout', doc: 'how long a draining process may take to finish its connections before it is told to stop' }, 30_000),
  instanceVar: textOr(
    {
      pm2: 'instance_var',
      type: 'environment variable name',
      defaultText: '`NODE_APP_INSTANCE`',
      doc: 'the variable that carries the instance number (0 to N-1) instead of `NODE_APP_INSTANCE`; `SUPERVISOR_INSTANCE` is always set',
    },
    'NODE_APP_INSTANCE',
  ),
  incrementVar: optionalText({
    pm2: 'increment_var',
    type: 'environment variable name',
    doc: 'a variable set to its value in `env` (0 if unset or not a number) plus the instance number: `PORT` 3000 gives 3000, 3001...',
  }),
  logs: typed<LogSpec, never>()('logs', {
    pm2: null,
    type: 'see the log options below',
    defaultText: 'files in `$SUPERVISOR_HOME/logs`, rotated at 10 MiB, 4 kept',
    derived: true,
    doc: 'where output goes, how lines are stamped, how files rotate ([LOGS.md](LOGS.md)); set with pm2\'s keys `out_file`, `error_file`, `log_file`, `merge_logs`, `log_date_format`, `time`, `log_type` and `log_max_size`, `log_retain`, `log_compress`, `log_pace_rate`',
  }, DEFAULT_LOG_SPEC),
  namespace: textOr({ pm2: 'namespace', cli: '--namespace', defaultText: '`default`', doc: 'a group name: commands that take an app (`stop`, `restart`, `reload`, `delete`, `reset`, `start`...) take it too and act on all of its apps; an app of that name wins' }, 'default'),
} as const satisfies Record<string, OptionDef>;

export type AppOptions = typeof APP_OPTIONS;
export type OptionName = keyof AppOptions;

type WireOf<D> = D extends OptionDef<infer W, unknown> ? W : never;
type InputOf<D> = D extends OptionDef<unknown, infer I> ? I : never;
type Mutable<T> = T extends readonly (infer E)[] ? E[] : T;

/** The app description the daemon runs: every option, with its final value. */
export type AppSpec = { -readonly [K in OptionName]: Mutable<WireOf<AppOptions[K]>> };

type ConfigKeys = { [K in OptionName as AppOptions[K] extends { pm2: infer P extends string } ? P : never]?: InputOf<AppOptions[K]> };
type AliasKeys = {
  [K in OptionName as AppOptions[K] extends { aliases: readonly (infer A extends string)[] } ? A : never]?: InputOf<AppOptions[K]>;
};

/** An app as a user writes it, in a config file or through the API (pm2's option names). */
export type AppConfig = Omit<ConfigKeys, 'script'> &
  AliasKeys &
  LogConfig & {
    script: string;
    /** Added over `env` when the command runs with `--env <name>`. */
    [envName: `env_${string}`]: Record<string, string | number | boolean> | undefined;
  };

type Defaults = { [K in OptionName as AppOptions[K] extends { default: unknown } ? K : never]: AppSpec[K] };

/** The default of every option that has one. */
export const APP_DEFAULTS = Object.fromEntries(
  Object.entries(APP_OPTIONS as Record<string, OptionDef>)
    .filter(([, d]) => 'default' in d)
    .map(([key, d]) => [key, d.default]),
) as Defaults;

/**
 * pm2 options that stay unsupported, each with the reason. Ignored with a warning (an error
 * under `--strict`).
 */
export const PM2_UNSUPPORTED: Readonly<Record<string, string>> = {
  pid_file: 'pids are in `supervisor list --json`; no pid files are written',
  pid: 'pids are in `supervisor list --json`; no pid files are written',
  disable_logs: 'logs always go to the log folder',
  vizion: 'no version-control metadata is collected',
  post_update: 'no pull or update commands are run',
  autostart: 'an app in a file is started by `start`; to keep one stopped, leave it out with `--only`',
  force: 'use the `-f, --force` flag of `start`',
  source_map_support: 'use `node_args: "--enable-source-maps"`',
  disable_source_map_support: 'source maps are off unless `node_args` turns them on',
  filter_env: 'the app gets the whole environment of the start command',
  append_env_to_name: 'app names are fixed by `name`',
  name_prefix: 'app names are fixed by `name`',
  execute_command: 'commands are recognised by themselves (a script that is not a file is looked up on PATH)',
  exec: 'write `script`',
  install_url: 'modules are installed with npm',
  uid: 'run the daemon as the user (see `supervisor startup --user`)',
  user: 'run the daemon as the user (see `supervisor startup --user`)',
  gid: 'run the daemon as the user (see `supervisor startup --user`)',
  username: 'run the daemon as the user (see `supervisor startup --user`)',
  treekill: 'the whole process group is always stopped',
  kill_retry_time: 'a stop is one signal, then SIGKILL after `kill_timeout`',
  port: 'put `PORT` in `env`',
  windowsHide: 'Linux only',
  write: 'configurations are not written back',
  trace: 'no APM agent (pm2.io) is loaded',
  disable_trace: 'no APM agent (pm2.io) is loaded',
  v8: 'no APM agent (pm2.io) is loaded',
  event_loop_inspector: 'no APM agent (pm2.io) is loaded',
  deep_monitoring: 'no APM agent (pm2.io) is loaded',
  pmx: 'no APM agent (pm2.io) is loaded',
  automation: 'no APM agent (pm2.io) is loaded',
  io: 'no APM agent (pm2.io) is loaded',
  watch_options: "the watcher's options are fixed ([Cron and watch](#cron-and-watch)); `ignore_watch` and `watch_delay` cover what they are mostly used for",
};
