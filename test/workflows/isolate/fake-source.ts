/**
 * The source account as isolate and release see it: a hand-written, stateful fake (one instance with
 * two interfaces, an instance profile, an Auto Scaling group, target groups and a Classic Load
 * Balancer), the calls it received, and a World around it (fake clock, MemoryRecorder that can be
 * interrupted, approvals and warnings). Shared by isolate.test.ts and release.test.ts.
 */
import type { Filter, IamInstanceProfileAssociationState, InstanceStateName, IpPermission } from '@aws-sdk/client-ec2';
import type { TargetHealthStateEnum, TargetTypeEnum } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { InstanceProfile, Role } from '@aws-sdk/client-iam';
import type { AwsAccount } from '../../../src/aws/ports.js';
import type { FakeCalls } from '../../fakes/ports.js';
import { AwsError, PartialFailureError } from '../../../src/domain/errors.js';
import { MemoryRecorder } from '../../../src/domain/recorder.js';
import { Crash, Interruptions } from '../../harness/interruptions.js';
import type { Clock } from '../../../src/domain/waiter.js';
import type { IsolateDeps } from '../../../src/workflows/isolate/index.js';

export const ACCOUNT = '222222222222';
export const REGION = 'eu-central-1';
export const IID = 'i-0123456789abcdef0';
export const CASE = 'IR-9';

export type Tags = Record<string, string>;
interface Rule {
  id: string;
  egress: boolean;
  proto: string;
  v4?: string;
  v6?: string;
}
interface Group {
  id: string;
  name: string;
  vpc: string;
  tags: Tags;
  rules: Rule[];
}
interface Eni {
  id: string;
  device: number;
  subnet: string;
  vpc: string;
  groups: string[];
  ips: string[];
}

const toTags = (m: Tags) => Object.entries(m).map(([Key, Value]) => ({ Key, Value }));
const fromTags = (l: Array<{ Key?: string; Value?: string }> = []) =>
  Object.fromEntries(l.map((x) => [x.Key!, x.Value!]));
const notFound = (service: string, op: string, code: string, msg: string) =>
  new AwsError(service, op, code, msg, { exitCode: 2 });

/** The source account as isolate sees it, with the calls it makes. */
export class Fake {
  n = 100;
  instance = {
    state: 'running' as InstanceStateName,
    tags: { Name: 'web-1' } as Tags,
    enis: [
      { id: 'eni-0primary', device: 0, subnet: 'subnet-a', vpc: 'vpc-1', groups: ['sg-app'], ips: ['10.0.1.5'] },
      { id: 'eni-1second', device: 1, subnet: 'subnet-b', vpc: 'vpc-1', groups: ['sg-mgmt'], ips: ['10.0.2.5'] },
    ] as Eni[],
    bdm: [
      { device: '/dev/xvda', volumeId: 'vol-root', dot: true },
      { device: '/dev/sdf', volumeId: 'vol-data', dot: false },
    ],
    disableApiTermination: false,
    shutdown: 'terminate',
    hibernation: false,
  };
  groups = new Map<string, Group>([
    [
      'sg-app',
      {
        id: 'sg-app',
        name: 'app',
        vpc: 'vpc-1',
        tags: {},
        rules: [{ id: 'sgr-app1', egress: false, proto: 'tcp', v4: '0.0.0.0/0' }],
      },
    ],
    ['sg-mgmt', { id: 'sg-mgmt', name: 'mgmt', vpc: 'vpc-1', tags: {}, rules: [] }],
  ]);
  acls = new Map<string, { id: string; vpc: string; tags: Tags; allow: boolean }>([
    ['acl-default', { id: 'acl-default', vpc: 'vpc-1', tags: {}, allow: true }],
  ]);
  subnetAcl = new Map<string, { assoc: string; acl: string }>([
    ['subnet-a', { assoc: 'aclassoc-a', acl: 'acl-default' }],
    ['subnet-b', { assoc: 'aclassoc-b', acl: 'acl-default' }],
  ]);
  neighbours: Array<{ id: string; subnet: string; instance?: string }> = [
    { id: 'eni-neighbour', subnet: 'subnet-a', instance: 'i-0fffffffffffffff0' },
  ];
  roles = new Map<string, { arn: string; tags: Tags; path: string; policies: Map<string, string> }>([
    ['web', { arn: `arn:aws:iam::${ACCOUNT}:role/web`, tags: {}, path: '/', policies: new Map() }],
  ]);
  profiles = new Map<string, { arn: string; roles: string[]; tags: Tags }>([
    ['web-profile', { arn: `arn:aws:iam::${ACCOUNT}:instance-profile/web-profile`, roles: ['web'], tags: {} }],
  ]);
  association: { id: string; profile: string; state: IamInstanceProfileAssociationState } | undefined = {
    id: 'iip-assoc-1',
    profile: 'web-profile',
    state: 'associated',
  };
  otherProfileUsers = ['i-0aaaaaaaaaaaaaaa1'];
  asg: { name: string; min: number; desired: number; max: number; members: Set<string> } | undefined = {
    name: 'web-asg',
    min: 1,
    desired: 3,
    max: 4,
    members: new Set([IID, 'i-0fffffffffffffff0']),
  };
  tgs: Array<{
    arn: string;
    name: string;
    type: TargetTypeEnum;
    vpc: string;
    targets: Array<{ id: string; port: number; state?: TargetHealthStateEnum }>;
  }> = [
    { arn: 'arn:tg/web', name: 'web', type: 'instance', vpc: 'vpc-1', targets: [{ id: IID, port: 8080 }] },
    { arn: 'arn:tg/web-ip', name: 'web-ip', type: 'ip', vpc: 'vpc-1', targets: [{ id: '10.0.1.5', port: 80 }] },
    { arn: 'arn:tg/other-vpc', name: 'other', type: 'ip', vpc: 'vpc-9', targets: [{ id: '10.0.1.5', port: 80 }] },
  ];
  /** Classic Load Balancers and the instances they list. */
  clbs: Array<{ name: string; instances: string[] }> = [
    { name: 'web-clb', instances: [IID] },
    { name: 'other-clb', instances: ['i-0fffffffffffffff0'] },
  ];
  /** Network interfaces of other instances and the group each uses (release keeps a group in use). */
  otherGroupUsers: Array<{ eni: string; group: string }> = [];
  /** The Auto Scaling group was deleted (DescribeAutoScalingGroups lists nothing). */
  asgDeleted = false;
  /** ReplaceIamInstanceProfileAssociation answers InvalidParameterValue this many times (IAM propagation). */
  profileNotReady = 0;
  /** AWS keeps a deregistered target `draining` for the deregistration delay. */
  drainOnDeregister = false;
  /** Mimic the moto trap: changing the shutdown behaviour wipes the primary interface's groups. */
  shutdownWipesGroups = false;
  mutations: string[] = [];
  /** Fail the k-th mutating call (1-based) with this error. */
  failAt?: { k: number; error: Error };
  /** Fail every call of this operation. */
  failOp?: { op: string; error: Error };

  constructor(readonly world: World) {}

  mutate<T>(op: string, input: unknown, fn: () => T): T {
    this.world.alive();
    if (this.failOp?.op === op) throw this.failOp.error;
    if (this.failAt && this.mutations.length + 1 === this.failAt.k) {
      const e = this.failAt.error;
      this.failAt = undefined;
      throw e;
    }
    const r = fn();
    this.mutations.push(`${op} ${JSON.stringify(input)}`);
    this.world.afterMutation();
    return r;
  }
  read() {
    this.world.alive();
  }
  id(prefix: string) {
    return `${prefix}-${(++this.n).toString(16).padStart(8, '0')}`;
  }
  rulesOf(g: Group) {
    return g.rules.map((r) => ({
      SecurityGroupRuleId: r.id,
      GroupId: g.id,
      IsEgress: r.egress,
      IpProtocol: r.proto,
      ...(r.v4 ? { CidrIpv4: r.v4 } : {}),
      ...(r.v6 ? { CidrIpv6: r.v6 } : {}),
    }));
  }
  profileArn(name: string) {
    return this.profiles.get(name)!.arn;
  }
  /** A role as IAM describes it. */
  role(name: string): Role {
    const r = this.roles.get(name)!;
    return { RoleName: name, RoleId: `AROA${name.toUpperCase()}`, Arn: r.arn, Path: r.path, CreateDate: new Date(0) };
  }
  /** An instance profile as IAM describes it, with its roles. */
  profile(name: string): InstanceProfile {
    const p = this.profiles.get(name)!;
    return {
      InstanceProfileName: name,
      InstanceProfileId: `AIPA${name.toUpperCase()}`,
      Arn: p.arn,
      Path: '/',
      CreateDate: new Date(0),
      Roles: p.roles.map((r) => this.role(r)),
    };
  }

  port(region = REGION): AwsAccount {
    const f = this;
    const inst = this.instance;
    const filterVals = (filters: Filter[] | undefined, name: string) => filters?.find((x) => x.Name === name)?.Values;
    // Ingress and egress take the same fields.
    const authorize = (egress: boolean) => async (i: { GroupId?: string; IpPermissions?: IpPermission[] }) =>
      f.mutate(egress ? 'ec2:AuthorizeSecurityGroupEgress' : 'ec2:AuthorizeSecurityGroupIngress', i, () => {
        const g = f.groups.get(i.GroupId!)!;
        for (const p of i.IpPermissions ?? []) {
          const add: Rule[] = [
            ...(p.IpRanges ?? []).map((x) => ({ v4: x.CidrIp })),
            ...(p.Ipv6Ranges ?? []).map((x) => ({ v6: x.CidrIpv6 })),
          ].map((x) => ({ id: f.id('sgr'), egress, proto: p.IpProtocol!, ...x }));
          if (
            add.some((a) =>
              g.rules.some((r) => r.egress === a.egress && r.proto === a.proto && r.v4 === a.v4 && r.v6 === a.v6),
            )
          )
            throw new AwsError('ec2', 'authorize', 'InvalidPermission.Duplicate', 'the specified rule already exists');
          g.rules.push(...add);
        }
        return { Return: true };
      });
    const revoke = (egress: boolean) => async (i: { GroupId?: string; SecurityGroupRuleIds?: string[] }) =>
      f.mutate(egress ? 'ec2:RevokeSecurityGroupEgress' : 'ec2:RevokeSecurityGroupIngress', i, () => {
        const g = f.groups.get(i.GroupId!)!;
        const ids = i.SecurityGroupRuleIds ?? [];
        for (const id of ids) {
          const r = g.rules.find((x) => x.id === id && x.egress === egress);
          if (!r) throw notFound('ec2', 'revoke', 'InvalidSecurityGroupRuleId.NotFound', `rule ${id} not found`);
        }
        g.rules = g.rules.filter((r) => !ids.includes(r.id));
        return { Return: true };
      });
    const account: FakeCalls<{
      ec2:
        | 'describeRegions'
        | 'describeInstances'
        | 'describeInstanceAttribute'
        | 'modifyInstanceAttribute'
        | 'describeIamInstanceProfileAssociations'
        | 'replaceIamInstanceProfileAssociation'
        | 'describeSecurityGroups'
        | 'describeSecurityGroupRules'
        | 'createSecurityGroup'
        | 'authorizeSecurityGroupIngress'
        | 'authorizeSecurityGroupEgress'
        | 'revokeSecurityGroupIngress'
        | 'revokeSecurityGroupEgress'
        | 'modifyNetworkInterfaceAttribute'
        | 'describeNetworkAcls'
        | 'createNetworkAcl'
        | 'replaceNetworkAclAssociation'
        | 'describeNetworkInterfaces'
        | 'createTags'
        | 'stopInstances'
        | 'startInstances'
        | 'deleteTags'
        | 'deleteSecurityGroup'
        | 'associateIamInstanceProfile'
        | 'disassociateIamInstanceProfile';
      iam:
        | 'getRole'
        | 'getRolePolicy'
        | 'getInstanceProfile'
        | 'createRole'
        | 'putRolePolicy'
        | 'createInstanceProfile'
        | 'addRoleToInstanceProfile';
      autoscaling: 'describeAutoScalingInstances' | 'describeAutoScalingGroups' | 'detachInstances' | 'attachInstances';
      elb: 'describeTargetGroups' | 'describeTargetHealth' | 'deregisterTargets' | 'registerTargets';
      clb: 'describeLoadBalancers' | 'deregisterInstancesFromLoadBalancer' | 'registerInstancesWithLoadBalancer';
    }> = {
      region,
      accountId: async () => ACCOUNT,
      callerArn: async () => `arn:aws:sts::${ACCOUNT}:assumed-role/responder/cleanroom-source`,
      ec2: {
        async describeRegions() {
          f.read();
          return { Regions: [{ RegionName: REGION }, { RegionName: 'us-east-1' }] };
        },
        async describeInstances(i) {
          f.read();
          if (region !== REGION || !i.InstanceIds?.includes(IID))
            throw notFound(
              'ec2',
              'describeInstances',
              'InvalidInstanceID.NotFound',
              `The instance ID '${i.InstanceIds?.[0]}' does not exist`,
            );
          return {
            Reservations: [
              {
                Instances: [
                  {
                    InstanceId: IID,
                    State: { Name: inst.state },
                    VpcId: 'vpc-1',
                    Placement: { AvailabilityZone: `${REGION}a` },
                    Tags: toTags(inst.tags),
                    HibernationOptions: { Configured: inst.hibernation },
                    NetworkInterfaces: inst.enis.map((n) => ({
                      NetworkInterfaceId: n.id,
                      Attachment: { DeviceIndex: n.device },
                      SubnetId: n.subnet,
                      VpcId: n.vpc,
                      Groups: n.groups.map((GroupId) => ({ GroupId })),
                      PrivateIpAddresses: n.ips.map((PrivateIpAddress) => ({ PrivateIpAddress })),
                    })),
                    BlockDeviceMappings: inst.bdm.map((b) => ({
                      DeviceName: b.device,
                      Ebs: { VolumeId: b.volumeId, DeleteOnTermination: b.dot },
                    })),
                  },
                ],
              },
            ],
          };
        },
        async describeInstanceAttribute(i) {
          f.read();
          return i.Attribute === 'disableApiTermination'
            ? { DisableApiTermination: { Value: inst.disableApiTermination } }
            : { InstanceInitiatedShutdownBehavior: { Value: inst.shutdown } };
        },
        async modifyInstanceAttribute(i) {
          return f.mutate('ec2:ModifyInstanceAttribute', i, () => {
            if (i.DisableApiTermination) inst.disableApiTermination = i.DisableApiTermination.Value!;
            else if (i.Attribute === 'instanceInitiatedShutdownBehavior') {
              inst.shutdown = i.Value!;
              if (f.shutdownWipesGroups) inst.enis[0]!.groups = [];
            } else if (i.BlockDeviceMappings)
              for (const m of i.BlockDeviceMappings)
                inst.bdm.find((b) => b.device === m.DeviceName)!.dot = m.Ebs!.DeleteOnTermination!;
            else throw new Error(`fake: unsupported ModifyInstanceAttribute ${JSON.stringify(i)}`);
            return {};
          });
        },
        async describeIamInstanceProfileAssociations(i) {
          f.read();
          const ids = filterVals(i.Filters, 'instance-id');
          const mine = f.association
            ? [
                {
                  AssociationId: f.association.id,
                  InstanceId: IID,
                  State: f.association.state,
                  IamInstanceProfile: { Arn: f.profileArn(f.association.profile) },
                },
              ]
            : [];
          const others = f.otherProfileUsers.map((id, k) => ({
            AssociationId: `iip-other-${k}`,
            InstanceId: id,
            State: 'associated' as const,
            IamInstanceProfile: { Arn: f.profileArn('web-profile') },
          }));
          return {
            IamInstanceProfileAssociations: [...mine, ...others].filter((a) => !ids || ids.includes(a.InstanceId)),
          };
        },
        async replaceIamInstanceProfileAssociation(i) {
          if (f.profileNotReady > 0) {
            f.read();
            f.profileNotReady -= 1;
            throw new AwsError(
              'ec2',
              'replaceIamInstanceProfileAssociation',
              'InvalidParameterValue',
              `Value (${i.IamInstanceProfile?.Name}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name`,
              { exitCode: 2 },
            );
          }
          return f.mutate('ec2:ReplaceIamInstanceProfileAssociation', i, () => {
            const profile = i.IamInstanceProfile?.Name ?? '';
            if (!f.profiles.has(profile))
              throw new AwsError('ec2', 'replace', 'InvalidParameterValue', 'no such profile', { exitCode: 2 });
            const association = { id: `iip-assoc-${++f.n}`, profile, state: 'associated' as const };
            f.association = association;
            return { IamInstanceProfileAssociation: { AssociationId: association.id } };
          });
        },
        async describeSecurityGroups(i) {
          f.read();
          const vpc = filterVals(i.Filters, 'vpc-id');
          const names = filterVals(i.Filters, 'group-name');
          const ids = filterVals(i.Filters, 'group-id');
          return {
            SecurityGroups: [...f.groups.values()]
              .filter(
                (g) =>
                  (!vpc || vpc.includes(g.vpc)) && (!names || names.includes(g.name)) && (!ids || ids.includes(g.id)),
              )
              .map((g) => ({ GroupId: g.id, GroupName: g.name, VpcId: g.vpc, Tags: toTags(g.tags) })),
          };
        },
        async describeSecurityGroupRules(i) {
          f.read();
          const ids = filterVals(i.Filters, 'group-id')!;
          return { SecurityGroupRules: ids.flatMap((id) => f.rulesOf(f.groups.get(id)!)) };
        },
        async createSecurityGroup(i) {
          return f.mutate('ec2:CreateSecurityGroup', i, () => {
            if ([...f.groups.values()].some((g) => g.vpc === i.VpcId && g.name === i.GroupName))
              throw new AwsError('ec2', 'createSecurityGroup', 'InvalidGroup.Duplicate', 'exists');
            const id = f.id('sg');
            f.groups.set(id, {
              id,
              name: i.GroupName!,
              vpc: i.VpcId!,
              tags: fromTags(i.TagSpecifications?.[0]?.Tags),
              rules: [{ id: f.id('sgr'), egress: true, proto: '-1', v4: '0.0.0.0/0' }],
            });
            return { GroupId: id };
          });
        },
        authorizeSecurityGroupIngress: authorize(false),
        authorizeSecurityGroupEgress: authorize(true),
        revokeSecurityGroupIngress: revoke(false),
        revokeSecurityGroupEgress: revoke(true),
        async modifyNetworkInterfaceAttribute(i) {
          return f.mutate('ec2:ModifyNetworkInterfaceAttribute', i, () => {
            inst.enis.find((n) => n.id === i.NetworkInterfaceId)!.groups = [...(i.Groups ?? [])];
            return {};
          });
        },
        async describeNetworkAcls(i) {
          f.read();
          if (i.NetworkAclIds)
            return {
              NetworkAcls: i.NetworkAclIds.map((id) => ({
                NetworkAclId: id,
                Entries: f.acls.get(id)!.allow
                  ? [{ RuleNumber: 100, RuleAction: 'allow' }]
                  : [{ RuleNumber: 32767, RuleAction: 'deny' }],
              })),
            };
          const subnet = filterVals(i.Filters, 'association.subnet-id');
          if (subnet) {
            const a = f.subnetAcl.get(subnet[0]!)!;
            return {
              NetworkAcls: [
                {
                  NetworkAclId: a.acl,
                  Associations: [{ NetworkAclAssociationId: a.assoc, NetworkAclId: a.acl, SubnetId: subnet[0] }],
                },
              ],
            };
          }
          const vpc = filterVals(i.Filters, 'vpc-id')!;
          const c = filterVals(i.Filters, 'tag:cleanroom:case')!;
          const role = filterVals(i.Filters, 'tag:cleanroom:role')!;
          return {
            NetworkAcls: [...f.acls.values()]
              .filter(
                (a) =>
                  vpc.includes(a.vpc) &&
                  c.includes(a.tags['cleanroom:case']!) &&
                  role.includes(a.tags['cleanroom:role']!),
              )
              .map((a) => ({ NetworkAclId: a.id })),
          };
        },
        async createNetworkAcl(i) {
          return f.mutate('ec2:CreateNetworkAcl', i, () => {
            const id = f.id('acl');
            f.acls.set(id, { id, vpc: i.VpcId!, tags: fromTags(i.TagSpecifications?.[0]?.Tags), allow: false });
            return { NetworkAcl: { NetworkAclId: id } };
          });
        },
        async replaceNetworkAclAssociation(i) {
          return f.mutate('ec2:ReplaceNetworkAclAssociation', i, () => {
            const [subnet, a] = [...f.subnetAcl].find(([, v]) => v.assoc === i.AssociationId)!;
            a.acl = i.NetworkAclId!;
            a.assoc = f.id('aclassoc');
            return { NewAssociationId: f.subnetAcl.get(subnet)!.assoc };
          });
        },
        async describeNetworkInterfaces(i) {
          f.read();
          const byGroup = filterVals(i.Filters, 'group-id');
          if (byGroup)
            return {
              NetworkInterfaces: [
                ...inst.enis.filter((n) => n.groups.some((g) => byGroup.includes(g))).map((n) => n.id),
                ...f.otherGroupUsers.filter((u) => byGroup.includes(u.group)).map((u) => u.eni),
              ].map((NetworkInterfaceId) => ({ NetworkInterfaceId })),
            };
          const subnet = filterVals(i.Filters, 'subnet-id')![0];
          const all = [...inst.enis.map((n) => ({ id: n.id, subnet: n.subnet, instance: IID })), ...f.neighbours];
          return {
            NetworkInterfaces: all
              .filter((n) => n.subnet === subnet)
              .map((n) => ({
                NetworkInterfaceId: n.id,
                Attachment: n.instance ? { InstanceId: n.instance } : undefined,
              })),
          };
        },
        async createTags(i) {
          return f.mutate('ec2:CreateTags', i, () => {
            for (const x of i.Tags ?? []) inst.tags[x.Key!] = x.Value!;
            return {};
          });
        },
        async stopInstances(i) {
          return f.mutate('ec2:StopInstances', i, () => {
            inst.state = 'stopped';
            return {};
          });
        },
        async startInstances(i) {
          return f.mutate('ec2:StartInstances', i, () => {
            inst.state = 'pending';
            return {};
          });
        },
        async deleteTags(i) {
          return f.mutate('ec2:DeleteTags', i, () => {
            for (const x of i.Tags ?? []) delete inst.tags[x.Key!];
            return {};
          });
        },
        async deleteSecurityGroup(i) {
          return f.mutate('ec2:DeleteSecurityGroup', i, () => {
            if (!f.groups.has(i.GroupId!))
              throw notFound('ec2', 'deleteSecurityGroup', 'InvalidGroup.NotFound', `group ${i.GroupId} not found`);
            if (inst.enis.some((n) => n.groups.includes(i.GroupId!)))
              throw new AwsError(
                'ec2',
                'deleteSecurityGroup',
                'DependencyViolation',
                'resource has a dependent object',
              );
            f.groups.delete(i.GroupId!);
            return {};
          });
        },
        async associateIamInstanceProfile(i) {
          return f.mutate('ec2:AssociateIamInstanceProfile', i, () => {
            const profile = i.IamInstanceProfile?.Name ?? '';
            if (!f.profiles.has(profile))
              throw new AwsError('ec2', 'associate', 'InvalidParameterValue', 'no such profile', { exitCode: 2 });
            f.association = { id: `iip-assoc-${++f.n}`, profile, state: 'associated' };
            return { IamInstanceProfileAssociation: { AssociationId: f.association.id } };
          });
        },
        async disassociateIamInstanceProfile(i) {
          return f.mutate('ec2:DisassociateIamInstanceProfile', i, () => {
            if (f.association?.id !== i.AssociationId)
              throw notFound('ec2', 'disassociate', 'InvalidAssociationID.NotFound', 'no such association');
            f.association = undefined;
            return {};
          });
        },
      },
      iam: {
        async getRole(i) {
          f.read();
          if (!f.roles.has(i.RoleName!))
            throw new AwsError('iam', 'getRole', 'NoSuchEntity', `Role ${i.RoleName} not found`);
          return { Role: { ...f.role(i.RoleName!), Tags: toTags(f.roles.get(i.RoleName!)!.tags) } };
        },
        async getRolePolicy(i) {
          f.read();
          const p = f.roles.get(i.RoleName!)?.policies.get(i.PolicyName!);
          if (!p) throw new AwsError('iam', 'getRolePolicy', 'NoSuchEntity', `Policy ${i.PolicyName} not attached`);
          // IAM answers policy documents URL-encoded.
          return { RoleName: i.RoleName, PolicyName: i.PolicyName, PolicyDocument: encodeURIComponent(p) };
        },
        async getInstanceProfile(i) {
          f.read();
          const p = f.profiles.get(i.InstanceProfileName!);
          if (!p)
            throw new AwsError(
              'iam',
              'getInstanceProfile',
              'NoSuchEntity',
              `Instance profile ${i.InstanceProfileName} not found`,
            );
          return { InstanceProfile: { ...f.profile(i.InstanceProfileName!), Tags: toTags(p.tags) } };
        },
        async createRole(i) {
          return f.mutate('iam:CreateRole', i, () => {
            f.roles.set(i.RoleName!, {
              arn: `arn:aws:iam::${ACCOUNT}:role/${i.RoleName}`,
              tags: fromTags(i.Tags),
              path: '/',
              policies: new Map(),
            });
            return { Role: f.role(i.RoleName!) };
          });
        },
        async putRolePolicy(i) {
          return f.mutate('iam:PutRolePolicy', i, () => {
            f.roles.get(i.RoleName!)!.policies.set(i.PolicyName!, i.PolicyDocument!);
            return {};
          });
        },
        async createInstanceProfile(i) {
          return f.mutate('iam:CreateInstanceProfile', i, () => {
            f.profiles.set(i.InstanceProfileName!, {
              arn: `arn:aws:iam::${ACCOUNT}:instance-profile/${i.InstanceProfileName}`,
              roles: [],
              tags: fromTags(i.Tags),
            });
            return { InstanceProfile: f.profile(i.InstanceProfileName!) };
          });
        },
        async addRoleToInstanceProfile(i) {
          return f.mutate('iam:AddRoleToInstanceProfile', i, () => {
            const p = f.profiles.get(i.InstanceProfileName!)!;
            if (p.roles.length)
              throw new AwsError(
                'iam',
                'addRoleToInstanceProfile',
                'LimitExceeded',
                'Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1',
              );
            p.roles.push(i.RoleName!);
            return {};
          });
        },
      },
      autoscaling: {
        async describeAutoScalingInstances(i) {
          f.read();
          const a = f.asg;
          return {
            AutoScalingInstances: a?.members.has(i.InstanceIds?.[0] ?? '')
              ? [
                  {
                    InstanceId: i.InstanceIds?.[0],
                    AutoScalingGroupName: a.name,
                    AvailabilityZone: `${REGION}a`,
                    LifecycleState: 'InService',
                    HealthStatus: 'HEALTHY',
                    ProtectedFromScaleIn: false,
                  },
                ]
              : [],
          };
        },
        async describeAutoScalingGroups() {
          f.read();
          const a = f.asg!;
          if (f.asgDeleted) return { AutoScalingGroups: [] };
          return {
            AutoScalingGroups: [
              {
                AutoScalingGroupName: a.name,
                MinSize: a.min,
                DesiredCapacity: a.desired,
                MaxSize: a.max,
                DefaultCooldown: 300,
                AvailabilityZones: [`${REGION}a`],
                HealthCheckType: 'EC2',
                CreatedTime: new Date(0),
                TargetGroupARNs: [],
              },
            ],
          };
        },
        async detachInstances(i) {
          return f.mutate('autoscaling:DetachInstances', i, () => {
            const a = f.asg!;
            if (i.ShouldDecrementDesiredCapacity && a.desired - 1 < a.min)
              throw new AwsError(
                'autoscaling',
                'detachInstances',
                'ValidationError',
                'please update the AutoScalingGroup sizes appropriately',
                { exitCode: 2 },
              );
            a.members.delete(i.InstanceIds?.[0] ?? '');
            if (i.ShouldDecrementDesiredCapacity) a.desired -= 1;
            return { Activities: [] };
          });
        },
        async attachInstances(i) {
          return f.mutate('autoscaling:AttachInstances', i, () => {
            const a = f.asg!;
            for (const id of i.InstanceIds ?? []) a.members.add(id);
            a.desired += (i.InstanceIds ?? []).length;
            return {};
          });
        },
      },
      elb: {
        async describeTargetGroups(i) {
          f.read();
          const missing = (i.TargetGroupArns ?? []).filter((a) => !f.tgs.some((g) => g.arn === a));
          if (missing.length)
            throw notFound(
              'elasticloadbalancing',
              'describeTargetGroups',
              'TargetGroupNotFound',
              `${missing[0]} not found`,
            );
          return {
            TargetGroups: f.tgs
              .filter((g) => !i.TargetGroupArns || i.TargetGroupArns.includes(g.arn))
              .map((g) => ({
                TargetGroupArn: g.arn,
                TargetGroupName: g.name,
                TargetType: g.type,
                VpcId: g.vpc,
              })),
          };
        },
        async describeTargetHealth(i) {
          f.read();
          return {
            TargetHealthDescriptions: f.tgs
              .find((g) => g.arn === i.TargetGroupArn)!
              .targets.map((x) => ({
                Target: { Id: x.id, Port: x.port },
                TargetHealth: { State: x.state ?? 'healthy' },
              })),
          };
        },
        async deregisterTargets(i) {
          return f.mutate('elasticloadbalancing:DeregisterTargets', i, () => {
            const g = f.tgs.find((x) => x.arn === i.TargetGroupArn)!;
            const hit = (x: { id: string; port: number }) =>
              (i.Targets ?? []).some((y) => y.Id === x.id && y.Port === x.port);
            if (f.drainOnDeregister) for (const x of g.targets) if (hit(x)) x.state = 'draining';
            if (!f.drainOnDeregister) g.targets = g.targets.filter((x) => !hit(x));
            return {};
          });
        },
        async registerTargets(i) {
          return f.mutate('elasticloadbalancing:RegisterTargets', i, () => {
            const g = f.tgs.find((x) => x.arn === i.TargetGroupArn)!;
            for (const y of i.Targets ?? []) {
              g.targets = g.targets.filter((x) => !(x.id === y.Id && x.port === y.Port));
              g.targets.push({ id: y.Id!, port: y.Port!, state: 'initial' });
            }
            return {};
          });
        },
      },
      clb: {
        async describeLoadBalancers(i) {
          f.read();
          const missing = (i.LoadBalancerNames ?? []).filter((n) => !f.clbs.some((l) => l.name === n));
          if (missing.length)
            throw notFound(
              'elasticloadbalancing',
              'describeLoadBalancers',
              'LoadBalancerNotFound',
              `${missing[0]} not found`,
            );
          return {
            LoadBalancerDescriptions: f.clbs
              .filter((l) => !i.LoadBalancerNames || i.LoadBalancerNames.includes(l.name))
              .map((l) => ({
                LoadBalancerName: l.name,
                Instances: l.instances.map((InstanceId) => ({ InstanceId })),
              })),
          };
        },
        async deregisterInstancesFromLoadBalancer(i) {
          return f.mutate('elasticloadbalancing:DeregisterInstancesFromLoadBalancer', i, () => {
            const l = f.clbs.find((x) => x.name === i.LoadBalancerName)!;
            const gone = new Set((i.Instances ?? []).map((x) => x.InstanceId));
            l.instances = l.instances.filter((x) => !gone.has(x));
            return { Instances: l.instances.map((InstanceId) => ({ InstanceId })) };
          });
        },
        async registerInstancesWithLoadBalancer(i) {
          return f.mutate('elasticloadbalancing:RegisterInstancesWithLoadBalancer', i, () => {
            const l = f.clbs.find((x) => x.name === i.LoadBalancerName)!;
            for (const x of i.Instances ?? [])
              if (!l.instances.includes(x.InstanceId!)) l.instances.push(x.InstanceId!);
            return { Instances: l.instances.map((InstanceId) => ({ InstanceId })) };
          });
        },
      },
    };
    return account as unknown as AwsAccount;
  }

  /** A comparable picture of the end state (generated ids replaced by names). */
  picture() {
    const gname = (id: string) => this.groups.get(id)?.name ?? id;
    return {
      enis: this.instance.enis.map((n) => [n.id, n.groups.map(gname)]),
      groups: [...this.groups.values()]
        .map((g) => [g.name, g.tags, g.rules.map((r) => [r.egress, r.proto, r.v4 ?? r.v6]).sort()])
        .sort(),
      protection: [this.instance.disableApiTermination, this.instance.shutdown, this.instance.bdm.map((b) => b.dot)],
      tags: Object.keys(this.instance.tags).sort(),
      profile: this.association?.profile ?? null,
      roles: [...this.roles].map(([n, r]) => [n, [...r.policies.keys()].sort()]).sort(),
      asg: this.asg ? [[...this.asg.members].sort(), this.asg.desired] : null,
      tgs: this.tgs.map((g) => [g.name, g.targets.map((x) => x.id)]),
      clbs: this.clbs.map((l) => [l.name, [...l.instances]]),
      acls: [...this.subnetAcl].map(([s, a]) => [s, this.acls.get(a.acl)!.tags['cleanroom:role'] ?? a.acl]),
      state: this.instance.state,
    };
  }
}

export class World extends Interruptions {
  clock: Clock & { t: number } = {
    t: Date.parse('2026-05-01T10:00:00Z'),
    now: () => this.clock.t,
    sleep: async (ms) => {
      this.clock.t += ms;
    },
  } as Clock & { t: number };
  fake = new Fake(this);
  recorder: MemoryRecorder;
  questions: string[] = [];
  warnings: string[] = [];

  constructor() {
    super();
    this.recorder = this.interruptible(
      new MemoryRecorder(`arn:aws:sts::111111111111:assumed-role/analyst/a`, () => new Date(this.clock.now())),
    );
  }
  deps(extra: Partial<IsolateDeps> = {}): IsolateDeps {
    return {
      account: this.fake.port(),
      custody: async () => this.recorder,
      clock: this.clock,
      approve: async (req) => (this.questions.push(req.question), true),
      reporter: { progress() {}, debug() {}, warn: (m) => void this.warnings.push(m) },
      accountInRegion: async (r) => this.fake.port(r),
      ...extra,
    };
  }
}

/** The simulated kill, possibly seen through the step's failure handling (a real kill leaves no trace at all). */
export function crashed(e: unknown): boolean {
  for (
    let x = e;
    x instanceof Error;
    x = x.cause ?? (x instanceof PartialFailureError ? x.failures[0]?.error : undefined)
  )
    if (x instanceof Crash) return true;
  return false;
}
