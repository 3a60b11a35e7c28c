/**
 * `room up`: bring a case's clean room up, or bring it back to what it should be.
 *
 * 1. Check the flags (no AWS call), the region, the Availability Zone and instance type, an
 *    explicit AMI, and find the vault and its key.
 * 2. Settle a stack an earlier run left behind: wait for one still in progress (and record the
 *    outcome of a change set that run executed but never saw finish), discard one only in review,
 *    and refuse — with the failing resources and the way forward — one in ROLLBACK_COMPLETE or a
 *    FAILED state.
 * 3. Ensure the case key; upload the guest tooling to the vault (only what changed); copy the
 *    chosen forensic toolkit into the case (`--toolkit`, resolved in step 1: `toolkit.ts`).
 * 4. Create a change set for the stack (CREATE or UPDATE). Empty: the room is up to date, nothing
 *    is executed. Otherwise execute it, with the stack's events as progress, and wait within a
 *    budget, failing fast on ROLLBACK/FAILED.
 * 5. Reconcile the guard rails (`guard-rails.ts`) whatever happened to the stack.
 * 6. Run the live audit (`audit.ts`) and record its result when it changed.
 * 7. With a toolkit: ask the instance (SSM) whether it installed it, within a budget, and record
 *    the answer (`room.toolkit.verify`).
 *
 * Every mutating step is a custody event; a second run that finds everything as it should be
 * changes nothing, appends nothing, and says so.
 */
import { createHash } from 'node:crypto';
import type { AwsAccount } from '../../aws/ports.js';
import { checkRegion } from '../../aws/region.js';
import type { CustodyRecorder, ResourceRef } from '../../domain/recorder.js';
import { resourceRef } from '../../resources/refs.js';
import { assertCaseId, roomStackName } from '../../domain/case-id.js';
import { TAG_CASE, TAG_EVIDENCE, TAG_ROLE, ROLE } from '../../domain/tags.js';
import { CleanroomError, TimeoutError, UsageError, asError } from '../../domain/errors.js';
import { silentReporter, type Reporter } from '../../domain/reporter.js';
import type { RoomInfo } from '../../domain/room.js';
import { handOffClock, systemClock, type Clock } from '../../domain/waiter.js';
import { ensureCaseKey } from '../../resources/case-key.js';
import { failedResources, nameFailures } from '../../resources/stack-activity.js';
import { auditStack, type RoomAudit } from './audit.js';
import {
  StackFailedError,
  createChangeSet,
  discardChangeSet,
  executeChangeSet,
  settleStack,
  type ChangeSetInput,
  type PlannedChangeSet,
} from '../../resources/stack-deploy.js';
import { reconcileGuardRails, type Correction } from './guard-rails.js';
import { uploadGuestTools } from './guest-tools.js';
import {
  checkToolkitChoice,
  copyRoomToolkit,
  resolveRoomToolkit,
  verifyRoomToolkit,
  type RoomToolkit,
  type RoomToolkitPlan,
} from './toolkit.js';
import {
  DEFAULT_INSTANCE_TYPE,
  checkAmi,
  checkFlags,
  chooseAvailabilityZone,
  findVault,
  s3PrefixListId,
} from './inputs.js';
import { readRoomStack, roomInfo, stackPhase, type RoomStack } from '../../resources/stacks.js';
import { withCustodySession, type CustodySession, type CustodySource, type SealState } from '../../custody/session.js';
import { abortableClock, isInterrupted } from '../../domain/abort.js';
import { isWaitHandedOff, checkWaitMode, type WaitMode } from '../../domain/hand-off.js';
import { ROOM_TEMPLATE_BODY } from '../../assets/generated/room-template.js';
import { packagePath } from '../../assets/package-path.js';
import { idempotencyKeys, markKey } from '../../domain/idempotency-keys.js';
import { StepRecorder } from '../../domain/step-recorder.js';

/**
 * templates/room.yaml of the installed package (dist/workflows/room → ../../../templates): the
 * source of the template, for cfn-lint and the docs. Room up sends {@link ROOM_TEMPLATE}, its
 * contents compiled into the build (src/assets/generated/room-template.ts), which a bundle carries.
 */
export const ROOM_TEMPLATE_PATH = packagePath(import.meta.url, '../../../templates/room.yaml', 'templates/room.yaml');
/** The room template (templates/room.yaml as of this build): the TemplateBody room up sends. */
export const ROOM_TEMPLATE: string = ROOM_TEMPLATE_BODY;
/** CloudFormation's limit for a TemplateBody (a larger template needs TemplateURL). */
export const TEMPLATE_BODY_LIMIT = 51_200;

/** Time budgets (milliseconds). */
export interface RoomBudgets {
  /** CloudFormation computing a change set. */
  changeSetMs: number;
  /** The stack creating or updating (the interface endpoints alone take minutes). */
  deployMs: number;
  /** The stack deleting. */
  deleteMs: number;
  /** The room installing its toolkit after the stack is up (dnf, then pip): room up waits this long for the answer. */
  toolkitWaitMs: number;
  /** One SSM read of the toolkit status. */
  toolkitCommandMs: number;
}

export const DEFAULT_ROOM_BUDGETS: RoomBudgets = {
  changeSetMs: 5 * 60_000,
  deployMs: 45 * 60_000,
  deleteMs: 60 * 60_000,
  toolkitWaitMs: 15 * 60_000,
  toolkitCommandMs: 60_000,
};

export interface RoomUpDeps {
  account: AwsAccount;
  /** The case's record, or how to open it (after the inputs are checked). */
  custody: CustodySource;
  reporter?: Reporter;
  clock?: Clock;
  /** The template (default: templates/room.yaml of the package). */
  templateBody?: string;
  /** The guest tooling directory (default: scripts/guest of the package). */
  guestToolsDir?: string;
}

export interface RoomUpOptions {
  caseId: string;
  availabilityZone?: string;
  instanceType?: string;
  amiId?: string;
  /**
   * The forensic toolkit the room installs: `default` (the vault's default pointer; none published:
   * no toolkit, with a warning), `none`, or a toolkit id / its prefix `tools/toolkits/<id>/` (must
   * exist: TOOLKIT_NOT_FOUND). Unset: a new room takes `default`, an existing room keeps its own.
   */
  toolkit?: string;
  /** The vault bucket (default: cleanroom-evidence-<account>-<region>). */
  bucket?: string;
  budgets?: Partial<RoomBudgets>;
  /** Stops the run at the next step boundary (INTERRUPTED); what was recorded is sealed. */
  signal?: AbortSignal;
  /**
   * How waits wait (domain/hand-off.ts): `block` (default, the CLI) sleeps until done; `hand-off`
   * throws WaitHandedOffError (code WAIT_HANDED_OFF: what it waits for, retryAfterSeconds) where it
   * would sleep, after recording and sealing what it did; the same call again resumes.
   */
  waits?: WaitMode;
}

export interface RoomUpResult {
  room: RoomInfo;
  /** What happened to the stack in this run. */
  change: 'created' | 'updated' | 'unchanged';
  /** Nothing was changed or uploaded, and no guard rail needed restoring. */
  upToDate: boolean;
  changeSetId?: string;
  changes: PlannedChangeSet['changes'];
  corrections: Correction[];
  guestTools: { bucket: string; prefix: string; digest: string; files: number; uploaded: number };
  /** The forensic toolkit: what was chosen and copied into the case, and what the room said. */
  toolkit: RoomToolkit;
  audit: RoomAudit;
  /** Whether the custody manifest seals the record after this run (and why not). */
  seal: SealState;
}

/** Keys of the custody events of a deployment. */
export const deployKeys = { start: idempotencyKeys.room.deployStart, outcome: idempotencyKeys.room.deployOutcome };

/**
 * The TemplateBody room up sends to CloudFormation: `given` (RoomUpDeps.templateBody) or the
 * built-in {@link ROOM_TEMPLATE}; refused (TEMPLATE_TOO_LARGE) when over CloudFormation's limit.
 */
export function roomTemplateBody(given?: string): string {
  const templateBody = given ?? ROOM_TEMPLATE;
  if (Buffer.byteLength(templateBody) > TEMPLATE_BODY_LIMIT) {
    throw new CleanroomError(
      'TEMPLATE_TOO_LARGE',
      `The room template is ${Buffer.byteLength(templateBody)} bytes; CloudFormation takes at most ${TEMPLATE_BODY_LIMIT} in TemplateBody.`,
    );
  }
  return templateBody;
}

/** Bring the room of a case up (see the module comment); seals the record on the way out. */
export async function roomUp(deps: RoomUpDeps, o: RoomUpOptions): Promise<RoomUpResult> {
  const caseId = assertCaseId(o.caseId);
  checkFlags(o);
  if (o.toolkit !== undefined) checkToolkitChoice(o.toolkit);
  const templateBody = roomTemplateBody(deps.templateBody);
  return withCustodySession(deps.custody, o.signal, async (session) => {
    const run = await startRun(deps, o, caseId, session);
    const inputs = await checkInputs(run, o);
    const custody = await session.open();
    const r = { ...run, custody };
    session.checkpoint('settling what an earlier run left');
    let stack = await settle(run.account, caseId, inputs.found, r);
    session.checkpoint('the case key and the guest tooling');
    const { caseKey, tools } = await caseKeyAndTools(r, deps, inputs.vault);
    session.checkpoint('the forensic toolkit');
    const toolkit = await copyRoomToolkit(run.account, {
      caseId,
      vault: {
        bucket: inputs.vault.bucket,
        vaultKeyArn: inputs.vault.keyArn,
        lockMode: inputs.vault.lockMode,
        retentionDays: inputs.vault.retentionDays,
      },
      plan: inputs.toolkit,
      custody,
      reporter: run.reporter,
    });
    session.checkpoint('the change set');
    const planned = await planChangeSet(r, o, inputs, stack, { caseKey: caseKey.arn, templateBody, toolkit });
    session.checkpoint('executing the change set');
    const deployed = planned.planned.hasChanges ? await deploy(r, planned, stack) : undefined;
    if (!deployed) run.step(`room stack ${run.stackName} is up to date: the change set is empty, nothing to execute`);
    stack = (await readRoomStack(run.account, caseId)) ?? deployed?.stack ?? stack;
    if (!stack)
      throw new CleanroomError('ROOM_STACK_GONE', `Room stack ${run.stackName} disappeared after the change set.`);
    session.checkpoint('the guard rails');
    run.step('guard rails: security group rules, the instance groups, IMDSv2');
    const corrections = await reconcileGuardRails(run.account, caseId, stack, { custody, reporter: run.reporter });
    session.checkpoint('the live audit');
    run.step('auditing the live room');
    const audit = await auditStack(run.account, caseId, stack);
    await recordAudit(custody, stack, audit, run.stackRef(stack));
    const instanceId = stack.outputs['InstanceId'];
    if (toolkit.toolkitId && instanceId) {
      session.checkpoint('the toolkit in the room');
      toolkit.inRoom = await verifyRoomToolkit(
        { forensic: run.account, clock: run.clock, custody, reporter: run.reporter },
        {
          instanceId,
          toolkitId: toolkit.toolkitId,
          ...(toolkit.manifestSha256 ? { manifestSha256: toolkit.manifestSha256 } : {}),
          budgets: { waitMs: run.budgets.toolkitWaitMs, commandMs: run.budgets.toolkitCommandMs },
          fresh: !!deployed,
        },
      );
    }
    const change = deployed?.change ?? 'unchanged';
    const uploaded = tools.files.filter((f) => f.uploaded).length;
    return {
      room: roomInfo(caseId, stack),
      change,
      upToDate: change === 'unchanged' && corrections.length === 0 && uploaded === 0 && toolkit.copied === 0,
      ...(planned.planned.hasChanges ? { changeSetId: planned.planned.changeSetId } : {}),
      changes: planned.planned.changes,
      corrections,
      guestTools: {
        bucket: tools.bucket,
        prefix: tools.prefix,
        digest: tools.digest,
        files: tools.files.length,
        uploaded,
      },
      toolkit,
      audit,
    };
  });
}

/** What every step of one room up shares. */
interface UpRun {
  account: AwsAccount;
  caseId: string;
  stackName: string;
  reporter: Reporter;
  clock: Clock;
  budgets: RoomBudgets;
  stackRef: (s: { stackName: string; stackId?: string }) => ResourceRef;
  step: (message: string) => void;
}
type UpRunWithCustody = UpRun & { custody: CustodyRecorder };

async function startRun(deps: RoomUpDeps, o: RoomUpOptions, caseId: string, session: CustodySession): Promise<UpRun> {
  const { account } = deps;
  const reporter = deps.reporter ?? silentReporter;
  await checkRegion(account);
  const accountId = await account.accountId();
  return {
    account,
    caseId,
    stackName: roomStackName(caseId),
    reporter,
    clock: handOffClock(abortableClock(deps.clock ?? systemClock, session.signal), checkWaitMode(o.waits)),
    budgets: { ...DEFAULT_ROOM_BUDGETS, ...o.budgets },
    stackRef: (s) => resourceRef('cloudformation:stack', s.stackName, accountId, account.region, s.stackId),
    step: (message) => reporter.progress({ kind: 'step', message }),
  };
}

interface UpInputs {
  found: RoomStack | undefined;
  previous: Record<string, string>;
  az: string;
  instanceType: string;
  vault: Awaited<ReturnType<typeof findVault>>;
  toolkit: RoomToolkitPlan;
}

/** Step 1: the inputs, against the existing room's parameters where there is one (read-only so far). */
async function checkInputs(run: UpRun, o: RoomUpOptions): Promise<UpInputs> {
  const { account, caseId } = run;
  const found = await readRoomStack(account, caseId);
  const previous = found && stackPhase(found.status) !== 'review' ? found.parameters : {};
  if (
    found &&
    o.availabilityZone &&
    previous['AvailabilityZone'] &&
    o.availabilityZone !== previous['AvailabilityZone']
  ) {
    throw new UsageError(
      'ROOM_AZ_CHANGE',
      `The room of ${caseId} is in ${previous['AvailabilityZone']}; moving it to ${o.availabilityZone} would replace its subnet and instance. Take it down first (\`cleanroom room down --case ${caseId}\`), then \`room up --az ${o.availabilityZone}\`.`,
      { details: { caseId, availabilityZone: previous['AvailabilityZone'] } },
    );
  }
  const instanceType = o.instanceType ?? previous['InstanceType'] ?? DEFAULT_INSTANCE_TYPE;
  const az = await chooseAvailabilityZone(account, instanceType, previous['AvailabilityZone'] ?? o.availabilityZone);
  if (o.amiId) await checkAmi(account, o.amiId);
  const vault = await findVault(account, o.bucket);
  // Unset: a new room takes the default toolkit; an existing room keeps the one it has.
  const kept = found && 'ToolkitId' in previous && o.toolkit === undefined;
  const spec = o.toolkit ?? (kept ? previous['ToolkitId'] || 'none' : 'default');
  const resolved = await resolveRoomToolkit(account, vault.bucket, spec, run.reporter);
  const toolkit: RoomToolkitPlan =
    kept && resolved.kind === 'none'
      ? {
          ...resolved,
          reason: 'the room has no toolkit and keeps none (room up --toolkit default or <id> installs one)',
        }
      : resolved;
  return { found, previous, az, instanceType, vault, toolkit };
}

/** Step 3: the case key and the guest tooling. */
async function caseKeyAndTools(run: UpRunWithCustody, deps: RoomUpDeps, vault: UpInputs['vault']) {
  const caseKey = await ensureCaseKey(run.account, run.caseId, run.custody);
  run.step(`guest tooling → s3://${vault.bucket}/cases/${run.caseId}/tools/guest/`);
  const tools = await uploadGuestTools(run.account, {
    caseId: run.caseId,
    bucket: vault.bucket,
    vaultKeyArn: vault.keyArn,
    ...(deps.guestToolsDir ? { dir: deps.guestToolsDir } : {}),
    custody: run.custody,
    reporter: run.reporter,
  });
  return { caseKey, tools };
}

interface PlannedUp {
  planned: PlannedChangeSet;
  parameters: ChangeSetInput['parameters'];
  type: 'CREATE' | 'UPDATE';
  changeSetName: string;
  templateBody: string;
}

/** Step 4: the change set (CREATE or UPDATE), computed by CloudFormation. */
async function planChangeSet(
  run: UpRunWithCustody,
  o: RoomUpOptions,
  inputs: UpInputs,
  stack: RoomStack | undefined,
  c: { caseKey: string; templateBody: string; toolkit: RoomToolkit },
): Promise<PlannedUp> {
  const { caseId, stackName, previous } = { ...run, previous: inputs.previous };
  const prefixList = await s3PrefixListId(run.account);
  const values: Record<string, string | undefined> = {
    CaseId: caseId,
    AvailabilityZone: inputs.az,
    InstanceType: o.instanceType ?? (stack ? undefined : inputs.instanceType),
    AmiId: o.amiId ?? (stack ? undefined : ''),
    VaultBucket: inputs.vault.bucket,
    VaultKeyArn: inputs.vault.keyArn,
    CaseKeyArn: c.caseKey,
    S3PrefixListId: prefixList,
    ToolkitId: c.toolkit.toolkitId ?? '',
    ToolkitManifestSha256: c.toolkit.manifestSha256 ?? '',
  };
  const parameters: ChangeSetInput['parameters'] = Object.entries(values).flatMap(
    ([k, v]): ChangeSetInput['parameters'] =>
      v !== undefined
        ? [{ ParameterKey: k, ParameterValue: v }]
        : k in previous
          ? [{ ParameterKey: k, UsePreviousValue: true }]
          : k === 'AmiId'
            ? [{ ParameterKey: k, ParameterValue: '' }]
            : [],
  );
  // The parameters room up never sets (ImageId, VpcCidr, FlowLogRetentionDays) are left out: they
  // keep the template's defaults, which is what they have.
  const type = stack ? 'UPDATE' : 'CREATE';
  const changeSetName = `cleanroom-up-${new Date(run.clock.now()).toISOString().replace(/[-:.]/g, '')}`;
  run.step(
    `${type === 'CREATE' ? 'creating' : 'checking'} room stack ${stackName} through change set ${changeSetName}`,
  );
  const planned = await createChangeSet(
    run.account,
    {
      stackName,
      type,
      changeSetName,
      templateBody: c.templateBody,
      parameters,
      tags: [
        { Key: TAG_CASE, Value: caseId },
        { Key: TAG_ROLE, Value: ROLE.roomStack },
      ],
      description: `cleanroom room up for case ${caseId}`,
    },
    { budgetMs: run.budgets.changeSetMs, clock: run.clock },
  );
  if (planned.hasChanges && stack) await refuseInstanceReplacementWithEvidence(run.account, caseId, stack, planned);
  return { planned, parameters, type, changeSetName, templateBody: c.templateBody };
}

/** Step 4 (cont.): execute the change set, recorded before and after; waits within the budget. */
async function deploy(
  run: UpRunWithCustody,
  p: PlannedUp,
  stack: RoomStack | undefined,
): Promise<{ stack: RoomStack; change: RoomUpResult['change'] }> {
  const { custody, stackName, caseId } = run;
  const { planned, type } = p;
  const templateSha256 = createHash('sha256').update(p.templateBody).digest('hex');
  const shown = p.parameters.map((x) =>
    x.UsePreviousValue ? `${x.ParameterKey}=(previous)` : `${x.ParameterKey}=${x.ParameterValue}`,
  );
  run.step(
    `executing ${planned.changes.length} change(s): ${planned.changes.map((c) => `${c.action} ${c.logicalId}${c.replacement === 'True' ? ' (replacement)' : ''}`).join(', ')}`,
  );
  const rec = new StepRecorder(custody, run.reporter);
  await rec.record(
    deployKeys.start(planned.changeSetId),
    'room.deploy.start',
    [run.stackRef({ stackName, stackId: planned.stackId })],
    {
      status: 'succeeded',
      details: { changeSetId: planned.changeSetId, changeSetName: p.changeSetName, changes: planned.changes },
    },
    { changeSetType: type, parameters: shown, templateSha256 },
  );
  try {
    stack = await executeChangeSet(run.account, planned, {
      stackName,
      budgetMs: run.budgets.deployMs,
      clock: run.clock,
      reporter: run.reporter,
      hint: hintAfterFailure(caseId, type),
    });
  } catch (e) {
    const err = asError(e);
    // A wait that ran out of time, or was stopped, is not the outcome: the stack goes on, and the
    // next run records how it ended (recordUnfinishedDeploys).
    if (isInterrupted(err) || isWaitHandedOff(err)) throw err;
    const timedOut = err instanceof TimeoutError;
    await rec.record(
      timedOut ? markKey(deployKeys.outcome(planned.changeSetId), 'timeout') : deployKeys.outcome(planned.changeSetId),
      timedOut ? 'room.deploy.timeout' : 'room.deploy',
      [run.stackRef({ stackName, stackId: planned.stackId })],
      {
        status: 'failed',
        error: { code: err instanceof CleanroomError ? err.code : 'INTERNAL', message: err.message },
        details: {
          changeSetId: planned.changeSetId,
          ...(err instanceof StackFailedError ? { failedResources: err.failedResources } : {}),
        },
      },
    );
    throw e;
  }
  await rec.record(deployKeys.outcome(planned.changeSetId), 'room.deploy', [run.stackRef(stack)], {
    status: 'succeeded',
    details: { changeSetId: planned.changeSetId, stackStatus: stack.status, outputs: stack.outputs },
  });
  return { stack, change: type === 'CREATE' ? 'created' : 'updated' };
}

function hintAfterFailure(caseId: string, type: 'CREATE' | 'UPDATE'): string {
  return type === 'CREATE'
    ? `When the rollback has finished, fix the cause and run \`cleanroom room down --case ${caseId}\`, then \`cleanroom room up --case ${caseId}\` again.`
    : `The room stays as it was before this change; fix the cause and run \`cleanroom room up --case ${caseId}\` again.`;
}

/**
 * Deal with the stack as an earlier run (or another analyst) left it; returns the stack to update,
 * or undefined to create a new one.
 */
async function settle(
  account: AwsAccount,
  caseId: string,
  found: RoomStack | undefined,
  c: {
    custody: CustodyRecorder;
    reporter: Reporter;
    clock: Clock;
    budgets: RoomBudgets;
    stackRef: (s: RoomStack) => ResourceRef;
  },
): Promise<RoomStack | undefined> {
  const stackName = roomStackName(caseId);
  return settleStack(account, found, {
    stackName,
    noun: 'room stack',
    deployMs: c.budgets.deployMs,
    deleteMs: c.budgets.deleteMs,
    clock: c.clock,
    reporter: c.reporter,
    deleteRetryHint: `run \`cleanroom room down --case ${caseId}\``,
    reviewRetryHint: `run \`cleanroom room up --case ${caseId}\` again`,
    settled: (stack) => recordUnfinishedDeploys(account, stack, c.custody, c.stackRef),
    // Created by a CREATE change set that was never executed: it holds no resources.
    discarded: async (stack) => {
      await new StepRecorder(c.custody, c.reporter).record(
        idempotencyKeys.room.discardReview(stack.stackId),
        'room.discard-review-stack',
        [c.stackRef(stack)],
        {
          status: 'succeeded',
          details: {
            stackId: stack.stackId,
            reason: 'REVIEW_IN_PROGRESS: created by a change set that was never executed; no resources',
          },
        },
      );
    },
    unusable: async (stack, failedOnes) => {
      switch (stackPhase(stack.status)) {
        case 'rolled-back': {
          const failed = await failedOnes();
          return new StackFailedError(
            `Room stack ${stackName} is in ROLLBACK_COMPLETE: an earlier \`room up\` failed to create it — ${nameFailures(failed, stack.statusReason ?? 'CloudFormation gave no reason')}. CloudFormation can only delete such a stack: run \`cleanroom room down --case ${caseId}\` (it deletes the empty stack), fix the cause, then \`cleanroom room up --case ${caseId}\` again.`,
            failed,
            { stackName, stackId: stack.stackId, status: stack.status },
            'ROOM_STACK_ROLLED_BACK',
          );
        }
        case 'failed': {
          const failed = await failedOnes();
          const way =
            stack.status === 'DELETE_FAILED'
              ? `An earlier \`room down\` could not delete it: fix or remove those resources, then run \`cleanroom room down --case ${caseId}\` again.`
              : stack.status === 'UPDATE_ROLLBACK_FAILED'
                ? 'CloudFormation could not roll back an update: fix the cause and continue the rollback (ContinueUpdateRollback, or "Continue update rollback" in the console), then run `room up` again.'
                : `Run \`cleanroom room down --case ${caseId}\`, then \`cleanroom room up --case ${caseId}\`.`;
          return new StackFailedError(
            `Room stack ${stackName} is in ${stack.status} — ${nameFailures(failed, stack.statusReason ?? 'CloudFormation gave no reason')}. ${way}`,
            failed,
            { stackName, stackId: stack.stackId, status: stack.status },
            'ROOM_STACK_FAILED',
          );
        }
        default:
          return new CleanroomError(
            'ROOM_STACK_STATE',
            `Room stack ${stackName} is in ${stack.status}; room up cannot continue from there.`,
            { details: { stackName, status: stack.status } },
          );
      }
    },
  });
}

/** A change set an earlier run executed but did not see finish: record how it ended. */
async function recordUnfinishedDeploys(
  account: AwsAccount,
  stack: RoomStack,
  custody: CustodyRecorder,
  stackRef: (s: RoomStack) => ResourceRef,
): Promise<void> {
  for (const e of custody.events()) {
    if (e.action !== 'room.deploy.start' || !e.resources.some((r) => r.arn === stack.stackId)) continue;
    const csId = e.outcome.details?.['changeSetId'];
    if (typeof csId !== 'string' || custody.find(deployKeys.outcome(csId))) continue;
    const failed = stackPhase(stack.status) !== 'complete' || stack.status.includes('ROLLBACK');
    await new StepRecorder(custody).record(
      deployKeys.outcome(csId),
      'room.deploy',
      [stackRef(stack)],
      failed
        ? {
            status: 'failed',
            error: {
              code: 'ROOM_STACK_FAILED',
              message: `found ${stack.status} after the run that executed the change set ended`,
            },
            details: {
              changeSetId: csId,
              stackStatus: stack.status,
              failedResources: await failedResources(account, stack.stackId),
              resumed: true,
            },
          }
        : {
            status: 'succeeded',
            details: { changeSetId: csId, stackStatus: stack.status, outputs: stack.outputs, resumed: true },
          },
    );
  }
}

/** Refuse an update that would replace the forensic instance while evidence is attached to it. */
async function refuseInstanceReplacementWithEvidence(
  account: AwsAccount,
  caseId: string,
  stack: RoomStack,
  planned: PlannedChangeSet,
): Promise<void> {
  const instanceId = stack.outputs['InstanceId'];
  const replaces = planned.changes.some(
    (c) =>
      c.logicalId === 'ForensicInstance' &&
      (c.action === 'Remove' || c.replacement === 'True' || c.replacement === 'Conditional'),
  );
  if (!replaces || !instanceId) return;
  const vols = await account.ec2.describeVolumes({
    Filters: [
      { Name: 'attachment.instance-id', Values: [instanceId] },
      { Name: 'tag-key', Values: [TAG_EVIDENCE] },
    ],
  });
  const attached = (vols.Volumes ?? []).map((v) => v.VolumeId!).filter(Boolean);
  if (!attached.length) return;
  await discardChangeSet(account, planned.changeSetId);
  throw new UsageError(
    'EVIDENCE_ATTACHED',
    `This change would replace the forensic instance ${instanceId}, and evidence volume(s) ${attached.join(', ')} are attached to it. Detach the evidence first (\`cleanroom evidence detach --case ${caseId} --evidence …\`), then run room up again. Nothing was changed.`,
    { details: { instanceId, volumes: attached } },
  );
}

/** Record the audit when its result differs from the last one recorded for this stack. */
async function recordAudit(
  custody: CustodyRecorder,
  stack: RoomStack,
  audit: RoomAudit,
  ref: ResourceRef,
): Promise<void> {
  const digest = createHash('sha256')
    .update(JSON.stringify(audit.checks.map((c) => [c.id, c.ok])))
    .digest('hex');
  const last = [...custody.events()]
    .reverse()
    .find((e) => e.action === 'room.audit' && e.outcome.details?.['stackId'] === stack.stackId);
  if (last?.outcome.details?.['digest'] === digest) return;
  await custody.record({
    action: 'room.audit',
    resources: [ref],
    outcome: {
      status: audit.ok ? 'succeeded' : 'failed',
      ...(audit.ok
        ? {}
        : {
            error: {
              code: 'ROOM_AUDIT_FAILED',
              message: audit.checks
                .filter((c) => !c.ok && c.severity !== 'warning')
                .map((c) => c.id)
                .join(', '),
            },
          }),
      details: {
        stackId: stack.stackId,
        digest,
        ok: audit.ok,
        checks: audit.checks.map((c) => ({ id: c.id, ok: c.ok, severity: c.severity ?? 'critical', detail: c.detail })),
      },
    },
  });
}
