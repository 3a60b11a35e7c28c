/**
 * The one way to delete a room stack (`room down`, `case close`): DeleteStack by id, stack events
 * as progress, wait for DELETE_COMPLETE within a budget, and on DELETE_FAILED an error that names
 * every resource CloudFormation could not delete with its reason.
 */
import type { AwsAccount } from '../aws/ports.js';
import { CleanroomError } from '../domain/errors.js';
import { silentReporter, type Reporter } from '../domain/reporter.js';
import { waitFor, type Clock } from '../domain/waiter.js';
import { StackActivity, failedResources, nameFailures, type FailedResource } from './stack-activity.js';

/** The room stack ended DELETE_FAILED; `failedResources` names what would not go. */
export class StackDeleteFailedError extends CleanroomError {
  constructor(
    message: string,
    readonly failedResources: FailedResource[],
    details: Record<string, unknown>,
  ) {
    super('STACK_DELETE_FAILED', message, { exitCode: 1, details: { ...details, failedResources } });
  }
}

export interface DeleteStackOptions {
  /** Time budget for DELETE_COMPLETE (milliseconds). */
  budgetMs: number;
  clock?: Clock;
  reporter?: Reporter;
  /** What to run again after fixing a DELETE_FAILED (e.g. "run `cleanroom room down --case X` again"). */
  retryHint: string;
}

/** Delete a stack and wait for DELETE_COMPLETE; throws {@link StackDeleteFailedError} on DELETE_FAILED. */
export async function deleteStackAndWait(
  account: AwsAccount,
  stack: { stackName: string; stackId: string; status: string },
  opts: DeleteStackOptions,
): Promise<void> {
  const reporter = opts.reporter ?? silentReporter;
  const activity = new StackActivity(account, stack.stackId, stack.stackName, reporter);
  await activity.baseline().catch(() => undefined);
  if (stack.status !== 'DELETE_IN_PROGRESS') await account.cfn.deleteStack({ StackName: stack.stackId });
  // Poll by stack id: by name a deleted stack "does not exist"; by id it reports DELETE_COMPLETE.
  const final = await waitFor(
    async () => {
      await activity.poll().catch(() => undefined);
      const s = (await account.cfn.describeStacks({ StackName: stack.stackId })).Stacks?.[0];
      const status = s?.StackStatus ?? 'DELETE_COMPLETE';
      if (status === 'DELETE_COMPLETE' || status === 'DELETE_FAILED')
        return { state: 'done' as const, value: { status, reason: s?.StackStatusReason } };
      return { state: 'pending' as const, detail: status };
    },
    {
      description: `room stack ${stack.stackName} to be deleted`,
      budgetMs: opts.budgetMs,
      intervalMs: 5000,
      ...(opts.clock ? { clock: opts.clock } : {}),
      details: { stackName: stack.stackName, stackId: stack.stackId },
      onPending: (detail) =>
        reporter.progress({ kind: 'item', item: stack.stackName, phase: detail ?? 'DELETE_IN_PROGRESS' }),
    },
  );
  if (final.status === 'DELETE_FAILED') {
    const seen = activity.failures();
    const failed = seen.length ? seen : await failedResources(account, stack.stackId, /^DELETE_FAILED$/);
    throw new StackDeleteFailedError(
      `Room stack ${stack.stackName} ended DELETE_FAILED — ${nameFailures(failed, final.reason ?? activity.stackReason() ?? 'CloudFormation gave no reason')}. Fix or remove those resources, then ${opts.retryHint} (it retries the deletion).`,
      failed,
      { stackName: stack.stackName, stackId: stack.stackId },
    );
  }
}
