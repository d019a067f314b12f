/**
 * `supervisor monit` in a real terminal: tmux (a private server on a socket of the test's own)
 * runs it in a shell; keys go in with send-keys and the screen comes back with capture-pane.
 * The shell records the terminal settings before and after, to prove monit gives the terminal
 * back as it found it however it ends: q, Ctrl-C, SIGTERM, the daemon going away.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { byStatus, CLI, expectOk, fixture, freePort, isAlive, tempHome, waitFor, type Home } from '../helpers.js';

const exec = promisify(execFile);

describe('monit', () => {
  let home: Home;
  let tmuxSocket = '';
  afterEach(async () => {
    // Our own tmux server, on our own socket: ending it ends the shell it runs.
    if (tmuxSocket) await exec('tmux', ['-S', tmuxSocket, 'kill-server']).catch(() => undefined);
    tmuxSocket = '';
    await home?.cleanup();
  });

  const tmux = async (...args: string[]): Promise<string> => (await exec('tmux', ['-S', tmuxSocket, ...args])).stdout;
  const screen = async (): Promise<string[]> => (await tmux('capture-pane', '-p', '-t', 'monit')).split('\n');
  const waitScreen = (what: string, test: (lines: string[]) => boolean, timeoutMs = 30_000): Promise<string[]> =>
    waitFor(async () => {
      const lines = await screen();
      return test(lines) ? lines : null;
    }, what, timeoutMs, 100);
  const selectedId = (lines: string[]): number | null => {
    const row = lines.find((l) => l.startsWith('>'));
    return row ? Number(row.slice(1).trim().split(/\s+/)[0]) : null;
  };

  it('shows every process, selects with the arrows, restarts, shows logs, and gives the terminal back on q, Ctrl-C, SIGTERM and a lost daemon', async () => {
    home = await tempHome();
    const port = await freePort();
    expectOk(await home.cli(['start', fixture('http-app.cjs'), '-i', '2', '--name', 'web'], { env: { PORT: String(port) } }));
    expectOk(await home.cli(['start', fixture('idle-app.cjs'), '--name', 'idle']));
    await byStatus(home, 'web', 'online', 2);
    const rows = await home.list();
    const [web0, web1, idle] = rows;

    tmuxSocket = join(home.dir, 'tmux.sock');
    const before = join(home.dir, 'stty-before');
    const node = process.execPath;
    // Three runs of monit in one shell; after each, its exit status and the terminal's settings.
    const script = [
      `stty -a > ${before}`,
      ...[1, 2, 3, 4].flatMap((n) => [`"${node}" "${CLI}" monit`, `echo "monit run ${n} exited $?"`, `stty -a > ${join(home.dir, `stty-after-${n}`)}`]),
      'sleep 600',
    ].join('; ');
    await exec('tmux', ['-S', tmuxSocket, '-f', '/dev/null', 'new-session', '-d', '-s', 'monit', '-x', '80', '-y', '24', '-e', `SUPERVISOR_HOME=${home.dir}`, '-e', 'LANG=C.UTF-8', 'sh', '-c', script]);

    let lines = await waitScreen('monit to show three processes', (l) => l.some((x) => x.includes('supervisor monit')) && l.filter((x) => /^[> ] +\d+ (web|idle) /.test(x)).length === 3);
    expect(await tmux('display', '-p', '-t', 'monit', '#{alternate_on}')).toBe('1\n');
    // 80x24 exactly, nothing wrapped.
    expect(lines.slice(0, 24).every((l) => l.length <= 80)).toBe(true);
    expect(selectedId(lines)).toBe(web0?.id);
    expect(lines.some((l) => l.includes(`web:${web0?.id} · cluster:0 · pid ${web0?.pid} · online`))).toBe(true);
    expect(lines.some((l) => /^ cpu .*%/.test(l))).toBe(true);
    expect(lines.some((l) => /^ mem .*(mb|kb)/.test(l))).toBe(true);
    expect(lines.some((l) => l.startsWith(' ↑↓ select  r restart  l reload  s stop  q quit'))).toBe(true);

    await tmux('send-keys', '-t', 'monit', 'Down');
    await waitScreen('the selection to move down', (l) => selectedId(l) === web1?.id);
    await tmux('send-keys', '-t', 'monit', 'r');
    await waitFor(async () => (await home.list()).find((r) => r.id === web1?.id)?.restarts === 1, 'the selected process to be restarted');
    lines = await waitScreen('the restart to be reported', (l) => l.some((x) => x.includes(`restarted web:${web1?.id}`)));
    // Its status changes appear in its log pane; the other processes were left alone.
    expect(lines.some((x) => x.includes('~ online: ready'))).toBe(true);
    expect((await home.list()).filter((r) => r.id !== web1?.id).map((r) => r.restarts)).toEqual([0, 0]);

    await tmux('send-keys', '-t', 'monit', 'Down');
    await waitScreen('idle to be selected', (l) => selectedId(l) === idle?.id);
    expectOk(await home.cli(['send', 'idle', '"hello from the test"']));
    await waitScreen('the log line of idle', (l) => l.some((x) => x.includes('out message "hello from the test"')));
    await tmux('send-keys', '-t', 'monit', 'Up', 'Up', 'Up');
    await waitScreen('the selection to stop at the top', (l) => selectedId(l) === web0?.id);

    await tmux('send-keys', '-t', 'monit', 'q');
    await waitScreen('monit to exit on q', (l) => l.some((x) => x === 'monit run 1 exited 0'));

    await waitScreen('monit to run again', (l) => l.some((x) => x.includes('supervisor monit')));
    await tmux('send-keys', '-t', 'monit', 'C-c');
    await waitScreen('monit to exit on Ctrl-C', (l) => l.some((x) => x === 'monit run 2 exited 0'));

    await waitScreen('monit to run a third time', (l) => l.some((x) => x.includes('supervisor monit')));
    const shell = Number((await tmux('display', '-p', '-t', 'monit', '#{pane_pid}')).trim());
    const monitPid = await waitFor(async () => {
      const children = (await readFile(`/proc/${shell}/task/${shell}/children`, 'utf8')).trim().split(/\s+/).map(Number);
      return children.find((pid) => pid > 0 && isAlive(pid));
    }, 'the monit process');
    process.kill(monitPid, 'SIGTERM');
    await waitScreen('monit to exit on SIGTERM', (l) => l.some((x) => x === 'monit run 3 exited 0'));

    // An error ends it too: the daemon goes away under it (exit status 6, UNREACHABLE).
    await waitScreen('monit to run a fourth time', (l) => l.some((x) => x.includes('supervisor monit')));
    expectOk(await home.cli(['kill']));
    lines = await waitScreen('monit to exit when the daemon goes', (l) => l.some((x) => x === 'monit run 4 exited 6'));
    expect(lines).toContain('supervisor: the daemon closed the connection');

    // The shell's screen is back (not the alternate one), the cursor shows, and the settings
    // (echo, canonical mode, ...) are what they were.
    expect(await tmux('display', '-p', '-t', 'monit', '#{alternate_on} #{cursor_flag}')).toBe('0 1\n');
    const settings = await readFile(before, 'utf8');
    for (const n of [1, 2, 3, 4]) expect(await readFile(join(home.dir, `stty-after-${n}`), 'utf8')).toBe(settings);
    expect(settings).toMatch(/(^|\s)icanon(\s|$)/);
    expect(lines.filter((l) => l.includes('supervisor monit'))).toEqual([]);
  });

  it('needs a terminal: one line and a non-zero exit when output is not one', async () => {
    home = await tempHome();
    const result = await home.cli(['monit']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual(['supervisor: monit needs a terminal (for scripts: supervisor list --json)']);
  });
});
