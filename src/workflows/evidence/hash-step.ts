/**
 * The acquisition hash of one evidence item, computed a time budget at a time (automation: one
 * Lambda invocation per pass, the state carried by Step Functions between them). The forensic
 * snapshot of record is read as `acquire` reads it (src/evidence/content-hash.ts, through the
 * resumable pass of src/evidence/resumable-hash.ts); when the last block is in, the hash is recorded
 * exactly as `acquire` records it: one `evidence.hash` event under the same idempotency key, with
 * the same fields (so `custody verify`, `evidence list`, the report and `evidence hash` read it
 * unchanged). The source snapshot's hash is not computed here (status `skipped`, as with
 * `acquire --no-source-hash`): a second disk-sized read would double the time to the evidence.
 *
 * An item whose acquisition hash is already recorded (an earlier pass, or `acquire` hashed it) is
 * answered from the record at once: calling again is harmless.
 */
import type { AwsAccount } from '../../aws/ports.js';
import type { CustodyRecorder } from '../../domain/recorder.js';
import { assertCaseId } from '../../domain/case-id.js';
import { UsageError } from '../../domain/errors.js';
import { foldEvidence } from '../../domain/evidence.js';
import { idempotencyKeys } from '../../domain/idempotency-keys.js';
import type { Reporter } from '../../domain/reporter.js';
import { withCustodySession, type SealState } from '../../custody/session.js';
import { EvidenceRun } from '../../evidence/run.js';
import { hashFields, sourceHashOutcome } from '../../evidence/hash-step.js';
import { hashSnapshotResumable, type HashResume } from '../../evidence/resumable-hash.js';
import { recordedItem } from './recorded.js';

export type { HashResume } from '../../evidence/resumable-hash.js';

export interface HashEvidenceStepDeps {
  /** The forensic account (the forensic snapshot, the custody record). */
  forensic: AwsAccount;
  custody: CustodyRecorder;
  reporter?: Reporter;
}

export interface HashEvidenceStepOptions {
  caseId: string;
  evidenceId: string;
  /** The state the previous pass returned (none: from the first block). */
  resume?: HashResume;
  /** Wall-clock time this pass may read for (ms); leave room for the record (a Lambda of 15 min: ~13 min). */
  budgetMs: number;
  /** Stops the pass at once (INTERRUPTED); nothing is recorded for a pass that did not finish. */
  signal?: AbortSignal;
  /** Parallel GetSnapshotBlock calls (default 16). */
  concurrency?: number;
}

/** What one pass came to: not done (hand `resume` to the next pass) or the hash, recorded. */
export type HashEvidenceStepResult =
  | { done: false; resume: HashResume; bytesHashed: number; totalBytes: number; seal: SealState }
  | {
      done: true;
      evidenceId: string;
      snapshotId: string;
      sha256: string;
      merkleRoot: string;
      sizeBytes: number;
      /** True when the record already held the acquisition hash (nothing was read). */
      alreadyRecorded: boolean;
      bytesHashed: number;
      totalBytes: number;
      seal: SealState;
    };

/** One pass of the acquisition hash of an item (see the module comment); seals the record on the way out. */
export async function hashEvidenceStep(
  deps: HashEvidenceStepDeps,
  o: HashEvidenceStepOptions,
): Promise<HashEvidenceStepResult> {
  const caseId = assertCaseId(o.caseId);
  if (!(Number.isFinite(o.budgetMs) && o.budgetMs >= 0))
    throw new UsageError('INVALID_BUDGET', `budgetMs must be a number ≥ 0, got ${o.budgetMs}.`, {
      details: { budgetMs: o.budgetMs },
    });
  return withCustodySession(deps.custody, o.signal, async (session) => {
    const item = recordedItem(deps.custody, caseId, o.evidenceId);
    const snapshotId = item.forensicSnapshotId;
    if (!snapshotId)
      throw new UsageError(
        'NOT_PRESERVED',
        `Evidence ${o.evidenceId} of case ${caseId} has no forensic snapshot yet (it is ${item.state ?? 'unknown'}): acquire it first.`,
        { details: { evidenceId: o.evidenceId, state: item.state ?? null } },
      );
    const key = idempotencyKeys.acquire.hash(item.evidenceId, snapshotId);
    if (deps.custody.find(key) && item.sha256 && item.merkleRoot && item.sizeBytes !== undefined)
      return {
        done: true as const,
        evidenceId: item.evidenceId,
        snapshotId,
        sha256: item.sha256,
        merkleRoot: item.merkleRoot,
        sizeBytes: item.sizeBytes,
        alreadyRecorded: true,
        bytesHashed: item.sizeBytes,
        totalBytes: item.sizeBytes,
      };
    session.checkpoint('hashing');
    const pass = await hashSnapshotResumable(deps.forensic, snapshotId, {
      ...(o.resume ? { resume: o.resume } : {}),
      budgetMs: o.budgetMs,
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
    });
    if (!pass.done) return pass;
    const h = pass.hash;
    const run = new EvidenceRun({ caseId, forensic: deps.forensic, custody: deps.custody, reporter: deps.reporter });
    const forensicAccount = await deps.forensic.accountId();
    const src = item.sourceSnapshotId;
    await run.recordEvidence(
      key,
      'evidence.hash',
      [
        run.ref('ec2:snapshot', snapshotId, forensicAccount, deps.forensic.region),
        ...(src && item.sourceAccount && item.sourceRegion
          ? [run.ref('ec2:snapshot', src, item.sourceAccount, item.sourceRegion)]
          : []),
      ],
      { evidenceId: item.evidenceId, ...hashFields(h), sourceHash: sourceHashOutcome(h, undefined, src) },
      { snapshotId, result: 'skipped' },
    );
    const recorded = foldEvidence(deps.custody.events()).get(item.evidenceId);
    return {
      done: true as const,
      evidenceId: item.evidenceId,
      snapshotId,
      sha256: recorded?.sha256 ?? h.sha256,
      merkleRoot: recorded?.merkleRoot ?? h.merkleRoot,
      sizeBytes: h.sizeBytes,
      alreadyRecorded: false,
      bytesHashed: pass.bytesHashed,
      totalBytes: pass.totalBytes,
    };
  });
}
