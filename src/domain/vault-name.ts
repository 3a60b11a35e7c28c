/** The contract's default vault bucket: `cleanroom-evidence-<account id>-<region>`. */
export function defaultVaultBucket(accountId: string, region: string): string {
  return `cleanroom-evidence-${accountId}-${region}`;
}

/** Custody objects of a case live under this prefix in the vault. */
export function casePrefix(caseId: string): string {
  return `cases/${caseId}/`;
}
