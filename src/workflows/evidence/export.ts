/**
 * `evidence export`: the raw image of an evidence item's forensic snapshot (the evidence of
 * record), read through the EBS direct APIs, into the vault (`cases/<case>/images/<eid>.raw`, a
 * resumable multipart upload with a SHA-256 per part, SSE-KMS, Object Lock retention) or into a
 * local sparse file. cleanroom's own SHA-256 of every byte it wrote must equal the acquisition hash
 * in the record: else nothing is kept (the upload aborted, the partial file removed), the mismatch
 * is recorded, and the run fails with EXPORT_HASH_MISMATCH (exit 3).
 *
 * Recorded: `evidence.export.start` when an upload begins or is taken up (with its upload id), and
 * one `evidence.export` per exported image (outcome.details.export; the item's `lastExport`) —
 * a rerun after a crash finds the upload or the completed object and records it once.
 */
import type { AwsAccount } from '../../aws/ports.js';
import type { CustodyRecorder, ResourceRef } from '../../domain/recorder.js';
import { assertCaseId } from '../../domain/case-id.js';
import { CleanroomError, UsageError, VerificationFailedError } from '../../domain/errors.js';
import { foldEvidence, type EvidencePatch, type ImageExport } from '../../domain/evidence.js';
import { eventsOfFamily, idempotencyKeys, markKey } from '../../domain/idempotency-keys.js';
import { StepRecorder } from '../../domain/step-recorder.js';
import type { Reporter } from '../../domain/reporter.js';
import { withCustodySession, type SealState } from '../../custody/session.js';
import { checkOutFile } from '../../custody/out-path.js';
import { hashSnapshot, type ContentHash, type SnapshotReadOptions } from '../../evidence/content-hash.js';
import {
  exportToFile,
  exportToVault,
  fileDigest,
  imageKey,
  type BlockReader,
  type FileOps,
  type ImageVault,
} from '../../evidence/image-export.js';
import { recordedItem } from './recorded.js';

export interface ExportDeps {
  forensic: AwsAccount;
  custody: CustodyRecorder;
  /** The vault the record lives in (required for `--to-vault`): bucket, vault key, lock mode and days. */
  vault?: ImageVault;
  reporter?: Reporter;
  /** Clock for the retention date and the record (tests). */
  now?: () => Date;
  /** The snapshot reader (default: the hashing core's `hashSnapshot`). */
  readSnapshot?: typeof hashSnapshot;
  /** File operations of `--out` (tests: a disk that fills up). */
  files?: FileOps;
}

export type ExportTarget = { kind: 'vault' } | { kind: 'file'; path: string; force?: boolean };

export interface ExportOptions {
  caseId: string;
  evidenceId: string;
  target: ExportTarget;
  /** Stops the run between blocks and parts (INTERRUPTED); a vault upload is taken up by a rerun. */
  signal?: AbortSignal;
  /** Reading budgets: blocks in flight and the in-order window (see SnapshotReadOptions). */
  read?: Pick<SnapshotReadOptions, 'concurrency' | 'window' | 'retries'>;
  /** Parts uploaded at once (default 2). */
  uploadConcurrency?: number;
}

export interface ExportResult {
  case: string;
  evidenceId: string;
  export: ImageExport;
  /** Vault: the upload was taken up from an earlier run (parts kept), or found completed. */
  resumed?: { partsKept: number; foundCompleted: boolean };
  evidence: EvidencePatch;
  warnings: string[];
  seal: SealState;
}

/** The acquisition hash fields the export needs (written by acquisition / `evidence hash`). */
type Hashed = EvidencePatch & { sha256?: string; sizeBytes?: number; blockSize?: number; blocksRead?: number };

/** Export an evidence item's raw image; seals the record on the way out. */
export async function exportEvidence(deps: ExportDeps, o: ExportOptions): Promise<ExportResult> {
  const caseId = assertCaseId(o.caseId);
  const file = o.target.kind === 'file' ? checkOutFile(o.target.path, '--out', { force: o.target.force }) : undefined;
  return withCustodySession(deps.custody, o.signal, async (session) => {
    const item = recordedItem(deps.custody, caseId, o.evidenceId) as Hashed;
    const eid = item.evidenceId;
    const snapshotId = item.forensicSnapshotId;
    if (!snapshotId)
      throw new UsageError(
        'NOT_PRESERVED',
        `Evidence ${eid} of case ${caseId} is not preserved yet (it is ${item.state ?? 'unknown'}): run the same \`cleanroom acquire\` again to finish it, then export.`,
        { details: { evidenceId: eid, state: item.state ?? null } },
      );
    if (!item.sha256 || !item.sizeBytes)
      throw new UsageError(
        'EVIDENCE_NOT_HASHED',
        `Evidence ${eid} of case ${caseId} has no acquisition hash in the record, so an export could not be checked against it: run \`cleanroom evidence hash --case ${caseId} --evidence ${eid}\` (or finish \`cleanroom acquire\`), then export.`,
        { details: { evidenceId: eid, snapshotId } },
      );
    if (o.target.kind === 'vault' && !deps.vault)
      throw new CleanroomError('NO_CUSTODY', 'An export into the vault needs the vault (deps.vault).');
    const run = new StepRecorder(deps.custody, deps.reporter);
    const now = deps.now ?? (() => new Date());
    const read = readerOf(deps, snapshotId, o, run, item.sizeBytes);
    const accountId = await deps.forensic.accountId();
    const region = deps.forensic.region;
    const snapRef = run.ref('ec2:snapshot', snapshotId, accountId, region);
    session.checkpoint('the export');
    const done =
      o.target.kind === 'vault'
        ? await toVault(deps, o, { run, item, read, now, snapRef, caseId, region })
        : await toFile(deps, o, { run, item, read, now, snapRef, file: file! });
    return {
      case: caseId,
      evidenceId: eid,
      export: done.export,
      ...(done.resumed ? { resumed: done.resumed } : {}),
      evidence: foldEvidence(deps.custody.events()).get(eid)!,
      warnings: run.warnings,
    };
  });
}

interface Ctx {
  run: StepRecorder;
  item: Hashed;
  read: BlockReader;
  now: () => Date;
  snapRef: ResourceRef;
}

/** The snapshot read in index order, with progress on the reporter. */
function readerOf(
  deps: ExportDeps,
  snapshotId: string,
  o: ExportOptions,
  run: StepRecorder,
  sizeBytes: number,
): BlockReader {
  const hash = deps.readSnapshot ?? hashSnapshot;
  let shown = -1;
  return (onBlock, signal) =>
    hash(deps.forensic, snapshotId, {
      ...o.read,
      ...(signal ? { signal } : {}),
      onBlock,
      onProgress: (p) => {
        const pct = Math.floor((100 * p.bytesDone) / (p.bytesTotal || sizeBytes));
        if (pct !== shown && pct % 5 === 0) {
          shown = pct;
          run.progress(o.evidenceId, 'export', `${pct}% of ${snapshotId}`);
        }
      },
    });
}

/** Fail the run (exit 3) after recording the mismatch; nothing was kept. */
async function mismatch(
  ctx: Ctx,
  key: ReturnType<typeof idempotencyKeys.evidence.exportToFile>,
  resources: ResourceRef[],
  got: { sha256: string; content: ContentHash },
  details: Record<string, unknown>,
): Promise<never> {
  const eid = ctx.item.evidenceId;
  const message = `The image of ${eid} read now has SHA-256 ${got.sha256}${got.content.sha256 !== got.sha256 ? ` (the reader's: ${got.content.sha256})` : ''}, but the acquisition hash in the record is ${ctx.item.sha256}: the export was not kept. Check the evidence with \`cleanroom evidence hash --evidence ${eid}\`.`;
  await ctx.run.record(markKey(key, 'failed', 'EXPORT_HASH_MISMATCH'), 'evidence.export', resources, {
    status: 'failed',
    error: { code: 'EXPORT_HASH_MISMATCH', message },
    details: { export: { ...details, sha256: got.sha256, expectedSha256: ctx.item.sha256 } },
  });
  throw new VerificationFailedError('EXPORT_HASH_MISMATCH', message, {
    evidenceId: eid,
    sha256: got.sha256,
    expectedSha256: ctx.item.sha256,
  });
}

async function toVault(
  deps: ExportDeps,
  o: ExportOptions,
  c: Ctx & { caseId: string; region: string },
): Promise<{ export: ImageExport; resumed?: ExportResult['resumed'] }> {
  const vault = deps.vault!;
  const eid = c.item.evidenceId;
  const key = imageKey(c.caseId, eid);
  const location = `s3://${vault.bucket}/${key}`;
  const objRef = c.run.ref(
    's3:object',
    key,
    await deps.forensic.accountId(),
    c.region,
    `arn:aws:s3:::${vault.bucket}/${key}`,
  );
  // Uploads this record started and never finished (an export event closes its upload).
  const finished = new Set(
    eventsOfFamily(deps.custody.events(), 'evidence.export.vault').map((x) => x.fields['uploadId']),
  );
  const recordedUploads = eventsOfFamily(deps.custody.events(), 'evidence.export-start')
    .filter((x) => x.fields['evidenceId'] === eid && !finished.has(x.fields['uploadId']))
    .map((x) => x.fields['uploadId']!);
  const r = await exportToVault(deps.forensic, {
    vault,
    key,
    sizeBytes: c.item.sizeBytes!,
    blockSize: c.item.blockSize ?? 524_288,
    expectSha256: c.item.sha256!,
    read: c.read,
    recordedUploads,
    now: c.now,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.uploadConcurrency ? { uploadConcurrency: o.uploadConcurrency } : {}),
    warn: (m) => c.run.warn(m),
    onUpload: async (u) => {
      if (u.resumed) c.run.step(`taking up the upload of ${location} left by an earlier run`);
      await c.run.record(
        idempotencyKeys.evidence.exportStart(eid, u.uploadId),
        'evidence.export.start',
        [objRef, c.snapRef],
        {
          status: 'succeeded',
          details: {
            export: {
              target: 'vault',
              location,
              uploadId: u.uploadId,
              partSize: u.partSize,
              sizeBytes: c.item.sizeBytes,
            },
          },
        },
      );
    },
  });
  const key2 = idempotencyKeys.evidence.exportToVault(eid, r.uploadId);
  const base = { target: 'vault' as const, location, sizeBytes: c.item.sizeBytes!, partSize: r.partSize };
  if (!r.ok) return mismatch(c, key2, [objRef, c.snapRef], r, { ...base, uploadId: r.uploadId, aborted: true });
  const exp: ImageExport = {
    ...base,
    sha256: r.sha256,
    ...(r.versionId ? { versionId: r.versionId } : {}),
    retainUntil: r.retainUntil,
    exportedAt: c.now().toISOString(),
  };
  const { exportedAt: _t, ...details } = exp;
  const ev = await c.run.recordEvidence(
    key2,
    'evidence.export',
    [objRef, c.snapRef],
    { evidenceId: eid, lastExport: exp },
    { export: { ...details, uploadId: r.uploadId, parts: r.parts, merkleRoot: r.content.merkleRoot } },
  );
  const recorded = (ev.outcome.details?.['evidence'] as EvidencePatch | undefined)?.lastExport ?? exp;
  const resumed =
    r.partsKept > 0 || r.foundCompleted ? { partsKept: r.partsKept, foundCompleted: r.foundCompleted } : undefined;
  return { export: recorded, ...(resumed ? { resumed } : {}) };
}

async function toFile(
  deps: ExportDeps,
  o: ExportOptions,
  c: Ctx & { file: string },
): Promise<{ export: ImageExport; resumed?: ExportResult['resumed'] }> {
  const eid = c.item.evidenceId;
  const r = await exportToFile({
    file: c.file,
    sizeBytes: c.item.sizeBytes!,
    blockSize: c.item.blockSize ?? 524_288,
    ...(c.item.blocksRead !== undefined ? { blocksWithData: c.item.blocksRead } : {}),
    expectSha256: c.item.sha256!,
    read: c.read,
    ...(deps.files ? { files: deps.files } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  const base = { target: 'file' as const, location: c.file, sizeBytes: c.item.sizeBytes! };
  if (!r.ok) {
    const digest = `mismatch-${r.sha256.slice(0, 16)}`;
    return mismatch(c, idempotencyKeys.evidence.exportToFile(eid, digest), [c.snapRef], r, base);
  }
  const exp: ImageExport = { ...base, sha256: r.sha256, exportedAt: c.now().toISOString() };
  const { exportedAt: _t, ...details } = exp;
  await c.run.recordEvidence(
    idempotencyKeys.evidence.exportToFile(eid, fileDigest(c.file)),
    'evidence.export',
    [c.snapRef],
    { evidenceId: eid, lastExport: exp },
    { export: { ...details, bytesWritten: r.bytesWritten, merkleRoot: r.content.merkleRoot } },
  );
  return { export: exp };
}
