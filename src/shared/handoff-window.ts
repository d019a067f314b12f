/**
 * SUPERVISOR_HANDOFF_WINDOW: how many connection handles may be on their way to one cluster
 * worker before it acknowledges the first (see handOffWindow in daemon/worker-process.ts).
 * Read by the daemon; checked by the client before it starts one, so a bad value is one clear
 * error and no daemon.
 */
import { invalidValue } from './validate.js';

export const DEFAULT_HANDOFF_WINDOW = 16;
const MAX_HANDOFF_WINDOW = 64;

/** The window the environment asks for; throws INVALID_REQUEST for anything but an integer 1-64. */
export function handOffWindowSetting(env: NodeJS.ProcessEnv): number {
  const raw = env['SUPERVISOR_HANDOFF_WINDOW'];
  if (raw === undefined || raw === '') return DEFAULT_HANDOFF_WINDOW;
  const value = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!(value >= 1 && value <= MAX_HANDOFF_WINDOW)) invalidValue('SUPERVISOR_HANDOFF_WINDOW', `must be an integer from 1 to ${MAX_HANDOFF_WINDOW}`, raw);
  return value;
}
