/**
 * The key that lets evidence cross accounts. A snapshot encrypted with the AWS managed key
 * `aws/ebs` cannot be shared, and an unencrypted one must not travel unencrypted, so every source
 * snapshot is first copied (in the source account) under a customer managed key the forensic
 * account may use: either a temporary per-case sharing key cleanroom makes
 * (`alias/cleanroom/share/<case>`, tagged `cleanroom:case=<case>`, `cleanroom:role=share-key`,
 * retired when the copies are done), or a key the responder names with --source-kms-key (checked,
 * never changed or retired by cleanroom).
 *
 * What the forensic account needs on the key, per AWS ("Share the KMS key used to encrypt a shared
 * Amazon EBS snapshot", Amazon EBS User Guide): kms:DescribeKey, kms:CreateGrant,
 * kms:GenerateDataKey, kms:GenerateDataKeyWithoutPlaintext, kms:ReEncrypt*, kms:Decrypt — with
 * CreateGrant limited by kms:GrantIsForAWSResource so only EBS can use it on the account's behalf.
 */
import type { AwsAccount } from '../../aws/ports.js';
import { isAwsCode } from '../../aws/errors.js';
import { UsageError } from '../../domain/errors.js';
import { TAG_CASE, TAG_ROLE, ROLE } from '../../domain/tags.js';
import { mapPool } from '../../domain/pool.js';
import { findOrCreate, retrying } from '../../evidence/create-once.js';
import type { EvidenceRun } from '../../evidence/run.js';
import type { ErrorCode } from '../../domain/errors.js';
import { idempotencyKeys } from '../../domain/idempotency-keys.js';

/** `alias/cleanroom/share/<case>` (close schedules the deletion of whatever key it names). */
export function shareKeyAlias(caseId: string): string {
  return `alias/cleanroom/share/${caseId}`;
}

export interface SharingKey {
  keyId: string;
  arn: string;
  /** Made by cleanroom (retired after use) or named by the responder (left alone). */
  owner: 'cleanroom' | 'responder';
}

/** A KMS key or alias ARN. */
export const KEY_ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):(key|alias)\/.+$/;

/** The actions the forensic account must be allowed on the sharing key. */
export const FORENSIC_KEY_ACTIONS = [
  'kms:DescribeKey',
  'kms:CreateGrant',
  'kms:Decrypt',
  'kms:ReEncryptFrom',
  'kms:GenerateDataKeyWithoutPlaintext',
] as const;

/** Key policy of a cleanroom sharing key. */
export function shareKeyPolicy(sourceAccount: string, forensicAccount: string, partition = 'aws'): string {
  const forensic = `arn:${partition}:iam::${forensicAccount}:root`;
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'SourceAccountAdministersThroughIam',
        Effect: 'Allow',
        Principal: { AWS: `arn:${partition}:iam::${sourceAccount}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
      {
        Sid: 'ForensicAccountCopiesSharedEvidenceSnapshots',
        Effect: 'Allow',
        Principal: { AWS: forensic },
        Action: [
          'kms:DescribeKey',
          'kms:Decrypt',
          'kms:ReEncrypt*',
          'kms:GenerateDataKey',
          'kms:GenerateDataKeyWithoutPlaintext',
        ],
        Resource: '*',
      },
      {
        Sid: 'ForensicAccountLetsEbsUseTheKey',
        Effect: 'Allow',
        Principal: { AWS: forensic },
        Action: 'kms:CreateGrant',
        Resource: '*',
        Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      },
    ],
  });
}

/**
 * Find or make the case's sharing key in the source account. A key an interrupted run made but did
 * not alias yet is found by its tags (KMS CreateKey takes no client token) and adopted; a key that
 * an earlier run retired (pending deletion) is replaced: a new key, the alias moved to it.
 */
export async function ensureShareKey(
  run: EvidenceRun,
  source: AwsAccount,
  forensicAccount: string,
): Promise<SharingKey> {
  const sourceAccount = await source.accountId();
  const alias = shareKeyAlias(run.caseId);
  const current = await describe(source, alias);
  if (current && current.state !== 'PendingDeletion' && current.state !== 'PendingReplicaDeletion') {
    if (current.state === 'Disabled') {
      throw new UsageError(
        'SHARE_KEY_DISABLED',
        `The sharing key ${current.arn} (${alias}) in account ${sourceAccount} is disabled; enable it, or schedule its deletion and run again for a new one.`,
        { details: { keyArn: current.arn } },
      );
    }
    return recordShareKey(run, source, { keyId: current.keyId, arn: current.arn, owner: 'cleanroom' }, false);
  }
  run.step(`making the temporary sharing key ${alias} in account ${sourceAccount} (${source.region})`);
  const made = await findOrCreate({
    description: `sharing key ${alias} in account ${sourceAccount}`,
    find: () => orphanKey(source, run.caseId, current?.keyId),
    create: async () => {
      const r = await (source.single ?? source).kms.createKey({
        Description: `cleanroom case ${run.caseId}: temporary key to share evidence snapshots with account ${forensicAccount}; retired when the copies are done`,
        KeyUsage: 'ENCRYPT_DECRYPT',
        KeySpec: 'SYMMETRIC_DEFAULT',
        Policy: shareKeyPolicy(sourceAccount, forensicAccount),
        Tags: [
          { TagKey: TAG_CASE, TagValue: run.caseId },
          { TagKey: TAG_ROLE, TagValue: ROLE.shareKey },
        ],
      });
      return { keyId: r.KeyMetadata!.KeyId!, arn: r.KeyMetadata!.Arn! };
    },
    budgetMs: run.budgets.apiMs,
    clock: run.clock,
  });
  const key: SharingKey = { ...made.value, owner: 'cleanroom' };
  await retrying(
    `point ${alias} at ${key.keyId}`,
    async () => {
      try {
        if (current) await source.kms.updateAlias({ AliasName: alias, TargetKeyId: key.keyId });
        else await source.kms.createAlias({ AliasName: alias, TargetKeyId: key.keyId });
      } catch (e) {
        if (!isAwsCode(e, 'AlreadyExistsException')) throw e;
        const now = await describe(source, alias);
        if (now?.keyId !== key.keyId) await source.kms.updateAlias({ AliasName: alias, TargetKeyId: key.keyId });
      }
    },
    run.budgets.apiMs,
    run.clock,
  );
  return recordShareKey(run, source, key, made.created);
}

/** Record the sharing key of the run (made now, or found: the same event either way). */
export async function recordShareKey(
  run: EvidenceRun,
  source: AwsAccount,
  key: SharingKey,
  created: boolean,
): Promise<SharingKey> {
  const alias = shareKeyAlias(run.caseId);
  await run.record(
    idempotencyKeys.acquire.shareKey(key.keyId),
    'acquire.share-key',
    [run.ref('kms:key', key.keyId, await source.accountId(), source.region, key.arn)],
    { status: 'succeeded', details: { keyArn: key.arn, alias, role: ROLE.shareKey, foundExisting: !created } },
  );
  return key;
}

async function describe(
  account: AwsAccount,
  ref: string,
): Promise<{ keyId: string; arn: string; state: string; manager?: string; spec?: string; usage?: string } | undefined> {
  try {
    const m = (await account.kms.describeKey({ KeyId: ref })).KeyMetadata;
    if (!m?.KeyId || !m.Arn) return undefined;
    return {
      keyId: m.KeyId,
      arn: m.Arn,
      state: m.KeyState ?? 'Unknown',
      ...(m.KeyManager ? { manager: m.KeyManager } : {}),
      ...(m.KeySpec ? { spec: m.KeySpec } : {}),
      ...(m.KeyUsage ? { usage: m.KeyUsage } : {}),
    };
  } catch (e) {
    if (isAwsCode(e, 'NotFoundException')) return undefined;
    throw e;
  }
}

/**
 * A sharing key of this case that has no alias yet (made by a run that was interrupted before
 * CreateAlias). Reads every key's tags, so it only runs when the alias is missing or retired.
 */
async function orphanKey(
  account: AwsAccount,
  caseId: string,
  except: string | undefined,
): Promise<{ keyId: string; arn: string } | undefined> {
  const aliased = new Set<string>();
  let Marker: string | undefined;
  do {
    const page = await account.kms.listAliases({ ...(Marker ? { Marker } : {}) });
    for (const a of page.Aliases ?? []) if (a.TargetKeyId) aliased.add(a.TargetKeyId);
    Marker = page.Truncated ? (page.NextMarker ?? undefined) : undefined;
  } while (Marker);
  const ids: string[] = [];
  do {
    const page = await account.kms.listKeys({ ...(Marker ? { Marker } : {}) });
    for (const k of page.Keys ?? []) if (k.KeyId && k.KeyId !== except && !aliased.has(k.KeyId)) ids.push(k.KeyId);
    Marker = page.Truncated ? (page.NextMarker ?? undefined) : undefined;
  } while (Marker);
  const found = await mapPool(ids, 8, async (keyId) => {
    const tags = (await account.kms.listResourceTags({ KeyId: keyId })).Tags ?? [];
    if (
      !tags.some((t) => t.TagKey === TAG_CASE && t.TagValue === caseId) ||
      !tags.some((t) => t.TagKey === TAG_ROLE && t.TagValue === ROLE.shareKey)
    )
      return undefined;
    const d = await describe(account, keyId);
    return d && d.state === 'Enabled' ? { keyId: d.keyId, arn: d.arn } : undefined;
  });
  for (const f of found) if (!f.ok) throw f.error;
  return found.flatMap((f) => (f.ok && f.value ? [f.value] : []))[0];
}

/**
 * Check a key the responder named with --source-kms-key: in the source account and Region,
 * customer managed (an AWS managed key cannot be shared), enabled, symmetric, and usable by the
 * forensic account (its key policy, or a grant, allows the actions above). Refused with exit 2
 * otherwise, before anything is made.
 */
export async function checkResponderKey(
  _run: EvidenceRun,
  source: AwsAccount,
  ref: string,
  forensicAccount: string,
): Promise<SharingKey> {
  const sourceAccount = await source.accountId();
  const m = KEY_ARN.exec(ref);
  if (!m)
    throw new UsageError(
      'INVALID_SOURCE_KEY',
      `--source-kms-key ${JSON.stringify(ref)} is not a KMS key or alias ARN (arn:aws:kms:<region>:<account>:key/<id>).`,
      { details: { key: ref } },
    );
  if (m[2] !== sourceAccount || m[1] !== source.region) {
    throw new UsageError(
      'SOURCE_KEY_ELSEWHERE',
      `--source-kms-key ${ref} is in account ${m[2]} / ${m[1]}, but the source snapshots are in account ${sourceAccount} / ${source.region}: EBS copies a snapshot only under a key of the same account and Region. Name a key there, or leave the option out and cleanroom makes a temporary one.`,
      {
        details: { key: ref, sourceAccount, sourceRegion: source.region },
      },
    );
  }
  const d = await describe(source, ref);
  const refuse = (code: ErrorCode, why: string) =>
    new UsageError(
      code,
      `The forensic account ${forensicAccount} cannot use --source-kms-key ${ref}: ${why}. Leave the option out and cleanroom makes a temporary key the forensic account may use, or fix the key.`,
      { details: { key: ref, forensicAccount } },
    );
  if (!d) throw refuse('SOURCE_KEY_NOT_FOUND', `there is no such key in account ${sourceAccount} (${source.region})`);
  if (d.manager === 'AWS')
    throw refuse(
      'SOURCE_KEY_AWS_MANAGED',
      'it is an AWS managed key, and snapshots encrypted with an AWS managed key cannot be shared with another account',
    );
  if (d.state !== 'Enabled') throw refuse('SOURCE_KEY_NOT_ENABLED', `it is ${d.state}`);
  if ((d.spec && d.spec !== 'SYMMETRIC_DEFAULT') || (d.usage && d.usage !== 'ENCRYPT_DECRYPT'))
    throw refuse('SOURCE_KEY_NOT_SYMMETRIC', `EBS needs a symmetric encryption key, and it is ${d.spec} / ${d.usage}`);
  const policy = (await source.kms.getKeyPolicy({ KeyId: d.keyId, PolicyName: 'default' })).Policy ?? '{}';
  const missing = missingActions(policy, forensicAccount, await grantedOperations(source, d.keyId, forensicAccount));
  if (missing.length) {
    throw refuse(
      'SOURCE_KEY_NOT_SHARED',
      `neither its key policy nor a grant allows account ${forensicAccount} ${missing.join(', ')} (AWS: "Share the KMS key used to encrypt a shared Amazon EBS snapshot"). Add a key policy statement for arn:aws:iam::${forensicAccount}:root with those actions (CreateGrant with the condition kms:GrantIsForAWSResource=true)`,
    );
  }
  return { keyId: d.keyId, arn: d.arn, owner: 'responder' };
}

async function grantedOperations(account: AwsAccount, keyId: string, forensicAccount: string): Promise<Set<string>> {
  const ops = new Set<string>();
  let Marker: string | undefined;
  do {
    const page = await account.kms.listGrants({ KeyId: keyId, ...(Marker ? { Marker } : {}) });
    for (const g of page.Grants ?? []) {
      if (!principalInAccount(g.GranteePrincipal, forensicAccount)) continue;
      for (const op of g.Operations ?? []) ops.add(`kms:${op}`);
    }
    Marker = page.Truncated ? (page.NextMarker ?? undefined) : undefined;
  } while (Marker);
  return ops;
}

/** The required actions that neither an Allow statement naming the account nor a grant gives (a Deny naming it takes away). */
export function missingActions(
  policyJson: string,
  forensicAccount: string,
  granted: ReadonlySet<string> = new Set(),
): string[] {
  let statements: Array<Record<string, unknown>> = [];
  try {
    const p = JSON.parse(policyJson) as { Statement?: unknown };
    statements = (Array.isArray(p.Statement) ? p.Statement : p.Statement ? [p.Statement] : []) as Array<
      Record<string, unknown>
    >;
  } catch {
    statements = [];
  }
  const names = (s: Record<string, unknown>) => {
    const pr = s['Principal'] as unknown;
    if (pr === '*') return true;
    const aws = (pr as { AWS?: unknown } | undefined)?.AWS;
    const list = Array.isArray(aws) ? aws : aws === undefined ? [] : [aws];
    return list.some((x) => x === '*' || principalInAccount(String(x), forensicAccount));
  };
  const actions = (s: Record<string, unknown>) => {
    const a = s['Action'];
    return (Array.isArray(a) ? a : a === undefined ? [] : [a]).map(String);
  };
  const allows = (s: Record<string, unknown>, action: string) => actions(s).some((pat) => globMatch(pat, action));
  return FORENSIC_KEY_ACTIONS.filter((action) => {
    const denied = statements.some((s) => s['Effect'] === 'Deny' && names(s) && allows(s, action));
    if (denied) return true;
    return !(granted.has(action) || statements.some((s) => s['Effect'] === 'Allow' && names(s) && allows(s, action)));
  });
}

function principalInAccount(p: string | undefined, account: string): boolean {
  if (!p) return false;
  return p === account || new RegExp(`^arn:aws[a-z-]*:(iam|sts)::${account}:`).test(p);
}

/** IAM action glob (`kms:*`, `kms:ReEncrypt*`), case-insensitive as IAM action names are. */
function globMatch(pattern: string, action: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
    'i',
  );
  return re.test(action);
}

/** Schedule the deletion of a sharing key cleanroom made (7 days, the shortest KMS allows), recorded. */
export async function retireShareKey(run: EvidenceRun, source: AwsAccount, key: SharingKey): Promise<void> {
  const sourceAccount = await source.accountId();
  const ref = run.ref('kms:key', key.keyId, sourceAccount, source.region, key.arn);
  const state = (await describe(source, key.keyId))?.state;
  let deletionDate: string | undefined;
  if (state && state !== 'PendingDeletion') {
    const r = await retrying(
      `schedule the deletion of ${key.arn}`,
      () => source.kms.scheduleKeyDeletion({ KeyId: key.keyId, PendingWindowInDays: 7 }),
      run.budgets.apiMs,
      run.clock,
      { keyArn: key.arn },
    );
    deletionDate = r.DeletionDate ? new Date(r.DeletionDate).toISOString() : undefined;
  }
  await run.record(idempotencyKeys.acquire.shareKeyRetire(key.keyId), 'acquire.share-key.retire', [ref], {
    status: 'succeeded',
    details: {
      keyArn: key.arn,
      pendingWindowInDays: 7,
      ...(deletionDate ? { deletionDate } : {}),
      ...(state === 'PendingDeletion' ? { foundPendingDeletion: true } : {}),
      ...(!state ? { foundGone: true } : {}),
    },
  });
}
