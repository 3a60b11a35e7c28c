/**
 * Delete the room stack at close, through the room module's one way of deleting it
 * (`resources/stack-delete.ts`). A stack that ends DELETE_FAILED is reported by resource, with
 * CloudFormation's reasons, and the close is marked incomplete; the next run asks CloudFormation
 * to delete it again.
 */
import { roomStackName } from '../../domain/case-id.js';
import { deleteStackAndWait, StackDeleteFailedError } from '../../resources/stack-delete.js';
import type { RoomStack } from './discover.js';
import type { CloseRun } from './run.js';
import { idempotencyKeys } from '../../domain/idempotency-keys.js';
import { resourceRef } from '../../resources/refs.js';

export const STACK_KEY = idempotencyKeys.close.deleteStack();

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
      await run.record(
        STACK_KEY,
        'case.close.delete-stack',
        [resourceRef('cloudformation:stack', stackName, account, run.account.region)],
        {
          status: 'skipped',
          details: { stackName, reason: 'no room stack: already deleted or never created' },
        },
      );
    }
    return { deleted: true, alreadyGone: true, stackName };
  }
  const ref = resourceRef('cloudformation:stack', stack.stackName, account, run.account.region, stack.stackId);
  let failedResources: StackOutcome['failedResources'];
  const ok = await run.guard(STACK_KEY, 'case.close.delete-stack', stackName, [ref], async () => {
    run.step(`deleting room stack ${stackName} (${stack.status})`);
    try {
      await deleteStackAndWait(run.account, stack, {
        budgetMs: run.settings.budgets.stackMs,
        clock: run.clock,
        reporter: run.reporter,
        retryHint: 'run close again',
      });
    } catch (e) {
      if (e instanceof StackDeleteFailedError) failedResources = e.failedResources.map(({ status: _s, ...r }) => r);
      throw e;
    }
    await run.record(STACK_KEY, 'case.close.delete-stack', [ref], {
      status: 'succeeded',
      details: { stackName, stackId: stack.stackId, status: 'DELETE_COMPLETE' },
    });
    return true;
  });
  return {
    deleted: ok === true,
    alreadyGone: false,
    stackName,
    stackId: stack.stackId,
    ...(failedResources ? { failedResources } : {}),
  };
}
