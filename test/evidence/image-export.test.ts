/**
 * The raw image export at the unit level: the part size for every EBS volume size, the upload
 * (a SHA-256 per part, SSE-KMS, retention set after completion), taking up an upload a killed run
 * left (ListParts, each part checked against the re-read bytes), one upload per image, a wrong
 * hash aborting the upload, an object completed by a run that died before recording it; the
 * sparse file, a full disk, and a wrong hash leaving no file.
 */
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import {
  exportToFile,
  exportToVault,
  imageKey,
  nodeFileOps,
  partSizeFor,
  S3_MULTIPART,
  type FileOps,
  type VaultExportInput,
} from '../../src/evidence/image-export.js';
import { CleanroomError, UsageError } from '../../src/domain/errors.js';
import { FakeDisk, FakeMultipartBucket } from './fake-multipart.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const TiB = 2 ** 40;
const EBS_BLOCK = 524_288;

t.test('part size: any volume S3 can hold fits in 10,000 parts of a whole number of blocks', async (t) => {
  for (const size of [1 * GiB, 8 * GiB, 48 * GiB, 49 * GiB, 500 * GiB, 1 * TiB, 16 * TiB, 48 * TiB]) {
    const p = partSizeFor(size, EBS_BLOCK);
    t.ok(
      p >= S3_MULTIPART.minPartBytes && p <= S3_MULTIPART.maxPartBytes,
      `${size / GiB} GiB: ${p} within S3's part sizes`,
    );
    t.equal(p % EBS_BLOCK, 0, `${size / GiB} GiB: a multiple of the block size`);
    t.ok(Math.ceil(size / p) <= 10_000, `${size / GiB} GiB: ${Math.ceil(size / p)} parts`);
    t.ok(p - EBS_BLOCK < Math.max(5 * MiB, size / 10_000), `${size / GiB} GiB: the smallest such part`);
  }
  t.equal(partSizeFor(1 * GiB, EBS_BLOCK), 5 * MiB, '1 GiB: 5 MiB parts (205 of them)');
  t.equal(partSizeFor(10_000 * 5 * GiB, EBS_BLOCK), 5 * GiB, "S3's largest object: 10,000 parts of 5 GiB");
  t.equal(partSizeFor(1 * GiB, 512) % 512, 0, 'the local AWS block size (512) too');
  const e = (() => {
    try {
      partSizeFor(64 * TiB, EBS_BLOCK);
    } catch (err) {
      return err;
    }
  })();
  t.ok(e instanceof UsageError, 'a 64 TiB volume cannot be one S3 object (48.8 TiB at most)');
  t.equal((e as UsageError).code, 'EXPORT_TOO_LARGE');
  t.match((e as UsageError).message, /--out FILE/);
});

const VAULT = {
  bucket: 'cleanroom-evidence-123456789012-us-east-1',
  vaultKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/vault',
  lockMode: 'COMPLIANCE' as const,
  retentionDays: 365,
};
const NOW = new Date('2026-12-05T06:00:00Z');
const KEY = imageKey('case-1', 'ev-web-1');

/** 12 MiB disk of 1 MiB blocks: parts of 5 MiB, 5 MiB, 2 MiB. */
const disk = () => FakeDisk.filled(MiB, 12, [0, 3, 4, 7, 11]);

function input(d: FakeDisk, over: Partial<VaultExportInput> = {}): VaultExportInput & { started: unknown[] } {
  const started: unknown[] = [];
  return {
    vault: VAULT,
    key: KEY,
    sizeBytes: d.sizeBytes,
    blockSize: d.blockSize,
    expectSha256: d.sha256(),
    read: d.reader(),
    recordedUploads: [],
    onUpload: async (u) => {
      started.push(u);
    },
    now: () => NOW,
    started,
    ...over,
  };
}

t.test('a new upload: SHA-256 per part, SSE-KMS, Object Lock asked and set after completion', async (t) => {
  const b = new FakeMultipartBucket();
  const d = disk();
  const i = input(d);
  const r = await exportToVault(b.port(), i);
  t.equal(r.ok, true);
  if (!r.ok) return;
  t.equal(r.sha256, d.sha256(), "the tool's own hash of every byte");
  t.equal(r.parts, 3);
  t.equal(r.partSize, 5 * MiB);
  const obj = b.current(KEY)!;
  t.ok(obj.body.equals(d.bytes()), 'the object holds the image byte for byte');
  const [create] = b.calls.of('createMultipartUpload');
  t.match(create, {
    ChecksumAlgorithm: 'SHA256',
    ServerSideEncryption: 'aws:kms',
    SSEKMSKeyId: VAULT.vaultKeyArn,
    ObjectLockMode: 'COMPLIANCE',
  });
  for (const p of b.calls.of<{ Body: Buffer; ChecksumSHA256: string; ChecksumAlgorithm: string }>('uploadPart')) {
    t.equal(p.ChecksumSHA256, createHash('sha256').update(p.Body).digest('base64'), 'each part carries its SHA-256');
    t.equal(p.ChecksumAlgorithm, 'SHA256');
  }
  t.same(obj.retention, { mode: 'COMPLIANCE', until: new Date(NOW.getTime() + 365 * 86_400_000) });
  t.equal(r.retainUntil, '2027-12-05T06:00:00.000Z');
  t.equal(r.versionId, obj.versionId);
  t.same(i.started, [{ uploadId: r.uploadId, partSize: 5 * MiB, resumed: false }]);
});

t.test('a killed export is taken up: parts checked against the re-read bytes, one upload', async (t) => {
  const b = new FakeMultipartBucket();
  const d = disk();
  const bytes = d.bytes();
  // The earlier run sent part 1 whole and part 2 damaged (or from other bytes).
  const left = b.leaveUpload(KEY, { 1: bytes.subarray(0, 5 * MiB), 2: Buffer.alloc(5 * MiB, 9) });
  const warnings: string[] = [];
  const i = input(d, { recordedUploads: [left], warn: (m) => warnings.push(m) });
  const r = await exportToVault(b.port(), i);
  t.equal(r.ok, true);
  if (!r.ok) return;
  t.equal(r.uploadId, left, 'the same upload');
  t.equal(r.partsKept, 1, 'part 1 kept: its checksum equals the bytes read now');
  t.same(
    b.calls.of<{ PartNumber: number }>('uploadPart').map((p) => p.PartNumber),
    [2, 3],
    'part 2 sent again (it did not match), part 3 sent',
  );
  t.equal(b.calls.of('createMultipartUpload').length, 0, 'no second upload');
  t.match(warnings.join('\n'), /part 2 .* does not match/);
  t.ok(b.current(KEY)!.body.equals(bytes));
  t.same(i.started, [{ uploadId: left, partSize: 5 * MiB, resumed: true }]);
  t.equal(b.uploads.size, 0);
});

t.test(
  'an upload the record does not name (killed before recording its start) is taken up too; a second is aborted',
  async (t) => {
    const b = new FakeMultipartBucket();
    const d = disk();
    const old = b.leaveUpload(KEY, {}, new Date('2026-12-01T00:00:00Z'));
    const newer = b.leaveUpload(KEY, { 1: d.bytes().subarray(0, 5 * MiB) }, new Date('2026-12-02T00:00:00Z'));
    const r = await exportToVault(b.port(), input(d, { warn: () => undefined }));
    t.equal(r.ok, true);
    t.equal(r.uploadId, newer, 'the newest upload is taken up');
    t.same(
      b.calls.of<{ UploadId: string }>('abortMultipartUpload').map((x) => x.UploadId),
      [old],
      'the other is aborted: one upload per image',
    );
  },
);

t.test(
  'a whole-image hash that differs from the acquisition hash aborts the upload: nothing is completed',
  async (t) => {
    const b = new FakeMultipartBucket();
    const d = disk();
    const r = await exportToVault(b.port(), input(d, { expectSha256: 'ab'.repeat(32) }));
    t.equal(r.ok, false);
    t.equal(r.sha256, d.sha256());
    t.equal(b.calls.of('completeMultipartUpload').length, 0);
    t.equal(b.calls.of('abortMultipartUpload').length, 1);
    t.equal(b.objects.size, 0);
    t.equal(b.uploads.size, 0);
  },
);

t.test(
  'an upload completed by a run that died before recording it: checked part by part, not sent again',
  async (t) => {
    const b = new FakeMultipartBucket();
    const d = disk();
    const first = await exportToVault(b.port(), input(d));
    t.equal(first.ok, true);
    const before = b.calls.list.length;
    const r = await exportToVault(b.port(), input(d, { recordedUploads: [first.uploadId] }));
    t.equal(r.ok && r.foundCompleted, true, 'found completed');
    t.equal(r.uploadId, first.uploadId);
    const after = b.calls.list.slice(before).map((c) => c.op);
    t.notOk(after.includes('createMultipartUpload') || after.includes('uploadPart'), 'no new upload, no part sent');
    t.ok(after.includes('putObjectRetention'), 'the retention is set (the dead run may not have)');
    t.equal(b.objects.get(KEY)!.length, 1, 'one object version');

    // The object there holds other bytes: it is not taken for the export; a new upload is made.
    const other = FakeDisk.filled(MiB, 12, [1]);
    const r2 = await exportToVault(
      b.port(),
      input(other, { recordedUploads: [first.uploadId], warn: () => undefined }),
    );
    t.equal(r2.ok && r2.foundCompleted, false);
    t.equal(b.objects.get(KEY)!.length, 2);
  },
);

t.test("CompleteMultipartUpload's answer lost: the completed object is found by its checksum", async (t) => {
  const b = new FakeMultipartBucket();
  b.loseCompleteAnswer = true;
  const d = disk();
  const warnings: string[] = [];
  const r = await exportToVault(b.port(), input(d, { warn: (m) => warnings.push(m), sleep: async () => undefined }));
  t.equal(r.ok, true);
  t.equal(r.ok && r.versionId, b.current(KEY)!.versionId);
  t.match(warnings.join('\n'), /answer to CompleteMultipartUpload was lost/);
  t.equal(b.current(KEY)!.retention?.mode, 'COMPLIANCE');
});

t.test('a failing part upload stops the export with the AWS error; the upload stays for a rerun', async (t) => {
  const b = new FakeMultipartBucket();
  const d = disk();
  b.faults.set('uploadPart', (_i, n) => (n === 2 ? new CleanroomError('AWS_InternalError', 'boom') : undefined));
  const e = await exportToVault(b.port(), input(d)).catch((x) => x);
  t.match(e, { code: 'AWS_InternalError' });
  t.equal(b.uploads.size, 1, 'the upload is left in progress for the rerun');
  t.equal(b.objects.size, 0);
});

/** A file system whose disk holds `capacity` bytes of data. */
function smallDisk(capacity: number, log: string[]): FileOps {
  let used = 0;
  return {
    ...nodeFileOps,
    async open(file) {
      const h = await nodeFileOps.open(file);
      return {
        ...h,
        write: async (data, pos) => {
          if (used + data.length > capacity)
            throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
          used += data.length;
          log.push(`write ${pos}`);
          await h.write(data, pos);
        },
      };
    },
    freeBytes: async () => capacity - used,
  };
}

t.test(
  'a sparse file: only data blocks written, its length the image size, renamed once the hash matches',
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanroom-export-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const d = disk();
    const file = path.join(dir, 'ev.raw');
    const log: string[] = [];
    const r = await exportToFile({
      file,
      sizeBytes: d.sizeBytes,
      blockSize: d.blockSize,
      expectSha256: d.sha256(),
      read: d.reader(),
      files: smallDisk(100 * MiB, log),
    });
    t.equal(r.ok, true);
    t.same(
      log,
      [0, 3, 4, 7, 11].map((i) => `write ${i * MiB}`),
      'zeros skipped by seeking',
    );
    t.equal(fs.statSync(file).size, d.sizeBytes);
    t.equal(createHash('sha256').update(fs.readFileSync(file)).digest('hex'), d.sha256());
    t.notOk(fs.existsSync(`${file}.cleanroom-partial`));
  },
);

t.test('a full disk: DISK_FULL naming the space needed; no file left', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanroom-export-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const d = disk();
  const file = path.join(dir, 'ev.raw');
  const base = {
    file,
    sizeBytes: d.sizeBytes,
    blockSize: d.blockSize,
    expectSha256: d.sha256(),
    read: d.reader(),
  };
  // Fills up on the way (the space it reports is enough for what the record says).
  const e = await exportToFile({ ...base, blocksWithData: 2, files: smallDisk(3 * MiB, []) }).catch((x) => x);
  t.ok(e instanceof CleanroomError);
  t.equal(e.code, 'DISK_FULL');
  t.equal(e.exitCode, 1);
  t.match(e.message, /needs up to 2\.0 MiB \(2097152 bytes\).*and 0\.0 MiB \(0 bytes\) is free/);
  t.notOk(fs.existsSync(file));
  t.notOk(fs.existsSync(`${file}.cleanroom-partial`));
  // Known to be too small before the first byte: refused before reading.
  const reads = { count: 0 };
  const e2 = await exportToFile({
    ...base,
    read: d.reader({ reads }),
    blocksWithData: 5,
    files: smallDisk(1 * MiB, []),
  }).catch((x) => x);
  t.equal(e2.code, 'DISK_FULL');
  t.match(e2.message, /needs up to 5\.0 MiB \(5242880 bytes\)/);
  t.equal(reads.count, 0, 'nothing read');
});

t.test('a file whose hash differs from the acquisition hash is not kept', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanroom-export-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const d = disk();
  const file = path.join(dir, 'ev.raw');
  fs.writeFileSync(file, 'the earlier export');
  const r = await exportToFile({
    file,
    sizeBytes: d.sizeBytes,
    blockSize: d.blockSize,
    expectSha256: 'cd'.repeat(32),
    read: d.reader(),
  });
  t.equal(r.ok, false);
  t.equal(fs.readFileSync(file, 'utf8'), 'the earlier export', 'an existing file (--force) is untouched');
  t.notOk(fs.existsSync(`${file}.cleanroom-partial`));
});
