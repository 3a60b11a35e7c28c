/**
 * `automation remove`: delete the automation stack (functions, state machines, rules, topic,
 * queue, roles), with its events as progress, after approval. What the deployments put in the
 * vault stays (automation/code/…, automation/templates/…: under Object Lock, and the custody
 * events of past runs name the code by its SHA-256). Running executions are stopped by the
 * deletion of their state machine; the cases they worked on keep their records.
 */
import type { AwsAccount } from '../../aws/ports.js';
import { checkRegion } from '../../aws/region.js';
import { requireApproval, type Approve } from '../../domain/approval.js';
import { abortableClock } from '../../domain/abort.js';
import { silentReporter, type Reporter } from '../../domain/reporter.js';
import { AUTOMATION_STACK_NAME } from '../../domain/vault-name.js';
import { systemClock, type Clock } from '../../domain/waiter.js';
import { deleteStackAndWait } from '../../resources/stack-delete.js';
import { readStack } from '../../resources/stacks.js';
import { checkDeployOptions, DEFAULT_AUTOMATION_BUDGETS } from './deploy.js';

export interface AutomationRemoveDeps {
  account: AwsAccount;
  reporter?: Reporter;
  clock?: Clock;
}

export interface AutomationRemoveOptions {
  stackName?: string;
  /** Asked before anything is deleted (the CLI: the prompt, or --yes). */
  approve?: Approve;
  /** Time budget for DELETE_COMPLETE (default 30 minutes). */
  budgetMs?: number;
  signal?: AbortSignal;
}

export interface AutomationRemoveResult {
  stackName: string;
  /** False: there was no stack (nothing to do). */
  removed: boolean;
  stackId?: string;
}

export async function removeAutomation(
  deps: AutomationRemoveDeps,
  o: AutomationRemoveOptions = {},
): Promise<AutomationRemoveResult> {
  if (o.stackName !== undefined) checkDeployOptions({ stackName: o.stackName });
  const stackName = o.stackName ?? AUTOMATION_STACK_NAME;
  const { account } = deps;
  await checkRegion(account);
  const stack = await readStack(account, stackName);
  if (!stack || stack.status === 'DELETE_COMPLETE') return { stackName, removed: false };
  await requireApproval(o.approve, {
    action: 'automation.remove',
    question: `Delete the automation stack ${stackName} (${stack.status}) in ${account.region}: its functions, state machines (running executions stop), rules, topic and queue? The code and definitions stay in the vault.`,
    plan: { stackName, stackId: stack.stackId, status: stack.status },
  });
  await deleteStackAndWait(account, stack, {
    budgetMs: o.budgetMs ?? DEFAULT_AUTOMATION_BUDGETS.deployMs,
    clock: abortableClock(deps.clock ?? systemClock, o.signal),
    reporter: deps.reporter ?? silentReporter,
    retryHint: `run \`cleanroom automation remove${stackName === AUTOMATION_STACK_NAME ? '' : ` --stack-name ${stackName}`}\` again`,
  });
  return { stackName, removed: true, stackId: stack.stackId };
}
