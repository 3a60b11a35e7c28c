/**
 * The trust anchor read from the vault itself (`custody verify --bundle DIR --trust-vault`): the
 * public key of the vault's signing key, from KMS GetPublicKey, when AWS is reachable — so a
 * bundle is checked against the key that signs the case, not the copy it carries.
 */
import { createPublicKey } from 'node:crypto';
import type { AccountCalls, AwsAccount } from '../aws/ports.js';
import { isAwsCode } from '../aws/errors.js';
import { UsageError } from '../domain/errors.js';
import { signingKeyAlias } from '../domain/vault-name.js';
import { resolveVaultBucket } from './vault/bucket.js';
import { describeKeyAlias } from './vault/audit.js';

/** The vault's signing key: its ARN and public key (PEM, SPKI). */
export async function vaultSigningKey(
  account: Pick<AwsAccount, 'accountId' | 'region'> & AccountCalls<{ kms: 'describeKey' | 'getPublicKey' }>,
  opts: { bucket?: string } = {},
): Promise<{ bucket: string; arn: string; pem: string }> {
  const bucket = await resolveVaultBucket(account, opts.bucket);
  const alias = signingKeyAlias(bucket);
  const signing = await describeKeyAlias(account, alias);
  const missing = () =>
    new UsageError(
      'SIGNING_KEY_NOT_FOUND',
      `The vault ${bucket} has no signing key ${alias} to trust: give --bucket the vault the case was exported from, or verify with --key-fingerprint HEX from the custodian.`,
      { details: { bucket, alias } },
    );
  if (!signing) throw missing();
  try {
    const pub = await account.kms.getPublicKey({ KeyId: signing.arn });
    const pem = createPublicKey({ key: Buffer.from(pub.PublicKey!), format: 'der', type: 'spki' }).export({
      format: 'pem',
      type: 'spki',
    }) as string;
    return { bucket, arn: signing.arn, pem };
  } catch (e) {
    if (isAwsCode(e, 'NotFoundException')) throw missing();
    throw e;
  }
}
