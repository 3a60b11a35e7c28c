/**
 * `custody export` (src/custody/bundle.ts exportBundle) from a fake vault (no local AWS): the
 * bundle is written only when the record verifies and KMS signed it — a record that does not
 * verify, a vault without a signing key, a throttled Sign, an unknown case leave no folder and no
 * partial folder behind; a non-empty --out is refused before any AWS call. The written bundle
 * verifies offline, pinned to its case and head (the tamper suite attacks such bundles end to end).
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { canonicalBytes } from '../../src/custody/canonical.js';
import { eventKey } from '../../src/custody/event.js';
import { BUNDLE_FILES, exportBundle, keyFingerprint, verifyBundle, type ExportMeta } from '../../src/custody/bundle.js';
import { awsError } from '../fakes/ports.js';
import { ACTOR, BUCKET, codes, fakeVault } from './fake-vault.js';

const NOW = () => new Date('2026-12-05T03:00:00Z');
/** The folder's entries, partial folders of an export included. */
const entries = (dir: string) => fs.readdirSync(dir).sort();

t.test(
  'an export of a verified record: every file, signed by the vault key, verifies offline pinned to its case and head',
  async (t) => {
    const v = fakeVault('IR-7', 4, { pageSize: 3 });
    const base = t.testdir();
    const out = path.join(base, 'bundle');
    const r = await exportBundle(v.account, { caseId: 'IR-7', bucket: BUCKET, out, now: NOW });
    t.same(entries(base), ['bundle'], 'renamed into place, no partial folder left');
    t.equal(r.events, 4);
    t.equal(r.head.hash, v.events[3]!.hash);
    t.equal(r.files, 4 + 5 + 2, 'events, the listed files, SHA256SUMS and the seal');
    t.same(
      entries(out),
      [
        BUNDLE_FILES.seal,
        BUNDLE_FILES.sums,
        'events',
        BUNDLE_FILES.meta,
        BUNDLE_FILES.manifest,
        BUNDLE_FILES.html,
        BUNDLE_FILES.md,
        BUNDLE_FILES.key,
      ].sort(),
    );
    t.ok(
      fs.readFileSync(path.join(out, 'events/0000000002.json')).equals(canonicalBytes(v.events[1])),
      'events are the stored bytes',
    );
    const meta = JSON.parse(fs.readFileSync(path.join(out, BUNDLE_FILES.meta), 'utf8')) as ExportMeta;
    t.match(meta, {
      case: 'IR-7',
      bucket: BUCKET,
      exportedAt: '2026-12-05T03:00:00.000Z',
      exportedBy: 'arn:aws:sts::123456789012:assumed-role/Custodian/alice',
      signingKeyArn: v.key.arn,
      events: 4,
    });
    t.equal(meta.keyFingerprint, r.keyFingerprint);
    t.equal(r.keyFingerprint, keyFingerprint(fs.readFileSync(path.join(out, BUNDLE_FILES.key), 'utf8')));
    const signs = v.kmsCalls.of<{ KeyId: string; MessageType: string; SigningAlgorithm: string }>('sign');
    t.same(
      signs.map((s) => [s.KeyId, s.MessageType, s.SigningAlgorithm]),
      [[v.key.arn, 'RAW', 'ECDSA_SHA_256']],
      'one KMS Sign, with the vault signing key',
    );
    t.match(
      fs.readFileSync(path.join(out, BUNDLE_FILES.md), 'utf8'),
      new RegExp(
        `\\| 4 \\| 2026-12-01T10:04:00.000Z \\| ${ACTOR.replace(/[/]/g, '\\/')} \\| step\\.4 \\| succeeded \\| ec2:instance i-4 \\|`,
      ),
    );

    const pinned = await verifyBundle(out, {
      expectKeyFingerprint: r.keyFingerprint,
      expectCase: 'IR-7',
      expectHead: r.head.hash,
    });
    t.same(codes(pinned), []);
    t.equal(pinned.ok, true);
    const otherCase = await verifyBundle(out, {
      expectKeyFingerprint: r.keyFingerprint,
      expectCase: 'ir-7',
      expectHead: r.head.hash,
    });
    t.same(codes(otherCase), ['CASE_NOT_EXPECTED'], 'the expected case differs in letter case only: not this bundle');
    const earlierHead = await verifyBundle(out, {
      expectKeyFingerprint: r.keyFingerprint,
      expectHead: v.events[2]!.hash,
    });
    t.same(codes(earlierHead), ['HEAD_NOT_EXPECTED@4'], 'a head behind the bundle’s is not its head');
  },
);

t.test('an existing empty folder is used; a non-empty one is refused before any AWS call', async (t) => {
  const v = fakeVault('IR-7', 2);
  const base = t.testdir({ empty: {}, full: { 'old-bundle.txt': 'earlier export' } });
  await exportBundle(v.account, { caseId: 'IR-7', bucket: BUCKET, out: path.join(base, 'empty') });
  t.ok(fs.existsSync(path.join(base, 'empty', BUNDLE_FILES.seal)));
  const before = v.bucket.calls.list.length + v.kmsCalls.list.length;
  await t.rejects(exportBundle(v.account, { caseId: 'IR-7', bucket: BUCKET, out: path.join(base, 'full') }), {
    code: 'OUT_NOT_EMPTY',
    exitCode: 2,
    details: { option: '--out' },
  });
  t.equal(v.bucket.calls.list.length + v.kmsCalls.list.length, before, 'no AWS call for a refused folder');
  t.same(entries(path.join(base, 'full')), ['old-bundle.txt'], 'the folder is left as it was');
  t.same(entries(base), ['empty', 'full']);
});

t.test('a record that does not verify is not exported, and nothing is left behind', async (t) => {
  const v = fakeVault('IR-7', 3);
  v.bucket.put(eventKey('IR-7', 2), canonicalBytes({ ...v.events[1]!, action: 'step.rewritten' }));
  const base = t.testdir();
  const e = await exportBundle(v.account, { caseId: 'IR-7', bucket: BUCKET, out: path.join(base, 'b') }).then(
    () => undefined,
    (x: unknown) => x,
  );
  t.match(e, { code: 'CUSTODY_INVALID', exitCode: 3, details: { caseId: 'IR-7' } });
  t.match(
    (e as Error).message,
    /does not verify, so it was not exported \(3 finding\(s\): EXTRA_VERSION at 2, HASH_MISMATCH at 2, CHAIN_LINK_MISMATCH at 3\)\. See `cleanroom custody verify --case IR-7`/,
  );
  t.same(entries(base), [], 'no bundle and no partial folder');
  t.equal(v.kmsCalls.of('sign').length, 0, 'nothing is signed');
});

t.test('no signing key in the vault: nothing to export', async (t) => {
  const v = fakeVault('IR-7', 2);
  v.keys.length = 0;
  const base = t.testdir();
  await t.rejects(exportBundle(v.account, { caseId: 'IR-7', bucket: BUCKET, out: path.join(base, 'b') }), {
    code: 'CUSTODY_INVALID',
    message: /SIGNATURE_INVALID/,
  });
  t.same(entries(base), []);
});

t.test('a throttled KMS Sign fails the export (retryable), leaving no folder', async (t) => {
  const v = fakeVault('IR-7', 2);
  v.kmsFaults.set('sign', () => awsError('kms', 'sign', 'ThrottlingException', 'Rate exceeded'));
  const base = t.testdir();
  await t.rejects(exportBundle(v.account, { caseId: 'IR-7', bucket: BUCKET, out: path.join(base, 'b') }), {
    code: 'AWS_ThrottlingException',
    exitCode: 1,
  });
  t.same(entries(base), []);
  v.kmsFaults.set('sign', () => undefined);
  await exportBundle(v.account, { caseId: 'IR-7', bucket: BUCKET, out: path.join(base, 'b') });
  t.same(entries(base), ['b'], 'a second try succeeds in the same place');
});

t.test('a case id differing in letter case is an unknown case, and no folder is made', async (t) => {
  const v = fakeVault('IR-7', 2);
  const base = t.testdir();
  await t.rejects(exportBundle(v.account, { caseId: 'ir-7', bucket: BUCKET, out: path.join(base, 'b') }), {
    code: 'UNKNOWN_CASE',
    details: { similarCaseIds: ['IR-7'] },
  });
  t.same(entries(base), []);
});
