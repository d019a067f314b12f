/**
 * The app description the daemon runs. The client turns a command line or a config file into
 * this plain-data shape (it evaluates config files; the daemon never runs user code), and the
 * daemon validates it again at its edge with `validateAppSpec`.
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

export interface AppSpec {
  name: string;
  /** Absolute path of the script or executable. */
  script: string;
  args: string[];
  cwd: string;
  /** Environment of the process, merged over nothing: the client sends the full set. */
  env: Record<string, string>;
  mode: ExecMode;
  instances: number;
  /** 'node', 'none' (run the script itself) or an interpreter command such as 'python3'. */
  interpreter: string;
  interpreterArgs: string[];
  balance: BalanceStrategy;
  /** Signal sent first on stop; SIGKILL follows after killTimeoutMs. */
  killSignal: NodeJS.Signals;
  killTimeoutMs: number;
  /** Send 'shutdown' over IPC instead of the kill signal. */
  shutdownWithMessage: boolean;
  autorestart: boolean;
  /** Readiness comes from process.send('ready') rather than the first listen. */
  waitReady: boolean;
  listenTimeoutMs: number;
  minUptimeMs: number;
  /** Unstable exits within the crash window that make a crash loop. */
  maxRestarts: number;
  restartDelayMs: number;
  /** First back-off delay after an unstable exit; doubles up to backoffCapMs. */
  expBackoffRestartDelayMs: number;
  backoffCapMs: number;
  /** After a crash loop: keep retrying at the cap (true) or stay errored (false). */
  retryAfterCrashLoop: boolean;
  stopExitCodes: number[];
  /** Resident memory in bytes above which a worker is reloaded; 0 = no limit. */
  maxMemoryRestart: number;
  /** Connections held while no worker is ready: how many, and for how long. */
  queueSize: number;
  queueTimeoutMs: number;
  /** How long draining keeps idle keep-alive connections open waiting for a last request. */
  drainIdleMs: number;
  /** How long a draining process may take to finish its connections before it is told to stop. */
  drainTimeoutMs: number;
}

/** The defaults, with the reason for each where it is not pm2's. */
export const APP_DEFAULTS = {
  args: [] as string[],
  mode: 'fork' as ExecMode,
  instances: 1,
  interpreterArgs: [] as string[],
  balance: 'round-robin' as BalanceStrategy,
  killSignal: 'SIGINT' as NodeJS.Signals,
  killTimeoutMs: 5000,
  shutdownWithMessage: false,
  autorestart: true,
  waitReady: false,
  listenTimeoutMs: 8000,
  minUptimeMs: 1000,
  maxRestarts: 10,
  restartDelayMs: 0,
  expBackoffRestartDelayMs: 100,
  // A capped retry every 15 s brings an app back within 15 s of its database returning, and
  // costs one fork per 15 s meanwhile: cheap enough to be the default.
  backoffCapMs: 15_000,
  retryAfterCrashLoop: true,
  stopExitCodes: [] as number[],
  maxMemoryRestart: 0,
  queueSize: 1024,
  queueTimeoutMs: 10_000,
  drainIdleMs: 2000,
  drainTimeoutMs: 30_000,
};
