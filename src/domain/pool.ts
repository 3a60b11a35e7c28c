import pLimit from 'p-limit';
import { asError } from './errors.js';

/** The outcome of one item of a fan-out. */
export type Settled<I, R> = { item: I; ok: true; value: R } | { item: I; ok: false; error: Error };

/**
 * The one bounded worker pool for fan-out: runs `fn` over `items` with at most `concurrency`
 * in flight, never throws for a single item, and returns every outcome in input order so the
 * caller can keep (and record) what succeeded and report the failures together.
 */
export async function mapPool<I, R>(
  items: readonly I[],
  concurrency: number,
  fn: (item: I, index: number) => Promise<R>,
): Promise<Settled<I, R>[]> {
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  const limit = pLimit(concurrency);
  return Promise.all(
    items.map((item, i) =>
      limit(async (): Promise<Settled<I, R>> => {
        try {
          return { item, ok: true, value: await fn(item, i) };
        } catch (e) {
          return { item, ok: false, error: asError(e) };
        }
      }),
    ),
  );
}

/**
 * A cap on how many of one kind of operation are in flight at once across the items of a pool
 * (e.g. AWS's 20 concurrent snapshot copies per destination Region): `run(fn)` waits for a slot.
 */
export type Slots = <T>(fn: () => Promise<T>) => Promise<T>;

export function slots(n: number): Slots {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`slots must be a positive integer, got ${n}`);
  const limit = pLimit(n);
  return (fn) => limit(fn);
}

/**
 * A token bucket for AWS's documented per-action request rates (EC2 request throttling:
 * e.g. CopySnapshot/AttachVolume share 50 burst / 5 per second). Callers `take()` before a call.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    private readonly capacity: number,
    private readonly refillPerSecond: number,
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {
    this.tokens = capacity;
    this.last = now();
  }
  async take(): Promise<void> {
    for (;;) {
      const t = this.now();
      this.tokens = Math.min(this.capacity, this.tokens + ((t - this.last) / 1000) * this.refillPerSecond);
      this.last = t;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await this.sleep(Math.ceil(((1 - this.tokens) / this.refillPerSecond) * 1000));
    }
  }
}
