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

/**
 * The approval requests of one execution, one object per instance: `cases/<case>/automation/approvals/<execution name>/`.
 * Keyed by instance too because the children of a fleet's Distributed Map may share an execution
 * name (on the local AWS every child has its parent's; on AWS each has its own ARN).
 */
export function automationApprovalPrefix(caseId: string, executionName: string): string {
  return `${casePrefix(caseId)}automation/approvals/${executionName}/`;
}

/** The approval request of one instance's paused response: `…/approvals/<execution name>/<instance>.json`. */
export function automationApprovalKey(caseId: string, executionName: string, instanceId: string): string {
  return `${automationApprovalPrefix(caseId, executionName)}${instanceId}.json`;
}

/** Where a step deployed before approvals were per instance wrote its request (`…/approvals/<execution name>.json`): read, never written. */
export function legacyAutomationApprovalKey(caseId: string, executionName: string): string {
  return `${casePrefix(caseId)}automation/approvals/${executionName}.json`;
}

/** The automation stack, one per account and Region (`automation deploy --stack-name` overrides). */
export const AUTOMATION_STACK_NAME = 'cleanroom-automation';
