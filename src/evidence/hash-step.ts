/**
 * The content-hash step of an evidence item, shared by `acquire` (the acquisition hash, and the
 * source snapshot's hash compared with it) and `evidence hash` (a later recomputation compared with
 * the record): one snapshot hashed through the EBS direct APIs (src/evidence/content-hash.ts) within
 * the evidence wait budget for the volume's size, with progress for the reporter, and the source
 * hash's outcome as the record keeps it (equal / different / unavailable / skipped).
 */
import type { AwsAccount } from '../aws/ports.js';
import { AwsError, TimeoutError, asError } from '../domain/errors.js';
import type { EvidencePatch, SourceHash } from '../domain/evidence.js';
import type { EvidenceRun } from './run.js';
import { hashSnapshot, type ContentHash, type SnapshotReadOptions } from './content-hash.js';

export type { ContentHash } from './content-hash.js';

/** Hashes one snapshot (the library's {@link hashSnapshot}; a test passes a fake). */
export type SnapshotHasher = (
  account: Pick<AwsAccount, 'ebs'>,
  snapshotId: string,
  opts?: SnapshotReadOptions,
) => Promise<ContentHash>;

export interface HashStepOptions {
  /** The evidence item (progress and messages name it). */
  item: string;
  /** What is hashed, in words: `forensic snapshot`, `source snapshot`. */
  what: string;
  /** The volume's size, for the budget (the evidence wait budget: fixed part + per GiB). */
  sizeGiB?: number;
  signal?: AbortSignal;
  hasher?: SnapshotHasher;
}

/**
 * Hash one snapshot within its budget, reporting progress (every 5 %). Stopped by `signal`: the
 * hasher's own abort error; out of budget: TIMEOUT naming the snapshot.
 */
export async function hashWithinBudget(
  run: EvidenceRun,
  account: Pick<AwsAccount, 'ebs'>,
  snapshotId: string,
  o: HashStepOptions,
): Promise<ContentHash> {
  const budgetMs = run.waitBudget(o.sizeGiB);
  const budget = new AbortController();
  // A wall-clock budget (a hash is work, not a wait: the run's clock, fake in tests, does not advance
  // while it runs). Not unref'd: a hash whose reads are stuck must still end at its budget.
  const timer = setTimeout(() => budget.abort(new Error('hash budget spent')), budgetMs);
  const signal = o.signal ? AbortSignal.any([o.signal, budget.signal]) : budget.signal;
  let lastStep = -1;
  run.progress(o.item, 'hashing', `${o.what} ${snapshotId} (SHA-256 and Merkle root, EBS direct)`);
  try {
    const opts: SnapshotReadOptions = {
      signal,
      onProgress: ({ bytesDone, bytesTotal }) => {
        const pct = bytesTotal > 0 ? Math.floor((bytesDone / bytesTotal) * 100) : 100;
        const step = Math.floor(pct / 5);
        if (step === lastStep) return;
        lastStep = step;
        run.reporter.progress({
          kind: 'item',
          item: o.item,
          phase: 'hashing',
          percent: pct,
          message: `${o.what} ${snapshotId}: ${mib(bytesDone)} of ${mib(bytesTotal)} MiB`,
        });
      },
    };
    // Called directly (not as a function value) so the IAM policy check follows the account.
    return await (o.hasher ? o.hasher(account, snapshotId, opts) : hashSnapshot(account, snapshotId, opts));
  } catch (e) {
    if (budget.signal.aborted && !o.signal?.aborted)
      throw new TimeoutError(
        `Hashing the ${o.what} ${snapshotId} of ${o.item} did not finish within its budget (${Math.round(budgetMs / 60_000)} min for ${o.sizeGiB ?? '?'} GiB); run the command again with a larger --budget-minutes-per-gib.`,
        { snapshotId, evidenceId: o.item, budgetMs },
      );
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

const mib = (n: number) => Math.round(n / 2 ** 20);

/** Whether an error (or one it was caused by) is AWS refusing access: the role may not read EBS direct or the key. */
export function accessDeniedReason(e: unknown): string | undefined {
  for (let x: unknown = e, depth = 0; x && depth < 6; x = (x as { cause?: unknown }).cause, depth++) {
    if (x instanceof AwsError && /AccessDenied|UnauthorizedOperation|Forbidden|AuthorizationError/.test(x.awsCode))
      return asError(x).message;
  }
  return undefined;
}

/** The source snapshot's hash, or why there is none (access denied: unavailable, not a failure). */
export type SourceHashResult = { hash: ContentHash } | { unavailable: string };

/** Hash the source snapshot in the source account; AWS refusing access is `unavailable` with its reason. */
export async function hashSource(
  run: EvidenceRun,
  source: Pick<AwsAccount, 'ebs'>,
  snapshotId: string,
  o: HashStepOptions,
): Promise<SourceHashResult> {
  try {
    return { hash: await hashWithinBudget(run, source, snapshotId, o) };
  } catch (e) {
    const reason = accessDeniedReason(e);
    if (reason === undefined) throw e;
    return { unavailable: reason };
  }
}

/** How the source snapshot compares with the forensic snapshot, as the record keeps it. */
export function sourceHashOutcome(
  forensic: ContentHash,
  source: SourceHashResult | undefined,
  sourceSnapshotId: string | undefined,
): SourceHash {
  if (!source) return { status: 'skipped', ...(sourceSnapshotId ? { snapshotId: sourceSnapshotId } : {}) };
  if ('unavailable' in source)
    return {
      status: 'unavailable',
      ...(sourceSnapshotId ? { snapshotId: sourceSnapshotId } : {}),
      reason: source.unavailable,
    };
  const h = source.hash;
  return {
    status: sameContent(forensic, h) ? 'equal' : 'different',
    snapshotId: h.snapshotId,
    sha256: h.sha256,
    merkleRoot: h.merkleRoot,
    hashedAt: h.hashedAt,
  };
}

/** Two hashes of the same content: the same disk size, SHA-256 and Merkle root. */
export function sameContent(a: ContentHash, b: Pick<ContentHash, 'sha256' | 'merkleRoot' | 'sizeBytes'>): boolean {
  return a.sha256 === b.sha256 && a.merkleRoot === b.merkleRoot && a.sizeBytes === b.sizeBytes;
}

/** The evidence item fields of a content hash (what `evidence.hash` writes into the item). */
export function hashFields(h: ContentHash): Omit<EvidencePatch, 'evidenceId'> {
  return {
    sha256: h.sha256,
    merkleRoot: h.merkleRoot,
    sizeBytes: h.sizeBytes,
    blockSize: h.blockSize,
    blocksRead: h.blocksRead,
    hashedAt: h.hashedAt,
    hashTool: { ...h.hashTool },
  };
}
