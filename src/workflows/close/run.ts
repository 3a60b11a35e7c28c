/**
 * What every step of `case close` shares: the accounts, the custody record, the reporter and
 * clock; the run's bookkeeping (warnings, failures, why the close is incomplete) and the way a step
 * records itself are the one step recorder's (domain/step-recorder.ts).
 */
import type { AwsAccount } from '../../aws/ports.js';
import type { CustodyRecorder } from '../../domain/recorder.js';
import { StepRecorder } from '../../domain/step-recorder.js';
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

export type { StepFailure } from '../../domain/step-recorder.js';

/** The step recorder of a close, with its settings and the forensic account. */
export class CloseRun extends StepRecorder {
  constructor(
    readonly settings: CloseSettings,
    readonly account: AwsAccount,
    custody: CustodyRecorder,
    reporter: Reporter,
    readonly clock: Clock | undefined,
  ) {
    super(custody, reporter);
  }

  get caseId(): string {
    return this.settings.caseId;
  }
}
