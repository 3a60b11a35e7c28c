/**
 * The one step recorder: how acquisition, evidence attach/detach, close, room and isolate record
 * each step of a run in the case's custody record, under the step's idempotency key (built by
 * idempotency-keys.ts), so that a rerun after a crash never appends the same event twice.
 *
 * Besides the record it keeps the run's bookkeeping: warnings (also reported), failures of guarded
 * steps, and why the run is not complete (`outstanding`) — what a partial result reports.
 */
import type { CustodyAction } from './custody-actions.js';
import { CleanroomError, asError, type ErrorCode } from './errors.js';
import type { EvidencePatch } from './evidence.js';
import { silentReporter, type Reporter } from './reporter.js';
import { isInterrupted } from './abort.js';
import { isWaitHandedOff } from './hand-off.js';
import { markKey, idempotencyKeys, type IdempotencyKey } from './idempotency-keys.js';
import {
  type CustodyEntry,
  type CustodyRecorder,
  type RecordedEvent,
  type ResourceRef,
  resourceRef,
} from './recorder.js';

/** A failure of one guarded step, kept for the summary (the step is recorded as failed too). */
export interface StepFailure {
  step: string;
  item: string;
  code: ErrorCode;
  message: string;
}

export class StepRecorder {
  readonly warnings: string[] = [];
  readonly failures: StepFailure[] = [];
  /** Why the run is not complete (each a sentence naming the thing and what to do). */
  readonly outstanding: string[] = [];

  constructor(
    readonly custody: CustodyRecorder,
    readonly reporter: Reporter = silentReporter,
  ) {}

  warn(message: string): void {
    this.warnings.push(message);
    this.reporter.warn(message);
  }

  step(message: string): void {
    this.reporter.progress({ kind: 'step', message });
  }

  progress(item: string, phase: string, message?: string): void {
    this.reporter.progress({ kind: 'item', item, phase, ...(message ? { message } : {}) });
  }

  /** The event a step recorded under this key, unless it failed (this run or an earlier one). */
  done(key: string): RecordedEvent | undefined {
    const e = this.custody.find(key);
    return e && e.outcome.status !== 'failed' ? e : undefined;
  }

  /** Record a step's result under its idempotency key (a rerun returns the existing event). */
  record(
    key: IdempotencyKey,
    action: CustodyAction,
    resources: ResourceRef[],
    outcome: CustodyEntry['outcome'],
    inputs?: Record<string, unknown>,
  ): Promise<RecordedEvent> {
    return this.custody.record({ action, resources, outcome, idempotencyKey: key, ...(inputs ? { inputs } : {}) });
  }

  /** Record a change of an evidence item (the fold reads `outcome.details.evidence`). */
  recordEvidence(
    key: IdempotencyKey,
    action: CustodyAction,
    resources: ResourceRef[],
    patch: EvidencePatch,
    extra: Record<string, unknown> = {},
    inputs?: Record<string, unknown>,
  ): Promise<RecordedEvent> {
    return this.record(
      key,
      action,
      resources,
      { status: 'succeeded', details: { ...extra, evidence: strip(patch) } },
      inputs,
    );
  }

  /**
   * Record that a step of an evidence item failed: how far it got and why, keyed by the step and
   * the error code so the same failure on a rerun is not recorded twice. Never throws over the
   * original error.
   */
  async recordFailure(
    evidenceId: string,
    step: string,
    reached: string | undefined,
    e: unknown,
    resources: ResourceRef[],
  ): Promise<void> {
    // A step stopped by the workflow's signal, or whose wait was handed to the caller, did not
    // fail: a rerun takes it up again.
    if (isInterrupted(e) || isWaitHandedOff(e)) return;
    const { code, message } = describe(e);
    try {
      await this.record(idempotencyKeys.evidence.failed(evidenceId, step, code), 'evidence.failed', resources, {
        status: 'failed',
        error: { code, message },
        details: { step, reached: reached ?? null, evidence: { evidenceId, state: 'failed' } },
      });
    } catch (recErr) {
      this.reporter.warn(`could not record the failure of ${step} of ${evidenceId}: ${asError(recErr).message}`);
    }
  }

  /**
   * Run one step; if it throws, record the failure under `<key>:failed:<CODE>` (so the same failure
   * on a rerun is not recorded twice), note it as outstanding, and return undefined so the other
   * steps still run. Nothing that succeeded is undone.
   */
  async guard<T>(
    key: IdempotencyKey,
    action: CustodyAction,
    item: string,
    resources: ResourceRef[],
    fn: () => Promise<T>,
  ): Promise<T | undefined> {
    try {
      return await fn();
    } catch (e) {
      // Stopped by the workflow's signal, or its wait handed to the caller: not a failure of this
      // step; the workflow stops here.
      if (isInterrupted(e) || isWaitHandedOff(e)) throw e;
      const { code, message } = describe(e);
      this.failures.push({ step: action, item, code, message });
      this.outstanding.push(`${action} of ${item} failed: ${message}`);
      this.reporter.warn(`${action} of ${item} failed: ${message}`);
      try {
        await this.record(markKey(key, 'failed', code), action, resources, {
          status: 'failed',
          error: { code, message },
        });
      } catch (recErr) {
        this.reporter.warn(`could not record the failure of ${action} of ${item}: ${asError(recErr).message}`);
      }
      return undefined;
    }
  }

  ref(type: string, id: string, account: string, region: string, arn?: string): ResourceRef {
    return resourceRef(type, id, account, region, arn);
  }
}

/** The code and one-line message of an error, as the record keeps them. */
function describe(e: unknown): { code: ErrorCode; message: string } {
  const err = asError(e);
  return {
    code: err instanceof CleanroomError ? err.code : 'INTERNAL',
    message: err.message.replace(/\s+/g, ' ').trim(),
  };
}

/** Drop undefined fields (custody values are JSON). */
function strip(p: EvidencePatch): EvidencePatch {
  return Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as EvidencePatch;
}
