/**
 * Create a resource exactly once, also across retries and reruns.
 *
 * CreateSnapshot(s), CopySnapshot and KMS CreateKey take no client token: if an answer is lost
 * (throttled retry, 5xx, reset connection, a killed process), sending the request again could make a
 * second snapshot or key. So every attempt first looks for its own result (by the tags the create
 * put on it), and only creates when there is none; the creates themselves go through the ports with
 * the SDK's blind retries off (`AwsAccount.single`). Transient failures are retried with backoff
 * within a budget by THE waiter; anything else fails at once.
 */
import { isTransientAwsError } from '../aws/errors.js';
import { asError } from '../domain/errors.js';
import { waitFor, type Clock } from '../domain/waiter.js';

export interface CreateOnce<T> {
  /** What is created, in words ("source snapshot of vol-0a… (ev-0a…)"). */
  description: string;
  /** Look for the result of an earlier attempt (this run or an interrupted one). */
  find(): Promise<T | undefined>;
  /** Make it (called only when `find` found nothing). */
  create(): Promise<T>;
  budgetMs: number;
  clock?: Clock;
  details?: Record<string, unknown>;
}

export interface Created<T> {
  value: T;
  /** False when an earlier attempt's result was found. */
  created: boolean;
}

export function findOrCreate<T>(spec: CreateOnce<T>): Promise<Created<T>> {
  return waitFor<Created<T>>(
    async () => {
      try {
        const found = await spec.find();
        if (found !== undefined) return { state: 'done', value: { value: found, created: false } };
        return { state: 'done', value: { value: await spec.create(), created: true } };
      } catch (e) {
        const err = asError(e);
        if (isTransientAwsError(err)) return { state: 'pending', detail: err.message };
        return { state: 'failed', error: err };
      }
    },
    {
      description: `AWS to accept the request for the ${spec.description}`,
      budgetMs: spec.budgetMs,
      intervalMs: 1000,
      maxIntervalMs: 20_000,
      backoff: 2,
      ...(spec.clock ? { clock: spec.clock } : {}),
      details: spec.details ?? {},
    },
  );
}

/** Retry an idempotent call (attach, share, delete, tag) on transient failures, within a budget. */
export function retrying<T>(
  description: string,
  fn: () => Promise<T>,
  budgetMs: number,
  clock?: Clock,
  details: Record<string, unknown> = {},
): Promise<T> {
  return waitFor<T>(
    async () => {
      try {
        return { state: 'done', value: await fn() };
      } catch (e) {
        const err = asError(e);
        if (isTransientAwsError(err)) return { state: 'pending', detail: err.message };
        return { state: 'failed', error: err };
      }
    },
    {
      description: `AWS to accept the request to ${description}`,
      budgetMs,
      intervalMs: 1000,
      maxIntervalMs: 20_000,
      backoff: 2,
      ...(clock ? { clock } : {}),
      details,
    },
  );
}
