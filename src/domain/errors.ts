/**
 * The project's error vocabulary. Every failure a user can see is a {@link CleanroomError}
 * with a stable `code`, a message that names the thing and the fix, the ids it is about, and
 * the exit code of the CLI contract (1 operation failed, 2 bad usage/input, 3 verification).
 * The codes are declared, each with its exit code and meaning, in ./error-codes.ts: the classes
 * take an {@link ErrorCode}, so a code that is not declared there does not compile.
 *
 * Errors never log in their constructor; the CLI host decides how to render them.
 */
import type { ErrorCode, ExitCode } from './error-codes.js';

export type { ErrorCode, ExitCode, RecordedErrorCode } from './error-codes.js';
export { ERROR_CODES, OUTCOME_CODES } from './error-codes.js';

export interface ErrorDetails {
  /** Resource ids, ARNs, names the error is about. */
  readonly [key: string]: unknown;
}

export class CleanroomError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: ExitCode;
  readonly details: ErrorDetails;
  constructor(
    code: ErrorCode,
    message: string,
    opts: { exitCode?: ExitCode; cause?: unknown; details?: ErrorDetails } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = opts.exitCode ?? 1;
    this.details = opts.details ?? {};
  }
}

/** Bad usage or bad input (exit 2). Raised before any AWS call where possible. */
export class UsageError extends CleanroomError {
  constructor(code: ErrorCode, message: string, opts: { cause?: unknown; details?: ErrorDetails } = {}) {
    super(code, message, { ...opts, exitCode: 2 });
  }
}

/**
 * An AWS call failed after retries (exit 1). Carries the service, operation and AWS error code;
 * its `code` is `AWS_<awsCode>` unless given (ENDPOINT_TIMEOUT: the endpoint did not answer in time).
 */
export class AwsError extends CleanroomError {
  readonly service: string;
  readonly operation: string;
  readonly awsCode: string;
  constructor(
    service: string,
    operation: string,
    awsCode: string,
    message: string,
    opts: { cause?: unknown; details?: ErrorDetails; exitCode?: ExitCode; code?: ErrorCode } = {},
  ) {
    super(opts.code ?? `AWS_${awsCode}`, message, {
      exitCode: opts.exitCode ?? 1,
      cause: opts.cause,
      details: opts.details ?? {},
    });
    this.service = service;
    this.operation = operation;
    this.awsCode = awsCode;
  }
}

/** A wait ran out of its time budget (exit 1). */
export class TimeoutError extends CleanroomError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('TIMEOUT', message, { exitCode: 1, details });
  }
}

/** A verification (room audit, vault audit, custody integrity) found a problem (exit 3). */
export class VerificationFailedError extends CleanroomError {
  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(code, message, { exitCode: 3, details });
  }
}

/**
 * Partial success, the one way every workflow reports it (acquire, isolate, close): part of the
 * work failed or is left to do; what succeeded is kept and recorded. `failures` carries one entry
 * per failed item so the summary can name each; `result`, when the workflow got as far as one, is
 * its result for what was done (close: the close's result, with `outstanding`). Exit 1.
 */
export class PartialFailureError<R = unknown> extends CleanroomError {
  readonly failures: ReadonlyArray<{ item: string; error: Error }>;
  readonly result: R | undefined;
  constructor(
    message: string,
    failures: ReadonlyArray<{ item: string; error: Error }>,
    details: ErrorDetails = {},
    result?: R,
  ) {
    super('PARTIAL_FAILURE', message, { exitCode: 1, details });
    this.failures = failures;
    this.result = result;
  }
}

/** Narrow an unknown thrown value to an Error. */
export function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
