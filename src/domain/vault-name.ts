/** The contract's default vault bucket: `cleanroom-evidence-<account id>-<region>`. */
export function defaultVaultBucket(accountId: string, region: string): string {
  return `cleanroom-evidence-${accountId}-${region}`;
}

/** Custody objects of a case live under this prefix in the vault. */
export function casePrefix(caseId: string): string {
  return `cases/${caseId}/`;
}

/**
 * The vault's customer-managed encryption key (SSE-KMS default of the bucket), one per vault
 * bucket: `alias/cleanroom/vault/<bucket>`.
 */
export function vaultKeyAlias(bucket: string): string {
  return `alias/cleanroom/vault/${bucket}`;
}

/**
 * The custody signing key of a vault (KMS ECC_NIST_P256, SIGN_VERIFY): signs every case
 * manifest's chain head. `alias/cleanroom/signing/<bucket>`.
 */
export function signingKeyAlias(bucket: string): string {
  return `alias/cleanroom/signing/${bucket}`;
}

/** Guest tooling the room's instance installs at boot is uploaded under this prefix. */
export function guestToolsPrefix(caseId: string): string {
  return `${casePrefix(caseId)}tools/guest/`;
}
