/**
 * The case key: a customer-managed KMS key per case in the forensic account. It encrypts the room's
 * root volume and flow logs, the forensic copies of the evidence snapshots and the working volumes.
 * It lives outside the room stack (found by its alias) so that it survives `room down` and
 * `case close`: the evidence it encrypts stays readable for as long as the case is retained.
 */
import type { AwsAccount } from '../aws/ports.js';
import { isAwsCode } from '../aws/errors.js';
import { TAG_CASE, TAG_ROLE, ROLE } from '../domain/tags.js';
import type { CustodyRecorder } from '../domain/recorder.js';
import { idempotencyKeys } from '../domain/idempotency-keys.js';
import { StepRecorder } from '../domain/step-recorder.js';
import { resourceRef } from './refs.js';

/** `alias/cleanroom/case/<case>`. */
export function caseKeyAlias(caseId: string): string {
  return `alias/cleanroom/case/${caseId}`;
}

export interface CaseKey {
  keyId: string;
  arn: string;
  created: boolean;
}

/** The case key if it exists. */
export async function findCaseKey(account: AwsAccount, caseId: string): Promise<CaseKey | undefined> {
  try {
    const d = await account.kms.describeKey({ KeyId: caseKeyAlias(caseId) });
    const m = d.KeyMetadata;
    if (!m?.KeyId || !m.Arn) return undefined;
    return { keyId: m.KeyId, arn: m.Arn, created: false };
  } catch (e) {
    if (isAwsCode(e, 'NotFoundException')) return undefined;
    throw e;
  }
}

/** The key policy: the account administers and uses the key through IAM; CloudWatch Logs may encrypt the room's flow-log group. */
export function caseKeyPolicy(accountId: string, region: string, partition = 'aws'): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'AccountAdministersThroughIam',
        Effect: 'Allow',
        Principal: { AWS: `arn:${partition}:iam::${accountId}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
      {
        // CloudWatch Logs needs this to encrypt the room's flow-log group with the key
        // (docs: "Encrypt log data in CloudWatch Logs using AWS KMS", key policy section).
        Sid: 'FlowLogsEncryption',
        Effect: 'Allow',
        Principal: { Service: `logs.${region}.amazonaws.com` },
        Action: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        Resource: '*',
        Condition: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': `arn:${partition}:logs:${region}:${accountId}:log-group:/cleanroom/*`,
          },
        },
      },
    ],
  });
}

/** Find or create the case key (idempotent; a creation is a custody event). */
export async function ensureCaseKey(account: AwsAccount, caseId: string, custody?: CustodyRecorder): Promise<CaseKey> {
  const existing = await findCaseKey(account, caseId);
  if (existing) {
    // A run killed between CreateAlias and its custody event left the key unrecorded (and maybe
    // without rotation): finish that now, once.
    if (custody && !custody.find(idempotencyKeys.caseKey(existing.arn))) {
      const rotation = await account.kms.getKeyRotationStatus({ KeyId: existing.keyId });
      if (!rotation.KeyRotationEnabled) await account.kms.enableKeyRotation({ KeyId: existing.keyId });
      const ref = resourceRef('kms:key', existing.keyId, await account.accountId(), account.region, existing.arn);
      await new StepRecorder(custody).record(
        idempotencyKeys.caseKey(existing.arn),
        'case.key.create',
        [ref],
        { status: 'succeeded', details: { foundExisting: true } },
        { alias: caseKeyAlias(caseId) },
      );
    }
    return existing;
  }
  const accountId = await account.accountId();
  const created = await account.kms.createKey({
    Description: `cleanroom case key for ${caseId}: encrypts the case's evidence copies and room volumes`,
    KeyUsage: 'ENCRYPT_DECRYPT',
    KeySpec: 'SYMMETRIC_DEFAULT',
    Policy: caseKeyPolicy(accountId, account.region),
    Tags: [
      { TagKey: TAG_CASE, TagValue: caseId },
      { TagKey: TAG_ROLE, TagValue: ROLE.caseKey },
    ],
  });
  const m = created.KeyMetadata!;
  try {
    await account.kms.createAlias({ AliasName: caseKeyAlias(caseId), TargetKeyId: m.KeyId! });
  } catch (e) {
    // Another analyst created the alias at the same moment: use theirs, retire ours.
    if (!isAwsCode(e, 'AlreadyExistsException')) throw e;
    await account.kms.scheduleKeyDeletion({ KeyId: m.KeyId!, PendingWindowInDays: 7 });
    const theirs = await findCaseKey(account, caseId);
    if (theirs) return theirs;
    throw e;
  }
  await account.kms.enableKeyRotation({ KeyId: m.KeyId! });
  const key = { keyId: m.KeyId!, arn: m.Arn!, created: true };
  const ref = resourceRef('kms:key', key.keyId, accountId, account.region, key.arn);
  if (custody)
    await new StepRecorder(custody).record(
      idempotencyKeys.caseKey(key.arn),
      'case.key.create',
      [ref],
      { status: 'succeeded' },
      { alias: caseKeyAlias(caseId) },
    );
  return key;
}
