/**
 * Hand-off waits: how a workflow waits when something else (a Step Functions Wait state) is to do
 * the waiting. A workflow takes `waits?: WaitMode`:
 *
 * - `'block'` (the default, what the CLI uses): a wait polls and sleeps until the thing is done,
 *   within its budget (domain/waiter.ts).
 * - `'hand-off'`: where the waiter would sleep, it throws {@link WaitHandedOffError} instead; the
 *   workflow has recorded every step it finished, seals the record on the way out
 *   (custody/session.ts) and the error reaches the caller carrying what it waits for and when to
 *   come back. Calling the same workflow again with the same inputs resumes from the custody record
 *   and the idempotency keys (as after a crash): nothing already made is made again, and the wait
 *   is polled again where it was left.
 *
 * The mode travels on the workflow's clock ({@link Clock.waits}): each workflow builds one clock
 * (`handOffClock(abortableClock(...), options.waits)`) and hands it to every waiter it calls, so
 * the steps in between need no new parameter.
 *
 * Confirmations (`successesInARow` > 1: a state seen done must be seen done again, a second later)
 * still sleep in-process in hand-off mode: they are short (at most 1 s each) and bounded, and
 * counting them across invocations would need state the caller does not carry. Only a wait whose
 * last poll said *pending* hands off.
 */
import { CleanroomError, UsageError, type ErrorDetails } from './errors.js';

/** How a workflow waits: sleep in-process (`block`, default) or hand the wait to the caller (`hand-off`). */
export type WaitMode = 'block' | 'hand-off';

/** What a handed-off wait tells the caller. */
export interface HandOff {
  /** What is being waited for, in words with its ids ("snapshot snap-0123 of vol-… (ev-…): pending 42%"). */
  waitingFor: string;
  /** When to call the workflow again, in whole seconds (≥ 1): the waiter's poll pace. */
  retryAfterSeconds: number;
  /** How to resume, in words (default: call the same workflow again with the same inputs). */
  resumeHint?: string;
}

/**
 * A wait the workflow handed to its caller (`waits: 'hand-off'`): not a failure, "not done yet".
 * Everything the run did before is recorded and sealed (`details.sealed`); call the same workflow
 * again with the same inputs after `retryAfterSeconds` to continue. Exit 1 if it ever reached the
 * CLI (it does not: the CLI always blocks).
 */
export class WaitHandedOffError extends CleanroomError implements HandOff {
  readonly waitingFor: string;
  readonly retryAfterSeconds: number;
  readonly resumeHint?: string;
  constructor(h: HandOff, details: ErrorDetails = {}) {
    const retry = Math.max(1, Math.ceil(h.retryAfterSeconds));
    super(
      'WAIT_HANDED_OFF',
      `Not done yet: waiting for ${h.waitingFor}; call again in ${retry}s (${h.resumeHint ?? 'the same workflow with the same inputs resumes where this run stopped; nothing already done is repeated'}).`,
      { exitCode: 1, details: { ...details, waitingFor: h.waitingFor, retryAfterSeconds: retry } },
    );
    this.waitingFor = h.waitingFor;
    this.retryAfterSeconds = retry;
    if (h.resumeHint !== undefined) this.resumeHint = h.resumeHint;
  }
}

/** True for the error of a handed-off wait (also when a pool or a partial failure wrapped it: see {@link handOffOf}). */
export function isWaitHandedOff(e: unknown): e is WaitHandedOffError {
  return e instanceof WaitHandedOffError;
}

/**
 * One hand-off for several waits handed off at once (items of one run, each at its own wait): the
 * soonest retry, every `waitingFor` named. Undefined when none of `errors` is a hand-off.
 */
export function combineHandOffs(errors: readonly unknown[]): WaitHandedOffError | undefined {
  const hs = errors.filter(isWaitHandedOff);
  if (hs.length === 0) return undefined;
  if (hs.length === 1) return hs[0];
  const first = hs[0]!;
  return new WaitHandedOffError(
    {
      waitingFor: hs.map((h) => h.waitingFor).join('; '),
      retryAfterSeconds: Math.min(...hs.map((h) => h.retryAfterSeconds)),
      ...(first.resumeHint !== undefined ? { resumeHint: first.resumeHint } : {}),
    },
    { waits: hs.length },
  );
}

/** Check a `waits` option (a library caller's typo must not silently block a Lambda for 15 minutes). */
export function checkWaitMode(waits: unknown): WaitMode {
  if (waits === undefined || waits === 'block') return 'block';
  if (waits === 'hand-off') return 'hand-off';
  throw new UsageError('INVALID_VALUE', `waits must be 'block' or 'hand-off', got ${JSON.stringify(waits)}.`, {
    details: { waits },
  });
}
