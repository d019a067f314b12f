/**
 * Whether two specs run the same thing. Used to tell which apps of a reloaded config file
 * changed; key order and array identity do not matter, values do.
 */
import type { AppSpec } from './app-spec.js';

export function sameSpec(a: AppSpec, b: AppSpec): boolean {
  return canonical(a) === canonical(b);
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => x.localeCompare(y))) : v,
  );
}
