/**
 * The memory upload library against narrow fakes: the plan's arithmetic at S3's limits, what
 * startMemoryUpload asks S3 for (SSE-KMS, retention, one URL per part, the part list), that a
 * failure after the upload exists aborts it, that completion takes the vault's ListParts and
 * refuses a gap, abort's idempotency, paging of ListParts / ListMultipartUploads, and the
 * ranged read-back. The same library against the local AWS: test/guest/memory-capture.test.ts.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { awsError } from '../fakes/ports.js';
import {
  abortMemoryUpload,
  completeMemoryUpload,
  memoryImageKey,
  memoryPartsKey,
  openUploadsFor,
  planMemoryUpload,
  readBackSha256,
  startMemoryUpload,
  type MemoryVault,
} from '../../src/evidence/memory-upload.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

t.test('planMemoryUpload: whole MiB, at least 8 MiB, at most 10,000 parts, room over the memory', async (t) => {
  for (const mem of [1 * MiB, 512 * MiB, 4 * GiB, 16 * GiB, 96 * GiB, 768 * GiB, 24 * 1024 * GiB]) {
    const p = planMemoryUpload({ memoryBytes: mem });
    t.ok(p.partSize >= 8 * MiB && p.partSize % MiB === 0, `${mem}: part size ${p.partSize}`);
    t.ok(p.partCount <= 10_000, `${mem}: ${p.partCount} parts`);
    t.ok(p.capacityBytes >= mem * 1.125 + 512 * MiB, `${mem}: capacity over the memory`);
    t.ok(p.capacityBytes - p.partSize < mem * 1.125 + 512 * MiB, `${mem}: no part more than needed`);
  }
  t.same(planMemoryUpload({ memoryBytes: 16 * GiB }).partSize, 8 * MiB);
  t.throws(() => planMemoryUpload({ memoryBytes: 0 }), { code: 'INTERNAL' });
  t.throws(() => planMemoryUpload({ memoryBytes: 50 * 1024 * GiB }), /does not fit one S3 object/);
});

t.test('keys: the image and its part list', async (t) => {
  const k = memoryImageKey('case-1', 'i-0abc', new Date('2026-03-04T05:06:07.890Z'));
  t.equal(k, 'cases/case-1/memory/i-0abc-20260304T050607Z.lime');
  t.equal(memoryPartsKey(k), 'cases/case-1/memory/i-0abc-20260304T050607Z.parts.json');
  t.throws(() => memoryPartsKey('cases/x.raw'));
});

/** A fake vault recording what it is asked. */
function fakeVault(o: { failPut?: boolean; parts?: number[]; pageSize?: number; object?: Buffer } = {}) {
  const calls: Array<[string, Record<string, unknown>]> = [];
  const rec = (name: string) => (input: unknown) => {
    calls.push([name, input as Record<string, unknown>]);
  };
  const pageSize = o.pageSize ?? 1000;
  const vault: MemoryVault = {
    bucket: 'vault',
    vaultKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/k',
    account: {
      s3: {
        createMultipartUpload: async (i) => (rec('create')(i), { UploadId: 'up-1' }) as never,
        putObject: async (i) => {
          rec('put')(i);
          if (o.failPut) throw awsError('s3', 'putObject', 'AccessDenied');
          return { VersionId: 'v-parts' } as never;
        },
        abortMultipartUpload: async (i) => {
          rec('abort')(i);
          if (calls.filter((c) => c[0] === 'abort').length > 1)
            throw awsError('s3', 'abortMultipartUpload', 'NoSuchUpload');
          return {} as never;
        },
        listParts: async (i) => {
          rec('listParts')(i);
          const from = Number(i.PartNumberMarker ?? 0);
          const all = [...(o.parts ?? [])].sort((a, b) => a - b).filter((n) => n > from);
          const page = all.slice(0, pageSize);
          return {
            Parts: page.map((n) => ({ PartNumber: n, ETag: `"e${n}"`, Size: 8 * MiB })),
            IsTruncated: all.length > pageSize,
            ...(all.length > pageSize ? { NextPartNumberMarker: String(page.at(-1)) } : {}),
          } as never;
        },
        completeMultipartUpload: async (i) => (rec('complete')(i), { VersionId: 'v-image' }) as never,
        listMultipartUploads: async (i) => {
          rec('listUploads')(i);
          if (!i.KeyMarker)
            return {
              Uploads: [{ Key: 'cases/c/memory/a.lime', UploadId: 'u1', Initiated: new Date(0) }],
              IsTruncated: true,
              NextKeyMarker: 'cases/c/memory/a.lime',
              NextUploadIdMarker: 'u1',
            } as never;
          return { Uploads: [{ Key: 'cases/c/memory/b.lime', UploadId: 'u2' }], IsTruncated: false } as never;
        },
        headObject: async (i) => (rec('head')(i), { ContentLength: o.object?.length ?? 0 }) as never,
        getObject: async (i) => {
          rec('get')(i);
          const [, a, b] = /bytes=(\d+)-(\d+)/.exec(String(i.Range))!;
          return { Body: Readable.from([o.object!.subarray(Number(a), Number(b) + 1)]) } as never;
        },
      },
      s3Presign: {
        uploadPart: async (i, s) =>
          `https://vault.s3/${i.Key}?partNumber=${i.PartNumber}&uploadId=${i.UploadId}&X-Amz-Expires=${s.expiresInSeconds}`,
        getObject: async (i, s) =>
          `https://vault.s3/${i.Key}?versionId=${i.VersionId}&X-Amz-Expires=${s.expiresInSeconds}`,
      },
    },
  };
  return { vault, calls };
}

const KEY = 'cases/c/memory/i-1-20260101T000000Z.lime';
const retention = { mode: 'COMPLIANCE' as const, retainUntil: new Date('2027-01-01T00:00:00Z') };

t.test('startMemoryUpload: SSE-KMS and retention at creation, one URL per part, the list in the vault', async (t) => {
  const { vault, calls } = fakeVault();
  const signingDate = new Date('2026-01-01T00:00:00Z');
  const s = await startMemoryUpload(vault, {
    key: KEY,
    retention,
    partCount: 5,
    partSize: 8 * MiB,
    expiresInSeconds: 3600,
    signingDate,
  });
  t.same(s, {
    uploadId: 'up-1',
    partsKey: 'cases/c/memory/i-1-20260101T000000Z.parts.json',
    partsUrl: 'https://vault.s3/cases/c/memory/i-1-20260101T000000Z.parts.json?versionId=v-parts&X-Amz-Expires=3600',
    expiresAt: '2026-01-01T01:00:00.000Z',
  });
  t.match(calls[0], [
    'create',
    {
      Key: KEY,
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: vault.vaultKeyArn,
      ObjectLockMode: 'COMPLIANCE',
      ObjectLockRetainUntilDate: retention.retainUntil,
    },
  ]);
  t.notOk('ChecksumAlgorithm' in calls[0]![1], 'no checksum algorithm: a presigned part PUT cannot carry one');
  const put = calls.find((c) => c[0] === 'put')![1];
  t.match(put, { Key: s.partsKey, ServerSideEncryption: 'aws:kms', ChecksumAlgorithm: 'SHA256' });
  const body = put.Body as Buffer;
  t.equal(put.ChecksumSHA256, createHash('sha256').update(body).digest('base64'));
  const list = JSON.parse(body.toString());
  t.equal(list.schema, 'cleanroom.memory-parts.v1');
  t.equal(list.partSize, 8 * MiB);
  t.same(
    list.parts.map((p: { partNumber: number }) => p.partNumber),
    [1, 2, 3, 4, 5],
  );
  t.match(list.parts[2].url, /partNumber=3&uploadId=up-1/);
});

t.test('startMemoryUpload: a failure once the upload exists aborts it', async (t) => {
  const { vault, calls } = fakeVault({ failPut: true });
  await t.rejects(
    startMemoryUpload(vault, { key: KEY, retention, partCount: 2, partSize: 8 * MiB, expiresInSeconds: 60 }),
    { code: 'AWS_AccessDenied' },
  );
  t.match(calls.at(-1), ['abort', { Key: KEY, UploadId: 'up-1' }]);
  await t.rejects(
    startMemoryUpload(vault, { key: KEY, retention, partCount: 10_001, partSize: 8 * MiB, expiresInSeconds: 60 }),
    /Part count/,
  );
  await t.rejects(
    startMemoryUpload(vault, {
      key: 'cases/c/x.raw',
      retention,
      partCount: 1,
      partSize: 8 * MiB,
      expiresInSeconds: 60,
    }),
    /\.lime/,
  );
});

t.test("completeMemoryUpload: the vault's parts (all pages), in order; refuses none or a gap", async (t) => {
  const ok = fakeVault({ parts: [1, 2, 3], pageSize: 2 });
  const done = await completeMemoryUpload(ok.vault, { key: KEY, uploadId: 'up-1' });
  t.same(done, { versionId: 'v-image', size: 3 * 8 * MiB, parts: 3 });
  t.equal(ok.calls.filter((c) => c[0] === 'listParts').length, 2, 'two pages');
  t.same(
    (ok.calls.find((c) => c[0] === 'complete')![1].MultipartUpload as { Parts: unknown[] }).Parts,
    [1, 2, 3].map((n) => ({ PartNumber: n, ETag: `"e${n}"` })),
  );
  const none = fakeVault({ parts: [] });
  await t.rejects(completeMemoryUpload(none.vault, { key: KEY, uploadId: 'up-1' }), {
    code: 'MEMORY_UPLOAD_INCOMPLETE',
    exitCode: 1,
    message: /no part/,
  });
  const gap = fakeVault({ parts: [1, 2, 4] });
  await t.rejects(completeMemoryUpload(gap.vault, { key: KEY, uploadId: 'up-1' }), {
    code: 'MEMORY_UPLOAD_INCOMPLETE',
    details: { missingPart: 3 },
  });
  t.notOk(
    gap.calls.some((c) => c[0] === 'complete'),
    'nothing completed',
  );
});

t.test('abortMemoryUpload is idempotent; openUploadsFor reads every page', async (t) => {
  const { vault } = fakeVault();
  await abortMemoryUpload(vault, { key: KEY, uploadId: 'up-1' });
  await abortMemoryUpload(vault, { key: KEY, uploadId: 'up-1' });
  t.same(await openUploadsFor(vault, 'cases/c/memory/'), [
    { key: 'cases/c/memory/a.lime', uploadId: 'u1', initiated: '1970-01-01T00:00:00.000Z' },
    { key: 'cases/c/memory/b.lime', uploadId: 'u2' },
  ]);
});

t.test('readBackSha256: ranged GETs of the version, in order', async (t) => {
  const object = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
  const { vault, calls } = fakeVault({ object });
  const r = await readBackSha256(vault, { key: KEY, versionId: 'v-image', rangeBytes: 300 });
  t.same(r, { sha256: createHash('sha256').update(object).digest('hex'), size: 1000 });
  t.same(
    calls.filter((c) => c[0] === 'get').map((c) => [c[1].Range, c[1].VersionId]),
    [
      ['bytes=0-299', 'v-image'],
      ['bytes=300-599', 'v-image'],
      ['bytes=600-899', 'v-image'],
      ['bytes=900-999', 'v-image'],
    ],
  );
  const empty = fakeVault({ object: Buffer.alloc(0) });
  t.same(await readBackSha256(empty.vault, { key: KEY }), { sha256: createHash('sha256').digest('hex'), size: 0 });
});
