/**
 * The instance whose memory is captured, read in the SOURCE account before anything is made: it
 * must exist here, run Linux, be running; its memory size comes from its instance type
 * (DescribeInstanceTypes MemoryInfo — the guest script reads MemTotal again and answers with it).
 */
import type { AccountWith } from '../../aws/ports.js';
import { isAwsCode } from '../../aws/errors.js';
import { UsageError } from '../../domain/errors.js';

/** EC2 instance ids: `i-` and 8 or 17 hex digits. */
export const INSTANCE_ID_PATTERN = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

type Instance = NonNullable<
  NonNullable<Awaited<ReturnType<InstanceReader['ec2']['describeInstances']>>['Reservations']>[number]['Instances']
>[number];

export type InstanceReader = AccountWith<{ ec2: 'describeInstances' | 'describeInstanceTypes' }>;

/** What the capture needs to know of the instance. */
export interface CaptureTarget {
  instanceId: string;
  instanceType: string;
  state: string;
  platform: string;
  /** Memory of the instance type, bytes. */
  memoryBytes: number;
}

/** Refuse a malformed instance id (before any AWS call). */
export function checkInstanceId(instanceId: unknown): asserts instanceId is string {
  if (typeof instanceId !== 'string' || !INSTANCE_ID_PATTERN.test(instanceId))
    throw new UsageError(
      'INVALID_INSTANCE_ID',
      `${JSON.stringify(instanceId)} is not an EC2 instance id (i- followed by 8 or 17 hexadecimal digits, for example i-0abc1234def567890).`,
      { details: { instanceId } },
    );
}

/** Read the instance and refuse what cannot be captured: unknown here, Windows, not running. */
export async function readTarget(account: InstanceReader, instanceId: string): Promise<CaptureTarget> {
  const accountId = await account.accountId();
  const where = `account ${accountId}, region ${account.region}`;
  let found: Instance | undefined;
  try {
    const r = await account.ec2.describeInstances({ InstanceIds: [instanceId] });
    found = r.Reservations?.flatMap((x) => x.Instances ?? []).find((i) => i.InstanceId === instanceId);
  } catch (e) {
    if (!isAwsCode(e, 'InvalidInstanceID.NotFound', 'InvalidInstanceID.Malformed')) throw e;
  }
  if (!found)
    throw new UsageError(
      'INSTANCE_NOT_FOUND',
      `Instance ${instanceId} does not exist in ${where}. Check the id, the region (--source-region) and the account (--source-profile / --source-role-arn). Nothing was captured.`,
      { details: { instanceId, account: accountId, region: account.region } },
    );
  const state = found.State?.Name ?? 'unknown';
  const platform = (found.Platform ?? found.PlatformDetails ?? 'Linux/UNIX').toString();
  if (/windows/i.test(platform))
    throw new UsageError(
      'MEMORY_PLATFORM_UNSUPPORTED',
      `Instance ${instanceId} runs Windows (${platform}): cleanroom captures the memory of Linux instances only (AVML). Capture Windows memory with a Windows tool (for example WinPmem) through your own process, and record it by hand. Nothing was captured.`,
      { details: { instanceId, platform } },
    );
  if (state === 'terminated' || state === 'shutting-down')
    throw new UsageError(
      'INSTANCE_TERMINATED',
      `Instance ${instanceId} is ${state}: its memory is gone. Nothing was captured.`,
      { details: { instanceId, state } },
    );
  if (state !== 'running')
    throw new UsageError(
      'MEMORY_INSTANCE_NOT_RUNNING',
      `Instance ${instanceId} is ${state}, not running: there is no memory to capture${state === 'pending' ? ' yet (run again once it runs)' : ' (a stopped instance lost its memory, unless it hibernated: its memory is then on the root volume — acquire the volume)'}. Nothing was captured.`,
      { details: { instanceId, state } },
    );
  const instanceType = found.InstanceType ?? 'unknown';
  const types = await account.ec2.describeInstanceTypes({ InstanceTypes: [instanceType as never] });
  const mib = types.InstanceTypes?.[0]?.MemoryInfo?.SizeInMiB;
  if (!mib)
    throw new UsageError(
      'INSTANCE_NOT_FOUND',
      `EC2 does not say how much memory instance type ${instanceType} of ${instanceId} has (DescribeInstanceTypes): the capture cannot be planned. Nothing was captured.`,
      { details: { instanceId, instanceType } },
    );
  return { instanceId, instanceType, state, platform, memoryBytes: mib * 1024 * 1024 };
}
