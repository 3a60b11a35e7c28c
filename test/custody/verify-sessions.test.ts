/**
 * Session transcripts in the record, on a fake vault: `custody verify --case` reads each recorded
 * transcript version (by its version id, streamed) and compares its SHA-256 and size with its
 * `room.session` event; a transcript changed, overwritten (when no version id was recorded),
 * deleted or stripped of its retention is a finding naming the session and the key. `custody
 * export` carries each transcript as `sessions/<session id>.log`, listed in SHA256SUMS, and the
 * offline verification checks each against its event: a transcript edited in the bundle (re-summed
 * or not), missing, or an extra one fails it.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { verifyCaseInVault } from '../../src/custody/verify-vault.js';
import { exportBundle, verifyBundle } from '../../src/custody/bundle.js';
import { BUCKET, codes } from './fake-vault.js';
import { FAILED_ID, FORWARD_ID, SHELL_ID, TRANSCRIPT, sessionVault, sha256 } from './session-vault.js';

const NOW = () => new Date('2026-12-05T03:00:00Z');

t.test('a genuine record with sessions verifies: the transcript is read once, by its version, and named', async (t) => {
  const v = sessionVault();
  const r = await verifyCaseInVault(v.account, { caseId: 'IR-7', bucket: BUCKET });
  t.same(codes(r), []);
  t.equal(r.ok, true);
  t.same(r.transcripts, [
    {
      seq: 3,
      sessionId: SHELL_ID,
      key: v.transcriptKey,
      versionId: v.stored.versionId,
      sha256: sha256(TRANSCRIPT),
      ok: true,
    },
  ]);
  t.match(
    r.checks.find((c) => c.id === 'sessions.transcripts'),
    {
      ok: true,
      detail: '1 session transcript(s) hash to what their events record',
    },
  );
  t.same(
    r.sessions.map((s) => [s.seq, s.action, s.sessionId]),
    [
      [2, 'room.session.start', SHELL_ID],
      [3, 'room.session', SHELL_ID],
      [4, 'room.session', FORWARD_ID],
      [5, 'room.session', FAILED_ID],
    ],
  );
  const reads = v.bucket.calls
    .of<{ Key: string; VersionId?: string }>('getObject')
    .filter((c) => c.Key === v.transcriptKey);
  t.same(
    reads.map((c) => c.VersionId),
    [v.stored.versionId],
    'one read, of the recorded version',
  );
});

t.test(
  'a transcript changed in the vault is TRANSCRIPT_MISMATCH at its event, naming the session and the key',
  async (t) => {
    // The recorded version itself holds other bytes (as a Governance bypass that removed it and a
    // later write under the same id would leave it, or a record that lied): the hash decides.
    const edited = Buffer.from(TRANSCRIPT.toString('utf8').replace('target-query', 'rm -rf /tmp/x'));
    const v = sessionVault('IR-7', { transcript: edited });
    const r = await verifyCaseInVault(v.account, { caseId: 'IR-7', bucket: BUCKET });
    t.same(codes(r), ['TRANSCRIPT_MISMATCH@3']);
    t.equal(r.ok, false);
    t.match(
      r.findings[0]!.message,
      new RegExp(
        `session ${SHELL_ID} \\(s3://${BUCKET}/${v.transcriptKey.replace(/[/.]/g, '\\$&')} \\(version v0001\\)\\)`,
      ),
    );
    t.match(
      r.checks.find((c) => c.id === 'sessions.transcripts'),
      { ok: false },
    );
    t.same(
      r.transcripts.map((x) => x.ok),
      [false],
    );
  },
);

t.test('one byte added to the transcript is a mismatch too (the size is recorded as well as the hash)', async (t) => {
  const v = sessionVault('IR-7', { transcript: Buffer.concat([TRANSCRIPT, Buffer.from('\n')]) });
  t.same(codes(await verifyCaseInVault(v.account, { caseId: 'IR-7', bucket: BUCKET })), ['TRANSCRIPT_MISMATCH@3']);
});

t.test(
  'the recorded version removed is TRANSCRIPT_MISSING; a later version written over it changes nothing',
  async (t) => {
    const v = sessionVault();
    v.bucket.put(v.transcriptKey, Buffer.from('sh-5.2$ ls\n'));
    t.same(codes(await verifyCaseInVault(v.account, { caseId: 'IR-7', bucket: BUCKET })), [], 'read by version id');
    v.bucket.removeVersion(v.transcriptKey, v.stored.versionId);
    const r = await verifyCaseInVault(v.account, { caseId: 'IR-7', bucket: BUCKET });
    t.same(codes(r), ['TRANSCRIPT_MISSING@3']);
    t.match(r.findings[0]!.message, `the transcript of session ${SHELL_ID} recorded at event 3 is not in the vault`);
  },
);

t.test('without a recorded version id the current version is read: overwritten or deleted, it fails', async (t) => {
  const v = sessionVault('IR-7', { withVersionId: false });
  t.same(codes(await verifyCaseInVault(v.account, { caseId: 'IR-7', bucket: BUCKET })), []);
  v.bucket.put(v.transcriptKey, Buffer.from('sh-5.2$ ls\n'));
  t.same(codes(await verifyCaseInVault(v.account, { caseId: 'IR-7', bucket: BUCKET })), ['TRANSCRIPT_MISMATCH@3']);
  v.bucket.deleteMarker(v.transcriptKey);
  t.same(codes(await verifyCaseInVault(v.account, { caseId: 'IR-7', bucket: BUCKET })), ['TRANSCRIPT_MISSING@3']);
});

t.test('a transcript without Object Lock retention is RETENTION_MISSING naming the session', async (t) => {
  const v = sessionVault();
  const [only] = v.bucket.objects.get(v.transcriptKey)!;
  delete only!.lockMode;
  delete only!.retainUntil;
  const r = await verifyCaseInVault(v.account, { caseId: 'IR-7', bucket: BUCKET });
  t.same(codes(r), ['RETENTION_MISSING@3']);
  t.match(r.findings[0]!.message, `the transcript of session ${SHELL_ID}`);
});

t.test('export carries the transcript under sessions/, listed and signed; the bundle verifies offline', async (t) => {
  const v = sessionVault();
  const out = path.join(t.testdir(), 'bundle');
  const r = await exportBundle(v.account, { caseId: 'IR-7', bucket: BUCKET, out, now: NOW });
  t.same(
    fs.readdirSync(path.join(out, 'sessions')),
    [`${SHELL_ID}.log`],
    'one file: the port forward and the failed upload have none',
  );
  t.ok(fs.readFileSync(path.join(out, 'sessions', `${SHELL_ID}.log`)).equals(TRANSCRIPT), 'the bytes as stored');
  const sums = fs.readFileSync(path.join(out, 'SHA256SUMS'), 'utf8').split('\n');
  t.equal(
    sums[5],
    `${sha256(TRANSCRIPT)}  sessions/${SHELL_ID}.log`,
    'listed after the events, before the other files',
  );
  t.equal(r.files, 5 + 1 + 5 + 2);
  const ok = await verifyBundle(out, { expectKeyFingerprint: r.keyFingerprint });
  t.same(codes(ok), []);
  t.same(
    ok.transcripts.map((x) => [x.sessionId, x.ok]),
    [[SHELL_ID, true]],
  );
  t.match(
    ok.checks.find((c) => c.id === 'sessions.transcripts'),
    { ok: true },
  );

  const file = path.join(out, 'sessions', `${SHELL_ID}.log`);
  fs.writeFileSync(file, TRANSCRIPT.toString('utf8').replace('users', 'hosts'));
  t.same(
    codes(await verifyBundle(out, { expectKeyFingerprint: r.keyFingerprint })),
    ['BUNDLE_CHECKSUM_MISMATCH', 'TRANSCRIPT_MISMATCH@3'],
    'an edited transcript: its sum and its event both say so',
  );
  // Re-summed (and so re-signed in vain): the event still says what the transcript was.
  const edited = fs.readFileSync(file);
  fs.writeFileSync(
    path.join(out, 'SHA256SUMS'),
    sums.map((l) => (l.endsWith('.log') ? `${sha256(edited)}  sessions/${SHELL_ID}.log` : l)).join('\n'),
  );
  t.same(codes(await verifyBundle(out, { expectKeyFingerprint: r.keyFingerprint })), [
    'TRANSCRIPT_MISMATCH@3',
    'BUNDLE_SIGNATURE_INVALID',
  ]);
  fs.writeFileSync(path.join(out, 'SHA256SUMS'), sums.join('\n'));
  fs.rmSync(file);
  t.same(codes(await verifyBundle(out, { expectKeyFingerprint: r.keyFingerprint })), [
    'BUNDLE_INCOMPLETE',
    'TRANSCRIPT_MISSING@3',
  ]);
  fs.writeFileSync(file, TRANSCRIPT);
  fs.writeFileSync(path.join(out, 'sessions', 'mallory-0123.log'), 'planted');
  t.same(
    codes(await verifyBundle(out, { expectKeyFingerprint: r.keyFingerprint })),
    ['BUNDLE_INCOMPLETE'],
    'nothing unlisted in sessions/',
  );
  fs.rmSync(path.join(out, 'sessions', 'mallory-0123.log'));
  t.same(codes(await verifyBundle(out, { expectKeyFingerprint: r.keyFingerprint })), [], 'back as exported');
});

t.test('a sessions/ folder that is a link is not followed', async (t) => {
  const v = sessionVault();
  const base = t.testdir();
  const out = path.join(base, 'bundle');
  const r = await exportBundle(v.account, { caseId: 'IR-7', bucket: BUCKET, out, now: NOW });
  fs.renameSync(path.join(out, 'sessions'), path.join(base, 'elsewhere'));
  fs.symlinkSync(path.join(base, 'elsewhere'), path.join(out, 'sessions'));
  const got = await verifyBundle(out, { expectKeyFingerprint: r.keyFingerprint });
  t.same(codes(got), ['BUNDLE_FILE_INVALID', 'BUNDLE_FILE_INVALID', 'TRANSCRIPT_MISSING@3']);
});

t.test('a record whose transcript does not verify is not exported', async (t) => {
  const v = sessionVault();
  v.bucket.removeVersion(v.transcriptKey, v.stored.versionId);
  const base = t.testdir();
  await t.rejects(exportBundle(v.account, { caseId: 'IR-7', bucket: BUCKET, out: path.join(base, 'b') }), {
    code: 'CUSTODY_INVALID',
    message: /TRANSCRIPT_MISSING at 3/,
  });
  t.same(fs.readdirSync(base), [], 'no bundle and no partial folder');
});
