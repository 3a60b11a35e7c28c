/**
 * The written-to check against the local AWS, as close runs it: the evidence snapshot (written
 * through the EBS direct APIs here, StartSnapshot / PutSnapshotBlock / CompleteSnapshot — the
 * product never writes snapshots), a working volume created from it, perhaps written to (the local
 * AWS's test-only writeVolumeBlock), and that volume's snapshot. The product side goes through the
 * real ports (`openAccount`), so the SDK's parsing of the EBS direct answers is exercised too.
 * The local AWS holds disk content (fidelity patch `ebs_snapshot_content`, docs/local-aws.md).
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { EBSClient, StartSnapshotCommand, PutSnapshotBlockCommand, CompleteSnapshotCommand } from '@aws-sdk/client-ebs';
import { EC2Client, CreateVolumeCommand, CreateSnapshotCommand } from '@aws-sdk/client-ec2';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { openAccount } from '../../src/aws/account.js';
import { compareSnapshots } from '../../src/evidence/volume-compare.js';

const BLOCK = 524288;

t.test('the written-to check on snapshots in the local AWS', async (t) => {
  const aws = await useLocalAws(t);
  const ebs = new EBSClient({});
  const ec2 = new EC2Client({});
  const account = await openAccount({ region: 'us-east-1', maxAttempts: 1 });

  async function snapshot(blocks: Record<number, number>): Promise<string> {
    const s = await ebs.send(new StartSnapshotCommand({ VolumeSize: 1, Description: 'cleanroom volume-compare test' }));
    for (const [index, fill] of Object.entries(blocks)) {
      const data = Buffer.alloc(BLOCK, fill);
      await ebs.send(
        new PutSnapshotBlockCommand({
          SnapshotId: s.SnapshotId!,
          BlockIndex: Number(index),
          BlockData: data,
          DataLength: BLOCK,
          Checksum: createHash('sha256').update(data).digest('base64'),
          ChecksumAlgorithm: 'SHA256',
        }),
      );
    }
    await ebs.send(
      new CompleteSnapshotCommand({ SnapshotId: s.SnapshotId!, ChangedBlocksCount: Object.keys(blocks).length }),
    );
    return s.SnapshotId!;
  }

  /** A working volume made from `from`, these blocks written to it, then snapshotted (as close does). */
  async function workedOn(from: string, writes: Record<number, number> = {}): Promise<string> {
    const v = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', SnapshotId: from }));
    for (const [index, fill] of Object.entries(writes))
      await aws.writeVolumeBlock({ volumeId: v.VolumeId!, blockIndex: Number(index), data: Buffer.alloc(BLOCK, fill) });
    return (await ec2.send(new CreateSnapshotCommand({ VolumeId: v.VolumeId! }))).SnapshotId!;
  }

  const evidence = await snapshot({ 0: 1, 1: 2, 5: 3 });

  t.test('a working volume not written to: changed-block list empty, corroborated', async (t) => {
    const r = await compareSnapshots(account, evidence, await workedOn(evidence));
    t.equal(r.method, 'changed-blocks');
    t.equal(r.identical, true);
    t.equal(r.changedBlocks, 0);
    t.equal(r.blockSize, BLOCK);
  });

  t.test('one block rewritten with other data: listed as changed', async (t) => {
    const r = await compareSnapshots(account, evidence, await workedOn(evidence, { 1: 9 }));
    t.equal(r.method, 'changed-blocks');
    t.equal(r.identical, false);
    t.same(r.changedBlockIndexes, [1]);
  });

  t.test('a block written where the evidence held none: listed, and the list corroborated', async (t) => {
    const r = await compareSnapshots(account, evidence, await workedOn(evidence, { 8: 4 }));
    t.equal(r.method, 'changed-blocks');
    t.equal(r.identical, false);
    t.same(r.changedBlockIndexes, [8]);
  });

  t.test('content hash of identical snapshots read in full gives equal digests', async (t) => {
    const r = await compareSnapshots(account, evidence, await workedOn(evidence), { mode: 'content-hash' });
    t.equal(r.identical, true);
    t.equal(r.digests!.first, r.digests!.second);
    t.equal(r.blockSize, BLOCK);
    t.equal(r.blocksCompared, 3);
  });

  t.test('unrelated snapshots: ListChangedBlocks refuses them, the content hash decides', async (t) => {
    const same = await snapshot({ 5: 3, 1: 2, 0: 1 });
    const r = await compareSnapshots(account, evidence, same);
    t.equal(r.method, 'content-hash');
    t.equal(r.identical, true);
    t.match(r.fallbackReason, /ListChangedBlocks failed/);
    const other = await compareSnapshots(account, evidence, await snapshot({ 0: 1, 1: 2, 5: 3, 8: 4 }));
    t.equal(other.identical, false);
    t.same(other.changedBlockIndexes, [8]);
  });

  t.test('a snapshot that cannot be read: unavailable, never identical', async (t) => {
    const r = await compareSnapshots(account, evidence, 'snap-0123456789abcdef0');
    t.equal(r.method, 'unavailable');
    t.equal(r.identical, undefined);
    t.match(r.reason, /ListChangedBlocks failed.*ListSnapshotBlocks failed/);
  });
});
