/**
 * End to end on the local AWS, as a custodian would meet a case whose room was entered: session
 * events written through the custody seam the room writes them with (`room.session.start`,
 * `room.session` of the contract: a shell session whose transcript Session Manager wrote into the
 * vault — by its version id —, one recorded without a version id, a port forward with none), the
 * transcripts put into `cases/<case>/sessions/` as Session Manager puts them (SSE-KMS, the vault's
 * default Object Lock retention). Then the real CLI: `custody log` shows each session as one line,
 * `custody verify --case` checks the transcripts, `custody export` carries them and the bundle
 * verifies offline with no AWS at all; a transcript changed in the vault or in the bundle fails
 * verification (exit 3) naming the session and the key.
 */
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { openCaseCustody } from '../../src/custody/case-custody.js';
import { VAULT, account, cli, offlineEnv } from '../custody/helpers.js';

const CASE = 'IR-200';
const INSTANCE = 'i-0123456789abcdef0';
const ANALYST = 'arn:aws:sts::123456789012:assumed-role/ForensicAnalyst/carol';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const s3 = () => new S3Client({ region: 'us-east-1' });

/** Put a transcript as Session Manager does: encrypted with KMS, retention from the vault's default. */
async function putTranscript(sessionId: string, body: Buffer): Promise<{ key: string; versionId: string }> {
  const key = `cases/${CASE}/sessions/${sessionId}.log`;
  const r = await s3().send(
    new PutObjectCommand({ Bucket: VAULT, Key: key, Body: body, ServerSideEncryption: 'aws:kms' }),
  );
  return { key, versionId: r.VersionId! };
}

const session = (sessionId: string, over: Record<string, unknown>) => ({
  session: {
    sessionId,
    instanceId: INSTANCE,
    document: `cleanroom-${CASE}-shell`,
    kind: 'shell',
    actor: ANALYST,
    startedAt: '2026-12-05T09:00:00.000Z',
    endedAt: '2026-12-05T09:31:15.000Z',
    status: 'closed',
    ...over,
  },
});

t.test('sessions in the record: log, verify, export, offline verify; a changed transcript fails', async (t) => {
  const aws = await useLocalAws(t);
  t.equal((await cli(aws, ['vault', 'init'])).code, 0);
  const shell = Buffer.from(`${'sh-5.2$ target-query -f users /dev/nvme1n1\n'.repeat(500)}sh-5.2$ exit\n`);
  const second = Buffer.from('sh-5.2$ ls /mnt/evidence\nroot.img\nsh-5.2$ exit\n');
  const a = await putTranscript('carol-0a1b2c3d4e5f60718', shell);
  const b = await putTranscript('carol-0b0b0b0b0b0b0b0b0', second);

  const c = await openCaseCustody(await account(), { caseId: CASE });
  const inst = [{ type: 'ec2:instance', id: INSTANCE }];
  await c.record({
    action: 'room.session.start',
    resources: inst,
    outcome: {
      status: 'succeeded',
      details: session('carol-0a1b2c3d4e5f60718', { endedAt: undefined, status: undefined }),
    },
  });
  await c.record({
    action: 'room.session',
    resources: inst,
    outcome: {
      status: 'succeeded',
      details: session('carol-0a1b2c3d4e5f60718', {
        transcript: { bucket: VAULT, key: a.key, versionId: a.versionId, sha256: sha256(shell), bytes: shell.length },
      }),
    },
  });
  await c.record({
    action: 'room.session',
    resources: inst,
    outcome: {
      status: 'succeeded',
      details: session('carol-0b0b0b0b0b0b0b0b0', {
        transcript: { bucket: VAULT, key: b.key, sha256: sha256(second), bytes: second.length },
      }),
    },
  });
  await c.record({
    action: 'room.session',
    resources: inst,
    outcome: {
      status: 'succeeded',
      details: session('carol-0c0c0c0c0c0c0c0c0', {
        kind: 'port-forward',
        portForward: { local: 8080, remote: 80 },
        transcript: null,
        reason: 'a port-forward session has no transcript',
      }),
    },
  });
  await c.sealManifest();

  const log = await cli(aws, ['custody', 'log', '--case', CASE]);
  t.equal(log.code, 0, log.stderr);
  t.match(
    log.stdout,
    `${ANALYST} entered ${INSTANCE} at 2026-12-05T09:00:00.000Z — session carol-0a1b2c3d4e5f60718 (shell) started`,
  );
  t.match(log.stdout, `session carol-0a1b2c3d4e5f60718 (shell) closed; transcript ${a.key} sha256 ${sha256(shell)}`);
  t.match(
    log.stdout,
    'session carol-0c0c0c0c0c0c0c0c0 (port-forward 8080:80) closed; no transcript: a port-forward session has no transcript',
  );
  const logJson = await cli(aws, ['custody', 'log', '--case', CASE, '--json']);
  t.match(logJson.json().events[1], {
    action: 'room.session',
    session: { sessionId: 'carol-0a1b2c3d4e5f60718', transcript: { sha256: sha256(shell) } },
  });

  const v = await cli(aws, ['custody', 'verify', '--case', CASE, '--json']);
  t.equal(v.code, 0, v.stdout);
  t.same(v.json().findings, []);
  t.same(
    v.json().transcripts.map((x: { sessionId: string; ok: boolean }) => [x.sessionId, x.ok]),
    [
      ['carol-0a1b2c3d4e5f60718', true],
      ['carol-0b0b0b0b0b0b0b0b0', true],
    ],
  );
  t.match(
    v.json().checks.find((x: { id: string }) => x.id === 'sessions.transcripts'),
    { ok: true },
  );

  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cr-sessions-')), 'bundle');
  t.teardown(() => fs.rmSync(path.dirname(out), { recursive: true, force: true }));
  const ex = await cli(aws, ['custody', 'export', '--case', CASE, '--out', out, '--json']);
  t.equal(ex.code, 0, ex.stderr);
  t.same(fs.readdirSync(path.join(out, 'sessions')).sort(), [
    'carol-0a1b2c3d4e5f60718.log',
    'carol-0b0b0b0b0b0b0b0b0.log',
  ]);
  t.ok(fs.readFileSync(path.join(out, 'sessions/carol-0a1b2c3d4e5f60718.log')).equals(shell));
  t.match(
    fs.readFileSync(path.join(out, 'report.md'), 'utf8'),
    /## Sessions in the room[\s\S]*carol-0a1b2c3d4e5f60718, shell on i-0123456789abcdef0[\s\S]*## Timeline/,
  );
  const fp = ex.json().keyFingerprint as string;
  const off = await cli(
    undefined,
    ['custody', 'verify', '--bundle', out, '--key-fingerprint', fp, '--json'],
    offlineEnv(),
  );
  t.equal(off.code, 0, off.stdout);
  t.equal(off.json().transcripts.length, 2);

  // The transcript edited in the bundle: its event says what it was.
  fs.appendFileSync(path.join(out, 'sessions/carol-0b0b0b0b0b0b0b0b0.log'), 'sh-5.2$ history -c\n');
  const bad = await cli(
    undefined,
    ['custody', 'verify', '--bundle', out, '--key-fingerprint', fp, '--json'],
    offlineEnv(),
  );
  t.equal(bad.code, 3);
  t.same(
    bad.json().findings.map((f: { code: string }) => f.code),
    ['BUNDLE_CHECKSUM_MISMATCH', 'TRANSCRIPT_MISMATCH'],
  );

  // In the vault: a new version over the transcript recorded without a version id is read as current.
  await s3().send(
    new PutObjectCommand({ Bucket: VAULT, Key: b.key, Body: 'sh-5.2$ ls\n', ServerSideEncryption: 'aws:kms' }),
  );
  const changed = await cli(aws, ['custody', 'verify', '--case', CASE]);
  t.equal(changed.code, 3, changed.stdout);
  t.match(
    changed.stdout,
    /TRANSCRIPT_MISMATCH\s+3\s+the transcript of session carol-0b0b0b0b0b0b0b0b0 \(s3:\/\/[^ ]+\/cases\/IR-200\/sessions\/carol-0b0b0b0b0b0b0b0b0\.log\)/,
  );
  await s3().send(new DeleteObjectCommand({ Bucket: VAULT, Key: b.key }));
  const gone = await cli(aws, ['custody', 'verify', '--case', CASE, '--json']);
  t.equal(gone.code, 3);
  t.same(
    gone.json().findings.map((f: { code: string; seq: number }) => `${f.code}@${f.seq}`),
    ['TRANSCRIPT_MISSING@3'],
  );
  // The one recorded by version id still verifies: a version written over it changes nothing.
  await s3().send(
    new PutObjectCommand({ Bucket: VAULT, Key: a.key, Body: 'sh-5.2$ ls\n', ServerSideEncryption: 'aws:kms' }),
  );
  const byVersion = await cli(aws, ['custody', 'verify', '--case', CASE, '--json']);
  t.same(
    byVersion.json().findings.map((f: { code: string; seq: number }) => `${f.code}@${f.seq}`),
    ['TRANSCRIPT_MISSING@3'],
  );
});
