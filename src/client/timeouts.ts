/**
 * How long the client waits for the daemon. A command fails with UNREACHABLE (exit 6) when the
 * daemon stops answering pings for LIVENESS_MS while a request is pending, or when a request
 * has no reply within the request timeout: SUPERVISOR_TIMEOUT or --timeout, 10 minutes by
 * default ("0" for none). Long commands are not cut short while the daemon is alive: a
 * reload of many workers may take minutes, and the daemon bounds it itself.
 */
import { parseDuration } from '../shared/duration.js';
import { invalidValue } from '../shared/validate.js';

/** A daemon that answers nothing, not even a ping, for this long is unreachable. */
export const LIVENESS_MS = 10_000;
/** How often the client pings while it waits; the daemon answers from its event loop. */
export const PING_INTERVAL_MS = 1000;
/** The WebSocket handshake, from connect to upgrade. */
export const HANDSHAKE_TIMEOUT_MS = 5000;
const DEFAULT_REQUEST_TIMEOUT_MS = 10 * 60_000;

/** Milliseconds from a --timeout or SUPERVISOR_TIMEOUT value (0: no limit); throws INVALID_REQUEST. */
export function requestTimeoutSetting(value: string | undefined, source: string): number {
  if (value === undefined || value === '') return DEFAULT_REQUEST_TIMEOUT_MS;
  const ms = parseDuration(value);
  if (ms === null) invalidValue(source, 'must be a duration such as "90s", "10m" or 0 for none', value);
  return ms;
}
