/**
 * `cleanroom isolate` end to end, as a responder runs it: `vault init` in the forensic account
 * (123456789012), then `isolate` as a child process (`node dist/cli/bin.js`) on a compromised
 * instance in the source account (111111111111, reached with --source-role-arn), against the local
 * AWS. Asserted as a user would notice: exit codes, the JSON document, stderr, the resulting AWS
 * state, and the custody record in the vault (read back with `openCaseCustody`).
 *
 * Emulator notes: see test/workflows/isolate/isolate-aws.test.ts (ENI groups fidelity patch, IAM
 * not enforced — missing permissions come from the fault proxy).
 */
import t from 'tap';
import * as ec2 from '@aws-sdk/client-ec2';
import * as asgSdk from '@aws-sdk/client-auto-scaling';
import * as elb from '@aws-sdk/client-elastic-load-balancing-v2';
import * as iam from '@aws-sdk/client-iam';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { openCaseCustody } from '../../src/custody/case-custody.js';
import { S3Client, GetObjectCommand } from '@aws-sdk/client-s3';
import { VAULT, account, cli } from '../custody/helpers.js';
import {
  SOURCE_ROLE,
  compromisedInstance,
  groupsByInterface,
  shutdownBehavior,
  sourceClients,
} from '../workflows/isolate/fixture.js';

const aws = await useLocalAws(t);
const c = sourceClients(aws.endpoint);
const SRC = ['--source-role-arn', SOURCE_ROLE];
const events = async (caseId: string) => (await openCaseCustody(await account(), { caseId })).events();

t.test(
  'vault init, then isolate: exit 0, the JSON document, AWS state, the custody record; a rerun says it is already isolated',
  async (t) => {
    const init = await cli(aws, ['vault', 'init', '--json']);
    t.equal(init.code, 0, init.stderr);
    const x = await compromisedInstance(c, { desired: 2 });

    const run = await cli(aws, ['isolate', '--case', 'IR-200', '--instance', x.instanceId, ...SRC, '--json']);
    t.equal(run.code, 0, run.stderr);
    const doc = run.json();
    t.equal(doc.case, 'IR-200');
    t.equal(doc.instanceId, x.instanceId);
    t.equal(doc.sourceAccount, '111111111111');
    t.equal(doc.region, 'us-east-1');
    t.equal(doc.dryRun, false);
    t.equal(doc.alreadyIsolated, false);
    t.same(
      doc.steps.map((s: any) => [s.step, s.status]),
      [
        ['record-state', 'done'],
        ['protect', 'done'],
        ['leave-asg', 'done'],
        ['leave-target-groups', 'done'],
        ['leave-classic-lbs', 'done'],
        ['prepare-groups', 'done'],
        ['swap-groups', 'done'],
        ['swap-profile', 'done'],
        ['revoke-sessions', 'done'],
        ['tag', 'done'],
      ],
    );
    t.ok(doc.steps.every((s: any) => typeof s.detail === 'string' && s.detail.length > 0));
    const iso = doc.isolationGroupIds[x.vpcId];
    t.match(iso, /^sg-/);
    t.match(doc.quarantineProfileArn, /^arn:aws:iam::111111111111:instance-profile\/cleanroom-quarantine-IR-200$/);
    t.match(doc.sessionsRevokedBefore, /^\d{4}-\d\d-\d\dT/);
    t.same(
      doc.previousState.interfaces.map((n: any) => n.groupIds),
      [[x.appGroup], [x.mgmtGroup]],
    );
    t.equal(doc.previousState.asg.name, x.asgName);
    t.match(
      run.stderr,
      /Record the state of the instance[\s\S]*Protect the evidence[\s\S]*Cut the network on every interface/,
      'progress on stderr',
    );

    // AWS state.
    t.same(await groupsByInterface(c, [x.primaryEni, x.secondaryEni]), {
      [x.primaryEni]: [iso],
      [x.secondaryEni]: [iso],
    });
    t.same(
      (await c.ec2.send(new ec2.DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [iso] }] })))
        .SecurityGroupRules,
      [],
    );
    t.equal(await shutdownBehavior(c, x.instanceId), 'stop');
    const inst = (await c.ec2.send(new ec2.DescribeInstancesCommand({ InstanceIds: [x.instanceId] }))).Reservations![0]!
      .Instances![0]!;
    t.same(
      inst.BlockDeviceMappings!.map((m) => m.Ebs!.DeleteOnTermination),
      [false, false],
    );
    t.equal(Object.fromEntries(inst.Tags!.map((q) => [q.Key, q.Value]))['cleanroom:case'], 'IR-200');
    t.equal(
      (
        await c.ec2.send(
          new ec2.DescribeInstanceAttributeCommand({ InstanceId: x.instanceId, Attribute: 'disableApiTermination' }),
        )
      ).DisableApiTermination?.Value,
      true,
    );
    t.same(
      (await c.asg.send(new asgSdk.DescribeAutoScalingInstancesCommand({ InstanceIds: [x.instanceId] })))
        .AutoScalingInstances,
      [],
    );
    t.same(
      (await c.elb.send(new elb.DescribeTargetHealthCommand({ TargetGroupArn: x.targetGroupArn })))
        .TargetHealthDescriptions,
      [],
    );
    const assoc = (
      await c.ec2.send(
        new ec2.DescribeIamInstanceProfileAssociationsCommand({
          Filters: [{ Name: 'instance-id', Values: [x.instanceId] }],
        }),
      )
    ).IamInstanceProfileAssociations!;
    t.equal(assoc[0]!.IamInstanceProfile!.Arn, doc.quarantineProfileArn);
    const rp = await c.iam.send(
      new iam.GetRolePolicyCommand({ RoleName: x.roleName, PolicyName: 'AWSRevokeOlderSessions' }),
    );
    t.equal(
      JSON.parse(decodeURIComponent(rp.PolicyDocument!)).Statement.Condition.DateLessThan['aws:TokenIssueTime'],
      doc.sessionsRevokedBefore,
    );

    // What it shares with other cases' writers, it held vault-wide (its lease covers the case's own).
    for (const key of [
      `locks/111111111111/us-east-1/asg/${x.asgName}.json`,
      `locks/111111111111/global/role/${x.roleName}.json`,
    ]) {
      const lock = await new S3Client({ region: 'us-east-1' }).send(new GetObjectCommand({ Bucket: VAULT, Key: key }));
      t.match(
        JSON.parse(await lock.Body!.transformToString()),
        { case: 'IR-200', command: 'isolate', released: true },
        key,
      );
    }

    // The custody record in the forensic account's vault.
    const ev = await events('IR-200');
    t.same(
      ev.map((e) => e.action),
      [
        'isolate.record-state',
        'isolate.protect',
        'isolate.leave-asg',
        'isolate.leave-target-groups',
        'isolate.leave-classic-lbs',
        'isolate.prepare-groups',
        'isolate.swap-groups',
        'isolate.swap-profile',
        'isolate.revoke-sessions',
        'isolate.tag',
        'isolate.complete',
      ],
    );
    t.same(
      doc.steps.map((s: any) => s.seq),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      'each step names its custody event',
    );
    t.ok(
      ev.every((e) => e.resources.length > 0 && e.resources.every((r) => r.account === '111111111111')),
      'every event names what it touched, in the source account',
    );
    t.same(ev[0]!.resources, [
      { type: 'ec2:instance', id: x.instanceId, account: '111111111111', region: 'us-east-1' },
    ]);
    t.same(
      ev
        .find((e) => e.action === 'isolate.prepare-groups')!
        .resources.filter((r) => r.type === 'ec2:security-group')
        .map((r) => r.id)
        .sort(),
      [iso, doc.transitGroupIds[x.vpcId]].sort(),
      'the groups it created',
    );
    t.match(ev[0]!.actor, /123456789012/, 'the actor is the responder in the forensic account');

    // Again: a no-op that says so.
    const again = await cli(aws, ['isolate', '--case', 'IR-200', '--instance', x.instanceId, ...SRC]);
    t.equal(again.code, 0, again.stderr);
    t.match(
      again.stdout,
      new RegExp(
        `${x.instanceId} \\(account 111111111111, us-east-1\\) is already isolated for case IR-200 \\(since .*\\): nothing changed, nothing recorded`,
      ),
    );
    t.equal((await events('IR-200')).length, ev.length, 'no new event');
  },
);

t.test(
  '--dry-run: the plan in order, nothing changed, nothing recorded (works before any vault question)',
  async (t) => {
    const x = await compromisedInstance(c);
    const r = await cli(aws, [
      'isolate',
      '--case',
      'IR-201',
      '--instance',
      x.instanceId,
      ...SRC,
      '--dry-run',
      '--json',
    ]);
    t.equal(r.code, 0, r.stderr);
    const doc = r.json();
    t.equal(doc.dryRun, true);
    t.ok(doc.steps.slice(1).every((s: any) => s.status === 'planned' && s.calls.length > 0));
    t.same(
      doc.steps.find((s: any) => s.step === 'swap-groups').calls.map((k: any) => k.input.NetworkInterfaceId),
      [x.primaryEni, x.primaryEni, x.secondaryEni, x.secondaryEni],
    );
    t.equal(await shutdownBehavior(c, x.instanceId), 'terminate');
    t.same(await events('IR-201'), []);

    const text = await cli(aws, ['isolate', '--case', 'IR-201', '--instance', x.instanceId, ...SRC, '--dry-run']);
    t.equal(text.code, 0);
    t.match(text.stdout, /dry run: nothing is changed and nothing is recorded/);
    t.match(
      text.stdout,
      /ec2:ModifyInstanceAttribute \{"InstanceId":"i-[0-9a-f]+","Attribute":"instanceInitiatedShutdownBehavior","Value":"stop"\}/,
    );
    t.match(
      text.stdout,
      /autoscaling:DetachInstances[\s\S]*ec2:ModifyNetworkInterfaceAttribute[\s\S]*ec2:ReplaceIamInstanceProfileAssociation[\s\S]*iam:PutRolePolicy[\s\S]*ec2:CreateTags/,
    );
  },
);

t.test('bad input: clear message on stderr, exit 2, nothing recorded', async (t) => {
  const x = await compromisedInstance(c);
  const gone = (
    await c.ec2.send(new ec2.RunInstancesCommand({ ImageId: x.imageId, MinCount: 1, MaxCount: 1, SubnetId: x.subnetA }))
  ).Instances![0]!.InstanceId!;
  await c.ec2.send(new ec2.TerminateInstancesCommand({ InstanceIds: [gone] }));
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
        Name: 'eu-e2e',
        RootDeviceName: '/dev/xvda',
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8 } }],
      }),
    )
  ).ImageId!;
  const euId = (
    await eu.ec2.send(new ec2.RunInstancesCommand({ ImageId: euImage, MinCount: 1, MaxCount: 1, SubnetId: euSubnet }))
  ).Instances![0]!.InstanceId!;

  const cases: Array<[string, string[], RegExp, string]> = [
    [
      'bad case id',
      ['--case', 'bad case', '--instance', x.instanceId, ...SRC, '--json'],
      /Case id "bad case" is not valid/,
      'INVALID_CASE_ID',
    ],
    [
      'malformed instance id',
      ['--case', 'IR-202', '--instance', 'web-1', ...SRC, '--json'],
      /"web-1" is not an EC2 instance id/,
      'INVALID_INSTANCE_ID',
    ],
    [
      'unknown instance',
      ['--case', 'IR-202', '--instance', 'i-0123456789abcdef0', ...SRC, '--json'],
      /i-0123456789abcdef0 does not exist in account 111111111111, region us-east-1/,
      'INSTANCE_NOT_FOUND',
    ],
    [
      'terminated',
      ['--case', 'IR-202', '--instance', gone, ...SRC, '--json'],
      new RegExp(`${gone} is terminated: there is nothing left to contain`),
      'INSTANCE_TERMINATED',
    ],
    [
      'another region',
      ['--case', 'IR-202', '--instance', euId, ...SRC, '--json'],
      new RegExp(
        `${euId} is not in account 111111111111, region us-east-1; it is in eu-west-1: run again with --source-region eu-west-1`,
      ),
      'INSTANCE_IN_ANOTHER_REGION',
    ],
    [
      '--stop without a terminal or --yes',
      ['--case', 'IR-202', '--instance', x.instanceId, ...SRC, '--stop', '--json'],
      /LOSES ITS MEMORY[\s\S]*run again with --yes/,
      'CONFIRMATION_REQUIRED',
    ],
    [
      'both source options',
      ['--case', 'IR-202', '--instance', x.instanceId, ...SRC, '--source-profile', 'p'],
      /mutually exclusive/,
      '',
    ],
  ];
  for (const [name, args, message, code] of cases) {
    const r = await cli(aws, ['isolate', ...args]);
    t.equal(r.code, 2, `${name}: exit 2 (${r.stderr.trim().split('\n')[0]})`);
    t.match(r.stderr, message, `${name}: says what is wrong`);
    if (code) t.equal(r.json().error.code, code, `${name}: JSON error code`);
  }
  t.same(await events('IR-202'), []);
  t.equal(await shutdownBehavior(c, x.instanceId), 'terminate', 'nothing changed');

  const euRun = await cli(aws, [
    'isolate',
    '--case',
    'IR-202',
    '--instance',
    euId,
    ...SRC,
    '--source-region',
    'eu-west-1',
    '--dry-run',
    '--json',
  ]);
  t.equal(euRun.code, 0, `following the hint works: ${euRun.stderr}`);
  t.equal(euRun.json().region, 'eu-west-1');
});

t.test(
  'missing permission midway: exit 1, what is left on stderr and in the JSON error, the record holds the steps done and the failure; the rerun finishes',
  async (t) => {
    const proxy = await startFaultProxy(aws);
    t.teardown(() => proxy.close());
    const x = await compromisedInstance(c);
    proxy.add({
      service: 'iam',
      action: 'PutRolePolicy',
      when: (k) => /AWSRevokeOlderSessions/.test(k.body),
      fault: {
        kind: 'error',
        status: 403,
        code: 'AccessDenied',
        message: 'User is not authorized to perform: iam:PutRolePolicy',
      },
    });
    const env = aws.env({ AWS_ENDPOINT_URL: proxy.endpoint });
    const r = await cli(undefined, ['isolate', '--case', 'IR-203', '--instance', x.instanceId, ...SRC, '--json'], env);
    t.equal(r.code, 1, r.stderr);
    const err = r.json().error;
    t.equal(err.code, 'PARTIAL_FAILURE');
    t.equal(err.details.failedStep, 'revoke-sessions');
    t.same(
      err.details.remaining.map((s: string) => s.split(':')[0]),
      ['revoke-sessions', 'tag'],
    );
    t.same(
      err.failures.map((f: any) => [f.item, f.code]),
      [['revoke-sessions', 'AWS_AccessDenied']],
    );
    t.match(
      r.stderr,
      /stopped at step revoke-sessions.*iam:PutRolePolicy[\s\S]*Left to do[\s\S]*- revoke-sessions: revoke the active sessions of role web-[\s\S]*- tag: /,
    );
    const ev = await events('IR-203');
    t.same(ev.map((e) => `${e.action}:${e.outcome.status}`).slice(-3), [
      'isolate.swap-groups:succeeded',
      'isolate.swap-profile:succeeded',
      'isolate.revoke-sessions:failed',
    ]);
    t.equal(ev.at(-1)!.outcome.error!.code, 'AWS_AccessDenied');
    const assoc = (
      await c.ec2.send(
        new ec2.DescribeIamInstanceProfileAssociationsCommand({
          Filters: [{ Name: 'instance-id', Values: [x.instanceId] }],
        }),
      )
    ).IamInstanceProfileAssociations!;
    t.match(
      assoc[0]!.IamInstanceProfile!.Arn,
      /cleanroom-quarantine-IR-203$/,
      'the steps before the failure stay in place',
    );

    proxy.clear();
    const again = await cli(
      undefined,
      ['isolate', '--case', 'IR-203', '--instance', x.instanceId, ...SRC, '--json'],
      env,
    );
    t.equal(again.code, 0, again.stderr);
    t.same(
      again.json().steps.map((s: any) => s.status),
      ['already', 'already', 'already', 'already', 'already', 'already', 'already', 'already', 'done', 'done'],
    );
    const after = await events('IR-203');
    t.same(
      after.slice(ev.length).map((e) => e.action),
      ['isolate.revoke-sessions', 'isolate.tag', 'isolate.complete'],
    );
  },
);

t.test(
  "the clean room's own forensic instance: isolate refuses it (exit 2), also in a dry run, and changes nothing — room up still finds its room intact",
  async (t) => {
    t.equal((await cli(aws, ['vault', 'init'])).code, 0, 'vault init');
    const up = await cli(aws, ['room', 'up', '--case', 'IR-210', '--json']);
    t.equal(up.code, 0, up.stderr);
    const room = up.json();
    const f = await account();
    const state = async () => {
      const inst = (await f.ec2.describeInstances({ InstanceIds: [room.instanceId] })).Reservations![0]!.Instances![0]!;
      const assoc =
        (
          await f.ec2.describeIamInstanceProfileAssociations({
            Filters: [{ Name: 'instance-id', Values: [room.instanceId] }],
          })
        ).IamInstanceProfileAssociations ?? [];
      const attr = await f.ec2.describeInstanceAttribute({
        InstanceId: room.instanceId,
        Attribute: 'instanceInitiatedShutdownBehavior',
      });
      return {
        profiles: assoc.map((a) => a.IamInstanceProfile?.Arn),
        groups: (inst.NetworkInterfaces ?? []).map((n) => (n.Groups ?? []).map((g) => g.GroupId).sort()),
        tags: Object.fromEntries((inst.Tags ?? []).map((x) => [x.Key, x.Value])),
        shutdown: attr.InstanceInitiatedShutdownBehavior?.Value,
      };
    };
    const before = await state();
    t.comment(`the room instance's tags on the local AWS: ${JSON.stringify(before.tags)}`);
    for (const [caseId, extra] of [
      ['IR-211', []],
      ['IR-211', ['--dry-run']],
      ['IR-210', []],
    ] as Array<[string, string[]]>) {
      const r = await cli(aws, ['isolate', '--case', caseId, '--instance', room.instanceId, ...extra, '--json']);
      t.equal(r.code, 2, `case ${caseId} ${extra.join(' ')}: exit 2 (${r.stderr.trim().split('\n')[0]})`);
      const err = r.json().error;
      t.equal(err.code, 'INSTANCE_IS_FORENSIC');
      t.match(
        err.message,
        new RegExp(
          `Instance ${room.instanceId} \\(account 123456789012, us-east-1\\) is the clean room's own forensic instance \\(case IR-210, room stack cleanroom-IR-210\\)`,
        ),
      );
      t.match(r.stderr, /isolate refuses it[\s\S]*Nothing was changed/);
    }
    t.same(await state(), before, 'profile, groups, tags and shutdown behaviour unchanged');
    t.same(await events('IR-211'), [], 'nothing recorded for the other case');

    const again = await cli(aws, ['room', 'up', '--case', 'IR-210', '--json']);
    t.equal(again.code, 0, again.stderr);
    t.same(again.json().corrections ?? [], [], 'room up finds nothing to put back');
  },
);
