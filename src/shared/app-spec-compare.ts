/**
 * Whether two specs run the same thing. Used to tell which apps of a reloaded config file
 * changed; key order and array identity do not matter, values do.
 */
import type { AppSpec } from './app-spec.js';

export function sameSpec(a: AppSpec, b: AppSpec): boolean {
  return canonical(a) === canonical(b);
}

// Keys in code-unit order, not localeCompare: any fixed order does here, and collation loads ICU
// data (3 MB of daemon memory for the first reload of a file).
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) : v,
  );
}
