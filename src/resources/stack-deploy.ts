/**
 * Create or update a stack through a change set (`room up`, `automation deploy`): CreateChangeSet,
 * wait for it, and either find it empty (the stack is up to date: the change set is deleted,
 * nothing is executed) or execute it and wait for the stack, with its events as progress, failing
 * fast on the first ROLLBACK/FAILED status with the failing resources and CloudFormation's reasons.
 * Before that, {@link settleStack} deals with the stack as an earlier run left it.
 */
import type { AwsAccount } from '../aws/ports.js';
import { isAwsCode } from '../aws/errors.js';
import { CleanroomError } from '../domain/errors.js';
import type { Reporter } from '../domain/reporter.js';
import { waitFor, type Clock, type PollResult } from '../domain/waiter.js';
import { StackActivity, failedResources, nameFailures, type FailedResource } from './stack-activity.js';
import { deleteStackAndWait } from './stack-delete.js';
import { isFailureStatus, readStack, stackPhase, type RoomStack } from './stacks.js';
import type { ErrorCode } from '../domain/errors.js';

/** Reasons CloudFormation gives a change set with nothing to do (both are seen in practice). */
const NO_CHANGES = /didn't contain changes|No updates are to be performed/i;

export interface ChangeSetInput {
  stackName: string;
  /** UPDATE when the stack exists (complete), CREATE otherwise. */
  type: 'CREATE' | 'UPDATE';
  changeSetName: string;
  /** The template, inline (at most 51,200 bytes) … */
  templateBody?: string;
  /** … or where CloudFormation reads it (an S3 object URL). */
  templateUrl?: string;
  parameters: Array<{ ParameterKey: string; ParameterValue?: string; UsePreviousValue?: boolean }>;
  tags: Array<{ Key: string; Value: string }>;
  description: string;
  /** How the error names the stack's template when CloudFormation refuses the change set (default "the room's"). */
  whose?: string;
}

export interface PlannedChangeSet {
  changeSetId: string;
  stackId: string;
  /** False: CloudFormation found nothing to change (the change set was deleted). */
  hasChanges: boolean;
  /** `Add ForensicInstance (AWS::EC2::Instance)`, … */
  changes: Array<{ action: string; logicalId: string; type?: string; replacement?: string }>;
}

/** A stack operation ended in a ROLLBACK/FAILED status. */
export class StackFailedError extends CleanroomError {
  constructor(
    message: string,
    readonly failedResources: FailedResource[],
    details: Record<string, unknown>,
    code: ErrorCode = 'ROOM_STACK_FAILED',
  ) {
    super(code, message, { exitCode: 1, details: { ...details, failedResources } });
  }
}

/** Create a change set and wait until CloudFormation has computed it. */
export async function createChangeSet(
  account: AwsAccount,
  input: ChangeSetInput,
  o: { budgetMs: number; clock?: Clock },
): Promise<PlannedChangeSet> {
  const created = await account.cfn.createChangeSet({
    StackName: input.stackName,
    ChangeSetName: input.changeSetName,
    ChangeSetType: input.type,
    ...(input.templateBody !== undefined ? { TemplateBody: input.templateBody } : {}),
    ...(input.templateUrl !== undefined ? { TemplateURL: input.templateUrl } : {}),
    Parameters: input.parameters,
    Capabilities: ['CAPABILITY_IAM'],
    Tags: input.tags,
    Description: input.description,
  });
  const changeSetId = created.Id!;
  const stackId = created.StackId!;
  const described = await waitFor(
    async (): Promise<PollResult<Awaited<ReturnType<AwsAccount['cfn']['describeChangeSet']>>>> => {
      const d = await account.cfn.describeChangeSet({ ChangeSetName: changeSetId });
      if (d.Status === 'CREATE_COMPLETE' || d.Status === 'FAILED') return { state: 'done', value: d };
      return { state: 'pending', detail: `change set ${d.Status}` };
    },
    {
      description: `change set ${input.changeSetName} of ${input.stackName}`,
      budgetMs: o.budgetMs,
      intervalMs: 1000,
      maxIntervalMs: 5000,
      ...(o.clock ? { clock: o.clock } : {}),
      details: { changeSetId },
    },
  );
  if (described.Status === 'FAILED') {
    if (NO_CHANGES.test(described.StatusReason ?? '')) {
      await account.cfn.deleteChangeSet({ ChangeSetName: changeSetId }).catch(() => undefined);
      return { changeSetId, stackId, hasChanges: false, changes: [] };
    }
    throw new CleanroomError(
      'CHANGE_SET_FAILED',
      `CloudFormation refused ${input.whose ?? "the room's"} change set for ${input.stackName}: ${described.StatusReason ?? 'no reason given'}.`,
      { details: { changeSetId, stackName: input.stackName } },
    );
  }
  const changes = (described.Changes ?? []).flatMap((c) => {
    const r = c.ResourceChange;
    return r?.LogicalResourceId
      ? [
          {
            action: r.Action ?? 'Modify',
            logicalId: r.LogicalResourceId,
            ...(r.ResourceType ? { type: r.ResourceType } : {}),
            ...(r.Replacement ? { replacement: r.Replacement } : {}),
          },
        ]
      : [];
  });
  return { changeSetId, stackId, hasChanges: true, changes };
}

/** How a stack wait names its stack and its failures (default: the room's). */
export interface StackWaitLabels {
  /** `Room stack` (default), `Automation stack`. */
  label?: string;
  /** Code of a stack that ended ROLLBACK/FAILED (default ROOM_STACK_FAILED). */
  failedCode?: ErrorCode;
  /** Code of a stack that disappeared while waited for (default ROOM_STACK_GONE). */
  goneCode?: ErrorCode;
}

/** Execute a computed change set and wait for the stack; fail fast on ROLLBACK/FAILED. */
export async function executeChangeSet(
  account: AwsAccount,
  planned: PlannedChangeSet,
  o: { stackName: string; budgetMs: number; clock?: Clock; reporter: Reporter; hint: string } & StackWaitLabels,
): Promise<RoomStack> {
  const activity = new StackActivity(
    account,
    planned.stackId,
    o.stackName,
    o.reporter,
    planned.changes.length || undefined,
  );
  await activity.baseline();
  await account.cfn.executeChangeSet({ ChangeSetName: planned.changeSetId });
  return waitForStack(account, planned.stackId, o.stackName, activity, o);
}

/**
 * Wait for a stack operation already running (or just started) to finish: done on *_COMPLETE,
 * failed at once on any ROLLBACK or FAILED status, named by the resources that failed.
 */
export async function waitForStack(
  account: AwsAccount,
  stackId: string,
  stackName: string,
  activity: StackActivity,
  o: { budgetMs: number; clock?: Clock; reporter: Reporter; hint: string } & StackWaitLabels,
): Promise<RoomStack> {
  const label = o.label ?? 'Room stack';
  return waitFor(
    async (): Promise<PollResult<RoomStack>> => {
      await activity.poll();
      const s = await readStack(account, stackId);
      if (!s)
        return {
          state: 'failed',
          error: new CleanroomError(
            o.goneCode ?? 'ROOM_STACK_GONE',
            `${label} ${stackName} disappeared while waiting for it.`,
            {
              details: { stackId },
            },
          ),
        };
      if (isFailureStatus(s.status)) {
        // One more look at the events: the failing resource's event may have come with this status.
        await activity.poll().catch(() => undefined);
        const failed = activity.failures();
        const rolling = s.status.endsWith('_IN_PROGRESS') ? ' CloudFormation is rolling the change back now.' : '';
        return {
          state: 'failed',
          error: new StackFailedError(
            `${label} ${stackName} failed (${s.status}) — ${nameFailures(failed, s.statusReason ?? activity.stackReason() ?? 'CloudFormation gave no reason')}.${rolling} ${o.hint}`,
            failed,
            { stackName, stackId, status: s.status },
            o.failedCode,
          ),
        };
      }
      const phase = stackPhase(s.status);
      if (phase === 'complete') return { state: 'done', value: s };
      return { state: 'pending', detail: s.status };
    },
    {
      description: `${label.toLowerCase()} ${stackName}`,
      budgetMs: o.budgetMs,
      intervalMs: 3000,
      maxIntervalMs: 10000,
      ...(o.clock ? { clock: o.clock } : {}),
      details: { stackName, stackId },
    },
  );
}

/** Delete a change set, ignoring one that is already gone. */
export async function discardChangeSet(account: AwsAccount, changeSetId: string): Promise<void> {
  try {
    await account.cfn.deleteChangeSet({ ChangeSetName: changeSetId });
  } catch (e) {
    if (!isAwsCode(e, 'ChangeSetNotFound', 'ChangeSetNotFoundException')) throw e;
  }
}

/** How {@link settleStack} names the stack, what it tells the user, and what its caller adds. */
export interface SettleStackOptions extends StackWaitLabels {
  stackName: string;
  /** How progress names the stack: `room stack`, `automation stack`. */
  noun: string;
  /** For a stack still creating or updating. */
  deployMs: number;
  /** For a stack being deleted, or left in review and discarded. */
  deleteMs: number;
  clock: Clock;
  reporter: Reporter;
  /** What to run if a deletion already in progress fails. */
  deleteRetryHint: string;
  /** What to run if discarding a stack left in review fails. */
  reviewRetryHint: string;
  /** The stack as it is once nothing runs on it any more, before it is judged (room up records an earlier run's deploy). */
  settled?: (stack: RoomStack) => Promise<void>;
  /** A stack left in REVIEW_IN_PROGRESS was deleted (room up records it). */
  discarded?: (stack: RoomStack) => Promise<void>;
  /** The error for a stack neither complete nor in review (rolled back, failed); `failed()` reads its failed resources. */
  unusable: (stack: RoomStack, failed: () => Promise<FailedResource[]>) => Error | Promise<Error>;
}

/**
 * Deal with a stack as an earlier (or a concurrent) run left it, before a change set: wait for one
 * in progress (a deletion in progress is waited to its end), discard one only in review (created
 * by a change set never executed: it holds no resources), return one complete (to update), and
 * refuse the rest with the caller's error. Undefined: there is no stack, create one. `room up` and
 * `automation deploy` both start here.
 */
export async function settleStack(
  account: AwsAccount,
  found: RoomStack | undefined,
  o: SettleStackOptions,
): Promise<RoomStack | undefined> {
  let stack = found?.status === 'DELETE_COMPLETE' ? undefined : found;
  if (stack && stackPhase(stack.status) === 'in-progress') {
    o.reporter.progress({
      kind: 'step',
      message: `${o.noun} ${o.stackName} is ${stack.status} (an earlier or concurrent run): waiting for it to finish`,
    });
    if (stack.status === 'DELETE_IN_PROGRESS') {
      await deleteStackAndWait(account, stack, {
        budgetMs: o.deleteMs,
        clock: o.clock,
        reporter: o.reporter,
        retryHint: o.deleteRetryHint,
      });
      stack = undefined;
    } else {
      const id = stack.stackId;
      const activity = new StackActivity(account, id, o.stackName, o.reporter);
      stack = await waitForStack(account, id, o.stackName, activity, {
        budgetMs: o.deployMs,
        clock: o.clock,
        reporter: o.reporter,
        hint: '',
        ...(o.label !== undefined ? { label: o.label } : {}),
        ...(o.failedCode !== undefined ? { failedCode: o.failedCode } : {}),
        ...(o.goneCode !== undefined ? { goneCode: o.goneCode } : {}),
      }).catch(async (e) => {
        if (e instanceof StackFailedError) return readStack(account, id);
        throw e;
      });
    }
  }
  if (!stack) return undefined;
  await o.settled?.(stack);
  switch (stackPhase(stack.status)) {
    case 'complete':
      return stack;
    case 'review':
      o.reporter.progress({
        kind: 'step',
        message: `${o.noun} ${o.stackName} was left in REVIEW_IN_PROGRESS (a change set never executed): discarding it`,
      });
      await deleteStackAndWait(account, stack, {
        budgetMs: o.deleteMs,
        clock: o.clock,
        reporter: o.reporter,
        retryHint: o.reviewRetryHint,
      });
      await o.discarded?.(stack);
      return undefined;
    default: {
      const s = stack;
      throw await o.unusable(s, () => failedResources(account, s.stackId));
    }
  }
}
