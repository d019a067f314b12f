/**
 * The app description the daemon runs. The client turns a command line or a config file into
 * this plain-data shape (it evaluates config files; the daemon never runs user code), and the
 * daemon validates it again at its edge with `validateAppSpec`. Every field is declared once,
 * in app-options.ts; this module names what the rest of the code imports.
 */
export { APP_DEFAULTS, BALANCE_STRATEGIES, EXEC_MODES } from './app-options.js';
export type { AppConfig, AppSpec, BalanceStrategy, ExecMode } from './app-options.js';
