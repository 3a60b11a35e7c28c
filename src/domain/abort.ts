/**
 * Stopping a workflow from outside: every workflow entry takes `signal?: AbortSignal`. The signal is
 * checked between steps (a step already started finishes and is recorded; nothing half-done is
 * recorded) and ends the waits between polls at once; the workflow then seals what it recorded and
 * throws {@link InterruptedError} (code INTERRUPTED). The CLI's Ctrl-C feeds the same signal.
 */
import { CleanroomError, type ErrorDetails } from './errors.js';
import type { Clock } from './waiter.js';

/** A workflow stopped by its AbortSignal (the CLI: Ctrl-C, exit 130) at a step boundary. */
export class InterruptedError extends CleanroomError {
  constructor(message: string, details: ErrorDetails = {}, cause?: unknown) {
    super('INTERRUPTED', message, { exitCode: 1, details, ...(cause !== undefined ? { cause } : {}) });
  }
}

/** True for the error an aborted workflow throws. */
export function isInterrupted(e: unknown): e is CleanroomError {
  return e instanceof CleanroomError && e.code === 'INTERRUPTED';
}

/** The error of a workflow stopped before `stage`. */
export function interruptedAt(stage: string | undefined, cause?: unknown): InterruptedError {
  return new InterruptedError(
    `Stopped by its AbortSignal${stage ? ` before: ${stage}` : ''}. Every step recorded so far is complete; run the same workflow again to resume (nothing already done is repeated).`,
    stage ? { stage } : {},
    cause,
  );
}

/** Throw {@link InterruptedError} when the signal has fired: call it between steps. */
export function throwIfAborted(signal: AbortSignal | undefined, stage?: string): void {
  if (signal?.aborted) throw interruptedAt(stage, signal.reason);
}

/**
 * The clock a workflow hands its waiters: a sleep ends at once when the signal fires and rejects
 * with {@link InterruptedError} (also with a clock that ignores signals: checked when it returns).
 */
export function abortableClock(clock: Clock, signal: AbortSignal | undefined): Clock {
  if (!signal) return clock;
  return {
    now: () => clock.now(),
    ...(clock.waits ? { waits: clock.waits } : {}),
    sleep: async (ms, own) => {
      throwIfAborted(signal, 'a wait');
      try {
        await clock.sleep(ms, own ? AbortSignal.any([own, signal]) : signal);
      } catch (e) {
        if (signal.aborted) throw interruptedAt('a wait', e);
        throw e;
      }
      throwIfAborted(signal, 'a wait');
    },
  };
}
