/**
 * The bounds of the daemon's control socket (docs/ARCHITECTURE.md, "The control channel"):
 * how many connections, how long they may idle, and how many bytes the daemon holds for them
 * in each direction. Two can be set in the environment of the command that starts the daemon;
 * the client checks them before it starts one, so a bad value is one clear error and no daemon.
 */
import { DAY_MS, parseDuration } from './duration.js';
import { invalidValue } from './validate.js';

export interface ControlLimits {
  /** Connections open at once, handshaking ones included; more are refused with HTTP 503. */
  maxConnections: number;
  /** A connection must complete its upgrade within this time... */
  handshakeTimeoutMs: number;
  /** ...and in this many bytes of request head. */
  maxHeadBytes: number;
  /** An upgraded connection with no request pending and no subscription is closed after this. */
  idleTimeoutMs: number;
  /** One message (all its fragments); a larger one closes the connection (1009). */
  maxMessageBytes: number;
  /** Partially received messages, all connections together; over it, the largest holder is closed (1013). */
  inboundBudgetBytes: number;
  /** Requests being answered per connection; more are refused at once with FAILED. */
  maxPendingRequests: number;
  /** Unread output of one connection above which its log lines are dropped and its requests not read. */
  outboundSoftBytes: number;
  /** Unread output of one connection above which it is closed (1008) rather than sent more. */
  outboundHardBytes: number;
  /** Unread output, all connections together; over it, the largest holder is closed (1013). */
  outboundBudgetBytes: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_CONTROL_LIMITS: Readonly<ControlLimits> = {
  maxConnections: 128,
  handshakeTimeoutMs: 5000,
  maxHeadBytes: 8192,
  idleTimeoutMs: 60_000,
  maxMessageBytes: 8 * MiB,
  inboundBudgetBytes: 16 * MiB,
  maxPendingRequests: 64,
  outboundSoftBytes: 1 * MiB,
  outboundHardBytes: 8 * MiB,
  outboundBudgetBytes: 32 * MiB,
};

const MAX_CONNECTIONS_CEILING = 4096;

/**
 * The limits, with SUPERVISOR_CONTROL_CONNECTIONS (an integer from 1 to 4096) and
 * SUPERVISOR_CONTROL_IDLE_TIMEOUT (a duration from 100 ms to 24 h, e.g. "90s") applied;
 * throws INVALID_REQUEST for any other value.
 */
export function controlLimitsSetting(env: NodeJS.ProcessEnv): ControlLimits {
  const limits = { ...DEFAULT_CONTROL_LIMITS };
  const connections = env['SUPERVISOR_CONTROL_CONNECTIONS'];
  if (connections !== undefined && connections !== '') {
    const value = /^\d+$/.test(connections.trim()) ? Number(connections.trim()) : NaN;
    if (!(value >= 1 && value <= MAX_CONNECTIONS_CEILING)) invalidValue('SUPERVISOR_CONTROL_CONNECTIONS', `must be an integer from 1 to ${MAX_CONNECTIONS_CEILING}`, connections);
    limits.maxConnections = value;
  }
  const idle = env['SUPERVISOR_CONTROL_IDLE_TIMEOUT'];
  if (idle !== undefined && idle !== '') {
    const value = parseDuration(idle);
    if (value === null || value < 100 || value > DAY_MS) invalidValue('SUPERVISOR_CONTROL_IDLE_TIMEOUT', 'must be a duration from 100ms to 24h, such as "90s"', idle);
    limits.idleTimeoutMs = value;
  }
  return limits;
}
