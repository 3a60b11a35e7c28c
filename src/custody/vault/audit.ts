/**
 * `vault verify`: audit the live vault — bucket and keys — against the properties `vault init`
 * sets. Read-only. Each property is one named check `{id, ok, detail}`; the audit also returns the
 * facts a custody writer needs (key ARNs, the default retention), so a writer audits once per open.
 */
import type { AccountCalls, AwsAccount } from '../../aws/ports.js';
import { isAwsCode } from '../../aws/errors.js';
import type { AuditCheck } from '../../domain/room.js';
import { signingKeyAlias, vaultKeyAlias } from '../../domain/vault-name.js';
import { deniesInsecureTransport, deniesUnencryptedUploads, parsePolicy } from './policy.js';

export type LockMode = 'COMPLIANCE' | 'GOVERNANCE';

/** The ids of the vault checks, in the order they are run and reported. */
export const VAULT_CHECK_IDS = [
  'bucket.exists',
  'bucket.object-lock',
  'bucket.default-retention',
  'bucket.versioning',
  'bucket.encryption',
  'bucket.bucket-key',
  'bucket.public-access-block',
  'bucket.policy-tls-only',
  'bucket.policy-encrypted-uploads',
  'vault-key.state',
  'vault-key.rotation',
  'signing-key.spec',
] as const;
export type VaultCheckId = (typeof VAULT_CHECK_IDS)[number];

/** What the audit learnt about the vault (undefined where it could not tell). */
export interface VaultFacts {
  bucket: string;
  exists: boolean;
  vaultKeyArn?: string;
  signingKeyArn?: string;
  lockMode?: LockMode;
  /** The default retention, in days (years converted at 365 days). */
  retentionDays?: number;
  /** The default retention as configured. */
  defaultRetention?: { mode: LockMode; days?: number; years?: number };
}

export interface VaultAuditResult {
  ok: boolean;
  checks: Array<AuditCheck<VaultCheckId>>;
  facts: VaultFacts;
}

export interface KeyFacts {
  arn: string;
  state: string;
  spec: string;
  usage: string;
  manager: string;
}

/** Describe a key by alias; undefined when the alias does not exist. */
export async function describeKeyAlias(
  account: AccountCalls<{ kms: 'describeKey' }>,
  alias: string,
): Promise<KeyFacts | undefined> {
  try {
    const r = await account.kms.describeKey({ KeyId: alias });
    const m = r.KeyMetadata;
    if (!m?.Arn) return undefined;
    return {
      arn: m.Arn,
      state: m.KeyState ?? 'Unknown',
      spec: m.KeySpec ?? 'Unknown',
      usage: m.KeyUsage ?? 'Unknown',
      manager: m.KeyManager ?? 'Unknown',
    };
  } catch (e) {
    if (isAwsCode(e, 'NotFoundException')) return undefined;
    throw e;
  }
}

/** Read a bucket setting, mapping "not configured" errors to undefined. */
async function optional<T>(call: () => Promise<T>, ...notConfigured: string[]): Promise<T | undefined> {
  try {
    return await call();
  } catch (e) {
    if (isAwsCode(e, ...notConfigured)) return undefined;
    throw e;
  }
}

/** Does the bucket exist (and can the caller see it)? */
export async function bucketExists(account: AwsAccount, bucket: string): Promise<boolean> {
  try {
    await account.s3.headBucket({ Bucket: bucket });
    return true;
  } catch (e) {
    if (isAwsCode(e, 'NotFound', 'NoSuchBucket')) return false;
    throw e;
  }
}

type AddVaultCheck = (id: VaultCheckId, ok: boolean, detail: string) => void;
type S3Answer<K extends keyof AwsAccount['s3']> = Awaited<ReturnType<AwsAccount['s3'][K]>>;

/** Audit the vault `bucket` (read-only). */
export async function auditVault(account: AwsAccount, bucket: string): Promise<VaultAuditResult> {
  const checks: VaultAuditResult['checks'] = [];
  const add: AddVaultCheck = (id, ok, detail) => {
    checks.push({ id, ok, detail, severity: 'critical' });
  };
  const facts: VaultFacts = { bucket, exists: await bucketExists(account, bucket) };

  const [vaultKey, signingKey] = await Promise.all([
    describeKeyAlias(account, vaultKeyAlias(bucket)),
    describeKeyAlias(account, signingKeyAlias(bucket)),
  ]);
  if (vaultKey) facts.vaultKeyArn = vaultKey.arn;
  if (signingKey) facts.signingKeyArn = signingKey.arn;

  if (!facts.exists) {
    add(
      'bucket.exists',
      false,
      `bucket ${bucket} does not exist (or is not visible to this caller): run \`cleanroom vault init\``,
    );
    for (const id of VAULT_CHECK_IDS.slice(1, 9)) add(id, false, `bucket ${bucket} does not exist`);
  } else {
    add('bucket.exists', true, `bucket ${bucket} exists`);
    await addBucketChecks(account, bucket, vaultKey, facts, add);
  }
  await addVaultKeyChecks(account, bucket, vaultKey, add);
  addSigningKeyCheck(bucket, signingKey, add);
  return { ok: checks.every((c) => c.ok), checks, facts };
}

/** The bucket's settings: Object Lock and retention, versioning, encryption, public access, policy. */
async function addBucketChecks(
  account: AwsAccount,
  bucket: string,
  vaultKey: KeyFacts | undefined,
  facts: VaultFacts,
  add: AddVaultCheck,
): Promise<void> {
  const [lock, versioning, encryption, pab, policy] = await Promise.all([
    optional(() => account.s3.getObjectLockConfiguration({ Bucket: bucket }), 'ObjectLockConfigurationNotFoundError'),
    account.s3.getBucketVersioning({ Bucket: bucket }),
    optional(
      () => account.s3.getBucketEncryption({ Bucket: bucket }),
      'ServerSideEncryptionConfigurationNotFoundError',
    ),
    optional(() => account.s3.getPublicAccessBlock({ Bucket: bucket }), 'NoSuchPublicAccessBlockConfiguration'),
    optional(() => account.s3.getBucketPolicy({ Bucket: bucket }), 'NoSuchBucketPolicy'),
  ]);
  addLockChecks(lock, facts, add);
  add('bucket.versioning', versioning.Status === 'Enabled', `versioning is ${versioning.Status ?? 'not enabled'}`);
  addEncryptionChecks(encryption, bucket, vaultKey, add);

  const c = pab?.PublicAccessBlockConfiguration;
  const off = c
    ? (['BlockPublicAcls', 'IgnorePublicAcls', 'BlockPublicPolicy', 'RestrictPublicBuckets'] as const).filter(
        (k) => c[k] !== true,
      )
    : ['all four settings'];
  add(
    'bucket.public-access-block',
    off.length === 0,
    off.length === 0 ? 'all public access is blocked' : `public access is not fully blocked: ${off.join(', ')} off`,
  );

  addPolicyChecks(policy, bucket, add);
}

/** Object Lock and its default retention (recorded in `facts`). */
function addLockChecks(
  lock: S3Answer<'getObjectLockConfiguration'> | undefined,
  facts: VaultFacts,
  add: AddVaultCheck,
): void {
  const lockEnabled = lock?.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled';
  add(
    'bucket.object-lock',
    lockEnabled,
    lockEnabled
      ? 'Object Lock is enabled'
      : 'Object Lock is not enabled on the bucket (it can only be set for a new bucket here: create the vault with `cleanroom vault init --bucket NEW-NAME`)',
  );
  const dr = lock?.ObjectLockConfiguration?.Rule?.DefaultRetention;
  const mode = dr?.Mode as LockMode | undefined;
  // moto answers Years: 0 next to Days; AWS answers one of the two. Read 0 as absent.
  const days = dr?.Days || (dr?.Years ? dr.Years * 365 : undefined);
  if (mode && days && days > 0) {
    facts.lockMode = mode;
    facts.retentionDays = days;
    facts.defaultRetention = {
      mode,
      ...(dr?.Days ? { days: dr.Days } : {}),
      ...(dr?.Years ? { years: dr.Years } : {}),
    };
  }
  add(
    'bucket.default-retention',
    Boolean(lockEnabled && mode && days),
    mode && days
      ? `default retention ${mode} ${dr?.Days ? `${dr.Days} days` : `${dr?.Years} years`}`
      : 'no default retention is configured (run `cleanroom vault init`)',
  );
}

/** Default encryption: SSE-KMS under the vault key, with an S3 Bucket Key. */
function addEncryptionChecks(
  encryption: S3Answer<'getBucketEncryption'> | undefined,
  bucket: string,
  vaultKey: KeyFacts | undefined,
  add: AddVaultCheck,
): void {
  const rule = encryption?.ServerSideEncryptionConfiguration?.Rules?.find((r) => r.ApplyServerSideEncryptionByDefault);
  const sse = rule?.ApplyServerSideEncryptionByDefault;
  const keyId = sse?.KMSMasterKeyID;
  const keyMatches = Boolean(
    keyId &&
      vaultKey &&
      (keyId === vaultKey.arn || keyId === vaultKeyAlias(bucket) || vaultKey.arn.endsWith(`/${keyId}`)),
  );
  add(
    'bucket.encryption',
    sse?.SSEAlgorithm === 'aws:kms' && keyMatches,
    !sse
      ? 'no default encryption is configured'
      : sse.SSEAlgorithm !== 'aws:kms'
        ? `default encryption is ${sse.SSEAlgorithm}, not SSE-KMS`
        : keyMatches
          ? `SSE-KMS under the vault key ${vaultKey!.arn}`
          : `SSE-KMS under ${keyId ?? 'the AWS-managed key'}, not the vault key ${vaultKeyAlias(bucket)}`,
  );
  add(
    'bucket.bucket-key',
    rule?.BucketKeyEnabled === true,
    rule?.BucketKeyEnabled ? 'S3 Bucket Key is enabled' : 'S3 Bucket Key is not enabled',
  );
}

/** The bucket policy denies requests without TLS and uploads without SSE-KMS. */
function addPolicyChecks(policy: S3Answer<'getBucketPolicy'> | undefined, bucket: string, add: AddVaultCheck): void {
  let doc: ReturnType<typeof parsePolicy>;
  try {
    doc = parsePolicy(policy?.Policy);
  } catch {
    doc = undefined;
  }
  add(
    'bucket.policy-tls-only',
    deniesInsecureTransport(doc, bucket),
    deniesInsecureTransport(doc, bucket)
      ? 'the bucket policy denies requests without TLS (aws:SecureTransport false)'
      : 'the bucket policy does not deny requests made without TLS',
  );
  add(
    'bucket.policy-encrypted-uploads',
    deniesUnencryptedUploads(doc, bucket),
    deniesUnencryptedUploads(doc, bucket)
      ? 'the bucket policy denies uploads without SSE-KMS'
      : 'the bucket policy does not deny uploads that lack the SSE-KMS header or ask for another encryption',
  );
}

/** The vault key: a customer managed symmetric key, enabled, rotating. */
async function addVaultKeyChecks(
  account: AwsAccount,
  bucket: string,
  vaultKey: KeyFacts | undefined,
  add: AddVaultCheck,
): Promise<void> {
  if (!vaultKey) {
    add('vault-key.state', false, `the vault key ${vaultKeyAlias(bucket)} does not exist`);
    add('vault-key.rotation', false, `the vault key ${vaultKeyAlias(bucket)} does not exist`);
    return;
  }
  const good =
    vaultKey.state === 'Enabled' &&
    vaultKey.spec === 'SYMMETRIC_DEFAULT' &&
    vaultKey.usage === 'ENCRYPT_DECRYPT' &&
    vaultKey.manager === 'CUSTOMER';
  add(
    'vault-key.state',
    good,
    `${vaultKey.arn}: ${vaultKey.manager} ${vaultKey.spec} ${vaultKey.usage}, ${vaultKey.state}`,
  );
  const rot = await optional(
    () => account.kms.getKeyRotationStatus({ KeyId: vaultKey.arn }),
    'UnsupportedOperationException',
  );
  add(
    'vault-key.rotation',
    rot?.KeyRotationEnabled === true,
    rot?.KeyRotationEnabled ? 'automatic key rotation is on' : 'automatic key rotation is off',
  );
}

/** The signing key: an enabled ECC_NIST_P256 SIGN_VERIFY key. */
function addSigningKeyCheck(bucket: string, signingKey: KeyFacts | undefined, add: AddVaultCheck): void {
  if (!signingKey) {
    add('signing-key.spec', false, `the signing key ${signingKeyAlias(bucket)} does not exist`);
    return;
  }
  const good =
    signingKey.state === 'Enabled' && signingKey.spec === 'ECC_NIST_P256' && signingKey.usage === 'SIGN_VERIFY';
  add('signing-key.spec', good, `${signingKey.arn}: ${signingKey.spec} ${signingKey.usage}, ${signingKey.state}`);
}
