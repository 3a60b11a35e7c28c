/**
 * What the operator's commands (automation run | status | approve | reject) need of the deployed
 * automation: its stack's outputs (the two state machines), and the execution ARNs they handle.
 * Read-only; `automation deploy` makes the stack.
 */
import type { AccountCalls } from '../../aws/ports.js';
import { readStack } from '../../resources/stacks.js';
import { type CleanroomError, UsageError } from '../../domain/errors.js';
import { stackPhase } from '../../resources/stacks.js';
import { AUTOMATION_STACK_NAME } from '../../domain/vault-name.js';

/** The outputs the operator's commands read (templates/automation.yaml `Outputs`). */
export const AUTOMATION_OUTPUTS = {
  response: 'ResponseStateMachineArn',
  fleet: 'FleetStateMachineArn',
} as const;

/** The deployed automation, as its stack reports it. */
export interface DeployedAutomation {
  stackName: string;
  stackStatus: string;
  /** The state machine that runs one instance's response (EventBridge starts it). */
  responseStateMachineArn: string;
  /** The state machine whose Distributed Map runs the response over a fleet (automation run starts it). */
  fleetStateMachineArn: string;
  /** Every output of the stack. */
  outputs: Record<string, string>;
}

/**
 * Read the automation stack; AUTOMATION_NOT_DEPLOYED (exit 2, naming `cleanroom automation deploy`)
 * when it does not exist, is not in a usable state, or lacks the state machines' outputs.
 */
export async function deployedAutomation(
  account: AccountCalls<{ cfn: 'describeStacks' }> & { readonly region: string },
  stackName: string = AUTOMATION_STACK_NAME,
): Promise<DeployedAutomation> {
  const s = await readStack(account, stackName);
  const deploy = `run \`cleanroom automation deploy${stackName === AUTOMATION_STACK_NAME ? '' : ` --stack-name ${stackName}`}\``;
  if (!s || s.status === 'DELETE_COMPLETE') {
    throw new UsageError(
      'AUTOMATION_NOT_DEPLOYED',
      `The automation is not deployed in ${account.region}: there is no stack ${stackName}. ${deploy} first (once per account and region).`,
      { details: { stackName, region: account.region } },
    );
  }
  const phase = stackPhase(s.status);
  const response = s.outputs[AUTOMATION_OUTPUTS.response];
  const fleet = s.outputs[AUTOMATION_OUTPUTS.fleet];
  if (phase !== 'complete' || !response || !fleet) {
    throw new UsageError(
      'AUTOMATION_NOT_DEPLOYED',
      `The automation stack ${stackName} is ${s.status}${!response || !fleet ? ` without its state machines' outputs (${Object.values(AUTOMATION_OUTPUTS).join(', ')})` : ''}: ${deploy} again.`,
      { details: { stackName, stackStatus: s.status, region: account.region } },
    );
  }
  return {
    stackName,
    stackStatus: s.status,
    responseStateMachineArn: response,
    fleetStateMachineArn: fleet,
    outputs: s.outputs,
  };
}

/** The parts of a Step Functions execution ARN. */
export interface ExecutionArn {
  arn: string;
  partition: string;
  region: string;
  account: string;
  /** The state machine's name (for a Distributed Map child, `<machine>/<map run label>`). */
  stateMachine: string;
  /** The execution's name (a Map child's is its uuid). */
  name: string;
}

const EXECUTION_ARN = /^arn:(aws[a-z-]*):states:([a-z0-9-]+):(\d{12}):execution:([^:]+):([^:]+)$/;

/** Parse `--execution ARN`; INVALID_EXECUTION_ARN (exit 2) names what one looks like. */
export function parseExecutionArn(arn: unknown, flag = '--execution'): ExecutionArn {
  const m = typeof arn === 'string' ? EXECUTION_ARN.exec(arn.trim()) : null;
  if (!m) {
    throw new UsageError(
      'INVALID_EXECUTION_ARN',
      `${flag} ${JSON.stringify(arn)} is not a Step Functions execution ARN (arn:aws:states:<region>:<account>:execution:<state machine>:<name>; \`cleanroom automation status\` lists them).`,
      { details: { execution: arn } },
    );
  }
  return {
    arn: m[0]!,
    partition: m[1]!,
    region: m[2]!,
    account: m[3]!,
    stateMachine: m[4]!,
    name: m[5]!,
  };
}

/** The ARN of a state machine's execution of this name. */
export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

/** The state machine ARN an execution belongs to. */
export function stateMachineOf(executionArn: string): string {
  return executionArn.replace(':execution:', ':stateMachine:').replace(/:[^:]+$/, '');
}

/** An execution that Step Functions does not know: EXECUTION_NOT_FOUND (exit 2). */
export function executionNotFound(arn: string, cause?: unknown): CleanroomError {
  return new UsageError(
    'EXECUTION_NOT_FOUND',
    `Step Functions knows no execution ${arn} (check the ARN, and that --region and the account are the execution's; \`cleanroom automation status\` lists them).`,
    { details: { execution: arn }, ...(cause ? { cause } : {}) },
  );
}
