import { describe, expect, it } from 'vitest';
import { APP_DEFAULTS, type AppSpec } from '../../src/shared/app-spec.js';
import { validateAppName, validateAppSpec } from '../../src/shared/app-spec-validate.js';
import { SupervisorError } from '../../src/shared/errors.js';
import { frameId, isMethod, parseRequest } from '../../src/shared/protocol-validate.js';
import { PROTOCOL_VERSION, type Method, type Params } from '../../src/shared/protocol.js';

function validSpec(overrides: Partial<Record<keyof AppSpec, unknown>> = {}): Record<string, unknown> {
  const spec: AppSpec = {
    ...APP_DEFAULTS,
    name: 'web',
    script: '/srv/app/server.js',
    cwd: '/srv/app',
    env: { PORT: '3000', NODE_ENV: 'production' },
    interpreter: 'node',
  };
  return { ...spec, ...overrides };
}

/** Runs fn, expecting SupervisorError(INVALID_REQUEST) whose message matches `message`. */
function expectInvalid(fn: () => unknown, message: RegExp | string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, 'expected an error').toBeInstanceOf(SupervisorError);
  const error = thrown as SupervisorError;
  expect(error.code).toBe('INVALID_REQUEST');
  if (typeof message === 'string') expect(error.message).toContain(message);
  else expect(error.message).toMatch(message);
}

const frame = (value: unknown): string => JSON.stringify(value);

/** A valid params object for every method; a method added without one here does not compile. */
const VALID_PARAMS: { [M in Method]: Params<M> } = {
  hello: { protocol: PROTOCOL_VERSION },
  ping: {},
  start: { apps: [validSpec() as unknown as AppSpec] },
  list: {},
  stop: { target: 'web' },
  restart: { target: '3' },
  reload: { target: 'all' },
  delete: { target: 'web' },
  reset: { target: 'web' },
  describe: { target: 'web' },
  scale: { name: 'web', count: -2, relative: true },
  signal: { target: 'web', signal: 'SIGUSR2' },
  send: { target: 'web', data: { nested: [1, 'two', null, true] } },
  sendData: { id: 3, packet: { id: 3, type: 'process:msg', topic: 'greeting', data: { hello: [1] }, extra: 'kept' } },
  flush: { target: 'all' },
  'reload-logs': {},
  save: {},
  resurrect: {},
  subscribe: { target: 'all', logs: true, events: false, messages: true },
  kill: {},
  check: {},
  update: { apps: [validSpec() as unknown as AppSpec], how: 'reload' },
  watch: { target: 'web', watch: 'toggle' },
};

describe('parseRequest: valid frames', () => {
  for (const method of Object.keys(VALID_PARAMS) as Method[]) {
    it(`accepts ${method}`, () => {
      const params = VALID_PARAMS[method];
      const request = parseRequest(frame({ id: 7, method, params }));
      expect(request.id).toBe(7);
      expect(request.method).toBe(method);
      expect(request.params).toEqual(params);
      expect(isMethod(method)).toBe(true);
    });
  }

  it('reads a subscribe without messages as messages: false (clients before launchBus)', () => {
    expect(parseRequest(frame({ id: 1, method: 'subscribe', params: { target: 'all', logs: true, events: true } })).params).toEqual({
      target: 'all',
      logs: true,
      events: true,
      messages: false,
    });
  });

  it("sets sendData's packet.id to the process id, as pm2 does", () => {
    const request = parseRequest(frame({ id: 1, method: 'sendData', params: { id: 4, packet: { id: 9, type: 'process:msg', topic: true, data: 0 } } }));
    expect(request.params).toEqual({ id: 4, packet: { id: 4, type: 'process:msg', topic: true, data: 0 } });
  });

  it('treats missing params as {} for methods without parameters', () => {
    for (const method of ['ping', 'list', 'save', 'resurrect', 'kill'] as const) {
      expect(parseRequest(frame({ id: 1, method }))).toEqual({ id: 1, method, params: {} });
    }
  });

  it('accepts id 0 and negative ids, and send with null data', () => {
    expect(parseRequest(frame({ id: 0, method: 'ping', params: {} })).id).toBe(0);
    expect(parseRequest(frame({ id: -5, method: 'ping', params: {} })).id).toBe(-5);
    expect(parseRequest(frame({ id: 1, method: 'send', params: { target: 'x', data: null } })).params).toEqual({ target: 'x', data: null });
  });

  it('drops unknown parameters instead of passing them on', () => {
    const request = parseRequest(frame({ id: 1, method: 'stop', params: { target: 'web', force: true } }));
    expect(request.params).toEqual({ target: 'web' });
  });

  it('validates and normalises the app specs of start', () => {
    const spec = validSpec({ extra: 'ignored' } as never);
    const request = parseRequest(frame({ id: 1, method: 'start', params: { apps: [spec] } }));
    const [app] = (request.params as Params<'start'>).apps;
    expect(app).toEqual(validSpec());
    expect(app).not.toHaveProperty('extra');
  });
});

describe('parseRequest: bad frames', () => {
  const cases: [string, string, RegExp | string][] = [
    ['not JSON', '{"id": 1, "method": ', 'not valid JSON'],
    ['empty text', '', 'not valid JSON'],
    ['a JSON array', frame([1, 'ping']), 'frame must be an object'],
    ['JSON null', 'null', 'frame must be an object'],
    ['a JSON string', frame('ping'), 'frame must be an object'],
    ['a JSON number', '42', 'frame must be an object'],
    ['no id', frame({ method: 'ping', params: {} }), 'frame.id'],
    ['a string id', frame({ id: '1', method: 'ping', params: {} }), 'frame.id'],
    ['a fractional id', frame({ id: 1.5, method: 'ping', params: {} }), 'frame.id'],
    ['an unsafe id', frame({ id: 2 ** 60, method: 'ping', params: {} }), 'frame.id'],
    ['no method', frame({ id: 1, params: {} }), 'unknown method'],
    ['an unknown method', frame({ id: 1, method: 'frobnicate', params: {} }), 'unknown method "frobnicate"'],
    ['a prototype key as method', frame({ id: 1, method: 'toString', params: {} }), 'unknown method "toString"'],
    ['__proto__ as method', frame({ id: 1, method: '__proto__', params: {} }), 'unknown method'],
    ['a method of the wrong type', frame({ id: 1, method: 7, params: {} }), 'unknown method'],
    ['array params', frame({ id: 1, method: 'ping', params: [] }), 'params must be an object'],
    ['null params', frame({ id: 1, method: 'list', params: null }), 'params must be an object'],
    ['string params', frame({ id: 1, method: 'stop', params: 'web' }), 'params must be an object'],
    ['hello without protocol', frame({ id: 1, method: 'hello', params: {} }), 'params.protocol'],
    ['hello with a string protocol', frame({ id: 1, method: 'hello', params: { protocol: '1' } }), 'params.protocol'],
    ['hello with a fractional protocol', frame({ id: 1, method: 'hello', params: { protocol: 1.5 } }), 'params.protocol'],
    ['hello with a negative protocol', frame({ id: 1, method: 'hello', params: { protocol: -1 } }), 'params.protocol'],
    ['stop without target', frame({ id: 1, method: 'stop', params: {} }), 'params.target must be a string'],
    ['stop with a numeric target', frame({ id: 1, method: 'stop', params: { target: 3 } }), 'params.target must be a string'],
    ['restart with an empty target', frame({ id: 1, method: 'restart', params: { target: '' } }), 'params.target must not be empty'],
    ['delete with a huge target', frame({ id: 1, method: 'delete', params: { target: 'x'.repeat(201) } }), 'params.target is too long'],
    ['describe with an array target', frame({ id: 1, method: 'describe', params: { target: ['web'] } }), 'params.target'],
    ['reload with a null target', frame({ id: 1, method: 'reload', params: { target: null } }), 'params.target'],
    ['flush without target', frame({ id: 1, method: 'flush', params: {} }), 'params.target'],
    ['start without apps', frame({ id: 1, method: 'start', params: {} }), 'params.apps must be a non-empty array'],
    ['start with no apps', frame({ id: 1, method: 'start', params: { apps: [] } }), 'params.apps must be a non-empty array'],
    ['start with an object for apps', frame({ id: 1, method: 'start', params: { apps: validSpec() } }), 'params.apps'],
    ['start with a bad app', frame({ id: 1, method: 'start', params: { apps: [validSpec(), validSpec({ script: 'relative.js' })] } }), 'apps[1].script must be an absolute path'],
    ['scale without name', frame({ id: 1, method: 'scale', params: { count: 2, relative: false } }), 'params.name'],
    ['scale with "all"', frame({ id: 1, method: 'scale', params: { name: 'all', count: 2, relative: false } }), 'params.name'],
    ['scale with a string count', frame({ id: 1, method: 'scale', params: { name: 'web', count: '2', relative: false } }), 'params.count'],
    ['scale with a huge count', frame({ id: 1, method: 'scale', params: { name: 'web', count: 5000, relative: false } }), 'params.count'],
    ['scale with a fractional count', frame({ id: 1, method: 'scale', params: { name: 'web', count: 1.5, relative: false } }), 'params.count'],
    ['scale with a string relative', frame({ id: 1, method: 'scale', params: { name: 'web', count: 2, relative: 'no' } }), 'params.relative'],
    ['signal without signal', frame({ id: 1, method: 'signal', params: { target: 'web' } }), 'params.signal'],
    ['signal with a numeric signal', frame({ id: 1, method: 'signal', params: { target: 'web', signal: 9 } }), 'params.signal'],
    ['signal with a long signal', frame({ id: 1, method: 'signal', params: { target: 'web', signal: 'SIG'.repeat(10) } }), 'params.signal'],
    ['signal without target', frame({ id: 1, method: 'signal', params: { signal: 'SIGUSR2' } }), 'params.target'],
    ['send without data', frame({ id: 1, method: 'send', params: { target: 'web' } }), 'params.data'],
    ['send without target', frame({ id: 1, method: 'send', params: { data: 1 } }), 'params.target'],
    ['subscribe with a string logs', frame({ id: 1, method: 'subscribe', params: { target: 'all', logs: 'yes', events: true } }), 'params.logs'],
    ['subscribe without events', frame({ id: 1, method: 'subscribe', params: { target: 'all', logs: true } }), 'params.events'],
    ['subscribe without target', frame({ id: 1, method: 'subscribe', params: { logs: true, events: true } }), 'params.target'],
    ['subscribe with a string messages', frame({ id: 1, method: 'subscribe', params: { target: 'all', logs: false, events: false, messages: 'yes' } }), 'params.messages'],
    ['sendData without id', frame({ id: 1, method: 'sendData', params: { packet: { type: 'process:msg', topic: 't', data: 1 } } }), 'params.id'],
    ['sendData with a string id', frame({ id: 1, method: 'sendData', params: { id: '3', packet: { type: 'process:msg', topic: 't', data: 1 } } }), 'params.id'],
    ['sendData without packet', frame({ id: 1, method: 'sendData', params: { id: 3 } }), 'params.packet must be an object'],
    ['sendData without type', frame({ id: 1, method: 'sendData', params: { id: 3, packet: { topic: 't', data: 1 } } }), 'params.packet.type'],
    ['sendData without topic', frame({ id: 1, method: 'sendData', params: { id: 3, packet: { type: 'process:msg', data: 1 } } }), 'params.packet.topic'],
    ['watch with "on"', frame({ id: 1, method: 'watch', params: { target: 'web', watch: 'on' } }), 'params.watch'],
    ['watch without target', frame({ id: 1, method: 'watch', params: { watch: 'off' } }), 'params.target'],
    ['sendData without data', frame({ id: 1, method: 'sendData', params: { id: 3, packet: { type: 'process:msg', topic: 't' } } }), 'params.packet.data'],
  ];
  for (const [what, text, message] of cases) {
    it(`rejects ${what}`, () => expectInvalid(() => parseRequest(text), message));
  }

  it('rejects with a SupervisorError that carries its code over the wire', () => {
    try {
      parseRequest(frame({ id: 1, method: 'stop', params: { target: 3 } }));
      expect.unreachable();
    } catch (error) {
      expect((error as SupervisorError).toWire()).toEqual({ code: 'INVALID_REQUEST', message: 'params.target must be a string' });
    }
  });
});

describe('frameId', () => {
  it('reads the id of a frame that is otherwise bad, so the error reply can carry it', () => {
    expect(frameId({ id: 12, method: 'nope' })).toBe(12);
    expect(frameId({ id: '12' })).toBeNull();
    expect(frameId({ id: 1.5 })).toBeNull();
    expect(frameId([12])).toBeNull();
    expect(frameId(null)).toBeNull();
  });
});

describe('validateAppSpec', () => {
  it('accepts a complete spec and returns exactly its known fields', () => {
    expect(validateAppSpec(validSpec())).toEqual(validSpec());
    expect(validateAppSpec({ ...validSpec(), unknown: 1 })).toEqual(validSpec());
    expect(validateAppSpec(validSpec({ mode: 'cluster', instances: 4, balance: 'sticky-ip' }))).toMatchObject({ mode: 'cluster', instances: 4 });
    expect(validateAppSpec(validSpec({ interpreter: 'python3', script: '/srv/app/main.py' }))).toMatchObject({ interpreter: 'python3' });
    expect(validateAppSpec(validSpec({ interpreter: 'none', stopExitCodes: [0, 255], killSignal: 'SIGTERM' }))).toMatchObject({ stopExitCodes: [0, 255] });
  });

  const cases: [string, unknown, RegExp | string][] = [
    ['a non-object', 'web', 'app must be an object'],
    ['an array', [validSpec()], 'app must be an object'],
    ['null', null, 'app must be an object'],
    ['a missing script', validSpec({ script: undefined }), 'app.script must be a string'],
    ['an empty script', validSpec({ script: '' }), 'app.script must not be empty'],
    ['a relative script', validSpec({ script: 'server.js' }), 'app.script must be an absolute path'],
    ['a relative cwd', validSpec({ cwd: '.' }), 'app.cwd must be an absolute path'],
    ['a numeric cwd', validSpec({ cwd: 1 }), 'app.cwd must be a string'],
    ['an unknown kill signal', validSpec({ killSignal: 'SIGNOPE' }), 'app.killSignal "SIGNOPE" is not a signal name'],
    ['a lower-case kill signal', validSpec({ killSignal: 'sigterm' }), 'app.killSignal'],
    ['an unknown mode', validSpec({ mode: 'thread' }), 'app.mode must be one of fork, cluster'],
    ['cluster mode with python', validSpec({ mode: 'cluster', interpreter: 'python3' }), 'cluster mode runs Node scripts only'],
    ['an empty interpreter', validSpec({ interpreter: '' }), 'app.interpreter must not be empty'],
    ['stopExitCodes not an array', validSpec({ stopExitCodes: 3 }), 'app.stopExitCodes must be an array'],
    ['an exit code above 255', validSpec({ stopExitCodes: [1, 256] }), 'app.stopExitCodes[1]'],
    ['a name "all"', validSpec({ name: 'all' }), 'app.name "all" is not a valid app name'],
    ['an all-digit name', validSpec({ name: '123' }), 'app.name "123" is not a valid app name'],
    ['an empty name', validSpec({ name: '' }), 'app.name must not be empty'],
    ['a name with a slash', validSpec({ name: 'a/b' }), 'app.name "a/b"'],
    ['a name with ..', validSpec({ name: '../x' }), 'app.name'],
    ['a name of 101 characters', validSpec({ name: 'a'.repeat(101) }), 'app.name'],
    ['a numeric name', validSpec({ name: 5 }), 'app.name must be a string'],
    ['args not an array', validSpec({ args: '--port 3000' }), 'app.args must be an array of strings'],
    ['a numeric arg', validSpec({ args: ['--port', 3000] }), 'app.args[1] must be a string'],
    ['env not an object', validSpec({ env: ['A=1'] }), 'app.env must be an object'],
    ['a numeric env value', validSpec({ env: { PORT: 3000 } }), 'app.env.PORT must be a string'],
    ['0 instances', validSpec({ instances: 0 }), 'app.instances must be an integer from 1 to 1024'],
    ['1025 instances', validSpec({ instances: 1025 }), 'app.instances'],
    ['fractional instances', validSpec({ instances: 1.5 }), 'app.instances'],
    ['string instances', validSpec({ instances: 'max' }), 'app.instances'],
    ['interpreterArgs not an array', validSpec({ interpreterArgs: '--inspect' }), 'app.interpreterArgs'],
    ['an unknown balance', validSpec({ balance: 'random' }), 'app.balance must be one of round-robin, least-connections, sticky-ip'],
    ['a negative killTimeoutMs', validSpec({ killTimeoutMs: -1 }), 'app.killTimeoutMs'],
    ['a string killTimeoutMs', validSpec({ killTimeoutMs: '5s' }), 'app.killTimeoutMs'],
    ['a string autorestart', validSpec({ autorestart: 'false' }), 'app.autorestart must be true or false'],
    ['a numeric waitReady', validSpec({ waitReady: 1 }), 'app.waitReady'],
    ['a missing shutdownWithMessage', validSpec({ shutdownWithMessage: undefined }), 'app.shutdownWithMessage'],
    ['a missing retryAfterCrashLoop', validSpec({ retryAfterCrashLoop: undefined }), 'app.retryAfterCrashLoop'],
    ['a negative maxRestarts', validSpec({ maxRestarts: -1 }), 'app.maxRestarts'],
    ['a fractional listenTimeoutMs', validSpec({ listenTimeoutMs: 0.5 }), 'app.listenTimeoutMs'],
    ['a huge minUptimeMs', validSpec({ minUptimeMs: 86_400_001 }), 'app.minUptimeMs'],
    ['a negative restartDelayMs', validSpec({ restartDelayMs: -10 }), 'app.restartDelayMs'],
    ['a string expBackoffRestartDelayMs', validSpec({ expBackoffRestartDelayMs: '100' }), 'app.expBackoffRestartDelayMs'],
    ['a null backoffCapMs', validSpec({ backoffCapMs: null }), 'app.backoffCapMs'],
    ['a negative maxMemoryRestart', validSpec({ maxMemoryRestart: -1 }), 'app.maxMemoryRestart'],
    ['a negative queueSize', validSpec({ queueSize: -1 }), 'app.queueSize'],
    ['a string queueTimeoutMs', validSpec({ queueTimeoutMs: '10s' }), 'app.queueTimeoutMs'],
    ['a missing drainIdleMs', validSpec({ drainIdleMs: undefined }), 'app.drainIdleMs'],
  ];
  for (const [what, value, message] of cases) {
    it(`rejects ${what}`, () => expectInvalid(() => validateAppSpec(value), message));
  }

  it('names the field with the prefix it is given', () => {
    expectInvalid(() => validateAppSpec(validSpec({ script: 'x.js' }), 'apps[3]'), 'apps[3].script must be an absolute path');
  });
});

describe('validateAppName', () => {
  it('accepts the names CLI users give', () => {
    for (const name of ['web', 'api-v2', 'my_app.js', '@scope', 'a b', 'x1', '1x']) expect(validateAppName(name)).toBe(name);
  });
  it('rejects what could be confused with an id, "all", or a path', () => {
    for (const name of ['0', '42', 'all', '', ' lead', 'a/b', 'a\nb', 'é']) {
      expect(() => validateAppName(name), JSON.stringify(name)).toThrow(SupervisorError);
    }
  });
});
