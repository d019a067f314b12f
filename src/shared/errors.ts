/**
 * Error codes that cross the control socket. The CLI maps each to an exit status, so a script
 * can tell "no such app" from "daemon unreachable" without parsing messages.
 */
const ERROR_CODES = [
  'NOT_FOUND',
  'CONFLICT',
  'INVALID_REQUEST',
  'VERSION_MISMATCH',
  'FAILED',
  'UNREACHABLE',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Exit status per code: 1 is "the command failed", the others let scripts branch. */
export const EXIT_STATUS: Record<ErrorCode, number> = {
  FAILED: 1,
  NOT_FOUND: 2,
  CONFLICT: 3,
  INVALID_REQUEST: 4,
  VERSION_MISMATCH: 5,
  UNREACHABLE: 6,
  INTERNAL: 70,
};

export interface WireError {
  code: ErrorCode;
  message: string;
}

/** The one error type both sides throw; `code` travels over the wire, `cause` does not. */
export class SupervisorError extends Error {
  override name = 'SupervisorError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  toWire(): WireError {
    return { code: this.code, message: this.message };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}
