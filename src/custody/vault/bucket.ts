/** Which vault bucket a command uses. */
import type { AwsAccount } from '../../aws/ports.js';
import { UsageError } from '../../domain/errors.js';
import { defaultVaultBucket } from '../../domain/vault-name.js';

/** The vault bucket a command uses: `--bucket`, or the contract's default for the account/region. */
export async function resolveVaultBucket(
  account: Pick<AwsAccount, 'accountId' | 'region'>,
  bucket?: string,
): Promise<string> {
  if (bucket) {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..')) {
      throw new UsageError(
        'INVALID_BUCKET',
        `Bucket name ${JSON.stringify(bucket)} is not a valid S3 bucket name (3–63 lower-case letters, digits, dots and hyphens).`,
      );
    }
    return bucket;
  }
  return defaultVaultBucket(await account.accountId(), account.region);
}
