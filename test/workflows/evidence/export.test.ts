/**
 * `evidence export` at the workflow level, on a record seeded with a preserved, hashed item and a
 * fake vault: what is recorded (`evidence.export.start` with the upload id, one `evidence.export`
 * with the export's details, the item's `lastExport`), a killed export taken up by the rerun and
 * recorded once, a run that died between completing and recording, a hash that differs (exit 3,
 * aborted, recorded), bad input refused before any AWS call, and the file target.
 */
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { AwsAccount } from '../../../src/aws/ports.js';
import { MemoryRecorder, type CustodyEntry } from '../../../src/domain/recorder.js';
import { foldEvidence } from '../../../src/domain/evidence.js';
import { exportEvidence, type ExportDeps } from '../../../src/workflows/evidence/index.js';
import { imageKey } from '../../../src/evidence/image-export.js';
import type { hashSnapshot } from '../../../src/evidence/content-hash.js';
import { IDENTITY } from '../../fakes/ports.js';
import { FakeDisk, FakeMultipartBucket } from '../../evidence/fake-multipart.js';

const MiB = 2 ** 20;
const CASE = 'case-export-1';
const EID = 'ev-web-root';
const SNAP = 'snap-0123456789abcdef0';
const VAULT = {
  bucket: 'cleanroom-evidence-123456789012-us-east-1',
  vaultKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/vault',
  lockMode: 'COMPLIANCE' as const,
  retentionDays: 30,
};
const NOW = new Date('2026-12-05T06:30:00Z');

class Recorder extends MemoryRecorder {
  /** Throw (a killed process) instead of recording the next event of this action. */
  dieBefore: string | undefined;
  override async record(entry: CustodyEntry) {
    if (entry.action === this.dieBefore && !this.find(entry.idempotencyKey ?? '')) {
      this.dieBefore = undefined;
      throw new Error(`killed before recording ${entry.action}`);
    }
    return super.record(entry);
  }
}

function world(opts: { hashed?: boolean; sha256?: string } = {}) {
  const disk = FakeDisk.filled(MiB, 12, [0, 2, 5, 6, 10]);
  const custody = new Recorder('arn:aws:sts::123456789012:assumed-role/Custodian/alice', () => NOW);
  void custody.record({
    action: 'evidence.preserved',
    resources: [],
    outcome: {
      status: 'succeeded',
      details: {
        evidence: {
          evidenceId: EID,
          forensicSnapshotId: SNAP,
          state: 'preserved',
          sizeGiB: 1,
          ...(opts.hashed === false
            ? {}
            : {
                sha256: opts.sha256 ?? disk.sha256(),
                sizeBytes: disk.sizeBytes,
                blockSize: disk.blockSize,
                blocksRead: disk.blocks.size,
              }),
        },
      },
    },
  });
  const bucket = new FakeMultipartBucket(VAULT.bucket);
  const awsCalls: string[] = [];
  const s3 = bucket.port().s3;
  const forensic = {
    ...IDENTITY,
    s3: new Proxy(s3, {
      get: (o, k) => {
        awsCalls.push(`s3:${String(k)}`);
        return (o as Record<string | symbol, unknown>)[k];
      },
    }),
  } as unknown as AwsAccount;
  let stopAt: number | undefined;
  const readSnapshot = (async (_a, snapshotId, o) => {
    awsCalls.push(`ebs:read:${snapshotId}`);
    const at = stopAt;
    stopAt = undefined;
    return disk.reader(at !== undefined ? { stopAt: at } : {})(async (i, d) => o?.onBlock?.(i, d));
  }) as typeof hashSnapshot;
  const deps: ExportDeps = { forensic, custody, vault: VAULT, now: () => NOW, readSnapshot };
  return {
    disk,
    custody,
    bucket,
    awsCalls,
    deps,
    killAtBlock: (n: number) => {
      stopAt = n;
    },
  };
}

const actions = (c: MemoryRecorder) => c.events().map((e) => e.action);

t.test('into the vault: the start (upload id) and one export recorded; the item carries lastExport', async (t) => {
  const w = world();
  const r = await exportEvidence(w.deps, { caseId: CASE, evidenceId: EID, target: { kind: 'vault' } });
  const key = imageKey(CASE, EID);
  t.equal(r.export.location, `s3://${VAULT.bucket}/${key}`);
  t.equal(r.export.sha256, w.disk.sha256());
  t.same(actions(w.custody), ['evidence.preserved', 'evidence.export.start', 'evidence.export']);
  const [start, done] = w.custody.events().slice(1);
  const uploadId = (start!.outcome.details!['export'] as { uploadId: string }).uploadId;
  t.equal(start!.idempotencyKey, `evidence:export-start:${EID}:${uploadId}`);
  t.match(done!.outcome.details!['export'], {
    target: 'vault',
    location: r.export.location,
    sha256: w.disk.sha256(),
    sizeBytes: 12 * MiB,
    partSize: 5 * MiB,
    versionId: w.bucket.current(key)!.versionId,
    retainUntil: '2027-01-04T06:30:00.000Z',
  });
  t.same(
    done!.resources.map((x) => x.type),
    ['s3:object', 'ec2:snapshot'],
  );
  t.same(foldEvidence(w.custody.events()).get(EID)!.lastExport, r.export);
  t.ok(w.bucket.current(key)!.body.equals(w.disk.bytes()));
  t.same(w.bucket.current(key)!.retention?.mode, 'COMPLIANCE');
  t.same(r.seal, { sealed: false, reason: 'this recorder keeps no signed manifest' });
});

t.test('killed during the upload, run again: the upload taken up, one export recorded, the same hash', async (t) => {
  const w = world();
  w.killAtBlock(8); // after part 1 (blocks 0-4) went up
  const e = await exportEvidence(w.deps, { caseId: CASE, evidenceId: EID, target: { kind: 'vault' } }).catch((x) => x);
  t.match(e, { message: /killed at block 8/ });
  t.same(actions(w.custody), ['evidence.preserved', 'evidence.export.start']);
  t.equal(w.bucket.uploads.size, 1);
  const r = await exportEvidence(w.deps, { caseId: CASE, evidenceId: EID, target: { kind: 'vault' } });
  t.same(actions(w.custody), ['evidence.preserved', 'evidence.export.start', 'evidence.export']);
  t.same(r.resumed, { partsKept: 1, foundCompleted: false });
  t.equal(w.bucket.calls.of('createMultipartUpload').length, 1, 'one upload');
  t.equal(r.export.sha256, w.disk.sha256());
  t.equal(w.bucket.objects.get(imageKey(CASE, EID))!.length, 1, 'one object');
});

t.test(
  'killed between completing the upload and recording it: the rerun checks the object and records it once',
  async (t) => {
    const w = world();
    w.custody.dieBefore = 'evidence.export';
    await t.rejects(exportEvidence(w.deps, { caseId: CASE, evidenceId: EID, target: { kind: 'vault' } }));
    t.equal(w.bucket.objects.get(imageKey(CASE, EID))!.length, 1);
    const r = await exportEvidence(w.deps, { caseId: CASE, evidenceId: EID, target: { kind: 'vault' } });
    t.same(r.resumed, { partsKept: 3, foundCompleted: true });
    t.same(actions(w.custody), ['evidence.preserved', 'evidence.export.start', 'evidence.export']);
    t.equal(w.bucket.objects.get(imageKey(CASE, EID))!.length, 1, 'still one object');
    t.equal(w.bucket.calls.of('createMultipartUpload').length, 1);
  },
);

t.test('an image whose SHA-256 differs from the acquisition hash: exit 3, upload aborted, recorded', async (t) => {
  const w = world({ sha256: 'ab'.repeat(32) });
  const e = await exportEvidence(w.deps, { caseId: CASE, evidenceId: EID, target: { kind: 'vault' } }).catch((x) => x);
  t.equal(e.code, 'EXPORT_HASH_MISMATCH');
  t.equal(e.exitCode, 3);
  t.match(e.message, /acquisition hash in the record is abab/);
  t.equal(w.bucket.objects.size, 0, 'nothing completed');
  t.equal(w.bucket.uploads.size, 0, 'the upload aborted');
  const failed = w.custody.events().at(-1)!;
  t.equal(failed.action, 'evidence.export');
  t.equal(failed.outcome.status, 'failed');
  t.match(failed.outcome.error, { code: 'EXPORT_HASH_MISMATCH' });
  t.match(failed.idempotencyKey, /:failed:EXPORT_HASH_MISMATCH$/);
  t.equal(foldEvidence(w.custody.events()).get(EID)!.lastExport, undefined);
});

t.test('bad input: refused with exit 2 and no AWS call after the record lookup', async (t) => {
  const unknown = world();
  const e = await exportEvidence(unknown.deps, {
    caseId: CASE,
    evidenceId: 'ev-nothing-here',
    target: { kind: 'vault' },
  }).catch((x) => x);
  t.equal(e.code, 'UNKNOWN_EVIDENCE');
  t.equal(e.exitCode, 2);
  t.match(e.message, new RegExp(`it has ${EID}`));
  t.same(unknown.awsCalls, []);

  const unhashed = world({ hashed: false });
  const e2 = await exportEvidence(unhashed.deps, { caseId: CASE, evidenceId: EID, target: { kind: 'vault' } }).catch(
    (x) => x,
  );
  t.equal(e2.code, 'EVIDENCE_NOT_HASHED');
  t.equal(e2.exitCode, 2);
  t.match(e2.message, /cleanroom evidence hash --case case-export-1 --evidence ev-web-root/);
  t.same(unhashed.awsCalls, []);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanroom-export-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const there = path.join(dir, 'there.raw');
  fs.writeFileSync(there, 'x');
  const exists = world();
  const e3 = await exportEvidence(exists.deps, {
    caseId: CASE,
    evidenceId: EID,
    target: { kind: 'file', path: there },
  }).catch((x) => x);
  t.equal(e3.code, 'OUT_EXISTS');
  t.match(e3.message, /--force/);
  t.same(exists.awsCalls, []);
  t.equal(exists.custody.events().length, 1, 'nothing recorded');
});

t.test('to a file: sparse, its SHA-256 recorded; --force replaces an existing file', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanroom-export-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'ev.raw');
  const w = world();
  const r = await exportEvidence(w.deps, { caseId: CASE, evidenceId: EID, target: { kind: 'file', path: file } });
  t.equal(r.export.target, 'file');
  t.equal(r.export.location, fs.realpathSync(file));
  t.equal(createHash('sha256').update(fs.readFileSync(file)).digest('hex'), w.disk.sha256());
  const ev = w.custody.events().at(-1)!;
  t.equal(ev.action, 'evidence.export');
  t.match(ev.outcome.details!['export'], { target: 'file', sha256: w.disk.sha256(), sizeBytes: 12 * MiB });
  t.match(ev.idempotencyKey, new RegExp(`^evidence:export:${EID}:file:[0-9a-f]{32}$`));
  t.equal(w.awsCalls.filter((c) => c.startsWith('s3:')).length, 0, 'no vault call for a file export');

  const again = await exportEvidence(w.deps, {
    caseId: CASE,
    evidenceId: EID,
    target: { kind: 'file', path: file, force: true },
  });
  t.equal(again.export.sha256, w.disk.sha256());
  t.equal(w.custody.events().filter((e) => e.action === 'evidence.export').length, 2, 'a second export, recorded');
});
