import { validateAppName, validateAppSpec } from './app-spec-validate.js';
import { SupervisorError } from './errors.js';
import type { DataPacket, Method, Params, RequestFrame } from './protocol.js';
import { boolean, integer, invalid, isRecord, oneOf, record, string, type Json } from './validate.js';

type ParamChecker<M extends Method> = (params: Record<string, unknown>) => Params<M>;

const target = (p: Record<string, unknown>): { target: string } => ({
  target: string(p['target'], 'params.target', { nonEmpty: true, max: 200 }),
});
const none = (): Record<string, never> => ({});

/** Checks for every method's params: a method without one does not compile. */
const PARAM_CHECKERS: { [M in Method]: ParamChecker<M> } = {
  hello: (p) => ({ protocol: integer(p['protocol'], 'params.protocol', 0, 1_000_000) }),
  ping: none,
  start: (p) => {
    const apps = p['apps'];
    if (!Array.isArray(apps) || apps.length === 0) invalid('params.apps must be a non-empty array');
    return { apps: apps.map((app, i) => validateAppSpec(app, `apps[${i}]`)) };
  },
  list: none,
  stop: target,
  restart: target,
  reload: target,
  delete: target,
  reset: target,
  describe: target,
  scale: (p) => ({
    name: validateAppName(p['name'], 'params.name'),
    count: integer(p['count'], 'params.count', -1024, 1024),
    relative: boolean(p['relative'], 'params.relative'),
  }),
  signal: (p) => ({ ...target(p), signal: string(p['signal'], 'params.signal', { nonEmpty: true, max: 20 }) }),
  send: (p) => {
    if (!('data' in p)) invalid('params.data is required');
    return { ...target(p), data: p['data'] as Json };
  },
  sendData: (p) => {
    const id = integer(p['id'], 'params.id', 0, Number.MAX_SAFE_INTEGER);
    const packet = record(p['packet'], 'params.packet');
    // pm2's checks: a type, a topic and data.
    if (typeof packet['type'] !== 'string' || packet['type'].length === 0) invalid('params.packet.type must be a non-empty string');
    if (!packet['topic']) invalid('params.packet.topic is required');
    if (packet['data'] === undefined) invalid('params.packet.data is required');
    return { id, packet: { ...(packet as Record<string, Json>), id } as DataPacket };
  },
  flush: target,
  'reload-logs': none,
  save: none,
  resurrect: none,
  subscribe: (p) => ({
    ...target(p),
    logs: boolean(p['logs'], 'params.logs'),
    events: boolean(p['events'], 'params.events'),
    messages: p['messages'] === undefined ? false : boolean(p['messages'], 'params.messages'),
  }),
  kill: none,
  check: none,
  watch: (p) => ({ ...target(p), watch: oneOf(p['watch'], 'params.watch', ['toggle', 'off'] as const) }),
  update: (p) => {
    const apps = p['apps'];
    if (!Array.isArray(apps) || apps.length === 0) invalid('params.apps must be a non-empty array');
    return { apps: apps.map((app, i) => validateAppSpec(app, `apps[${i}]`)), how: oneOf(p['how'], 'params.how', ['reload', 'restart'] as const) };
  },
};

export function isMethod(value: unknown): value is Method {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(PARAM_CHECKERS, value);
}

/** The id of a frame, if one can be read, so that even a bad request gets a matching reply. */
export function frameId(raw: unknown): number | null {
  return isRecord(raw) && typeof raw['id'] === 'number' && Number.isSafeInteger(raw['id']) ? raw['id'] : null;
}

/**
 * Parses and checks one inbound frame. Throws SupervisorError(INVALID_REQUEST) for anything
 * that is not a well-formed request of a known method, so the caller can reply and move on.
 */
export function parseRequest(text: string): RequestFrame {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new SupervisorError('INVALID_REQUEST', 'frame is not valid JSON');
  }
  const frame = record(raw, 'frame');
  const id = frameId(frame);
  if (id === null) invalid('frame.id must be an integer');
  const method = frame['method'];
  if (!isMethod(method)) invalid(`unknown method ${JSON.stringify(method)}`);
  const params = frame['params'] === undefined ? {} : record(frame['params'], 'params');
  const checker = PARAM_CHECKERS[method] as ParamChecker<Method>;
  return { id, method, params: checker(params) };
}
