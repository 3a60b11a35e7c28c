/**
 * `cleanroom room sessions` end to end on the local AWS, with Session Manager's control plane of
 * its fidelity patch (local-aws/patches/ssm_sessions.py: StartSession, TerminateSession,
 * DescribeSessions; no data channel, so no agent writes a transcript — the test puts it where
 * Session Manager would). A case whose record holds one analyst's session to its instance; someone
 * opens a second session to the same instance directly (`aws ssm start-session`, past `room
 * shell`), and a third one stays open. `room sessions` flags both with id, owner and times (exit
 * 3); `--record` records the ended one as `room.session` with `found: true` and its transcript's
 * SHA-256, leaves the open one; the record still verifies, and a run after that one ends and is
 * recorded exits 0.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateDocumentCommand, SSMClient, StartSessionCommand, TerminateSessionCommand } from '@aws-sdk/client-ssm';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { openCaseCustody } from '../../src/custody/case-custody.js';
import { ec2In } from '../workflows/acquire/fixtures.js';
import { VAULT, account, cli } from '../custody/helpers.js';

const CASE = 'IR-300';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

t.test(
  'room sessions: a session past room shell is flagged, recorded with --record, and the record verifies',
  async (t) => {
    const aws = await useLocalAws(t);
    t.equal((await cli(aws, ['vault', 'init'])).code, 0);
    const ec2 = ec2In(aws.endpoint);
    const instance = (
      await ec2.send(
        new RunInstancesCommand({ ImageId: 'ami-12c6146b', InstanceType: 't3.small', MinCount: 1, MaxCount: 1 }),
      )
    ).Instances![0]!.InstanceId!;
    const ssm = new SSMClient({ region: 'us-east-1' });
    await ssm.send(
      new CreateDocumentCommand({
        Name: `cleanroom-${CASE}-shell`,
        DocumentType: 'Session',
        DocumentFormat: 'JSON',
        Content: JSON.stringify({
          schemaVersion: '1.0',
          description: 'shell',
          sessionType: 'Standard_Stream',
          inputs: {},
        }),
      }),
    );
    const start = async () =>
      (await ssm.send(new StartSessionCommand({ Target: instance, DocumentName: `cleanroom-${CASE}-shell` })))
        .SessionId!;

    // The analyst's session, through room shell: in the record.
    const mine = await start();
    await ssm.send(new TerminateSessionCommand({ SessionId: mine }));
    const c = await openCaseCustody(await account(), { caseId: CASE });
    await c.record({
      action: 'room.session',
      resources: [{ type: 'ec2:instance', id: instance }],
      outcome: {
        status: 'succeeded',
        details: {
          session: {
            sessionId: mine,
            instanceId: instance,
            document: `cleanroom-${CASE}-shell`,
            kind: 'shell',
            actor: 'arn:aws:sts::123456789012:assumed-role/ForensicAnalyst/carol',
            startedAt: '2026-12-05T09:00:00.000Z',
            endedAt: '2026-12-05T09:10:00.000Z',
            transcript: null,
            status: 'failed',
            reason: 'the transcript never came',
          },
        },
      },
    });
    await c.sealManifest();

    // Past room shell: one ended (its transcript where Session Manager writes it), one still open.
    const direct = await start();
    await ssm.send(new TerminateSessionCommand({ SessionId: direct }));
    const transcript = Buffer.from('sh-5.2$ cat /etc/shadow\nsh-5.2$ exit\n');
    await new S3Client({ region: 'us-east-1' }).send(
      new PutObjectCommand({
        Bucket: VAULT,
        Key: `cases/${CASE}/sessions/${direct}.log`,
        Body: transcript,
        ServerSideEncryption: 'aws:kms',
      }),
    );
    const open = await start();

    const seen = await cli(aws, ['room', 'sessions', '--case', CASE, '--json']);
    t.equal(seen.code, 3, seen.stderr);
    const doc = seen.json();
    t.same(doc.instances, [instance]);
    t.same(
      doc.recorded.map((s: { sessionId: string; inSessionManager: boolean }) => [s.sessionId, s.inSessionManager]),
      [[mine, true]],
    );
    t.same(
      doc.unrecorded
        .map((s: { sessionId: string; state: string; status: string }) => [s.sessionId, s.state, s.status])
        .sort(),
      [
        [direct, 'History', 'Terminated'],
        [open, 'Active', 'Connected'],
      ].sort(),
    );
    t.match(
      doc.unrecorded.find((s: { sessionId: string }) => s.sessionId === direct),
      {
        owner: /^arn:aws:/,
        startedAt: /^\d{4}-/,
        endedAt: /^\d{4}-/,
      },
    );
    const text = await cli(aws, ['room', 'sessions', '--case', CASE]);
    t.equal(text.code, 3);
    t.match(text.stdout, `2 session(s) Session Manager knows to ${instance} are NOT in the custody record`);
    t.match(text.stdout, `cleanroom room sessions --case ${CASE} --record`);

    const rec = await cli(aws, ['room', 'sessions', '--case', CASE, '--record', '--json']);
    t.equal(rec.code, 3, 'the run that finds them still says so');
    t.match(rec.json().recordedNow, [
      { sessionId: direct, transcript: { sha256: sha256(transcript), bytes: transcript.length } },
    ]);
    t.same(
      rec.json().notRecorded.map((n: { sessionId: string }) => n.sessionId),
      [open],
    );

    const v = await cli(aws, ['custody', 'verify', '--case', CASE, '--json']);
    t.equal(v.code, 0, v.stdout);
    t.same(
      v.json().transcripts.map((x: { sessionId: string; ok: boolean }) => [x.sessionId, x.ok]),
      [[direct, true]],
      'the found session’s transcript is checked like any other',
    );
    const log = await cli(aws, ['custody', 'log', '--case', CASE]);
    t.match(log.stdout, `session ${direct} (shell) closed, found afterwards in Session Manager’s history; transcript`);

    await ssm.send(new TerminateSessionCommand({ SessionId: open }));
    t.equal((await cli(aws, ['room', 'sessions', '--case', CASE, '--record'])).code, 3, 'the last one, recorded now');
    const clean = await cli(aws, ['room', 'sessions', '--case', CASE]);
    t.equal(clean.code, 0, clean.stdout);
    t.match(clean.stdout, `Session Manager knows no session to ${instance} that the record does not hold`);
  },
);
