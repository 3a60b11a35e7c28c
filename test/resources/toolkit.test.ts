/**
 * The toolkits in the vault (src/resources/toolkit.ts) on a fake versioned bucket: read by id, by
 * prefix and through the default pointer, each verified (a tampered manifest or pointer refused
 * with exit 3, a missing toolkit exit 2 naming `room tools --publish`); listed; and copied into a
 * case server-side — every source checked against the manifest before anything is copied (a
 * tampered wheel: nothing copied), the copies under SSE-KMS and Object Lock, a rerun copying nothing.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { awsError, FakeBucket, IDENTITY, out } from '../fakes/ports.js';
import type { AccountCalls } from '../../src/aws/ports.js';
import {
  copyToolkitToCase,
  listToolkits,
  readToolkit,
  toolkitIdOf,
  type ToolkitVault,
} from '../../src/resources/toolkit.js';
import { assembleToolkit, manifestBytes, toolkitPrefix, type ToolkitManifest } from '../../src/domain/toolkit.js';
import type { CleanroomError } from '../../src/domain/errors.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');
const VAULT: ToolkitVault = {
  bucket: 'cleanroom-evidence-123456789012-us-east-1',
  vaultKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/vault',
  lockMode: 'COMPLIANCE',
  retentionDays: 2555,
};
const NOW = new Date('2026-12-05T10:00:00Z');

/** A fake vault: FakeBucket's reads plus HeadObject (with its SHA-256 checksum) and CopyObject. */
function fakeVault() {
  const bucket = new FakeBucket(VAULT.bucket);
  const copies: Record<string, unknown>[] = [];
  const find = (key: string, versionId?: string) => {
    const versions = bucket.objects.get(key) ?? [];
    const v = versionId ? versions.find((x) => x.versionId === versionId) : versions.at(-1);
    return v && !v.deleteMarker ? v : undefined;
  };
  const account = {
    ...IDENTITY,
    s3: {
      getObject: bucket.s3.getObject,
      listObjectsV2: bucket.s3.listObjectsV2,
      headObject: async (i) => {
        bucket.calls.add('headObject', i);
        const v = find(i.Key!, i.VersionId);
        if (!v) throw awsError('s3', 'headObject', 'NotFound');
        return out({
          ContentLength: v.body!.length,
          VersionId: v.versionId,
          ...(i.ChecksumMode === 'ENABLED' ? { ChecksumSHA256: b64(sha(v.body!)) } : {}),
        });
      },
      copyObject: async (i) => {
        copies.push({ ...i });
        const m = /^([^/]+)\/(.+?)(?:\?versionId=(.+))?$/.exec(i.CopySource!)!;
        const v = find(decodeURIComponent(m[2]!), m[3]);
        if (!v) throw awsError('s3', 'copyObject', 'NoSuchKey');
        const put = bucket.put(i.Key!, v.body!, {
          mode: i.ObjectLockMode as 'COMPLIANCE',
          retainUntil: i.ObjectLockRetainUntilDate as Date,
        });
        return out({ VersionId: put.versionId, CopyObjectResult: { ChecksumSHA256: b64(sha(v.body!)) } });
      },
    },
  } satisfies AccountCalls<{ s3: 'getObject' | 'listObjectsV2' | 'headObject' | 'copyObject' }>;
  return { bucket, account, copies };
}

/** Publish a small toolkit into the fake vault as `room tools --publish` does; returns its manifest. */
function publish(bucket: FakeBucket, opts: { pointer?: boolean; wheels?: string[] } = {}): ToolkitManifest {
  const names = opts.wheels ?? [
    'pytsk3-20260715-cp311-cp311-manylinux_2_28_x86_64.whl',
    'volatility3-2.28.2-py3-none-any.whl',
  ];
  const bodies = new Map(names.map((n) => [n, Buffer.from(`wheel ${n}`)]));
  const { requirements, manifest } = assembleToolkit({
    name: 'default',
    builtAt: '2026-12-05T09:00:00.000Z',
    builtWith: { python: '3.11.7', pip: '23.2.1' },
    arch: 'x86_64',
    packages: ['volatility3'],
    wheels: names.map((file) => ({ file, sha256: sha(bodies.get(file)!), bytes: bodies.get(file)!.length })),
  });
  const prefix = toolkitPrefix(manifest.toolkitId);
  for (const [n, b] of bodies) bucket.put(`${prefix}wheels/${n}`, b);
  bucket.put(`${prefix}requirements.txt`, requirements);
  const mb = manifestBytes(manifest);
  bucket.put(`${prefix}manifest.json`, mb);
  if (opts.pointer !== false)
    bucket.put(
      'tools/toolkits/default.json',
      Buffer.from(
        JSON.stringify({
          schema: 'cleanroom.toolkit-pointer.v1',
          toolkitId: manifest.toolkitId,
          manifestSha256: sha(mb),
          publishedAt: '2026-12-05T09:00:01.000Z',
        }),
      ),
    );
  return manifest;
}

t.test('readToolkit: by the default pointer, by id and by prefix, verified', async (t) => {
  const { bucket, account } = fakeVault();
  const m = publish(bucket);
  const byDefault = await readToolkit(account, VAULT.bucket, 'default');
  t.equal(byDefault.toolkitId, m.toolkitId);
  t.equal(byDefault.prefix, `tools/toolkits/${m.toolkitId}/`);
  t.equal(byDefault.manifestSha256, sha(manifestBytes(m)));
  t.same(byDefault.manifest, m);
  t.ok(byDefault.manifestVersionId);
  t.same((await readToolkit(account, VAULT.bucket, m.toolkitId)).manifest, m);
  t.same((await readToolkit(account, VAULT.bucket, `tools/toolkits/${m.toolkitId}/`)).manifest, m);
  t.same((await readToolkit(account, VAULT.bucket, `s3://${VAULT.bucket}/tools/toolkits/${m.toolkitId}`)).manifest, m);
  t.throws(() => toolkitIdOf('tk-xyz'), { code: 'INVALID_VALUE', exitCode: 2 });
});

t.test('readToolkit: missing → TOOLKIT_NOT_FOUND (exit 2) naming room tools --publish', async (t) => {
  const { bucket, account } = fakeVault();
  const e = (await readToolkit(account, VAULT.bucket, 'default').catch((x) => x)) as CleanroomError;
  t.equal(e.code, 'TOOLKIT_NOT_FOUND');
  t.equal(e.exitCode, 2);
  t.match(e.message, /no default toolkit .*cleanroom room tools --publish/);
  publish(bucket, { pointer: false });
  const e2 = (await readToolkit(account, VAULT.bucket, 'tk-0123456789abcdef0123').catch((x) => x)) as CleanroomError;
  t.match(e2, { code: 'TOOLKIT_NOT_FOUND', exitCode: 2, message: /no toolkit tk-0123456789abcdef0123/ });
});

t.test('readToolkit: a tampered manifest or pointer is refused (TOOLKIT_INVALID, exit 3)', async (t) => {
  const { bucket, account } = fakeVault();
  const m = publish(bucket);
  const key = `tools/toolkits/${m.toolkitId}/manifest.json`;
  // A manifest whose file list was edited no longer has its id.
  const edited = { ...m, files: m.files.map((f, i) => (i === 1 ? { ...f, sha256: sha('other') } : f)) };
  bucket.put(key, manifestBytes(edited));
  const e = (await readToolkit(account, VAULT.bucket, m.toolkitId).catch((x) => x)) as CleanroomError;
  t.match(e, { code: 'TOOLKIT_INVALID', exitCode: 3, message: /is not the id of its files/ });
  // The same manifest re-serialised: valid by itself, but not the bytes the pointer recorded.
  bucket.put(key, Buffer.from(JSON.stringify(m)));
  t.ok(await readToolkit(account, VAULT.bucket, m.toolkitId), 'valid by id');
  const e2 = (await readToolkit(account, VAULT.bucket, 'default').catch((x) => x)) as CleanroomError;
  t.match(e2, { code: 'TOOLKIT_INVALID', exitCode: 3, message: /not the .* the default pointer recorded/ });
  bucket.put('tools/toolkits/default.json', Buffer.from('{"schema":"x"}'));
  t.match(await readToolkit(account, VAULT.bucket, 'default').catch((x) => x), {
    code: 'TOOLKIT_INVALID',
    message: /default\.json does not verify: schema/,
  });
});

t.test('listToolkits: every toolkit, the default marked, a broken one with its problem', async (t) => {
  const { bucket, account } = fakeVault();
  const a = publish(bucket, { wheels: ['volatility3-2.28.2-py3-none-any.whl'] });
  const b = publish(bucket);
  bucket.put(`tools/toolkits/tk-00000000000000000000/manifest.json`, Buffer.from('not json'));
  const list = await listToolkits(account, VAULT.bucket);
  t.same(
    list.map((x) => [x.toolkitId, x.isDefault, x.problem === undefined]),
    [
      ...[
        [a.toolkitId, false, true],
        [b.toolkitId, true, true],
      ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
      ['tk-00000000000000000000', false, false],
    ],
  );
  t.match(
    list.find((x) => x.toolkitId === b.toolkitId),
    { tools: [{ name: 'volatility3', version: '2.28.2' }], files: 3 },
  );
});

t.test(
  'copyToolkitToCase: every file and the manifest, SSE-KMS, locked, checked; a rerun copies nothing',
  async (t) => {
    const { bucket, account, copies } = fakeVault();
    const m = publish(bucket);
    const tk = await readToolkit(account, VAULT.bucket, 'default');
    const r = await copyToolkitToCase(account, VAULT, tk, 'IR-1', { now: NOW });
    t.equal(r.prefix, 'cases/IR-1/tools/toolkit/');
    t.same(
      r.files.map((f) => [f.key, f.copied]),
      [
        ['cases/IR-1/tools/toolkit/manifest.json', true],
        ...m.files.map((f) => [`cases/IR-1/tools/toolkit/${f.name}`, true]),
      ],
    );
    for (const f of r.files) {
      t.equal(
        sha(bucket.objects.get(f.key)!.at(-1)!.body!),
        f.sha256,
        `${f.name}: the copy has the manifest's SHA-256`,
      );
      t.ok(f.versionId);
    }
    t.match(copies[0], {
      Bucket: VAULT.bucket,
      Key: 'cases/IR-1/tools/toolkit/manifest.json',
      CopySource: new RegExp(`^${VAULT.bucket}/tools/toolkits/${m.toolkitId}/manifest\\.json\\?versionId=v\\d+$`),
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: VAULT.vaultKeyArn,
      ChecksumAlgorithm: 'SHA256',
      ObjectLockMode: 'COMPLIANCE',
      ObjectLockRetainUntilDate: new Date(NOW.getTime() + 2555 * 86_400_000),
    });
    const again = await copyToolkitToCase(account, VAULT, tk, 'IR-1', { now: NOW });
    t.same(
      again.files.filter((f) => f.copied),
      [],
      'a rerun copies nothing',
    );
    t.equal(copies.length, r.files.length);
  },
);

t.test('copyToolkitToCase: a tampered or missing wheel in the vault → TOOLKIT_INVALID, nothing copied', async (t) => {
  const { bucket, account, copies } = fakeVault();
  const m = publish(bucket);
  const tk = await readToolkit(account, VAULT.bucket, 'default');
  const wheel = m.files.find((f) => f.name.startsWith('wheels/pytsk3'))!;
  bucket.put(`${tk.prefix}${wheel.name}`, Buffer.from('a trojaned pytsk3'));
  const e = (await copyToolkitToCase(account, VAULT, tk, 'IR-1', { now: NOW }).catch((x) => x)) as CleanroomError;
  t.match(e, { code: 'TOOLKIT_INVALID', exitCode: 3 });
  t.match(
    e.message,
    new RegExp(`${wheel.name} has SHA-256 ${sha('a trojaned pytsk3')}, the manifest says ${wheel.sha256}`),
  );
  t.equal(copies.length, 0, 'nothing was copied');
  t.notOk(
    [...bucket.objects.keys()].some((k) => k.startsWith('cases/')),
    'the case holds no toolkit file',
  );

  bucket.deleteMarker(`${tk.prefix}${wheel.name}`);
  t.match(await copyToolkitToCase(account, VAULT, tk, 'IR-1').catch((x) => x), {
    code: 'TOOLKIT_INVALID',
    message: /pytsk3.* is missing/,
  });
  t.equal(copies.length, 0);
});
