/**
 * Read-only: what an instance looks like now — its network interfaces and their groups, volumes,
 * protection attributes, instance profile, Auto Scaling group, load balancer registrations — and
 * what isolate already made for the case (groups, network ACL, quarantine profile). The first
 * reading is recorded before anything changes, so the response can be explained and undone.
 */
import type { AwsAccount } from '../../aws/ports.js';
import { isAwsCode } from '../../aws/errors.js';
import { mapPool } from '../../domain/pool.js';
import { tagMap, TAG_CASE, TAG_ROLE, ROLE } from '../../domain/tags.js';
import { DENY_ALL_POLICY_NAME, isolationGroupName, quarantineName, transitGroupName } from './names.js';

/** A network interface of the instance and its groups. */
export interface InterfaceState {
  networkInterfaceId: string;
  deviceIndex: number;
  subnetId: string;
  vpcId: string;
  groupIds: string[];
  privateIps: string[];
  ipv6Addresses: string[];
}

/** An attached EBS volume. */
export interface VolumeState {
  volumeId: string;
  deviceName: string;
  deleteOnTermination: boolean;
}

/** The instance profile association and the profile's roles. */
export interface ProfileState {
  associationId: string;
  arn: string;
  name: string;
  /** The roles in the profile (an instance profile holds at most one). */
  roles: Array<{ name: string; arn: string; path: string }>;
}

/** The Auto Scaling group holding the instance. */
export interface AsgState {
  name: string;
  lifecycleState: string;
  minSize: number;
  desiredCapacity: number;
  maxSize: number;
  healthCheckType?: string;
  targetGroupArns: string[];
}

/** One load balancer target registration of the instance. */
export interface Registration {
  targetGroupArn: string;
  targetGroupName: string;
  /** The registered target id: the instance id, or one of its private IPs (target type `ip`). */
  id: string;
  port?: number;
  availabilityZone?: string;
  state?: string;
}

/** The instance as isolate reads it (recorded before any change as `previousState`). */
export interface InstanceState {
  instanceId: string;
  state: string;
  availabilityZone?: string;
  launchTime?: string;
  vpcId?: string;
  tags: Record<string, string>;
  interfaces: InterfaceState[];
  volumes: VolumeState[];
  disableApiTermination: boolean;
  shutdownBehavior: string;
  /** Hibernation was enabled at launch: a stop can keep memory (on the encrypted root volume). */
  hibernationConfigured: boolean;
  profile?: ProfileState;
  asg?: AsgState;
  registrations: Registration[];
  /**
   * The Classic Load Balancers that list the instance, by name. Absent in records written before
   * isolate searched them (such a record still verifies and releases: nothing to put back).
   */
  classicLoadBalancers?: string[];
}

type Instance = NonNullable<
  NonNullable<Awaited<ReturnType<AwsAccount['ec2']['describeInstances']>>['Reservations']>[number]['Instances']
>[number];

/** DescribeInstances of one id; undefined when EC2 does not know it in this account and region. */
export async function describeInstance(account: AwsAccount, instanceId: string): Promise<Instance | undefined> {
  try {
    const r = await account.ec2.describeInstances({ InstanceIds: [instanceId] });
    return r.Reservations?.flatMap((x) => x.Instances ?? []).find((i) => i.InstanceId === instanceId);
  } catch (e) {
    if (isAwsCode(e, 'InvalidInstanceID.NotFound', 'InvalidInstanceID.Malformed')) return undefined;
    throw e;
  }
}

/** The network interfaces of a described instance, primary first. */
export function interfacesOf(i: Instance): InterfaceState[] {
  return (i.NetworkInterfaces ?? [])
    .map((n) => ({
      networkInterfaceId: n.NetworkInterfaceId ?? '',
      deviceIndex: n.Attachment?.DeviceIndex ?? 0,
      subnetId: n.SubnetId ?? '',
      vpcId: n.VpcId ?? i.VpcId ?? '',
      groupIds: (n.Groups ?? []).map((g) => g.GroupId ?? '').filter(Boolean),
      privateIps: (n.PrivateIpAddresses ?? []).map((p) => p.PrivateIpAddress ?? '').filter(Boolean),
      ipv6Addresses: (n.Ipv6Addresses ?? []).map((p) => p.Ipv6Address ?? '').filter(Boolean),
    }))
    .sort((a, b) => a.deviceIndex - b.deviceIndex);
}

function volumesOf(i: Instance): VolumeState[] {
  return (i.BlockDeviceMappings ?? []).flatMap((m) =>
    m.Ebs?.VolumeId
      ? [
          {
            volumeId: m.Ebs.VolumeId,
            deviceName: m.DeviceName ?? '',
            deleteOnTermination: m.Ebs.DeleteOnTermination === true,
          },
        ]
      : [],
  );
}

/** Termination protection and shutdown behaviour (DescribeInstances does not carry them). */
export async function readProtection(
  account: AwsAccount,
  instanceId: string,
): Promise<{ disableApiTermination: boolean; shutdownBehavior: string }> {
  const [t, s] = await Promise.all([
    account.ec2.describeInstanceAttribute({ InstanceId: instanceId, Attribute: 'disableApiTermination' }),
    account.ec2.describeInstanceAttribute({ InstanceId: instanceId, Attribute: 'instanceInitiatedShutdownBehavior' }),
  ]);
  return {
    disableApiTermination: t.DisableApiTermination?.Value === true,
    shutdownBehavior: s.InstanceInitiatedShutdownBehavior?.Value ?? 'stop',
  };
}

/** The instance's profile association (associated or associating), if any. */
export async function readAssociation(
  account: AwsAccount,
  instanceId: string,
): Promise<{ associationId: string; arn: string } | undefined> {
  const r = await account.ec2.describeIamInstanceProfileAssociations({
    Filters: [{ Name: 'instance-id', Values: [instanceId] }],
  });
  const a = (r.IamInstanceProfileAssociations ?? []).find(
    (x) => x.InstanceId === instanceId && (x.State === 'associated' || x.State === 'associating'),
  );
  return a?.AssociationId && a.IamInstanceProfile?.Arn
    ? { associationId: a.AssociationId, arn: a.IamInstanceProfile.Arn }
    : undefined;
}

/** `name` from `arn:aws:iam::123:instance-profile/path/name`. */
export function profileNameFromArn(arn: string): string {
  return arn.slice(arn.lastIndexOf('/') + 1);
}

async function readProfile(account: AwsAccount, instanceId: string): Promise<ProfileState | undefined> {
  const a = await readAssociation(account, instanceId);
  if (!a) return undefined;
  const name = profileNameFromArn(a.arn);
  const p = await account.iam.getInstanceProfile({ InstanceProfileName: name });
  const roles = (p.InstanceProfile?.Roles ?? []).map((r) => ({
    name: r.RoleName ?? '',
    arn: r.Arn ?? '',
    path: r.Path ?? '/',
  }));
  return { associationId: a.associationId, arn: a.arn, name, roles };
}

/** The Auto Scaling group holding the instance (not once it is detached or detaching). */
export async function readAsg(account: AwsAccount, instanceId: string): Promise<AsgState | undefined> {
  const r = await account.autoscaling.describeAutoScalingInstances({ InstanceIds: [instanceId] });
  const m = (r.AutoScalingInstances ?? []).find(
    (x) => x.InstanceId === instanceId && !/^Detach/.test(x.LifecycleState ?? ''),
  );
  if (!m?.AutoScalingGroupName) return undefined;
  const g = (await account.autoscaling.describeAutoScalingGroups({ AutoScalingGroupNames: [m.AutoScalingGroupName] }))
    .AutoScalingGroups?.[0];
  return {
    name: m.AutoScalingGroupName,
    lifecycleState: m.LifecycleState ?? 'unknown',
    minSize: g?.MinSize ?? 0,
    desiredCapacity: g?.DesiredCapacity ?? 0,
    maxSize: g?.MaxSize ?? 0,
    ...(g?.HealthCheckType ? { healthCheckType: g.HealthCheckType } : {}),
    targetGroupArns: g?.TargetGroupARNs ?? [],
  };
}

/**
 * Every load balancer target group that lists the instance: by instance id, or (target type `ip`)
 * by one of its private addresses in a target group of the same VPC — private addresses repeat
 * across VPCs, so an `ip` target of another VPC is not this instance. Targets being deregistered
 * (`draining`) are not counted.
 */
export async function readRegistrations(
  account: AwsAccount,
  instanceId: string,
  interfaces: ReadonlyArray<Pick<InterfaceState, 'vpcId' | 'privateIps'>>,
): Promise<Registration[]> {
  const groups: Array<{ arn: string; name: string; type: string; vpcId: string }> = [];
  let marker: string | undefined;
  do {
    const r = await account.elb.describeTargetGroups(marker ? { Marker: marker } : {});
    for (const g of r.TargetGroups ?? [])
      if (g.TargetGroupArn)
        groups.push({
          arn: g.TargetGroupArn,
          name: g.TargetGroupName ?? '',
          type: g.TargetType ?? 'instance',
          vpcId: g.VpcId ?? '',
        });
    marker = r.NextMarker;
  } while (marker);
  const ipsByVpc = new Map<string, Set<string>>();
  for (const n of interfaces)
    for (const ip of n.privateIps) ipsByVpc.set(n.vpcId, (ipsByVpc.get(n.vpcId) ?? new Set()).add(ip));
  const mine = (g: (typeof groups)[number], id: string) =>
    g.type === 'instance' ? id === instanceId : ipsByVpc.get(g.vpcId)?.has(id) === true;
  const settled = await mapPool(
    groups.filter((g) => g.type === 'instance' || (g.type === 'ip' && ipsByVpc.has(g.vpcId))),
    4,
    async (g) => {
      const h = await account.elb.describeTargetHealth({ TargetGroupArn: g.arn });
      return (h.TargetHealthDescriptions ?? [])
        .filter((d) => d.Target?.Id && mine(g, d.Target.Id) && d.TargetHealth?.State !== 'draining')
        .map((d) => ({
          targetGroupArn: g.arn,
          targetGroupName: g.name,
          id: d.Target!.Id!,
          ...(d.Target!.Port !== undefined ? { port: d.Target!.Port } : {}),
          ...(d.Target!.AvailabilityZone ? { availabilityZone: d.Target!.AvailabilityZone } : {}),
          ...(d.TargetHealth?.State ? { state: d.TargetHealth.State } : {}),
        }));
    },
  );
  const failed = settled.find((s) => !s.ok);
  if (failed && !failed.ok) throw failed.error;
  return settled.flatMap((s) => (s.ok ? s.value : []));
}

/** The Classic Load Balancers (ELB API 2012-06-01) that list the instance, by name, sorted. */
export async function readClassicRegistrations(account: AwsAccount, instanceId: string): Promise<string[]> {
  const names: string[] = [];
  let marker: string | undefined;
  do {
    const r = await account.clb.describeLoadBalancers(marker ? { Marker: marker } : {});
    for (const lb of r.LoadBalancerDescriptions ?? [])
      if (lb.LoadBalancerName && (lb.Instances ?? []).some((i) => i.InstanceId === instanceId))
        names.push(lb.LoadBalancerName);
    marker = r.NextMarker;
  } while (marker);
  return names.sort();
}

/** Everything about the instance, or undefined when EC2 does not know it here. */
export async function readInstance(account: AwsAccount, instanceId: string): Promise<InstanceState | undefined> {
  const i = await describeInstance(account, instanceId);
  if (!i) return undefined;
  const state = i.State?.Name ?? 'unknown';
  const base: InstanceState = {
    instanceId,
    state,
    ...(i.Placement?.AvailabilityZone ? { availabilityZone: i.Placement.AvailabilityZone } : {}),
    ...(i.LaunchTime ? { launchTime: new Date(i.LaunchTime).toISOString() } : {}),
    ...(i.VpcId ? { vpcId: i.VpcId } : {}),
    tags: tagMap(i.Tags),
    interfaces: interfacesOf(i),
    volumes: volumesOf(i),
    disableApiTermination: false,
    shutdownBehavior: 'stop',
    hibernationConfigured: i.HibernationOptions?.Configured === true,
    registrations: [],
  };
  if (state === 'terminated' || state === 'shutting-down') return base;
  const [protection, profile, asg, registrations, classicLoadBalancers] = await Promise.all([
    readProtection(account, instanceId),
    readProfile(account, instanceId),
    readAsg(account, instanceId),
    readRegistrations(account, instanceId, base.interfaces),
    readClassicRegistrations(account, instanceId),
  ]);
  return {
    ...base,
    ...protection,
    ...(profile ? { profile } : {}),
    ...(asg ? { asg } : {}),
    registrations,
    classicLoadBalancers,
  };
}

/** A security group isolate made for the case in a VPC, found by its tags (or its name). */
export interface CaseGroup {
  groupId: string;
  vpcId: string;
  role: string;
  /** Rules it has now: ingress and egress, with ids and what they allow. */
  rules: Array<{
    id: string;
    egress: boolean;
    protocol: string;
    cidrIpv4?: string;
    cidrIpv6?: string;
    fromPort?: number;
    toPort?: number;
    other: boolean;
  }>;
}

/**
 * The isolation and transit groups of the case in a VPC. A group with isolate's name that does not
 * carry the case's tags is not isolate's: finding one is an error the caller reports.
 */
export async function findCaseGroups(
  account: AwsAccount,
  caseId: string,
  vpcId: string,
): Promise<{ isolation?: CaseGroup; transit?: CaseGroup; foreign: Array<{ groupId: string; name: string }> }> {
  const r = await account.ec2.describeSecurityGroups({
    Filters: [
      { Name: 'vpc-id', Values: [vpcId] },
      { Name: 'group-name', Values: [isolationGroupName(caseId), transitGroupName(caseId)] },
    ],
  });
  const out: { isolation?: CaseGroup; transit?: CaseGroup; foreign: Array<{ groupId: string; name: string }> } = {
    foreign: [],
  };
  for (const g of r.SecurityGroups ?? []) {
    const tags = tagMap(g.Tags);
    const role = tags[TAG_ROLE];
    if (!g.GroupId) continue;
    if (tags[TAG_CASE] !== caseId || (role !== ROLE.isolationGroup && role !== ROLE.transitGroup)) {
      out.foreign.push({ groupId: g.GroupId, name: g.GroupName ?? '' });
      continue;
    }
    const group: CaseGroup = { groupId: g.GroupId, vpcId, role, rules: await readRules(account, g.GroupId) };
    if (role === ROLE.isolationGroup) out.isolation = group;
    else out.transit = group;
  }
  return out;
}

/** The rules of a group (DescribeSecurityGroupRules: they carry the ids RevokeSecurityGroup* takes). */
export async function readRules(account: AwsAccount, groupId: string): Promise<CaseGroup['rules']> {
  const rules: CaseGroup['rules'] = [];
  let token: string | undefined;
  do {
    const r = await account.ec2.describeSecurityGroupRules({
      Filters: [{ Name: 'group-id', Values: [groupId] }],
      ...(token ? { NextToken: token } : {}),
    });
    for (const x of r.SecurityGroupRules ?? []) {
      if (!x.SecurityGroupRuleId || (x.GroupId && x.GroupId !== groupId)) continue;
      rules.push({
        id: x.SecurityGroupRuleId,
        egress: x.IsEgress === true,
        protocol: x.IpProtocol ?? '',
        ...(x.CidrIpv4 ? { cidrIpv4: x.CidrIpv4 } : {}),
        ...(x.CidrIpv6 ? { cidrIpv6: x.CidrIpv6 } : {}),
        ...(x.FromPort !== undefined ? { fromPort: x.FromPort } : {}),
        ...(x.ToPort !== undefined ? { toPort: x.ToPort } : {}),
        other: Boolean(x.ReferencedGroupInfo?.GroupId || x.PrefixListId),
      });
    }
    token = r.NextToken;
  } while (token);
  return rules;
}

/** True when a rule allows all traffic (protocol -1) to or from everywhere on one address family. */
export function allowsAll(rule: CaseGroup['rules'][number], family: 'v4' | 'v6'): boolean {
  return (
    rule.protocol === '-1' &&
    !rule.other &&
    (family === 'v4' ? rule.cidrIpv4 === '0.0.0.0/0' : rule.cidrIpv6 === '::/0')
  );
}

/** The case's deny-all network ACL in a VPC, if isolate made one. */
export async function findCaseAcl(account: AwsAccount, caseId: string, vpcId: string): Promise<string | undefined> {
  const r = await account.ec2.describeNetworkAcls({
    Filters: [
      { Name: 'vpc-id', Values: [vpcId] },
      { Name: `tag:${TAG_CASE}`, Values: [caseId] },
      { Name: `tag:${TAG_ROLE}`, Values: [ROLE.isolationNacl] },
    ],
  });
  return r.NetworkAcls?.[0]?.NetworkAclId;
}

/** The network ACL association of a subnet (every subnet has exactly one). */
export async function subnetAcl(
  account: AwsAccount,
  subnetId: string,
): Promise<{ associationId: string; networkAclId: string } | undefined> {
  const r = await account.ec2.describeNetworkAcls({ Filters: [{ Name: 'association.subnet-id', Values: [subnetId] }] });
  for (const acl of r.NetworkAcls ?? []) {
    const a = (acl.Associations ?? []).find((x) => x.SubnetId === subnetId);
    if (a?.NetworkAclAssociationId && acl.NetworkAclId)
      return { associationId: a.NetworkAclAssociationId, networkAclId: acl.NetworkAclId };
  }
  return undefined;
}

/** Other network interfaces in a subnet (what a subnet-wide network ACL also cuts). */
export async function neighbours(
  account: AwsAccount,
  subnetId: string,
  exclude: ReadonlySet<string>,
): Promise<string[]> {
  const r = await account.ec2.describeNetworkInterfaces({ Filters: [{ Name: 'subnet-id', Values: [subnetId] }] });
  return (r.NetworkInterfaces ?? [])
    .filter((n) => n.NetworkInterfaceId && !exclude.has(n.NetworkInterfaceId))
    .map((n) => {
      const owner = n.Attachment?.InstanceId ?? n.RequesterId ?? n.InterfaceType ?? 'unattached';
      return `${n.NetworkInterfaceId} (${owner}${n.Description ? `: ${n.Description}` : ''})`;
    });
}

/** The quarantine role and instance profile of the case, as they are now. */
export async function readQuarantine(
  account: AwsAccount,
  caseId: string,
): Promise<{
  name: string;
  role?: { arn: string; tags: Record<string, string>; denyAll: boolean };
  profile?: { arn: string; roles: string[]; tags: Record<string, string> };
}> {
  const name = quarantineName(caseId);
  const out: Awaited<ReturnType<typeof readQuarantine>> = { name };
  try {
    const r = await account.iam.getRole({ RoleName: name });
    let denyAll = false;
    try {
      const p = await account.iam.getRolePolicy({ RoleName: name, PolicyName: DENY_ALL_POLICY_NAME });
      denyAll = Boolean(p.PolicyDocument);
    } catch (e) {
      if (!isAwsCode(e, 'NoSuchEntity', 'NoSuchEntityException')) throw e;
    }
    out.role = { arn: r.Role?.Arn ?? '', tags: tagMap(r.Role?.Tags), denyAll };
  } catch (e) {
    if (!isAwsCode(e, 'NoSuchEntity', 'NoSuchEntityException')) throw e;
  }
  try {
    const p = await account.iam.getInstanceProfile({ InstanceProfileName: name });
    out.profile = {
      arn: p.InstanceProfile?.Arn ?? '',
      roles: (p.InstanceProfile?.Roles ?? []).map((r) => r.RoleName ?? ''),
      tags: tagMap(p.InstanceProfile?.Tags),
    };
  } catch (e) {
    if (!isAwsCode(e, 'NoSuchEntity', 'NoSuchEntityException')) throw e;
  }
  return out;
}

/** Other instances (this region) using the same instance profile: revoking the role's sessions cuts them too. */
export async function profileUsers(account: AwsAccount, profileArn: string, except: string): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const r = await account.ec2.describeIamInstanceProfileAssociations(token ? { NextToken: token } : {});
    for (const a of r.IamInstanceProfileAssociations ?? []) {
      if (
        a.InstanceId &&
        a.InstanceId !== except &&
        a.IamInstanceProfile?.Arn === profileArn &&
        (a.State === 'associated' || a.State === 'associating')
      )
        out.push(a.InstanceId);
    }
    token = r.NextToken;
  } while (token);
  return out;
}

/** The ELBv2 target descriptions of recorded registrations (id, port, zone as recorded). */
export function targetsOf(rs: Registration[]): { Id: string; Port?: number; AvailabilityZone?: string }[] {
  return rs.map((r) => ({
    Id: r.id,
    ...(r.port !== undefined ? { Port: r.port } : {}),
    ...(r.availabilityZone ? { AvailabilityZone: r.availabilityZone } : {}),
  }));
}
