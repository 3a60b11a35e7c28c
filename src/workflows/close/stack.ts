/**
 * Delete the room stack at close and wait for DELETE_COMPLETE. A stack that ends DELETE_FAILED
 * is reported by resource, with CloudFormation's reasons, and the close is marked incomplete; the
 * next run asks CloudFormation to delete it again.
 */
import type { ResourceRef } from '../../custody/recorder.js';
import { CleanroomError } from '../../domain/errors.js';
import { roomStackName } from '../../domain/case-id.js';
import { waitFor } from '../../domain/waiter.js';
import type { RoomStack } from './discover.js';
import type { CloseRun } from './run.js';

export const STACK_KEY = 'close:delete-stack';

export interface StackOutcome {
  deleted: boolean;
  alreadyGone: boolean;
  stackName: string;
  stackId?: string;
  /** Resources CloudFormation could not delete, with its reasons. */
  failedResources?: Array<{ logicalId: string; physicalId?: string; type?: string; reason?: string }>;
}

/** Delete the room stack (or note that it is already gone). */
export async function deleteRoomStack(run: CloseRun, stack: RoomStack | undefined): Promise<StackOutcome> {
  const stackName = roomStackName(run.caseId);
  const account = await run.account.accountId();
  if (!stack) {
    if (!run.custody.find(STACK_KEY)) {
      run.step(`room stack ${stackName} is already gone (room down, or never created): nothing to delete`);
      await run.record(STACK_KEY, 'case.close.delete-stack', [{ type: 'cloudformation:stack', id: stackName, account, region: run.account.region }], {
        status: 'skipped',
        details: { stackName, reason: 'no room stack: already deleted or never created' },
      });
    }
    return { deleted: true, alreadyGone: true, stackName };
  }
  const ref: ResourceRef = { type: 'cloudformation:stack', id: stack.stackName, arn: stack.stackId, account, region: run.account.region };
  let failedResources: StackOutcome['failedResources'];
  const ok = await run.guard(STACK_KEY, 'case.close.delete-stack', stackName, [ref], async () => {
    run.step(`deleting room stack ${stackName} (${stack.status})`);
    if (stack.status !== 'DELETE_IN_PROGRESS') await run.account.cfn.deleteStack({ StackName: stack.stackId });
    // Poll by stack id: by name a deleted stack "does not exist"; by id it reports DELETE_COMPLETE.
    const final = await waitFor(
      async () => {
        const s = (await run.account.cfn.describeStacks({ StackName: stack.stackId })).Stacks?.[0];
        const status = s?.StackStatus ?? 'DELETE_COMPLETE';
        if (status === 'DELETE_COMPLETE' || status === 'DELETE_FAILED') return { state: 'done' as const, value: { status, reason: s?.StackStatusReason } };
        return { state: 'pending' as const, detail: status };
      },
      {
        description: `room stack ${stackName} to be deleted`,
        budgetMs: run.settings.budgets.stackMs,
        intervalMs: 5000,
        clock: run.clock,
        details: { stackName, stackId: stack.stackId },
        onPending: (detail) => run.reporter.progress({ kind: 'item', item: stackName, phase: detail ?? 'DELETE_IN_PROGRESS' }),
      },
    );
    if (final.status === 'DELETE_FAILED') {
      failedResources = await whyDeleteFailed(run, stack.stackId);
      const named = failedResources.length
        ? failedResources.map((r) => `${r.logicalId}${r.physicalId ? ` (${r.physicalId})` : ''}: ${r.reason ?? 'no reason given'}`).join('; ')
        : (final.reason ?? 'CloudFormation gave no reason');
      throw new CleanroomError('STACK_DELETE_FAILED', `Room stack ${stackName} ended DELETE_FAILED — ${named}. Fix or remove those resources, then run close again (it retries the deletion).`, {
        details: { stackName, stackId: stack.stackId, failedResources },
      });
    }
    await run.record(STACK_KEY, 'case.close.delete-stack', [ref], { status: 'succeeded', details: { stackName, stackId: stack.stackId, status: 'DELETE_COMPLETE' } });
    return true;
  });
  return { deleted: ok === true, alreadyGone: false, stackName, stackId: stack.stackId, ...(failedResources ? { failedResources } : {}) };
}

async function whyDeleteFailed(run: CloseRun, stackId: string): Promise<NonNullable<StackOutcome['failedResources']>> {
  const out = new Map<string, NonNullable<StackOutcome['failedResources']>[number]>();
  const res = await run.account.cfn.describeStackResources({ StackName: stackId }).catch(() => undefined);
  for (const r of res?.StackResources ?? []) {
    if (r.ResourceStatus === 'DELETE_FAILED' && r.LogicalResourceId) {
      out.set(r.LogicalResourceId, { logicalId: r.LogicalResourceId, ...(r.PhysicalResourceId ? { physicalId: r.PhysicalResourceId } : {}), ...(r.ResourceType ? { type: r.ResourceType } : {}), ...(r.ResourceStatusReason ? { reason: r.ResourceStatusReason } : {}) });
    }
  }
  // The events carry the reasons when the resource list does not (newest first).
  const ev = await run.account.cfn.describeStackEvents({ StackName: stackId }).catch(() => undefined);
  for (const e of ev?.StackEvents ?? []) {
    if (e.ResourceStatus !== 'DELETE_FAILED' || !e.LogicalResourceId || e.PhysicalResourceId === stackId || e.ResourceType === 'AWS::CloudFormation::Stack') continue;
    const known = out.get(e.LogicalResourceId);
    if (!known) out.set(e.LogicalResourceId, { logicalId: e.LogicalResourceId, ...(e.PhysicalResourceId ? { physicalId: e.PhysicalResourceId } : {}), ...(e.ResourceType ? { type: e.ResourceType } : {}), ...(e.ResourceStatusReason ? { reason: e.ResourceStatusReason } : {}) });
    else if (!known.reason && e.ResourceStatusReason) known.reason = e.ResourceStatusReason;
  }
  return [...out.values()];
}
