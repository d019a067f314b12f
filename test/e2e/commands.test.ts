/**
 * Documented commands that had no test of their success path: send, signal, flush, logs -f
 * and `start <name>` of a stopped app; and commands that fail must end, not hang.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProcessInfo } from '../../src/shared/protocol.js';
import { byStatus, expectOk, fixture, logLines, spawnCli, tempHome, waitFor, type Home, type RunningCli } from '../helpers.js';

describe('commands', () => {
  let home: Home;
  const running: RunningCli[] = [];
  afterEach(async () => {
    for (const cli of running.splice(0)) {
      cli.kill();
      await cli.exited;
    }
    await home?.cleanup();
  });

  async function startIdle(instances = 2): Promise<ProcessInfo[]> {
    expectOk(await home.cli(['start', fixture('idle-app.cjs'), '--name', 'idle', '--mode', 'fork', '-i', String(instances)]));
    return byStatus(home, 'idle', 'online', instances);
  }

  it('send delivers a JSON message to every process of the app (process.on("message"))', async () => {
    home = await tempHome();
    const rows = await startIdle();
    const sent = await home.cli(['send', 'idle', '{"hello":[1,"two"]}']);
    expectOk(sent);
    expect(sent.stdout).toBe('delivered to 2 processes\n');
    await waitFor(async () => (await logLines(home, 'idle')).filter((l) => l === 'message {"hello":[1,"two"]}').length === 2, 'both processes to log the message');
    // To one process by id.
    const one = await home.cli(['send', String(rows[1]?.id), '"just you"']);
    expectOk(one);
    expect(one.stdout).toBe('delivered to 1 processes\n');
    await waitFor(async () => (await logLines(home, 'idle')).includes('message "just you"'), 'the one process to log it');
    expect((await logLines(home, 'idle')).filter((l) => l === 'message "just you"')).toHaveLength(1);
  });

  it('signal sends the signal to each running process, which keeps running', async () => {
    home = await tempHome();
    const rows = await startIdle();
    const signalled = await home.cli(['signal', 'SIGUSR2', 'idle']);
    expectOk(signalled);
    for (const row of rows) expect(signalled.stdout).toContain(String(row.pid));
    await waitFor(async () => {
      const lines = await logLines(home, 'idle');
      return rows.every((row) => lines.includes(`signal SIGUSR2 ${row.pid}`));
    }, 'each process to report SIGUSR2');
    // The name without SIG works too, for one process.
    expectOk(await home.cli(['signal', 'usr2', String(rows[0]?.id)]));
    await waitFor(async () => (await logLines(home, 'idle')).filter((l) => l === `signal SIGUSR2 ${rows[0]?.pid}`).length === 2, 'the second signal');
    const after = await home.list();
    expect(after.map((r) => [r.pid, r.status, r.restarts])).toEqual(rows.map((r) => [r.pid, 'online', 0]));
  });

  it('flush empties the app\'s log files, which go on being written', async () => {
    home = await tempHome();
    await startIdle(1);
    expectOk(await home.cli(['send', 'idle', '"before"']));
    await waitFor(async () => (await logLines(home, 'idle')).includes('message "before"'), 'a line in the log');
    const outFile = join(home.dir, 'logs', 'idle-out.log');
    const flushed = await home.cli(['flush', 'idle']);
    expectOk(flushed);
    expect(flushed.stdout).toMatch(/^emptied [12] log files\n$/);
    expect(statSync(outFile).size).toBe(0);
    expectOk(await home.cli(['send', 'idle', '"after"']));
    await waitFor(async () => (await logLines(home, 'idle')).includes('message "after"'), 'a new line after the flush');
    expect(readFileSync(outFile, 'utf8')).toBe('message "after"\n');
  });

  it('logs -f prints the history, then each line an app writes as it writes it, until Ctrl-C', async () => {
    home = await tempHome();
    const [row] = await startIdle(1);
    expectOk(await home.cli(['send', 'idle', '"history"']));
    await waitFor(async () => (await logLines(home, 'idle')).includes('message "history"'), 'a line of history');
    const follow = spawnCli(['logs', 'idle', '--out'], home.env);
    running.push(follow);
    await waitFor(() => follow.stdout().includes('message "history"'), 'the history to be printed');
    // The history is printed before the subscription is made: send until a live line shows.
    let n = 0;
    await waitFor(async () => {
      expectOk(await home.cli(['send', 'idle', `"live ${n++}"`]));
      return /idle\|\d+ \| message "live \d+"/.test(follow.stdout());
    }, 'a line written by the app to be streamed', 15_000, 200);
    expect(follow.stdout()).toMatch(new RegExp(`idle\\|${row?.id} \\| message "live \\d+"\\n`));
    follow.kill('SIGINT');
    expect(await follow.exited).toEqual({ code: 0, signal: null });
  });

  it('logs of an unknown app prints one error line and exits 2, with or without --no-follow', async () => {
    home = await tempHome();
    await startIdle(1);
    for (const args of [['logs', 'nope', '--no-follow'], ['logs', 'nope']]) {
      const cli = spawnCli(args, home.env);
      running.push(cli);
      const exited = await Promise.race([cli.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 15_000))]);
      expect(exited, `${args.join(' ')} must end`).toEqual({ code: 2, signal: null });
      expect(cli.stderr().trim().split('\n')).toEqual([expect.stringMatching(/^supervisor: .*nope/)]);
    }
  });

  it('start <name> starts the stopped processes of a known app again, with their ids', async () => {
    home = await tempHome();
    const rows = await startIdle();
    expectOk(await home.cli(['stop', 'idle']));
    await byStatus(home, 'idle', 'stopped', 2);
    const started = await home.cli(['start', 'idle', '--json']);
    expectOk(started);
    const startedRows = JSON.parse(started.stdout) as ProcessInfo[];
    expect(startedRows.map((r) => r.id)).toEqual(rows.map((r) => r.id));
    const online = await byStatus(home, 'idle', 'online', 2);
    expect(online.map((r) => r.id)).toEqual(rows.map((r) => r.id));
    for (const row of online) expect(rows.map((r) => r.pid)).not.toContain(row.pid);
    // A name that is neither a script nor an app: one line, status 1, nothing started.
    const unknown = await home.cli(['start', 'nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^supervisor: script \/\S+\/nope does not exist, and no command "nope" is in node_modules\/\.bin or on PATH, and no app is named "nope"\n$/);
    expect((await home.list()).map((r) => r.name)).toEqual(['idle', 'idle']);
  });
});
