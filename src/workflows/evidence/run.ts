/**
 * What every evidence step shares (acquisition, evidence attach/detach): the case, the forensic
 * account, the custody record, the reporter and clock, the budgets, AWS's limits, the one batched
 * watcher — and the one way a step records itself, so a rerun never duplicates an event.
 */
import type { AwsAccount } from '../../aws/ports.js';
import type { CustodyEntry, CustodyRecorder, RecordedEvent, ResourceRef } from '../../custody/recorder.js';
import { CleanroomError, asError } from '../../domain/errors.js';
import type { EvidencePatch } from '../../domain/evidence.js';
import { isInterrupted } from '../../domain/abort.js';
import type { Reporter } from '../../domain/reporter.js';
import { silentReporter } from '../../domain/reporter.js';
import { systemClock, type Clock } from '../../domain/waiter.js';
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
}

export const DEFAULT_EVIDENCE_BUDGETS: EvidenceBudgets = {
  waitBaseMs: 30 * 60_000,
  waitPerGiBMs: 60_000,
  volumeMs: 10 * 60_000,
  apiMs: 5 * 60_000,
  readOnlyCheckMs: 60_000,
};

/** Tag values of `cleanroom:role` on evidence resources. */
export const ROLE = {
  sourceSnapshot: 'source-snapshot',
  sharingCopy: 'sharing-copy',
  forensicCopy: 'forensic-copy',
  workingVolume: 'working-volume',
  shareKey: 'share-key',
} as const;

/** Extra tags on evidence snapshots (provenance, readable without the record). */
export const TAG_SOURCE_VOLUME = 'cleanroom:source-volume';
export const TAG_SOURCE_INSTANCE = 'cleanroom:source-instance';
export const TAG_SOURCE_ACCOUNT = 'cleanroom:source-account';

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

export class EvidenceRun {
  readonly caseId: string;
  readonly forensic: AwsAccount;
  readonly custody: CustodyRecorder;
  readonly reporter: Reporter;
  readonly clock: Clock;
  readonly budgets: EvidenceBudgets;
  readonly limits: Limits;
  readonly watcher: ResourceWatcher;
  readonly warnings: string[] = [];

  constructor(o: EvidenceRunOptions) {
    this.caseId = o.caseId;
    this.forensic = o.forensic;
    this.custody = o.custody;
    this.reporter = o.reporter ?? silentReporter;
    this.clock = o.clock ?? systemClock;
    this.budgets = { ...DEFAULT_EVIDENCE_BUDGETS, ...o.budgets };
    this.limits = new Limits({ ...AWS_LIMITS, ...o.limits }, this.clock);
    this.watcher = new ResourceWatcher(this.clock, this.reporter, o.watcher);
  }

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

  /** Budget of one snapshot or copy wait for a volume of this size. */
  waitBudget(sizeGiB: number | undefined): number {
    return this.budgets.waitBaseMs + this.budgets.waitPerGiBMs * (sizeGiB ?? 0);
  }

  /** The event recorded under this key, if any (this run or an earlier one). */
  done(key: string): RecordedEvent | undefined {
    const e = this.custody.find(key);
    return e && e.outcome.status !== 'failed' ? e : undefined;
  }

  /** Record a step under its idempotency key (a rerun returns the existing event). */
  record(key: string, action: string, resources: ResourceRef[], outcome: CustodyEntry['outcome'], inputs?: Record<string, unknown>): Promise<RecordedEvent> {
    return this.custody.record({ action, resources, outcome, idempotencyKey: key, ...(inputs ? { inputs } : {}) });
  }

  /** Record a change of an evidence item (the fold reads `outcome.details.evidence`). */
  recordEvidence(key: string, action: string, resources: ResourceRef[], patch: EvidencePatch, extra: Record<string, unknown> = {}, inputs?: Record<string, unknown>): Promise<RecordedEvent> {
    return this.record(key, action, resources, { status: 'succeeded', details: { ...extra, evidence: strip(patch) } }, inputs);
  }

  /**
   * Record that a step of an item failed: how far it got and why, keyed by the step and the error
   * code so the same failure on a rerun is not recorded twice. Never throws over the original error.
   */
  async recordFailure(evidenceId: string, step: string, reached: string | undefined, e: unknown, resources: ResourceRef[]): Promise<void> {
    const err = asError(e);
    // A step stopped by the workflow's signal did not fail: a rerun takes it up again.
    if (isInterrupted(err)) return;
    const code = err instanceof CleanroomError ? err.code : 'INTERNAL';
    const message = err.message.replace(/\s+/g, ' ').trim();
    try {
      await this.record(`evidence:failed:${evidenceId}:${step}:${code}`, 'evidence.failed', resources, {
        status: 'failed',
        error: { code, message },
        details: { step, reached: reached ?? null, evidence: { evidenceId, state: 'failed' } },
      });
    } catch (recErr) {
      this.reporter.warn(`could not record the failure of ${step} of ${evidenceId}: ${asError(recErr).message}`);
    }
  }

  ref(type: string, id: string, account: string, region: string, arn?: string): ResourceRef {
    return { type, id, account, region, ...(arn ? { arn } : {}) };
  }
}

/** Drop undefined fields (custody values are JSON). */
function strip(p: EvidencePatch): EvidencePatch {
  return Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as EvidencePatch;
}
