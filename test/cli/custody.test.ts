/**
 * End to end, as a custodian would: `vault init`, a case recorded through the custody seam, then
 * `custody log`, `custody verify --case`, `custody export` and `custody verify --bundle` run as the
 * real CLI — the bundle verified in an environment with no AWS endpoint and no credentials at all.
 * Then the tamper cases, each made directly through the S3 API (as an attacker with write access
 * would) or on the exported files, each detected with its code and exit 3.
 */
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { S3Client, DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { verifyCaseInVault } from '../../src/custody/verify-vault.js';
import { useLocalAws, type LocalAws } from '../../local-aws/local-aws.js';
import { openCaseCustody } from '../../src/custody/case-custody.js';
import { canonicalize } from '../../src/custody/canonical.js';
import { eventHash, type CaseManifest } from '../../src/custody/event.js';
import { VAULT, account, cli, offlineEnv } from '../custody/helpers.js';

const s3 = () => new S3Client({ region: 'us-east-1' });
const key = (c: string, seq: number) => `cases/${c}/custody/${String(seq).padStart(10, '0')}.json`;
const get = async (k: string) =>
  Buffer.from(await (await s3().send(new GetObjectCommand({ Bucket: VAULT, Key: k }))).Body!.transformToByteArray());
/** Write a new version over an existing key, as the vault policy allows (encrypted, over TLS). */
const overwrite = (k: string, body: Buffer | string) =>
  s3().send(new PutObjectCommand({ Bucket: VAULT, Key: k, Body: body, ServerSideEncryption: 'aws:kms' }));

async function recordCase(caseId: string, n = 5): Promise<void> {
  const c = await openCaseCustody(await account(), { caseId });
  for (let i = 1; i <= n; i++) {
    await c.record({
      action: i === 1 ? 'room.deploy' : 'evidence.snapshot',
      resources: [{ type: 'ec2:snapshot', id: `snap-${i}` }],
      outcome: {
        status: i === 4 ? 'failed' : 'succeeded',
        ...(i === 4 ? { error: { code: 'AWS_Throttling', message: 'Rate <exceeded> & "retried" | pipe' } } : {}),
        details:
          i >= 2
            ? {
                evidence: {
                  evidenceId: `ev-vol-${i}`,
                  sourceVolumeId: `vol-${i}`,
                  sourceAccount: '222222222222',
                  sourceRegion: 'us-east-1',
                  state: 'preserved',
                  forensicSnapshotId: `snap-${i}<script>`,
                  // Beyond the manifest schema of this change: the report reads it from the events.
                  ...(i === 2 ? { hashedAt: '2026-12-01T10:00:00.000Z' } : {}),
                },
              }
            : {},
      },
      idempotencyKey: `step:${i}`,
    });
  }
  await c.sealManifest();
}

async function verifyCase(aws: LocalAws, caseId: string) {
  const r = await cli(aws, ['custody', 'verify', '--case', caseId, '--json']);
  return { code: r.code, doc: r.json(), codes: (r.json().findings as Array<{ code: string }>).map((f) => f.code) };
}

t.test('log, verify, export, verify --bundle offline', async (t) => {
  const aws = await useLocalAws(t);
  t.equal((await cli(aws, ['vault', 'init'])).code, 0);
  await recordCase('IR-100');

  const log = await cli(aws, ['custody', 'log', '--case', 'IR-100', '--json']);
  t.equal(log.code, 0, log.stderr);
  const events = log.json().events as Array<Record<string, unknown>>;
  t.equal(log.json().case, 'IR-100');
  t.equal(events.length, 5);
  for (const f of ['seq', 'time', 'actor', 'action', 'hash', 'prevHash']) t.ok(f in events[0]!, `log has ${f}`);
  const human = await cli(aws, ['custody', 'log', '--case', 'IR-100']);
  t.match(human.stdout, /room\.deploy[\s\S]*evidence\.snapshot/);

  const v = await cli(aws, ['custody', 'verify', '--case', 'IR-100', '--json']);
  t.equal(v.code, 0, v.stdout);
  const doc = v.json();
  t.same(
    { case: doc.case, ok: doc.ok, events: doc.events, findings: doc.findings },
    { case: 'IR-100', ok: true, events: 5, findings: [] },
  );
  t.equal(doc.head.seq, 5);
  t.equal(doc.head.hash, events[4]!.hash);

  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cr-bundle-')), 'bundle');
  const ex = await cli(aws, ['custody', 'export', '--case', 'IR-100', '--out', out, '--json']);
  t.equal(ex.code, 0, ex.stderr);
  t.same(fs.readdirSync(out).sort(), [
    'SHA256SUMS',
    'bundle.sig.json',
    'events',
    'export.json',
    'manifest.json',
    'report.html',
    'report.md',
    'signing-key.pem',
  ]);
  t.equal(fs.readdirSync(path.join(out, 'events')).length, 5);
  const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
  t.notMatch(html, /<script>|<exceeded>/, 'record text is escaped in the HTML report');
  t.match(html, /snap-5&lt;script&gt;/);
  t.match(html, /Rate &lt;exceeded&gt; &amp; &quot;retried&quot;/);
  const md = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
  const timeline = md.slice(md.indexOf('## Timeline'));
  const row4 = timeline.split('\n').find((l) => l.startsWith('| 4 |'));
  t.ok(
    row4?.includes('| evidence.snapshot | failed: AWS\\_Throttling: Rate \\<exceeded\\> \\& "retried" \\| pipe |'),
    `the timeline row of the failure, escaped for Markdown: ${row4}`,
  );
  t.match(md, /ev-vol-2/);
  t.equal(md.match(/^### Evidence ev-vol-\d$/gm)?.length, 4, 'a card per evidence item the record names');
  t.match(
    md,
    /### Evidence ev-vol-4[\s\S]*\| 4 \| [^|]+ \| Source snapshot taken \| [^|]+ \| failed: AWS\\_Throttling/,
    'the card lists its step, who did it and how it ended',
  );
  t.match(
    md,
    /### Evidence ev-vol-2[\s\S]*\| Hashed at \(UTC\) \| 2026-12-01T10:00:00\.000Z \|[\s\S]*### Evidence ev-vol-3/,
    'a field the record holds shows on its card, whether or not the manifest carries it',
  );

  const again = await cli(aws, ['custody', 'export', '--case', 'IR-100', '--out', out]);
  t.equal(again.code, 2, 'refuses to write into a non-empty folder');

  const fp = ex.json().keyFingerprint as string;
  const off = await cli(
    undefined,
    ['custody', 'verify', '--bundle', out, '--key-fingerprint', fp, '--json'],
    offlineEnv(),
  );
  t.equal(off.code, 0, off.stderr);
  t.same(
    { ok: off.json().ok, events: off.json().events, head: off.json().head },
    { ok: true, events: 5, head: doc.head },
  );
  const unanchored = await cli(undefined, ['custody', 'verify', '--bundle', out, '--json'], offlineEnv());
  t.equal(unanchored.code, 3, 'without a trust anchor the bundle is not reported as verified');
  t.same(
    unanchored.json().findings.map((f: { code: string }) => f.code),
    ['KEY_NOT_TRUSTED'],
  );
  const wrongPin = await cli(
    undefined,
    ['custody', 'verify', '--bundle', out, '--key-fingerprint', 'ab'.repeat(32), '--json'],
    offlineEnv(),
  );
  t.equal(wrongPin.code, 3);
  t.same(
    wrongPin.json().findings.map((f: { code: string }) => f.code),
    ['KEY_NOT_TRUSTED'],
  );

  // Tampering with the bundle after export.
  const copy = (name: string) => {
    const d = path.join(path.dirname(out), name);
    fs.cpSync(out, d, { recursive: true });
    return d;
  };
  const edited = copy('edited');
  const f3 = path.join(edited, 'events/0000000003.json');
  fs.writeFileSync(f3, fs.readFileSync(f3, 'utf8').replace('"snap-3"', '"snap-X"'));
  const e1 = await cli(
    undefined,
    ['custody', 'verify', '--bundle', edited, '--key-fingerprint', fp, '--json'],
    offlineEnv(),
  );
  t.equal(e1.code, 3);
  t.same(
    [...new Set(e1.json().findings.map((f: { code: string }) => f.code))].sort(),
    ['BUNDLE_CHECKSUM_MISMATCH', 'HASH_MISMATCH', 'CHAIN_LINK_MISMATCH'].sort(),
  );

  const report = copy('report-edited');
  fs.appendFileSync(path.join(report, 'report.md'), '\nall fine\n');
  const e2 = await cli(
    undefined,
    ['custody', 'verify', '--bundle', report, '--key-fingerprint', fp, '--json'],
    offlineEnv(),
  );
  t.equal(e2.code, 3);
  t.same(
    e2.json().findings.map((f: { code: string }) => f.code),
    ['BUNDLE_CHECKSUM_MISMATCH'],
  );

  const swapped = copy('swapped');
  const a = path.join(swapped, 'events/0000000002.json');
  const b = path.join(swapped, 'events/0000000003.json');
  const [ba, bb] = [fs.readFileSync(a), fs.readFileSync(b)];
  fs.writeFileSync(a, bb);
  fs.writeFileSync(b, ba);
  // The swapper also fixes SHA256SUMS: the chain still gives them away.
  const sums = fs.readFileSync(path.join(swapped, 'SHA256SUMS'), 'utf8').split('\n');
  const i2 = sums.findIndex((l) => l.endsWith('events/0000000002.json'));
  const i3 = sums.findIndex((l) => l.endsWith('events/0000000003.json'));
  const h2 = sums[i2]!.slice(0, 64);
  sums[i2] = `${sums[i3]!.slice(0, 64)}  events/0000000002.json`;
  sums[i3] = `${h2}  events/0000000003.json`;
  fs.writeFileSync(path.join(swapped, 'SHA256SUMS'), sums.join('\n'));
  const e3 = await cli(
    undefined,
    ['custody', 'verify', '--bundle', swapped, '--key-fingerprint', fp, '--json'],
    offlineEnv(),
  );
  t.equal(e3.code, 3);
  const c3 = e3.json().findings.map((f: { code: string }) => f.code);
  t.ok(c3.includes('SEQUENCE_MISMATCH') && c3.includes('CHAIN_LINK_MISMATCH'), `swap detected: ${c3}`);
  t.notOk(c3.includes('BUNDLE_CHECKSUM_MISMATCH'));

  const forged = copy('forged');
  const m = JSON.parse(fs.readFileSync(path.join(forged, 'manifest.json'), 'utf8')) as CaseManifest;
  const sig = Buffer.from(m.signature.value, 'base64');
  sig[sig.length - 1] = sig.at(-1)! ^ 1;
  m.signature.value = sig.toString('base64');
  fs.writeFileSync(path.join(forged, 'manifest.json'), canonicalize(m));
  const e4 = await cli(
    undefined,
    ['custody', 'verify', '--bundle', forged, '--key-fingerprint', fp, '--json'],
    offlineEnv(),
  );
  t.equal(e4.code, 3);
  t.ok(e4.json().findings.some((f: { code: string }) => f.code === 'SIGNATURE_INVALID'));

  const extra = copy('extra-file');
  fs.writeFileSync(path.join(extra, 'events/0000000006.json'), '{}');
  const e5 = await cli(
    undefined,
    ['custody', 'verify', '--bundle', extra, '--key-fingerprint', fp, '--json'],
    offlineEnv(),
  );
  t.equal(e5.code, 3);
  t.same(
    e5.json().findings.map((f: { code: string }) => f.code),
    ['BUNDLE_INCOMPLETE'],
  );
});

t.test('tampering in the vault, each detected with its code', async (t) => {
  const aws = await useLocalAws(t);
  t.equal((await cli(aws, ['vault', 'init'])).code, 0);

  await t.test('one byte changed in an event (a new version over its key)', async (t) => {
    await recordCase('T-BYTE');
    const k = key('T-BYTE', 3);
    const body = await get(k);
    const i = body.indexOf('snap-3') + 5;
    body[i] = '9'.charCodeAt(0);
    await overwrite(k, body);
    const r = await verifyCase(aws, 'T-BYTE');
    t.equal(r.code, 3);
    t.ok(r.codes.includes('EXTRA_VERSION') && r.codes.includes('HASH_MISMATCH'), r.codes.join());
    t.ok(r.doc.findings.some((f: { code: string; seq: number }) => f.code === 'HASH_MISMATCH' && f.seq === 3));
  });

  await t.test('an event deleted (a delete marker on its key)', async (t) => {
    await recordCase('T-DEL');
    await s3().send(new DeleteObjectCommand({ Bucket: VAULT, Key: key('T-DEL', 2) }));
    const r = await verifyCase(aws, 'T-DEL');
    t.equal(r.code, 3);
    t.same(r.codes, ['EVENT_DELETED']);
    t.equal(r.doc.findings[0].seq, 2);
    // custody log still shows what is there; a writer refuses to append onto the gap.
    const w = await openCaseCustody(await account(), { caseId: 'T-DEL' })
      .then((c) => c.record({ action: 'room.audit', resources: [], outcome: { status: 'succeeded' } }))
      .catch((e) => e);
    t.equal(w.code, 'CUSTODY_INVALID');
  });

  await t.test('a new version written over an event key, same bytes', async (t) => {
    await recordCase('T-VER');
    await overwrite(key('T-VER', 4), await get(key('T-VER', 4)));
    const r = await verifyCase(aws, 'T-VER');
    t.equal(r.code, 3);
    t.same(r.codes, ['EXTRA_VERSION']);
    t.match(r.doc.findings[0].message, /same bytes/);
  });

  await t.test('two events swapped', async (t) => {
    await recordCase('T-SWAP');
    const [b2, b3] = [await get(key('T-SWAP', 2)), await get(key('T-SWAP', 3))];
    await overwrite(key('T-SWAP', 2), b3);
    await overwrite(key('T-SWAP', 3), b2);
    const r = await verifyCase(aws, 'T-SWAP');
    t.equal(r.code, 3);
    for (const c of ['EXTRA_VERSION', 'SEQUENCE_MISMATCH', 'CHAIN_LINK_MISMATCH']) t.ok(r.codes.includes(c), c);
  });

  await t.test('an event re-hashed consistently after an edit breaks the link and the manifest', async (t) => {
    await recordCase('T-REHASH');
    const ev = JSON.parse((await get(key('T-REHASH', 5))).toString());
    ev.actor = 'arn:aws:sts::123456789012:assumed-role/attacker/x';
    ev.hash = eventHash(ev);
    await overwrite(key('T-REHASH', 5), canonicalize(ev));
    const r = await verifyCase(aws, 'T-REHASH');
    t.equal(r.code, 3);
    t.ok(r.codes.includes('MANIFEST_MISMATCH'), r.codes.join());
    t.notOk(r.codes.includes('HASH_MISMATCH'), 'its own hash is consistent: the signed head gives it away');
  });

  await t.test('a forged manifest signature', async (t) => {
    await recordCase('T-SIG');
    const m = JSON.parse((await get('cases/T-SIG/manifest.json')).toString()) as CaseManifest;
    m.evidence = m.evidence.filter((e) => e.evidenceId !== 'ev-vol-2');
    await overwrite('cases/T-SIG/manifest.json', canonicalize(m));
    const r = await verifyCase(aws, 'T-SIG');
    t.equal(r.code, 3);
    t.ok(r.codes.includes('SIGNATURE_INVALID') && r.codes.includes('MANIFEST_MISMATCH'), r.codes.join());
  });

  await t.test('an object version without retention', async (t) => {
    await recordCase('T-RET');
    // In AWS a version without retention arises when the bucket's default retention was removed
    // and a writer did not ask for any. moto cannot build that state: it refuses
    // PutObjectLockConfiguration on a non-empty bucket (AWS allows it), and removing retention
    // from an object is refused. So S3's answer is altered instead: the account's GetObject
    // reports version 1 without its Object Lock headers, as S3 would for an unlocked version.
    const acct = await account();
    const real = acct.s3.getObject;
    (acct.s3 as { getObject: typeof real }).getObject = async (input) => {
      const r = await real(input);
      if (input.Key === key('T-RET', 1)) {
        delete r.ObjectLockMode;
        delete r.ObjectLockRetainUntilDate;
      }
      return r;
    };
    const r = await verifyCaseInVault(acct, { caseId: 'T-RET' });
    t.equal(r.ok, false);
    t.same(
      r.findings.map((f) => [f.code, f.seq]),
      [['RETENTION_MISSING', 1]],
    );
  });

  await t.test('export refuses a record that does not verify', async (t) => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cr-refuse-')), 'b');
    const r = await cli(aws, ['custody', 'export', '--case', 'T-SWAP', '--out', out]);
    t.equal(r.code, 3);
    t.match(r.stderr, /does not verify, so it was not exported/);
    t.notOk(fs.existsSync(out));
  });

  await t.test('a manifest behind the record is stale until sealed again', async (t) => {
    await recordCase('T-STALE', 2);
    const c = await openCaseCustody(await account(), { caseId: 'T-STALE' });
    await c.record({ action: 'room.audit', resources: [], outcome: { status: 'succeeded' } });
    const r = await verifyCase(aws, 'T-STALE');
    t.equal(r.code, 3);
    t.same(r.codes, ['MANIFEST_STALE']);
    const seal = await cli(aws, ['custody', 'seal', '--case', 'T-STALE']);
    t.equal(seal.code, 0, seal.stderr);
    t.equal((await verifyCase(aws, 'T-STALE')).code, 0);
  });
});
