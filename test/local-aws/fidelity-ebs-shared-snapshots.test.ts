/**
 * The fidelity patch `patches/ebs_shared_snapshots.py`: a snapshot shared with createVolumePermission
 * is visible to, and copyable by, the grantee account (AWS: "Share an Amazon EBS snapshot with other
 * AWS accounts", "Use shared snapshots", API_DescribeSnapshots) — and to nobody else, and only while
 * it is shared. Without the patch moto answers InvalidSnapshot.NotFound (docs/local-aws.md).
 */
import t from 'tap';
import {
  EC2Client,
  CreateVolumeCommand,
  CreateSnapshotCommand,
  DescribeSnapshotsCommand,
  CopySnapshotCommand,
  ModifySnapshotAttributeCommand,
} from '@aws-sdk/client-ec2';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { useLocalAws } from '../../local-aws/local-aws.js';

const OWNER = '111111111111';
const GRANTEE = '123456789012'; // moto's default account
const OTHER = '222222222222';

const inAccount = (account: string, region = 'us-east-1') =>
  new EC2Client({
    region,
    credentials: fromTemporaryCredentials({
      params: { RoleArn: `arn:aws:iam::${account}:role/fidelity-test`, RoleSessionName: 'fidelity' },
      clientConfig: { region },
    }),
  });

t.test('a snapshot shared with an account is visible to and copyable by that account only, while shared', async (t) => {
  await useLocalAws(t);
  const owner = inAccount(OWNER);
  const grantee = new EC2Client({ region: 'us-east-1' });
  const other = inAccount(OTHER);

  const vol = await owner.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: 3 }));
  const snap = await owner.send(
    new CreateSnapshotCommand({
      VolumeId: vol.VolumeId!,
      TagSpecifications: [{ ResourceType: 'snapshot', Tags: [{ Key: 'owner-only', Value: 'x' }] }],
    }),
  );
  const id = snap.SnapshotId!;

  // Not shared yet: the grantee sees nothing and cannot copy (as in AWS).
  await t.rejects(grantee.send(new DescribeSnapshotsCommand({ SnapshotIds: [id] })), {
    name: 'InvalidSnapshot.NotFound',
  });
  t.same(
    (await grantee.send(new DescribeSnapshotsCommand({ Filters: [{ Name: 'snapshot-id', Values: [id] }] }))).Snapshots,
    [],
  );
  await t.rejects(grantee.send(new CopySnapshotCommand({ SourceSnapshotId: id, SourceRegion: 'us-east-1' })), {
    name: 'InvalidSnapshot.NotFound',
  });

  await owner.send(
    new ModifySnapshotAttributeCommand({
      SnapshotId: id,
      Attribute: 'createVolumePermission',
      OperationType: 'add',
      UserIds: [GRANTEE],
    }),
  );

  // Shared: visible by id, by filter, and with RestorableByUserIds=self; not with OwnerIds=self.
  const byId = (await grantee.send(new DescribeSnapshotsCommand({ SnapshotIds: [id] }))).Snapshots!;
  t.same(
    byId.map((s) => [s.SnapshotId, s.OwnerId, s.VolumeSize]),
    [[id, OWNER, 3]],
  );
  t.same(byId[0]!.Tags ?? [], [], "the owner's tags are not shown to the grantee");
  t.same(
    (await grantee.send(new DescribeSnapshotsCommand({ RestorableByUserIds: ['self'] }))).Snapshots!.map(
      (s) => s.SnapshotId,
    ),
    [id],
  );
  t.same(
    (
      await grantee.send(new DescribeSnapshotsCommand({ Filters: [{ Name: 'snapshot-id', Values: [id] }] }))
    ).Snapshots!.map((s) => s.SnapshotId),
    [id],
  );
  t.same(
    (await grantee.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).Snapshots,
    [],
    'OwnerIds=self: only the caller’s own',
  );
  t.same(
    (await grantee.send(new DescribeSnapshotsCommand({ OwnerIds: [OWNER] }))).Snapshots!.map((s) => s.SnapshotId),
    [id],
  );
  t.same(
    (await grantee.send(new DescribeSnapshotsCommand({ Filters: [{ Name: 'tag:owner-only', Values: ['x'] }] })))
      .Snapshots,
    [],
    'owner tags do not match filters either',
  );

  // A third account sees nothing.
  await t.rejects(other.send(new DescribeSnapshotsCommand({ SnapshotIds: [id] })), {
    name: 'InvalidSnapshot.NotFound',
  });
  await t.rejects(other.send(new CopySnapshotCommand({ SourceSnapshotId: id, SourceRegion: 'us-east-1' })), {
    name: 'InvalidSnapshot.NotFound',
  });

  // The grantee copies it: the copy is its own, with its own tags.
  const copy = await grantee.send(
    new CopySnapshotCommand({
      SourceSnapshotId: id,
      SourceRegion: 'us-east-1',
      Encrypted: true,
      KmsKeyId: 'arn:aws:kms:us-east-1:123456789012:key/case',
      TagSpecifications: [{ ResourceType: 'snapshot', Tags: [{ Key: 'mine', Value: 'y' }] }],
    }),
  );
  const mine = (await grantee.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).Snapshots!;
  t.same(
    mine.map((s) => [s.SnapshotId, s.OwnerId, s.Encrypted, s.VolumeSize]),
    [[copy.SnapshotId, GRANTEE, true, 3]],
  );
  t.same(mine[0]!.Tags, [{ Key: 'mine', Value: 'y' }]);
  // The owner's view of its snapshot is unchanged (its tags, its snapshots only).
  const ownerView = (await owner.send(new DescribeSnapshotsCommand({}))).Snapshots!;
  t.same(
    ownerView.map((s) => [s.SnapshotId, s.Tags]),
    [[id, [{ Key: 'owner-only', Value: 'x' }]]],
  );

  // Unshared again: gone from the grantee's view.
  await owner.send(
    new ModifySnapshotAttributeCommand({
      SnapshotId: id,
      Attribute: 'createVolumePermission',
      OperationType: 'remove',
      UserIds: [GRANTEE],
    }),
  );
  await t.rejects(grantee.send(new DescribeSnapshotsCommand({ SnapshotIds: [id] })), {
    name: 'InvalidSnapshot.NotFound',
  });
  await t.rejects(grantee.send(new CopySnapshotCommand({ SourceSnapshotId: id, SourceRegion: 'us-east-1' })), {
    name: 'InvalidSnapshot.NotFound',
  });
});

t.test('sharing is per Region: a snapshot shared in one Region is copied cross-Region by the grantee', async (t) => {
  await useLocalAws(t);
  const owner = inAccount(OWNER, 'us-west-2');
  const granteeWest = new EC2Client({ region: 'us-west-2' });
  const granteeEast = new EC2Client({ region: 'us-east-1' });
  const vol = await owner.send(new CreateVolumeCommand({ AvailabilityZone: 'us-west-2a', Size: 2 }));
  const id = (await owner.send(new CreateSnapshotCommand({ VolumeId: vol.VolumeId! }))).SnapshotId!;
  await owner.send(
    new ModifySnapshotAttributeCommand({
      SnapshotId: id,
      Attribute: 'createVolumePermission',
      OperationType: 'add',
      UserIds: [GRANTEE],
    }),
  );
  t.same(
    (await granteeWest.send(new DescribeSnapshotsCommand({ SnapshotIds: [id] }))).Snapshots!.map((s) => s.SnapshotId),
    [id],
  );
  await t.rejects(
    granteeEast.send(new DescribeSnapshotsCommand({ SnapshotIds: [id] })),
    { name: 'InvalidSnapshot.NotFound' },
    'not in another Region',
  );
  const copy = await granteeEast.send(new CopySnapshotCommand({ SourceSnapshotId: id, SourceRegion: 'us-west-2' }));
  t.same(
    (await granteeEast.send(new DescribeSnapshotsCommand({ SnapshotIds: [copy.SnapshotId!] }))).Snapshots!.map(
      (s) => s.OwnerId,
    ),
    [GRANTEE],
  );
});
