// `room shell` end to end, as a user runs it: `node dist/cli/bin.js` against the local AWS, with a
// test-only `session-manager-plugin` on PATH (test/harness/fake-session-manager-plugin.mjs). The
// local AWS has Session Manager's control plane (fidelity patch ssm_sessions) but no data channel
// and no SSM agent, so the fake plugin plays the agent's part: it puts the transcript into the
// vault where the room's shell document says, then exits (docs/local-aws.md, "Session Manager").
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { openAccount } from '../../src/aws/account.js';
import { openCaseCustody } from '../../src/custody/case-custody.js';
import { ROOT, useLocalAws } from '../../local-aws/local-aws.js';
import { cli } from '../custody/helpers.js';

const CASE = 'IR-2026-0316';
const FAKE = path.join(ROOT, 'test/harness/fake-session-manager-plugin.mjs');

t.test('room shell: a recorded session, a failed upload recorded as failed, and no plugin', async (t) => {
  const aws = await useLocalAws(t);
  const account = await openAccount({});
  const events = async () => (await openCaseCustody(account, { caseId: CASE })).events();

  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanroom-plugin-'));
  t.teardown(() => fs.rmSync(bin, { recursive: true, force: true }));
  fs.symlinkSync(FAKE, path.join(bin, 'session-manager-plugin'));
  const log = path.join(bin, 'invocations.jsonl');
  const nodeDir = path.dirname(process.execPath);
  const withPlugin = (extra: Record<string, string> = {}) =>
    aws.env({ PATH: [bin, nodeDir, '/usr/bin', '/bin'].join(path.delimiter), FAKE_PLUGIN_LOG: log, ...extra });
  const withoutPlugin = () => aws.env({ PATH: [nodeDir, '/usr/bin', '/bin'].join(path.delimiter) });

  t.equal((await cli(aws, ['vault', 'init'])).code, 0, 'vault init');
  const up = await cli(aws, ['room', 'up', '--case', CASE, '--json']);
  t.equal(up.code, 0, up.stderr);
  const room = up.json();
  t.equal(room.shellDocumentName, `cleanroom-${CASE}-shell`, 'room up reports the shell document');
  t.equal(room.portForwardDocumentName, `cleanroom-${CASE}-port-forward`);
  t.ok(
    room.audit.checks.some((c: { id: string; ok: boolean }) => c.id === 'sessions.logging-to-vault' && c.ok),
    "room up's audit: session logging reaches the vault",
  );

  t.test('without the plugin: exit 2, the install step, no AWS call, nothing recorded', async (t) => {
    const before = (await events()).length;
    const r = await cli(aws, ['room', 'shell', '--case', CASE, '--verbose'], withoutPlugin());
    t.equal(r.code, 2, r.stderr);
    t.match(r.stderr, /room shell needs the AWS Session Manager plugin/);
    t.match(r.stderr, /session-manager-working-with-install-plugin\.html/);
    t.match(r.stderr, /dpkg -i session-manager-plugin\.deb|brew install/, 'the install step');
    t.notMatch(r.stderr, /API calls:/, 'no AWS call');
    t.equal((await events()).length, before, 'nothing recorded');
    const j = await cli(aws, ['room', 'shell', '--case', CASE, '--json'], withoutPlugin());
    t.equal(j.code, 2);
    t.match(j.stdout, /SESSION_PLUGIN_MISSING/, 'the code, with --json');
  });

  let transcriptOf = '';
  t.test('a shell session: start and end recorded, the transcript hashed under the case key', async (t) => {
    // The fake agent uploads as the SSM agent does: no SSE header (the vault's policy lets
    // transcripts through, the bucket's default SSE-KMS encrypts them).
    const r = await cli(
      aws,
      ['room', 'shell', '--case', CASE, '--json'],
      withPlugin({ FAKE_AGENT: 'upload-as-agent' }),
    );
    t.equal(r.code, 0, r.stderr);
    const out = r.json();
    const s = out.session;
    t.match(s, {
      instanceId: room.instanceId,
      document: `cleanroom-${CASE}-shell`,
      kind: 'shell',
      status: 'closed',
      actor: /^arn:aws:/,
      transcript: { bucket: room.vaultBucket, key: `cases/${CASE}/sessions/${s.sessionId}.log` },
    });
    t.match(r.stderr, /Starting session with SessionId/, 'the session output goes to stderr with --json');

    const inv = fs
      .readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    t.match(inv.at(-1), {
      argc: 6,
      responseFromEnv: true,
      response: { SessionId: s.sessionId, StreamUrl: /^wss:\/\/ssmmessages\.us-east-1\.amazonaws\.com\// },
      region: 'us-east-1',
      operation: 'StartSession',
      profile: '',
      request: { Target: room.instanceId, DocumentName: `cleanroom-${CASE}-shell` },
    });

    // What is in the vault is what was recorded: the bytes, their SHA-256, under the case key.
    const obj = await account.s3.getObject({
      Bucket: s.transcript.bucket,
      Key: s.transcript.key,
      VersionId: s.transcript.versionId,
    });
    const bytes = Buffer.from(await obj.Body!.transformToByteArray());
    t.equal(createHash('sha256').update(bytes).digest('hex'), s.transcript.sha256);
    t.equal(bytes.length, s.transcript.bytes);
    t.equal(obj.SSEKMSKeyId, room.caseKeyArn, 'the recorded version is under the case key');
    t.ok(obj.ObjectLockRetainUntilDate, 'under Object Lock retention');
    transcriptOf = s.sessionId;

    const ev = (await events()).filter((e) => e.action.startsWith('room.session'));
    t.same(
      ev.map((e) => e.action),
      ['room.session.start', 'room.session'],
    );
    t.equal(
      (ev[1]!.outcome.details!['session'] as { transcript: { sha256: string } }).transcript.sha256,
      s.transcript.sha256,
    );
    const v = await cli(aws, ['custody', 'verify', '--case', CASE]);
    t.equal(v.code, 0, `custody verify is green: ${v.stdout}${v.stderr}`);

    // Session Manager's history (the local AWS's control plane) has it ended.
    const hist = await account.ssm.describeSessions({ State: 'History' });
    t.ok(
      hist.Sessions?.some((x) => x.SessionId === s.sessionId && x.Status === 'Terminated'),
      'terminated',
    );
  });

  t.test('a transcript that never reaches the vault leaves room.session failed, exit 1', async (t) => {
    const r = await cli(
      aws,
      ['room', 'shell', '--case', CASE, '--json', '--transcript-wait-seconds', '3'],
      withPlugin({ FAKE_AGENT: 'none' }),
    );
    t.equal(r.code, 1, r.stderr);
    t.match(r.stdout, /SESSION_FAILED/);
    const last = (await events()).at(-1)!;
    t.equal(last.action, 'room.session');
    t.equal(last.outcome.status, 'failed');
    t.match(last.outcome.details!['session'], {
      status: 'failed',
      transcript: null,
      reason: /never appeared in the vault within 3s/,
    });
    t.not((last.outcome.details!['session'] as { sessionId: string }).sessionId, transcriptOf);
    const v = await cli(aws, ['custody', 'verify', '--case', CASE]);
    t.equal(v.code, 0, 'the record of a failed session verifies');
  });

  t.test('the plugin failing is recorded as failed', async (t) => {
    const r = await cli(
      aws,
      ['room', 'shell', '--case', CASE, '--transcript-wait-seconds', '2'],
      withPlugin({ FAKE_AGENT: 'exit1' }),
    );
    t.equal(r.code, 1);
    t.match(r.stderr, /failed: the Session Manager plugin ended with exit code 1/);
    const last = (await events()).at(-1)!;
    t.match(last.outcome.details!['session'], { status: 'failed', reason: /exit code 1/ });
  });
});
