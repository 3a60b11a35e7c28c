/**
 * One object put into the vault once: SSE-KMS under the vault key, its SHA-256 as the S3 checksum
 * (S3 refuses a body that does not match it) and as metadata, and no upload at all when the vault
 * already holds the same content under the key — so a rerun uploads only what changed.
 */
import type { AccountCalls } from '../aws/ports.js';
import { isAwsCode } from '../aws/errors.js';

export interface VaultObject {
  bucket: string;
  key: string;
  body: Uint8Array;
  /** SHA-256 of `body`, hex. */
  sha256: string;
  vaultKeyArn: string;
  contentType: string;
}

/** Put `o` unless the vault holds the same content under its key; says which. */
export async function putVaultObjectOnce(
  account: AccountCalls<{ s3: 'headObject' | 'putObject' }>,
  o: VaultObject,
): Promise<{ uploaded: boolean; versionId?: string }> {
  try {
    const head = await account.s3.headObject({ Bucket: o.bucket, Key: o.key });
    if (head.Metadata?.['sha256'] === o.sha256) return { uploaded: false };
  } catch (e) {
    if (!isAwsCode(e, 'NotFound', 'NoSuchKey', '404')) throw e;
  }
  const put = await account.s3.putObject({
    Bucket: o.bucket,
    Key: o.key,
    Body: o.body,
    ContentType: o.contentType,
    ServerSideEncryption: 'aws:kms',
    SSEKMSKeyId: o.vaultKeyArn,
    ChecksumAlgorithm: 'SHA256',
    ChecksumSHA256: Buffer.from(o.sha256, 'hex').toString('base64'),
    Metadata: { sha256: o.sha256 },
  });
  return { uploaded: true, ...(put.VersionId ? { versionId: put.VersionId } : {}) };
}
