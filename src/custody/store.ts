/**
 * The custody record's objects in the vault: how they are listed, read as stored bytes and written
 * (never overwritten: `If-None-Match: *`, explicit Object Lock retention, SHA-256 checksum that S3
 * checks, SSE-KMS as the bucket policy demands). Single PUTs only: S3 applies Object Lock to
 * multipart uploads too, but a single PUT is one request and carries its checksum whole.
 */
import { createHash } from 'node:crypto';
import type { AccountCalls } from '../aws/ports.js';
import { isAwsCode } from '../aws/errors.js';
import type { LockMode } from './vault/audit.js';
import { custodyPrefix, laneOfKey, seqOfKey } from './event.js';

/** Where and how custody objects are written. */
export interface VaultTarget {
  bucket: string;
  vaultKeyArn: string;
  lockMode: LockMode;
  retentionDays: number;
}

/** An event object listed under the case prefix. */
export interface ListedKey {
  key: string;
  seq: number;
}

/** A lane object listed under the case prefix. */
export interface ListedLaneKey {
  key: string;
  lane: string;
  first: number;
}

/**
 * The event keys of a case, by sequence number, and its lane object keys (ListObjectsV2 under
 * `prefix`, default the case's custody prefix; all pages). Other keys are ignored.
 */
export async function listCustodyKeys(
  account: AccountCalls<{ s3: 'listObjectsV2' }>,
  bucket: string,
  caseId: string,
  prefix = custodyPrefix(caseId),
): Promise<{ events: ListedKey[]; lanes: ListedLaneKey[] }> {
  const events: ListedKey[] = [];
  const lanes: ListedLaneKey[] = [];
  let token: string | undefined;
  do {
    const r = await account.s3.listObjectsV2({
      Bucket: bucket,
      Prefix: prefix,
      ...(token ? { ContinuationToken: token } : {}),
    });
    for (const o of r.Contents ?? []) {
      if (!o.Key) continue;
      const seq = seqOfKey(caseId, o.Key);
      if (seq !== undefined) events.push({ key: o.Key, seq });
      const lane = laneOfKey(caseId, o.Key);
      if (lane) lanes.push({ key: o.Key, ...lane });
    }
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return { events: events.sort((a, b) => a.seq - b.seq), lanes };
}

/** The event keys of a case, by sequence number (ListObjectsV2, all pages). Other keys are ignored. */
export async function listEventKeys(
  account: AccountCalls<{ s3: 'listObjectsV2' }>,
  bucket: string,
  caseId: string,
): Promise<ListedKey[]> {
  return (await listCustodyKeys(account, bucket, caseId)).events;
}

/** An object's stored bytes (a given version, or the current one); undefined when there is none. */
export async function getBytes(
  account: AccountCalls<{ s3: 'getObject' }>,
  bucket: string,
  key: string,
  versionId?: string,
): Promise<
  { body: Buffer; versionId?: string; checksumSha256?: string; lockMode?: string; retainUntil?: Date } | undefined
> {
  try {
    const r = await account.s3.getObject({
      Bucket: bucket,
      Key: key,
      ...(versionId ? { VersionId: versionId } : {}),
      ChecksumMode: 'ENABLED',
    });
    const body = Buffer.from((await r.Body!.transformToByteArray()) as Uint8Array);
    return {
      body,
      ...(r.VersionId ? { versionId: r.VersionId } : {}),
      ...(r.ChecksumSHA256 ? { checksumSha256: r.ChecksumSHA256 } : {}),
      ...(r.ObjectLockMode ? { lockMode: r.ObjectLockMode } : {}),
      ...(r.ObjectLockRetainUntilDate ? { retainUntil: new Date(r.ObjectLockRetainUntilDate) } : {}),
    };
  } catch (e) {
    if (isAwsCode(e, 'NoSuchKey', 'NotFound')) return undefined;
    throw e;
  }
}

/** Base64 SHA-256, as S3's `x-amz-checksum-sha256`. */
export function checksumSha256(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('base64');
}

/** The retain-until date of an object written now under the vault's retention. */
export function retainUntil(now: Date, days: number): Date {
  return new Date(now.getTime() + days * 86_400_000);
}

/**
 * Write an object. `create` adds `If-None-Match: *`: the write fails with `PreconditionFailed`
 * when the key exists. One S3 request.
 */
export async function putLocked(
  account: AccountCalls<{ s3: 'putObject' }>,
  target: VaultTarget,
  key: string,
  body: Buffer,
  now: Date,
  opts: { create: boolean },
): Promise<{ versionId?: string }> {
  const r = await account.s3.putObject({
    Bucket: target.bucket,
    Key: key,
    Body: body,
    ContentType: 'application/json',
    ChecksumAlgorithm: 'SHA256',
    ChecksumSHA256: checksumSha256(body),
    ObjectLockMode: target.lockMode,
    ObjectLockRetainUntilDate: retainUntil(now, target.retentionDays),
    ServerSideEncryption: 'aws:kms',
    SSEKMSKeyId: target.vaultKeyArn,
    BucketKeyEnabled: true,
    ...(opts.create ? { IfNoneMatch: '*' } : {}),
  });
  return r.VersionId ? { versionId: r.VersionId } : {};
}
