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

/** The automation stack's code and definitions live under this prefix in the vault (no case's). */
export const AUTOMATION_CODE_PREFIX = 'automation/code/';

/** The Lambda bundle of the automation stack, named by its SHA-256: `automation/code/<sha256>.zip`. */
export function automationCodeKey(codeSha256: string): string {
  return `${AUTOMATION_CODE_PREFIX}${codeSha256}.zip`;
}

/** The ASL definitions deployed with a bundle: `automation/code/<sha256>/` (`response.asl.json`, `fleet.asl.json`). */
export function automationDefinitionPrefix(codeSha256: string): string {
  return `${AUTOMATION_CODE_PREFIX}${codeSha256}/`;
}

/** The automation stack's template as deployed (CloudFormation reads it from here): `automation/templates/<sha256>.yaml`. */
export function automationTemplateKey(templateSha256: string): string {
  return `automation/templates/${templateSha256}.yaml`;
}

/** The automation stack, one per account and Region (`automation deploy --stack-name` overrides). */
export const AUTOMATION_STACK_NAME = 'cleanroom-automation';
