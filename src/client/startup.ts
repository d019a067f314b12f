/**
 * `supervisor startup systemd`: a unit that runs the daemon in the foreground (Type=simple,
 * no forking) that starts the apps saved in dump.json itself, and maps `systemctl reload` to a
 * zero-downtime reload of every app. SIGTERM (systemd's stop) stops apps gracefully and saves.
 */
import { writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';
import { SupervisorError } from '../shared/errors.js';
import { resolveHome } from '../shared/paths.js';

const CLI = fileURLToPath(new URL('../../bin/supervisor.js', import.meta.url));
/** This project's systemd page, shipped in the package (docs/), and its npm page. */
const DOCS = `${new URL('../../docs/SYSTEMD.md', import.meta.url).href} https://www.npmjs.com/package/supervisor-node`;

export function systemdUnit(options: { user: string; home: string; node: string; cli: string; path: string; docs?: string }): string {
  const run = (args: string): string => `${options.node} ${options.cli} ${args}`;
  return `[Unit]
Description=Supervisor process manager (${options.user})
Documentation=${options.docs ?? DOCS}
After=network.target

[Service]
Type=simple
User=${options.user}
Environment=SUPERVISOR_HOME=${options.home}
Environment=PATH=${options.path}
ExecStart=${run('daemon --foreground')}
ExecReload=${run('reload all')}
KillMode=mixed
KillSignal=SIGTERM
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
