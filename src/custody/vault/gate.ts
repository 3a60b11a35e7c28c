/**
 * The gate every custody writer passes once per open: the vault must exist (else exit 2 naming
 * `cleanroom vault init`) and pass its audit (else exit 3 naming the failed checks).
 */
import type { AwsAccount } from '../../aws/ports.js';
import { UsageError, VerificationFailedError } from '../../domain/errors.js';
import { auditVault, type LockMode, type VaultAuditResult } from './audit.js';

/** A vault that passed its audit, with what a writer needs. */
export interface CompliantVault {
  bucket: string;
  vaultKeyArn: string;
  signingKeyArn: string;
  lockMode: LockMode;
  retentionDays: number;
  audit: VaultAuditResult;
}

/** Audit `bucket` and return what a custody writer needs, or refuse. */
export async function requireCompliantVault(
  account: AwsAccount,
  bucket: string,
  audit?: VaultAuditResult,
): Promise<CompliantVault> {
  const a = audit ?? (await auditVault(account, bucket));
  if (!a.facts.exists) {
    throw new UsageError(
      'NO_VAULT',
      `There is no evidence vault ${bucket} in ${account.region}: create it with \`cleanroom vault init${bucket.startsWith('cleanroom-evidence-') ? '' : ` --bucket ${bucket}`}\` (or pass --bucket with your vault's name), then run this command again. Nothing was recorded.`,
      { details: { bucket, region: account.region } },
    );
  }
  if (!a.ok) {
    const failed = a.checks.filter((c) => !c.ok);
    throw new VerificationFailedError(
      'VAULT_AUDIT_FAILED',
      `The evidence vault ${bucket} fails its audit, so no custody event is written to it: ${failed.map((c) => `${c.id}: ${c.detail}`).join('; ')}. See \`cleanroom vault verify${bucket.startsWith('cleanroom-evidence-') ? '' : ` --bucket ${bucket}`}\`; \`cleanroom vault init\` repairs what can be repaired.`,
      { bucket, failedChecks: failed.map((c) => c.id) },
    );
  }
  const f = a.facts;
  return {
    bucket,
    vaultKeyArn: f.vaultKeyArn!,
    signingKeyArn: f.signingKeyArn!,
    lockMode: f.lockMode!,
    retentionDays: f.retentionDays!,
    audit: a,
  };
}
