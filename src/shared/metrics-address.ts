/**
 * SUPERVISOR_METRICS (or `supervisor daemon --metrics`): where the daemon serves /metrics,
 * /healthz and /readyz. Unset means no endpoint at all. Read by the daemon; checked by the
 * client before it starts one, so a bad value is one clear error and no daemon.
 *
 *   9209              127.0.0.1:9209 (loopback unless the address says otherwise)
 *   localhost:9209    as written
 *   0.0.0.0:9209      every IPv4 interface
 *   [::1]:9209        IPv6 literals in brackets
 */
import { isIP } from 'node:net';
import { invalidValue } from './validate.js';

export interface MetricsAddress {
  host: string;
  port: number;
}

const HOST_NAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

/** `source` is what the user typed the value as (`--metrics`, or the variable): the error names it. */
export function parseMetricsAddress(raw: string, source: '--metrics' | 'SUPERVISOR_METRICS'): MetricsAddress {
  const text = raw.trim();
  const fail = (why: string): never => invalidValue(source, `must be host:port or a port (e.g. 127.0.0.1:9209): ${why}`, raw);
  let host = '127.0.0.1';
  let portText = text;
  if (!/^\d+$/.test(text)) {
    const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d+)$/.exec(text);
    if (!match) return fail(text.startsWith(':') ? 'name the host (0.0.0.0 for every interface, 127.0.0.1 for loopback)' : 'no port');
    host = (match[1] ?? match[2]) as string;
    portText = match[3] as string;
    if (match[1] !== undefined && isIP(host) !== 6) return fail(`${host} is not an IPv6 address`);
    if (match[2] !== undefined && isIP(host) === 0 && !HOST_NAME.test(host)) return fail(`${host} is not a host name or address`);
  }
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return fail('the port must be from 1 to 65535');
  return { host, port };
}

/** The address the environment asks for, or null when SUPERVISOR_METRICS is unset or empty. */
export function metricsAddressSetting(env: NodeJS.ProcessEnv): MetricsAddress | null {
  const raw = env['SUPERVISOR_METRICS'];
  return raw === undefined || raw.trim() === '' ? null : parseMetricsAddress(raw, 'SUPERVISOR_METRICS');
}

export function formatMetricsAddress(address: MetricsAddress): string {
  return isIP(address.host) === 6 ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
