/**
 * `vault init`: create — or adopt, when it exists and can comply — the evidence vault of the
 * forensic account: the bucket (Object Lock at creation, default retention, versioning, SSE-KMS
 * under the vault key with an S3 Bucket Key, all public access blocked, the TLS/encryption bucket
 * policy) and its two KMS keys (the vault key, symmetric with rotation; the signing key,
 * ECC_NIST_P256 SIGN_VERIFY).
 *
 * Idempotent: each setting is read first and written only when it differs, so a second run makes
 * no change and says so (`changes` is empty). It never weakens an existing vault: a shorter default
 * retention or COMPLIANCE → GOVERNANCE is refused.
 */
import type { AwsAccount } from '../../aws/ports.js';
import { isAwsCode } from '../../aws/errors.js';
import { UsageError, VerificationFailedError } from '../../domain/errors.js';
import { silentReporter, type Reporter } from '../../domain/reporter.js';
import { throwIfAborted } from '../../domain/abort.js';
import { TAG_ROLE, TAG_VAULT } from '../../domain/tags.js';
import { signingKeyAlias, vaultKeyAlias } from '../../domain/vault-name.js';
import {
  auditVault,
  bucketExists,
  describeKeyAlias,
  type LockMode,
  type VaultAuditResult,
} from '../../custody/vault/audit.js';
import { mergedPolicy, parsePolicy, vaultStatements } from '../../custody/vault/policy.js';
import { resolveVaultBucket } from '../../custody/vault/bucket.js';

/** `vault audit`: the vault's compliance checks (the custody gate runs the same audit). */
export {
  auditVault,
  VAULT_CHECK_IDS,
  type LockMode,
  type VaultAuditResult,
  type VaultCheckId,
} from '../../custody/vault/audit.js';
export { resolveVaultBucket };

/** Default retention of a new vault when `--retention-days` is not given. */
export const DEFAULT_RETENTION_DAYS = 365;

export interface VaultInitOptions {
  bucket?: string;
  retentionDays?: number;
  lockMode?: LockMode;
  reporter?: Reporter;
  /** Stops the run at the next step boundary (INTERRUPTED); a rerun finishes it (every step adopts what exists). */
  signal?: AbortSignal;
}

export interface VaultInitResult {
  bucket: string;
  kmsKeyArn: string;
  signingKeyArn: string;
  lockMode: LockMode;
  retentionDays: number;
  /** True when the bucket was created by this run. */
  created: boolean;
  /** What this run changed, in words; empty when the vault already complied. */
  changes: string[];
  /** The audit after the run (all checks pass, or init throws). */
  audit: VaultAuditResult;
}

/** Check `--retention-days` / `--lock-mode` before any AWS call. */
export function validateVaultOptions(o: { retentionDays?: number; lockMode?: string }): void {
  if (
    o.retentionDays !== undefined &&
    (!Number.isInteger(o.retentionDays) || o.retentionDays < 1 || o.retentionDays > 36500)
  ) {
    throw new UsageError(
      'INVALID_RETENTION',
      `--retention-days must be a whole number from 1 to 36500 (S3 Object Lock default retention), got ${o.retentionDays}.`,
    );
  }
  if (o.lockMode !== undefined && o.lockMode !== 'COMPLIANCE' && o.lockMode !== 'GOVERNANCE') {
    throw new UsageError(
      'INVALID_LOCK_MODE',
      `--lock-mode must be COMPLIANCE or GOVERNANCE, got ${JSON.stringify(o.lockMode)}.`,
    );
  }
}

/** Find or create a KMS key under `alias`; returns its ARN and whether it was created. */
async function ensureKey(
  account: AwsAccount,
  alias: string,
  spec: { KeySpec: 'SYMMETRIC_DEFAULT' | 'ECC_NIST_P256'; KeyUsage: 'ENCRYPT_DECRYPT' | 'SIGN_VERIFY' },
  role: string,
  bucket: string,
  changes: string[],
): Promise<string> {
  const existing = await describeKeyAlias(account, alias);
  if (existing) {
    if (existing.spec !== spec.KeySpec || existing.usage !== spec.KeyUsage) {
      throw new VerificationFailedError(
        'VAULT_KEY_MISMATCH',
        `The KMS alias ${alias} points at ${existing.arn}, a ${existing.spec} ${existing.usage} key, but the vault needs a ${spec.KeySpec} ${spec.KeyUsage} key. Point the alias at a suitable key or remove it, then run \`cleanroom vault init\` again.`,
        { alias, keyArn: existing.arn },
      );
    }
    return existing.arn;
  }
  const created = await account.kms.createKey({
    ...spec,
    Description: `cleanroom ${role} of the evidence vault ${bucket}`,
    Tags: [
      { TagKey: TAG_ROLE, TagValue: role },
      { TagKey: TAG_VAULT, TagValue: bucket },
    ],
  });
  const arn = created.KeyMetadata!.Arn!;
  await account.kms.createAlias({ AliasName: alias, TargetKeyId: arn });
  changes.push(`created the ${role} ${arn} (${alias})`);
  return arn;
}

/** Create or adopt the vault. See the module comment. */
export async function initVault(account: AwsAccount, opts: VaultInitOptions = {}): Promise<VaultInitResult> {
  validateVaultOptions(opts);
  const reporter = opts.reporter ?? silentReporter;
  throwIfAborted(opts.signal, 'naming the vault');
  const bucket = await resolveVaultBucket(account, opts.bucket);
  const changes: string[] = [];
  const step = (message: string) => {
    throwIfAborted(opts.signal, message);
    reporter.progress({ kind: 'step', message });
  };

  step(`vault keys ${vaultKeyAlias(bucket)} and ${signingKeyAlias(bucket)}`);
  const { kmsKeyArn, signingKeyArn } = await ensureVaultKeys(account, bucket, changes);

  step(`bucket ${bucket}`);
  const created = await ensureBucket(account, bucket, changes);
  const lock = await requireObjectLock(account, bucket);
  await ensureVersioning(account, bucket, changes);
  const { lockMode, retentionDays } = await ensureDefaultRetention(account, bucket, lock, opts, changes);
  throwIfAborted(opts.signal, 'the bucket settings');
  await ensureEncryption(account, bucket, kmsKeyArn, changes);
  await ensurePublicAccessBlock(account, bucket, changes);
  await ensureBucketPolicy(account, bucket, changes);

  step(`auditing the vault ${bucket}`);
  const audit = await requirePassingAudit(account, bucket);
  return { bucket, kmsKeyArn, signingKeyArn, lockMode, retentionDays, created, changes, audit };
}

/** The vault key (with automatic rotation on) and the signing key. */
async function ensureVaultKeys(
  account: AwsAccount,
  bucket: string,
  changes: string[],
): Promise<{ kmsKeyArn: string; signingKeyArn: string }> {
  const kmsKeyArn = await ensureKey(
    account,
    vaultKeyAlias(bucket),
    { KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT' },
    'vault-key',
    bucket,
    changes,
  );
  const rotation = await account.kms.getKeyRotationStatus({ KeyId: kmsKeyArn });
  if (!rotation.KeyRotationEnabled) {
    await account.kms.enableKeyRotation({ KeyId: kmsKeyArn });
    changes.push(`turned on automatic rotation of ${kmsKeyArn}`);
  }
  const signingKeyArn = await ensureKey(
    account,
    signingKeyAlias(bucket),
    { KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' },
    'signing-key',
    bucket,
    changes,
  );
  return { kmsKeyArn, signingKeyArn };
}

/** Create the bucket with Object Lock unless it exists; whether this run created it. */
async function ensureBucket(account: AwsAccount, bucket: string, changes: string[]): Promise<boolean> {
  if (await bucketExists(account, bucket)) return false;
  try {
    await account.s3.createBucket({
      Bucket: bucket,
      ObjectLockEnabledForBucket: true,
      // us-east-1 refuses an explicit LocationConstraint; every other region requires one.
      ...(account.region === 'us-east-1'
        ? {}
        : { CreateBucketConfiguration: { LocationConstraint: account.region as never } }),
    });
    changes.push(`created bucket ${bucket} with Object Lock`);
    return true;
  } catch (e) {
    // Another run created it in between: adopt it like any existing bucket.
    if (!isAwsCode(e, 'BucketAlreadyOwnedByYou')) throw e;
    return false;
  }
}

type ObjectLockConfiguration = NonNullable<
  Awaited<ReturnType<AwsAccount['s3']['getObjectLockConfiguration']>>['ObjectLockConfiguration']
>;

/** The bucket's Object Lock configuration; refused when the bucket has none. */
async function requireObjectLock(account: AwsAccount, bucket: string): Promise<ObjectLockConfiguration> {
  const lock = await account.s3.getObjectLockConfiguration({ Bucket: bucket }).catch((e) => {
    if (isAwsCode(e, 'ObjectLockConfigurationNotFoundError')) return undefined;
    throw e;
  });
  if (lock?.ObjectLockConfiguration?.ObjectLockEnabled !== 'Enabled') {
    throw new VerificationFailedError(
      'VAULT_NOT_LOCKABLE',
      `Bucket ${bucket} exists without Object Lock, so it cannot hold evidence: objects already in it would not be locked. Use a new bucket (\`cleanroom vault init --bucket NEW-NAME\`, then pass --bucket to every command) or enable Object Lock on it yourself after checking its contents.`,
      { bucket },
    );
  }
  return lock.ObjectLockConfiguration;
}

async function ensureVersioning(account: AwsAccount, bucket: string, changes: string[]): Promise<void> {
  const versioning = await account.s3.getBucketVersioning({ Bucket: bucket });
  if (versioning.Status !== 'Enabled') {
    await account.s3.putBucketVersioning({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } });
    changes.push('enabled versioning');
  }
}

/** Default retention: keep what is there unless asked for more; never weaken it. */
async function ensureDefaultRetention(
  account: AwsAccount,
  bucket: string,
  lock: ObjectLockConfiguration,
  opts: VaultInitOptions,
  changes: string[],
): Promise<{ lockMode: LockMode; retentionDays: number }> {
  const dr = lock.Rule?.DefaultRetention;
  const curMode = dr?.Mode as LockMode | undefined;
  // moto answers Years: 0 next to Days; AWS answers one of the two. Read 0 as absent.
  const curDays = dr?.Days || (dr?.Years ? dr.Years * 365 : undefined);
  const lockMode: LockMode = opts.lockMode ?? curMode ?? 'COMPLIANCE';
  const retentionDays = opts.retentionDays ?? curDays ?? DEFAULT_RETENTION_DAYS;
  if (curMode && curDays) {
    if (curMode === 'COMPLIANCE' && lockMode === 'GOVERNANCE') {
      throw new UsageError(
        'VAULT_WEAKENING_REFUSED',
        `The vault ${bucket} retains objects in COMPLIANCE mode; cleanroom will not switch it to GOVERNANCE (which privileged users can bypass). Drop --lock-mode GOVERNANCE.`,
        { details: { bucket } },
      );
    }
    if (retentionDays < curDays) {
      throw new UsageError(
        'VAULT_WEAKENING_REFUSED',
        `The vault ${bucket} retains objects for ${curDays} days by default; cleanroom will not shorten that to ${retentionDays}. Drop --retention-days or give at least ${curDays}.`,
        { details: { bucket } },
      );
    }
  }
  if (curMode !== lockMode || curDays !== retentionDays || dr?.Years) {
    await account.s3.putObjectLockConfiguration({
      Bucket: bucket,
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: lockMode, Days: retentionDays } },
      },
    });
    changes.push(`set the default retention to ${lockMode} ${retentionDays} days`);
  }
  return { lockMode, retentionDays };
}

/** Default encryption: SSE-KMS under the vault key, with an S3 Bucket Key. */
async function ensureEncryption(
  account: AwsAccount,
  bucket: string,
  kmsKeyArn: string,
  changes: string[],
): Promise<void> {
  const enc = await account.s3.getBucketEncryption({ Bucket: bucket }).catch((e) => {
    if (isAwsCode(e, 'ServerSideEncryptionConfigurationNotFoundError')) return undefined;
    throw e;
  });
  const rule = enc?.ServerSideEncryptionConfiguration?.Rules?.[0];
  if (
    rule?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm !== 'aws:kms' ||
    rule.ApplyServerSideEncryptionByDefault.KMSMasterKeyID !== kmsKeyArn ||
    rule.BucketKeyEnabled !== true
  ) {
    await account.s3.putBucketEncryption({
      Bucket: bucket,
      ServerSideEncryptionConfiguration: {
        Rules: [
          {
            ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: kmsKeyArn },
            BucketKeyEnabled: true,
          },
        ],
      },
    });
    changes.push(`set default encryption to SSE-KMS under ${kmsKeyArn} with an S3 Bucket Key`);
  }
}

async function ensurePublicAccessBlock(account: AwsAccount, bucket: string, changes: string[]): Promise<void> {
  const pab = await account.s3.getPublicAccessBlock({ Bucket: bucket }).catch((e) => {
    if (isAwsCode(e, 'NoSuchPublicAccessBlockConfiguration')) return undefined;
    throw e;
  });
  const c = pab?.PublicAccessBlockConfiguration;
  if (!(c?.BlockPublicAcls && c.IgnorePublicAcls && c.BlockPublicPolicy && c.RestrictPublicBuckets)) {
    await account.s3.putPublicAccessBlock({
      Bucket: bucket,
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        IgnorePublicAcls: true,
        BlockPublicPolicy: true,
        RestrictPublicBuckets: true,
      },
    });
    changes.push('blocked all public access');
  }
}

/** The vault's statements (TLS only, SSE-KMS uploads only), merged into the bucket policy there is. */
async function ensureBucketPolicy(account: AwsAccount, bucket: string, changes: string[]): Promise<void> {
  const policy = await account.s3.getBucketPolicy({ Bucket: bucket }).catch((e) => {
    if (isAwsCode(e, 'NoSuchBucketPolicy')) return undefined;
    throw e;
  });
  let current: ReturnType<typeof parsePolicy>;
  try {
    current = parsePolicy(policy?.Policy);
  } catch {
    current = undefined;
  }
  const ours = vaultStatements(bucket);
  const present = ours.every((s) => current?.Statement.some((x) => JSON.stringify(x) === JSON.stringify(s)));
  if (!present) {
    await account.s3.putBucketPolicy({ Bucket: bucket, Policy: JSON.stringify(mergedPolicy(bucket, current)) });
    changes.push('set the bucket policy (TLS only, SSE-KMS uploads only)');
  }
}

/** The vault's audit after setting it up; a failing check fails the init. */
async function requirePassingAudit(account: AwsAccount, bucket: string): Promise<VaultAuditResult> {
  const audit = await auditVault(account, bucket);
  if (!audit.ok) {
    const failed = audit.checks.filter((x) => !x.ok);
    throw new VerificationFailedError(
      'VAULT_AUDIT_FAILED',
      `The vault ${bucket} was set up but still fails its audit: ${failed.map((x) => `${x.id}: ${x.detail}`).join('; ')}.`,
      { bucket, failedChecks: failed.map((x) => x.id) },
    );
  }
  return audit;
}
