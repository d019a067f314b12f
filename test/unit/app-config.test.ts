import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { bytes, duration, interpreterFor, parseInstances, toAppSpec, type AppConfig, type ConvertBase } from '../../src/client/app-config.js';
import type { CommandFinder } from '../../src/shared/commands.js';
import { validateAppName, validateAppSpec } from '../../src/shared/app-spec-validate.js';
import { APP_DEFAULTS, type AppSpec } from '../../src/shared/app-spec.js';
import { SupervisorError } from '../../src/shared/errors.js';
import { logDefaultsFromEnv } from '../../src/shared/log-options.js';
import { echo } from '../../src/shared/validate.js';

// The number of cores is fixed so that "max" and negative instance counts give the same
// answer on every machine.
const cores = vi.hoisted(() => ({ count: 4 }));
vi.mock('node:os', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:os')>();
  return { ...actual, availableParallelism: () => cores.count };
});

let dir: string;
const warnings: string[] = [];
/** A few commands as if installed on PATH: the lookup itself is tested in commands.test.ts. */
const INSTALLED = new Set(['python3', 'bash', 'bun']);
const onPath: CommandFinder = (command) => (INSTALLED.has(command) ? { path: `/usr/bin/${command}`, onPath: true } : null);
const base = (): ConvertBase => ({
  cwd: dir,
  env: { PATH: '/usr/bin', HOME: '/home/test', UNSET: undefined },
  warn: (line) => warnings.push(line),
  findCommand: onPath,
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sv-app-config-'));
  await mkdir(join(dir, 'sub'));
  for (const name of ['app.js', 'app.mjs', 'app.cjs', 'worker.py', 'run.sh', 'server', '123.js', 'all.js', 'my.api.js', 'sub/inner.js']) {
    await writeFile(join(dir, name), '// test script\n');
  }
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

afterEach(() => {
  warnings.length = 0;
  cores.count = 4;
});

/** Calls `fn` and returns the SupervisorError it throws. */
function errorOf(fn: () => unknown): SupervisorError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SupervisorError);
    return error as SupervisorError;
  }
  throw new Error('expected a SupervisorError, nothing was thrown');
}

function spec(config: Record<string, unknown>, extra: Partial<ConvertBase> = {}): AppSpec {
  return toAppSpec({ script: 'app.js', ...config } as AppConfig, { ...base(), ...extra });
}

describe('interpreterFor', () => {
  it.each([
    ['app.js', 'node'],
    ['app.mjs', 'node'],
    ['app.cjs', 'node'],
    ['/abs/path/app.js', 'node'],
    ['worker.py', 'python3'],
    ['run.sh', 'bash'],
    ['server', 'none'],
    // TypeScript runs on Node with tsx loaded (it was 'none' before tsx support).
    ['app.ts', 'tsx'],
    ['app.rb', 'none'],
    ['dir.js/binary', 'none'],
  ])('%s → %s', (script, interpreter) => {
    expect(interpreterFor(script)).toBe(interpreter);
  });
});

describe('duration', () => {
  it.each<[number | string | undefined, number]>([
    [undefined, 777],
    [0, 0],
    [1000, 1000],
    ['1000', 1000],
    ['500ms', 500],
    ['5s', 5000],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    [' 5s ', 5000],
    ['5 s', 5000],
    ['0s', 0],
  ])('%j → %i ms', (value, ms) => {
    expect(duration(value, 777, 'app.min_uptime')).toBe(ms);
  });

  it.each<[unknown]>([['5x'], ['-5s'], [-1], [1.5], [''], ['s'], ['5 seconds'], ['1d'], [Number.NaN], [Infinity], [true]])(
    '%j is rejected naming the field',
    (value) => {
      const error = errorOf(() => duration(value as number | string, 0, 'app.min_uptime'));
      expect(error.code).toBe('INVALID_REQUEST');
      expect(error.message).toContain('app.min_uptime');
    },
  );
});

describe('bytes', () => {
  it.each<[number | string | undefined, number]>([
    [undefined, 0],
    [0, 0],
    [1048576, 1048576],
    ['100', 100],
    ['512K', 512 * 1024],
    ['512k', 512 * 1024],
    ['512KB', 512 * 1024],
    ['300M', 300 * 1024 ** 2],
    ['300m', 300 * 1024 ** 2],
    ['1G', 1024 ** 3],
    ['1.5G', 1.5 * 1024 ** 3],
    ['64B', 64],
  ])('%j → %i bytes', (value, n) => {
    expect(bytes(value, 'app.max_memory_restart')).toBe(n);
  });

  it.each<[unknown]>([['300X'], ['-1M'], [-1], [1.5], ['M'], [''], ['1T'], ['lots']])('%j is rejected naming the field', (value) => {
    const error = errorOf(() => bytes(value as number | string, 'app.max_memory_restart'));
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.message).toContain('app.max_memory_restart');
  });
});

describe('echo (a bad value in an error line)', () => {
  const cycle: Record<string, unknown> = {};
  cycle['self'] = cycle;
  it.each<[unknown, string]>([
    ['1K', '"1K"'],
    ['', '""'],
    ['two\nlines', '"two\\nlines"'],
    [-1, '-1'],
    [Number.NaN, 'NaN'],
    [true, 'true'],
    [null, 'null'],
    [[1, 'a'], '[1,"a"]'],
    [{ a: 1 }, '{"a":1}'],
    [10n, '10'],
    [() => 1, 'a function'],
    [undefined, 'undefined'],
    [Symbol('s'), 'Symbol(s)'],
    [cycle, 'an object'],
    ['y'.repeat(100), `"${'y'.repeat(56)}...`],
  ])('%s → %s', (value, shown) => {
    expect(echo(value)).toBe(shown);
  });
});

describe('parseInstances (4 cores)', () => {
  it.each<[number | string, number]>([
    ['max', 4],
    [0, 4],
    ['0', 4],
    [-1, 3],
    ['-1', 3],
    [-3, 1],
    [1, 1],
    [2, 2],
    ['8', 8],
    [1024, 1024],
  ])('%j → %i processes', (value, n) => {
    expect(parseInstances(value, 'app.instances')).toBe(n);
  });

  it.each<[unknown]>([[-4], [-10], [1025], [1.5], ['two'], ['1.5'], ['MAX'], [''], [null]])('%j is rejected', (value) => {
    const error = errorOf(() => parseInstances(value as number | string, 'app.instances'));
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.message).toContain('app.instances');
  });

  it('follows the number of cores', () => {
    cores.count = 1;
    expect(parseInstances('max', 'i')).toBe(1);
    expect(() => parseInstances(-1, 'i')).toThrow(SupervisorError);
    cores.count = 16;
    expect(parseInstances('max', 'i')).toBe(16);
    expect(parseInstances(-1, 'i')).toBe(15);
  });
});

describe('validateAppName', () => {
  it.each(['web', 'api-2', 'my.app', 'svc_1', '@scope', 'a', 'with space', '1st', 'x'.repeat(100)])('%j is valid', (name) => {
    expect(validateAppName(name)).toBe(name);
  });

  it.each<[unknown]>([['123'], ['0'], ['all'], [''], [' leading-space'], ['a/b'], ['a:b'], ['x'.repeat(101)], [42], [null]])('%j is rejected', (name) => {
    const error = errorOf(() => validateAppName(name, 'app.name'));
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.message).toContain('app.name');
  });
});

describe('toAppSpec', () => {
  it('fills in the defaults', () => {
    const s = toAppSpec({ script: 'app.js' }, base());
    expect(s).toEqual({
      name: 'app',
      script: join(dir, 'app.js'),
      args: [],
      cwd: dir,
      env: { PATH: '/usr/bin', HOME: '/home/test' },
      mode: 'fork',
      instances: 1,
      interpreter: 'node',
      interpreterArgs: [],
      balance: APP_DEFAULTS.balance,
      killSignal: APP_DEFAULTS.killSignal,
      killTimeoutMs: APP_DEFAULTS.killTimeoutMs,
      shutdownWithMessage: APP_DEFAULTS.shutdownWithMessage,
      autorestart: APP_DEFAULTS.autorestart,
      cronRestart: null,
      watch: [],
      ignoreWatch: [],
      watchDelayMs: 1000,
      waitReady: APP_DEFAULTS.waitReady,
      listenTimeoutMs: APP_DEFAULTS.listenTimeoutMs,
      minUptimeMs: APP_DEFAULTS.minUptimeMs,
      maxRestarts: APP_DEFAULTS.maxRestarts,
      restartDelayMs: APP_DEFAULTS.restartDelayMs,
      expBackoffRestartDelayMs: APP_DEFAULTS.expBackoffRestartDelayMs,
      backoffCapMs: APP_DEFAULTS.backoffCapMs,
      retryAfterCrashLoop: APP_DEFAULTS.retryAfterCrashLoop,
      stopExitCodes: [],
      maxMemoryRestart: APP_DEFAULTS.maxMemoryRestart,
      queueSize: APP_DEFAULTS.queueSize,
      queueTimeoutMs: APP_DEFAULTS.queueTimeoutMs,
      drainIdleMs: APP_DEFAULTS.drainIdleMs,
      drainTimeoutMs: APP_DEFAULTS.drainTimeoutMs,
      logs: APP_DEFAULTS.logs,
      instanceVar: 'NODE_APP_INSTANCE',
      incrementVar: null,
      namespace: 'default',
    } satisfies AppSpec);
    expect(warnings).toEqual([]);
  });

  it('produces a spec the daemon accepts unchanged', () => {
    for (const config of [
      { script: 'app.js' },
      { script: 'app.js', instances: 'max', balance: 'sticky-ip', max_memory_restart: '300M', stop_exit_codes: [0, 3] },
      { script: 'worker.py', args: '--port 80', env: { N: 1, FLAG: true } },
      { script: 'server', interpreter: 'none', kill_signal: 'sigterm', min_uptime: '2s' },
    ] as AppConfig[]) {
      const s = toAppSpec(config, base());
      expect(validateAppSpec(JSON.parse(JSON.stringify(s)))).toEqual(s);
    }
  });

  it('maps every option', () => {
    const s = spec({
      name: 'web',
      script: 'inner.js',
      cwd: 'sub',
      args: ['--port', '80'],
      env: { PORT: 8080, DEBUG: true, PATH: '/opt/bin' },
      instances: 2,
      interpreter_args: '--max-old-space-size=512 --enable-source-maps',
      balance: 'least-connections',
      kill_signal: 'sigterm',
      kill_timeout: '10s',
      shutdown_with_message: true,
      autorestart: false,
      wait_ready: true,
      listen_timeout: '3s',
      min_uptime: '2s',
      max_restarts: 5,
      restart_delay: 250,
      exp_backoff_restart_delay: '200ms',
      backoff_cap: '1m',
      retry_after_crash_loop: false,
      stop_exit_codes: 3,
      max_memory_restart: '512K',
      queue_size: 10,
      queue_timeout: '1s',
      drain_idle_timeout: '500ms',
    });
    expect(s).toMatchObject({
      name: 'web',
      script: join(dir, 'sub', 'inner.js'),
      cwd: join(dir, 'sub'),
      args: ['--port', '80'],
      env: { PATH: '/opt/bin', HOME: '/home/test', PORT: '8080', DEBUG: 'true' },
      mode: 'cluster',
      instances: 2,
      interpreter: 'node',
      interpreterArgs: ['--max-old-space-size=512', '--enable-source-maps'],
      balance: 'least-connections',
      killSignal: 'SIGTERM',
      killTimeoutMs: 10_000,
      shutdownWithMessage: true,
      autorestart: false,
      waitReady: true,
      listenTimeoutMs: 3000,
      minUptimeMs: 2000,
      maxRestarts: 5,
      restartDelayMs: 250,
      expBackoffRestartDelayMs: 200,
      backoffCapMs: 60_000,
      retryAfterCrashLoop: false,
      stopExitCodes: [3],
      maxMemoryRestart: 512 * 1024,
      queueSize: 10,
      queueTimeoutMs: 1000,
      drainIdleMs: 500,
    });
  });

  it.each<[string, string[]]>([
    ['a b  c', ['a', 'b', 'c']],
    ['', []],
  ])('args string %j is split on spaces', (args, list) => {
    expect(spec({ args }).args).toEqual(list);
  });

  it('node_args is an alias of interpreter_args', () => {
    expect(spec({ node_args: '--inspect' }).interpreterArgs).toEqual(['--inspect']);
    expect(spec({ node_args: '--a', interpreter_args: ['--b'] }).interpreterArgs).toEqual(['--b']);
  });

  it('an absolute script path ignores cwd', () => {
    const s = spec({ script: join(dir, 'app.js'), cwd: 'sub' });
    expect(s.script).toBe(join(dir, 'app.js'));
    expect(s.cwd).toBe(join(dir, 'sub'));
  });

  describe('interpreter and mode', () => {
    it.each<[Partial<AppConfig>, string, AppSpec['mode'], number]>([
      // [config, interpreter, mode, instances]
      [{ script: 'app.js' }, 'node', 'fork', 1],
      [{ script: 'app.js', instances: 4 }, 'node', 'cluster', 4],
      [{ script: 'app.js', instances: 1 }, 'node', 'cluster', 1],
      [{ script: 'app.mjs', instances: 'max' }, 'node', 'cluster', 4],
      [{ script: 'app.cjs', instances: -1 }, 'node', 'cluster', 3],
      [{ script: 'app.js', instances: 0 }, 'node', 'cluster', 4],
      [{ script: 'app.js', instances: 4, exec_mode: 'fork' }, 'node', 'fork', 4],
      [{ script: 'app.js', instances: 4, exec_mode: 'fork_mode' }, 'node', 'fork', 4],
      [{ script: 'app.js', exec_mode: 'cluster' }, 'node', 'cluster', 1],
      [{ script: 'app.js', exec_mode: 'cluster_mode' }, 'node', 'cluster', 1],
      [{ script: 'worker.py' }, 'python3', 'fork', 1],
      [{ script: 'worker.py', instances: 3 }, 'python3', 'fork', 3],
      [{ script: 'run.sh' }, 'bash', 'fork', 1],
      [{ script: 'run.sh', instances: 2 }, 'bash', 'fork', 2],
      [{ script: 'server' }, 'none', 'fork', 1],
      [{ script: 'server', interpreter: 'node', instances: 2 }, 'node', 'cluster', 2],
      [{ script: 'app.js', interpreter: 'bun' }, 'bun', 'fork', 1],
      [{ script: 'app.js', interpreter: 'bun', instances: 2 }, 'bun', 'fork', 2],
    ])('%j → %s, %s × %i', (config, interpreter, mode, instances) => {
      const s = spec(config);
      expect([s.interpreter, s.mode, s.instances]).toEqual([interpreter, mode, instances]);
    });

    it.each<[Partial<AppConfig>, string]>([
      [{ script: 'worker.py', exec_mode: 'cluster' }, 'python3'],
      [{ script: 'run.sh', exec_mode: 'cluster', instances: 2 }, 'bash'],
      [{ script: 'server', exec_mode: 'cluster' }, 'none'],
      [{ script: 'app.js', interpreter: 'bun', exec_mode: 'cluster' }, 'bun'],
    ])('cluster mode with a non-node interpreter is rejected: %j', (config, interpreter) => {
      const error = errorOf(() => spec(config));
      expect(error.code).toBe('INVALID_REQUEST');
      expect(error.message).toContain('cluster mode runs Node scripts only');
      expect(error.message).toContain(interpreter);
    });
  });

  describe('rejections', () => {
    it.each<[string, Record<string, unknown>, string]>([
      ['unknown option (camelCase spelling)', { minUptime: 5 }, 'unknown option "minUptime"'],
      ['bad exec_mode', { exec_mode: 'thread' }, 'app.exec_mode must be fork or cluster'],
      ['bad balance', { balance: 'random' }, 'app.balance must be one of round-robin, least-connections, sticky-ip'],
      ['bad kill_signal', { kill_signal: 'TERM' }, 'app.kill_signal must be a signal name such as "SIGTERM" (got "TERM")'],
      ['bad duration', { min_uptime: '5 seconds' }, 'app.min_uptime'],
      ['negative duration', { kill_timeout: -1 }, 'app.kill_timeout'],
      ['bad size', { max_memory_restart: '1T' }, 'app.max_memory_restart'],
      ['bad instances', { instances: 'many' }, 'app.instances'],
      ['too many instances', { instances: 5000 }, 'app.instances'],
      ['all-digit name', { name: '123' }, 'app.name "123" is not a valid app name'],
      ['the name "all"', { name: 'all' }, 'app.name "all" is not a valid app name'],
      ['all-digit name from the script file name', { script: '123.js' }, 'app.name "123"'],
      ['"all" from the script file name', { script: 'all.js' }, 'app.name "all"'],
      ['empty script', { script: '' }, '"script" is required'],
      ['script not a string', { script: 42 }, '"script" is required'],
    ])('%s', (_label, config, message) => {
      const error = errorOf(() => spec(config));
      expect(error.code).toBe('INVALID_REQUEST');
      expect(error.message).toContain(message);
    });

    // A config file is user-written JavaScript or JSON: a wrong type must give the same one clear
    // INVALID_REQUEST line as a wrong value, not a TypeError from deep inside toAppSpec.
    it.each<[string, Record<string, unknown>, string]>([
      ['exec_mode not a string', { exec_mode: 1 }, 'app.exec_mode'],
      ['kill_signal not a string', { kill_signal: 15 }, 'app.kill_signal'],
      ['args neither a string nor a list', { args: 5 }, 'app.args'],
      ['cwd not a string', { cwd: 5 }, 'app.cwd'],
    ])('wrong type: %s', (_label, config, field) => {
      const error = errorOf(() => spec(config));
      expect(error.code).toBe('INVALID_REQUEST');
      expect(error.message).toContain(field);
    });

    // One format for every bad value a user wrote: the option as written, what it must be, and
    // the value itself (src/shared/validate.ts, invalidValue), as the environment variables' errors.
    it.each<[string, Record<string, unknown>, string]>([
      ['a size', { max_memory_restart: '1T' }, 'app.max_memory_restart must be a size such as "300M" or "1G" (got "1T")'],
      ['a size past any integer', { max_memory_restart: '99999999999G' }, 'app.max_memory_restart must be a size such as "300M" or "1G" (got "99999999999G")'],
      ['a duration', { min_uptime: '5 seconds' }, 'app.min_uptime must be a duration such as 5000, "500ms", "5s" or "2m", at most 24h (got "5 seconds")'],
      ['a duration past its range', { kill_timeout: '25h' }, 'app.kill_timeout must be a duration such as 5000, "500ms", "5s" or "2m", at most 24h (got "25h")'],
      ['a count past its range', { max_restarts: 2_000_000 }, 'app.max_restarts must be a whole number from 0 to 1000000 (got 2000000)'],
      ['a count as a string', { queue_size: '5' }, 'app.queue_size must be a whole number from 0 to 1000000 (got "5")'],
      ['instances', { instances: 'many' }, 'app.instances must be a number or "max" (got "many")'],
      ['too many instances', { instances: 5000 }, 'app.instances must come to 1..1024 processes (got 5000)'],
      ['a flag', { autorestart: 'yes' }, 'app.autorestart must be true or false (got "yes")'],
      ['an alias, named as written', { exec_interpreter: '' }, 'app.exec_interpreter must be a non-empty string (got "")'],
      ['exec_mode', { exec_mode: 1 }, 'app.exec_mode must be fork or cluster (got 1)'],
      ['a log rate', { log_pace_rate: '1K' }, 'app.log_pace_rate must be 0 (never pace) or at least 64K (got "1K")'],
      ['a log rate of the wrong type', { log_pace_rate: { rate: 1 } }, 'app.log_pace_rate must be a rate such as "8M" (bytes per second), or 0 to never pace (got {"rate":1})'],
      ['a log size', { log_max_size: 100 }, 'app.log_max_size must be 0 (never rotate) or at least 64K (got 100)'],
      ['a long value, cut', { log_type: 'x'.repeat(500) }, `app.log_type must be "json" or "raw" (got "${'x'.repeat(56)}...)`],
    ])('a bad value names the option and echoes the value: %s', (_label, config, message) => {
      const error = errorOf(() => spec(config));
      expect(error.code).toBe('INVALID_REQUEST');
      expect(error.message).toBe(message);
    });

    it('a config-file rate and the environment variable word the same problem the same way', () => {
      const fromFile = errorOf(() => spec({ log_pace_rate: '1K' })).message;
      const fromEnv = errorOf(() => logDefaultsFromEnv({ SUPERVISOR_LOG_PACE_RATE: '1K' })).message;
      expect(fromFile.replace('app.log_pace_rate', 'X')).toBe(fromEnv.replace('SUPERVISOR_LOG_PACE_RATE', 'X'));
    });

    it('an unknown option far from any known one is an error under --strict', () => {
      const error = errorOf(() => spec({ foo: 1 }, { strict: true }));
      expect(error.code).toBe('INVALID_REQUEST');
      expect(error.message).toContain('unknown option "foo"');
    });

    it('a config that is not an object is rejected', () => {
      for (const config of [null, 'app.js', ['app.js'], 42]) {
        const error = errorOf(() => toAppSpec(config as unknown as AppConfig, base(), 'apps[2]'));
        expect(error.code).toBe('INVALID_REQUEST');
        expect(error.message).toBe('apps[2] must be an object');
      }
    });

    it('messages name the app via `where`', () => {
      const error = errorOf(() => toAppSpec({ script: 'app.js', bogus: true } as unknown as AppConfig, { ...base(), strict: true }, 'apps[1]'));
      expect(error.message).toBe('apps[1]: unknown option "bogus"');
    });

    it('a missing script is a FAILED SupervisorError naming the path', () => {
      const error = errorOf(() => spec({ script: 'nope.js' }));
      expect(error.code).toBe('FAILED');
      expect(error.message).toContain(join(dir, 'nope.js'));
    });

    it('a script missing relative to cwd is FAILED', () => {
      const error = errorOf(() => spec({ script: 'app.js', cwd: 'sub' }));
      expect(error.code).toBe('FAILED');
      expect(error.message).toContain(join(dir, 'sub', 'app.js'));
    });
  });

  describe('pm2-only options', () => {
    // namespace, env_<name>, the log options, cron_restart and watch were on this list; they
    // are honoured now. (pid_file is unsupported for good: its warning gives the reason.)
    it('several pm2 options give one warning each', () => {
      spec({ watch_options: {}, pid_file: 'x.pid', vizion: false });
      expect(warnings).toHaveLength(3);
      expect(warnings.join('\n')).toMatch(/"watch_options"[\s\S]*"pid_file"[\s\S]*"vizion"/);
    });

    it('without a warn callback they are still ignored, silently', () => {
      expect(() => toAppSpec({ script: 'app.js', vizion: true } as unknown as AppConfig, { cwd: dir, env: {} })).not.toThrow();
    });
  });

  describe('cron_restart and watch', () => {
    it('cron_restart (or cron) is kept as written; 0 is none, as in pm2', () => {
      expect(spec({ cron_restart: ' 0 3 * * * ' }).cronRestart).toBe('0 3 * * *');
      expect(spec({ cron: '*/5 * * * * *' }).cronRestart).toBe('*/5 * * * * *');
      expect(spec({ cron_restart: 0 }).cronRestart).toBeNull();
      expect(spec({ cron_restart: '0' }).cronRestart).toBeNull();
      expect(spec({}).cronRestart).toBeNull();
      expect(() => spec({ cron_restart: true })).toThrow('app.cron_restart must be a cron expression');
      expect(warnings).toEqual([]);
    });

    it('watch: true and [] watch cwd; a path or paths are kept relative; false is off', () => {
      expect(spec({ watch: true }).watch).toEqual(['.']);
      expect(spec({ watch: [] }).watch).toEqual(['.']);
      expect(spec({ watch: 'src' }).watch).toEqual(['src']);
      expect(spec({ watch: ['src', 'lib'] }).watch).toEqual(['src', 'lib']);
      expect(spec({ watch: false }).watch).toEqual([]);
      expect(spec({}).watch).toEqual([]);
      expect(() => spec({ watch: [1] })).toThrow('app.watch must be true, false, a path or an array of paths');
    });

    it('ignore_watch is a list of globs; watch_delay a duration (1 s by default)', () => {
      expect(spec({ ignore_watch: 'tmp *.log' }).ignoreWatch).toEqual(['tmp', '*.log']);
      expect(spec({ ignore_watch: ['client/img', '\\.git'] }).ignoreWatch).toEqual(['client/img', '\\.git']);
      expect(spec({ watch_delay: 250 }).watchDelayMs).toBe(250);
      expect(spec({ watch_delay: '2s' }).watchDelayMs).toBe(2000);
      expect(spec({}).watchDelayMs).toBe(1000);
    });
  });

  describe("pm2's log options", () => {
    it('turn into the log spec: paths against cwd, /dev/null and NULL, time, json, rotation, pacing', () => {
      const s = spec({
        out_file: 'logs/out.txt',
        error_file: '/dev/null',
        log_file: true,
        merge_logs: false,
        time: true,
        log_type: 'json',
        log_max_size: '1M',
        log_retain: '3',
        log_compress: true,
        log_pace_rate: '16M/s',
      });
      expect(warnings).toEqual([]);
      expect(s.logs).toEqual({
        outFile: join(dir, 'logs', 'out.txt'),
        errFile: '/dev/null',
        logFile: true,
        mergeLogs: false,
        dateFormat: 'YYYY-MM-DDTHH:mm:ss',
        logType: 'json',
        maxSize: 1024 * 1024,
        retain: 3,
        compress: true,
        paceRate: 16 * 1024 * 1024,
      });
      expect(spec({ err_file: 'NULL', log_date_format: 'HH:mm', time: true, combine_logs: false }).logs).toMatchObject({ errFile: '/dev/null', dateFormat: 'HH:mm', mergeLogs: false });
      expect(spec({}).logs).toEqual(APP_DEFAULTS.logs);
    });

    it.each<[Record<string, unknown>, RegExp]>([
      [{ out_file: '' }, /out_file must be a file path/],
      [{ log_type: 'xml' }, /log_type must be "json" or "raw"/],
      [{ log_date_format: '[oops' }, /log_date_format has an unclosed/],
      [{ log_max_size: '1K' }, /log_max_size must be 0 \(never rotate\) or at least 64K \(got "1K"\)$/],
      [{ log_max_size: 'big' }, /log_max_size must be a size .* \(got "big"\)$/],
      [{ log_pace_rate: '1K' }, /log_pace_rate must be 0 \(never pace\) or at least 64K \(got "1K"\)$/],
      [{ log_pace_rate: '8M/min' }, /log_pace_rate must be a rate .* \(got "8M\/min"\)$/],
      [{ log_retain: -1 }, /log_retain must be a whole number from 0 to 1000 \(got -1\)$/],
      [{ time: 'yes' }, /time must be true or false/],
      [{ error_file: 'a', err_file: 'b' }, /same option/],
    ])('%j is refused: %s', (config, message) => {
      expect(errorOf(() => spec(config as Partial<AppConfig>)).message).toMatch(message);
    });
  });

  describe('names', () => {
    it.each<[Partial<AppConfig>, string]>([
      [{ script: 'app.js' }, 'app'],
      [{ script: 'my.api.js' }, 'my.api'],
      [{ script: 'server' }, 'server'],
      [{ script: 'worker.py' }, 'worker'],
      [{ script: 'app.js', name: 'web-1' }, 'web-1'],
      [{ script: '123.js', name: 'numbers' }, 'numbers'],
    ])('%j → name %s', (config, name) => {
      expect(spec(config).name).toBe(name);
    });
  });

  describe('env', () => {
    it('merges the app env over the base env, as strings, dropping undefined', () => {
      const s = spec({ env: { PORT: 3000, ON: false, HOME: '/srv' } });
      expect(s.env).toEqual({ PATH: '/usr/bin', HOME: '/srv', PORT: '3000', ON: 'false' });
      expect('UNSET' in s.env).toBe(false);
    });
  });

  describe('stop_exit_codes', () => {
    it.each<[number | number[] | undefined, number[]]>([
      [undefined, []],
      [0, [0]],
      [[0, 2, 3], [0, 2, 3]],
      [[], []],
    ])('%j → %j', (value, codes) => {
      expect(spec(value === undefined ? {} : { stop_exit_codes: value }).stopExitCodes).toEqual(codes);
    });
  });
});

describe('unknown keys', () => {
  it.each<[string, string]>([
    ['instance', 'instances'],
    ['minUptime', 'min_uptime'],
    ['kill_timout', 'kill_timeout'],
    ['max_restart', 'max_restarts'],
    ['KILL-SIGNAL', 'kill_signal'],
    ['autorestar', 'autorestart'],
    ['nodeargs', 'node_args'],
    ['drain_timout', 'drain_timeout'],
  ])('%s is an error that names %s', (key, meant) => {
    const error = errorOf(() => spec({ [key]: 1 }));
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.message).toBe(`app: unknown option "${key}" (did you mean "${meant}"?)`);
  });

  it('a key close to nothing is warned about and ignored, as pm2 does', () => {
    expect(spec({ colour: 'blue', deploy_notes: 'x' })).toEqual(spec({}));
    expect(warnings).toEqual(['app: ignoring unknown option "colour"', 'app: ignoring unknown option "deploy_notes"']);
  });

  it('pm2 options that stay unsupported are warned about with the reason', () => {
    spec({ pid_file: '/tmp/x.pid', uid: 'www' });
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^app: ignoring pm2 option "pid_file" \(not supported: .+\)$/);
    // uid is two edits from cwd: pm2's own options are never taken for typos.
    expect(warnings[1]).toMatch(/^app: ignoring pm2 option "uid"/);
  });

  it.each<[Record<string, unknown>, RegExp]>([
    [{ colour: 'blue' }, /^app: unknown option "colour"$/],
    [{ pid_file: 'x' }, /^app: pm2 option "pid_file" is not supported \(.+\)$/],
    [{ watch_options: {} }, /^app: pm2 option "watch_options" is not supported \(.+\)$/],
  ])('--strict makes %j an error', (config, message) => {
    const error = errorOf(() => spec(config, { strict: true }));
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.message).toMatch(message);
    expect(warnings).toEqual([]);
  });

  it('pm2 aliases of known options are read', () => {
    expect(spec({ exec_interpreter: 'python3' }).interpreter).toBe('python3');
    expect(spec({ interpreterArgs: ['--x'] }).interpreterArgs).toEqual(['--x']);
  });
});

describe('--env <name>', () => {
  it('adds env_<name> over env, over the start environment', () => {
    const s = spec({ env: { A: 'env', B: 'env' }, env_production: { B: 'prod', C: 3 }, env_staging: { B: 'staging' } }, { envName: 'production' });
    expect(s.env).toMatchObject({ PATH: '/usr/bin', A: 'env', B: 'prod', C: '3' });
    expect(warnings).toEqual([]);
  });

  it('without --env, env_<name> keys change nothing and say nothing', () => {
    expect(spec({ env: { A: '1' }, env_production: { A: '2' } }).env['A']).toBe('1');
    expect(warnings).toEqual([]);
  });

  it('an app without env_<name> keeps env, with a warning (as pm2)', () => {
    expect(spec({ env: { A: '1' } }, { envName: 'production' }).env['A']).toBe('1');
    expect(warnings).toEqual(['app: no "env_production" for --env production; using "env" alone']);
  });

  it('env values that are objects become JSON, as in pm2', () => {
    expect(spec({ env: { CONF: { a: 1 } } }).env['CONF']).toBe('{"a":1}');
  });

  it('env_<name> that is not an object is refused', () => {
    expect(errorOf(() => spec({ env_production: 'x' }, { envName: 'production' })).message).toContain('app.env_production must be an object');
  });
});

describe('options added with the schema', () => {
  it('reads drain_timeout, instance_var, increment_var and namespace', () => {
    expect(spec({ drain_timeout: '5s', instance_var: 'INSTANCE_ID', increment_var: 'PORT', namespace: 'api' })).toMatchObject({
      drainTimeoutMs: 5000,
      instanceVar: 'INSTANCE_ID',
      incrementVar: 'PORT',
      namespace: 'api',
    });
  });

  it.each<[Record<string, unknown>, string]>([
    [{ drain_timeout: '5 seconds' }, 'app.drain_timeout'],
    [{ instance_var: 3 }, 'app.instance_var'],
    [{ increment_var: '' }, 'app.increment_var'],
    [{ namespace: true }, 'app.namespace'],
  ])('rejects %j', (config, field) => {
    const error = errorOf(() => spec(config));
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.message).toContain(field);
  });

  it('the daemon refuses variable names a shell would not take', () => {
    for (const [key, value] of [['instance_var', 'MY-VAR'], ['increment_var', '1PORT'], ['namespace', 'all']] as const) {
      const s = JSON.parse(JSON.stringify(spec({ [key]: value }))) as AppSpec;
      expect(() => validateAppSpec(s)).toThrow(SupervisorError);
    }
  });
});

describe('commands and interpreters', () => {
  const found: CommandFinder = (command) =>
    command === 'npm' ? { path: '/usr/bin/npm', onPath: true } : command === 'next' ? { path: join(dir, 'node_modules', '.bin', 'next'), onPath: false } : command === 'ts-node' ? { path: join(dir, 'node_modules', '.bin', 'ts-node'), onPath: false } : null;

  it('a script that is not a file is a command found on PATH, run by itself', () => {
    const s = spec({ script: 'npm', args: 'start' }, { findCommand: found });
    expect(s).toMatchObject({ script: '/usr/bin/npm', args: ['start'], interpreter: 'none', mode: 'fork', name: 'npm' });
  });

  it('or in node_modules/.bin', () => {
    expect(spec({ script: 'next', args: ['start'] }, { findCommand: found }).script).toBe(join(dir, 'node_modules', '.bin', 'next'));
  });

  it('a missing command is FAILED naming the path and the lookup', () => {
    const error = errorOf(() => spec({ script: 'nosuchcommand' }, { findCommand: found }));
    expect(error.code).toBe('FAILED');
    expect(error.message).toBe(`script ${join(dir, 'nosuchcommand')} does not exist, and no command "nosuchcommand" is in node_modules/.bin or on PATH`);
  });

  it('a missing interpreter is FAILED, as a missing script', () => {
    const error = errorOf(() => spec({ interpreter: 'nosuchinterpreter' }, { findCommand: found }));
    expect(error.code).toBe('FAILED');
    expect(error.message).toBe('interpreter nosuchinterpreter does not exist (not a file, not in node_modules/.bin or on PATH)');
  });

  it('an interpreter on PATH keeps its name; one from node_modules/.bin gets its path', () => {
    expect(spec({ script: 'worker.py' }).interpreter).toBe('python3');
    expect(spec({ interpreter: 'ts-node' }, { findCommand: found }).interpreter).toBe(join(dir, 'node_modules', '.bin', 'ts-node'));
  });

  it('-i N with an interpreter other than Node: N fork-mode processes, with a warning', () => {
    const s = spec({ script: 'worker.py', instances: 3 });
    expect([s.mode, s.instances]).toEqual(['fork', 3]);
    expect(warnings).toEqual(['app: worker.py runs with python3, not Node: 3 separate fork-mode processes, which share no port (cluster mode needs Node)']);
  });

  it('an explicit exec_mode fork says nothing', () => {
    spec({ script: 'worker.py', instances: 3, exec_mode: 'fork' });
    expect(warnings).toEqual([]);
  });
});

describe('TypeScript through tsx', () => {
  let tsDir: string;
  beforeAll(async () => {
    tsDir = await mkdtemp(join(tmpdir(), 'sv-tsx-'));
    await mkdir(join(tsDir, 'node_modules', 'tsx', 'dist'), { recursive: true });
    await writeFile(join(tsDir, 'node_modules', 'tsx', 'package.json'), JSON.stringify({ name: 'tsx', exports: { '.': './dist/loader.mjs' } }));
    await writeFile(join(tsDir, 'node_modules', 'tsx', 'dist', 'loader.mjs'), '');
    await writeFile(join(tsDir, 'app.ts'), 'export {};\n');
  });
  afterAll(async () => {
    await rm(tsDir, { recursive: true, force: true });
  });
  const none: CommandFinder = () => null;

  it('a .ts script runs on Node with the app\'s tsx loaded, and -i means cluster mode', () => {
    const s = toAppSpec({ script: 'app.ts', instances: 2, node_args: '--enable-source-maps' }, { cwd: tsDir, env: {}, findCommand: none });
    expect(s).toMatchObject({ interpreter: 'node', mode: 'cluster', instances: 2, name: 'app' });
    expect(s.interpreterArgs).toEqual(['--enable-source-maps', '--import', `file://${join(tsDir, 'node_modules', 'tsx', 'dist', 'loader.mjs')}`]);
  });

  it('--interpreter tsx is the same', () => {
    const s = toAppSpec({ script: 'app.ts', interpreter: 'tsx' }, { cwd: tsDir, env: {}, findCommand: none });
    expect(s.interpreter).toBe('node');
  });

  it('without tsx anywhere it is FAILED at start, not a crash loop', () => {
    const error = errorOf(() => toAppSpec({ script: join(dir, 'app.js'), interpreter: 'tsx' }, { cwd: '/', env: {}, findCommand: none }));
    expect(error.code).toBe('FAILED');
    expect(error.message).toMatch(/^interpreter tsx does not exist/);
  });
});
