import { SupervisorError } from './errors.js';

/**
 * A few checkers for data that arrives from outside (socket frames, config files). Each one
 * either returns the value with its type narrowed or throws INVALID_REQUEST naming the field,
 * so that one bad field gives one clear line.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Record_ = Record<string, unknown>;

export function invalid(message: string): never {
  throw new SupervisorError('INVALID_REQUEST', message);
}

/** Longest echo of a bad value in an error line (a config value can be any size). */
const ECHO_MAX = 60;

/**
 * A value a user wrote, as an error line repeats it: JSON (a string in quotes, so "" and " 5s"
 * show), on one line, cut at ECHO_MAX characters. What JSON cannot show (a config file is
 * JavaScript) is shown by String(), or named: a function's source, an object with a cycle.
 */
export function echo(value: unknown): string {
  let text: string | undefined;
  try {
    text = typeof value === 'number' ? String(value) : JSON.stringify(value);
  } catch {
    // A BigInt, a cycle: shown below.
  }
  text ??= typeof value === 'function' ? 'a function' : typeof value === 'object' ? 'an object' : String(value);
  return text.length > ECHO_MAX ? `${text.slice(0, ECHO_MAX - 3)}...` : text;
}

/**
 * INVALID_REQUEST for a value a user wrote (a config-file option, an environment variable, a
 * flag): "<where it was written> <what it must be> (got <the value>)". The one format of these
 * errors, so every one names the option and shows what was wrong with it.
 */
export function invalidValue(field: string, mustBe: string, value: unknown): never {
  invalid(`${field} ${mustBe} (got ${echo(value)})`);
}

export function isRecord(value: unknown): value is Record_ {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function record(value: unknown, field: string): Record_ {
  if (!isRecord(value)) invalid(`${field} must be an object`);
  return value;
}

export function string(value: unknown, field: string, opts: { nonEmpty?: boolean; max?: number } = {}): string {
  if (typeof value !== 'string') invalid(`${field} must be a string`);
  if (opts.nonEmpty && value.length === 0) invalid(`${field} must not be empty`);
  if (value.length > (opts.max ?? 65_536)) invalid(`${field} is too long`);
  return value;
}

export function integer(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    invalid(`${field} must be an integer from ${min} to ${max}`);
  }
  return value;
}

export function boolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') invalid(`${field} must be true or false`);
  return value;
}

export function oneOf<T extends string>(value: unknown, field: string, choices: readonly T[]): T {
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    invalid(`${field} must be one of ${choices.join(', ')}`);
  }
  return value as T;
}

export function stringArray(value: unknown, field: string): string[] {
  if (!Array.isArray(value)) invalid(`${field} must be an array of strings`);
  return value.map((item, i) => string(item, `${field}[${i}]`));
}

export function stringMap(value: unknown, field: string): Record<string, string> {
  const obj = record(value, field);
  const out: Record<string, string> = {};
  for (const [key, item] of Object.entries(obj)) out[key] = string(item, `${field}.${key}`);
  return out;
}

export function optional<T>(value: unknown, check: (v: unknown) => T): T | undefined {
  return value === undefined ? undefined : check(value);
}
