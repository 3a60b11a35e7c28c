/**
 * What of a case's room is still in the account: resources tagged with the case that a room
 * stack makes (VPC, subnets, security groups, the instance, network interfaces), evidence volumes,
 * and the flow-log group the stack keeps on purpose. Read-only; `room down` and `room status`
 * report them by name with the reason each is there.
 */
import type { AccountCalls } from '../../aws/ports.js';
import { TAG_CASE, TAG_EVIDENCE, TAG_ROLE, ROLE, tagValue } from '../../domain/tags.js';

export interface Leftover {
  kind: 'vpc' | 'subnet' | 'security-group' | 'instance' | 'network-interface' | 'evidence-volume' | 'log-group';
  id: string;
  why: string;
}

/**
 * Resources of the case's room that exist outside a live stack (`stackGone`: the stack is deleted),
 * or — with a live stack — only the evidence volumes and the retained log group.
 */
export async function findLeftovers(
  account: AccountCalls<{
    ec2:
      | 'describeVpcs'
      | 'describeSubnets'
      | 'describeSecurityGroups'
      | 'describeInstances'
      | 'describeNetworkInterfaces'
      | 'describeVolumes';
  }>,
  caseId: string,
  o: { stackGone: boolean; flowLogGroupName?: string },
): Promise<Leftover[]> {
  const byCase = [{ Name: `tag:${TAG_CASE}`, Values: [caseId] }];
  const out: Leftover[] = [];
  const outside =
    'tagged with the case but not deleted with the room stack (made or changed outside it); delete it by hand if it is not needed';
  if (o.stackGone) {
    for (const v of (await account.ec2.describeVpcs({ Filters: byCase })).Vpcs ?? [])
      out.push({ kind: 'vpc', id: v.VpcId!, why: outside });
    for (const s of (await account.ec2.describeSubnets({ Filters: byCase })).Subnets ?? [])
      out.push({ kind: 'subnet', id: s.SubnetId!, why: outside });
    for (const g of (await account.ec2.describeSecurityGroups({ Filters: byCase })).SecurityGroups ?? [])
      out.push({ kind: 'security-group', id: g.GroupId!, why: outside });
    for (const r of (
      await account.ec2.describeInstances({
        Filters: [...byCase, { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] }],
      })
    ).Reservations ?? []) {
      for (const i of r.Instances ?? [])
        out.push({ kind: 'instance', id: i.InstanceId!, why: `${i.State?.Name}: ${outside}` });
    }
    for (const n of (await account.ec2.describeNetworkInterfaces({ Filters: byCase })).NetworkInterfaces ?? [])
      out.push({ kind: 'network-interface', id: n.NetworkInterfaceId!, why: outside });
  }
  for (const v of (
    await account.ec2.describeVolumes({ Filters: [...byCase, { Name: 'tag-key', Values: [TAG_EVIDENCE] }] })
  ).Volumes ?? []) {
    if (v.State === 'deleted' || v.State === 'deleting') continue;
    const attached = (v.Attachments ?? []).filter((a) => a.State !== 'detached').map((a) => a.InstanceId);
    out.push({
      kind: 'evidence-volume',
      id: v.VolumeId!,
      why: `working volume of evidence ${tagValue(v.Tags, TAG_EVIDENCE)}${attached.length ? `, attached to ${attached.join(', ')}` : ', detached'}; kept: \`case close\` deletes it after proving it unchanged`,
    });
  }
  if (o.flowLogGroupName)
    out.push({
      kind: 'log-group',
      id: o.flowLogGroupName,
      why: "the room's VPC flow logs, kept on purpose (DeletionPolicy Retain): the record of its network traffic belongs to the case",
    });
  return out;
}

/** Evidence volumes attached to an instance: tagged as evidence, or any disk that is not the instance's own. */
export async function attachedEvidence(
  account: AccountCalls<{ ec2: 'describeInstances' | 'describeVolumes' }>,
  instanceId: string,
): Promise<Array<{ volumeId: string; evidenceId?: string; device?: string; attachTime?: string }>> {
  const inst = (await account.ec2.describeInstances({ InstanceIds: [instanceId] })).Reservations?.[0]?.Instances?.[0];
  if (!inst || inst.State?.Name === 'terminated') return [];
  const mapped = (inst.BlockDeviceMappings ?? []).filter((b) => b.Ebs?.VolumeId && b.Ebs.Status !== 'detached');
  if (!mapped.length) return [];
  const vols = (await account.ec2.describeVolumes({ VolumeIds: mapped.map((b) => b.Ebs!.VolumeId!) })).Volumes ?? [];
  const out: Array<{ volumeId: string; evidenceId?: string; device?: string; attachTime?: string }> = [];
  for (const b of mapped) {
    const volumeId = b.Ebs!.VolumeId!;
    const v = vols.find((x) => x.VolumeId === volumeId);
    const evidenceId = tagValue(v?.Tags, TAG_EVIDENCE);
    // The room's own disks: the root device, the volume the launch template tags as the root, and
    // any volume that goes with the instance (DeleteOnTermination). Evidence is never those.
    const own =
      b.DeviceName === inst.RootDeviceName ||
      tagValue(v?.Tags, TAG_ROLE) === ROLE.forensicRootVolume ||
      b.Ebs!.DeleteOnTermination === true;
    if (own && !evidenceId) continue;
    out.push({
      volumeId,
      ...(evidenceId ? { evidenceId } : {}),
      ...(b.DeviceName ? { device: b.DeviceName } : {}),
      ...(b.Ebs!.AttachTime ? { attachTime: new Date(b.Ebs!.AttachTime).toISOString() } : {}),
    });
  }
  return out.sort((x, y) => x.volumeId.localeCompare(y.volumeId));
}
