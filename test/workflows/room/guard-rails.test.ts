/**
 * The guard rails `room up` restores (src/workflows/room/guard-rails.ts, with rules.ts `liveRules`)
 * on a fake EC2 that keeps security group rules, one instance's network interfaces and its
 * metadata options (no local AWS): undeclared rules revoked by rule id (on every listing page),
 * a missing declared rule added, interfaces put back in the room's groups, IMDSv2 required —
 * each correction warned and recorded in custody; a correction that fails is recorded as failed
 * and the others still run. up.test.ts covers the same on the emulator's own drift.
 */
import t from 'tap';
import { MemoryRecorder } from '../../../src/domain/recorder.js';
import {
  REQUIRED_METADATA,
  reconcileGuardRails,
  type GuardRailAccount,
} from '../../../src/workflows/room/guard-rails.js';
import { NO_TRAFFIC, declaredGroups, type LiveRule } from '../../../src/workflows/room/rules.js';
import type { RoomStack } from '../../../src/resources/stacks.js';
import { IDENTITY, awsError, out, Calls, Faults } from '../../fakes/ports.js';

const IDS = { forensics: 'sg-forensics', access: 'sg-access', endpoint: 'sg-endpoint', s3PrefixList: 'pl-s3' };
const INSTANCE = 'i-0room';

const stack = (over: Partial<RoomStack> = {}): RoomStack => ({
  stackName: 'cleanroom-IR-7',
  stackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/cleanroom-IR-7/1',
  status: 'CREATE_COMPLETE',
  parameters: { S3PrefixListId: IDS.s3PrefixList },
  outputs: {
    ForensicsSecurityGroupId: IDS.forensics,
    AccessSecurityGroupId: IDS.access,
    EndpointSecurityGroupId: IDS.endpoint,
    InstanceId: INSTANCE,
  },
  tags: {},
  ...over,
});

type Instance = {
  InstanceId: string;
  State: { Name: string };
  NetworkInterfaces: Array<{ NetworkInterfaceId: string; Groups: Array<{ GroupId: string }> }>;
  MetadataOptions: { HttpTokens?: string; HttpPutResponseHopLimit?: number; HttpEndpoint?: string };
};

/** A room as declared: the declared rules (and the no-traffic placeholder), one interface in the forensics and access groups, IMDSv2. */
function fakeEc2(pageSize = 1000) {
  let n = 0;
  const rules = new Map<string, LiveRule>();
  const add = (groupId: string, r: Omit<LiveRule, 'GroupId' | 'SecurityGroupRuleId'>) => {
    const id = `sgr-${String(++n).padStart(3, '0')}`;
    rules.set(id, { SecurityGroupRuleId: id, GroupId: groupId, ...r });
    return id;
  };
  for (const g of declaredGroups(IDS)) {
    for (const r of g.rules) {
      const peer =
        r.peer.kind === 'prefix-list'
          ? { PrefixListId: r.peer.id }
          : r.peer.kind === 'group'
            ? { ReferencedGroupInfo: { GroupId: r.peer.id } }
            : r.peer.kind === 'cidr6'
              ? { CidrIpv6: r.peer.id }
              : { CidrIpv4: r.peer.id };
      add(g.groupId, {
        IsEgress: r.direction === 'egress',
        IpProtocol: r.protocol,
        FromPort: r.fromPort,
        ToPort: r.toPort,
        ...peer,
      });
    }
  }
  add(IDS.forensics, {
    IsEgress: true,
    IpProtocol: NO_TRAFFIC.protocol,
    FromPort: NO_TRAFFIC.fromPort,
    ToPort: NO_TRAFFIC.toPort,
    CidrIpv4: NO_TRAFFIC.peer.id,
  });
  const instance: Instance = {
    InstanceId: INSTANCE,
    State: { Name: 'running' },
    NetworkInterfaces: [{ NetworkInterfaceId: 'eni-1', Groups: [{ GroupId: IDS.access }, { GroupId: IDS.forensics }] }],
    MetadataOptions: { ...REQUIRED_METADATA },
  };
  const calls = new Calls();
  const faults = new Faults();
  const call = (op: string, i: unknown) => (calls.add(op, i), faults.check(op, i));
  const authorize =
    (egress: boolean) =>
    async (i: {
      GroupId?: string;
      IpPermissions?: Array<{
        IpProtocol?: string;
        FromPort?: number;
        ToPort?: number;
        PrefixListIds?: Array<{ PrefixListId?: string }>;
        UserIdGroupPairs?: Array<{ GroupId?: string }>;
      }>;
    }) => {
      const ids = (i.IpPermissions ?? []).map((p) =>
        add(i.GroupId!, {
          IsEgress: egress,
          IpProtocol: p.IpProtocol!,
          FromPort: p.FromPort!,
          ToPort: p.ToPort!,
          ...(p.PrefixListIds ? { PrefixListId: p.PrefixListIds[0]!.PrefixListId! } : {}),
          ...(p.UserIdGroupPairs ? { ReferencedGroupInfo: { GroupId: p.UserIdGroupPairs[0]!.GroupId! } } : {}),
        }),
      );
      return ids.map((SecurityGroupRuleId) => ({ SecurityGroupRuleId }));
    };
  const revoke = (egress: boolean) => async (i: { GroupId?: string; SecurityGroupRuleIds?: string[] }) => {
    for (const id of i.SecurityGroupRuleIds ?? []) {
      const r = rules.get(id);
      if (!r || r.GroupId !== i.GroupId || !!r.IsEgress !== egress)
        throw awsError(
          'ec2',
          egress ? 'revokeSecurityGroupEgress' : 'revokeSecurityGroupIngress',
          'InvalidSecurityGroupRuleId.NotFound',
        );
    }
    for (const id of i.SecurityGroupRuleIds ?? []) rules.delete(id);
  };
  const ec2: GuardRailAccount['ec2'] = {
    describeSecurityGroupRules: async (i) => {
      call('describeSecurityGroupRules', i);
      const groups = i.Filters?.find((f) => f.Name === 'group-id')?.Values ?? [];
      const all = [...rules.values()].filter((r) => groups.includes(r.GroupId!));
      const start = Number(i.NextToken ?? 0);
      const next = start + pageSize < all.length ? String(start + pageSize) : undefined;
      return out({ SecurityGroupRules: all.slice(start, start + pageSize), ...(next ? { NextToken: next } : {}) });
    },
    revokeSecurityGroupEgress: async (i) => (
      call('revokeSecurityGroupEgress', i), await revoke(true)(i), out({ Return: true })
    ),
    revokeSecurityGroupIngress: async (i) => (
      call('revokeSecurityGroupIngress', i), await revoke(false)(i), out({ Return: true })
    ),
    authorizeSecurityGroupEgress: async (i) => (
      call('authorizeSecurityGroupEgress', i), out({ Return: true, SecurityGroupRules: await authorize(true)(i) })
    ),
    authorizeSecurityGroupIngress: async (i) => (
      call('authorizeSecurityGroupIngress', i), out({ Return: true, SecurityGroupRules: await authorize(false)(i) })
    ),
    describeInstances: async (i) => (
      call('describeInstances', i), out({ Reservations: [{ Instances: [structuredClone(instance) as never] }] })
    ),
    modifyNetworkInterfaceAttribute: async (i) => {
      call('modifyNetworkInterfaceAttribute', i);
      instance.NetworkInterfaces.find((x) => x.NetworkInterfaceId === i.NetworkInterfaceId)!.Groups = (
        i.Groups ?? []
      ).map((GroupId) => ({ GroupId }));
      return out({});
    },
    modifyInstanceMetadataOptions: async (i) => {
      call('modifyInstanceMetadataOptions', i);
      instance.MetadataOptions = {
        HttpTokens: i.HttpTokens!,
        HttpPutResponseHopLimit: i.HttpPutResponseHopLimit!,
        HttpEndpoint: i.HttpEndpoint!,
      };
      return out({});
    },
  };
  const account: GuardRailAccount = { ...IDENTITY, ec2 };
  const changes = () => calls.list.filter((c) => !c.op.startsWith('describe')).map((c) => c.op);
  return { account, rules, instance, calls, faults, add, changes };
}

function deps() {
  const custody = new MemoryRecorder();
  const warnings: string[] = [];
  return { custody, warnings, reporter: { progress() {}, debug() {}, warn: (m: string) => void warnings.push(m) } };
}

t.test('a room as declared: nothing to correct, nothing recorded', async (t) => {
  const f = fakeEc2();
  const d = deps();
  t.same(await reconcileGuardRails(f.account, 'IR-7', stack(), d), []);
  t.same(f.changes(), []);
  t.same(d.custody.events(), []);
  t.same(d.warnings, []);
});

t.test('allow-all egress added to a group is revoked by rule id — also from the second listing page', async (t) => {
  const f = fakeEc2(2);
  const v4 = f.add(IDS.forensics, {
    IsEgress: true,
    IpProtocol: '-1',
    FromPort: -1,
    ToPort: -1,
    CidrIpv4: '0.0.0.0/0',
  });
  const v6 = f.add(IDS.forensics, { IsEgress: true, IpProtocol: '-1', FromPort: -1, ToPort: -1, CidrIpv6: '::/0' });
  const ssh = f.add(IDS.endpoint, {
    IsEgress: false,
    IpProtocol: '6',
    FromPort: 22,
    ToPort: 22,
    CidrIpv4: '203.0.113.9/32',
  });
  const d = deps();
  const c = await reconcileGuardRails(f.account, 'IR-7', stack(), d);
  t.same(
    c.map((x) => [x.kind, x.resource, x.ok]),
    [
      ['revoke-rules', `forensics group ${IDS.forensics}`, true],
      ['revoke-rules', `endpoint group ${IDS.endpoint}`, true],
    ],
  );
  t.match(
    c[0]!.found,
    /undeclared egress rule\(s\): egress all traffic to 0.0.0.0\/0 \(sgr-\d+\); egress all traffic to ::\/0/,
  );
  t.same(
    f.calls.of('revokeSecurityGroupEgress'),
    [{ GroupId: IDS.forensics, SecurityGroupRuleIds: [v4, v6] }],
    'one call per group and direction, by rule id',
  );
  t.same(
    f.calls.of('revokeSecurityGroupIngress'),
    [{ GroupId: IDS.endpoint, SecurityGroupRuleIds: [ssh] }],
    'the ingress rule was on the last listing page',
  );
  t.ok(f.calls.of('describeSecurityGroupRules').length >= 4, 'every page was read');
  t.notOk([...f.rules.values()].some((r) => [v4, v6, ssh].includes(r.SecurityGroupRuleId!)));
  const evs = d.custody.events();
  t.same(
    evs.map((e) => [e.action, e.outcome.status, e.idempotencyKey]),
    [
      ['room.guard-rail.revoke-rules', 'succeeded', `room:revoke:${IDS.forensics}:${v4},${v6}`],
      ['room.guard-rail.revoke-rules', 'succeeded', `room:revoke:${IDS.endpoint}:${ssh}`],
    ],
  );
  t.same(
    evs[0]!.resources.map((r) => [r.type, r.id, r.account, r.region]),
    [
      ['ec2:security-group', IDS.forensics, '123456789012', 'us-east-1'],
      ['ec2:security-group-rule', v4, '123456789012', 'us-east-1'],
      ['ec2:security-group-rule', v6, '123456789012', 'us-east-1'],
    ],
  );
  t.match(d.warnings, [
    /guard rail restored on forensics group sg-forensics: .* → revoked by rule id/,
    /guard rail restored on endpoint group/,
  ]);
  t.same(await reconcileGuardRails(f.account, 'IR-7', stack(), deps()), [], 'a second run finds nothing');
});

t.test('a declared rule that is missing is added, and the new rule id is reported', async (t) => {
  const f = fakeEc2();
  const s3Rule = [...f.rules.values()].find((r) => r.PrefixListId === IDS.s3PrefixList)!;
  f.rules.delete(s3Rule.SecurityGroupRuleId!);
  const d = deps();
  const c = await reconcileGuardRails(f.account, 'IR-7', stack(), d);
  t.equal(c.length, 1);
  t.match(c[0], {
    kind: 'authorize-rules',
    resource: `access group ${IDS.access}`,
    found: 'declared rule missing: egress tcp 443 to pl-s3',
    ok: true,
  });
  t.match(c[0]!.now, /^added \(sgr-\d+\)$/);
  t.same(f.calls.of('authorizeSecurityGroupEgress'), [
    {
      GroupId: IDS.access,
      IpPermissions: [
        {
          IpProtocol: 'tcp',
          FromPort: 443,
          ToPort: 443,
          PrefixListIds: [
            {
              PrefixListId: IDS.s3PrefixList,
              Description: 'HTTPS to S3 through the gateway endpoint (the evidence vault)',
            },
          ],
        },
      ],
    },
  ]);
  t.same(
    d.custody.events().map((e) => [e.action, e.outcome.status]),
    [['room.guard-rail.authorize-rules', 'succeeded']],
  );
});

t.test('network interfaces back in the room’s groups; IMDSv2 required with hop limit 1', async (t) => {
  const f = fakeEc2();
  f.instance.NetworkInterfaces[0]!.Groups = [{ GroupId: 'sg-default' }];
  f.instance.MetadataOptions = { HttpTokens: 'optional', HttpPutResponseHopLimit: 2, HttpEndpoint: 'enabled' };
  const d = deps();
  const c = await reconcileGuardRails(f.account, 'IR-7', stack(), d);
  t.same(
    c.map((x) => [x.kind, x.found, x.ok]),
    [
      ['instance-groups', 'in sg-default', true],
      ['imds', 'HttpTokens optional, hop limit 2, endpoint enabled', true],
    ],
  );
  t.same(f.calls.of('modifyNetworkInterfaceAttribute'), [
    { NetworkInterfaceId: 'eni-1', Groups: [IDS.forensics, IDS.access] },
  ]);
  t.same(f.calls.of('modifyInstanceMetadataOptions'), [{ InstanceId: INSTANCE, ...REQUIRED_METADATA }]);
  t.same(f.instance.MetadataOptions, REQUIRED_METADATA);
  t.same(
    d.custody.events().map((e) => [e.action, e.idempotencyKey]),
    [
      ['room.guard-rail.instance-groups', undefined],
      ['room.guard-rail.imds', undefined],
    ],
  );
  t.match(d.custody.events()[1]!.outcome.details, {
    before: { HttpTokens: 'optional', HttpPutResponseHopLimit: 2 },
    after: REQUIRED_METADATA,
  });
});

t.test('a correction that fails is recorded as failed, warned, and the others still run', async (t) => {
  const f = fakeEc2();
  const v4 = f.add(IDS.access, { IsEgress: true, IpProtocol: '-1', FromPort: -1, ToPort: -1, CidrIpv4: '0.0.0.0/0' });
  f.instance.MetadataOptions = { HttpTokens: 'optional', HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled' };
  f.faults.set('revokeSecurityGroupEgress', () =>
    awsError(
      'ec2',
      'revokeSecurityGroupEgress',
      'UnauthorizedOperation',
      'You are not authorized to perform this operation.',
      403,
    ),
  );
  const d = deps();
  const c = await reconcileGuardRails(f.account, 'IR-7', stack(), d);
  t.same(
    c.map((x) => [x.kind, x.ok]),
    [
      ['revoke-rules', false],
      ['imds', true],
    ],
  );
  t.match(
    c[0]!.error,
    /Access denied for ec2 revokeSecurityGroupEgress: the caller lacks the permission ec2:RevokeSecurityGroupEgress/,
  );
  const [failed, imds] = d.custody.events();
  t.match(failed, {
    action: 'room.guard-rail.revoke-rules',
    idempotencyKey: `room:revoke:${IDS.access}:${v4}:failed`,
    outcome: { status: 'failed', error: { code: 'GUARD_RAIL_FAILED' } },
  });
  t.match(imds, { action: 'room.guard-rail.imds', outcome: { status: 'succeeded' } });
  t.match(d.warnings[0], /^guard rail NOT restored on access group sg-access: .* — Access denied/);
  t.ok(f.rules.has(v4), 'the rule is still there (the audit that follows fails by name)');
});

t.test('a room without its outputs, or without a live instance, is an error before any change', async (t) => {
  const f = fakeEc2();
  await t.rejects(reconcileGuardRails(f.account, 'IR-7', stack({ outputs: { InstanceId: INSTANCE } }), deps()), {
    code: 'ROOM_OUTPUTS_MISSING',
    details: { stackName: 'cleanroom-IR-7' },
  });
  await t.rejects(
    reconcileGuardRails(f.account, 'IR-7', stack({ parameters: {} }), deps()),
    { code: 'ROOM_OUTPUTS_MISSING' },
    'the S3 prefix list parameter too',
  );
  t.same(f.calls.list, [], 'no AWS call');
  for (const state of ['terminated', 'shutting-down']) {
    f.instance.State.Name = state;
    await t.rejects(reconcileGuardRails(f.account, 'IR-7', stack(), deps()), {
      code: 'ROOM_INSTANCE_GONE',
      message: new RegExp(`i-0room of cleanroom-IR-7 is ${state}.*room down --case IR-7.*room up --case IR-7`),
    });
  }
  t.same(f.changes(), []);
});
