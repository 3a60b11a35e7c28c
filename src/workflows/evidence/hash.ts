/**
 * `evidence hash`: recompute the content hash of evidence items from their forensic snapshots (the
 * evidence of record, through the forensic account's EBS direct APIs) and compare it with the
 * acquisition hash the custody record holds — "SHA-256 at acquisition = X, at analysis = X".
 * Every recomputation is recorded (`evidence.hash.check`), equal or not. The items are read from
 * the record first: an unknown evidence id is refused (exit 2) before any AWS call.
 */
import type { AwsAccount } from '../../aws/ports.js';
import type { CustodyRecorder } from '../../domain/recorder.js';
import { createHash } from 'node:crypto';
import { assertCaseId } from '../../domain/case-id.js';
import { CleanroomError, PartialFailureError, UsageError } from '../../domain/errors.js';
import { foldEvidence, type EvidencePatch } from '../../domain/evidence.js';
import { idempotencyKeys } from '../../domain/idempotency-keys.js';
import { mapPool } from '../../domain/pool.js';
import type { Reporter } from '../../domain/reporter.js';
import { systemClock, type Clock } from '../../domain/waiter.js';
import { abortableClock } from '../../domain/abort.js';
import { withCustodySession, type SealState } from '../../custody/session.js';
import { EvidenceRun, type EvidenceBudgets } from '../../evidence/run.js';
import { hashWithinBudget, sameContent, type ContentHash, type SnapshotHasher } from '../../evidence/hash-step.js';
import { recordedItem } from './recorded.js';

export interface EvidenceHashDeps {
  /** The forensic account (the forensic snapshots, the custody record). */
  forensic: AwsAccount;
  custody: CustodyRecorder;
  reporter?: Reporter;
  clock?: Clock;
  /** Hashes a snapshot (default: the library's `hashSnapshot`; tests pass a fake). */
  hasher?: SnapshotHasher;
}

export interface EvidenceHashOptions {
  caseId: string;
  /** One evidence item … */
  evidenceId?: string;
  /** … or every preserved item of the case. */
  all?: boolean;
  /** Overrides of the wait budgets (a hash gets the snapshot wait budget for its size). */
  budgets?: Partial<EvidenceBudgets>;
  /** Stops the hash at once (INTERRUPTED); what was recorded is sealed. */
  signal?: AbortSignal;
}

/** How a recomputation compares with the record. */
export type HashCheckResult =
  /** The same SHA-256, Merkle root and size as the acquisition hash. */
  | 'equal'
  /** Not the same: the evidence of record no longer reads as it did at acquisition (exit 3). */
  | 'different'
  /** The record holds no acquisition hash (acquired before cleanroom hashed): nothing to compare. */
  | 'no-record';

export interface HashCheck {
  evidenceId: string;
  snapshotId: string;
  result: HashCheckResult;
  /** What this run computed. */
  computed: ContentHash;
  /** The acquisition hash of the record (null when there is none). */
  recorded: { sha256: string; merkleRoot: string | null; sizeBytes: number | null; hashedAt: string | null } | null;
}

export interface EvidenceHashResult {
  case: string;
  checks: HashCheck[];
  /** Whether every item hashes as recorded (false when one is `different`). */
  ok: boolean;
  warnings: string[];
  seal: SealState;
}

/** Check the options before any AWS call: the case id, and exactly one of an evidence id or all. */
export function checkEvidenceHashOptions(o: EvidenceHashOptions): string {
  const caseId = assertCaseId(o.caseId);
  if (o.evidenceId && o.all)
    throw new UsageError('CONFLICTING_OPTIONS', 'Give --evidence EID or --all, not both.', {
      details: { evidenceId: o.evidenceId },
    });
  if (!o.evidenceId && !o.all)
    throw new UsageError(
      'MISSING_OPTION',
      `Name the evidence to hash: --evidence EID (see \`cleanroom evidence list --case ${caseId}\`) or --all.`,
    );
  return caseId;
}

/**
 * The items to hash, from the record alone (no AWS call): the named one (unknown → UNKNOWN_EVIDENCE,
 * not preserved → NOT_PRESERVED, exit 2) or every preserved item.
 */
export function itemsToHash(custody: CustodyRecorder, caseId: string, o: EvidenceHashOptions): EvidencePatch[] {
  if (o.evidenceId) {
    const item = recordedItem(custody, caseId, o.evidenceId);
    if (!item.forensicSnapshotId)
      throw new UsageError(
        'NOT_PRESERVED',
        `Evidence ${o.evidenceId} of case ${caseId} has no forensic snapshot yet (it is ${item.state ?? 'unknown'}): run the same \`cleanroom acquire\` again to finish it, then hash it.`,
        { details: { evidenceId: o.evidenceId, state: item.state ?? null } },
      );
    return [item];
  }
  const items = [...foldEvidence(custody.events()).values()].filter((e) => e.forensicSnapshotId);
  if (!items.length)
    throw new UsageError('NOT_PRESERVED', `Case ${caseId} has no preserved evidence to hash (acquire first).`, {
      details: { caseId },
    });
  return items;
}

/** Recompute and compare (see the module comment); seals the record on the way out. */
export async function hashEvidence(deps: EvidenceHashDeps, o: EvidenceHashOptions): Promise<EvidenceHashResult> {
  const caseId = checkEvidenceHashOptions(o);
  return withCustodySession(deps.custody, o.signal, async (session) => {
    const items = itemsToHash(deps.custody, caseId, o);
    const run = new EvidenceRun({
      caseId,
      forensic: deps.forensic,
      custody: deps.custody,
      reporter: deps.reporter,
      clock: abortableClock(deps.clock ?? systemClock, o.signal),
      budgets: o.budgets,
    });
    session.checkpoint('hashing');
    // Two at a time: each hash already reads 16 blocks in parallel.
    const settled = await mapPool(items, 2, (item) => checkOne(run, deps, o, item));
    const checks = settled.flatMap((s) => (s.ok ? [s.value] : []));
    const failed = settled.flatMap((s) => (s.ok ? [] : [{ item: s.item.evidenceId, error: s.error }]));
    const different = checks.filter((c) => c.result === 'different');
    const result = { case: caseId, checks, ok: different.length === 0, warnings: run.warnings };
    if (failed.length)
      throw new PartialFailureError(
        `${failed.length} of ${items.length} evidence item(s) of case ${caseId} could not be hashed${different.length ? `; ${different.map((c) => c.evidenceId).join(', ')} hashed DIFFERENT from the record` : ''}. Run the same command again.`,
        failed,
        {
          case: caseId,
          failures: failed.map((f) => ({
            evidenceId: f.item,
            code: f.error instanceof CleanroomError ? f.error.code : 'INTERNAL',
          })),
        },
        result,
      );
    return result;
  });
}

/** Hash one item's forensic snapshot, compare, record. */
async function checkOne(
  run: EvidenceRun,
  deps: EvidenceHashDeps,
  o: EvidenceHashOptions,
  item: EvidencePatch,
): Promise<HashCheck> {
  const eid = item.evidenceId;
  const snapshotId = item.forensicSnapshotId!;
  const computed = await hashWithinBudget(run, run.forensic, snapshotId, {
    item: eid,
    what: 'forensic snapshot',
    ...(item.sizeGiB !== undefined ? { sizeGiB: item.sizeGiB } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
    ...(deps.hasher ? { hasher: deps.hasher } : {}),
  });
  const recorded = item.sha256
    ? {
        sha256: item.sha256,
        merkleRoot: item.merkleRoot ?? null,
        sizeBytes: item.sizeBytes ?? null,
        hashedAt: item.hashedAt ?? null,
      }
    : null;
  const result: HashCheckResult = !recorded
    ? 'no-record'
    : sameContent(computed, {
          sha256: recorded.sha256,
          merkleRoot: recorded.merkleRoot ?? computed.merkleRoot,
          sizeBytes: recorded.sizeBytes ?? computed.sizeBytes,
        })
      ? 'equal'
      : 'different';
  if (result === 'different')
    run.warn(
      `${eid}: the forensic snapshot ${snapshotId} now hashes ${computed.sha256}, NOT the ${recorded!.sha256} recorded at acquisition.`,
    );
  if (result === 'no-record')
    run.warn(
      `${eid}: the record holds no acquisition hash to compare with (acquired before cleanroom hashed); this hash is recorded.`,
    );
  const digest = createHash('sha256').update(`${computed.sha256}|${computed.hashedAt}`).digest('hex').slice(0, 16);
  await run.record(
    idempotencyKeys.evidence.hashCheck(eid, snapshotId, digest),
    'evidence.hash.check',
    [run.ref('ec2:snapshot', snapshotId, await run.forensic.accountId(), run.forensic.region)],
    {
      status: 'succeeded',
      details: {
        evidenceId: eid,
        snapshotId,
        result,
        sha256: computed.sha256,
        merkleRoot: computed.merkleRoot,
        sizeBytes: computed.sizeBytes,
        blockSize: computed.blockSize,
        blocksRead: computed.blocksRead,
        hashedAt: computed.hashedAt,
        hashTool: { ...computed.hashTool },
        recorded,
      },
    },
  );
  return { evidenceId: eid, snapshotId, result, computed, recorded };
}
