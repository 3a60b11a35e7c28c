/**
 * The deployed automation stack as run, status, approve and reject read it: its outputs, or
 * AUTOMATION_NOT_DEPLOYED (naming `cleanroom automation deploy`) when there is none to use.
 */
import type { AccountCalls } from '../../aws/ports.js';
import { CleanroomError } from '../../domain/errors.js';
import { AUTOMATION_STACK_NAME } from '../../domain/vault-name.js';
import { readStack, stackPhase, type RoomStack } from '../../resources/stacks.js';
import type { AutomationOutputs } from './deploy.js';

export interface DeployedAutomation {
  stack: RoomStack;
  outputs: AutomationOutputs;
}

/** The automation stack, usable (a complete status, with its state machines), or AUTOMATION_NOT_DEPLOYED. */
export async function requireAutomation(
  account: AccountCalls<{ cfn: 'describeStacks' }> & { region: string },
  stackName: string = AUTOMATION_STACK_NAME,
): Promise<DeployedAutomation> {
  const stack = await readStack(account, stackName);
  const deploy = `cleanroom automation deploy${stackName === AUTOMATION_STACK_NAME ? '' : ` --stack-name ${stackName}`}`;
  if (!stack || stack.status === 'DELETE_COMPLETE')
    throw new CleanroomError(
      'AUTOMATION_NOT_DEPLOYED',
      `The automation stack ${stackName} is not deployed in ${account.region}: run \`${deploy}\` first.`,
      { exitCode: 2, details: { stackName, region: account.region } },
    );
  const outputs = stack.outputs as AutomationOutputs;
  if (stackPhase(stack.status) !== 'complete' || !outputs.ResponseStateMachineArn)
    throw new CleanroomError(
      'AUTOMATION_NOT_DEPLOYED',
      `The automation stack ${stackName} is ${stack.status}, not usable: run \`${deploy}\` (it settles or reports what is wrong).`,
      { exitCode: 2, details: { stackName, region: account.region, status: stack.status } },
    );
  return { stack, outputs };
}
