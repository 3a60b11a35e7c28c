/**
 * End to end, as an analyst works a case: vault init → room up → acquire from a source account (an
 * instance with two volumes) attached to the forensic instance → evidence list → detach → attach →
 * custody log and verify. Then the refusals that need a room: a room that drifted and fails its
 * audit (exit 3), a working volume left in another AZ than the room's (exit 2), a volume attached to
 * the forensic instance named as a source (exit 2).
 *
 * The local AWS's SSM answers "Success" with no output, so read-only is recorded as NOT confirmed
 * here (docs/local-aws.md, "SSM SendCommand"); confirmed/writable answers are covered on the fake
 * (test/workflows/acquire/acquire.test.ts) and the guest scripts on loop devices (test/guest/).
 */
import t from 'tap';
import {
  AuthorizeSecurityGroupEgressCommand,
  CreateVolumeCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
} from '@aws-sdk/client-ec2';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { SOURCE_ROLE, ec2In, instanceWithVolumes } from '../workflows/acquire/fixtures.js';
import { runCli } from './acquire-helpers.js';

t.test('vault → room → acquire (attached) → evidence list/detach/attach → custody', async (t) => {
  const aws = await useLocalAws(t);
  const env = aws.env();
  const forensicEc2 = ec2In(aws.endpoint);
  t.equal((await runCli(env, ['vault', 'init'])).code, 0);
  const up = await runCli(env, ['room', 'up', '--case', 'IR-e2e', '--json']);
  t.equal(up.code, 0, up.stderr);
  const room = { InstanceId: up.json().instanceId as string };
  t.equal(up.json().availabilityZone, 'us-east-1a');
  const fx = await instanceWithVolumes(ec2In(aws.endpoint, { roleArn: SOURCE_ROLE }), 'us-east-1b', [1]);

  const acq = await runCli(env, [
    'acquire',
    '--case',
    'IR-e2e',
    '--instance',
    fx.instanceId,
    '--source-role-arn',
    SOURCE_ROLE,
    '--readonly-check-seconds',
    '0',
    '--json',
  ]);
  t.equal(acq.code, 0, acq.stderr);
  const doc = acq.json();
  t.same(
    doc.evidence.map((e: any) => [e.state, e.instanceId, e.sourceAccount]),
    [
      ['attached', room['InstanceId'], '111111111111'],
      ['attached', room['InstanceId'], '111111111111'],
    ],
  );
  t.same(doc.evidence.map((e: any) => e.device).sort(), ['/dev/sdf', '/dev/sdg']);
  for (const e of doc.evidence) {
    t.equal(
      e.guestDevice,
      `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${e.volumeId.replace('-', '')}`,
      'how the Nitro guest finds it',
    );
    t.equal(e.readOnly, 'not-confirmed', 'moto SSM answers nothing: NOT confirmed');
    // The in-room hash runs only on a disk the guest confirmed read-only: on the local AWS it stays on paper.
    t.equal(e.inRoomHash, 'not-confirmed', 'in-room hash: NOT confirmed');
    t.match(e.inRoomHashDetail, /^not run: read-only is not-confirmed inside the room/);
  }
  t.same(
    acq.json().roomHash.map((h: any) => h.status),
    ['not-confirmed', 'not-confirmed'],
  );
  t.match(acq.stderr, /read-only of ev-\w+ \(vol-\w+\) is NOT confirmed/);
  const vols = (
    await forensicEc2.send(
      new DescribeVolumesCommand({ Filters: [{ Name: 'tag:cleanroom:case', Values: ['IR-e2e'] }] }),
    )
  ).Volumes!;
  t.same(
    vols.map((v) => [v.AvailabilityZone, v.Attachments?.[0]?.InstanceId]),
    [
      ['us-east-1a', room['InstanceId']],
      ['us-east-1a', room['InstanceId']],
    ],
  );

  const list = await runCli(env, ['evidence', 'list', '--case', 'IR-e2e', '--json']);
  t.equal(list.code, 0, list.stderr);
  const listed = list.json().evidence;
  t.same(
    listed.map((e: any) => [e.state, e.live.attachedTo]),
    [
      ['attached', [room['InstanceId']]],
      ['attached', [room['InstanceId']]],
    ],
  );
  const eid = listed[0].evidenceId;

  const det = await runCli(env, ['evidence', 'detach', '--case', 'IR-e2e', '--evidence', eid, '--json']);
  t.equal(det.code, 0, det.stderr);
  t.same([det.json().detached, det.json().evidence[0].state], [true, 'detached']);
  const att = await runCli(env, [
    'evidence',
    'attach',
    '--case',
    'IR-e2e',
    '--evidence',
    eid,
    '--readonly-check-seconds',
    '0',
    '--json',
  ]);
  t.equal(att.code, 0, att.stderr);
  t.same(
    [
      att.json().evidence[0].state,
      att.json().evidence[0].volumeId,
      att.json().readOnly.status,
      att.json().roomHash.status,
    ],
    ['attached', listed[0].volumeId, 'not-confirmed', 'not-confirmed'],
  );
  const text = await runCli(env, ['evidence', 'list', '--case', 'IR-e2e']);
  t.match(
    text.stdout,
    new RegExp(
      `${eid}\\s+111111111111/us-east-1 vol-\\w+ \\(${fx.instanceId} /dev/\\w+\\)\\s+snap-\\w+\\s+[0-9a-f]{16}… \\(= source\\)\\s+vol-\\w+\\s+/dev/sd[fg] → /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol\\w+\\s+attached\\s+not-confirmed\\s+not-confirmed`,
    ),
  );

  // The custody record: every step there, chained and signed.
  const log = await runCli(env, ['custody', 'log', '--case', 'IR-e2e', '--json']);
  t.equal(log.code, 0, log.stderr);
  const actions: string[] = log.json().events.map((e: any) => e.action);
  for (const a of [
    'case.key.create',
    'acquire.share-key',
    'evidence.snapshot',
    'evidence.share.copy',
    'evidence.share',
    'evidence.copy',
    'evidence.preserved',
    'evidence.share.retire',
    'evidence.volume.create',
    'evidence.attach',
    'evidence.readonly-check',
    'evidence.room-hash',
    'acquire.share-key.retire',
    'acquire.run',
    'evidence.detach',
  ]) {
    t.ok(actions.includes(a), `custody: ${a}`);
  }
  t.equal(actions.filter((a) => a === 'evidence.attach').length, 3, 'two at acquire, one after the detach');
  const verify = await runCli(env, ['custody', 'verify', '--case', 'IR-e2e', '--json']);
  t.equal(verify.code, 0, verify.stderr);
  t.equal(verify.json().ok, true);

  // A volume attached to the forensic instance named as a source (same account): refused.
  const own = await runCli(env, ['acquire', '--case', 'IR-e2e', '--volume', listed[0].volumeId, '--no-attach']);
  t.equal(own.code, 2);
  t.match(
    own.stderr,
    new RegExp(
      `Volume ${listed[0].volumeId} is attached to the forensic instance ${room['InstanceId']} of case IR-e2e`,
    ),
  );
});

t.test('refusals that need a room: failing its audit (3), a working volume in another AZ (2)', async (t) => {
  const aws = await useLocalAws(t);
  const env = aws.env();
  t.equal((await runCli(env, ['vault', 'init'])).code, 0);
  const src = ec2In(aws.endpoint, { roleArn: SOURCE_ROLE });

  // A room that drifted after room up (an egress rule added by hand): it fails its audit.
  const up = await runCli(env, ['room', 'up', '--case', 'IR-leaky', '--json']);
  t.equal(up.code, 0, up.stderr);
  await ec2In(aws.endpoint).send(
    new AuthorizeSecurityGroupEgressCommand({
      GroupId: up.json().forensicsSecurityGroupId,
      IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
    }),
  );
  const fx = await instanceWithVolumes(src, 'us-east-1b', []);
  const leaky = await runCli(env, [
    'acquire',
    '--case',
    'IR-leaky',
    '--instance',
    fx.instanceId,
    '--source-role-arn',
    SOURCE_ROLE,
    '--json',
  ]);
  t.equal(leaky.code, 3);
  t.equal(leaky.json().error.code, 'ROOM_AUDIT_FAILED');
  t.match(
    leaky.json().error.message,
    /fails its audit \(.*forensics-sg.no-egress.*\), so no evidence is attached to it. Nothing was changed/,
  );
  const noSnap = await ec2In(aws.endpoint, { roleArn: SOURCE_ROLE }).send(
    new DescribeSnapshotsCommand({
      OwnerIds: ['self'],
      Filters: [{ Name: 'tag:cleanroom:case', Values: ['IR-leaky'] }],
    }),
  );
  t.same(noSnap.Snapshots, [], 'nothing was snapshotted');

  // A working volume left in us-east-1a by an earlier room, and the room now in us-east-1b. (Rather
  // than room down and up again elsewhere, the volume an earlier room in us-east-1a would have
  // left is made here, tagged as acquisition tags it.)
  const fx2 = await instanceWithVolumes(src, 'us-east-1b', []);
  const first = await runCli(env, [
    'acquire',
    '--case',
    'IR-moved',
    '--instance',
    fx2.instanceId,
    '--source-role-arn',
    SOURCE_ROLE,
    '--no-attach',
    '--json',
  ]);
  t.equal(first.code, 0, first.stderr);
  const e = first.json().evidence[0];
  t.equal(e.state, 'preserved', 'no room yet: preserved as a snapshot');
  const old = await ec2In(aws.endpoint).send(
    new CreateVolumeCommand({
      AvailabilityZone: 'us-east-1a',
      SnapshotId: e.forensicSnapshotId,
      TagSpecifications: [
        {
          ResourceType: 'volume',
          Tags: [
            { Key: 'cleanroom:case', Value: 'IR-moved' },
            { Key: 'cleanroom:evidence', Value: e.evidenceId },
            { Key: 'cleanroom:role', Value: 'working-volume' },
          ],
        },
      ],
    }),
  );
  const moved0 = await runCli(env, ['room', 'up', '--case', 'IR-moved', '--az', 'us-east-1b']);
  t.equal(moved0.code, 0, moved0.stderr);
  const moved = await runCli(env, [
    'evidence',
    'attach',
    '--case',
    'IR-moved',
    '--evidence',
    e.evidenceId,
    '--readonly-check-seconds',
    '0',
  ]);
  t.equal(moved.code, 2);
  t.match(
    moved.stderr,
    new RegExp(
      `working volume ${old.VolumeId} of ${e.evidenceId} is in us-east-1a, but the forensic instance i-\\w+ is in us-east-1b; EBS volumes attach only within their Availability Zone`,
    ),
  );
});
