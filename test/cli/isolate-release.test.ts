/**
 * `cleanroom isolate release` end to end, as a responder runs it, against the local AWS: `vault
 * init`, then `isolate` of a compromised instance in the source account (two interfaces, an
 * instance profile, an Auto Scaling group, two target groups — by instance id and by IP — and a
 * Classic Load Balancer), then `isolate release --rejoin-asg --reregister`. Everything the
 * isolation recorded is checked back by reading AWS (not the tool's word); the record verifies;
 * a second release changes nothing; isolated again and released again, a second complete release is
 * recorded; isolated a third time with --stop, its release starts the instance again; stopped by hand and
 * isolated a fourth time with --stop, its release leaves it stopped; a release killed (SIGKILL) after its first step's event and
 * run again converges with no step recorded twice; an instance the case never isolated is refused
 * (NOT_ISOLATED, exit 2); a deleted target group is refused (RELEASE_TARGET_MISSING) until
 * --skip-missing.
 *
 * Emulator notes: see test/workflows/isolate/isolate-aws.test.ts.
 */
import t from 'tap';
import * as ec2 from '@aws-sdk/client-ec2';
import * as asgSdk from '@aws-sdk/client-auto-scaling';
import * as elb from '@aws-sdk/client-elastic-load-balancing-v2';
import * as clb from '@aws-sdk/client-elastic-load-balancing';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { openCaseCustody } from '../../src/custody/case-custody.js';
import { account } from '../custody/helpers.js';
import { runCli } from './acquire-helpers.js';
import {
  SOURCE_ROLE,
  compromisedInstance,
  groupsByInterface,
  shutdownBehavior,
  sourceClients,
  type Compromised,
} from '../workflows/isolate/fixture.js';

const aws = await useLocalAws(t);
const proxy = await startFaultProxy(aws);
t.teardown(() => proxy.close());
const env = aws.env({ AWS_ENDPOINT_URL: proxy.endpoint });
const c = sourceClients(aws.endpoint);
const SRC = ['--source-role-arn', SOURCE_ROLE];
const events = async (caseId: string) => (await openCaseCustody(await account(), { caseId })).events();
const release = (caseId: string, instanceId: string, extra: string[] = []) =>
  runCli(env, ['isolate', 'release', '--case', caseId, '--instance', instanceId, ...SRC, '--json', ...extra]);

/** What a user would read back from AWS about the instance: each thing release restores. */
async function readBack(x: Compromised) {
  const d = (await c.ec2.send(new ec2.DescribeInstancesCommand({ InstanceIds: [x.instanceId] }))).Reservations![0]!
    .Instances![0]!;
  const assoc = (
    await c.ec2.send(
      new ec2.DescribeIamInstanceProfileAssociationsCommand({
        Filters: [{ Name: 'instance-id', Values: [x.instanceId] }],
      }),
    )
  ).IamInstanceProfileAssociations!.filter((a) => a.State === 'associated');
  const protection = (
    await c.ec2.send(
      new ec2.DescribeInstanceAttributeCommand({ InstanceId: x.instanceId, Attribute: 'disableApiTermination' }),
    )
  ).DisableApiTermination?.Value;
  const inAsg = (
    await c.asg.send(new asgSdk.DescribeAutoScalingInstancesCommand({ InstanceIds: [x.instanceId] }))
  ).AutoScalingInstances!.map((i) => i.AutoScalingGroupName);
  const targets = async (arn: string) =>
    ((await c.elb.send(new elb.DescribeTargetHealthCommand({ TargetGroupArn: arn }))).TargetHealthDescriptions ?? [])
      .filter((h) => h.TargetHealth?.State !== 'draining')
      .map((h) => `${h.Target!.Id}:${h.Target!.Port}`);
  const lb = (await c.clb.send(new clb.DescribeLoadBalancersCommand({ LoadBalancerNames: [x.classicLbName] })))
    .LoadBalancerDescriptions![0]!;
  return {
    groups: await groupsByInterface(c, [x.primaryEni, x.secondaryEni]),
    profile: assoc.map((a) => a.IamInstanceProfile!.Arn),
    shutdown: await shutdownBehavior(c, x.instanceId),
    deleteOnTermination: Object.fromEntries(
      (d.BlockDeviceMappings ?? []).map((m) => [m.Ebs!.VolumeId!, m.Ebs!.DeleteOnTermination]),
    ),
    protection,
    asg: inAsg,
    targets: await targets(x.targetGroupArn),
    ipTargets: await targets(x.ipTargetGroupArn),
    classicLb: (lb.Instances ?? []).map((i) => i.InstanceId),
    tags: Object.fromEntries((d.Tags ?? []).map((tg) => [tg.Key!, tg.Value!])),
  };
}

async function groupExists(id: string): Promise<boolean> {
  const r = await c.ec2.send(new ec2.DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-id', Values: [id] }] }));
  return (r.SecurityGroups ?? []).length > 0;
}

const init = await runCli(env, ['vault', 'init', '--json']);
t.equal(init.code, 0, init.stderr);

t.test(
  'isolate, then release --rejoin-asg --reregister: everything back as recorded, read from AWS; the record verifies; again changes nothing',
  async (t) => {
    const x = await compromisedInstance(c, { desired: 2 });
    const before = await readBack(x);
    t.same(before.classicLb, [x.instanceId], 'the fixture: registered with its Classic Load Balancer');
    const iso = await runCli(env, ['isolate', '--case', 'IR-300', '--instance', x.instanceId, ...SRC, '--json']);
    t.equal(iso.code, 0, iso.stderr);
    const isolationGroup = iso.json().isolationGroupIds[x.vpcId] as string;
    const transitGroup = iso.json().transitGroupIds[x.vpcId] as string;
    const contained = await readBack(x);
    t.same(contained.classicLb, [], 'isolate took it out of its Classic Load Balancer');
    t.same(contained.groups[x.primaryEni], [isolationGroup]);

    // The plan: every call, nothing changed, nothing recorded.
    const n0 = (await events('IR-300')).length;
    const plan = await release('IR-300', x.instanceId, ['--rejoin-asg', '--reregister', '--dry-run']);
    t.equal(plan.code, 0, plan.stderr);
    t.equal(plan.json().dryRun, true);
    t.same(
      plan.json().steps.map((s: any) => [s.step, s.status]),
      [
        ['start', 'skipped'],
        ['profile', 'planned'],
        ['network-acl', 'skipped'],
        ['groups', 'planned'],
        ['cleanup', 'planned'],
        ['elb', 'planned'],
        ['targets', 'planned'],
        ['asg', 'planned'],
        ['attributes', 'planned'],
        ['tag', 'planned'],
      ],
    );
    t.same(
      plan.json().steps.flatMap((s: any) => s.calls.map((k: any) => k.call)),
      [
        'ec2:ReplaceIamInstanceProfileAssociation',
        'ec2:ModifyNetworkInterfaceAttribute',
        'ec2:ModifyNetworkInterfaceAttribute',
        'ec2:DeleteSecurityGroup',
        'ec2:DeleteSecurityGroup',
        'elasticloadbalancing:RegisterInstancesWithLoadBalancer',
        'elasticloadbalancing:RegisterTargets',
        'elasticloadbalancing:RegisterTargets',
        'autoscaling:AttachInstances',
        'ec2:ModifyInstanceAttribute',
        'ec2:ModifyInstanceAttribute',
        'ec2:CreateTags',
        'ec2:DeleteTags',
      ],
    );
    t.same(await readBack(x), contained, 'the dry run changed nothing');
    t.equal((await events('IR-300')).length, n0, 'and recorded nothing');

    const r = await release('IR-300', x.instanceId, ['--rejoin-asg', '--reregister']);
    t.equal(r.code, 0, r.stderr);
    const doc = r.json();
    t.equal(doc.alreadyReleased, false);
    t.same(
      doc.steps.map((s: any) => [s.step, s.status]),
      [
        ['start', 'skipped'],
        ['profile', 'done'],
        ['network-acl', 'skipped'],
        ['groups', 'done'],
        ['cleanup', 'done'],
        ['elb', 'done'],
        ['targets', 'done'],
        ['asg', 'done'],
        ['attributes', 'done'],
        ['tag', 'done'],
      ],
    );
    t.match(doc.kept.join('\n'), /termination protection stays on[\s\S]*AWSRevokeOlderSessions policy stays/);

    // Read back from AWS: each thing as recorded before isolation.
    const after = await readBack(x);
    t.same(after.groups, before.groups, 'every interface in its own groups again');
    t.same(after.profile, [x.profileArn], 'the original instance profile');
    t.equal(after.shutdown, 'terminate', 'shutdown behaviour as before');
    t.same(after.deleteOnTermination, before.deleteOnTermination, 'DeleteOnTermination per volume as before');
    t.equal(after.protection, true, 'termination protection kept (no --unprotect)');
    t.same(after.asg, [x.asgName], 'back in its Auto Scaling group');
    t.same(after.targets, [`${x.instanceId}:8080`], 'back in the instance target group, port as recorded');
    t.same(after.ipTargets, [`${x.privateIp}:80`], 'back in the ip target group');
    t.same(after.classicLb, [x.instanceId], 'back with its Classic Load Balancer');
    t.notOk('cleanroom:quarantine' in after.tags, 'the quarantine tag is gone');
    t.match(after.tags['cleanroom:released'], /^\d{4}-\d\d-\d\dT[\d:.]+Z$/);
    t.equal(after.tags['Name'], 'web-1');
    t.notOk(await groupExists(isolationGroup), 'the isolation group is deleted');
    t.notOk(await groupExists(transitGroup), 'the transit group is deleted');
    const g = (await c.asg.send(new asgSdk.DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [x.asgName] })))
      .AutoScalingGroups![0]!;
    t.equal(g.DesiredCapacity, 2, 'the desired capacity isolate lowered is back');

    // The record: one event per step, then the summary; it verifies.
    const ev = await events('IR-300');
    t.same(
      ev.slice(n0).map((e) => e.action),
      [
        'isolate.release.start',
        'isolate.release.profile',
        'isolate.release.network-acl',
        'isolate.release.groups',
        'isolate.release.cleanup',
        'isolate.release.elb',
        'isolate.release.targets',
        'isolate.release.asg',
        'isolate.release.attributes',
        'isolate.release.tag',
        'isolate.release',
      ],
    );
    const verify = await runCli(env, ['custody', 'verify', '--case', 'IR-300', '--json']);
    t.equal(verify.code, 0, verify.stdout);

    // Again: nothing changes, nothing is recorded, and it says so.
    const again = await release('IR-300', x.instanceId, ['--rejoin-asg', '--reregister']);
    t.equal(again.code, 0, again.stderr);
    t.equal(again.json().alreadyReleased, true);
    t.ok(again.json().steps.every((s: any) => s.status !== 'done'));
    t.equal((await events('IR-300')).length, ev.length, 'nothing recorded');
    t.same(await readBack(x), after, 'nothing changed');
    const text = await runCli(env, ['isolate', 'release', '--case', 'IR-300', '--instance', x.instanceId, ...SRC]);
    t.match(text.stdout, /was already released for case IR-300/);

    // Isolated again, then released again: a release of its own, keyed by the isolation it undoes.
    const iso2 = await runCli(env, ['isolate', '--case', 'IR-300', '--instance', x.instanceId, ...SRC, '--json']);
    t.equal(iso2.code, 0, iso2.stderr);
    t.same((await readBack(x)).classicLb, [], 'contained again');
    const second = await release('IR-300', x.instanceId, ['--rejoin-asg', '--reregister']);
    t.equal(second.code, 0, second.stderr);
    t.equal(second.json().alreadyReleased, false, 'a second release, not a rerun of the first');
    const unreleased = (b: typeof after) => ({ ...b, tags: { ...b.tags, 'cleanroom:released': '' } });
    t.same(unreleased(await readBack(x)), unreleased(after), 'everything back as recorded, again');
    const summaries = (await events('IR-300')).filter((e) => e.action === 'isolate.release');
    t.equal(summaries.length, 2, 'two complete releases recorded');
    t.match(summaries[1]!.idempotencyKey, new RegExp(`^isolate-release:${x.instanceId}:isolation:\\d+:complete$`));
    const verify2 = await runCli(env, ['custody', 'verify', '--case', 'IR-300', '--json']);
    t.equal(verify2.code, 0, verify2.stdout);

    // Isolated a third time, now with --stop (the first did not stop it): its release starts it again.
    const runState = async () =>
      (await c.ec2.send(new ec2.DescribeInstancesCommand({ InstanceIds: [x.instanceId] }))).Reservations![0]!
        .Instances![0]!.State!.Name;
    t.equal(await runState(), 'running');
    const isolateWithStop = () =>
      runCli(env, ['isolate', '--case', 'IR-300', '--instance', x.instanceId, ...SRC, '--stop', '--yes', '--json']);
    const iso3 = await isolateWithStop();
    t.equal(iso3.code, 0, iso3.stderr);
    t.equal(await runState(), 'stopped', 'the third isolation stopped it');
    /** Release; the status of its start step. */
    const releaseStart = async (extra: string[]) => {
      const r = await release('IR-300', x.instanceId, extra);
      t.equal(r.code, 0, r.stderr);
      return r.json().steps.find((s: any) => s.step === 'start').status as string;
    };
    t.equal(
      await releaseStart(['--rejoin-asg', '--reregister']),
      'done',
      'started: the isolation released stopped it, and it was running before',
    );
    t.match(await runState(), /^(pending|running)$/, 'running again, read from AWS');

    // Stopped by hand, then isolated a fourth time with --stop (it finds it stopped): its release
    // leaves it stopped — the stop of the third isolation is not the one it undoes.
    await c.ec2.send(new ec2.StopInstancesCommand({ InstanceIds: [x.instanceId] }));
    const iso4 = await isolateWithStop();
    t.equal(iso4.code, 0, iso4.stderr);
    t.match(
      iso4.json().steps.find((s: any) => s.step === 'stop'),
      { status: 'already' },
    );
    // (Without --reregister and --rejoin-asg: a stopped instance cannot be registered or attached.)
    t.equal(await releaseStart([]), 'skipped', 'not started: the isolation released found it stopped');
    t.match(await runState(), /^(stopping|stopped)$/, 'still stopped, read from AWS');
    const verify3 = await runCli(env, ['custody', 'verify', '--case', 'IR-300', '--json']);
    t.equal(verify3.code, 0, verify3.stdout);
  },
);

t.test('killed (SIGKILL) after its first step was recorded, then run again: converges, no step twice', async (t) => {
  const x = await compromisedInstance(c, { desired: 2 });
  const before = await readBack(x);
  const iso = await runCli(env, ['isolate', '--case', 'IR-301', '--instance', x.instanceId, ...SRC, '--json']);
  t.equal(iso.code, 0, iso.stderr);
  const start = proxy.calls.length;
  let killedAt = '';
  const killed = await runCli(
    env,
    [
      'isolate',
      'release',
      '--case',
      'IR-301',
      '--instance',
      x.instanceId,
      ...SRC,
      '--json',
      '--rejoin-asg',
      '--reregister',
    ],
    (child) => {
      // Just before the groups step's first change: the start and profile steps are recorded by then.
      for (let k = start + 1; k < start + 400; k++)
        proxy.onCall(k, (call) => {
          if (!killedAt && call.action === 'ModifyNetworkInterfaceAttribute') {
            killedAt = `${call.service}:${call.action}`;
            child.kill('SIGKILL');
          }
        });
    },
  );
  t.equal(killed.signal, 'SIGKILL', `killed at ${killedAt}`);
  const mid = await events('IR-301');
  const keysMid = mid.map((e) => e.idempotencyKey ?? '');
  t.ok(keysMid.includes(`isolate-release:${x.instanceId}:profile`), 'the profile step was recorded before the kill');
  t.notOk(keysMid.includes(`isolate-release:${x.instanceId}:complete`));

  const rerun = await release('IR-301', x.instanceId, ['--rejoin-asg', '--reregister']);
  t.equal(rerun.code, 0, rerun.stderr);
  const all = (await events('IR-301')).map((e) => e.idempotencyKey ?? '');
  t.equal(new Set(all).size, all.length, 'no event recorded twice');
  t.same(
    [...new Set(all.filter((k) => k.startsWith('isolate-release:')).map((k) => k.split(':')[2]))].sort(),
    ['asg', 'attributes', 'cleanup', 'complete', 'elb', 'groups', 'network-acl', 'profile', 'start', 'tag', 'targets'],
    'every step recorded once',
  );
  const after = await readBack(x);
  t.same(after.groups, before.groups);
  t.same(after.profile, [x.profileArn]);
  t.same(after.asg, [x.asgName]);
  t.same(after.classicLb, [x.instanceId]);
  t.notOk('cleanroom:quarantine' in after.tags);
  const verify = await runCli(env, ['custody', 'verify', '--case', 'IR-301', '--json']);
  t.equal(verify.code, 0, verify.stdout);
});

t.test(
  'refusals: never isolated (NOT_ISOLATED, exit 2); a deleted target group (RELEASE_TARGET_MISSING) until --skip-missing',
  async (t) => {
    const x = await compromisedInstance(c);
    const never = await release('IR-300', x.instanceId);
    t.equal(never.code, 2);
    t.equal(never.json().error.code, 'NOT_ISOLATED');
    t.match(never.json().error.message, new RegExp(`Case IR-300 never isolated ${x.instanceId}`));

    const iso = await runCli(env, ['isolate', '--case', 'IR-302', '--instance', x.instanceId, ...SRC, '--json']);
    t.equal(iso.code, 0, iso.stderr);
    await c.elb.send(new elb.DeleteTargetGroupCommand({ TargetGroupArn: x.targetGroupArn }));
    const contained = await readBack({ ...x, targetGroupArn: x.ipTargetGroupArn });
    const n0 = (await events('IR-302')).length;
    const refused = await release('IR-302', x.instanceId, ['--reregister']);
    t.equal(refused.code, 1, refused.stderr);
    t.equal(refused.json().error.code, 'RELEASE_TARGET_MISSING');
    t.match(refused.json().error.message, x.targetGroupArn);
    t.match(refused.json().error.message, /--skip-missing/);
    t.same(await readBack({ ...x, targetGroupArn: x.ipTargetGroupArn }), contained, 'nothing changed');
    t.equal((await events('IR-302')).length, n0, 'nothing recorded');

    const skipped = await release('IR-302', x.instanceId, ['--reregister', '--skip-missing']);
    t.equal(skipped.code, 0, skipped.stderr);
    t.same(skipped.json().skippedMissing, [`target group ${x.targetGroupArn}`]);
    const after = await readBack({ ...x, targetGroupArn: x.ipTargetGroupArn });
    t.same(after.ipTargets, [`${x.privateIp}:80`], 'the target group that exists is registered again');
    t.same(after.asg, [], 'not rejoined without --rejoin-asg');
    const targetsEvent = (await events('IR-302')).find((e) => e.action === 'isolate.release.targets')!;
    t.same(targetsEvent.outcome.details!['skippedMissing'], [x.targetGroupArn], 'the skip is recorded');
  },
);
