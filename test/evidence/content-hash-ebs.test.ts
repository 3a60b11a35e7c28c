/**
 * The content hash against the local AWS, behind the fault proxy: a snapshot written through the
 * EBS direct APIs (StartSnapshot / PutSnapshotBlock / CompleteSnapshot, sent with the SDK straight
 * to the emulator — the product never writes snapshots) is read through the real ports
 * (`openAccount`), so the SDK's parsing and retries of the EBS direct answers are exercised too.
 *
 * The block size is whatever the emulator reports (moto 5.2.1 reports 512 for StartSnapshot, AWS
 * 524288: docs/local-aws.md) — the hash takes it from ListSnapshotBlocks, never assumes it.
 * Block bodies are ASCII so that the proxy's text rewrite changes bytes without changing length.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { EBSClient, StartSnapshotCommand, PutSnapshotBlockCommand, CompleteSnapshotCommand } from '@aws-sdk/client-ebs';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { openAccount } from '../../src/aws/account.js';
import { hashSnapshot } from '../../src/evidence/content-hash.js';
import { startFaultProxy } from '../harness/fault-proxy.js';

const GIB = 2 ** 30;

t.test('hashing an EBS direct snapshot through throttling, 5xx, resets and a damaged block', async (t) => {
  const aws = await useLocalAws(t);
  const ebs = new EBSClient({ endpoint: aws.endpoint });
  const s = await ebs.send(new StartSnapshotCommand({ VolumeSize: 1, Description: 'cleanroom content-hash test' }));
  const snapshotId = s.SnapshotId!;
  const blockSize = s.BlockSize!;
  const content = new Map<number, Buffer>();
  for (const index of [0, 1, 5, 100]) {
    const data = Buffer.alloc(blockSize, `block ${index} of the evidence disk; `);
    content.set(index, data);
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
  await ebs.send(new CompleteSnapshotCommand({ SnapshotId: snapshotId, ChangedBlocksCount: content.size }));

  // What `sha256sum` of the attached device gives: every byte of 1 GiB, zeros where nothing was written.
  const expected = createHash('sha256');
  const zeros = Buffer.alloc(blockSize);
  for (let i = 0; i < GIB / blockSize; i++) expected.update(content.get(i) ?? zeros);
  const sha256 = expected.digest('hex');

  const proxy = await startFaultProxy(aws);
  t.teardown(() => proxy.close());
  process.env.AWS_ENDPOINT_URL = proxy.endpoint;
  const block = (i: number) => new RegExp(`^GET /snapshots/${snapshotId}/blocks/${i}$`);
  const reads = (i: number) => proxy.calls.filter((c) => block(i).test(c.action)).length;
  const corrupt = { kind: 'rewrite', fn: (b: string) => `X${b.slice(1)}` } as const;

  t.test('every fault retried by this module (an account whose SDK does not retry): the hash is right', async (t) => {
    proxy.clear();
    const account = await openAccount({ region: 'us-east-1', maxAttempts: 1 });
    const start = proxy.calls.length;
    proxy.add({ service: 'ebs', action: block(0), fault: { kind: 'throttle' }, times: 1 });
    proxy.add({
      service: 'ebs',
      action: block(0),
      fault: { kind: 'error', status: 400, code: 'RequestThrottledException', message: 'Rate exceeded' },
      times: 1,
    });
    proxy.add({
      service: 'ebs',
      action: block(1),
      fault: { kind: 'error', status: 500, code: 'InternalServerException' },
      times: 1,
    });
    proxy.add({ service: 'ebs', action: block(5), fault: { kind: 'reset' }, times: 1 });
    proxy.add({ service: 'ebs', action: block(100), fault: corrupt, times: 2 });
    const h = await hashSnapshot(account, snapshotId, { retryDelayMs: 5 });
    t.equal(h.sha256, sha256, 'the SHA-256 of the whole raw disk');
    t.equal(h.sizeBytes, GIB);
    t.equal(h.blockSize, blockSize, 'the block size as the API reports it');
    t.equal(h.blocksRead, 4);
    t.match(h.merkleRoot, /^[0-9a-f]{64}$/);
    const mine = proxy.calls.slice(start);
    t.same(
      [0, 1, 5, 100].map((i) => mine.filter((c) => block(i).test(c.action)).length),
      [3, 2, 2, 3],
      'each failed read sent again',
    );
  });

  t.test('the SDK retries a throttled call itself; this module does not multiply its retries', async (t) => {
    proxy.clear();
    const account = await openAccount({ region: 'us-east-1', maxAttempts: 3 });
    const before = reads(0);
    proxy.add({ service: 'ebs', action: block(0), fault: { kind: 'throttle' } });
    const e = await hashSnapshot(account, snapshotId, { retryDelayMs: 5 }).catch((x) => x);
    t.equal(e.code, 'BLOCK_READ_FAILED');
    t.match(e.message, new RegExp(`Block 0 of snapshot ${snapshotId} could not be read`));
    t.equal(reads(0) - before, 3, "the SDK's three attempts, no more");
  });

  t.test('a block damaged on every read fails naming the snapshot and the block', async (t) => {
    proxy.clear();
    const account = await openAccount({ region: 'us-east-1' });
    const before = reads(1);
    proxy.add({ service: 'ebs', action: block(1), fault: corrupt });
    const e = await hashSnapshot(account, snapshotId, { retries: 2 }).catch((x) => x);
    t.equal(e.code, 'BLOCK_CHECKSUM_MISMATCH');
    t.match(e.message, new RegExp(`Block 1 of snapshot ${snapshotId} does not match the checksum`));
    t.match(e.details, { snapshotId, blockIndex: 1 });
    t.equal(reads(1) - before, 3, 'read once and twice again');
  });
});
