/**
 * `cleanroom room tools --publish` end to end against the local AWS, with the real pip (PyPI through
 * the package registry, pip's cache after the first run): without a vault it stops before building
 * (exit 2, NO_VAULT); with one it uploads the wheelhouse under tools/toolkits/<id>/ — every object
 * SSE-KMS under the vault key, under Object Lock, with the manifest's SHA-256 as its S3 checksum —
 * and points default.json at it; the same --out again is reused (nothing downloaded, nothing
 * uploaded, the published manifest kept); --no-default leaves the pointer alone. Then the library's
 * readToolkit/listToolkits/copyToolkitToCase on what was published: the case copy is made
 * server-side and verified, a rerun copies nothing, and a wheel overwritten in the vault is refused.
 */
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { VAULT, account, cli } from '../custody/helpers.js';
import { copyToolkitToCase, listToolkits, readToolkit } from '../../src/resources/toolkit.js';
import { requireCompliantVault } from '../../src/custody/vault/gate.js';
import type { ToolkitManifest } from '../../src/domain/toolkit.js';

const s3 = () => new S3Client({ region: 'us-east-1' });
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const get = async (key: string) =>
  Buffer.from(await (await s3().send(new GetObjectCommand({ Bucket: VAULT, Key: key }))).Body!.transformToByteArray());

t.test('room tools --publish: the wheelhouse in the vault, verified; reused; copied into a case', async (t) => {
  const aws = await useLocalAws(t);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanroom-room-tools-'));
  t.teardown(() => fs.rmSync(out, { recursive: true, force: true }));

  const novault = await cli(aws, ['room', 'tools', '--publish', '--out', out]);
  t.equal(novault.code, 2, novault.stderr);
  t.match(novault.stderr, /no evidence vault .*cleanroom vault init/);
  t.same(fs.readdirSync(out), [], 'nothing was built before the vault was found missing');

  t.equal((await cli(aws, ['vault', 'init'])).code, 0);
  const r = await cli(aws, ['room', 'tools', '--publish', '--out', out, '--json']);
  t.equal(r.code, 0, r.stderr);
  const doc = r.json();
  const m = doc.manifest as ToolkitManifest;
  t.match(doc, { toolkitId: /^tk-[0-9a-f]{20}$/, reused: false, dir: out });
  t.same(
    m.tools.map((x) => x.name),
    [
      'dissect.target',
      'dissect.extfs',
      'dissect.xfs',
      'dissect.fat',
      'dissect.btrfs',
      'dissect.squashfs',
      'dissect.vmfs',
      'dissect.ffs',
      'volatility3',
      'pytsk3',
    ],
  );
  t.ok(m.files.length > 10, `${m.files.length} files`);
  t.equal(doc.manifestSha256, sha(fs.readFileSync(path.join(out, 'manifest.json'))));
  t.ok(
    doc.published.files.every((f: { uploaded: boolean }) => f.uploaded),
    'every file uploaded',
  );

  const prefix = `tools/toolkits/${doc.toolkitId}/`;
  const vault = await requireCompliantVault(await account(), VAULT);
  for (const f of [...m.files, { name: 'manifest.json', sha256: doc.manifestSha256 }]) {
    const h = await s3().send(
      new HeadObjectCommand({ Bucket: VAULT, Key: `${prefix}${f.name}`, ChecksumMode: 'ENABLED' }),
    );
    t.equal(
      Buffer.from(h.ChecksumSHA256!, 'base64').toString('hex'),
      f.sha256,
      `${f.name}: its S3 SHA-256 is the manifest's`,
    );
    t.equal(h.ServerSideEncryption, 'aws:kms');
    t.equal(h.SSEKMSKeyId, vault.vaultKeyArn, `${f.name}: under the vault key`);
    t.equal(h.ObjectLockMode, vault.lockMode, `${f.name}: under Object Lock`);
  }
  t.same(JSON.parse((await get('tools/toolkits/default.json')).toString()), {
    schema: 'cleanroom.toolkit-pointer.v1',
    toolkitId: doc.toolkitId,
    manifestSha256: doc.manifestSha256,
    publishedAt: doc.published.pointer.document.publishedAt,
  });

  // The same --out again: nothing downloaded, nothing uploaded; --no-default: the pointer unchanged.
  const pointerVersions = async () =>
    (await s3().send(new ListObjectVersionsCommand({ Bucket: VAULT, Prefix: 'tools/toolkits/default.json' }))).Versions
      ?.length;
  const before = await pointerVersions();
  const again = await cli(aws, ['room', 'tools', '--publish', '--out', out, '--no-default', '--json']);
  t.equal(again.code, 0, again.stderr);
  t.match(again.json(), { toolkitId: doc.toolkitId, reused: true, published: { manifestKept: true } });
  t.same(
    again.json().published.files.filter((f: { uploaded: boolean }) => f.uploaded),
    [],
    'nothing uploaded again',
  );
  t.notOk('pointer' in again.json().published);
  t.equal(await pointerVersions(), before, '--no-default wrote no pointer');
  const text = await cli(aws, ['room', 'tools', '--out', out]);
  t.match(text.stdout, /reused the wheelhouse in .*nothing downloaded/);
  t.match(text.stdout, /dissect\.target +3\.\d+/);

  // The library on what was published.
  const acct = await account();
  const tk = await readToolkit(acct, VAULT, 'default');
  t.equal(tk.toolkitId, doc.toolkitId);
  t.same(
    (await listToolkits(acct, VAULT)).map((x) => [x.toolkitId, x.isDefault, x.problem]),
    [[doc.toolkitId, true, undefined]],
  );
  const copy = await copyToolkitToCase(acct, vault, tk, 'IR-TK-1');
  t.equal(copy.files.length, m.files.length + 1);
  t.ok(
    copy.files.every((f) => f.copied),
    'copied',
  );
  for (const f of copy.files) {
    const h = await s3().send(new HeadObjectCommand({ Bucket: VAULT, Key: f.key, ChecksumMode: 'ENABLED' }));
    t.equal(Buffer.from(h.ChecksumSHA256!, 'base64').toString('hex'), f.sha256, `case copy of ${f.name} verified`);
    t.equal(h.SSEKMSKeyId, vault.vaultKeyArn);
    t.equal(h.ObjectLockMode, vault.lockMode);
  }
  t.same(
    (await copyToolkitToCase(acct, vault, tk, 'IR-TK-1')).files.filter((f) => f.copied),
    [],
    'a rerun copies nothing',
  );

  // A wheel overwritten in the vault (a new version, as anyone with write access could): refused.
  const wheel = m.files.find((f) => f.name.startsWith('wheels/pytsk3'))!;
  await s3().send(
    new PutObjectCommand({
      Bucket: VAULT,
      Key: `${prefix}${wheel.name}`,
      Body: 'a trojaned pytsk3',
      ServerSideEncryption: 'aws:kms',
      ChecksumAlgorithm: 'SHA256',
    }),
  );
  const e = await copyToolkitToCase(acct, vault, tk, 'IR-TK-2').catch((x) => x);
  t.match(e, { code: 'TOOLKIT_INVALID', exitCode: 3 });
  t.match(e.message, new RegExp(`${wheel.name.replace(/[.]/g, '\\.')} has SHA-256`));
  const listed = await s3().send(new ListObjectVersionsCommand({ Bucket: VAULT, Prefix: 'cases/IR-TK-2/' }));
  t.equal(listed.Versions?.length ?? 0, 0, 'nothing copied into the second case');
});
