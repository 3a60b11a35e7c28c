/**
 * The Lambda functions' environment (set by templates/automation.yaml): read once per cold start,
 * refused with AUTOMATION_ENV_INVALID (naming the variable) when a value is missing or wrong.
 */
import { UsageError } from '../domain/errors.js';
import type { IsolationPolicy } from './types.js';

export interface AutomationEnv {
  /** The Region the functions run in (AWS_REGION, set by Lambda). */
  region: string;
  /** The vault bucket (custody records, approvals). */
  vaultBucket: string;
  /** The vault's KMS key (the approval documents are written under it). */
  vaultKeyArn: string;
  /** SHA-256 of the deployed code bundle: named by every custody event automation appends. */
  codeSha256: string;
  /** The responders' SNS topic. */
  topicArn: string;
  isolationPolicy: IsolationPolicy;
  /** GuardDuty findings below this severity are ignored. */
  minSeverity: number;
  /**
   * How long the attach step lets the room's instance take to report an attached evidence disk
   * read-only (CLEANROOM_READONLY_CHECK_SECONDS, the stack's ReadOnlyCheckSeconds); unset: the
   * library's default (60 s). Past it the disk is recorded read-only `not-confirmed`.
   */
  readOnlyCheckSeconds?: number;
}

/** The longest read-only check a step may wait for: it is awaited inside one 15-minute invocation. */
export const MAX_READONLY_CHECK_SECONDS = 600;

const POLICIES: readonly IsolationPolicy[] = ['auto', 'approve', 'never'];

function bad(name: string, value: string | undefined, want: string): never {
  throw new UsageError(
    'AUTOMATION_ENV_INVALID',
    `The function's environment variable ${name} is ${value === undefined ? 'not set' : JSON.stringify(value)}: it must be ${want}. Redeploy the automation (cleanroom automation deploy).`,
    { details: { variable: name, value } },
  );
}

/** Read and check the environment. */
export function readAutomationEnv(env: Record<string, string | undefined> = process.env): AutomationEnv {
  const need = (name: string, want: string, re: RegExp): string => {
    const v = env[name];
    if (v === undefined || !re.test(v)) bad(name, v, want);
    return v;
  };
  const policy = env['CLEANROOM_ISOLATION_POLICY'] ?? 'auto';
  if (!POLICIES.includes(policy as IsolationPolicy))
    bad('CLEANROOM_ISOLATION_POLICY', policy, 'auto, approve or never');
  const severity = Number(env['CLEANROOM_MIN_SEVERITY'] ?? '7');
  if (!Number.isFinite(severity) || severity < 0 || severity > 10)
    bad('CLEANROOM_MIN_SEVERITY', env['CLEANROOM_MIN_SEVERITY'], 'a number from 0 to 10');
  const check = env['CLEANROOM_READONLY_CHECK_SECONDS'];
  const checkSeconds = check === undefined || check === '' ? undefined : Number(check);
  if (
    checkSeconds !== undefined &&
    (!Number.isInteger(checkSeconds) || checkSeconds < 0 || checkSeconds > MAX_READONLY_CHECK_SECONDS)
  )
    bad('CLEANROOM_READONLY_CHECK_SECONDS', check, `a whole number of seconds from 0 to ${MAX_READONLY_CHECK_SECONDS}`);
  return {
    region: need('AWS_REGION', 'a Region name', /^[a-z]{2}(-[a-z]+)+-\d+$/),
    vaultBucket: need('CLEANROOM_VAULT_BUCKET', 'an S3 bucket name', /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/),
    vaultKeyArn: need('CLEANROOM_VAULT_KEY_ARN', 'a KMS key ARN', /^arn:aws[a-z-]*:kms:/),
    codeSha256: need('CLEANROOM_CODE_SHA256', 'the hex SHA-256 of the deployed code', /^[0-9a-f]{64}$/),
    topicArn: need('CLEANROOM_TOPIC_ARN', 'an SNS topic ARN', /^arn:aws[a-z-]*:sns:/),
    isolationPolicy: policy as IsolationPolicy,
    minSeverity: severity,
    ...(checkSeconds !== undefined ? { readOnlyCheckSeconds: checkSeconds } : {}),
  };
}
