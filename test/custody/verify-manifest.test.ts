/**
 * The checks of src/custody/verify.ts that no vault or bundle is needed for: a manifest of
 * another case or vault, counts that disagree with its head, a head hash that is not the
 * event's, evidence that differs from the events, a signature that is not base64, no key at all;
 * and the findings cap that keeps a wholesale tamper from printing 100,000 lines.
 */
import t from 'tap';
import { createPublicKey, sign as cryptoSign } from 'node:crypto';
import { canonicalBytes } from '../../src/custody/canonical.js';
import { ChainChecker, Findings, checkManifest, namedChecks, type FindingCode } from '../../src/custody/verify.js';
import { manifestStatement, type CaseManifest } from '../../src/custody/event.js';
import { signingKey } from '../fakes/ports.js';
import { BUCKET, chain, codes, manifest } from './fake-vault.js';

const key = signingKey('alias/k');
const pub = createPublicKey({ key: key.publicDer, format: 'der', type: 'spki' });
const events = chain('IR-7', 3);

/** Check `m` against the genuine 3-event chain. */
function check(
  m: CaseManifest | Buffer | undefined,
  opts: { bucket?: string; key?: typeof pub | undefined; n?: number } = {},
) {
  const findings = new Findings();
  const c = new ChainChecker('IR-7', findings);
  // As the vault and bundle verifiers do: the manifest's head is the point the chain remembers.
  if (m && !Buffer.isBuffer(m)) c.watch = m.head.seq;
  for (const ev of events.slice(0, opts.n ?? 3)) c.add(ev.seq, canonicalBytes(ev));
  const bytes = m === undefined ? undefined : Buffer.isBuffer(m) ? m : canonicalBytes(m);
  checkManifest({
    caseId: 'IR-7',
    bucket: opts.bucket ?? BUCKET,
    bytes,
    key: 'key' in opts ? opts.key : pub,
    expectedKeyId: key.arn,
    chain: c,
    findings,
  });
  return { findings: findings.list, findingsObj: findings };
}

/** The manifest re-signed with the genuine key after changing its signed part (someone holding the key, or a bug). */
function resign(m: CaseManifest, change: (s: Omit<CaseManifest, 'signature'>) => void): CaseManifest {
  const { signature, ...signed } = structuredClone(m);
  change(signed);
  const { digest, message } = manifestStatement(signed);
  return {
    ...signed,
    signature: { ...signature, digest, value: cryptoSign('sha256', message, key.privateKey).toString('base64') },
  };
}

t.test('a genuine manifest has no finding', async (t) => {
  t.same(codes(check(manifest('IR-7', events, key))), []);
});

t.test('signed, but of another case or vault, or counting other than its head: MANIFEST_MISMATCH', async (t) => {
  const m = manifest('IR-7', events, key);
  t.same(codes(check(resign(m, (s) => void (s.case = 'IR-8')))), ['MANIFEST_MISMATCH']);
  t.match(
    check(resign(m, (s) => void (s.bucket = 'other-vault'))).findings[0]!.message,
    /names the vault "other-vault", not cleanroom-evidence-/,
  );
  t.match(check(resign(m, (s) => void (s.events = 2))).findings[0]!.message, /counts 2 events but seals head 3/);
  t.match(
    check(resign(m, (s) => void (s.head = { seq: 3, hash: events[1]!.hash }))).findings.map((f) => f.message),
    [/head hash is not the hash of event 3/],
  );
  t.match(
    check(resign(m, (s) => void (s.evidence = [{ evidenceId: 'ev-one' } as never]))).findings.map((f) => f.message),
    [/evidence differs from the events for ev-one/],
  );
});

t.test('a manifest of an earlier head is stale; one past the record is a mismatch', async (t) => {
  t.same(codes(check(manifest('IR-7', events, key, { headSeq: 2 }))), ['MANIFEST_STALE@3']);
  t.same(codes(check(manifest('IR-7', events, key), { n: 2 })), ['MANIFEST_MISMATCH']);
});

t.test('signature problems: changed after signing, not base64, no key to check with', async (t) => {
  const m = manifest('IR-7', events, key);
  const changed = { ...m, sealedBy: 'arn:aws:sts::123456789012:assumed-role/Intruder/eve' };
  t.match(
    check(changed).findings.map((f) => f.message),
    [/digest does not match its content: the manifest was changed after it was signed/, /signature does not verify/],
  );
  t.same(
    codes(check({ ...m, signature: { ...m.signature, value: '!!not base64!!' } })),
    ['SCHEMA_INVALID', 'SIGNATURE_INVALID'],
    'the schema refuses the value, and it verifies nothing',
  );
  t.match(
    check(m, { key: undefined }).findings.map((f) => f.message),
    [/there is no public key to verify the manifest signature with/],
  );
  t.same(codes(check(Buffer.from('{"schema":'))), ['SCHEMA_INVALID']);
  t.same(codes(check(undefined)), ['MANIFEST_MISSING']);
  t.same(codes(check(undefined, { n: 0 })), [], 'no events and no manifest: nothing to seal');
});

t.test('findings are capped per code, with one line saying more were found; checks count them all', async (t) => {
  const f = new Findings(3);
  for (let seq = 1; seq <= 10; seq++) f.add('HASH_MISMATCH', seq, `event ${seq}`);
  f.add('SEQUENCE_GAP', 11, 'gap');
  t.same(
    f.list.map((x) => [x.code, x.seq]),
    [
      ['HASH_MISMATCH', 1],
      ['HASH_MISMATCH', 2],
      ['HASH_MISMATCH', 3],
      ['HASH_MISMATCH', null],
      ['SEQUENCE_GAP', 11],
    ],
  );
  t.equal(f.list[3]!.message, 'more HASH_MISMATCH findings were found and not listed');
  t.equal(f.count('events.hash'), 10, 'the check counts every finding, listed or not');
  const checks = namedChecks(f, ['events.sequence', 'events.hash', 'manifest.head'] as const);
  t.same(
    checks.map((c) => [c.id, c.ok, c.detail]),
    [
      ['events.hash', false, '10 finding(s): event 1'],
      ['events.sequence', false, '1 finding(s): gap'],
      ['manifest.head', true, 'ok'],
    ],
    'in the fixed check order, not the order given',
  );
  t.ok(f.has('SEQUENCE_GAP' as FindingCode));
  t.notOk(f.has('MANIFEST_STALE'));
});
