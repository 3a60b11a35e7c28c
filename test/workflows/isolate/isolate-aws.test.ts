/**
 * `isolateInstance` against the local AWS (moto 5.2.1), in the source account reached by assuming
 * a role in 111111111111, with the real ports (`openAccount`) behind a fault proxy, and a
 * MemoryRecorder as the custody record. What a responder relies on is asserted on AWS itself:
 * every interface carries only the isolation group, that group has no rule in either direction, the
 * instance is protected and tagged, the profile is swapped, the old role revokes older sessions,
 * the Auto Scaling group and the target groups no longer hold it, and the record holds each step
 * in order.
 *
 * Emulator notes (docs/local-aws.md, and this branch's findings):
 * - moto reports an instance's groups on every attached interface (merged with the interface's
 *   own); the local AWS's fidelity patch `local-aws/patches/eni_security_groups.py` restores what AWS documents.
 * - moto does not enforce IAM, so missing permissions come from the fault proxy.
 * - moto's DescribeInstances keeps showing the old IamInstanceProfile after
 *   ReplaceIamInstanceProfileAssociation; the association API (which isolate reads) is updated.
 * - moto lets DetachInstances take a group below its minimum; AWS refuses — isolate checks first.
 *   moto's DetachInstances is also instant (AWS: an activity in progress, `Detaching`), so the
 *   wait isolate makes for the instance to leave the group ends at its first poll here.
 * - moto drops a deregistered target at once (AWS: `draining` for the deregistration delay;
 *   isolate counts a draining target as gone, which only the unit tests on fakes exercise).
 * - moto does not delay a new instance profile (AWS: IAM propagation, "Invalid IAM Instance Profile
 *   name" for a few seconds); the retry is exercised on the fake clock in isolate.test.ts.
 * - moto adds no default deny entries to a new network ACL (AWS adds rule `*` deny); isolate checks
 *   that the ACL has no allow entry, which holds in both.
 */
import t from 'tap';
import * as ec2 from '@aws-sdk/client-ec2';
import * as asgSdk from '@aws-sdk/client-auto-scaling';
import * as elb from '@aws-sdk/client-elastic-load-balancing-v2';
import * as clb from '@aws-sdk/client-elastic-load-balancing';
import * as iam from '@aws-sdk/client-iam';
import { useLocalAws } from '../../../local-aws/local-aws.js';
import { startFaultProxy } from '../../harness/fault-proxy.js';
import { openAccount } from '../../../src/aws/account.js';
import type { AwsAccount } from '../../../src/aws/ports.js';
import { MemoryRecorder } from '../../../src/domain/recorder.js';
import { AwsError, PartialFailureError, UsageError } from '../../../src/domain/errors.js';
import { isolateInstance, type IsolateDeps } from '../../../src/workflows/isolate/index.js';
import { quarantineName } from '../../../src/workflows/isolate/names.js';
import {
  SOURCE_ROLE,
  compromisedInstance,
  groupsByInterface,
  shutdownBehavior,
  sourceClients,
  type Clients,
} from './fixture.js';
import type { InstanceState } from '../../../src/workflows/isolate/discover.js';

/** A call as isolate records it in a step's inputs (the record is JSON). */
type RecordedCall = { call: string; input: Record<string, unknown>; outcome: string };

const aws = await useLocalAws(t);
const proxy = await startFaultProxy(aws);
t.teardown(() => proxy.close());
// The product's calls go through the proxy; the fixture talks to moto directly.
process.env.AWS_ENDPOINT_URL = proxy.endpoint;
const c: Clients = sourceClients(aws.endpoint);
const accounts = new Map<string, Promise<AwsAccount>>();
const account = (region = 'us-east-1') => {
  if (!accounts.has(region))
    accounts.set(
      region,
      openAccount({ region, roleArn: SOURCE_ROLE, sessionName: 'cleanroom-source', maxAttempts: 1 }),
    );
  return accounts.get(region)!;
};

function deps(recorder: MemoryRecorder, extra: Partial<IsolateDeps> = {}): Promise<IsolateDeps> {
  return account().then((a) => ({
    account: a,
    custody: async () => recorder,
    accountInRegion: (r: string) => account(r),
    ...extra,
  }));
}

const actions = (r: MemoryRecorder) => r.events().map((e) => `${e.action}:${e.outcome.status}`);
const STEPS = [
  'record-state',
  'protect',
  'leave-asg',
  'leave-target-groups',
  'leave-classic-lbs',
  'prepare-groups',
  'swap-groups',
  'swap-profile',
  'revoke-sessions',
  'tag',
];
const succeeded = (steps: string[]) => steps.map((s) => `isolate.${s}:succeeded`);

async function rules(groupId: string) {
  return (
    (
      await c.ec2.send(
        new ec2.DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [groupId] }] }),
      )
    ).SecurityGroupRules ?? []
  );
}

t.test(
  'isolates an instance with two interfaces, an Auto Scaling group, target groups and an instance profile',
  async (t) => {
    const x = await compromisedInstance(c, { desired: 2 });
    // Another VPC with the same addresses: its `ip` target with the same private IP is not this instance.
    const decoyVpc = (await c.ec2.send(new ec2.CreateVpcCommand({ CidrBlock: '10.20.0.0/16' }))).Vpc!.VpcId!;
    const decoy = (
      await c.elb.send(
        new elb.CreateTargetGroupCommand({
          Name: `decoy-${process.pid}`,
          Protocol: 'HTTP',
          Port: 80,
          VpcId: decoyVpc,
          TargetType: 'ip',
        }),
      )
    ).TargetGroups![0]!.TargetGroupArn!;
    await c.elb.send(
      new elb.RegisterTargetsCommand({ TargetGroupArn: decoy, Targets: [{ Id: x.privateIp, Port: 80 }] }),
    );
    const rec = new MemoryRecorder();
    const started = new Date().toISOString();
    const r = await isolateInstance(await deps(rec), { caseId: 'IR-100', instanceId: x.instanceId });

    t.equal(r.alreadyIsolated, false);
    t.equal(r.sourceAccount, '111111111111');
    t.equal(r.region, 'us-east-1');
    const iso = r.isolationGroupIds[x.vpcId]!;
    const transit = r.transitGroupIds[x.vpcId]!;
    t.match(iso, /^sg-/);
    t.match(transit, /^sg-/);

    // The record: each step, in order.
    t.same(actions(rec), [...succeeded(STEPS), 'isolate.complete:succeeded']);
    const prev = rec.find(`isolate:${x.instanceId}:state`)!.outcome.details!['previousState'] as InstanceState;
    t.same(
      prev.interfaces.map((n) => [n.networkInterfaceId, n.groupIds]),
      [
        [x.primaryEni, [x.appGroup]],
        [x.secondaryEni, [x.mgmtGroup]],
      ],
      'the state before: each interface with its own groups',
    );
    t.equal(prev.profile?.arn, x.profileArn);
    t.equal(prev.asg?.name, x.asgName);
    t.same(
      prev.registrations.map((g) => [g.targetGroupArn, g.id]).sort(),
      [
        [x.targetGroupArn, x.instanceId],
        [x.ipTargetGroupArn, x.privateIp],
      ].sort(),
    );
    t.same(
      prev.volumes.map((v) => [v.volumeId, v.deleteOnTermination]),
      [
        [x.rootVolume, true],
        [x.dataVolume, false],
      ],
    );
    t.same(prev.classicLoadBalancers, [x.classicLbName], 'the Classic Load Balancer that listed it');
    t.equal(prev.shutdownBehavior, 'terminate');
    const swap = rec.find(`isolate:${x.instanceId}:swap-groups`)!;
    t.same(
      (swap.inputs!['calls'] as RecordedCall[]).map((k) => [k.call, k.input.NetworkInterfaceId, k.input.Groups]),
      [
        ['ec2:ModifyNetworkInterfaceAttribute', x.primaryEni, [transit]],
        ['ec2:ModifyNetworkInterfaceAttribute', x.primaryEni, [iso]],
        ['ec2:ModifyNetworkInterfaceAttribute', x.secondaryEni, [transit]],
        ['ec2:ModifyNetworkInterfaceAttribute', x.secondaryEni, [iso]],
      ],
      'every interface went through the allow-all group first, then the isolation group',
    );

    // Network: every interface carries only the isolation group; it has no rule either way.
    t.same(await groupsByInterface(c, [x.primaryEni, x.secondaryEni]), {
      [x.primaryEni]: [iso],
      [x.secondaryEni]: [iso],
    });
    t.same(await rules(iso), [], 'no inbound and no outbound rule (IPv4 and IPv6)');
    const tr = await rules(transit);
    t.same(
      tr.map((q) => [q.IsEgress, q.IpProtocol, q.CidrIpv4 ?? q.CidrIpv6]).sort(),
      [
        [false, '-1', '0.0.0.0/0'],
        [false, '-1', '::/0'],
        [true, '-1', '0.0.0.0/0'],
        [true, '-1', '::/0'],
      ].sort(),
      'the transit group allows everything both ways, so flows are untracked',
    );
    const sg = (await c.ec2.send(new ec2.DescribeSecurityGroupsCommand({ GroupIds: [iso] }))).SecurityGroups![0]!;
    t.same(Object.fromEntries(sg.Tags!.map((q) => [q.Key, q.Value])), {
      'cleanroom:case': 'IR-100',
      'cleanroom:role': 'isolation',
    });

    // Evidence protected.
    const dis = await c.ec2.send(
      new ec2.DescribeInstanceAttributeCommand({ InstanceId: x.instanceId, Attribute: 'disableApiTermination' }),
    );
    t.equal(dis.DisableApiTermination?.Value, true);
    t.equal(await shutdownBehavior(c, x.instanceId), 'stop');
    const inst = (await c.ec2.send(new ec2.DescribeInstancesCommand({ InstanceIds: [x.instanceId] }))).Reservations![0]!
      .Instances![0]!;
    t.same(
      inst.BlockDeviceMappings!.map((m) => [m.Ebs!.VolumeId, m.Ebs!.DeleteOnTermination]),
      [
        [x.rootVolume, false],
        [x.dataVolume, false],
      ],
    );
    await t.rejects(
      c.ec2.send(new ec2.TerminateInstancesCommand({ InstanceIds: [x.instanceId] })),
      { name: 'OperationNotPermitted' },
      'termination is refused',
    );
    t.equal(inst.State!.Name, 'running', 'never stopped');

    // Tagged.
    const tags = Object.fromEntries(inst.Tags!.map((q) => [q.Key, q.Value]));
    t.equal(tags['cleanroom:case'], 'IR-100');
    t.equal(tags['cleanroom:quarantine'], rec.events()[0]!.time, 'quarantine marker: when isolation began');
    t.equal(tags['Name'], 'web-1', 'other tags kept');

    // Credentials: the deny-all profile, and the old role revokes older sessions.
    const assoc = (
      await c.ec2.send(
        new ec2.DescribeIamInstanceProfileAssociationsCommand({
          Filters: [{ Name: 'instance-id', Values: [x.instanceId] }],
        }),
      )
    ).IamInstanceProfileAssociations!;
    t.equal(assoc.length, 1);
    t.equal(assoc[0]!.IamInstanceProfile!.Arn, r.quarantineProfileArn);
    t.match(r.quarantineProfileArn, new RegExp(`instance-profile/${quarantineName('IR-100')}$`));
    const qpol = await c.iam.send(
      new iam.GetRolePolicyCommand({ RoleName: quarantineName('IR-100'), PolicyName: 'cleanroom-deny-all' }),
    );
    t.same(JSON.parse(decodeURIComponent(qpol.PolicyDocument!)).Statement[0], {
      Sid: 'CleanroomQuarantineDenyAll',
      Effect: 'Deny',
      Action: '*',
      Resource: '*',
    });
    const rp = await c.iam.send(
      new iam.GetRolePolicyCommand({ RoleName: x.roleName, PolicyName: 'AWSRevokeOlderSessions' }),
    );
    const doc = JSON.parse(decodeURIComponent(rp.PolicyDocument!));
    t.same(doc.Statement.Condition, { DateLessThan: { 'aws:TokenIssueTime': r.sessionsRevokedBefore } });
    t.same([doc.Statement.Effect, doc.Statement.Action, doc.Statement.Resource], ['Deny', ['*'], ['*']]);
    t.ok(r.sessionsRevokedBefore! >= started, 'revokes sessions issued before the run, not an older time');
    t.ok(
      r.sessionsRevokedBefore! >= rec.find(`isolate:${x.instanceId}:swap-profile`)!.time,
      'revocation time is after the profile swap',
    );

    // Auto Scaling group and target groups.
    t.same(
      (await c.asg.send(new asgSdk.DescribeAutoScalingInstancesCommand({ InstanceIds: [x.instanceId] })))
        .AutoScalingInstances,
      [],
    );
    const g = (await c.asg.send(new asgSdk.DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [x.asgName] })))
      .AutoScalingGroups![0]!;
    t.equal(g.DesiredCapacity, 1, 'desired capacity lowered: no replacement launched');
    t.notOk(g.Instances!.some((i) => i.InstanceId === x.instanceId));
    for (const arn of [x.targetGroupArn, x.ipTargetGroupArn]) {
      t.same(
        (await c.elb.send(new elb.DescribeTargetHealthCommand({ TargetGroupArn: arn }))).TargetHealthDescriptions,
        [],
        `${arn} no longer lists it`,
      );
    }
    const lb = (await c.clb.send(new clb.DescribeLoadBalancersCommand({ LoadBalancerNames: [x.classicLbName] })))
      .LoadBalancerDescriptions![0]!;
    t.same(lb.Instances, [], 'the Classic Load Balancer no longer lists it');
    t.same(
      (await c.elb.send(new elb.DescribeTargetHealthCommand({ TargetGroupArn: decoy }))).TargetHealthDescriptions!.map(
        (d) => d.Target!.Id,
      ),
      [x.privateIp],
      'the same address in another VPC is left alone',
    );

    t.test('isolating it again is a no-op that says so', async (t) => {
      const n = rec.events().length;
      const mutating = () =>
        proxy.calls.filter((k) =>
          /^(Modify|Create|Authorize|Revoke|Replace|Put|Add|Detach|Deregister|Stop)/.test(k.action),
        ).length;
      const before = mutating();
      const again = await isolateInstance(await deps(rec), { caseId: 'IR-100', instanceId: x.instanceId });
      t.equal(again.alreadyIsolated, true);
      t.equal(rec.events().length, n, 'nothing recorded');
      t.equal(mutating(), before, 'no mutating call');
      t.same(
        again.steps.map((s) => s.status),
        STEPS.map(() => 'already'),
      );
      t.equal(
        again.previousState.interfaces[0]!.groupIds[0],
        x.appGroup,
        'the previous state comes from the record, not from the isolated instance',
      );
      t.equal(again.isolationGroupIds[x.vpcId], iso);
    });

    t.test('a group re-added by hand is found and cut again, and that is recorded', async (t) => {
      await c.ec2.send(
        new ec2.ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: x.secondaryEni, Groups: [x.mgmtGroup] }),
      );
      const again = await isolateInstance(await deps(rec), { caseId: 'IR-100', instanceId: x.instanceId });
      t.equal(again.alreadyIsolated, false);
      t.same(await groupsByInterface(c, [x.primaryEni, x.secondaryEni]), {
        [x.primaryEni]: [iso],
        [x.secondaryEni]: [iso],
      });
      const re = rec.events().at(-1)!;
      t.equal(re.action, 'isolate.swap-groups');
      t.match(re.idempotencyKey, /:swap-groups:redone-after:\d+$/);
      t.ok(again.warnings.some((w) => /swap-groups was done .* no longer in place/.test(w)));
    });
  },
);

t.test('protecting the evidence keeps the network as it was and really sets shutdown behaviour to stop', async (t) => {
  // The moto trap (docs/local-aws.md): the structured `InstanceInitiatedShutdownBehavior:
  // {Value}` form is not applied and wipes the instance's groups. Stop the run right after the
  // protect step (DetachInstances denied) and look: were the structured form used, the primary
  // interface would have no group left and the behaviour would still be `terminate`.
  const x = await compromisedInstance(c);
  const before = await groupsByInterface(c, [x.primaryEni, x.secondaryEni]);
  t.equal(await shutdownBehavior(c, x.instanceId), 'terminate');
  proxy.add({
    service: 'autoscaling',
    action: 'DetachInstances',
    fault: {
      kind: 'error',
      status: 403,
      code: 'AccessDenied',
      message: 'User is not authorized to perform: autoscaling:DetachInstances',
    },
    times: 1,
  });
  const rec = new MemoryRecorder();
  const e = await isolateInstance(await deps(rec), { caseId: 'IR-101', instanceId: x.instanceId }).catch((err) => err);
  t.ok(e instanceof PartialFailureError, String(e));
  t.equal(await shutdownBehavior(c, x.instanceId), 'stop');
  t.same(await groupsByInterface(c, [x.primaryEni, x.secondaryEni]), before, 'groups untouched by protect');
  t.same(before, { [x.primaryEni]: [x.appGroup], [x.secondaryEni]: [x.mgmtGroup] });
  t.same(actions(rec), ['isolate.record-state:succeeded', 'isolate.protect:succeeded', 'isolate.leave-asg:failed']);
});

t.test(
  'missing permission in the middle: what was done stays and is recorded, the error lists what is left; the rerun finishes',
  async (t) => {
    const x = await compromisedInstance(c);
    proxy.add({
      service: 'ec2',
      action: 'ModifyNetworkInterfaceAttribute',
      fault: {
        kind: 'error',
        status: 403,
        code: 'UnauthorizedOperation',
        message: 'You are not authorized to perform this operation.',
      },
      after: 1,
      times: 1,
    });
    const rec = new MemoryRecorder();
    const e = await isolateInstance(await deps(rec), { caseId: 'IR-102', instanceId: x.instanceId }).catch(
      (err) => err,
    );
    t.ok(e instanceof PartialFailureError);
    t.equal(e.exitCode, 1);
    t.match(e.message, /stopped at step swap-groups .*ec2:ModifyNetworkInterfaceAttribute/);
    t.match(
      e.message,
      /Done and recorded: record-state, protect, leave-asg, leave-target-groups, leave-classic-lbs, prepare-groups; within swap-groups: ec2:ModifyNetworkInterfaceAttribute/,
    );
    t.match(
      e.message,
      /Left to do[\s\S]*- swap-groups: [\s\S]*- swap-profile: [\s\S]*- revoke-sessions: [\s\S]*- tag: /,
    );
    t.same(
      e.details.remaining.map((s: string) => s.split(':')[0]),
      ['swap-groups', 'swap-profile', 'revoke-sessions', 'tag'],
    );
    t.same(actions(rec), [...succeeded(STEPS.slice(0, 6)), 'isolate.swap-groups:failed']);
    const failed = rec.events().at(-1)!;
    t.equal(failed.outcome.error!.code, 'AWS_UnauthorizedOperation');
    t.same(
      (failed.inputs!['calls'] as RecordedCall[]).map((k) => k.outcome),
      ['done', 'failed'],
      'the failure records the call that went through',
    );
    // The credentials were not touched: the step order held.
    const assoc = (
      await c.ec2.send(
        new ec2.DescribeIamInstanceProfileAssociationsCommand({
          Filters: [{ Name: 'instance-id', Values: [x.instanceId] }],
        }),
      )
    ).IamInstanceProfileAssociations!;
    t.equal(assoc[0]!.IamInstanceProfile!.Arn, x.profileArn);

    const r = await isolateInstance(await deps(rec), { caseId: 'IR-102', instanceId: x.instanceId });
    t.equal(r.alreadyIsolated, false);
    t.same(
      actions(rec).slice(7),
      [
        'isolate.swap-groups:succeeded',
        'isolate.swap-profile:succeeded',
        'isolate.revoke-sessions:succeeded',
        'isolate.tag:succeeded',
        'isolate.complete:succeeded',
      ],
      'the rerun does only what was left',
    );
    const keys = rec.events().map((e) => e.idempotencyKey);
    t.equal(new Set(keys).size, keys.length, 'no duplicate event');
    t.same(await groupsByInterface(c, [x.primaryEni, x.secondaryEni]), {
      [x.primaryEni]: [r.isolationGroupIds[x.vpcId]],
      [x.secondaryEni]: [r.isolationGroupIds[x.vpcId]],
    });
  },
);

t.test('access denied before anything changes: the AWS error names the permission, nothing is recorded', async (t) => {
  const x = await compromisedInstance(c);
  proxy.add({
    service: 'ec2',
    action: 'DescribeInstances',
    fault: {
      kind: 'error',
      status: 403,
      code: 'UnauthorizedOperation',
      message: 'You are not authorized to perform this operation.',
    },
    times: 1,
  });
  const rec = new MemoryRecorder();
  const e = await isolateInstance(await deps(rec), { caseId: 'IR-103', instanceId: x.instanceId }).catch((err) => err);
  t.ok(e instanceof AwsError);
  t.equal(e.exitCode, 1);
  t.match(e.message, /ec2:DescribeInstances/);
  t.same(rec.events(), []);
});

t.test('bad input is refused before any change, with exit 2', async (t) => {
  const x = await compromisedInstance(c);
  const rec = new MemoryRecorder();
  const d = await deps(rec, {
    custody: async () => {
      throw new Error('TEST FAILURE: the record was opened');
    },
  });

  const malformed = await isolateInstance(d, { caseId: 'IR-104', instanceId: 'web-1' }).catch((err) => err);
  t.ok(malformed instanceof UsageError);
  t.equal(malformed.code, 'INVALID_INSTANCE_ID');

  const unknown = await isolateInstance(d, { caseId: 'IR-104', instanceId: 'i-0123456789abcdef0' }).catch((err) => err);
  t.ok(unknown instanceof UsageError);
  t.equal(unknown.exitCode, 2);
  t.equal(unknown.code, 'INSTANCE_NOT_FOUND');
  t.match(
    unknown.message,
    /i-0123456789abcdef0 does not exist in account 111111111111, region us-east-1.*--source-region/,
  );

  // Another region of the same account.
  const eu = sourceClients(aws.endpoint, 'eu-west-1');
  const euVpc = (await eu.ec2.send(new ec2.CreateVpcCommand({ CidrBlock: '10.9.0.0/16' }))).Vpc!.VpcId!;
  const euSubnet = (
    await eu.ec2.send(
      new ec2.CreateSubnetCommand({ VpcId: euVpc, CidrBlock: '10.9.1.0/24', AvailabilityZone: 'eu-west-1a' }),
    )
  ).Subnet!.SubnetId!;
  const euImage = (
    await eu.ec2.send(
      new ec2.RegisterImageCommand({
        Name: 'eu',
        RootDeviceName: '/dev/xvda',
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8 } }],
      }),
    )
  ).ImageId!;
  const euId = (
    await eu.ec2.send(new ec2.RunInstancesCommand({ ImageId: euImage, MinCount: 1, MaxCount: 1, SubnetId: euSubnet }))
  ).Instances![0]!.InstanceId!;
  const elsewhere = await isolateInstance(d, { caseId: 'IR-104', instanceId: euId }).catch((err) => err);
  t.ok(elsewhere instanceof UsageError);
  t.equal(elsewhere.exitCode, 2);
  t.equal(elsewhere.code, 'INSTANCE_IN_ANOTHER_REGION');
  t.match(
    elsewhere.message,
    new RegExp(
      `${euId} is not in account 111111111111, region us-east-1; it is in eu-west-1: run again with --source-region eu-west-1`,
    ),
  );

  // A terminated instance.
  const gone = (
    await c.ec2.send(new ec2.RunInstancesCommand({ ImageId: x.imageId, MinCount: 1, MaxCount: 1, SubnetId: x.subnetA }))
  ).Instances![0]!.InstanceId!;
  await c.ec2.send(new ec2.TerminateInstancesCommand({ InstanceIds: [gone] }));
  const term = await isolateInstance(d, { caseId: 'IR-104', instanceId: gone }).catch((err) => err);
  t.ok(term instanceof UsageError);
  t.equal(term.code, 'INSTANCE_TERMINATED');
  t.match(term.message, /is terminated: there is nothing left to contain/);

  // Isolated for another case.
  await c.ec2.send(
    new ec2.CreateTagsCommand({
      Resources: [x.instanceId],
      Tags: [
        { Key: 'cleanroom:case', Value: 'IR-OTHER' },
        { Key: 'cleanroom:quarantine', Value: '2026-01-01T00:00:00.000Z' },
      ],
    }),
  );
  const other = await isolateInstance(d, { caseId: 'IR-104', instanceId: x.instanceId }).catch((err) => err);
  t.ok(other instanceof UsageError);
  t.equal(other.code, 'ISOLATED_FOR_ANOTHER_CASE');
  t.match(other.message, /isolated for case IR-OTHER.*--case IR-OTHER/);

  t.same(rec.events(), []);
  t.equal(await shutdownBehavior(c, x.instanceId), 'terminate', 'nothing changed');
});

t.test(
  'an Auto Scaling group at its minimum: refused before any change (AWS would refuse the detach); --asg-replace detaches and lets it launch a replacement',
  async (t) => {
    // moto 5.2.1 accepts a DetachInstances that takes a group below its minimum; AWS answers
    // ValidationError ("...To detach 1 instance, please update the AutoScalingGroup sizes appropriately").
    const x = await compromisedInstance(c, { minSize: 2, desired: 2 });
    const rec = new MemoryRecorder();
    const e = await isolateInstance(await deps(rec), { caseId: 'IR-105', instanceId: x.instanceId }).catch(
      (err) => err,
    );
    t.ok(e instanceof UsageError);
    t.equal(e.code, 'ASG_AT_MINIMUM');
    t.match(e.message, /min-size=2 and desired-size=2.*--asg-replace/);
    t.same(rec.events(), []);

    const r = await isolateInstance(await deps(rec), { caseId: 'IR-105', instanceId: x.instanceId, asgReplace: true });
    const detach = rec.find(`isolate:${x.instanceId}:leave-asg`)!;
    t.same((detach.inputs!['calls'] as RecordedCall[])[0]!.input.ShouldDecrementDesiredCapacity, false);
    t.equal(r.steps.find((s) => s.step === 'leave-asg')!.status, 'done');
    t.same(
      (await c.asg.send(new asgSdk.DescribeAutoScalingInstancesCommand({ InstanceIds: [x.instanceId] })))
        .AutoScalingInstances,
      [],
    );
  },
);

t.test('--dry-run prints every call in order and changes nothing', async (t) => {
  const x = await compromisedInstance(c);
  const snapshot = async () => ({
    groups: await groupsByInterface(c, [x.primaryEni, x.secondaryEni]),
    shutdown: await shutdownBehavior(c, x.instanceId),
    asg: (await c.asg.send(new asgSdk.DescribeAutoScalingInstancesCommand({ InstanceIds: [x.instanceId] })))
      .AutoScalingInstances!.length,
    tg: (await c.elb.send(new elb.DescribeTargetHealthCommand({ TargetGroupArn: x.targetGroupArn })))
      .TargetHealthDescriptions!.length,
    profile: (
      await c.ec2.send(
        new ec2.DescribeIamInstanceProfileAssociationsCommand({
          Filters: [{ Name: 'instance-id', Values: [x.instanceId] }],
        }),
      )
    ).IamInstanceProfileAssociations![0]!.IamInstanceProfile!.Arn,
    sgs: (await c.ec2.send(new ec2.DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [x.vpcId] }] })))
      .SecurityGroups!.length,
  });
  const before = await snapshot();
  const calls0 = proxy.calls.length;
  const r = await isolateInstance(
    await deps(new MemoryRecorder(), {
      custody: async () => {
        throw new Error('TEST FAILURE: a dry run opened the record');
      },
    }),
    { caseId: 'IR-106', instanceId: x.instanceId, dryRun: true, nacl: true, stop: true },
  );
  t.same(await snapshot(), before, 'nothing changed');
  t.notOk(
    proxy.calls
      .slice(calls0)
      .some((k) => /^(Modify|Create|Authorize|Revoke|Replace|Put|Add|Detach|Deregister|Stop|Terminate)/.test(k.action)),
    'only reads were sent',
  );
  t.equal(r.dryRun, true);
  t.same(
    r.steps.map((s) => [s.step, s.status]),
    [
      ['record-state', 'planned'],
      ['protect', 'planned'],
      ['leave-asg', 'planned'],
      ['leave-target-groups', 'planned'],
      ['leave-classic-lbs', 'planned'],
      ['prepare-groups', 'planned'],
      ['swap-groups', 'planned'],
      ['network-acl', 'planned'],
      ['swap-profile', 'planned'],
      ['revoke-sessions', 'planned'],
      ['tag', 'planned'],
      ['stop', 'planned'],
    ],
  );
  const calls = r.steps.flatMap((s) => s.calls.map((k) => k.call));
  t.same(calls, [
    'ec2:ModifyInstanceAttribute',
    'ec2:ModifyInstanceAttribute',
    'ec2:ModifyInstanceAttribute',
    'autoscaling:DetachInstances',
    'elasticloadbalancing:DeregisterTargets',
    'elasticloadbalancing:DeregisterTargets',
    'elasticloadbalancing:DeregisterInstancesFromLoadBalancer',
    'ec2:CreateSecurityGroup',
    'ec2:AuthorizeSecurityGroupIngress',
    'ec2:AuthorizeSecurityGroupEgress',
    'ec2:CreateSecurityGroup',
    'ec2:DescribeSecurityGroupRules',
    'ec2:RevokeSecurityGroupEgress',
    'ec2:RevokeSecurityGroupIngress',
    'ec2:ModifyNetworkInterfaceAttribute',
    'ec2:ModifyNetworkInterfaceAttribute',
    'ec2:ModifyNetworkInterfaceAttribute',
    'ec2:ModifyNetworkInterfaceAttribute',
    'ec2:CreateNetworkAcl',
    'ec2:ReplaceNetworkAclAssociation',
    'ec2:ReplaceNetworkAclAssociation',
    'iam:CreateRole',
    'iam:PutRolePolicy',
    'iam:CreateInstanceProfile',
    'iam:AddRoleToInstanceProfile',
    'ec2:ReplaceIamInstanceProfileAssociation',
    'iam:PutRolePolicy',
    'ec2:CreateTags',
    'ec2:StopInstances',
  ]);
  const shutdown = r.steps.find((s) => s.step === 'protect')!.calls[1]!;
  t.same(shutdown.input, { InstanceId: x.instanceId, Attribute: 'instanceInitiatedShutdownBehavior', Value: 'stop' });
  const swap = r.steps.find((s) => s.step === 'swap-groups')!.calls;
  t.same(
    swap[0]!.input,
    { NetworkInterfaceId: x.primaryEni, Groups: [`{{untrack group of ${x.vpcId}}}`] },
    'ids not known yet are named',
  );
  t.ok(
    r.warnings.some((w) => /--nacl cuts ALL traffic of the whole subnet.*subnet-.* also holds eni-/.test(w)),
    'the neighbours in the subnet are named',
  );
});

t.test(
  '--nacl: a deny-all network ACL on every subnet of the instance, after asking (the subnet has neighbours)',
  async (t) => {
    const x = await compromisedInstance(c);
    const asked: string[] = [];
    const rec = new MemoryRecorder();
    const r = await isolateInstance(await deps(rec, { approve: async (req) => (asked.push(req.question), true) }), {
      caseId: 'IR-107',
      instanceId: x.instanceId,
      nacl: true,
    });
    t.equal(asked.length, 1);
    t.match(asked[0], new RegExp(`${x.subnetA} also holds .*${x.asgInstances[0]}`));
    const acl = r.networkAclIds[x.vpcId]!;
    t.match(acl, /^acl-/);
    for (const s of [x.subnetA, x.subnetB]) {
      const a = (
        await c.ec2.send(
          new ec2.DescribeNetworkAclsCommand({ Filters: [{ Name: 'association.subnet-id', Values: [s] }] }),
        )
      ).NetworkAcls![0]!;
      t.equal(a.NetworkAclId, acl, `${s} uses the deny-all ACL`);
      t.notOk((a.Entries ?? []).some((e) => e.RuleAction === 'allow'));
    }
    const ev = rec.find(`isolate:${x.instanceId}:network-acl`)!;
    t.same(
      Object.keys(ev.outcome.details!['previousAcls'] as object).sort(),
      [x.subnetA, x.subnetB].sort(),
      'the ACLs before are recorded (to undo)',
    );
    t.same(actions(rec).slice(6, 9), [
      'isolate.swap-groups:succeeded',
      'isolate.network-acl:succeeded',
      'isolate.swap-profile:succeeded',
    ]);

    const declined = await compromisedInstance(c);
    const e = await isolateInstance(await deps(new MemoryRecorder(), { approve: async () => false }), {
      caseId: 'IR-107',
      instanceId: declined.instanceId,
      nacl: true,
    }).catch((err) => err);
    t.equal(e.code, 'ABORTED');
    t.equal(await shutdownBehavior(c, declined.instanceId), 'terminate', 'declining changes nothing');
  },
);

t.test('--stop: stops at the end, after asking, and says its memory is lost', async (t) => {
  const x = await compromisedInstance(c);
  const asked: string[] = [];
  const warned: string[] = [];
  const rec = new MemoryRecorder();
  await isolateInstance(
    await deps(rec, {
      approve: async (req) => (asked.push(req.question), true),
      reporter: { progress() {}, debug() {}, warn: (m) => warned.push(m) },
    }),
    { caseId: 'IR-108', instanceId: x.instanceId, stop: true },
  );
  t.match(asked[0], /LOSES ITS MEMORY/);
  t.ok(warned.some((w) => /LOSES ITS MEMORY/.test(w)));
  const inst = (await c.ec2.send(new ec2.DescribeInstancesCommand({ InstanceIds: [x.instanceId] }))).Reservations![0]!
    .Instances![0]!;
  t.equal(inst.State!.Name, 'stopped');
  t.same(actions(rec).slice(-2), ['isolate.stop:succeeded', 'isolate.complete:succeeded']);
});
