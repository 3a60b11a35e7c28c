/**
 * What every step of `case close` shares: the accounts, the custody record, the reporter and
 * clock, and the run's bookkeeping (warnings, failures, why the close is incomplete), plus the one
 * way a step records itself so a rerun never duplicates an event.
 */
import type { AwsAccount } from '../../aws/ports.js';
import type { CustodyEntry, CustodyRecorder, RecordedEvent, ResourceRef } from '../../domain/recorder.js';
import { CleanroomError, asError } from '../../domain/errors.js';
import type { Reporter } from '../../domain/reporter.js';
import type { Clock } from '../../domain/waiter.js';

/** Time budgets of the waits (milliseconds). */
export interface CloseBudgets {
  /** A volume to become `available` after DetachVolume. */
  detachMs: number;
  /** A written-to check snapshot to complete (AWS: minutes to hours for a large volume). */
  snapshotMs: number;
  /** A volume to disappear after DeleteVolume. */
  deleteVolumeMs: number;
  /** The room stack to reach DELETE_COMPLETE. */
  stackMs: number;
}

export const DEFAULT_BUDGETS: CloseBudgets = {
  detachMs: 10 * 60_000,
  snapshotMs: 6 * 3600_000,
  deleteVolumeMs: 10 * 60_000,
  stackMs: 60 * 60_000,
};

export interface CloseSettings {
  caseId: string;
  /** Delete a working volume even though the written-to check found changed blocks. */
  acceptWritten: boolean;
  /** Delete a working volume even though the written-to check could not run. */
  acceptUnverified: boolean;
  /** Lock the evidence snapshots for this many days (EBS snapshot lock); none when undefined. */
  snapshotLockDays?: number;
  snapshotLockMode: 'compliance' | 'governance';
  /** KMS pending window for temporary keys (7–30 days). */
  keyDeletionWindowDays: number;
  budgets: CloseBudgets;
  /** Parallel GetSnapshotBlock reads in the content-hash comparison. */
  compareConcurrency: number;
  /** Volumes handled at once. */
  volumeConcurrency: number;
}

/** A failure of one step, kept for the summary (the step is recorded as failed too). */
export interface StepFailure {
  step: string;
  item: string;
  code: string;
  message: string;
}

export class CloseRun {
  readonly warnings: string[] = [];
  readonly failures: StepFailure[] = [];
  /** Why the close is not complete (each a sentence naming the thing and what to do). */
  readonly outstanding: string[] = [];

  constructor(
    readonly settings: CloseSettings,
    readonly account: AwsAccount,
    readonly custody: CustodyRecorder,
    readonly reporter: Reporter,
    readonly clock: Clock | undefined,
  ) {}

  get caseId(): string {
    return this.settings.caseId;
  }

  warn(message: string): void {
    this.warnings.push(message);
    this.reporter.warn(message);
  }

  step(message: string): void {
    this.reporter.progress({ kind: 'step', message });
  }

  /** The event a step recorded under this key, if it completed before (this run or an earlier one). */
  done(key: string): RecordedEvent | undefined {
    const e = this.custody.find(key);
    return e && e.outcome.status !== 'failed' ? e : undefined;
  }

  /** Record a step's result under its idempotency key (a rerun returns the existing event). */
  record(key: string, action: string, resources: ResourceRef[], outcome: CustodyEntry['outcome'], inputs?: Record<string, unknown>): Promise<RecordedEvent> {
    return this.custody.record({ action, resources, outcome, idempotencyKey: key, ...(inputs ? { inputs } : {}) });
  }

  /**
   * Run one step; if it throws, record the failure (keyed by the step and the error code, so the
   * same failure on a rerun is not recorded twice), mark the close incomplete, and return
   * undefined so the other steps still run. Nothing that succeeded is undone.
   */
  async guard<T>(key: string, action: string, item: string, resources: ResourceRef[], fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (e) {
      const err = asError(e);
      const code = err instanceof CleanroomError ? err.code : 'INTERNAL';
      const message = err.message.replace(/\s+/g, ' ').trim();
      this.failures.push({ step: action, item, code, message });
      this.outstanding.push(`${action} of ${item} failed: ${message}`);
      this.reporter.warn(`${action} of ${item} failed: ${message}`);
      try {
        await this.record(`${key}:failed:${code}`, action, resources, { status: 'failed', error: { code, message } });
      } catch (recErr) {
        this.reporter.warn(`could not record the failure of ${action} of ${item}: ${asError(recErr).message}`);
      }
      return undefined;
    }
  }
}
