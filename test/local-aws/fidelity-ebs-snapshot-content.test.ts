/**
 * The fidelity patch `patches/ebs_snapshot_content.py`: EC2 volumes and snapshots hold disk content
 * (blocks), carried by CreateVolume, RunInstances, CreateSnapshot(s) and CopySnapshot (also shared
 * and cross-Region), and readable through the EBS direct APIs with AWS's block size, checksums,
 * paging and errors (AWS: "Use EBS direct APIs to access the contents of an EBS snapshot", the EBS
 * direct API Reference). Without the patch moto answers HTTP 500 for an EC2 snapshot, 512 as the
 * block size and accepts any checksum (docs/local-aws.md). All calls go through the real SDK clients.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  EBSClient,
  StartSnapshotCommand,
  PutSnapshotBlockCommand,
  CompleteSnapshotCommand,
  ListSnapshotBlocksCommand,
  GetSnapshotBlockCommand,
  ListChangedBlocksCommand,
} from '@aws-sdk/client-ebs';
import {
  EC2Client,
  CreateVolumeCommand,
  CreateSnapshotCommand,
  CreateSnapshotsCommand,
  CopySnapshotCommand,
  ModifySnapshotAttributeCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { useLocalAws, type LocalAws } from '../../local-aws/local-aws.js';

const BLOCK = 524288;
const OWNER = '111111111111';
const ME = '123456789012'; // moto's default account

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('base64');
const block = (fill: number) => Buffer.alloc(BLOCK, fill);

const roleIn = (account: string, region: string) =>
  fromTemporaryCredentials({
    params: { RoleArn: `arn:aws:iam::${account}:role/fidelity-test`, RoleSessionName: 'fidelity' },
    clientConfig: { region },
  });

/** Every block of a snapshot, read through ListSnapshotBlocks + GetSnapshotBlock: index -> fill byte. */
async function readAll(ebs: EBSClient, snapshotId: string): Promise<Record<number, number>> {
  const out: Record<number, number> = {};
  let NextToken: string | undefined;
  do {
    const page = await ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snapshotId, NextToken }));
    for (const b of page.Blocks ?? []) {
      const r = await ebs.send(
        new GetSnapshotBlockCommand({ SnapshotId: snapshotId, BlockIndex: b.BlockIndex!, BlockToken: b.BlockToken! }),
      );
      const data = await r.BlockData!.transformToByteArray();
      if (r.Checksum !== sha(data) || r.ChecksumAlgorithm !== 'SHA256' || r.DataLength !== BLOCK) {
        throw new Error(`block ${b.BlockIndex} of ${snapshotId}: checksum/length do not match its data`);
      }
      out[b.BlockIndex!] = data[0]!;
    }
    NextToken = page.NextToken;
  } while (NextToken);
  return out;
}

async function changed(ebs: EBSClient, first: string | undefined, second: string) {
  const r = await ebs.send(new ListChangedBlocksCommand({ FirstSnapshotId: first, SecondSnapshotId: second }));
  return (r.ChangedBlocks ?? []).map((c) => [
    c.BlockIndex,
    c.FirstBlockToken !== undefined,
    c.SecondBlockToken !== undefined,
  ]);
}

async function volumeWith(aws: LocalAws, ec2: EC2Client, blocks: Record<number, number>, size = 1) {
  const v = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: size }));
  for (const [i, fill] of Object.entries(blocks))
    await aws.writeVolumeBlock({ volumeId: v.VolumeId!, blockIndex: Number(i), data: block(fill) });
  return v.VolumeId!;
}

t.test(
  'EBS direct writes: AWS block size, length and checksum validated, a volume made from it holds its blocks',
  async (t) => {
    await useLocalAws(t);
    const ebs = new EBSClient({});
    const ec2 = new EC2Client({});
    const s = await ebs.send(new StartSnapshotCommand({ VolumeSize: 1, Description: 'fidelity' }));
    t.equal(s.BlockSize, BLOCK, 'StartSnapshot reports 524288 (moto: 512)');
    const put = (index: number, data: Buffer, checksum = sha(data)) =>
      ebs.send(
        new PutSnapshotBlockCommand({
          SnapshotId: s.SnapshotId!,
          BlockIndex: index,
          BlockData: data,
          DataLength: data.length,
          Checksum: checksum,
          ChecksumAlgorithm: 'SHA256',
        }),
      );
    await t.rejects(put(0, block(1), sha(block(2))), { name: 'ValidationException' }, 'a wrong checksum is refused');
    await t.rejects(put(0, Buffer.alloc(512, 1)), { name: 'ValidationException' }, 'only 512 KiB blocks');
    await t.rejects(put(2048, block(1)), { name: 'ValidationException' }, 'an index past the 1 GiB volume');
    t.equal((await put(0, block(1))).Checksum, sha(block(1)));
    await put(7, block(7));
    await ebs.send(new CompleteSnapshotCommand({ SnapshotId: s.SnapshotId!, ChangedBlocksCount: 2 }));
    await t.rejects(put(1, block(1)), { name: 'ValidationException' }, 'a completed snapshot takes no writes');
    t.same(await readAll(ebs, s.SnapshotId!), { 0: 1, 7: 7 });

    // A volume created from it, and that volume's snapshot, hold the same blocks.
    const v = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', SnapshotId: s.SnapshotId! }));
    const snap = await ec2.send(new CreateSnapshotCommand({ VolumeId: v.VolumeId! }));
    const listed = await ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snap.SnapshotId! }));
    t.equal(listed.VolumeSize, 1);
    t.equal(listed.BlockSize, BLOCK);
    t.same(await readAll(ebs, snap.SnapshotId!), { 0: 1, 7: 7 });
    t.same(await changed(ebs, s.SnapshotId!, snap.SnapshotId!), [], 'same lineage, nothing changed');

    // AWS's errors for a bad token, an empty index and an unknown snapshot.
    await t.rejects(
      ebs.send(new GetSnapshotBlockCommand({ SnapshotId: snap.SnapshotId!, BlockIndex: 0, BlockToken: 'nope' })),
      { name: 'ValidationException', Reason: 'INVALID_BLOCK_TOKEN' },
    );
    await t.rejects(
      ebs.send(new GetSnapshotBlockCommand({ SnapshotId: snap.SnapshotId!, BlockIndex: 3, BlockToken: 'nope' })),
      { name: 'ValidationException' },
    );
    await t.rejects(ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: 'snap-0123456789abcdef0' })), {
      name: 'ResourceNotFoundException',
    });

    // ParentSnapshotId: an increment that starts with its parent's blocks, in its lineage.
    const child = await ebs.send(new StartSnapshotCommand({ VolumeSize: 1, ParentSnapshotId: s.SnapshotId! }));
    await ebs.send(
      new PutSnapshotBlockCommand({
        SnapshotId: child.SnapshotId!,
        BlockIndex: 9,
        BlockData: block(9),
        DataLength: BLOCK,
        Checksum: sha(block(9)),
        ChecksumAlgorithm: 'SHA256',
      }),
    );
    await ebs.send(new CompleteSnapshotCommand({ SnapshotId: child.SnapshotId!, ChangedBlocksCount: 1 }));
    t.same(await readAll(ebs, child.SnapshotId!), { 0: 1, 7: 7, 9: 9 });
    t.same(await changed(ebs, s.SnapshotId!, child.SnapshotId!), [[9, false, true]]);
  },
);

t.test(
  'a written volume: snapshots are point-in-time copies; ListChangedBlocks is complete within a lineage',
  async (t) => {
    const aws = await useLocalAws(t);
    const ebs = new EBSClient({});
    const ec2 = new EC2Client({});
    const vid = await volumeWith(aws, ec2, { 0: 1, 3: 3 });
    const before = (await ec2.send(new CreateSnapshotCommand({ VolumeId: vid }))).SnapshotId!;
    await aws.writeVolumeBlock({ volumeId: vid, blockIndex: 3, data: Buffer.from('rewritten') });
    await aws.writeVolumeBlock({ volumeId: vid, blockIndex: 5, data: block(5) });
    const after = (await ec2.send(new CreateSnapshotCommand({ VolumeId: vid }))).SnapshotId!;
    t.same(await readAll(ebs, before), { 0: 1, 3: 3 }, 'the earlier snapshot keeps its content');
    t.same(await readAll(ebs, after), { 0: 1, 3: 'r'.charCodeAt(0), 5: 5 });
    t.same(await changed(ebs, before, after), [
      [3, true, true],
      [5, false, true],
    ]);
    t.same(
      await changed(ebs, after, before),
      [
        [3, true, true],
        [5, true, false],
      ],
      'a block only in the first snapshot is listed, its second token absent',
    );
    t.same(await changed(ebs, undefined, after), [
      [0, false, true],
      [3, false, true],
      [5, false, true],
    ]);
    const unrelated = (await ec2.send(new CreateSnapshotCommand({ VolumeId: await volumeWith(aws, ec2, { 0: 1 }) })))
      .SnapshotId!;
    await t.rejects(ebs.send(new ListChangedBlocksCommand({ FirstSnapshotId: before, SecondSnapshotId: unrelated })), {
      name: 'ValidationException',
      Reason: 'UNRELATED_SNAPSHOTS',
    });
    await t.rejects(
      aws.writeVolumeBlock({ volumeId: vid, blockIndex: 2048, data: block(1) }),
      /does not fit/,
      'the test-only writer refuses a block past the volume',
    );
  },
);

t.test('lists page as AWS documents: MaxResults, NextToken, StartingBlockIndex', async (t) => {
  const aws = await useLocalAws(t);
  const ebs = new EBSClient({});
  const ec2 = new EC2Client({});
  const v = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: 1 }));
  for (let i = 0; i < 150; i++)
    await aws.writeVolumeBlock({ volumeId: v.VolumeId!, blockIndex: i * 2, data: Buffer.of(1) });
  const snap = (await ec2.send(new CreateSnapshotCommand({ VolumeId: v.VolumeId! }))).SnapshotId!;
  const p1 = await ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snap, MaxResults: 100 }));
  t.equal(p1.Blocks!.length, 100);
  t.equal(p1.Blocks![0]!.BlockIndex, 0);
  t.ok(p1.NextToken);
  const p2 = await ebs.send(
    new ListSnapshotBlocksCommand({ SnapshotId: snap, MaxResults: 100, NextToken: p1.NextToken }),
  );
  t.same(
    p2.Blocks!.map((b) => b.BlockIndex),
    Array.from({ length: 50 }, (_, i) => 200 + i * 2),
  );
  t.equal(p2.NextToken, undefined);
  const from = await ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snap, StartingBlockIndex: 297 }));
  t.same(
    from.Blocks!.map((b) => b.BlockIndex),
    [298],
  );
  await t.rejects(ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snap, MaxResults: 5 })), {
    name: 'ValidationException',
  });
  await t.rejects(ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snap, NextToken: 'garbage' })), {
    name: 'ValidationException',
  });
  const c1 = await ebs.send(new ListChangedBlocksCommand({ SecondSnapshotId: snap, MaxResults: 100 }));
  t.equal(c1.ChangedBlocks!.length, 100);
  const c2 = await ebs.send(new ListChangedBlocksCommand({ SecondSnapshotId: snap, NextToken: c1.NextToken }));
  t.equal(c2.ChangedBlocks!.length, 50);
});

t.test(
  'content travels with CreateSnapshots, RunInstances, CopySnapshot (cross-Region, shared by another account)',
  async (t) => {
    const aws = await useLocalAws(t);
    const ebs = new EBSClient({});
    const ec2 = new EC2Client({});
    const vid = await volumeWith(aws, ec2, { 4: 4 });
    const snap = (await ec2.send(new CreateSnapshotCommand({ VolumeId: vid }))).SnapshotId!;

    // RunInstances with a block device mapping naming the snapshot; CreateSnapshots of the instance.
    const run = await ec2.send(
      new RunInstancesCommand({
        ImageId: 'ami-12c6146b',
        MinCount: 1,
        MaxCount: 1,
        BlockDeviceMappings: [{ DeviceName: '/dev/sdf', Ebs: { SnapshotId: snap } }],
      }),
    );
    const multi = await ec2.send(
      new CreateSnapshotsCommand({ InstanceSpecification: { InstanceId: run.Instances![0]!.InstanceId! } }),
    );
    const contents = await Promise.all(multi.Snapshots!.map((s) => readAll(ebs, s.SnapshotId!)));
    t.ok(
      contents.some((c) => JSON.stringify(c) === JSON.stringify({ 4: 4 })),
      "the instance's volume from the snapshot holds its blocks",
    );

    // CopySnapshot in the same Region and into another one.
    const copy = (await ec2.send(new CopySnapshotCommand({ SourceSnapshotId: snap, SourceRegion: 'us-east-1' })))
      .SnapshotId!;
    t.same(await readAll(ebs, copy), { 4: 4 });
    const west = new EC2Client({ region: 'us-west-2' });
    const westCopy = (await west.send(new CopySnapshotCommand({ SourceSnapshotId: snap, SourceRegion: 'us-east-1' })))
      .SnapshotId!;
    t.same(await readAll(new EBSClient({ region: 'us-west-2' }), westCopy), { 4: 4 });

    // A snapshot another account shares with this one: read there, copied here.
    const owner = new EC2Client({ region: 'us-east-1', credentials: roleIn(OWNER, 'us-east-1') });
    const ownerEbs = new EBSClient({ region: 'us-east-1', credentials: roleIn(OWNER, 'us-east-1') });
    const ov = await owner.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: 1 }));
    await aws.writeVolumeBlock({ account: OWNER, volumeId: ov.VolumeId!, blockIndex: 1, data: block(8) });
    const shared = (await owner.send(new CreateSnapshotCommand({ VolumeId: ov.VolumeId! }))).SnapshotId!;
    t.same(await readAll(ownerEbs, shared), { 1: 8 }, 'the owner reads its own snapshot');
    await t.rejects(ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: shared })), {
      name: 'ResourceNotFoundException',
    });
    await owner.send(
      new ModifySnapshotAttributeCommand({
        SnapshotId: shared,
        Attribute: 'createVolumePermission',
        OperationType: 'add',
        UserIds: [ME],
      }),
    );
    const mine = (await ec2.send(new CopySnapshotCommand({ SourceSnapshotId: shared, SourceRegion: 'us-east-1' })))
      .SnapshotId!;
    t.same(await readAll(ebs, mine), { 1: 8 });
  },
);

t.test(
  'blocks are shared by reference: volumes and snapshots of a 16 GiB disk cost only its written blocks',
  async (t) => {
    const aws = await useLocalAws(t);
    const ec2 = new EC2Client({});
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${aws.pid}/status`, 'utf8'))![1]) * 1024;
    const vid = await volumeWith(aws, ec2, { 0: 1, 1: 2, 2: 3, 3: 4, 4: 5, 5: 6, 6: 7, 7: 8 }, 16); // 4 MiB written
    const base = rss();
    let snap = (await ec2.send(new CreateSnapshotCommand({ VolumeId: vid }))).SnapshotId!;
    for (let i = 0; i < 15; i++) {
      const v = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', SnapshotId: snap }));
      snap = (await ec2.send(new CreateSnapshotCommand({ VolumeId: v.VolumeId! }))).SnapshotId!;
    }
    // 30 more volumes and snapshots: copying the bytes would cost 120 MiB; sharing them costs nothing.
    t.ok(rss() - base < 40 * 1024 * 1024, `moto grew by ${Math.round((rss() - base) / 1048576)} MiB`);
    t.same(Object.keys(await readAll(new EBSClient({}), snap)).length, 8);
  },
);
