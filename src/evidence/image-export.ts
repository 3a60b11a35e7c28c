/**
 * The raw image of an evidence snapshot, streamed out of the EBS direct APIs (the hashing core's
 * in-order `onBlock`) into the vault by S3 multipart upload, or into a local sparse file — with
 * cleanroom's own SHA-256 over every byte written, which the caller compares with the acquisition
 * hash before anything is kept.
 *
 * Why the multipart upload is driven here and not with lib-storage's `Upload`: its default 5 MiB
 * part caps a stream at ~48.8 GiB, it cannot take up an upload a killed process left (no
 * ListParts), and it sends parts without a checksum the caller chose. Here the part size comes
 * from the volume size (any size S3 can hold fits in 10,000 parts), every part carries its
 * SHA-256 (`ChecksumSHA256`, which S3 checks), and a rerun finds the upload in progress
 * (ListMultipartUploads), reads its parts (ListParts), keeps each part whose checksum equals the
 * re-read bytes and uploads the rest — one upload per image, never two.
 */
import { createHash } from 'node:crypto';
import fsp from 'node:fs/promises';
import fs from 'node:fs';
import path from 'node:path';
import type { AccountCalls } from '../aws/ports.js';
import { isAwsCode } from '../aws/errors.js';
import { CleanroomError, UsageError } from '../domain/errors.js';
import { throwIfAborted } from '../domain/abort.js';
import type { ContentHash } from './content-hash.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** S3's multipart limits (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html). */
export const S3_MULTIPART = { maxParts: 10_000, minPartBytes: 5 * MiB, maxPartBytes: 5 * GiB } as const;

/** Where the vault keeps an item's raw image. */
export function imageKey(caseId: string, evidenceId: string): string {
  return `cases/${caseId}/images/${evidenceId}.raw`;
}

/**
 * The part size for an image of `sizeBytes`: the smallest multiple of the block size that is at
 * least 5 MiB and fits the image in 10,000 parts. An image larger than S3's largest object
 * (10,000 × 5 GiB = 48.8 TiB; an EBS volume can be 64 TiB) is refused (EXPORT_TOO_LARGE, exit 2).
 */
export function partSizeFor(sizeBytes: number, blockSize: number): number {
  if (!(blockSize > 0)) throw new CleanroomError('INTERNAL', `Block size ${blockSize} is not a positive number.`);
  const least = Math.max(S3_MULTIPART.minPartBytes, Math.ceil(sizeBytes / S3_MULTIPART.maxParts));
  const size = Math.ceil(least / blockSize) * blockSize;
  if (size > S3_MULTIPART.maxPartBytes) {
    throw new UsageError(
      'EXPORT_TOO_LARGE',
      `The image is ${(sizeBytes / 2 ** 40).toFixed(1)} TiB: one S3 object holds at most 10,000 parts of 5 GiB (48.8 TiB), so it cannot go into the vault as one object. Export it to a file instead (--out FILE).`,
      { details: { sizeBytes, maxBytes: S3_MULTIPART.maxParts * S3_MULTIPART.maxPartBytes } },
    );
  }
  return size;
}

/** Reads the snapshot in index order (the hashing core's `hashSnapshot` bound to a snapshot and options). */
export type BlockReader = (
  onBlock: (index: number, data: Buffer | null) => Promise<void>,
  signal?: AbortSignal,
) => Promise<ContentHash>;

const b64 = (d: Buffer) => d.toString('base64');
const hex = (d: Buffer) => d.toString('hex');

/** The image's bytes cut into parts of `partSize`, and the SHA-256 over all of them. */
class PartCutter {
  private buf: Buffer;
  private fill = 0;
  private number = 1;
  private readonly whole = createHash('sha256');
  private readonly zeros: Buffer;

  constructor(
    private readonly partSize: number,
    blockSize: number,
    private readonly emit: (partNumber: number, body: Buffer) => Promise<void>,
  ) {
    this.buf = Buffer.alloc(partSize);
    this.zeros = Buffer.alloc(blockSize);
  }

  async block(data: Buffer | null): Promise<void> {
    const bytes = data ?? this.zeros;
    this.whole.update(bytes);
    let off = 0;
    while (off < bytes.length) {
      const n = Math.min(bytes.length - off, this.partSize - this.fill);
      if (data) bytes.copy(this.buf, this.fill, off, off + n);
      else this.buf.fill(0, this.fill, this.fill + n);
      this.fill += n;
      off += n;
      if (this.fill === this.partSize) await this.flush();
    }
  }

  private async flush(): Promise<void> {
    const body = this.buf.subarray(0, this.fill);
    const n = this.number++;
    this.buf = Buffer.alloc(this.partSize);
    this.fill = 0;
    await this.emit(n, body);
  }

  /** Emit the last (short) part; the SHA-256 (hex) of everything. */
  async end(): Promise<string> {
    if (this.fill > 0) await this.flush();
    return hex(this.whole.digest());
  }
}

/** The vault and what an upload into it must carry (SSE-KMS as the bucket policy demands, the case's retention). */
export interface ImageVault {
  bucket: string;
  vaultKeyArn: string;
  lockMode: 'GOVERNANCE' | 'COMPLIANCE';
  retentionDays: number;
}

export type ExportS3 = AccountCalls<{
  s3:
    | 'createMultipartUpload'
    | 'uploadPart'
    | 'listMultipartUploads'
    | 'listParts'
    | 'completeMultipartUpload'
    | 'abortMultipartUpload'
    | 'putObjectRetention'
    | 'headObject';
}>;

export interface VaultExportInput {
  vault: ImageVault;
  key: string;
  sizeBytes: number;
  blockSize: number;
  /** The acquisition hash (hex) the image must have. */
  expectSha256: string;
  read: BlockReader;
  /** Uploads of this key the record says were started and not finished (newest last). */
  recordedUploads: string[];
  /** Called once the upload is known (created or taken up), before any part is sent. */
  onUpload: (u: { uploadId: string; partSize: number; resumed: boolean }) => Promise<void>;
  now: () => Date;
  signal?: AbortSignal;
  warn?: (message: string) => void;
  /** Parts sent at once (default 2: one uploading while the next is read). */
  uploadConcurrency?: number;
  /** Waits between looks for an object whose CompleteMultipartUpload answer was lost (tests). */
  sleep?: (ms: number) => Promise<void>;
}

export type VaultExportResult =
  | {
      ok: true;
      sha256: string;
      uploadId: string;
      partSize: number;
      parts: number;
      partsKept: number;
      versionId?: string;
      retainUntil: string;
      /** The object was completed by an earlier run that died before recording it. */
      foundCompleted: boolean;
      content: ContentHash;
    }
  | { ok: false; sha256: string; uploadId: string; partSize: number; content: ContentHash };

interface ListedPart {
  size: number;
  etag: string;
  checksum?: string;
}

/** The uploads in progress for exactly this key (all pages). */
async function uploadsOf(s3: ExportS3, bucket: string, key: string): Promise<Array<{ id: string; initiated: number }>> {
  const out: Array<{ id: string; initiated: number }> = [];
  let keyMarker: string | undefined;
  let idMarker: string | undefined;
  for (;;) {
    const r = await s3.s3.listMultipartUploads({
      Bucket: bucket,
      Prefix: key,
      ...(keyMarker ? { KeyMarker: keyMarker } : {}),
      ...(idMarker ? { UploadIdMarker: idMarker } : {}),
    });
    for (const u of r.Uploads ?? [])
      if (u.Key === key && u.UploadId) out.push({ id: u.UploadId, initiated: u.Initiated?.getTime() ?? 0 });
    if (!r.IsTruncated) return out;
    keyMarker = r.NextKeyMarker;
    idMarker = r.NextUploadIdMarker;
    if (!keyMarker && !idMarker) return out;
  }
}

/** The parts an upload holds (all pages). */
async function partsOf(s3: ExportS3, bucket: string, key: string, uploadId: string): Promise<Map<number, ListedPart>> {
  const out = new Map<number, ListedPart>();
  let marker: string | undefined;
  for (;;) {
    const r = await s3.s3.listParts({
      Bucket: bucket,
      Key: key,
      UploadId: uploadId,
      ...(marker ? { PartNumberMarker: marker } : {}),
    });
    for (const p of r.Parts ?? [])
      if (p.PartNumber && p.ETag)
        out.set(p.PartNumber, {
          size: p.Size ?? -1,
          etag: p.ETag,
          ...(p.ChecksumSHA256 ? { checksum: p.ChecksumSHA256 } : {}),
        });
    if (!r.IsTruncated || !r.NextPartNumberMarker) return out;
    marker = r.NextPartNumberMarker;
  }
}

/**
 * Is a listed part the bytes read now? By its SHA-256 checksum (S3 lists it for an upload created
 * with ChecksumAlgorithm SHA256); a part listed without one (the local AWS) by its ETag, which for a
 * part without SSE-KMS is the MD5 of its bytes — a part neither proves is uploaded again.
 */
function partMatches(had: ListedPart, checksum: string, body: Buffer): boolean {
  if (had.checksum) return had.checksum === checksum;
  return had.etag.replace(/"/g, '') === createHash('md5').update(body).digest('hex');
}

/** S3's composite checksum of a multipart object: SHA-256 of the parts' SHA-256s, then `-<parts>`. */
export function compositeChecksum(partDigests: Buffer[]): string {
  return `${b64(createHash('sha256').update(Buffer.concat(partDigests)).digest())}-${partDigests.length}`;
}

/** A tiny pool: at most `n` promises in flight; `add` waits for room (backpressure on the reader). */
class Inflight {
  private readonly running = new Set<Promise<void>>();
  private failure: unknown;
  constructor(private readonly n: number) {}
  async add(fn: () => Promise<void>): Promise<void> {
    this.check();
    while (this.running.size >= this.n) await Promise.race(this.running);
    this.check();
    const p: Promise<void> = fn()
      .catch((e) => {
        this.failure ??= e;
      })
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }
  async drain(): Promise<void> {
    await Promise.all(this.running);
    this.check();
  }
  private check(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

/**
 * Export into the vault. Finds an upload in progress for the key (or, when the record names an
 * upload that no longer is in progress and the object is there, checks that object part by part
 * against the snapshot); otherwise creates one. A wrong whole-image hash aborts the upload.
 */
export async function exportToVault(s3: ExportS3, o: VaultExportInput): Promise<VaultExportResult> {
  const { bucket } = o.vault;
  const partSize = partSizeFor(o.sizeBytes, o.blockSize);
  const inProgress = await uploadsOf(s3, bucket, o.key);
  // One upload per image: keep the one the record names (else the newest), abort any other.
  const keep =
    [...o.recordedUploads].reverse().find((id) => inProgress.some((u) => u.id === id)) ??
    [...inProgress].sort((a, b) => b.initiated - a.initiated)[0]?.id;
  for (const u of inProgress) {
    if (u.id !== keep) {
      o.warn?.(`aborted a second upload in progress for s3://${bucket}/${o.key} (${u.id})`);
      await s3.s3.abortMultipartUpload({ Bucket: bucket, Key: o.key, UploadId: u.id });
    }
  }
  if (!keep && o.recordedUploads.length > 0) {
    const done = await checkCompleted(s3, o, partSize, o.recordedUploads[o.recordedUploads.length - 1]!);
    if (done) return done;
  }
  let uploadId = keep;
  let listed = new Map<number, ListedPart>();
  if (uploadId) listed = await partsOf(s3, bucket, o.key, uploadId);
  else {
    const r = await s3.s3.createMultipartUpload({
      Bucket: bucket,
      Key: o.key,
      ContentType: 'application/octet-stream',
      ChecksumAlgorithm: 'SHA256',
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: o.vault.vaultKeyArn,
      BucketKeyEnabled: true,
      ObjectLockMode: o.vault.lockMode,
      ObjectLockRetainUntilDate: new Date(o.now().getTime() + o.vault.retentionDays * 86_400_000),
    });
    uploadId = r.UploadId!;
  }
  const id = uploadId;
  await o.onUpload({ uploadId: id, partSize, resumed: keep !== undefined });

  const parts: Array<{ PartNumber: number; ETag: string; ChecksumSHA256: string }> = [];
  let kept = 0;
  const pool = new Inflight(Math.max(1, o.uploadConcurrency ?? 2));
  const cutter = new PartCutter(partSize, o.blockSize, (n, body) =>
    pool.add(async () => {
      throwIfAborted(o.signal, `uploading part ${n}`);
      const checksum = b64(createHash('sha256').update(body).digest());
      const had = listed.get(n);
      if (had && had.size === body.length && partMatches(had, checksum, body)) {
        parts[n - 1] = { PartNumber: n, ETag: had.etag, ChecksumSHA256: checksum };
        kept++;
        return;
      }
      if (had)
        o.warn?.(
          `part ${n} of the upload in progress does not match the snapshot's bytes (${had.checksum ?? 'no checksum'} ≠ ${checksum}): uploading it again`,
        );
      const r = await s3.s3.uploadPart({
        Bucket: bucket,
        Key: o.key,
        UploadId: id,
        PartNumber: n,
        Body: body,
        ContentLength: body.length,
        ChecksumAlgorithm: 'SHA256',
        ChecksumSHA256: checksum,
      });
      parts[n - 1] = { PartNumber: n, ETag: r.ETag!, ChecksumSHA256: checksum };
    }),
  );
  const content = await o.read((_i, data) => cutter.block(data), o.signal);
  const sha256 = await cutter.end();
  await pool.drain();
  if (sha256 !== o.expectSha256 || content.sha256 !== o.expectSha256) {
    await s3.s3.abortMultipartUpload({ Bucket: bucket, Key: o.key, UploadId: id });
    return { ok: false, sha256, uploadId: id, partSize, content };
  }
  throwIfAborted(o.signal, 'completing the upload');
  const done = await completeUpload(s3, o, id, parts, sha256);
  const retainUntil = await retain(s3, o, done.VersionId);
  return {
    ok: true,
    sha256,
    uploadId: id,
    partSize,
    parts: parts.length,
    partsKept: kept,
    ...(done.VersionId ? { versionId: done.VersionId } : {}),
    retainUntil,
    foundCompleted: false,
    content,
  };
}

/** Does the object's S3 checksum say it holds these parts (composite, `…-N`) or these bytes (full object)? */
function holds(checksum: string | undefined, partChecksums: string[], sha256hex: string): boolean {
  if (!checksum) return false;
  const composite = compositeChecksum(partChecksums.map((c) => Buffer.from(c, 'base64')));
  return checksum === composite || checksum === Buffer.from(sha256hex, 'hex').toString('base64');
}

/**
 * CompleteMultipartUpload, whose answer can be lost: S3 may take minutes to assemble a large
 * object (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html), and a
 * retry of a completed upload is NoSuchUpload. After a failed call the object is looked for (a few
 * times, while S3 may still be assembling it): there with these parts' checksum and the image's
 * size, the upload completed.
 */
async function completeUpload(
  s3: ExportS3,
  o: VaultExportInput,
  uploadId: string,
  parts: Array<{ PartNumber: number; ETag: string; ChecksumSHA256: string }>,
  sha256: string,
): Promise<{ VersionId?: string }> {
  try {
    return await s3.s3.completeMultipartUpload({
      Bucket: o.vault.bucket,
      Key: o.key,
      UploadId: uploadId,
      MultipartUpload: { Parts: parts },
    });
  } catch (e) {
    const sleep = o.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
    for (let i = 0; i < 20; i++) {
      throwIfAborted(o.signal, 'completing the upload');
      const head = await s3.s3
        .headObject({ Bucket: o.vault.bucket, Key: o.key, ChecksumMode: 'ENABLED' })
        .catch(() => undefined);
      if (
        head?.ContentLength === o.sizeBytes &&
        holds(
          head.ChecksumSHA256,
          parts.map((p) => p.ChecksumSHA256),
          sha256,
        )
      ) {
        o.warn?.(`the answer to CompleteMultipartUpload was lost; s3://${o.vault.bucket}/${o.key} is complete`);
        return head.VersionId ? { VersionId: head.VersionId } : {};
      }
      await sleep(Math.min(15_000, 1000 * 2 ** i));
    }
    throw e;
  }
}

/**
 * Object Lock retention, set explicitly on the completed object (the retention of the case's
 * custody events: the vault's mode, now + its days). S3 applies the retention asked for at
 * CreateMultipartUpload; the local AWS applies none to multipart objects, and a retention set
 * again to a later date is an extension, which every mode allows.
 */
async function retain(s3: ExportS3, o: VaultExportInput, versionId: string | undefined): Promise<string> {
  const until = new Date(o.now().getTime() + o.vault.retentionDays * 86_400_000);
  await s3.s3.putObjectRetention({
    Bucket: o.vault.bucket,
    Key: o.key,
    ...(versionId ? { VersionId: versionId } : {}),
    Retention: { Mode: o.vault.lockMode, RetainUntilDate: until },
  });
  return until.toISOString();
}

/**
 * An upload the record names is no longer in progress: an earlier run completed it and died
 * before recording. If the object is there, read the snapshot again and check the object's
 * composite checksum (every part's SHA-256) and size against it; equal: that object is the export.
 */
async function checkCompleted(
  s3: ExportS3,
  o: VaultExportInput,
  partSize: number,
  uploadId: string,
): Promise<VaultExportResult | undefined> {
  let head: Awaited<ReturnType<ExportS3['s3']['headObject']>>;
  try {
    head = await s3.s3.headObject({ Bucket: o.vault.bucket, Key: o.key, ChecksumMode: 'ENABLED' });
  } catch (e) {
    if (isAwsCode(e, 'NotFound', 'NoSuchKey', '404')) return undefined;
    throw e;
  }
  if (!head.ChecksumSHA256 || head.ContentLength !== o.sizeBytes) {
    o.warn?.(
      `s3://${o.vault.bucket}/${o.key} is there but cannot be matched to upload ${uploadId} (${head.ChecksumSHA256 ? `size ${head.ContentLength}` : 'no SHA-256 checksum'}): uploading the image again`,
    );
    return undefined;
  }
  const digests: string[] = [];
  const cutter = new PartCutter(partSize, o.blockSize, async (_n, body) => {
    digests.push(createHash('sha256').update(body).digest('base64'));
  });
  const content = await o.read((_i, data) => cutter.block(data), o.signal);
  const sha256 = await cutter.end();
  if (!holds(head.ChecksumSHA256, digests, sha256) || sha256 !== o.expectSha256) {
    o.warn?.(`s3://${o.vault.bucket}/${o.key} does not hold this snapshot's image: uploading the image again`);
    return undefined;
  }
  const retainUntil = await retain(s3, o, head.VersionId);
  return {
    ok: true,
    sha256,
    uploadId,
    partSize,
    parts: digests.length,
    partsKept: digests.length,
    ...(head.VersionId ? { versionId: head.VersionId } : {}),
    retainUntil,
    foundCompleted: true,
    content,
  };
}

/** The file operations of a file export (a test hands in a fake to make the disk fill up). */
export interface FileOps {
  open(file: string): Promise<{
    write(data: Buffer, position: number): Promise<void>;
    truncate(length: number): Promise<void>;
    sync(): Promise<void>;
    close(): Promise<void>;
  }>;
  rename(from: string, to: string): Promise<void>;
  unlink(file: string): Promise<void>;
  /** Free bytes on the disk holding `dir` for an unprivileged writer. */
  freeBytes(dir: string): Promise<number>;
}

export const nodeFileOps: FileOps = {
  async open(file) {
    const h = await fsp.open(file, 'w', 0o600);
    return {
      write: async (data, position) => {
        let off = 0;
        while (off < data.length) off += (await h.write(data, off, data.length - off, position + off)).bytesWritten;
      },
      truncate: (length) => h.truncate(length),
      sync: () => h.sync(),
      close: () => h.close(),
    };
  },
  rename: (a, b) => fsp.rename(a, b),
  unlink: (f) => fsp.rm(f, { force: true }),
  async freeBytes(dir) {
    const s = await fsp.statfs(dir);
    return Number(s.bavail) * Number(s.bsize);
  },
};

export interface FileExportInput {
  /** The checked output path (see custody/out-path.ts `checkOutFile`). */
  file: string;
  sizeBytes: number;
  blockSize: number;
  /** Blocks the snapshot holds data in (the sparse file's most allocated space: this × block size). */
  blocksWithData?: number;
  expectSha256: string;
  read: BlockReader;
  files?: FileOps;
  signal?: AbortSignal;
}

export type FileExportResult =
  | { ok: true; sha256: string; file: string; bytesWritten: number; content: ContentHash }
  | { ok: false; sha256: string; content: ContentHash };

function isZeroBlock(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

const human = (n: number) => (n >= GiB ? `${(n / GiB).toFixed(1)} GiB` : `${(n / MiB).toFixed(1)} MiB`);

/**
 * Export to a local sparse file: written as `<file>.cleanroom-partial` (zeros skipped by seeking,
 * final length set to the image size), and renamed onto the file only once its SHA-256 equals the
 * acquisition hash — an interrupted or wrong export never leaves a file under the name asked for.
 * A full disk is DISK_FULL (exit 1), naming the space the image needs and the space there is.
 */
export async function exportToFile(o: FileExportInput): Promise<FileExportResult> {
  const files = o.files ?? nodeFileOps;
  const dir = path.dirname(o.file);
  const partial = `${o.file}.cleanroom-partial`;
  const need = (o.blocksWithData ?? o.sizeBytes / o.blockSize) * o.blockSize;
  const full = async (cause?: unknown): Promise<CleanroomError> => {
    const free = await files.freeBytes(dir).catch(() => undefined);
    return new CleanroomError(
      'DISK_FULL',
      `The disk holding ${dir} is full: the image of ${human(o.sizeBytes)} is a sparse file that needs up to ${human(need)} (${need} bytes) of free space${free !== undefined ? `, and ${human(free)} (${free} bytes) is free` : ''}. Free some space or choose another --out; nothing was kept.`,
      { cause, details: { file: o.file, neededBytes: need, ...(free !== undefined ? { freeBytes: free } : {}) } },
    );
  };
  const free = await files.freeBytes(dir).catch(() => undefined);
  if (free !== undefined && free < need) throw await full();
  const h = await files.open(partial);
  const whole = createHash('sha256');
  const zeros = Buffer.alloc(o.blockSize);
  let written = 0;
  let closed = false;
  try {
    const content = await o.read(async (i, data) => {
      whole.update(data ?? zeros);
      if (data && !isZeroBlock(data)) {
        await h.write(data, i * o.blockSize);
        written += data.length;
      }
    }, o.signal);
    await h.truncate(o.sizeBytes);
    await h.sync();
    await h.close();
    closed = true;
    const sha256 = whole.digest('hex');
    if (sha256 !== o.expectSha256 || content.sha256 !== o.expectSha256) {
      await files.unlink(partial);
      return { ok: false, sha256, content };
    }
    await files.rename(partial, o.file);
    return { ok: true, sha256, file: o.file, bytesWritten: written, content };
  } catch (e) {
    if (!closed) await h.close().catch(() => undefined);
    await files.unlink(partial).catch(() => undefined);
    if ((e as NodeJS.ErrnoException).code === 'ENOSPC' || (e as NodeJS.ErrnoException).code === 'EDQUOT')
      throw await full(e);
    throw e;
  }
}

/** A digest naming one written file (path, device, inode, modification time): the file export's key. */
export function fileDigest(file: string): string {
  const st = fs.statSync(file, { bigint: true });
  return createHash('sha256').update(`${file}\0${st.dev}\0${st.ino}\0${st.mtimeNs}`).digest('hex').slice(0, 32);
}
