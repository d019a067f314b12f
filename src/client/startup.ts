/**
 * `supervisor startup systemd`: a unit that runs the daemon in the foreground as a Type=notify
 * service (it says READY=1 once the apps saved in dump.json are up, and STOPPING=1 when it
 * stops), and maps `systemctl reload` to a zero-downtime reload of every app. SIGTERM
 * (systemd's stop) stops apps gracefully and saves.
 */
import { writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';
import { SupervisorError } from '../shared/errors.js';
import { resolveHome } from '../shared/paths.js';

const CLI = fileURLToPath(new URL('../../bin/supervisor.js', import.meta.url));
/** This project's systemd page, shipped in the package (docs/), and its npm page. */
const DOCS = `${new URL('../../docs/SYSTEMD.md', import.meta.url).href} https://www.npmjs.com/package/supervisor-node`;

/**
 * One word of a unit setting that systemd unquotes and unescapes (ExecStart=, Environment=):
 * `%` starts a specifier, so it is doubled; within double quotes, backslash and the quote are
 * escaped, and whitespace is kept. In command lines `$` starts a variable, so it is doubled too.
 */
function unitWord(value: string, options: { command: boolean }): string {
  if (/[\x00-\x1f\x7f]/.test(value)) throw new SupervisorError('INVALID_REQUEST', `${JSON.stringify(value)} cannot be written in a systemd unit (control characters)`);
  let escaped = value.replace(/%/g, '%%');
  if (options.command) escaped = escaped.replace(/\$/g, '$$$$');
  if (!/[\s"'\\;]/.test(value) && value.length > 0) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** An Environment= assignment, quoted as a whole when it must be. */
function unitEnvironment(name: string, value: string): string {
  return unitWord(`${name}=${value}`, { command: false });
}

/** Names systemd accepts in User= (a relaxed POSIX name, or a numeric uid). */
const USER_NAME = /^(?:[a-zA-Z_][a-zA-Z0-9_.-]{0,30}\$?|\d+)$/;

interface UnitOptions {
  user: string;
  home: string;
  node: string;
  cli: string;
  path: string;
  /** The Documentation= URIs (space-separated). */
  docs?: string;
}

export function systemdUnit(options: UnitOptions): string {
  if (!USER_NAME.test(options.user)) throw new SupervisorError('INVALID_REQUEST', `"${options.user}" is not a user name systemd accepts`);
  const run = (...args: string[]): string => [options.node, options.cli, ...args].map((word) => unitWord(word, { command: true })).join(' ');
  return `[Unit]
Description=Supervisor process manager (${options.user})
Documentation=${(options.docs ?? DOCS).replace(/%/g, '%%')}
After=network.target

[Service]
Type=notify
NotifyAccess=all
User=${options.user}
Environment=${unitEnvironment('SUPERVISOR_HOME', options.home)}
Environment=${unitEnvironment('PATH', options.path)}
ExecStart=${run('daemon', '--foreground')}
ExecReload=${run('reload', 'all')}
KillMode=mixed
KillSignal=SIGTERM
TimeoutStartSec=90
TimeoutStopSec=60
Restart=on-failure
RestartSec=2

[Install]
WantedBy=multi-user.target
`;
}

export async function startup(system: string, opts: { print?: boolean; user?: string }, print: (text: string) => void): Promise<void> {
  if (system !== 'systemd') throw new SupervisorError('INVALID_REQUEST', `unknown init system "${system}" (supported: systemd)`);
  const user = opts.user ?? userInfo().username;
  const unit = systemdUnit({ user, home: resolveHome(), node: process.execPath, cli: CLI, path: process.env['PATH'] ?? '/usr/bin:/bin' });
  if (opts.print) {
    print(unit.trimEnd());
    return;
  }
  if (process.getuid?.() !== 0) {
    throw new SupervisorError('FAILED', 'installing a unit needs root: run with sudo, or use --print and install it yourself');
  }
  const file = `/etc/systemd/system/supervisor-${user}.service`;
  await writeFile(file, unit, { mode: 0o644 });
  print(`wrote ${file}\nenable it with: systemctl daemon-reload && systemctl enable --now supervisor-${user}`);
}
