/**
 * `automation deploy`: the automation stack (templates/automation.yaml) in the forensic account
 * and Region, brought to what the options say — idempotent, as `room up` is.
 *
 * 1. Check the options (no AWS call), the Region, and the vault (it must comply: the code and the
 *    custody records live there).
 * 2. Settle a stack an earlier run left: wait for one in progress, discard one only in review,
 *    refuse one that rolled back or failed (`automation remove`, then deploy).
 * 3. Bundle the step handlers (bundle.ts) and upload, each only when the vault does not already
 *    hold it: the zip (`automation/code/<sha256>.zip`), the ASL definitions
 *    (`automation/code/<sha256>/*.asl.json`) and the template (`automation/templates/<sha256>.yaml`;
 *    CloudFormation reads it from there: it is over TemplateBody's 51,200 bytes).
 * 4. A change set (CREATE or UPDATE): empty means up to date, nothing executed; otherwise execute
 *    it with the stack's events as progress and wait, failing fast on ROLLBACK/FAILED.
 *
 * The stack belongs to no case: nothing is recorded in a custody record (the code's SHA-256 is in
 * every event the steps append instead).
 */
import { createHash } from 'node:crypto';
import type { AwsAccount } from '../../aws/ports.js';
import { checkRegion } from '../../aws/region.js';
import { AUTOMATION_DEFINITIONS, AUTOMATION_TEMPLATE_BODY } from '../../assets/generated/automation.js';
import { requireCompliantVault } from '../../custody/vault/gate.js';
import { resolveVaultBucket } from '../../custody/vault/bucket.js';
import { abortableClock, throwIfAborted } from '../../domain/abort.js';
import { CleanroomError, UsageError } from '../../domain/errors.js';
import { silentReporter, type Reporter } from '../../domain/reporter.js';
import { ROLE, TAG_ROLE } from '../../domain/tags.js';
import {
  AUTOMATION_STACK_NAME,
  automationCodeKey,
  automationDefinitionPrefix,
  automationTemplateKey,
} from '../../domain/vault-name.js';
import { systemClock, type Clock } from '../../domain/waiter.js';
import { nameFailures } from '../../resources/stack-activity.js';
import {
  StackFailedError,
  createChangeSet,
  executeChangeSet,
  settleStack,
  type ChangeSetInput,
  type PlannedChangeSet,
} from '../../resources/stack-deploy.js';
import { readStack, type RoomStack } from '../../resources/stacks.js';
import { putVaultObjectOnce } from '../../resources/vault-object.js';
import { buildLambdaBundle, type LambdaBundle } from './bundle.js';

export type IsolationPolicy = 'auto' | 'approve' | 'never';
export const ISOLATION_POLICIES: readonly IsolationPolicy[] = ['auto', 'approve', 'never'];

/** The stack outputs, by name in the template. */
export interface AutomationOutputs {
  ResponseStateMachineArn?: string;
  FleetStateMachineArn?: string;
  TopicArn?: string;
  DeadLetterQueueUrl?: string;
  CodeSha256?: string;
  SecurityHubActionTargetArn?: string;
}

export interface AutomationBudgets {
  /** CloudFormation computing the change set. */
  changeSetMs: number;
  /** The stack creating, updating or (settling an earlier run) deleting. */
  deployMs: number;
}

export const DEFAULT_AUTOMATION_BUDGETS: AutomationBudgets = { changeSetMs: 5 * 60_000, deployMs: 30 * 60_000 };

export interface AutomationDeployDeps {
  /** The forensic account, in the Region the stack serves. */
  account: AwsAccount;
  reporter?: Reporter;
  clock?: Clock;
}

export interface AutomationDeployOptions {
  /** Default `cleanroom-automation`. */
  stackName?: string;
  /** The vault (default cleanroom-evidence-<account>-<region>). */
  bucket?: string;
  /** Unset: the deployed stack's value, or the template's default (approve) for a new stack. */
  isolationPolicy?: IsolationPolicy;
  /** GuardDuty severity 1.0–8.9. Unset: as deployed, or 7. */
  minSeverity?: number;
  /** Seconds between polls of a pending step (1–3600). Unset: as deployed, or 60. */
  pollSeconds?: number;
  /**
   * Seconds the attach step gives the room's instance to report an evidence disk read-only
   * (0–600). Unset: as deployed, or 60.
   */
  readOnlyCheckSeconds?: number;
  /** An address subscribed to the responders' topic; '' removes it. Unset: as deployed, or none. */
  notifyEmail?: string;
  /** Instances a fleet run works on at once (1–1000). Unset: as deployed, or 10. */
  fleetMaxConcurrency?: number;
  /** 0–100. Unset: as deployed, or 10. */
  fleetToleratedFailurePercentage?: number;
  /** The handlers module to bundle (default: dist/lambda/handlers.js of this package). */
  entry?: string;
  /** The template and the ASL definitions (default: those built into this package). */
  templateBody?: string;
  definitions?: Readonly<Record<string, string>>;
  budgets?: Partial<AutomationBudgets>;
  signal?: AbortSignal;
}

/** One object of the deployment in the vault. */
export interface DeployedObject {
  key: string;
  sha256: string;
  bytes: number;
  /** False: the vault already held the same content. */
  uploaded: boolean;
}

export interface AutomationDeployResult {
  stackName: string;
  stackId: string;
  stackStatus: string;
  change: 'created' | 'updated' | 'unchanged';
  changeSetId?: string;
  changes: PlannedChangeSet['changes'];
  bucket: string;
  codeSha256: string;
  code: DeployedObject;
  definitions: DeployedObject[];
  template: DeployedObject;
  parameters: Record<string, string>;
  outputs: AutomationOutputs;
}

/** The ASL files the template names (DefinitionS3Location). */
export const DEFINITION_FILES = ['response.asl.json', 'fleet.asl.json'] as const;

const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;
const EMAIL = /^[^@\s]+@[^@\s]+$/;

/** Check the options before any AWS call (exit 2 on a bad one). */
export function checkDeployOptions(o: AutomationDeployOptions): void {
  const bad = (flag: string, what: string, value: unknown) => {
    throw new UsageError('INVALID_VALUE', `${flag} must be ${what}, got ${JSON.stringify(String(value))}.`, {
      details: { option: flag, value: String(value) },
    });
  };
  if (o.stackName !== undefined && !STACK_NAME.test(o.stackName))
    bad('--stack-name', 'a CloudFormation stack name (a letter, then letters, digits and hyphens)', o.stackName);
  if (o.isolationPolicy !== undefined && !ISOLATION_POLICIES.includes(o.isolationPolicy))
    bad('--isolation-policy', 'auto, approve or never', o.isolationPolicy);
  const range = (flag: string, v: number | undefined, min: number, max: number, integer: boolean) => {
    if (v === undefined) return;
    if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v)))
      bad(flag, `${integer ? 'a whole number' : 'a number'} from ${min} to ${max}`, v);
  };
  range('--min-severity', o.minSeverity, 1, 8.9, false);
  range('--poll-seconds', o.pollSeconds, 1, 3600, true);
  range('--readonly-check-seconds', o.readOnlyCheckSeconds, 0, 600, true);
  range('--fleet-max-concurrency', o.fleetMaxConcurrency, 1, 1000, true);
  range('--fleet-tolerated-failure-percentage', o.fleetToleratedFailurePercentage, 0, 100, false);
  if (o.notifyEmail !== undefined && o.notifyEmail !== '' && !EMAIL.test(o.notifyEmail))
    bad('--notify-email', 'an email address', o.notifyEmail);
}

/** Deploy (create or update) the automation stack; see the module comment. */
export async function deployAutomation(
  deps: AutomationDeployDeps,
  o: AutomationDeployOptions = {},
): Promise<AutomationDeployResult> {
  checkDeployOptions(o);
  const { account } = deps;
  const reporter = deps.reporter ?? silentReporter;
  const clock = abortableClock(deps.clock ?? systemClock, o.signal);
  const budgets = { ...DEFAULT_AUTOMATION_BUDGETS, ...o.budgets };
  const stackName = o.stackName ?? AUTOMATION_STACK_NAME;
  const step = (message: string) => reporter.progress({ kind: 'step', message });
  await checkRegion(account);
  const vault = await requireCompliantVault(account, await resolveVaultBucket(account, o.bucket));
  throwIfAborted(o.signal);

  let stack = await settle(account, stackName, { reporter, clock, budgets });
  throwIfAborted(o.signal);

  step('bundling the step handlers (esbuild → index.mjs → zip)');
  const definitions = o.definitions ?? AUTOMATION_DEFINITIONS;
  const bundle = await buildLambdaBundle({
    ...(o.entry !== undefined ? { entry: o.entry } : {}),
    files: Object.fromEntries(DEFINITION_FILES.map((f) => [f, definitionText(definitions, f)])),
  });
  const uploads = await uploadDeployment(account, {
    bucket: vault.bucket,
    vaultKeyArn: vault.vaultKeyArn,
    bundle,
    templateBody: o.templateBody ?? AUTOMATION_TEMPLATE_BODY,
    definitions,
    reporter,
  });
  throwIfAborted(o.signal);

  const parameters = stackParameters(o, stack, {
    VaultBucket: vault.bucket,
    VaultKeyArn: vault.vaultKeyArn,
    CodeKey: uploads.code.key,
    CodeSha256: bundle.sha256,
    DefinitionPrefix: automationDefinitionPrefix(bundle.sha256),
  });
  const type = stack ? 'UPDATE' : 'CREATE';
  const changeSetName = `cleanroom-deploy-${new Date(clock.now()).toISOString().replace(/[-:.]/g, '')}`;
  step(
    `${type === 'CREATE' ? 'creating' : 'checking'} automation stack ${stackName} through change set ${changeSetName}`,
  );
  const planned = await createChangeSet(
    account,
    {
      stackName,
      type,
      changeSetName,
      templateUrl: objectUrl(vault.bucket, account.region, uploads.template.key),
      parameters,
      tags: [{ Key: TAG_ROLE, Value: ROLE.automationStack }],
      description: `cleanroom automation deploy (code ${bundle.sha256.slice(0, 12)})`,
      whose: "the automation stack's",
    },
    { budgetMs: budgets.changeSetMs, clock },
  );
  if (planned.hasChanges) {
    step(
      `executing ${planned.changes.length} change(s): ${planned.changes.map((c) => `${c.action} ${c.logicalId}`).join(', ')}`,
    );
    stack = await executeChangeSet(account, planned, {
      stackName,
      budgetMs: budgets.deployMs,
      clock,
      reporter,
      label: 'Automation stack',
      failedCode: 'AUTOMATION_STACK_FAILED',
      goneCode: 'AUTOMATION_STACK_GONE',
      hint:
        type === 'CREATE'
          ? 'When the rollback has finished, fix the cause, run `cleanroom automation remove`, then deploy again.'
          : 'The stack stays as it was before this change; fix the cause and deploy again.',
    });
  } else step(`automation stack ${stackName} is up to date: the change set is empty, nothing to execute`);
  const final = (await readStack(account, planned.stackId)) ?? stack;
  if (!final)
    throw new CleanroomError(
      'AUTOMATION_STACK_GONE',
      `Automation stack ${stackName} disappeared after the change set.`,
    );
  return {
    stackName,
    stackId: final.stackId,
    stackStatus: final.status,
    change: planned.hasChanges ? (type === 'CREATE' ? 'created' : 'updated') : 'unchanged',
    ...(planned.hasChanges ? { changeSetId: planned.changeSetId } : {}),
    changes: planned.changes,
    bucket: vault.bucket,
    codeSha256: bundle.sha256,
    ...uploads,
    parameters: Object.fromEntries(parameters.map((p) => [p.ParameterKey, p.ParameterValue ?? ''])),
    outputs: final.outputs as AutomationOutputs,
  };
}

/** The S3 object URL CloudFormation reads a template from (virtual-hosted style). */
export function objectUrl(bucket: string, region: string, key: string): string {
  const suffix = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  return `https://${bucket}.s3.${region}.${suffix}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** The template's defaults of the options (test/templates/automation-template.test.ts holds them equal). */
export const AUTOMATION_DEFAULTS = {
  IsolationPolicy: 'approve',
  MinSeverity: '7',
  PollSeconds: '60',
  ReadOnlyCheckSeconds: '60',
  NotificationEmail: '',
  FleetMaxConcurrency: '10',
  FleetToleratedFailurePercentage: '10',
} as const;

/**
 * The change set's parameters, every one with its value: the code and vault; each option as
 * given, else the deployed stack's value, else the template's default. (Explicit values, not
 * UsePreviousValue: the same inputs give the same parameter list, whatever the last deploy passed.)
 */
function stackParameters(
  o: AutomationDeployOptions,
  stack: RoomStack | undefined,
  fixed: Record<string, string>,
): ChangeSetInput['parameters'] {
  const given: Record<keyof typeof AUTOMATION_DEFAULTS, string | undefined> = {
    IsolationPolicy: o.isolationPolicy,
    MinSeverity: o.minSeverity?.toString(),
    PollSeconds: o.pollSeconds?.toString(),
    ReadOnlyCheckSeconds: o.readOnlyCheckSeconds?.toString(),
    NotificationEmail: o.notifyEmail,
    FleetMaxConcurrency: o.fleetMaxConcurrency?.toString(),
    FleetToleratedFailurePercentage: o.fleetToleratedFailurePercentage?.toString(),
  };
  const values: Record<string, string> = { ...fixed };
  for (const [k, dflt] of Object.entries(AUTOMATION_DEFAULTS))
    values[k] = given[k as keyof typeof AUTOMATION_DEFAULTS] ?? stack?.parameters[k] ?? dflt;
  return Object.entries(values).map(([ParameterKey, ParameterValue]) => ({ ParameterKey, ParameterValue }));
}

/** Step 3: the zip, the definitions and the template into the vault (only what it lacks). */
async function uploadDeployment(
  account: AwsAccount,
  o: {
    bucket: string;
    vaultKeyArn: string;
    bundle: LambdaBundle;
    templateBody: string;
    definitions: Readonly<Record<string, string>>;
    reporter: Reporter;
  },
): Promise<Pick<AutomationDeployResult, 'code' | 'definitions' | 'template'>> {
  const put = async (key: string, body: Uint8Array, contentType: string): Promise<DeployedObject> => {
    const sha256 = createHash('sha256').update(body).digest('hex');
    const r = await putVaultObjectOnce(account, {
      bucket: o.bucket,
      key,
      body,
      sha256,
      vaultKeyArn: o.vaultKeyArn,
      contentType,
    });
    o.reporter.progress({
      kind: 'step',
      message: `${r.uploaded ? 'uploaded' : 'already in the vault:'} s3://${o.bucket}/${key}`,
    });
    return { key, sha256, bytes: body.length, uploaded: r.uploaded };
  };
  const code = await put(automationCodeKey(o.bundle.sha256), o.bundle.zip, 'application/zip');
  const definitions: DeployedObject[] = [];
  for (const name of DEFINITION_FILES)
    definitions.push(
      await put(
        `${automationDefinitionPrefix(o.bundle.sha256)}${name}`,
        Buffer.from(definitionText(o.definitions, name)),
        'application/json',
      ),
    );
  const templateBytes = Buffer.from(o.templateBody);
  const templateSha = createHash('sha256').update(templateBytes).digest('hex');
  const template = await put(automationTemplateKey(templateSha), templateBytes, 'text/yaml; charset=utf-8');
  return { code, definitions, template };
}

function definitionText(definitions: Readonly<Record<string, string>>, name: string): string {
  const text = definitions[name];
  if (text === undefined)
    throw new CleanroomError(
      'INSTALLATION_INCOMPLETE',
      `The automation definition ${name} is missing: reinstall cleanroom.`,
    );
  return text;
}

/** Step 2: the stack as an earlier run left it → the stack to update, or undefined to create one. */
async function settle(
  account: AwsAccount,
  stackName: string,
  c: { reporter: Reporter; clock: Clock; budgets: AutomationBudgets },
): Promise<RoomStack | undefined> {
  return settleStack(account, await readStack(account, stackName), {
    stackName,
    noun: 'automation stack',
    deployMs: c.budgets.deployMs,
    deleteMs: c.budgets.deployMs,
    clock: c.clock,
    reporter: c.reporter,
    deleteRetryHint: 'run `cleanroom automation remove`',
    reviewRetryHint: 'deploy again',
    label: 'Automation stack',
    failedCode: 'AUTOMATION_STACK_FAILED',
    goneCode: 'AUTOMATION_STACK_GONE',
    unusable: async (stack, failedOnes) => {
      const failed = await failedOnes();
      return new StackFailedError(
        `Automation stack ${stackName} is in ${stack.status} — ${nameFailures(failed, stack.statusReason ?? 'CloudFormation gave no reason')}. Run \`cleanroom automation remove\`${stackName === AUTOMATION_STACK_NAME ? '' : ` --stack-name ${stackName}`}, fix the cause, then deploy again.`,
        failed,
        { stackName, stackId: stack.stackId, status: stack.status },
        'AUTOMATION_STACK_STATE',
      );
    },
  });
}
