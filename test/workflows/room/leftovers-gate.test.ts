/**
 * What of a room is left in the account (src/workflows/room/leftovers.ts) and the room as other
 * workflows see it (src/workflows/room/gate.ts), on fakes of the EC2 and CloudFormation reads they
 * make (no local AWS): leftovers only outside a live stack, deleted volumes skipped, the evidence
 * attached to an instance told from its own disks; the gate's `describe` and `audit` for a case
 * without a room, a deleted stack and a live one. down.test.ts and gate.test.ts run them on the emulator.
 */
import t from 'tap';
import { TAG_CASE, TAG_EVIDENCE, TAG_ROLE } from '../../../src/domain/tags.js';
import { attachedEvidence, findLeftovers } from '../../../src/workflows/room/leftovers.js';
import { roomGate } from '../../../src/workflows/room/gate.js';
import type { RoomAuditAccount } from '../../../src/workflows/room/audit.js';
import { awsError, out, Calls } from '../../fakes/ports.js';

type LeftoverAccount = Parameters<typeof findLeftovers>[0];
type Filters = Array<{ Name?: string; Values?: string[] }> | undefined;
const filterOf = (f: Filters, name: string) => f?.find((x) => x.Name === name)?.Values;

/** An account's EC2 with a few resources of case IR-7 (and one of IR-8), filtered by tag as EC2 does. */
function leftoverEc2() {
  const calls = new Calls();
  const tags = (c: string, extra: Record<string, string> = {}) => [
    { Key: TAG_CASE, Value: c },
    ...Object.entries(extra).map(([Key, Value]) => ({ Key, Value })),
  ];
  const byCase = <T extends { Tags?: Array<{ Key?: string; Value?: string }> }>(items: T[], f: Filters) => {
    const c = filterOf(f, `tag:${TAG_CASE}`);
    const key = filterOf(f, 'tag-key');
    return items.filter(
      (x) =>
        (!c || x.Tags?.some((tg) => tg.Key === TAG_CASE && c.includes(tg.Value!))) &&
        (!key || x.Tags?.some((tg) => key.includes(tg.Key!))),
    );
  };
  const volumes = [
    {
      VolumeId: 'vol-ev1',
      State: 'in-use' as const,
      Tags: tags('IR-7', { [TAG_EVIDENCE]: 'ev-1' }),
      Attachments: [{ InstanceId: 'i-room', State: 'attached' as const }],
    },
    {
      VolumeId: 'vol-ev2',
      State: 'available' as const,
      Tags: tags('IR-7', { [TAG_EVIDENCE]: 'ev-2' }),
      Attachments: [],
    },
    { VolumeId: 'vol-gone', State: 'deleting' as const, Tags: tags('IR-7', { [TAG_EVIDENCE]: 'ev-3' }) },
    { VolumeId: 'vol-root', State: 'in-use' as const, Tags: tags('IR-7', { [TAG_ROLE]: 'forensic-root-volume' }) },
    { VolumeId: 'vol-other', State: 'available' as const, Tags: tags('IR-8', { [TAG_EVIDENCE]: 'ev-9' }) },
    { VolumeId: 'vol-scratch', State: 'in-use' as const, Tags: tags('IR-7') },
  ];
  const instance = {
    InstanceId: 'i-room',
    State: { Name: 'running' as const },
    RootDeviceName: '/dev/xvda',
    Tags: tags('IR-7'),
    BlockDeviceMappings: [
      {
        DeviceName: '/dev/xvda',
        Ebs: { VolumeId: 'vol-root', Status: 'attached' as const, DeleteOnTermination: true },
      },
      {
        DeviceName: '/dev/sdf',
        Ebs: {
          VolumeId: 'vol-ev1',
          Status: 'attached' as const,
          DeleteOnTermination: false,
          AttachTime: new Date('2026-12-01T10:00:00Z'),
        },
      },
      {
        DeviceName: '/dev/sdg',
        Ebs: { VolumeId: 'vol-scratch', Status: 'attached' as const, DeleteOnTermination: true },
      },
      { DeviceName: '/dev/sdh', Ebs: { VolumeId: 'vol-ev2', Status: 'detached' as const } },
    ],
  };
  const ec2: LeftoverAccount['ec2'] = {
    describeVpcs: async (i) => (
      calls.add('describeVpcs', i), out({ Vpcs: byCase([{ VpcId: 'vpc-1', Tags: tags('IR-7') }], i.Filters) })
    ),
    describeSubnets: async (i) => (
      calls.add('describeSubnets', i),
      out({ Subnets: byCase([{ SubnetId: 'subnet-1', Tags: tags('IR-7') }], i.Filters) })
    ),
    describeSecurityGroups: async (i) => (
      calls.add('describeSecurityGroups', i),
      out({
        SecurityGroups: byCase(
          [
            { GroupId: 'sg-1', Tags: tags('IR-7') },
            { GroupId: 'sg-8', Tags: tags('IR-8') },
          ],
          i.Filters,
        ),
      })
    ),
    describeInstances: async (i) => {
      calls.add('describeInstances', i);
      if (i.InstanceIds)
        return out({ Reservations: i.InstanceIds.includes(instance.InstanceId) ? [{ Instances: [instance] }] : [] });
      return out({
        Reservations: [
          {
            Instances: byCase([instance], i.Filters).filter((x) =>
              filterOf(i.Filters, 'instance-state-name')!.includes(x.State.Name),
            ),
          },
        ],
      });
    },
    describeNetworkInterfaces: async (i) => (
      calls.add('describeNetworkInterfaces', i),
      out({ NetworkInterfaces: byCase([{ NetworkInterfaceId: 'eni-1', TagSet: [], Tags: tags('IR-7') }], i.Filters) })
    ),
    describeVolumes: async (i) => (
      calls.add('describeVolumes', i),
      out({
        Volumes: i.VolumeIds ? volumes.filter((v) => i.VolumeIds!.includes(v.VolumeId)) : byCase(volumes, i.Filters),
      })
    ),
  };
  return { ec2, calls, instance };
}

t.test('with a live stack only the evidence volumes and the kept log group are left over', async (t) => {
  const f = leftoverEc2();
  const l = await findLeftovers({ ec2: f.ec2 }, 'IR-7', {
    stackGone: false,
    flowLogGroupName: '/cleanroom/IR-7/flow-logs',
  });
  t.same(
    l.map((x) => [x.kind, x.id]),
    [
      ['evidence-volume', 'vol-ev1'],
      ['evidence-volume', 'vol-ev2'],
      ['log-group', '/cleanroom/IR-7/flow-logs'],
    ],
    'a deleting volume and another case’s are not listed',
  );
  t.match(l[0]!.why, /working volume of evidence ev-1, attached to i-room; kept: `case close` deletes it/);
  t.match(l[1]!.why, /evidence ev-2, detached/);
  t.match(l[2]!.why, /kept on purpose \(DeletionPolicy Retain\)/);
  t.same(
    f.calls.list.map((c) => c.op),
    ['describeVolumes'],
    'the stack’s own resources are not looked for',
  );
});

t.test('with the stack gone, everything still tagged with the case is named', async (t) => {
  const f = leftoverEc2();
  const l = await findLeftovers({ ec2: f.ec2 }, 'IR-7', { stackGone: true });
  t.same(
    l.map((x) => [x.kind, x.id]),
    [
      ['vpc', 'vpc-1'],
      ['subnet', 'subnet-1'],
      ['security-group', 'sg-1'],
      ['instance', 'i-room'],
      ['network-interface', 'eni-1'],
      ['evidence-volume', 'vol-ev1'],
      ['evidence-volume', 'vol-ev2'],
    ],
  );
  t.match(
    l.find((x) => x.kind === 'instance')!.why,
    /^running: tagged with the case but not deleted with the room stack/,
  );
  t.same(
    filterOf(f.calls.of<{ Filters: Filters }>('describeInstances')[0]!.Filters, 'instance-state-name'),
    ['pending', 'running', 'stopping', 'stopped'],
    'terminated instances are not leftovers',
  );
  f.instance.State = { Name: 'terminated' } as never;
  t.notOk((await findLeftovers({ ec2: f.ec2 }, 'IR-7', { stackGone: true })).some((x) => x.kind === 'instance'));
});

t.test('the evidence attached to an instance: tagged evidence and foreign disks, never its own disks', async (t) => {
  const f = leftoverEc2();
  t.same(
    await attachedEvidence({ ec2: f.ec2 }, 'i-room'),
    [{ volumeId: 'vol-ev1', evidenceId: 'ev-1', device: '/dev/sdf', attachTime: '2026-12-01T10:00:00.000Z' }],
    'the root, the tagged root volume, a DeleteOnTermination disk and a detached one are not evidence',
  );
  f.instance.BlockDeviceMappings[2]!.Ebs.DeleteOnTermination = false;
  t.same(
    (await attachedEvidence({ ec2: f.ec2 }, 'i-room')).map((x) => x.volumeId),
    ['vol-ev1', 'vol-scratch'],
    'a disk attached by hand that does not go with the instance is shown',
  );
  t.same(await attachedEvidence({ ec2: f.ec2 }, 'i-none'), []);
  f.instance.State = { Name: 'terminated' } as never;
  t.same(await attachedEvidence({ ec2: f.ec2 }, 'i-room'), []);
});

/** CloudFormation with at most one stack, and an EC2 that sees nothing (a room whose resources are gone). */
function gateAccount(
  stack?: { StackStatus: string; outputs?: Record<string, string> },
  fail?: Error,
): RoomAuditAccount & { calls: Calls } {
  const calls = new Calls();
  const nothing = async (i: unknown) => (calls.add('ec2', i), out<{ $metadata: object }>({}));
  return {
    calls,
    region: 'us-east-1',
    cfn: {
      describeStacks: async (i) => {
        calls.add('describeStacks', i);
        if (fail) throw fail;
        if (!stack)
          throw awsError(
            'cloudformation',
            'describeStacks',
            'ValidationError',
            `Stack with id ${i.StackName} does not exist`,
          );
        return out({
          Stacks: [
            {
              StackName: i.StackName!,
              StackId: `arn:aws:cloudformation:us-east-1:123456789012:stack/${i.StackName}/1`,
              StackStatus: stack.StackStatus as never,
              CreationTime: new Date(0),
              Outputs: Object.entries(stack.outputs ?? {}).map(([OutputKey, OutputValue]) => ({
                OutputKey,
                OutputValue,
              })),
            },
          ],
        });
      },
    },
    ec2: {
      describeSubnets: nothing,
      describeInstances: nothing,
      describeInternetGateways: nothing,
      describeNatGateways: nothing,
      describeEgressOnlyInternetGateways: nothing,
      describeVpcPeeringConnections: nothing,
      describeTransitGatewayVpcAttachments: nothing,
      describeVpnGateways: nothing,
      describeCarrierGateways: nothing,
      describeRouteTables: nothing,
      describeVpcEndpoints: nothing,
      describeNetworkInterfaces: nothing,
      describeNetworkAcls: nothing,
      describeFlowLogs: nothing,
      describeSecurityGroupRules: nothing,
      describeVolumes: nothing,
    },
    ssm: {
      getDocument: async (i) => {
        calls.add('getDocument', i);
        throw awsError('ssm', 'getDocument', 'InvalidDocument', 'The specified document does not exist.');
      },
    },
  };
}

t.test('the gate of a case without a room: no description, an audit that fails on room.exists only', async (t) => {
  for (const account of [gateAccount(), gateAccount({ StackStatus: 'DELETE_COMPLETE' })]) {
    const gate = roomGate(account);
    t.equal(await gate.describe('IR-7'), undefined);
    const a = await gate.audit('IR-7');
    t.same(Object.keys(a).sort(), ['checks', 'ok']);
    t.same(
      a.checks.map((c) => [c.id, c.ok, c.severity]),
      [['room.exists', false, 'critical']],
    );
    t.match(
      a.checks[0]!.detail,
      /case IR-7 has no room: there is no stack cleanroom-IR-7 in us-east-1\. Run `cleanroom room up --case IR-7`/,
    );
    t.same(account.calls.of('describeStacks'), [{ StackName: 'cleanroom-IR-7' }, { StackName: 'cleanroom-IR-7' }]);
  }
});

t.test(
  'the gate of a live room: described from the stack outputs; its audit fails by name when the room’s resources are gone',
  async (t) => {
    const account = gateAccount({
      StackStatus: 'UPDATE_COMPLETE',
      outputs: {
        VpcId: 'vpc-1',
        SubnetId: 'subnet-1',
        AvailabilityZone: 'us-east-1b',
        InstanceId: 'i-room',
        ForensicsSecurityGroupId: 'sg-f',
      },
    });
    const gate = roomGate(account);
    t.match(await gate.describe('IR-7'), {
      case: 'IR-7',
      stackName: 'cleanroom-IR-7',
      stackStatus: 'UPDATE_COMPLETE',
      vpcId: 'vpc-1',
      subnetId: 'subnet-1',
      availabilityZone: 'us-east-1b',
      instanceId: 'i-room',
      forensicsSecurityGroupId: 'sg-f',
    });
    const a = await gate.audit('IR-7');
    t.equal(a.ok, false);
    t.same(Object.keys(a).sort(), ['checks', 'ok'], 'the gate passes on the verdict and the checks only');
    t.ok(
      a.checks.some((c) => !c.ok && c.severity === 'critical'),
      'a critical check fails',
    );
    t.ok(a.checks.every((c) => typeof c.id === 'string' && c.detail.length > 0));
  },
);

t.test('a CloudFormation error other than "does not exist" is not "no room"', async (t) => {
  const account = gateAccount(undefined, awsError('cloudformation', 'describeStacks', 'Throttling', 'Rate exceeded'));
  await t.rejects(roomGate(account).describe('IR-7'), { code: 'AWS_Throttling' });
  await t.rejects(roomGate(account).audit('IR-7'), { code: 'AWS_Throttling' });
});
