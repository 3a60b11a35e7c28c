/**
 * room shell on fakes (the local AWS has no Session Manager data channel): the plugin port is a
 * fake that plays the SSM agent (writes the transcript into the fake vault) and exits; what the
 * custody record holds for each ending, and that a missing plugin stops everything before any call.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { MemoryRecorder } from '../../../src/domain/recorder.js';
import { CleanroomError } from '../../../src/domain/errors.js';
import {
  roomShell,
  transcriptKey,
  type PluginInvocation,
  type ShellAccount,
  type SessionPlugin,
} from '../../../src/workflows/room/shell.js';
import { awsError, Calls, FakeBucket, IDENTITY, out, type FakeCalls } from '../../fakes/ports.js';

const CASE = 'IR-sh';
const BUCKET = 'cleanroom-evidence-123456789012-us-east-1';
const CASE_KEY = 'arn:aws:kms:us-east-1:123456789012:key/case-1';
const INSTANCE = 'i-0123456789abcdef0';

type ShellFake = FakeCalls<{
  cfn: 'describeStacks';
  ssm: 'startSession' | 'terminateSession';
  s3: 'headObject' | 'getObject' | 'putObject' | 'putObjectRetention';
}>;

function world(opts: { outputs?: Record<string, string>; noStack?: boolean } = {}) {
  const calls = new Calls();
  const vault = new FakeBucket(BUCKET);
  const outputs = opts.outputs ?? {
    InstanceId: INSTANCE,
    ShellDocumentName: `cleanroom-${CASE}-shell`,
    PortForwardDocumentName: `cleanroom-${CASE}-port-forward`,
  };
  let n = 0;
  const account: ShellFake = {
    ...IDENTITY,
    cfn: {
      describeStacks: async (i) => {
        calls.add('describeStacks', i);
        if (opts.noStack) throw awsError('cloudformation', 'describeStacks', 'ValidationError', 'Stack does not exist');
        return out({
          Stacks: [
            {
              StackName: `cleanroom-${CASE}`,
              StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/cleanroom-IR-sh/1',
              StackStatus: 'CREATE_COMPLETE',
              CreationTime: new Date(),
              Parameters: [
                { ParameterKey: 'VaultBucket', ParameterValue: BUCKET },
                { ParameterKey: 'CaseKeyArn', ParameterValue: CASE_KEY },
              ],
              Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
            },
          ],
        });
      },
    },
    ssm: {
      startSession: async (i) => {
        calls.add('startSession', i);
        n += 1;
        return out({
          SessionId: `alice-0${n}abcdef`,
          TokenValue: 'token',
          StreamUrl: `wss://ssmmessages.us-east-1.amazonaws.com/v1/data-channel/alice-0${n}abcdef`,
        });
      },
      terminateSession: async (i) => {
        calls.add('terminateSession', i);
        return out({ SessionId: i.SessionId });
      },
    },
    s3: {
      headObject: async (i) => {
        calls.add('headObject', i);
        const v = vault.objects.get(i.Key!)?.at(-1);
        if (!v) throw awsError('s3', 'headObject', 'NotFound', 'Not Found', 404);
        return out({ VersionId: v.versionId });
      },
      getObject: (i) => vault.s3.getObject(i),
      putObject: async (i) => {
        calls.add('putObject', i);
        const body = Buffer.from(i.Body as Uint8Array);
        if (createHash('sha256').update(body).digest('base64') !== i.ChecksumSHA256)
          throw awsError('s3', 'putObject', 'BadDigest', 'checksum mismatch');
        const v = vault.put(i.Key!, body, {
          mode: i.ObjectLockMode as 'GOVERNANCE',
          retainUntil: i.ObjectLockRetainUntilDate as Date,
        });
        return out({ VersionId: v.versionId });
      },
      putObjectRetention: async (i) => {
        calls.add('putObjectRetention', i);
        return out({});
      },
    },
  };
  return { account: account as unknown as ShellAccount, calls, vault };
}

const clock = () => {
  const c = { t: Date.parse('2026-12-05T09:00:00Z'), now: () => c.t, sleep: async (ms: number) => void (c.t += ms) };
  return c;
};

/** A plugin that plays the SSM agent: `agent` runs when the session ends (before the plugin exits). */
function plugin(exitCode: number | null, agent: (sessionId: string) => void = () => undefined) {
  const runs: PluginInvocation[] = [];
  const p: SessionPlugin = {
    locate: async () => '/usr/local/bin/session-manager-plugin',
    run: async (inv) => {
      runs.push(inv);
      agent((JSON.parse(inv.args[0]!) as { SessionId: string }).SessionId);
      return { exitCode };
    },
  };
  return { p, runs };
}

const sessionOf = (rec: MemoryRecorder, action: string) =>
  rec.events().find((e) => e.action === action)?.outcome.details?.['session'] as Record<string, any> | undefined;

t.test('a shell session: started and ended in the record, the transcript hashed under the case key', async (t) => {
  const w = world();
  const rec = new MemoryRecorder();
  const transcript = Buffer.from('Script started on 2026-12-05\n$ target-query -f users /dev/nvme1n1\nroot\n');
  const { p, runs } = plugin(0, (id) => void w.vault.put(transcriptKey(CASE, id), transcript, null));
  const r = await roomShell({ account: w.account, custody: rec, plugin: p, clock: clock() }, { caseId: CASE });

  t.same(
    rec.events().map((e) => e.action),
    ['room.session.start', 'room.session'],
  );
  const start = sessionOf(rec, 'room.session.start')!;
  t.equal(start['document'], `cleanroom-${CASE}-shell`);
  t.equal(start['instanceId'], INSTANCE);
  t.equal(start['actor'], 'arn:aws:sts::123456789012:assumed-role/Custodian/alice');
  t.same(start['expectedTranscript'], { bucket: BUCKET, key: `cases/${CASE}/sessions/alice-01abcdef.log` });

  const end = sessionOf(rec, 'room.session')!;
  t.equal(end['status'], 'closed');
  t.equal(end['kind'], 'shell');
  t.equal(end['transcript'].sha256, createHash('sha256').update(transcript).digest('hex'));
  t.equal(end['transcript'].bytes, transcript.length);
  t.equal(end['transcript'].kmsKeyId, CASE_KEY, 'the recorded version is the one under the case key');
  t.equal(end['transcript'].versionId, 'v0002', 'the copy, not the agent upload');
  t.equal(end['transcript'].uploadedVersionId, 'v0001');
  t.equal(r.session.status, 'closed');

  const again = w.calls.of<{ SSEKMSKeyId: string; ServerSideEncryption: string; Key: string; ObjectLockMode: string }>(
    'putObject',
  )[0]!;
  t.equal(again.ServerSideEncryption, 'aws:kms');
  t.equal(again.SSEKMSKeyId, CASE_KEY);
  t.equal(again.Key, `cases/${CASE}/sessions/alice-01abcdef.log`);
  t.equal(again.ObjectLockMode, 'GOVERNANCE', 'under Object Lock');
  t.same(w.calls.of('putObjectRetention'), [], 'the new version carries its own retention');

  // The plugin's command line is the AWS CLI's.
  const a = runs[0]!.args;
  t.same(JSON.parse(a[0]!), {
    SessionId: 'alice-01abcdef',
    TokenValue: 'token',
    StreamUrl: 'wss://ssmmessages.us-east-1.amazonaws.com/v1/data-channel/alice-01abcdef',
  });
  t.same(a.slice(1, 4), ['us-east-1', 'StartSession', '']);
  t.same(JSON.parse(a[4]!), {
    Target: INSTANCE,
    DocumentName: `cleanroom-${CASE}-shell`,
    Reason: `cleanroom room shell, case ${CASE}`,
  });
  t.equal(a[5], 'https://ssm.us-east-1.amazonaws.com');
  t.equal(w.calls.of('terminateSession').length, 1, 'terminated once the plugin exited');
});

t.test('a transcript version without Object Lock retention gets it', async (t) => {
  const w = world();
  const rec = new MemoryRecorder();
  (w.account.s3 as { putObject: unknown }).putObject = async () => {
    throw new Error('AccessDenied: kms:GenerateDataKey on the case key');
  };
  const { p } = plugin(0, (id) => void w.vault.put(transcriptKey(CASE, id), Buffer.from('x\n'), null));
  const r = await roomShell({ account: w.account, custody: rec, plugin: p, clock: clock() }, { caseId: CASE });
  t.equal(r.session.status, 'closed', 'still closed: the transcript is there and hashed');
  t.notOk(r.session.transcript!.kmsKeyId, 'not claimed to be under the case key');
  t.match(w.calls.of('putObjectRetention'), [
    { Key: `cases/${CASE}/sessions/${r.session.sessionId}.log`, VersionId: 'v0001', Retention: { Mode: 'GOVERNANCE' } },
  ]);
});

t.test('a transcript that never reaches the vault leaves room.session failed, and SESSION_FAILED', async (t) => {
  const w = world();
  const rec = new MemoryRecorder();
  const { p } = plugin(0);
  const err = await roomShell(
    { account: w.account, custody: rec, plugin: p, clock: clock() },
    { caseId: CASE, budgets: { transcriptMs: 30_000, transcriptPollMs: 5_000 } },
  ).catch((e: unknown) => e);
  t.ok(err instanceof CleanroomError && err.code === 'SESSION_FAILED' && err.exitCode === 1, 'SESSION_FAILED, exit 1');
  const ev = rec.events().find((e) => e.action === 'room.session')!;
  t.equal(ev.outcome.status, 'failed');
  t.equal(ev.outcome.error?.code, 'SESSION_FAILED');
  const s = sessionOf(rec, 'room.session')!;
  t.equal(s['status'], 'failed');
  t.equal(s['transcript'], null);
  t.match(s['reason'], /never appeared in the vault within 30s/);
});

t.test('the plugin failing is recorded as failed too (with the transcript it left)', async (t) => {
  const w = world();
  const rec = new MemoryRecorder();
  const { p } = plugin(1, (id) => void w.vault.put(transcriptKey(CASE, id), Buffer.from('partial\n'), null));
  const err = await roomShell({ account: w.account, custody: rec, plugin: p, clock: clock() }, { caseId: CASE }).catch(
    (e: unknown) => e,
  );
  t.equal((err as CleanroomError).code, 'SESSION_FAILED');
  const s = sessionOf(rec, 'room.session')!;
  t.equal(s['status'], 'failed');
  t.match(s['reason'], /exit code 1/);
  t.equal(s['transcript'].bytes, 8, 'what was written is still hashed and recorded');
});

t.test('after the plugin failed, the transcript is waited for 30 s, not the whole budget', async (t) => {
  const w = world();
  const rec = new MemoryRecorder();
  const { p } = plugin(1);
  const c = clock();
  const start = c.now();
  const err = await roomShell({ account: w.account, custody: rec, plugin: p, clock: c }, { caseId: CASE }).catch(
    (e: unknown) => e,
  );
  t.equal((err as CleanroomError).code, 'SESSION_FAILED');
  t.ok(c.now() - start <= 35_000, `waited ${(c.now() - start) / 1000}s of the clock, not 300s`);
  const s = sessionOf(rec, 'room.session')!;
  t.match(s['reason'], /exit code 1.*never appeared in the vault within 30s/);
});

t.test('without the plugin: exit 2 with the install step, no AWS call, no record', async (t) => {
  const w = world();
  const rec = new MemoryRecorder();
  const p: SessionPlugin = {
    locate: async () => undefined,
    run: async () => {
      throw new Error('not reached');
    },
  };
  const err = await roomShell({ account: w.account, custody: rec, plugin: p }, { caseId: CASE }).catch(
    (e: unknown) => e,
  );
  t.ok(err instanceof CleanroomError && err.code === 'SESSION_PLUGIN_MISSING' && err.exitCode === 2);
  t.match((err as Error).message, /session-manager-plugin-install|session-manager-working-with-install-plugin/);
  t.match((err as Error).message, /CLEANROOM_SESSION_MANAGER_PLUGIN/);
  t.same(w.calls.list, [], 'no AWS call');
  t.same(rec.events(), [], 'nothing recorded');
});

t.test('port forwarding: the port document, the ports as parameters, no transcript', async (t) => {
  const w = world();
  const rec = new MemoryRecorder();
  const { p } = plugin(0);
  const r = await roomShell(
    { account: w.account, custody: rec, plugin: p, clock: clock() },
    { caseId: CASE, portForward: '8080:80' },
  );
  const req = w.calls.of<{ DocumentName: string; Parameters: Record<string, string[]> }>('startSession')[0]!;
  t.equal(req.DocumentName, `cleanroom-${CASE}-port-forward`);
  t.same(req.Parameters, { portNumber: ['80'], localPortNumber: ['8080'] });
  t.equal(r.session.status, 'closed');
  t.equal(r.session.transcript, null);
  t.same(r.session.portForward, { local: 8080, remote: 80 });
  t.match(r.session.reason, /port forwarding carries no shell transcript/);
  t.same(w.calls.of('headObject'), [], 'no transcript awaited');
});

t.test('bad input and a room without session documents are refused before anything starts', async (t) => {
  const { p } = plugin(0);
  const w = world();
  await t.rejects(
    roomShell({ account: w.account, custody: new MemoryRecorder(), plugin: p }, { caseId: CASE, portForward: '80' }),
    { code: 'INVALID_VALUE' },
  );
  t.same(w.calls.list, []);
  const old = world({ outputs: { InstanceId: INSTANCE } });
  const rec = new MemoryRecorder();
  await t.rejects(roomShell({ account: old.account, custody: rec, plugin: p }, { caseId: CASE }), {
    code: 'ROOM_OUTPUTS_MISSING',
  });
  t.same(old.calls.of('startSession'), [], 'no session without its recorded document');
  t.same(rec.events(), []);
  const none = world({ noStack: true });
  await t.rejects(roomShell({ account: none.account, custody: rec, plugin: p }, { caseId: CASE }), {
    code: 'ROOM_NOT_UP',
  });
});
