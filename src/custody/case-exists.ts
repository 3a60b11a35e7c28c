/**
 * Unknown cases are unknown: a case exists in a vault when it has a custody record there — at
 * least one object under `cases/<case>/custody/`. Ids are matched exactly (S3 keys are
 * case-sensitive, and the trailing `/` of the prefix keeps `IR-1` from matching `IR-10`). Commands
 * that read or continue a case refuse one without a record; only the commands that start a case
 * (room up, isolate, acquire) may create it.
 */
import type { AccountCalls } from '../aws/ports.js';
import { UsageError } from '../domain/errors.js';
import { custodyPrefix } from './event.js';

/** True when the case has at least one custody object in the vault (one ListObjectsV2). */
export async function caseExists(
  account: AccountCalls<{ s3: 'listObjectsV2' }>,
  bucket: string,
  caseId: string,
): Promise<boolean> {
  const r = await account.s3.listObjectsV2({ Bucket: bucket, Prefix: custodyPrefix(caseId), MaxKeys: 1 });
  return (r.Contents ?? []).some((o) => o.Key?.startsWith(custodyPrefix(caseId)));
}

/** Case ids in the vault that differ from `caseId` only in letter case (first page of `cases/`). */
async function sameIgnoringCase(
  account: AccountCalls<{ s3: 'listObjectsV2' }>,
  bucket: string,
  caseId: string,
): Promise<string[]> {
  try {
    const r = await account.s3.listObjectsV2({ Bucket: bucket, Prefix: 'cases/', Delimiter: '/' });
    return (r.CommonPrefixes ?? [])
      .map((p) => /^cases\/([^/]+)\/$/.exec(p.Prefix ?? '')?.[1])
      .filter((id): id is string => !!id && id !== caseId && id.toLowerCase() === caseId.toLowerCase());
  } catch {
    return [];
  }
}

/** The error for a case with no custody record in `bucket` (exit 2, code UNKNOWN_CASE). */
export async function unknownCaseError(
  account: AccountCalls<{ s3: 'listObjectsV2' }>,
  bucket: string,
  caseId: string,
): Promise<UsageError> {
  const similar = await sameIgnoringCase(account, bucket, caseId);
  return new UsageError(
    'UNKNOWN_CASE',
    `There is no case ${caseId} in the vault s3://${bucket}/: it has no custody record under ${custodyPrefix(caseId)}, so nothing was read or written. Check the case id — case ids are case-sensitive${similar.length ? ` (this vault has ${similar.join(', ')})` : ''} — and --bucket/--region; \`cleanroom room list\` lists the rooms of this region, \`aws s3 ls s3://${bucket}/cases/\` every case in the vault. A case starts with \`cleanroom room up\`, \`isolate\` or \`acquire\`.`,
    { details: { caseId, bucket, ...(similar.length ? { similarCaseIds: similar } : {}) } },
  );
}

/** Refuse (UNKNOWN_CASE, exit 2) a case with no custody record in `bucket`. */
export async function requireExistingCase(
  account: AccountCalls<{ s3: 'listObjectsV2' }>,
  bucket: string,
  caseId: string,
): Promise<void> {
  if (!(await caseExists(account, bucket, caseId))) throw await unknownCaseError(account, bucket, caseId);
}
