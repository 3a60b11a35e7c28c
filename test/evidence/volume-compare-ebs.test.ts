/**
 * The written-to check against the local AWS, on snapshots the emulator can read: snapshots
 * written through the EBS direct APIs (StartSnapshot / PutSnapshotBlock / CompleteSnapshot, sent
 * with the SDK here — the product never writes snapshots). The product side goes through the real
 * ports (`openAccount`), so the SDK's parsing of the EBS direct answers is exercised too.
 *
 * Emulator gaps (docs/local-aws.md, "What moto 5.2.1 does NOT reproduce"):
 * - "ListChangedBlocks — misses blocks only in the second snapshot": the block-only-in-second case
 *   below is decided by the content hash, because the changed-block list fails corroboration.
 * - "EBS direct on EC2-created snapshots — ListSnapshotBlocks 500": snapshots made by CreateSnapshot
 *   (which is what acquisition and close make) cannot be read, so the check answers `unavailable`.
 * - "EBS direct StartSnapshot — BlockSize reported as 512 (AWS: 524288)": blocks here are 512 bytes.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { EBSClient, StartSnapshotCommand, PutSnapshotBlockCommand, CompleteSnapshotCommand } from '@aws-sdk/client-ebs';
import { EC2Client, CreateVolumeCommand, CreateSnapshotCommand } from '@aws-sdk/client-ec2';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { openAccount } from '../../src/aws/account.js';
import { compareSnapshots } from '../../src/evidence/volume-compare.js';

const BLOCK = 512;

t.test('the written-to check on EBS direct snapshots in the local AWS', async (t) => {
  await useLocalAws(t);
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

  const evidence = await snapshot({ 0: 1, 1: 2, 5: 3 });

  t.test('identical content: changed-block list, corroborated', async (t) => {
    const same = await snapshot({ 0: 1, 1: 2, 5: 3 });
    const r = await compareSnapshots(account, evidence, same);
    t.equal(r.method, 'changed-blocks');
    t.equal(r.identical, true);
    t.equal(r.changedBlocks, 0);
  });

  t.test('one block rewritten with other data: listed as changed', async (t) => {
    const changed = await snapshot({ 0: 1, 1: 9, 5: 3 });
    const r = await compareSnapshots(account, evidence, changed);
    t.equal(r.method, 'changed-blocks');
    t.equal(r.identical, false);
    t.same(r.changedBlockIndexes, [1]);
  });

  t.test(
    'a block only in the second snapshot: the emulator leaves it out of the list, the content hash catches it',
    async (t) => {
      const extra = await snapshot({ 0: 1, 1: 2, 5: 3, 8: 4 });
      const r = await compareSnapshots(account, evidence, extra);
      t.equal(r.method, 'content-hash', 'the incomplete changed-block list is not trusted');
      t.equal(r.identical, false);
      t.same(r.changedBlockIndexes, [8]);
      t.match(r.fallbackReason, /left out 1 block/);
      t.equal(r.blocksCompared, 4);
    },
  );

  t.test('content hash of identical snapshots read in full gives equal digests', async (t) => {
    const same = await snapshot({ 5: 3, 1: 2, 0: 1 });
    const r = await compareSnapshots(account, evidence, same, { mode: 'content-hash' });
    t.equal(r.identical, true);
    t.equal(r.digests!.first, r.digests!.second);
    t.equal(r.blockSize, BLOCK);
  });

  t.test('snapshots made by CreateSnapshot cannot be read by the emulator: unavailable, never identical', async (t) => {
    const v = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: 1 }));
    const a = await ec2.send(new CreateSnapshotCommand({ VolumeId: v.VolumeId! }));
    const b = await ec2.send(new CreateSnapshotCommand({ VolumeId: v.VolumeId! }));
    const r = await compareSnapshots(account, a.SnapshotId!, b.SnapshotId!);
    t.equal(r.method, 'unavailable');
    t.equal(r.identical, undefined);
    t.match(r.reason, /ListChangedBlocks failed.*ListSnapshotBlocks failed/);
  });
});
