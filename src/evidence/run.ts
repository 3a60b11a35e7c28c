/**
 * What every evidence step shares (acquisition, evidence attach/detach): the case, the forensic
 * account, the custody record, the reporter and clock, the budgets, AWS's limits, the one batched
 * watcher; a step records itself through the one step recorder (domain/step-recorder.ts).
 */
import type { AwsAccount } from '../aws/ports.js';
import type { CustodyRecorder } from '../domain/recorder.js';
import { StepRecorder } from '../domain/step-recorder.js';
import type { Reporter } from '../domain/reporter.js';
import { silentReporter } from '../domain/reporter.js';
import { systemClock, type Clock } from '../domain/waiter.js';
import { AWS_LIMITS, Limits, type EvidenceLimits } from './limits.js';
import { ResourceWatcher, type WatcherOptions } from './watch.js';

/** Time budgets (milliseconds). */
export interface EvidenceBudgets {
  /** Fixed part of each snapshot or copy wait. */
  waitBaseMs: number;
  /** Added to each snapshot or copy wait per GiB of the source volume (a large volume takes longer). */
  waitPerGiBMs: number;
  /** A volume to become available after CreateVolume, attached after AttachVolume, available after DetachVolume. */
  volumeMs: number;
  /** Retrying one API call that keeps failing transiently (throttling, 5xx, resets). */
  apiMs: number;
  /** The forensic instance to report the attached evidence through SSM. */
  readOnlyCheckMs: number;
  /** Fixed part of the in-room hash of one evidence disk (room-hash.ts). */
  roomHashBaseMs: number;
  /** Added to it per GiB: the whole disk is read, and a volume made from a snapshot loads its blocks lazily from S3. */
  roomHashPerGiBMs: number;
}

export const DEFAULT_EVIDENCE_BUDGETS: EvidenceBudgets = {
  waitBaseMs: 30 * 60_000,
  waitPerGiBMs: 60_000,
  volumeMs: 10 * 60_000,
  apiMs: 5 * 60_000,
  readOnlyCheckMs: 60_000,
  roomHashBaseMs: 5 * 60_000,
  roomHashPerGiBMs: 60_000,
};

export interface EvidenceRunOptions {
  caseId: string;
  forensic: AwsAccount;
  custody: CustodyRecorder;
  reporter?: Reporter;
  clock?: Clock;
  budgets?: Partial<EvidenceBudgets>;
  limits?: Partial<EvidenceLimits>;
  watcher?: WatcherOptions;
}

/** The step recorder of an evidence run, with the run's case, forensic account, budgets, limits and watcher. */
export class EvidenceRun extends StepRecorder {
  readonly caseId: string;
  readonly forensic: AwsAccount;
  readonly clock: Clock;
  readonly budgets: EvidenceBudgets;
  readonly limits: Limits;
  readonly watcher: ResourceWatcher;

  constructor(o: EvidenceRunOptions) {
    const reporter = o.reporter ?? silentReporter;
    super(o.custody, reporter);
    this.caseId = o.caseId;
    this.forensic = o.forensic;
    this.clock = o.clock ?? systemClock;
    this.budgets = { ...DEFAULT_EVIDENCE_BUDGETS, ...o.budgets };
    this.limits = new Limits({ ...AWS_LIMITS, ...o.limits }, this.clock);
    this.watcher = new ResourceWatcher(this.clock, reporter, o.watcher);
  }

  /** Budget of one snapshot or copy wait for a volume of this size. */
  waitBudget(sizeGiB: number | undefined): number {
    return this.budgets.waitBaseMs + this.budgets.waitPerGiBMs * (sizeGiB ?? 0);
  }
}
