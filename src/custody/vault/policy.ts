/**
 * The vault's bucket policy: refuse every request not made over TLS, and every upload that does not
 * ask for SSE-KMS. Written as AWS's own examples write it:
 * - "Enforce encryption of data in transit": Deny `s3:*` when `aws:SecureTransport` is `false`
 *   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html).
 * - "Requiring SSE-KMS for all objects": Deny `s3:PutObject` when the
 *   `s3:x-amz-server-side-encryption` header is absent (`Null`) or not `aws:kms`
 *   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/specifying-kms-encryption.html).
 * No key id condition: writers name the vault key by alias or ARN, and the bucket's default
 * encryption already picks the vault key.
 *
 * One exception: Session Manager's transcripts (`cases/<case>/sessions/*`, `room shell`). The SSM
 * agent uploads them with no SSE header (amazon-ssm-agent, agent/s3util/s3util.go `S3Upload`), so
 * the "header absent" Deny leaves them out (`NotResource`); the bucket's default encryption (SSE-KMS
 * under the vault key, which the vault audit demands) encrypts them, and an upload there asking for
 * anything but `aws:kms` is still refused (the second Deny applies whenever the header is there).
 *
 * The audit reads the policy semantically ({@link policyFindings}), so statements added by an
 * organisation (other Sids) are kept by `vault init` and do not fail the audit.
 */

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal?: unknown;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: string;
  Statement: PolicyStatement[];
}

export const SID_TLS = 'CleanroomDenyInsecureTransport';
export const SID_SSE_HEADER = 'CleanroomDenyUploadsWithoutEncryptionHeader';
export const SID_SSE_KMS = 'CleanroomDenyUploadsNotSseKms';
const OUR_SIDS = [SID_TLS, SID_SSE_HEADER, SID_SSE_KMS];

/** Where Session Manager writes session transcripts in a vault (the shell document's prefix). */
export function sessionTranscriptsArn(bucket: string): string {
  return `arn:aws:s3:::${bucket}/cases/*/sessions/*`;
}

/** The statements cleanroom puts on a vault bucket. */
export function vaultStatements(bucket: string): PolicyStatement[] {
  const arn = `arn:aws:s3:::${bucket}`;
  return [
    {
      Sid: SID_TLS,
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:*',
      Resource: [arn, `${arn}/*`],
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    },
    {
      Sid: SID_SSE_HEADER,
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:PutObject',
      NotResource: sessionTranscriptsArn(bucket),
      Condition: { Null: { 's3:x-amz-server-side-encryption': 'true' } },
    },
    {
      Sid: SID_SSE_KMS,
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:PutObject',
      Resource: `${arn}/*`,
      // Only when the header is there (Null false): its absence is the statement above's.
      Condition: {
        StringNotEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' },
        Null: { 's3:x-amz-server-side-encryption': 'false' },
      },
    },
  ];
}

/** The policy `vault init` writes: the existing statements with ours replaced or added. */
export function mergedPolicy(bucket: string, existing: PolicyDocument | undefined): PolicyDocument {
  const keep = (existing?.Statement ?? []).filter((s) => !OUR_SIDS.includes(s.Sid ?? ''));
  return { Version: '2012-10-17', Statement: [...keep, ...vaultStatements(bucket)] };
}

const list = (x: string | string[] | undefined): string[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);
const isEveryone = (p: unknown): boolean =>
  p === '*' || (typeof p === 'object' && p !== null && list((p as { AWS?: string | string[] }).AWS).includes('*'));
const covers = (actions: string[], action: string): boolean =>
  actions.some((a) => a === '*' || a === 's3:*' || a.toLowerCase() === action.toLowerCase());
const condValue = (s: PolicyStatement, op: string, key: string): string[] => {
  const block = s.Condition?.[op];
  if (!block) return [];
  const k = Object.keys(block).find((x) => x.toLowerCase() === key.toLowerCase());
  return k ? list(block[k]) : [];
};

/** Does some Deny statement refuse non-TLS access to the bucket and its objects? */
export function deniesInsecureTransport(doc: PolicyDocument | undefined, bucket: string): boolean {
  const arn = `arn:aws:s3:::${bucket}`;
  return (doc?.Statement ?? []).some(
    (s) =>
      s.Effect === 'Deny' &&
      isEveryone(s.Principal) &&
      !s.NotAction &&
      covers(list(s.Action), 's3:GetObject') &&
      covers(list(s.Action), 's3:PutObject') &&
      list(s.Resource).includes(arn) &&
      (list(s.Resource).includes(`${arn}/*`) || list(s.Resource).includes('*')) &&
      condValue(s, 'Bool', 'aws:SecureTransport').includes('false') &&
      Object.keys(s.Condition ?? {}).length === 1,
  );
}

/** Does the policy refuse uploads without the SSE header and uploads asking for anything but aws:kms? */
export function deniesUnencryptedUploads(doc: PolicyDocument | undefined, bucket: string): boolean {
  const objects = `arn:aws:s3:::${bucket}/*`;
  const denies = (doc?.Statement ?? []).filter(
    (s) => s.Effect === 'Deny' && isEveryone(s.Principal) && !s.NotAction && covers(list(s.Action), 's3:PutObject'),
  );
  const denyPut = denies.filter(
    (s) => !s.NotResource && (list(s.Resource).includes(objects) || list(s.Resource).includes('*')),
  );
  // The header may be absent only for Session Manager's transcripts (see the module comment).
  const exceptTranscripts = denies.filter(
    (s) => !s.Resource && list(s.NotResource).length === 1 && list(s.NotResource)[0] === sessionTranscriptsArn(bucket),
  );
  const missing = [...denyPut, ...exceptTranscripts].some(
    (s) =>
      Object.keys(s.Condition ?? {}).length === 1 &&
      condValue(s, 'Null', 's3:x-amz-server-side-encryption').includes('true'),
  );
  const wrong = denyPut.some((s) => {
    const ops = Object.keys(s.Condition ?? {});
    const present = condValue(s, 'Null', 's3:x-amz-server-side-encryption');
    // Alone, or with "the header is present" (Null false) beside it.
    const alone = ops.length === 1 || (ops.length === 2 && present.length === 1 && present[0] === 'false');
    return (
      alone &&
      ['StringNotEquals', 'StringNotEqualsIfExists'].some((op) => {
        const v = condValue(s, op, 's3:x-amz-server-side-encryption');
        return v.length === 1 && v[0] === 'aws:kms';
      })
    );
  });
  return missing && wrong;
}

/** Parse a bucket policy document (GetBucketPolicy returns it as a string). */
export function parsePolicy(text: string | undefined): PolicyDocument | undefined {
  if (!text) return undefined;
  const doc = JSON.parse(text) as { Version?: string; Statement?: PolicyStatement | PolicyStatement[] };
  return {
    Version: doc.Version ?? '2012-10-17',
    Statement: doc.Statement === undefined ? [] : Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement],
  };
}
