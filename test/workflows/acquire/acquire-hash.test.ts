/**
 * The acquisition hash, at the workflow level on the acquisition fake (`fake.ts`) with a fake
 * content hasher (no EBS direct API: a snapshot holds the content of the volume its copy chain
 * started from): every item's forensic snapshot hashed and recorded once (`evidence.hash`), the
 * source snapshot hashed in the source account and compared (equal / different / unavailable /
 * skipped), a hash that cannot be read failing the item clearly, and a kill during the hash.
 * The hashing itself (blocks, checksums, Merkle tree) is test/evidence/content-hash.test.ts.
 */
import t from 'tap';
import { Crash } from '../../harness/interruptions.js';
import { PartialFailureError, VerificationFailedError } from '../../../src/domain/errors.js';
import { foldEvidence } from '../../../src/domain/evidence.js';
import type { ProgressEvent } from '../../../src/domain/reporter.js';
import { acquireEvidence, type AcquireDeps, type AcquireOptions } from '../../../src/workflows/acquire/index.js';
import { CASE, FORENSIC, SOURCE, World } from './fake.js';

const deps = (w: World, extra: Partial<AcquireDeps> = {}): AcquireDeps => ({
  forensic: w.forensic.port(),
  source: w.source.port(),
  custody: w.recorder,
  room: w.gate(),
  clock: w.clock,
  hasher: w.hasher(),
  ...extra,
});
const acquire = (w: World, o: Partial<AcquireOptions> = {}, extra: Partial<AcquireDeps> = {}) =>
  acquireEvidence(deps(w, extra), { caseId: CASE, ...o });
/** A world with one 8 GiB source volume, and its hasher (a test wraps it to stop or fail a hash). */
const oneVolume = () => {
  const w = new World();
  const { volumeIds } = w.compromisedInstance([8]);
  return { w, volumeIds, realHasher: w.hasher() };
};
const hashEvents = (w: World) => w.recorder.events().filter((e) => e.action === 'evidence.hash');

t.test('every forensic snapshot is hashed and recorded once; the source snapshot hashes equal', async (t) => {
  const w = new World();
  const { instanceId } = w.compromisedInstance([8, 20]);
  const progress: ProgressEvent[] = [];
  const r = await acquire(
    w,
    { instanceIds: [instanceId] },
    { reporter: { progress: (e) => progress.push(e), warn() {}, debug() {} } },
  );
  t.same(r.failures, []);
  t.equal(r.evidence.length, 2);
  for (const e of r.evidence) {
    t.match(e.sha256, /^[0-9a-f]{64}$/, `${e.evidenceId} sha256`);
    t.match(e.merkleRoot, /^[0-9a-f]{64}$/);
    t.ok(e.sizeBytes! >= 8 * 2 ** 30);
    t.equal(e.blockSize, 524288);
    t.ok(e.hashedAt);
    t.same(e.hashTool, { name: 'cleanroom', version: '0.1.0', method: 'ebs-direct' });
    t.equal(e.sourceHash?.status, 'equal', 'the cross-account, re-encrypted copy is bit-identical');
    t.equal(e.sourceHash?.snapshotId, e.sourceSnapshotId);
    t.equal(e.sourceHash?.sha256, e.sha256);
  }
  t.not(r.evidence[0]!.sha256, r.evidence[1]!.sha256, 'two volumes, two contents');
  t.same(
    w.hashes.map((h) => h.owner).sort(),
    [FORENSIC, FORENSIC, SOURCE, SOURCE].sort(),
    'each forensic snapshot hashed in the forensic account, each source snapshot in the source account',
  );
  const events = hashEvents(w);
  t.equal(events.length, 2, 'one evidence.hash per item');
  for (const ev of events) {
    t.match(ev.idempotencyKey, /^acquire:hash:ev-[^:]+:snap-/);
    t.same(
      ev.resources.map((x) => x.account),
      [FORENSIC, SOURCE],
    );
  }
  t.ok(
    progress.some((p) => p.kind === 'item' && p.phase === 'hashing' && p.percent === 100),
    'hash progress is reported',
  );
  // Hashed after the copy completed, before the working volume was made.
  const actions = w.recorder.events().map((e) => e.action);
  t.ok(actions.lastIndexOf('evidence.preserved') < actions.indexOf('evidence.hash'));
  t.ok(actions.lastIndexOf('evidence.hash') < actions.indexOf('evidence.volume.create'));

  // The same command again: nothing hashed, nothing recorded.
  const before = w.hashes.length;
  const n = w.recorder.events().length;
  await acquire(w, { instanceIds: [instanceId] });
  t.equal(w.hashes.length, before, 'a rerun does not hash again what is recorded');
  t.equal(hashEvents(w).length, 2);
  t.ok(w.recorder.events().length <= n + 1, 'at most the run summary is new');
});

t.test('sourceHash: false hashes only the forensic snapshot (skipped)', async (t) => {
  const w = new World();
  const { volumeIds } = w.compromisedInstance([8]);
  const r = await acquire(w, { volumeIds, sourceHash: false });
  t.same(r.failures, []);
  t.equal(r.evidence[0]!.sourceHash?.status, 'skipped');
  t.same(
    w.hashes.map((h) => h.owner),
    [FORENSIC],
  );
});

t.test('a source role without EBS direct read: source hash unavailable with the reason, not a failure', async (t) => {
  const w = new World();
  const { volumeIds } = w.compromisedInstance([8]);
  w.denyHash.add(SOURCE);
  const warnings: string[] = [];
  const r = await acquire(w, { volumeIds }, { reporter: { progress() {}, warn: (m) => warnings.push(m), debug() {} } });
  t.same(r.failures, []);
  const e = r.evidence[0]!;
  t.equal(e.state, 'attached');
  t.match(e.sha256, /^[0-9a-f]{64}$/, 'the forensic hash is recorded');
  t.equal(e.sourceHash?.status, 'unavailable');
  t.match(e.sourceHash?.reason, /Access denied.*ebs:ListSnapshotBlocks/);
  t.equal(e.sourceHash?.snapshotId, e.sourceSnapshotId);
  t.match(warnings.join('\n'), /source hash of ev-\S+ unavailable: Access denied/);
});

t.test(
  'a forensic copy whose content differs from its source: recorded, the item kept, the run ends exit 3 naming it',
  async (t) => {
    const w = new World();
    const { volumeIds } = w.compromisedInstance([8, 20]);
    // The forensic copy of the first volume reads back different bytes.
    const realHasher = w.hasher();
    let corrupted = '';
    const hasher: AcquireDeps['hasher'] = async (account, snapshotId, opts) => {
      const snap = w.forensic.snapshots.get(snapshotId);
      if (snap && !corrupted && snap.tags['cleanroom:source-volume'] === volumeIds[1]) {
        corrupted = snapshotId;
        w.corrupt.add(snapshotId);
      }
      return realHasher(account, snapshotId, opts);
    };
    const e = await acquire(w, { volumeIds }, { hasher }).catch((x) => x);
    t.type(e, VerificationFailedError);
    t.equal(e.code, 'EVIDENCE_HASH_MISMATCH');
    t.equal(e.exitCode, 3);
    t.ok(corrupted, 'a forensic copy was corrupted');
    const item = [...foldEvidence(w.recorder.events()).values()].find((x) => x.forensicSnapshotId === corrupted)!;
    t.match(e.message, new RegExp(`${item.evidenceId} \\(${corrupted}\\) is NOT bit-identical`));
    t.equal(item.sourceHash?.status, 'different');
    t.not(item.sourceHash?.sha256, item.sha256);
    t.equal(item.state, 'attached', 'the item is still preserved and attached (the record says what it is)');
    t.equal(e.details.evidence.length, 1, 'only that item is named');
    t.equal(hashEvents(w).length, 2);
    t.ok(
      w.recorder.events().some((x) => x.action === 'acquire.run'),
      'the run is recorded',
    );
    // A rerun: still exit 3 (the record says different), nothing recorded again.
    const again = await acquire(w, { volumeIds }, { hasher }).catch((x) => x);
    t.equal(again.code, 'EVIDENCE_HASH_MISMATCH');
    t.equal(hashEvents(w).length, 2);
  },
);

t.test(
  'a snapshot the EBS direct APIs cannot read: the item fails clearly at the hash step, the copy kept',
  async (t) => {
    const { w, volumeIds, realHasher } = oneVolume();
    const hasher: AcquireDeps['hasher'] = async (account, snapshotId, opts) => {
      if (w.forensic.snapshots.has(snapshotId)) w.unreadable.add(snapshotId);
      return realHasher(account, snapshotId, opts);
    };
    const e = await acquire(w, { volumeIds, sourceHash: false }, { hasher }).catch((x) => x);
    t.type(e, PartialFailureError);
    t.equal(e.exitCode, 1);
    t.match(e.failures[0].error.message, /Block 0 of snapshot snap-\S+ could not be read/);
    t.equal(e.failures[0].error.code, 'BLOCK_READ_FAILED');
    const failed = w.recorder.events().find((x) => x.action === 'evidence.failed')!;
    t.equal(failed.outcome.details?.['step'], 'hash');
    // The working volume is made while the snapshot is hashed: it was made, the hash failed.
    t.equal(failed.outcome.details?.['reached'], 'volume-created');
    t.equal(failed.outcome.error?.code, 'BLOCK_READ_FAILED');
    t.equal(hashEvents(w).length, 0);
    const item = [...foldEvidence(w.recorder.events()).values()][0]!;
    t.ok(item.forensicSnapshotId, 'the forensic copy is recorded and kept');
    // Readable again: the rerun hashes it and finishes.
    w.unreadable.clear();
    const r = await acquire(w, { volumeIds, sourceHash: false });
    t.same(r.failures, []);
    t.match(r.evidence[0]!.sha256, /^[0-9a-f]{64}$/);
  },
);

t.test('the working volume is made while its forensic snapshot is hashed, not after the hash', async (t) => {
  const { w, volumeIds, realHasher } = oneVolume();
  let volumeSeenDuringHash = false;
  const hasher: AcquireDeps['hasher'] = async (account, snapshotId, opts) => {
    if (w.forensic.snapshots.has(snapshotId)) {
      // The forensic hash does not end until the working volume of its snapshot exists (bounded:
      // a pipeline that makes the volume only after the hash never gets there).
      for (let turn = 0; turn < 10_000 && !volumeSeenDuringHash; turn++) {
        volumeSeenDuringHash = [...w.forensic.volumes.values()].some((v) => v.snapshotId === snapshotId);
        if (!volumeSeenDuringHash) await new Promise((r) => setImmediate(r));
      }
    }
    return realHasher(account, snapshotId, opts);
  };
  const r = await acquire(w, { volumeIds, sourceHash: false }, { hasher });
  t.same(r.failures, []);
  t.ok(volumeSeenDuringHash, 'CreateVolume was sent while the forensic snapshot was being hashed');
  t.equal(hashEvents(w).length, 1);
  t.ok(r.evidence[0]!.volumeId, 'the working volume is recorded');
});

t.test('a working volume that cannot be made stops the hash; the failure names the working volume', async (t) => {
  const { w, volumeIds, realHasher } = oneVolume();
  let hashStopped = false;
  let long = true;
  const hasher: AcquireDeps['hasher'] = async (account, snapshotId, opts) => {
    if (long && w.forensic.snapshots.has(snapshotId)) {
      // A long hash: it ends when it is told to stop (bounded: one never stopped fails the test).
      const signal = opts?.signal;
      for (let turn = 0; turn < 10_000 && !signal?.aborted; turn++) await new Promise((r) => setImmediate(r));
      hashStopped = signal?.aborted === true;
      throw signal?.reason ?? new Error('the hash was never stopped');
    }
    return realHasher(account, snapshotId, opts);
  };
  w.forensic.failBefore.set('CreateVolume', { n: 1, code: 'VolumeLimitExceeded', status: 400 });
  const e = await acquire(w, { volumeIds, sourceHash: false }, { hasher }).catch((x) => x);
  t.type(e, PartialFailureError);
  t.ok(hashStopped, 'the hash running beside the failed volume was stopped');
  const failed = w.recorder.events().find((x) => x.action === 'evidence.failed')!;
  t.equal(failed.outcome.details?.['step'], 'working-volume', 'the failure names the step that failed first');
  t.equal(failed.outcome.details?.['reached'], 'preserved');
  t.equal(failed.outcome.error?.code, 'AWS_VolumeLimitExceeded');
  t.equal(hashEvents(w).length, 0, 'no hash recorded');
  long = false;
  const r = await acquire(w, { volumeIds, sourceHash: false }, { hasher });
  t.same(r.failures, [], 'the rerun makes the volume and hashes');
  t.equal(hashEvents(w).length, 1);
});

t.test('killed during the hash, then run again: hashed again, recorded once', async (t) => {
  const { w, volumeIds, realHasher } = oneVolume();
  let kill = true;
  const hasher: AcquireDeps['hasher'] = async (account, snapshotId, opts) => {
    if (kill && w.forensic.snapshots.has(snapshotId)) {
      kill = false;
      w.dead = true; // the process is gone mid-hash
      throw new Crash();
    }
    return realHasher(account, snapshotId, opts);
  };
  const killed = await acquire(w, { volumeIds }, { hasher }).catch((x) => x);
  t.ok(
    killed instanceof Crash ||
      (killed instanceof PartialFailureError && killed.failures.every((f) => f.error instanceof Crash)),
  );
  t.equal(hashEvents(w).length, 0, 'nothing recorded for the hash that was killed');
  w.revive();
  const before = w.hashes.length;
  const r = await acquire(w, { volumeIds }, { hasher });
  t.same(r.failures, []);
  t.ok(w.hashes.length > before, 'hashed again');
  t.equal(hashEvents(w).length, 1, 'recorded once');
  t.equal(r.evidence[0]!.sourceHash?.status, 'equal');
});
