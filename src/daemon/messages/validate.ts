/**
 * The daemon's edge for messages from processes: our runtime sends well-formed ones, but an
 * app can write anything with `cmd: 'NODE_SUPERVISOR'` to its channel, and nothing it writes
 * may throw in the daemon or reach the router unchecked.
 */
import type { MessageTarget } from '../../shared/messages.js';
import { ROUTED_RUNTIME_MESSAGES, type WorkerToDaemon } from '../../shared/worker-messages.js';

type Routed = Extract<WorkerToDaemon, { t: 'msg' | 'req' | 'cancel' | 'answer' | 'peers' | 'wants' }>;

const NAME_MAX = 200;

/** The message if it is a well-formed one for the router; 'ignore' if it is not the router's; null if malformed. */
export function checkRuntimeMessage(message: WorkerToDaemon): Routed | 'ignore' | null {
  if (!ROUTED_RUNTIME_MESSAGES.has(message.t)) return 'ignore';
  const m = message as unknown as Record<string, unknown>;
  switch (message.t) {
    case 'msg':
    case 'req':
      return isSeq(m['seq']) && isTarget(m['to']) && typeof m['payload'] === 'string' ? message : null;
    case 'cancel':
      return isSeq(m['seq']) ? message : null;
    case 'answer': {
      if (!isSeq(m['rid'])) return null;
      if (typeof m['payload'] === 'string') return message;
      const error = m['error'] as Record<string, unknown> | null | undefined;
      if (typeof error !== 'object' || error === null || typeof error['message'] !== 'string') return null;
      return {
        cmd: message.cmd,
        t: 'answer',
        rid: m['rid'] as number,
        error: {
          message: error['message'].slice(0, 4096),
          ...(typeof error['name'] === 'string' && { name: error['name'].slice(0, NAME_MAX) }),
          ...(typeof error['code'] === 'string' && { code: error['code'].slice(0, NAME_MAX) }),
        },
      };
    }
    case 'peers':
      return isSeq(m['seq']) && (m['app'] === null || isName(m['app'])) ? message : null;
    case 'wants':
      return typeof m['messages'] === 'boolean' && typeof m['requests'] === 'boolean' && typeof m['peers'] === 'boolean' ? message : null;
    default:
      return 'ignore';
  }
}

export function isTarget(value: unknown): value is MessageTarget {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0;
  if (isName(value)) return true;
  if (typeof value !== 'object' || value === null) return false;
  const { app, instance } = value as { app?: unknown; instance?: unknown };
  return isName(app) && typeof instance === 'number' && Number.isSafeInteger(instance) && instance >= 0;
}

function isSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

function isName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= NAME_MAX;
}
