/**
 * `isolateInstance` at the workflow level, on a hand-written, stateful fake of the source account
 * and a MemoryRecorder: the order of the steps, the plan being exactly what a run does, a failure
 * at every single call (what was done before stays and is recorded; the error lists what is left;
 * a rerun finishes), an interruption after every mutating call and before every custody write (a
 * rerun reaches the same end state with no duplicate event), idempotency, drift, IAM propagation
 * delay on the fake clock, and the checks made before any change. Nothing sleeps.
 */
import t from 'tap';
import type { Filter, IamInstanceProfileAssociationState, InstanceStateName, IpPermission } from '@aws-sdk/client-ec2';
import type { TargetHealthStateEnum, TargetTypeEnum } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { InstanceProfile, Role } from '@aws-sdk/client-iam';
import type { AwsAccount } from '../../../src/aws/ports.js';
import type { FakeCalls } from '../../fakes/ports.js';
import { AwsError, CleanroomError, PartialFailureError, UsageError } from '../../../src/domain/errors.js';
import { MemoryRecorder } from '../../../src/domain/recorder.js';
import { Crash, Interruptions } from '../../harness/interruptions.js';
import type { Clock } from '../../../src/domain/waiter.js';
import { isolateInstance, type IsolateDeps, type IsolateOptions } from '../../../src/workflows/isolate/index.js';
import { quarantineName } from '../../../src/workflows/isolate/names.js';

const ACCOUNT = '222222222222';
const REGION = 'eu-central-1';
const IID = 'i-0123456789abcdef0';
const CASE = 'IR-9';

type Tags = Record<string, string>;
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
class Fake {
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
        | 'stopInstances';
      iam:
        | 'getRole'
        | 'getRolePolicy'
        | 'getInstanceProfile'
        | 'createRole'
        | 'putRolePolicy'
        | 'createInstanceProfile'
        | 'addRoleToInstanceProfile';
      autoscaling: 'describeAutoScalingInstances' | 'describeAutoScalingGroups' | 'detachInstances';
      elb: 'describeTargetGroups' | 'describeTargetHealth' | 'deregisterTargets';
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
          return {
            SecurityGroups: [...f.groups.values()]
              .filter((g) => (!vpc || vpc.includes(g.vpc)) && (!names || names.includes(g.name)))
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
      },
      elb: {
        async describeTargetGroups() {
          f.read();
          return {
            TargetGroups: f.tgs.map((g) => ({
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
      acls: [...this.subnetAcl].map(([s, a]) => [s, this.acls.get(a.acl)!.tags['cleanroom:role'] ?? a.acl]),
      state: this.instance.state,
    };
  }
}

class World extends Interruptions {
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
function crashed(e: unknown): boolean {
  for (
    let x = e;
    x instanceof Error;
    x = x.cause ?? (x instanceof PartialFailureError ? x.failures[0]?.error : undefined)
  )
    if (x instanceof Crash) return true;
  return false;
}

const opts = (o: Partial<IsolateOptions> = {}): IsolateOptions => ({ caseId: CASE, instanceId: IID, ...o });
const actions = (w: World) => w.recorder.events().map((e) => `${e.action}:${e.outcome.status}`);
const ORDER = [
  'record-state',
  'protect',
  'leave-asg',
  'leave-target-groups',
  'prepare-groups',
  'swap-groups',
  'swap-profile',
  'revoke-sessions',
  'tag',
];

t.test('the steps run in order, each recorded, and the run makes exactly the calls the dry run planned', async (t) => {
  const planned = new World();
  const plan = await isolateInstance(
    planned.deps({
      custody: async () => {
        throw new Error('TEST FAILURE: dry run opened the record');
      },
    }),
    opts({ dryRun: true }),
  );
  t.same(planned.fake.mutations, [], 'the dry run changes nothing');
  t.same(
    plan.steps.map((s) => s.step),
    ORDER,
  );

  const w = new World();
  const r = await isolateInstance(w.deps(), opts());
  t.same(actions(w), [...ORDER.map((s) => `isolate.${s}:succeeded`), 'isolate.complete:succeeded']);
  t.same(
    r.steps.map((s) => [s.step, s.status]),
    ORDER.map((s) => [s, 'done']),
  );
  // Call for call: the plan (values not known yet named by placeholder), the calls the run reports,
  // and what the account saw.
  const norm = (s: string) =>
    s
      .replace(/\{\{[^}]+\}\}|(sg|sgr|acl|aclassoc|iip-assoc)-[0-9a-f]{8}|\d{4}-\d\d-\d\dT[\d:.]+Z/g, '<id>')
      .replace(/\[("<id>",?)*\]/g, '"<id>"')
      .replace(/\\?"<id>\\?"/g, '<id>');
  const line = (c: { call: string; input: unknown }) => norm(`${c.call} ${JSON.stringify(c.input)}`);
  const ran = r.steps.flatMap((s) => s.calls);
  t.same(ran.map(line), plan.steps.flatMap((s) => s.calls).map(line), 'the run made the planned calls, in order');
  t.same(
    ran.filter((c) => c.outcome === 'done' && !/:Describe/.test(c.call)).map(line),
    w.fake.mutations.map(norm),
    'and the account saw exactly those',
  );
  t.same(
    ran.filter((c) => c.outcome === 'skipped').map((c) => c.call),
    ['ec2:RevokeSecurityGroupIngress'],
    'a new group has no inbound rule to revoke',
  );
  t.ok(w.fake.mutations.length > 15);

  // The order that matters: leave the ASG before the network is cut; swap the profile before revoking.
  const at = (re: RegExp) => w.fake.mutations.findIndex((m) => re.test(m));
  t.ok(
    at(/DetachInstances/) < at(/ModifyNetworkInterfaceAttribute/),
    'out of the ASG before its health checks could fail',
  );
  t.ok(at(/ModifyInstanceAttribute/) < at(/DetachInstances/), 'evidence protected first');
  t.ok(
    at(/ReplaceIamInstanceProfileAssociation/) < at(/AWSRevokeOlderSessions/),
    'new credentials are deny-all before old sessions are revoked',
  );
  t.ok(at(/CreateTags/) === w.fake.mutations.length - 1, 'tag last');

  t.same(
    w.fake.instance.enis.map((n) => n.groups),
    [[r.isolationGroupIds['vpc-1']], [r.isolationGroupIds['vpc-1']]],
  );
  t.same(w.fake.groups.get(r.isolationGroupIds['vpc-1']!)!.rules, []);
  t.same(
    w.fake.tgs.map((g) => g.targets.length),
    [0, 0, 1],
    'the same address in another VPC is not this instance',
  );
  t.equal(w.fake.asg!.desired, 2);
  t.equal(w.fake.association!.profile, quarantineName(CASE));
  t.ok(
    w.warnings.some((m) => /also cuts i-0aaaaaaaaaaaaaaa1 \(same instance profile web-profile\)/.test(m)),
    'collateral of the revocation named',
  );
});

t.test('a second run is a no-op that says so: no call, no event', async (t) => {
  const w = new World();
  await isolateInstance(w.deps(), opts());
  const n = w.recorder.events().length;
  const m = w.fake.mutations.length;
  const r = await isolateInstance(w.deps(), opts());
  t.equal(r.alreadyIsolated, true);
  t.equal(w.recorder.events().length, n);
  t.equal(w.fake.mutations.length, m);
  t.same(
    r.steps.map((s) => s.status),
    ORDER.map(() => 'already'),
  );
  t.equal(r.previousState.interfaces[0]!.groupIds[0], 'sg-app', 'the state before comes from the record');
  t.equal(r.isolatedAt, w.recorder.find(`isolate:${IID}:complete`)!.time);
});

t.test(
  'a failure at any call: earlier steps stay in place and recorded, the error lists what is left, a rerun finishes',
  async (t) => {
    const clean = new World();
    await isolateInstance(clean.deps(), opts());
    const want = clean.fake.picture();
    const total = clean.fake.mutations.length;
    for (let k = 1; k <= total; k++) {
      const w = new World();
      w.fake.failAt = { k, error: new AwsError('ec2', 'x', 'UnauthorizedOperation', `Access denied (call ${k})`) };
      const e = await isolateInstance(w.deps(), opts()).catch((x) => x);
      t.ok(e instanceof PartialFailureError, `call ${k} fails the run`);
      t.equal(e.exitCode, 1);
      const failed = e.details.failedStep as string;
      const i = ORDER.indexOf(failed);
      t.ok(i > 0, `call ${k}: failed in step ${failed}`);
      t.same(
        actions(w),
        [...ORDER.slice(0, i).map((s) => `isolate.${s}:succeeded`), `isolate.${failed}:failed`],
        `call ${k}: steps before ${failed} recorded, then the failure`,
      );
      t.same(
        e.details.remaining.map((s: string) => s.split(':')[0]),
        ORDER.slice(i),
        `call ${k}: what is left is named`,
      );
      t.match(
        e.message,
        new RegExp(`stopped at step ${failed}[\\s\\S]*Access denied \\(call ${k}\\)[\\s\\S]*Left to do`),
      );
      t.equal(w.fake.mutations.length, k - 1, `call ${k}: nothing after the failed call`);
      const r = await isolateInstance(w.deps(), opts());
      t.equal(r.alreadyIsolated, false);
      t.same(w.fake.picture(), want, `call ${k}: the rerun reaches the same end state`);
      const keys = w.recorder.events().map((ev) => ev.idempotencyKey);
      t.equal(new Set(keys).size, keys.length, `call ${k}: no duplicate event`);
    }
  },
);

t.test(
  'interrupted after every mutating call and before every custody write, then rerun: same end state, no duplicate events',
  async (t) => {
    const clean = new World();
    await isolateInstance(clean.deps(), opts({ nacl: true }));
    const want = clean.fake.picture();
    const wantKeys = clean.recorder
      .events()
      .map((e) => e.idempotencyKey!)
      .sort();
    const points = [
      ...Array.from({ length: clean.fake.mutations.length }, (_, i) => ({ after: i + 1 })),
      ...Array.from({ length: clean.recorder.events().length }, (_, i) => ({ before: i + 1 })),
    ];
    t.ok(points.length > 30, `${points.length} interruption points`);
    for (const p of points) {
      const w = new World();
      if ('after' in p) w.crashAfterMutation = p.after;
      else w.crashBeforeRecord = p.before;
      const first = await isolateInstance(w.deps(), opts({ nacl: true })).catch((e) => e);
      t.ok(crashed(first), `interrupted ${JSON.stringify(p)}`);
      w.revive();
      await isolateInstance(w.deps(), opts({ nacl: true }));
      t.same(w.fake.picture(), want, `same end state ${JSON.stringify(p)}`);
      const keys = w.recorder.events().map((e) => e.idempotencyKey!);
      t.equal(new Set(keys).size, keys.length, `no duplicate event ${JSON.stringify(p)}`);
      t.same([...keys].sort(), wantKeys, `the same events ${JSON.stringify(p)}`);
    }
  },
);

t.test(
  'a new instance profile IAM has not propagated yet: the swap is retried on the clock, within its budget',
  async (t) => {
    const w = new World();
    w.fake.profileNotReady = 3;
    const start = w.clock.now();
    const r = await isolateInstance(w.deps(), opts());
    t.equal(r.steps.find((s) => s.step === 'swap-profile')!.status, 'done');
    t.ok(w.clock.now() - start >= 6000, 'waited on the fake clock only');

    const slow = new World();
    slow.fake.profileNotReady = 1000;
    const e = await isolateInstance(slow.deps(), opts({ budgets: { profilePropagationMs: 30_000 } })).catch((x) => x);
    t.ok(e instanceof PartialFailureError);
    t.match(
      e.message,
      /stopped at step swap-profile.*Gave up waiting for instance profile cleanroom-quarantine-IR-9 to become usable by EC2/,
    );
    t.equal(
      slow.fake.association!.profile,
      'web-profile',
      'the old profile is still there, and the error says so by listing swap-profile as left',
    );
  },
);

t.test(
  'drift: what was undone by hand after isolation is done again and recorded as re-applied; the revocation keeps its first time',
  async (t) => {
    const w = new World();
    const first = await isolateInstance(w.deps(), opts());
    const revokedAt = first.sessionsRevokedBefore!;
    w.clock.t += 3_600_000;
    w.fake.roles.get('web')!.policies.delete('AWSRevokeOlderSessions');
    w.fake.instance.enis[1]!.groups = ['sg-mgmt'];
    const r = await isolateInstance(w.deps(), opts());
    t.equal(r.alreadyIsolated, false);
    t.same(
      r.steps.filter((s) => s.status === 'done').map((s) => s.step),
      ['swap-groups', 'revoke-sessions'],
    );
    t.same(
      w.fake.instance.enis.map((n) => n.groups),
      [[r.isolationGroupIds['vpc-1']], [r.isolationGroupIds['vpc-1']]],
    );
    t.match(
      w.fake.roles.get('web')!.policies.get('AWSRevokeOlderSessions'),
      revokedAt,
      'the sessions revoked are those issued before the isolation, not before the rerun',
    );
    t.equal(r.sessionsRevokedBefore, revokedAt);
    t.same(actions(w).slice(-2), ['isolate.swap-groups:succeeded', 'isolate.revoke-sessions:succeeded']);
    t.match(w.recorder.events().at(-1)!.idempotencyKey, /revoke-sessions:reapplied:/);
  },
);

t.test(
  'an endpoint whose ModifyInstanceAttribute wipes the groups (the moto trap) is caught by the protect step, not by luck',
  async (t) => {
    const w = new World();
    w.fake.shutdownWipesGroups = true;
    const e = await isolateInstance(w.deps(), opts()).catch((x) => x);
    t.ok(e instanceof PartialFailureError);
    t.match(
      e.message,
      /stopped at step protect.*security groups of eni-0primary \(now: none; before: sg-app\) changed/,
    );
    t.equal(w.recorder.events().at(-1)!.outcome.error!.code, 'ISOLATION_NOT_CONFIRMED');
  },
);

t.test(
  'what does not apply is recorded as skipped: no Auto Scaling group, no target group, no instance profile',
  async (t) => {
    const w = new World();
    w.fake.asg = undefined;
    w.fake.tgs = [];
    w.fake.association = undefined;
    const r = await isolateInstance(w.deps(), opts());
    t.same(
      r.steps.map((s) => [s.step, s.status]),
      [
        ['record-state', 'done'],
        ['protect', 'done'],
        ['leave-asg', 'skipped'],
        ['leave-target-groups', 'skipped'],
        ['prepare-groups', 'done'],
        ['swap-groups', 'done'],
        ['swap-profile', 'skipped'],
        ['revoke-sessions', 'skipped'],
        ['tag', 'done'],
      ],
    );
    t.same(
      actions(w).filter((a) => a.endsWith(':skipped')),
      [
        'isolate.leave-asg:skipped',
        'isolate.leave-target-groups:skipped',
        'isolate.swap-profile:skipped',
        'isolate.revoke-sessions:skipped',
      ],
    );
  },
);

t.test('checks before any change: nothing is called that changes anything, nothing is recorded', async (t) => {
  const cases: Array<[string, (w: World) => void, Partial<IsolateOptions>, RegExp]> = [
    ['malformed id', () => {}, { instanceId: 'i-xyz' }, /INVALID_INSTANCE_ID/],
    ['bad case id', () => {}, { caseId: 'bad case!' }, /INVALID_CASE_ID/],
    ['terminated', (w) => void (w.fake.instance.state = 'terminated'), {}, /INSTANCE_TERMINATED/],
    [
      'another case',
      (w) =>
        void Object.assign(w.fake.instance.tags, {
          'cleanroom:case': 'IR-1',
          'cleanroom:quarantine': '2026-01-01T00:00:00Z',
        }),
      {},
      /ISOLATED_FOR_ANOTHER_CASE/,
    ],
    ['ASG at its minimum', (w) => void Object.assign(w.fake.asg!, { min: 3, desired: 3 }), {}, /ASG_AT_MINIMUM/],
    ['unknown here, found in another region', () => {}, { instanceId: IID }, /INSTANCE_IN_ANOTHER_REGION/],
  ];
  for (const [name, setup, o, code] of cases) {
    const w = new World();
    setup(w);
    const d = name.startsWith('unknown')
      ? { ...w.deps(), account: w.fake.port('us-east-1'), accountInRegion: async (r: string) => w.fake.port(r) }
      : w.deps();
    const e = await isolateInstance(d, opts(o)).catch((x) => x);
    t.ok(e instanceof UsageError, name);
    t.equal(e.exitCode, 2, name);
    t.match(e.code, code, name);
    t.same(w.fake.mutations, [], `${name}: nothing changed`);
    t.same(w.recorder.events(), [], `${name}: nothing recorded`);
  }
  const w = new World();
  const e = await isolateInstance(
    { ...w.deps(), account: w.fake.port('us-east-1'), accountInRegion: async (r) => w.fake.port(r) },
    opts(),
  ).catch((x) => x);
  t.match(
    e.message,
    new RegExp(
      `${IID} is not in account ${ACCOUNT}, region us-east-1; it is in ${REGION}: run again with --source-region ${REGION}`,
    ),
  );
});

t.test(
  "the clean room's own forensic instance is refused before any change, also in a dry run, by its room tags or by its room stack",
  async (t) => {
    const cases: Array<[string, Tags, RegExp]> = [
      [
        'room tags',
        { 'cleanroom:case': 'IR-7', 'cleanroom:role': 'forensic-instance' },
        /case IR-7, room stack cleanroom-IR-7/,
      ],
      [
        'room stack, template logical id',
        { 'aws:cloudformation:stack-name': 'cleanroom-IR-7', 'aws:cloudformation:logical-id': 'ForensicInstance' },
        /case IR-7, room stack cleanroom-IR-7/,
      ],
      [
        'room stack, case tag passed on from the stack',
        {
          'aws:cloudformation:stack-name': 'cleanroom-IR-7',
          'aws:cloudformation:logical-id': 'Renamed',
          'cleanroom:case': 'IR-7',
        },
        /case IR-7, room stack cleanroom-IR-7/,
      ],
      [
        "this case's own room",
        { 'cleanroom:case': CASE, 'cleanroom:role': 'forensic-instance' },
        new RegExp(`case ${CASE}, room stack cleanroom-${CASE}`),
      ],
    ];
    for (const [name, tags, where] of cases) {
      for (const dryRun of [false, true]) {
        const w = new World();
        Object.assign(w.fake.instance.tags, tags);
        const e = await isolateInstance(w.deps(), opts({ dryRun })).catch((x) => x);
        t.ok(e instanceof UsageError, `${name}${dryRun ? ' (dry run)' : ''}: refused`);
        t.equal(e.exitCode, 2);
        t.equal(e.code, 'INSTANCE_IS_FORENSIC');
        t.match(
          e.message,
          new RegExp(`Instance ${IID} \\(account ${ACCOUNT}, ${REGION}\\) is the clean room's own forensic instance`),
        );
        t.match(e.message, where, `${name}: names the case and the stack`);
        t.match(e.message, /Nothing was changed/);
        t.same(w.fake.mutations, [], `${name}: nothing changed`);
        t.same(w.recorder.events(), [], `${name}: nothing recorded`);
      }
    }
    // Not a room: a stack that only looks like one, and an instance isolate itself tagged for a case.
    for (const tags of [
      { 'aws:cloudformation:stack-name': 'cleanroom-web', 'aws:cloudformation:logical-id': 'WebServer' },
      { 'cleanroom:case': CASE, 'cleanroom:quarantine': '2026-01-01T00:00:00Z' },
    ] as Tags[]) {
      const w = new World();
      Object.assign(w.fake.instance.tags, tags);
      const r = await isolateInstance(w.deps(), opts({ dryRun: true }));
      t.equal(r.dryRun, true, `not refused: ${JSON.stringify(tags)}`);
    }
  },
);

t.test('a deregistered target that is still draining counts as gone, on the run and on a rerun', async (t) => {
  const w = new World();
  w.fake.drainOnDeregister = true;
  const r = await isolateInstance(w.deps(), opts());
  t.equal(r.steps.find((s) => s.step === 'leave-target-groups')!.status, 'done');
  t.same(
    w.fake.tgs.map((g) => g.targets.map((x) => x.state ?? 'healthy')),
    [['draining'], ['draining'], ['healthy']],
  );
  const again = await isolateInstance(w.deps(), opts());
  t.equal(again.alreadyIsolated, true);
});

t.test('--nacl asks first, naming the neighbours; declining changes nothing', async (t) => {
  const w = new World();
  await isolateInstance(w.deps(), opts({ nacl: true }));
  t.match(w.questions[0], /subnet-a also holds eni-neighbour \(i-0fffffffffffffff0\)/);
  t.same(w.fake.picture().acls, [
    ['subnet-a', 'isolation-nacl'],
    ['subnet-b', 'isolation-nacl'],
  ]);

  const no = new World();
  const e = await isolateInstance(no.deps({ approve: async () => false }), opts({ nacl: true })).catch((x) => x);
  t.equal(e.code, 'ABORTED');
  t.same(no.fake.mutations, []);
  t.same(no.recorder.events(), []);
});

t.test('--stop hibernates when the instance can, and warns before', async (t) => {
  const w = new World();
  w.fake.instance.hibernation = true;
  const r = await isolateInstance(w.deps(), opts({ stop: true }));
  t.match(w.questions[0], /will hibernate: its memory is written to its root volume/);
  t.match(w.fake.mutations.at(-1), /ec2:StopInstances \{"InstanceIds":\["i-0123456789abcdef0"\],"Hibernate":true\}/);
  t.equal(r.steps.at(-1)!.step, 'stop');
  t.equal(w.fake.instance.state, 'stopped');
});

t.test("a group with isolate's name that isolate did not make is not used", async (t) => {
  const w = new World();
  w.fake.groups.set('sg-squat', {
    id: 'sg-squat',
    name: `cleanroom-isolation-${CASE}`,
    vpc: 'vpc-1',
    tags: {},
    rules: [{ id: 'sgr-x', egress: true, proto: '-1', v4: '0.0.0.0/0' }],
  });
  const e = await isolateInstance(w.deps(), opts()).catch((x) => x);
  t.ok(e instanceof PartialFailureError);
  t.match(
    e.message,
    /stopped at step prepare-groups.*sg-squat .* has the name isolate uses for case IR-9 but not its tags/,
  );
  t.ok(e.failures[0].error instanceof CleanroomError);
});

t.test(
  "waits 'hand-off': where the run would wait for IAM to propagate it hands the wait back; called again it finishes, nothing done twice",
  async (t) => {
    const blocking = new World();
    blocking.fake.profileNotReady = 3;
    await isolateInstance(blocking.deps(), opts());

    const w = new World();
    w.fake.profileNotReady = 3;
    const start = w.clock.now();
    const handOffs: Array<{ code: string; retryAfterSeconds: number; waitingFor: string }> = [];
    let r: Awaited<ReturnType<typeof isolateInstance>> | undefined;
    for (let i = 0; i < 10 && !r; i++) {
      try {
        r = await isolateInstance(w.deps(), opts({ waits: 'hand-off' }));
      } catch (e) {
        if (!(e instanceof CleanroomError) || e.code !== 'WAIT_HANDED_OFF') throw e;
        handOffs.push(e as CleanroomError & { retryAfterSeconds: number; waitingFor: string });
      }
    }
    t.ok(r, `done after ${handOffs.length + 1} invocations`);
    t.ok(handOffs.length >= 1, 'the propagation wait was handed off');
    for (const h of handOffs) {
      t.match(h.waitingFor, /instance profile cleanroom-quarantine-IR-9/);
      t.ok(h.retryAfterSeconds >= 1);
    }
    t.equal(w.clock.now() - start < 6000, true, 'the clock did not wait: the caller waits between invocations');
    t.equal(r!.steps.find((s) => s.step === 'swap-profile')!.status, 'done');
    const count = (xs: string[]) => {
      const m: Record<string, number> = {};
      for (const x of xs) {
        const op = x.split(' ')[0]!;
        m[op] = (m[op] ?? 0) + 1;
      }
      return m;
    };
    const noAssociate = (m: Record<string, number>) =>
      Object.fromEntries(
        Object.entries(m).filter(([k]) => !/AssociateIamInstanceProfile|ReplaceIamInstanceProfileAssociation/.test(k)),
      );
    t.same(
      noAssociate(count(w.fake.mutations)),
      noAssociate(count(blocking.fake.mutations)),
      'the same changes as the blocking run (only the retried profile swap is tried again)',
    );
    t.same(
      w.recorder.events().map((e) => e.action),
      blocking.recorder.events().map((e) => e.action),
      'the same custody events, none twice, no failure recorded',
    );
  },
);
