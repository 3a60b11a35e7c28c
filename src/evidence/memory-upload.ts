/**
 * The memory image's way into the vault: an S3 multipart upload the tool creates and completes,
 * whose parts the compromised host PUTs through presigned URLs — the host never holds a
 * credential (docs/memory.md).
 *
 *   planMemoryUpload      part size and count for a memory size (≤ 10,000 parts of ≥ 8 MiB)
 *   startMemoryUpload     CreateMultipartUpload (SSE-KMS under the vault key, Object Lock retention),
 *                         one presigned UploadPart URL per part, written to `<image>.parts.json` in
 *                         the vault, and a presigned GET of that list (the host reads it in one request)
 *   completeMemoryUpload  ListParts (the vault's view, not the host's word), then
 *                         CompleteMultipartUpload; refuses an upload with no part or a gap
 *   abortMemoryUpload     AbortMultipartUpload, idempotent (an upload already gone is fine)
 *   openUploadsFor        ListMultipartUploads under a prefix: what a rerun must abort
 *   readBackSha256        the authoritative SHA-256, streamed back out of the vault by ranges
 *
 * Checksums: a part PUT through a plain presigned URL cannot carry an `x-amz-checksum-*` header
 * that was not signed into the URL (S3 refuses unsigned x-amz-* headers), and the part's bytes are
 * not known when the URL is signed. So the upload is created without a checksum algorithm; the
 * host sends `Content-MD5` with each part (a standard header, not signed, which S3 checks: a part
 * damaged in transit is refused), and the whole image is proved by {@link readBackSha256}, which
 * reads what the vault holds — a hash computed on the compromised host is recorded, never trusted alone.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { AccountCalls } from '../aws/ports.js';
import { isAwsCode } from '../aws/errors.js';
import { CleanroomError } from '../domain/errors.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** The limits a memory upload is planned within. */
export const MEMORY_UPLOAD_LIMITS = {
  /** S3: at most 10,000 parts per upload. */
  maxParts: 10_000,
  /** Our floor (S3's is 5 MiB): fewer, larger PUTs from the host. */
  minPartBytes: 8 * MiB,
  /** S3: at most 5 GiB per part. */
  maxPartBytes: 5 * GiB,
  /** Part sizes are whole MiB. */
  partAlignBytes: MiB,
} as const;

/** The memory upload's plan: every part `partSize` bytes (the last one shorter), `partCount` URLs. */
export interface MemoryUploadPlan {
  partSize: number;
  partCount: number;
  /** partSize × partCount: the largest image the plan holds. */
  capacityBytes: number;
}

/**
 * What AVML's LiME output can be, at most, for `memoryBytes` of memory: the image holds every
 * "System RAM" range of /proc/iomem (32-byte header each), which is more than MemTotal (the
 * kernel's code and reserved memory, a crash kernel, are in the ranges but not in MemTotal) and
 * about the instance type's memory. One eighth more plus 512 MiB covers both; an unused part URL
 * costs nothing (it is never PUT, and CompleteMultipartUpload names only the parts sent).
 */
export function memoryImageMaxBytes(memoryBytes: number): number {
  return Math.ceil(memoryBytes * 1.125) + 512 * MiB;
}

/**
 * The part size and count for a host with `memoryBytes` of memory (from MemTotal or the instance
 * type): the smallest whole-MiB part size, at least 8 MiB, that holds {@link memoryImageMaxBytes}
 * in at most 10,000 parts. Refuses a size that is not a positive number, or one too large for one
 * S3 object (10,000 × 5 GiB).
 */
export function planMemoryUpload(o: { memoryBytes: number }): MemoryUploadPlan {
  if (!(Number.isFinite(o.memoryBytes) && o.memoryBytes > 0))
    throw new CleanroomError('INTERNAL', `Memory size ${o.memoryBytes} is not a positive number of bytes.`);
  const L = MEMORY_UPLOAD_LIMITS;
  const max = memoryImageMaxBytes(o.memoryBytes);
  const least = Math.max(L.minPartBytes, Math.ceil(max / L.maxParts));
  const partSize = Math.ceil(least / L.partAlignBytes) * L.partAlignBytes;
  if (partSize > L.maxPartBytes)
    throw new CleanroomError(
      'INTERNAL',
      `A memory image of up to ${(max / 2 ** 40).toFixed(1)} TiB does not fit one S3 object (10,000 parts of 5 GiB).`,
    );
  const partCount = Math.ceil(max / partSize);
  return { partSize, partCount, capacityBytes: partSize * partCount };
}

/** The vault an image goes into, with the calls the upload makes there (the forensic account). */
export interface MemoryVault {
  account: AccountCalls<{
    s3:
      | 'createMultipartUpload'
      | 'listParts'
      | 'completeMultipartUpload'
      | 'abortMultipartUpload'
      | 'listMultipartUploads'
      | 'putObject'
      | 'getObject'
      | 'headObject';
    s3Presign: 'uploadPart' | 'getObject';
  }>;
  bucket: string;
  /** The vault key: SSE-KMS of the image and of its part list. */
  vaultKeyArn: string;
}

/** Object Lock retention set on the image at CreateMultipartUpload (the case's mode and retain-until). */
export interface MemoryRetention {
  mode: 'GOVERNANCE' | 'COMPLIANCE';
  retainUntil: Date;
}

/** The part-URL list handed to the host: `cases/<case>/memory/<instance>-<time>.parts.json`. */
export interface MemoryPartsList {
  schema: 'cleanroom.memory-parts.v1';
  partSize: number;
  parts: Array<{ partNumber: number; url: string }>;
  /** ISO time the URLs stop working. */
  expiresAt: string;
}

export const MEMORY_PARTS_SCHEMA = 'cleanroom.memory-parts.v1';

/** `cases/<case>/memory/<instance>-<YYYYMMDDTHHMMSSZ>.lime`: where an image goes. */
export function memoryImageKey(caseId: string, instanceId: string, at: Date): string {
  const t = at
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
  return `cases/${caseId}/memory/${instanceId}-${t}.lime`;
}

/** The part list's key beside an image key (`….lime` → `….parts.json`). */
export function memoryPartsKey(imageKey: string): string {
  if (!imageKey.endsWith('.lime'))
    throw new CleanroomError('INTERNAL', `Memory image key ${imageKey} does not end in .lime.`);
  return `${imageKey.slice(0, -'.lime'.length)}.parts.json`;
}

export interface StartMemoryUploadInput {
  key: string;
  retention: MemoryRetention;
  partCount: number;
  partSize: number;
  /** How long the part URLs and the list's GET live (1 s to 7 days). */
  expiresInSeconds: number;
  /** When the URLs are signed (default now). A time in the past gives URLs that have already expired (tests). */
  signingDate?: Date;
}

export interface StartedMemoryUpload {
  uploadId: string;
  /** The part list's key in the vault. */
  partsKey: string;
  /** Presigned GET of the part list: the one URL handed to the host for the parts. */
  partsUrl: string;
  /** ISO time the URLs stop working. */
  expiresAt: string;
}

/**
 * Create the multipart upload of `key` (SSE-KMS under the vault key, Object Lock retention, no
 * checksum algorithm: see the module's comment), presign one UploadPart URL per part, write the
 * list to the vault beside the image and presign its GET. A failure after the upload is created
 * aborts it before the error goes on.
 */
export async function startMemoryUpload(vault: MemoryVault, o: StartMemoryUploadInput): Promise<StartedMemoryUpload> {
  const L = MEMORY_UPLOAD_LIMITS;
  if (!(Number.isInteger(o.partCount) && o.partCount >= 1 && o.partCount <= L.maxParts))
    throw new CleanroomError('INTERNAL', `Part count ${o.partCount} is not 1 to ${L.maxParts}.`);
  if (!(Number.isInteger(o.partSize) && o.partSize >= 5 * MiB && o.partSize <= L.maxPartBytes))
    throw new CleanroomError('INTERNAL', `Part size ${o.partSize} is not 5 MiB to 5 GiB.`);
  const partsKey = memoryPartsKey(o.key);
  const created = await vault.account.s3.createMultipartUpload({
    Bucket: vault.bucket,
    Key: o.key,
    ContentType: 'application/octet-stream',
    ServerSideEncryption: 'aws:kms',
    SSEKMSKeyId: vault.vaultKeyArn,
    ObjectLockMode: o.retention.mode,
    ObjectLockRetainUntilDate: o.retention.retainUntil,
    Metadata: { 'cleanroom-format': 'lime' },
  });
  const uploadId = created.UploadId;
  if (!uploadId) throw new CleanroomError('INTERNAL', `CreateMultipartUpload of ${o.key} answered no UploadId.`);
  try {
    const signed = o.signingDate ?? new Date();
    const sign = { expiresInSeconds: o.expiresInSeconds, signingDate: signed };
    const expiresAt = new Date(signed.getTime() + o.expiresInSeconds * 1000).toISOString();
    const parts: MemoryPartsList['parts'] = [];
    for (let n = 1; n <= o.partCount; n++) {
      const url = await vault.account.s3Presign.uploadPart(
        { Bucket: vault.bucket, Key: o.key, UploadId: uploadId, PartNumber: n },
        sign,
      );
      parts.push({ partNumber: n, url });
    }
    const list: MemoryPartsList = { schema: MEMORY_PARTS_SCHEMA, partSize: o.partSize, parts, expiresAt };
    const body = Buffer.from(`${JSON.stringify(list)}\n`);
    const sha256 = createHash('sha256').update(body).digest();
    const put = await vault.account.s3.putObject({
      Bucket: vault.bucket,
      Key: partsKey,
      Body: body,
      ContentType: 'application/json',
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: vault.vaultKeyArn,
      ChecksumAlgorithm: 'SHA256',
      ChecksumSHA256: sha256.toString('base64'),
    });
    const partsUrl = await vault.account.s3Presign.getObject(
      { Bucket: vault.bucket, Key: partsKey, ...(put.VersionId ? { VersionId: put.VersionId } : {}) },
      sign,
    );
    return { uploadId, partsKey, partsUrl, expiresAt };
  } catch (e) {
    await abortMemoryUpload(vault, { key: o.key, uploadId }).catch(() => {});
    throw e;
  }
}

/** One part of an upload as the vault lists it. */
export interface UploadedPart {
  partNumber: number;
  etag: string;
  size: number;
}

/** Every part the vault holds of an upload, in part-number order (ListParts, all pages). */
export async function listUploadedParts(
  vault: Pick<MemoryVault, 'account' | 'bucket'>,
  o: { key: string; uploadId: string },
): Promise<UploadedPart[]> {
  const out: UploadedPart[] = [];
  let marker: string | undefined;
  for (;;) {
    const page = await vault.account.s3.listParts({
      Bucket: vault.bucket,
      Key: o.key,
      UploadId: o.uploadId,
      ...(marker ? { PartNumberMarker: marker } : {}),
    });
    for (const p of page.Parts ?? [])
      if (p.PartNumber !== undefined && p.ETag) out.push({ partNumber: p.PartNumber, etag: p.ETag, size: p.Size ?? 0 });
    if (!page.IsTruncated || !page.NextPartNumberMarker) break;
    marker = page.NextPartNumberMarker;
  }
  return out.sort((a, b) => a.partNumber - b.partNumber);
}

export interface CompletedMemoryUpload {
  versionId?: string;
  /** Bytes of the image: the sum of the parts the vault listed. */
  size: number;
  /** Parts completed. */
  parts: number;
}

/**
 * Complete the upload from the parts the vault holds (ListParts — the tool's view, not the host's
 * word). Refuses (MEMORY_UPLOAD_INCOMPLETE, exit 1) an upload with no part, or whose parts are not
 * 1…n without a gap; the caller then aborts it ({@link abortMemoryUpload}).
 */
export async function completeMemoryUpload(
  vault: MemoryVault,
  o: { key: string; uploadId: string },
): Promise<CompletedMemoryUpload> {
  const parts = await listUploadedParts(vault, o);
  const gap = parts.findIndex((p, i) => p.partNumber !== i + 1);
  if (parts.length === 0 || gap >= 0) {
    const missing = parts.length === 0 ? 1 : gap + 1;
    throw new CleanroomError(
      'MEMORY_UPLOAD_INCOMPLETE',
      parts.length === 0
        ? `The vault holds no part of the memory image ${o.key} (upload ${o.uploadId}): the host sent nothing. Nothing was kept; capture again.`
        : `The memory image ${o.key} (upload ${o.uploadId}) lacks part ${missing} between parts the host sent (${parts.length} parts, up to ${parts.at(-1)?.partNumber}). Nothing was kept; capture again.`,
      { details: { key: o.key, uploadId: o.uploadId, parts: parts.length, missingPart: missing } },
    );
  }
  const done = await vault.account.s3.completeMultipartUpload({
    Bucket: vault.bucket,
    Key: o.key,
    UploadId: o.uploadId,
    MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
  });
  return {
    ...(done.VersionId ? { versionId: done.VersionId } : {}),
    size: parts.reduce((n, p) => n + p.size, 0),
    parts: parts.length,
  };
}

/** Abort an upload and free its parts. Idempotent: an upload already aborted or completed is fine. */
export async function abortMemoryUpload(
  vault: Pick<MemoryVault, 'account' | 'bucket'>,
  o: { key: string; uploadId: string },
): Promise<void> {
  try {
    await vault.account.s3.abortMultipartUpload({ Bucket: vault.bucket, Key: o.key, UploadId: o.uploadId });
  } catch (e) {
    if (!isAwsCode(e, 'NoSuchUpload')) throw e;
  }
}

/** A multipart upload in progress. */
export interface OpenUpload {
  key: string;
  uploadId: string;
  initiated?: string;
}

/** The uploads in progress under `prefix` (ListMultipartUploads, all pages): what a rerun must abort. */
export async function openUploadsFor(
  vault: Pick<MemoryVault, 'account' | 'bucket'>,
  prefix: string,
): Promise<OpenUpload[]> {
  const out: OpenUpload[] = [];
  let keyMarker: string | undefined;
  let idMarker: string | undefined;
  for (;;) {
    const page = await vault.account.s3.listMultipartUploads({
      Bucket: vault.bucket,
      Prefix: prefix,
      ...(keyMarker ? { KeyMarker: keyMarker } : {}),
      ...(idMarker ? { UploadIdMarker: idMarker } : {}),
    });
    for (const u of page.Uploads ?? [])
      if (u.Key && u.UploadId)
        out.push({
          key: u.Key,
          uploadId: u.UploadId,
          ...(u.Initiated ? { initiated: new Date(u.Initiated).toISOString() } : {}),
        });
    if (!page.IsTruncated) break;
    keyMarker = page.NextKeyMarker;
    idMarker = page.NextUploadIdMarker;
    if (!keyMarker && !idMarker) break;
  }
  return out;
}

/** Bytes per ranged GET of the read-back: each one well inside a call's time budget. */
export const READ_BACK_RANGE_BYTES = 64 * MiB;

/**
 * The SHA-256 of the object as the vault holds it: read back by ranged GETs of one version, in
 * order (the next range is requested while the current one is hashed), so that each call stays
 * inside the account's time budget whatever the image's size. This is the image's authoritative hash.
 */
export async function readBackSha256(
  vault: Pick<MemoryVault, 'account' | 'bucket'>,
  o: { key: string; versionId?: string; rangeBytes?: number; signal?: AbortSignal },
): Promise<{ sha256: string; size: number }> {
  const version = o.versionId ? { VersionId: o.versionId } : {};
  const head = await vault.account.s3.headObject({ Bucket: vault.bucket, Key: o.key, ...version });
  const size = head.ContentLength ?? 0;
  const step = o.rangeBytes ?? READ_BACK_RANGE_BYTES;
  const hash = createHash('sha256');
  const fetchRange = async (start: number): Promise<Buffer> => {
    const end = Math.min(start + step, size) - 1;
    const r = await vault.account.s3.getObject({
      Bucket: vault.bucket,
      Key: o.key,
      ...version,
      Range: `bytes=${start}-${end}`,
    });
    const chunks: Buffer[] = [];
    for await (const c of r.Body as Readable) chunks.push(c as Buffer);
    const b = Buffer.concat(chunks);
    if (b.length !== end - start + 1)
      throw new CleanroomError(
        'INTERNAL',
        `Reading back ${o.key} bytes ${start}-${end}: the vault answered ${b.length} bytes, not ${end - start + 1}.`,
      );
    return b;
  };
  let next: Promise<Buffer> | undefined = size > 0 ? fetchRange(0) : undefined;
  for (let at = 0; next; ) {
    const current = await next;
    o.signal?.throwIfAborted();
    at += current.length;
    next = at < size ? fetchRange(at) : undefined;
    next?.catch(() => {});
    hash.update(current);
  }
  return { sha256: hash.digest('hex'), size };
}
