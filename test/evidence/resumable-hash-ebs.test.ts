/**
 * The resumable acquisition hash against the local AWS: a 1 GiB snapshot written through the EBS
 * direct APIs (sent with the SDK straight to the emulator; the product never writes snapshots) is
 * hashed in many passes, the state carried between them through JSON as Step Functions carries
 * it, and gives the same SHA-256 as one pass of `hashSnapshot` and as `sha256sum` of the disk's
 * bytes (computed here), the same Merkle root too. A state of another snapshot, or one changed on
 * the way, is refused. The workflow entry `hashEvidenceStep` records the acquisition hash as
 * `acquire` does (the same action, key and fields) and answers from the record afterwards.
 *
 * The block size is what the emulator reports (never assumed); the passes' boundaries fall at many
 * places, inside runs of unwritten (zero) blocks included.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { EBSClient, StartSnapshotCommand, PutSnapshotBlockCommand, CompleteSnapshotCommand } from '@aws-sdk/client-ebs';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { openAccount } from '../../src/aws/account.js';
import { hashSnapshot } from '../../src/evidence/content-hash.js';
import { hashSnapshotResumable, type HashResume } from '../../src/evidence/resumable-hash.js';
import { hashEvidenceStep } from '../../src/workflows/evidence/hash-step.js';
import { MemoryRecorder } from '../../src/domain/recorder.js';
import { StepRecorder } from '../../src/domain/step-recorder.js';
import { idempotencyKeys } from '../../src/domain/idempotency-keys.js';
import { foldEvidence } from '../../src/domain/evidence.js';

const GIB = 2 ** 30;

/** A 1 GiB snapshot with content in the blocks `pick` chooses (given the block count). */
async function writeSnapshot(ebs: EBSClient, pick: (n: number) => number[], label: string) {
  const s = await ebs.send(new StartSnapshotCommand({ VolumeSize: 1, Description: `cleanroom resumable ${label}` }));
  const snapshotId = s.SnapshotId!;
  const blockSize = s.BlockSize!;
  const blocks = [...new Set(pick(GIB / blockSize))].sort((x, y) => x - y);
  const content = new Map<number, Buffer>();
  for (const index of blocks) {
    const data = Buffer.alloc(blockSize, `${label}: block ${index} of the evidence disk; `);
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
  // What `sha256sum` of the attached device prints: every byte of 1 GiB, zeros where nothing was written.
  const expected = createHash('sha256');
  const zeros = Buffer.alloc(blockSize);
  for (let i = 0; i < GIB / blockSize; i++) expected.update(content.get(i) ?? zeros);
  return { snapshotId, blockSize, sha256: expected.digest('hex') };
}

/** A budget clock that moves one tick per look: a pass reads about `budget` blocks, whatever the machine's speed. */
function ticking() {
  let n = 0;
  return () => n++;
}

t.test('a 1 GiB snapshot hashed in many passes: the same SHA-256 as one pass and as sha256sum', async (t) => {
  await useLocalAws(t);
  const ebs = new EBSClient({});
  const a = await writeSnapshot(ebs, (n) => [0, 1, 2, 7, n / 2 - 1, n / 2, n - 300, n - 1], 'a');
  const b = await writeSnapshot(ebs, () => [3], 'b');
  const blocks = GIB / a.blockSize;
  const account = await openAccount({ region: 'us-east-1' });

  const one = await hashSnapshot(account, a.snapshotId);
  t.equal(one.sha256, a.sha256, 'one pass: the SHA-256 of the whole raw disk');

  // About blocks/6 block boundaries per pass (the budget clock ticks once per look).
  const budget = Math.ceil(blocks / 6);
  const now = ticking();
  let resume: HashResume | undefined;
  let passes = 0;
  let largest = 0;
  let states: HashResume[] = [];
  for (;;) {
    passes += 1;
    const r = await hashSnapshotResumable(account, a.snapshotId, {
      ...(resume ? { resume } : {}),
      budgetMs: budget,
      now,
    });
    if (r.done) {
      t.equal(r.hash.sha256, a.sha256, 'the resumed hash is the SHA-256 of the whole raw disk');
      t.equal(r.hash.sha256, one.sha256);
      t.equal(r.hash.merkleRoot, one.merkleRoot, 'and the same Merkle root');
      t.equal(r.hash.sizeBytes, GIB);
      t.equal(r.hash.blocksRead, 8, 'every written block read once over all passes');
      t.equal(r.bytesHashed, GIB);
      break;
    }
    t.ok(r.bytesHashed > (resume?.bytesHashed ?? 0), 'every pass progresses');
    t.equal(r.totalBytes, GIB);
    // Carried as Step Functions carries it: JSON.
    const json = JSON.stringify(r.resume);
    largest = Math.max(largest, json.length);
    resume = JSON.parse(json) as HashResume;
    states = [...states, resume];
    if (passes > 20) t.fail('too many passes');
  }
  t.ok(passes >= 5, `hashed in ${passes} passes`);
  t.ok(largest < 1500, `the state is small (${largest} bytes of JSON)`);

  const mid = states[1]!;
  t.test('a state of another snapshot is refused', async (t) => {
    const e = await hashSnapshotResumable(account, b.snapshotId, { resume: mid, budgetMs: budget, now }).catch(
      (x) => x,
    );
    t.equal(e.code, 'HASH_STATE_INVALID');
    t.equal(e.exitCode, 2);
    t.match(e.message, new RegExp(`is of snapshot ${a.snapshotId}, not ${b.snapshotId}`));
  });
  t.test('a state changed on the way is refused (block index, SHA-256 state, geometry)', async (t) => {
    for (const changed of [
      { ...mid, nextBlock: mid.nextBlock + 1, bytesHashed: mid.bytesHashed + mid.blockSize },
      { ...mid, sha256State: Buffer.alloc(Buffer.from(mid.sha256State, 'base64').length, 1).toString('base64') },
      { ...mid, blockSize: mid.blockSize / 2, bytesHashed: (mid.nextBlock * mid.blockSize) / 2 },
      { ...mid, v: 2 },
    ]) {
      const e = await hashSnapshotResumable(account, a.snapshotId, {
        resume: changed as HashResume,
        budgetMs: budget,
        now,
      }).catch((x) => x);
      t.equal(e.code, 'HASH_STATE_INVALID', `refused: ${e.message}`);
    }
  });

  t.test('hashEvidenceStep records the acquisition hash as acquire does, once', async (t) => {
    const custody = new MemoryRecorder();
    await new StepRecorder(custody).recordEvidence(
      idempotencyKeys.acquire.preserved('ev-disk', a.snapshotId),
      'evidence.preserved',
      [],
      {
        evidenceId: 'ev-disk',
        forensicSnapshotId: a.snapshotId,
        sourceSnapshotId: 'snap-0123456789abcdef0',
        sizeGiB: 1,
        state: 'preserved',
      },
    );
    let resume: HashResume | undefined;
    let steps = 0;
    let done: Awaited<ReturnType<typeof hashEvidenceStep>> | undefined;
    // A real wall-clock budget here (the workflow's): how many steps depends on the machine.
    while (!done?.done && steps < 500) {
      steps += 1;
      done = await hashEvidenceStep(
        { forensic: account, custody },
        { caseId: 'IR-77', evidenceId: 'ev-disk', ...(resume ? { resume } : {}), budgetMs: 300 },
      );
      if (!done.done) {
        t.equal(custody.events().length, 1, 'nothing is recorded before the last block');
        resume = done.resume;
      }
    }
    t.ok(done?.done && steps >= 2, `done in ${steps} steps`);
    const ev = custody.find(idempotencyKeys.acquire.hash('ev-disk', a.snapshotId));
    t.ok(ev, 'recorded under the key acquire uses');
    t.equal(ev!.action, 'evidence.hash');
    t.same(Object.keys(ev!.outcome.details!).sort(), ['evidence', 'result', 'snapshotId']);
    const item = foldEvidence(custody.events()).get('ev-disk')!;
    t.equal(item.sha256, a.sha256);
    t.equal(item.merkleRoot, one.merkleRoot);
    t.equal(item.sizeBytes, GIB);
    t.match(item.hashTool, { name: 'cleanroom', method: 'ebs-direct' });
    t.match(item.sourceHash, { status: 'skipped', snapshotId: 'snap-0123456789abcdef0' });
    const again = await hashEvidenceStep(
      { forensic: account, custody },
      { caseId: 'IR-77', evidenceId: 'ev-disk', budgetMs: 0 },
    );
    t.match(again, { done: true, alreadyRecorded: true, sha256: a.sha256 });
    t.equal(custody.events().length, 2, 'recorded once');
  });
});
