/**
 * The room stack as CloudFormation reports it: its status (classified the way aws-cdk's
 * `StackStatus` does), its parameters, tags and outputs, and the {@link RoomInfo} the rest of
 * cleanroom reads from them. Read-only.
 */
import type { AccountCalls, AwsAccount } from '../aws/ports.js';
import { isAwsCode } from '../aws/errors.js';
import { roomStackName } from '../domain/case-id.js';
import type { RoomInfo } from '../domain/room.js';
import { tagMap } from '../domain/tags.js';

/** Stack output → {@link RoomInfo} field (the template's `Outputs`). */
export const ROOM_OUTPUTS = {
  VpcId: 'vpcId',
  SubnetId: 'subnetId',
  AvailabilityZone: 'availabilityZone',
  InstanceId: 'instanceId',
  ForensicsSecurityGroupId: 'forensicsSecurityGroupId',
  AccessSecurityGroupId: 'accessSecurityGroupId',
  EndpointSecurityGroupId: 'endpointSecurityGroupId',
  NetworkAclId: 'networkAclId',
  RouteTableId: 'routeTableId',
  FlowLogGroupName: 'flowLogGroupName',
  InstanceProfileName: 'instanceProfileName',
  InstanceRoleArn: 'instanceRoleArn',
  LaunchTemplateId: 'launchTemplateId',
  ShellDocumentName: 'shellDocumentName',
  PortForwardDocumentName: 'portForwardDocumentName',
} as const satisfies Record<string, keyof RoomInfo>;

/** The room stack: what DescribeStacks says about it, flattened. */
export interface RoomStack {
  stackName: string;
  stackId: string;
  status: string;
  statusReason?: string;
  parameters: Record<string, string>;
  outputs: Record<string, string>;
  tags: Record<string, string>;
  createdAt?: Date;
  updatedAt?: Date;
}

/**
 * Where a stack is in its life.
 * - `complete`: usable (CREATE/UPDATE/IMPORT_COMPLETE, and UPDATE_ROLLBACK_COMPLETE: the last
 *   update failed and the stack is back at its previous, working state);
 * - `in-progress`: CloudFormation is working on it (wait);
 * - `review`: created by a CREATE change set that was never executed (no resources);
 * - `rolled-back`: ROLLBACK_COMPLETE — the creation failed; CloudFormation allows only deletion;
 * - `failed`: *_FAILED — needs a person (or a retry of the failed operation);
 * - `deleted`: DELETE_COMPLETE.
 */
export type StackPhase = 'complete' | 'in-progress' | 'review' | 'rolled-back' | 'failed' | 'deleted';

export function stackPhase(status: string): StackPhase {
  if (status === 'DELETE_COMPLETE') return 'deleted';
  if (status === 'REVIEW_IN_PROGRESS') return 'review';
  if (status === 'ROLLBACK_COMPLETE') return 'rolled-back';
  if (status.endsWith('_IN_PROGRESS')) return 'in-progress';
  if (status.endsWith('_FAILED')) return 'failed';
  return 'complete';
}

/** True for a status that means the operation just attempted failed (CREATE → ROLLBACK_*, UPDATE → UPDATE_ROLLBACK_*, *_FAILED). */
export function isFailureStatus(status: string): boolean {
  return status.includes('ROLLBACK') || status.endsWith('_FAILED');
}

type SdkStack = NonNullable<Awaited<ReturnType<AwsAccount['cfn']['describeStacks']>>['Stacks']>[number];

/** Flatten one DescribeStacks entry. */
export function toRoomStack(s: SdkStack): RoomStack {
  const parameters: Record<string, string> = {};
  for (const p of s.Parameters ?? [])
    if (p.ParameterKey) parameters[p.ParameterKey] = p.ResolvedValue ?? p.ParameterValue ?? '';
  const outputs: Record<string, string> = {};
  for (const o of s.Outputs ?? []) if (o.OutputKey && o.OutputValue !== undefined) outputs[o.OutputKey] = o.OutputValue;
  return {
    stackName: s.StackName ?? '',
    stackId: s.StackId ?? '',
    status: s.StackStatus ?? 'UNKNOWN',
    ...(s.StackStatusReason ? { statusReason: s.StackStatusReason } : {}),
    parameters,
    outputs,
    tags: tagMap(s.Tags),
    ...(s.CreationTime ? { createdAt: s.CreationTime } : {}),
    ...(s.LastUpdatedTime ? { updatedAt: s.LastUpdatedTime } : {}),
  };
}

/**
 * One stack by name or id, or undefined when there is none. By name, a deleted stack "does not
 * exist" (DescribeStacks: ValidationError); by id it is reported DELETE_COMPLETE, which the callers
 * that poll a deletion rely on, so DELETE_COMPLETE is returned as it is here.
 */
export async function readStack(
  account: AccountCalls<{ cfn: 'describeStacks' }>,
  nameOrId: string,
): Promise<RoomStack | undefined> {
  try {
    const s = (await account.cfn.describeStacks({ StackName: nameOrId })).Stacks?.[0];
    return s?.StackId ? toRoomStack(s) : undefined;
  } catch (e) {
    if (isAwsCode(e, 'ValidationError') && /does not exist/i.test((e as Error).message)) return undefined;
    throw e;
  }
}

/** The room stack of a case, or undefined when there is none (never created, or deleted). */
export async function readRoomStack(
  account: AccountCalls<{ cfn: 'describeStacks' }>,
  caseId: string,
): Promise<RoomStack | undefined> {
  const s = await readStack(account, roomStackName(caseId));
  return s && s.status !== 'DELETE_COMPLETE' ? s : undefined;
}

/** The {@link RoomInfo} of a room stack: its outputs, and the case key and vault it was built with. */
export function roomInfo(caseId: string, s: RoomStack): RoomInfo {
  const info: RoomInfo = { case: caseId, stackName: s.stackName, stackStatus: s.status, stackId: s.stackId };
  for (const [output, field] of Object.entries(ROOM_OUTPUTS)) {
    const v = s.outputs[output];
    if (v) (info as unknown as Record<string, string>)[field] = v;
  }
  if (s.parameters['CaseKeyArn']) info.caseKeyArn = s.parameters['CaseKeyArn'];
  if (s.parameters['VaultBucket']) info.vaultBucket = s.parameters['VaultBucket'];
  if (s.parameters['ToolkitId']) info.toolkitId = s.parameters['ToolkitId'];
  return info;
}

/** The room of a case as the rest of cleanroom sees it, or undefined when there is no stack. */
export async function describeRoom(
  account: AccountCalls<{ cfn: 'describeStacks' }>,
  caseId: string,
): Promise<RoomInfo | undefined> {
  const s = await readRoomStack(account, caseId);
  return s ? roomInfo(caseId, s) : undefined;
}
