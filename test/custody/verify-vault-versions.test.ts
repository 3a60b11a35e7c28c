/**
 * `custody verify --case` (src/custody/verify-vault.ts) on a fake vault (no local AWS): the object
 * versions S3 lists — paginated listings cut between two versions of one key, overwritten and
 * deleted events, a version without retention, a missing event — and the vault's signing key in
 * KMS: a manifest signed by another key, no signing key, KMS errors and throttling. The
 * end-to-end tamper suites (custody-tamper, cli/custody*) cover the chain on the real emulator.
 */
import t from 'tap';
import { canonicalBytes } from '../../src/custody/canonical.js';
import { eventKey, manifestKey } from '../../src/custody/event.js';
import { verifyCaseInVault } from '../../src/custody/verify-vault.js';
import { AwsError, UsageError } from '../../src/domain/errors.js';
import { isTransientAwsError } from '../../src/aws/errors.js';
import { awsError, signingKey } from '../fakes/ports.js';
import { BUCKET, codes, fakeVault, manifest } from './fake-vault.js';

const verify = (v: ReturnType<typeof fakeVault>, more: Partial<Parameters<typeof verifyCaseInVault>[1]> = {}) =>
  verifyCaseInVault(v.account, { caseId: v.caseId, bucket: BUCKET, ...more });

t.test('a genuine record verifies across listing pages, every check named and ok', async (t) => {
  const v = fakeVault('IR-7', 5, { pageSize: 2 });
  const r = await verify(v);
  t.same(codes(r), []);
  t.equal(r.ok, true);
  t.equal(r.events, 5);
  t.equal(r.head.hash, v.events[4]!.hash);
  t.equal(r.signingKeyArn, v.key.arn);
  t.ok(r.publicKeyDer?.equals(v.key.publicDer), 'the public key is the vault signing key’s');
  t.same(r.retention, { modes: ['COMPLIANCE'], earliestRetainUntil: '2033-12-01T00:00:00.000Z' });
  t.ok(r.checks.every((c) => c.ok));
  const pages = v.bucket.calls.of<{ KeyMarker?: string; VersionIdMarker?: string }>('listObjectVersions');
  t.equal(pages.length, 3, '6 objects, 2 a page');
  t.same(
    pages.slice(1).map((p) => [p.KeyMarker, p.VersionIdMarker]),
    [
      [eventKey('IR-7', 2), 'v0002'],
      [eventKey('IR-7', 4), 'v0004'],
    ],
    'each page resumes after the last key and version listed',
  );
});

t.test('a page cut between the two versions of an overwritten event still shows the overwrite', async (t) => {
  const v = fakeVault('IR-7', 3, { pageSize: 1 });
  // Event 2 written over with the same bytes: the listing pages are [e1] [e2 new] [e2 old] [e3] [manifest].
  v.bucket.put(eventKey('IR-7', 2), canonicalBytes(v.events[1]));
  const r = await verify(v);
  t.same(codes(r), ['EXTRA_VERSION@2']);
  t.match(r.findings[0]!.message, /another version \(v0005\) written over the original \(v0002\), with the same bytes/);
  t.same(
    r.checks.filter((c) => !c.ok).map((c) => c.id),
    ['objects.versions'],
  );
});

t.test(
  'an event overwritten with other bytes: the overwrite is named and the current version is what the chain checks',
  async (t) => {
    const v = fakeVault('IR-7', 3);
    const forged = { ...v.events[1]!, actor: 'arn:aws:sts::123456789012:assumed-role/Intruder/eve' };
    v.bucket.put(eventKey('IR-7', 2), canonicalBytes(forged));
    const r = await verify(v);
    t.same(codes(r), ['EXTRA_VERSION@2', 'HASH_MISMATCH@2', 'CHAIN_LINK_MISMATCH@3']);
    t.match(r.findings[0]!.message, /with different bytes/);
    t.equal(r.ok, false);
  },
);

t.test('an event deleted (a delete marker on top): reported, and the original version still chains', async (t) => {
  const v = fakeVault('IR-7', 3);
  v.bucket.deleteMarker(eventKey('IR-7', 2));
  const r = await verify(v);
  t.same(codes(r), ['EVENT_DELETED@2'], 'no gap and no broken link: the original version is read');
  t.match(r.findings[0]!.message, /event 2 was deleted.*original version is still in the vault/);
  t.equal(r.events, 3);
});

t.test('an event whose every version is gone but a delete marker: a gap with no readable version', async (t) => {
  const v = fakeVault('IR-7', 3);
  v.bucket.deleteMarker(eventKey('IR-7', 2));
  v.bucket.removeVersion(eventKey('IR-7', 2), 'v0002');
  const r = await verify(v);
  // (The gap is reported twice today: "no readable version" by the reader, "event 2 is missing" by the chain.)
  t.same(
    [...new Set(codes(r))],
    ['EVENT_DELETED@2', 'SEQUENCE_GAP@2'],
    'every finding is about event 2: event 3 is not blamed',
  );
  t.match(r.findings[1]!.message, /event 2 has no readable version/);
  t.equal(r.events, 3);
  t.equal(
    v.bucket.calls.of<{ VersionId?: string }>('getObject').filter((g) => g.VersionId === 'v0005').length,
    0,
    'a delete marker is never read',
  );
});

t.test('a missing event is a gap; the manifest then seals a head the record does not reach', async (t) => {
  const v = fakeVault('IR-7', 4);
  v.bucket.objects.delete(eventKey('IR-7', 4));
  const r = await verify(v);
  t.same(codes(r), ['MANIFEST_MISMATCH']);
  t.match(r.findings[0]!.message, /seals event 4, but the record ends at 3/);
  v.bucket.objects.delete(eventKey('IR-7', 2));
  const r2 = await verify(v);
  t.ok(codes(r2).includes('SEQUENCE_GAP@2'));
});

t.test('a version without Object Lock retention; the retention summary reads current versions only', async (t) => {
  const v = fakeVault('IR-7', 3);
  v.bucket.put(eventKey('IR-7', 3), canonicalBytes(v.events[2]), { mode: 'GOVERNANCE' });
  const r = await verify(v);
  t.same(codes(r), ['EXTRA_VERSION@3', 'RETENTION_MISSING@3']);
  t.match(
    r.findings[1]!.message,
    /event 3 \(version v0005\) carries no Object Lock retention date \(mode GOVERNANCE\)/,
  );
  t.same(r.retention.modes, ['COMPLIANCE'], 'the version without a date is not counted as retained');
  const m = fakeVault('IR-8', 2);
  m.bucket.put(manifestKey('IR-8'), m.bucket.objects.get(manifestKey('IR-8'))![0]!.body!, null);
  t.same(codes(await verify(m)), ['RETENTION_MISSING'], 'the manifest’s current version without retention');
});

t.test('a manifest behind the head leaves the later events unsealed', async (t) => {
  const v = fakeVault('IR-7', 5, { manifestHead: 3 });
  const r = await verify(v);
  t.same(codes(r), ['MANIFEST_STALE@4']);
  t.match(r.findings[0]!.message, /seals event 3; events 4–5 are not covered by a signature.*custody seal --case IR-7/);
  t.same(
    r.checks.filter((c) => !c.ok).map((c) => c.id),
    ['manifest.head'],
  );
});

t.test('a deleted manifest with events is MANIFEST_MISSING', async (t) => {
  const v = fakeVault('IR-7', 2);
  v.bucket.deleteMarker(manifestKey('IR-7'));
  t.same(codes(await verify(v)), ['MANIFEST_MISSING']);
});

t.test('a manifest signed by a key that is not the vault’s', async (t) => {
  const v = fakeVault('IR-7', 2);
  const other = signingKey('alias/someone-else', 'k-other');
  // Signed by the other key and naming it: the signature does not verify with the vault's key.
  v.bucket.put(manifestKey('IR-7'), canonicalBytes(manifest('IR-7', v.events, other)));
  const r = await verify(v);
  t.same(
    codes(r),
    ['SIGNATURE_INVALID', 'SIGNATURE_INVALID'],
    'a manifest with older versions is no finding: every seal writes a new one',
  );
  t.match(
    r.findings.map((f) => f.message).join('\n'),
    /does not verify with the public key of arn:aws:kms:us-east-1:123456789012:key\/k-sign[\s\S]*signed with arn:aws:kms:us-east-1:123456789012:key\/k-other, not the vault's signing key/,
  );
  // Signed by the vault key, but claiming another key id: the key id alone is caught.
  v.bucket.put(manifestKey('IR-7'), canonicalBytes(manifest('IR-7', v.events, v.key, { keyId: other.arn })));
  t.same(codes(await verify(v)), ['SIGNATURE_INVALID']);
});

t.test(
  'no signing key in KMS: the manifest cannot be verified, and no public key is returned for an export',
  async (t) => {
    const v = fakeVault('IR-7', 2);
    v.keys.length = 0;
    const r = await verify(v);
    t.same(codes(r), ['SIGNATURE_INVALID', 'SIGNATURE_INVALID']);
    t.match(
      r.findings.map((f) => f.message),
      [
        /no public key to verify/,
        /the vault's signing key alias\/cleanroom\/signing\/cleanroom-evidence-123456789012-us-east-1 does not exist/,
      ],
    );
    t.equal(r.publicKeyDer, undefined);
    t.equal(r.signingKeyArn, undefined);
  },
);

t.test(
  'GetPublicKey NotFoundException (key scheduled for deletion under a live alias): no key, a finding, no crash',
  async (t) => {
    const v = fakeVault('IR-7', 2);
    v.kmsFaults.set('getPublicKey', () => awsError('kms', 'getPublicKey', 'NotFoundException'));
    const r = await verify(v);
    t.same(codes(r), ['SIGNATURE_INVALID']);
    t.match(r.findings[0]!.message, /no public key to verify the manifest signature with/);
    t.equal(r.signingKeyArn, v.key.arn);
  },
);

t.test('KMS and S3 failures are errors, never a verdict', async (t) => {
  const v = fakeVault('IR-7', 3);
  v.kmsFaults.set('getPublicKey', () => awsError('kms', 'getPublicKey', 'ThrottlingException', 'Rate exceeded'));
  const e = await verify(v).then(
    () => undefined,
    (x: unknown) => x,
  );
  t.ok(
    e instanceof AwsError && e.awsCode === 'ThrottlingException' && isTransientAwsError(e),
    'throttled GetPublicKey rejects, retryable',
  );

  const w = fakeVault('IR-7', 6);
  w.bucket.faults.set('getObject', (i) =>
    i['Key'] === eventKey('IR-7', 5)
      ? awsError('s3', 'getObject', 'SlowDown', 'Please reduce your request rate.')
      : undefined,
  );
  await t.rejects(
    verify(w, { window: 2, concurrency: 1 }),
    { code: 'AWS_SlowDown', awsCode: 'SlowDown', exitCode: 1 },
    'a throttled read in a later window rejects the verification',
  );

  const x = fakeVault('IR-7', 2);
  x.bucket.faults.set('listObjectVersions', (_, n) =>
    n === 1 ? awsError('s3', 'listObjectVersions', 'AccessDenied') : undefined,
  );
  await t.rejects(verify(x), { code: 'AWS_AccessDenied', awsCode: 'AccessDenied' });
});

t.test('events reach onEvent in sequence order, window by window', async (t) => {
  const v = fakeVault('IR-7', 7);
  const seen: number[] = [];
  let manifestBytes: Buffer | undefined;
  const r = await verify(v, {
    window: 3,
    concurrency: 2,
    onEvent: (seq) => void seen.push(seq),
    onManifest: (b) => void (manifestBytes = b),
  });
  t.equal(r.ok, true);
  t.same(seen, [1, 2, 3, 4, 5, 6, 7]);
  t.ok(manifestBytes?.equals(v.bucket.objects.get(manifestKey('IR-7'))![0]!.body!));
});

t.test('a case id differing only in letter case is unknown, and the error names the one the vault has', async (t) => {
  const v = fakeVault('IR-7', 2);
  const e = await verifyCaseInVault(v.account, { caseId: 'ir-7', bucket: BUCKET }).then(
    () => undefined,
    (x: unknown) => x,
  );
  t.ok(e instanceof UsageError);
  t.match(e, { code: 'UNKNOWN_CASE', exitCode: 2, details: { caseId: 'ir-7', similarCaseIds: ['IR-7'] } });
  t.match((e as Error).message, /case ids are case-sensitive \(this vault has IR-7\)/);
  t.equal(v.kmsCalls.list.length, 0, 'nothing else is read for an unknown case');
});
