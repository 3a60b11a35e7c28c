import { TimeoutError, CleanroomError, type ErrorCode } from './errors.js';
import { WaitHandedOffError, type WaitMode } from './hand-off.js';

/** What one poll of a waited-for thing found. */
export type PollResult<T> =
  | { state: 'done'; value: T }
  | { state: 'pending'; detail?: string; percent?: number }
  | { state: 'failed'; error: Error };

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * How the waits of the run that holds this clock wait (domain/hand-off.ts): `block` (default)
   * sleeps; `hand-off` throws WaitHandedOffError where {@link waitFor} would sleep on a pending state.
   */
  readonly waits?: WaitMode;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

export interface WaitOptions {
  /** What is being waited for, in words ("stack cleanroom-IR-1 to finish creating"). */
  description: string;
  /** Total time budget in milliseconds. */
  budgetMs: number;
  /** Delay between polls; grows by `backoff` up to `maxIntervalMs`. */
  intervalMs?: number;
  maxIntervalMs?: number;
  backoff?: number;
  /**
   * How many `done` answers in a row are needed. Eventually consistent reads (a snapshot that
   * was just created, a volume that just attached) can flip back once; coldsnap waits for
   * several successes for the same reason.
   */
  successesInARow?: number;
  onPending?: (detail: string | undefined, percent: number | undefined, elapsedMs: number) => void;
  clock?: Clock;
  signal?: AbortSignal;
  /** Ids to put on the timeout error. */
  details?: Record<string, unknown>;
}

/**
 * The one waiter: polls `poll` until it reports `done` (the required number of times in a row),
 * fails fast on `failed`, and throws {@link TimeoutError} when the budget is spent. With a
 * hand-off clock (`clock.waits === 'hand-off'`), a pending poll throws {@link WaitHandedOffError}
 * (what it waits for, and when to poll again: the interval it would have slept, at least the
 * steady pace `maxIntervalMs` since a caller coming back has lost the back-off) instead of sleeping.
 */
export async function waitFor<T>(poll: () => Promise<PollResult<T>>, opts: WaitOptions): Promise<T> {
  const clock = opts.clock ?? systemClock;
  const start = clock.now();
  let interval = opts.intervalMs ?? 2000;
  const maxInterval = opts.maxIntervalMs ?? 15000;
  const backoff = opts.backoff ?? 1.5;
  const needed = opts.successesInARow ?? 1;
  let streak = 0;
  let lastDetail: string | undefined;
  for (;;) {
    const r = await poll();
    if (r.state === 'failed') throw r.error;
    if (r.state === 'done') {
      streak += 1;
      if (streak >= needed) return r.value;
    } else {
      streak = 0;
      lastDetail = r.detail;
      opts.onPending?.(r.detail, r.percent, clock.now() - start);
    }
    const elapsed = clock.now() - start;
    if (elapsed >= opts.budgetMs) {
      throw new TimeoutError(
        `Gave up waiting for ${opts.description} after ${Math.round(elapsed / 1000)}s (budget ${Math.round(opts.budgetMs / 1000)}s)` +
          (lastDetail ? `; last state: ${lastDetail}` : '') +
          '. Run the same command again to resume; nothing already done is repeated.',
        opts.details ?? {},
      );
    }
    if (streak === 0 && clock.waits === 'hand-off') throw handedOff(opts, lastDetail, Math.max(interval, maxInterval));
    const wait = streak > 0 ? Math.min(interval, 1000) : Math.min(interval, opts.budgetMs - elapsed);
    await clock.sleep(Math.max(0, wait), opts.signal);
    if (streak === 0) interval = Math.min(maxInterval, interval * backoff);
  }
}

/** The hand-off of a wait whose last poll was pending. */
function handedOff(opts: WaitOptions, lastDetail: string | undefined, retryMs: number): WaitHandedOffError {
  return new WaitHandedOffError(
    {
      waitingFor: `${opts.description}${lastDetail ? ` (${lastDetail})` : ''}`,
      retryAfterSeconds: Math.ceil(retryMs / 1000),
    },
    opts.details ?? {},
  );
}

/** Convenience for pollers that find a thing in an error state. */
export function failed(code: ErrorCode, message: string, details: Record<string, unknown> = {}): PollResult<never> {
  return { state: 'failed', error: new CleanroomError(code, message, { details }) };
}

/** The clock of a workflow run in the given mode (`block`/undefined: the clock itself). */
export function handOffClock(clock: Clock, waits: WaitMode | undefined): Clock {
  if ((waits ?? 'block') === (clock.waits ?? 'block')) return clock;
  return { now: () => clock.now(), sleep: (ms, signal) => clock.sleep(ms, signal), waits: waits ?? 'block' };
}
