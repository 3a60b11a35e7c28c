/**
 * The room's toolkit on narrow fakes: how `--toolkit` resolves (default, none, an id, nothing
 * published, an id that is not there), what `room.toolkit` records (and that a rerun records
 * nothing new, a change and a change back are recorded), and `room.toolkit.verify` from the room's
 * status file over SSM: installed, mismatch, failed, an empty answer (what the local AWS gives),
 * still installing then installed, and a conclusive answer that stands.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { MemoryRecorder } from '../../../src/domain/recorder.js';
import type { Clock } from '../../../src/domain/waiter.js';
import type { Reporter } from '../../../src/domain/reporter.js';
import {
  copyRoomToolkit,
  resolveRoomToolkit,
  verifyRoomToolkit,
  type RoomToolkitPlan,
} from '../../../src/workflows/room/toolkit.js';
import type { AccountCalls, AwsAccount } from '../../../src/aws/ports.js';
import { awsError, IDENTITY, out } from '../../fakes/ports.js';
import { fakeToolkit, type FakeToolkit } from './toolkit-fixture.js';

const BUCKET = 'cleanroom-evidence-123456789012-us-east-1';
const VAULT = {
  bucket: BUCKET,
  vaultKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/vault',
  lockMode: 'COMPLIANCE' as const,
  retentionDays: 2555,
};

/** A vault of current objects, each with its SHA-256 checksum, as S3 answers for them. */
type S3Fake = AccountCalls<{ s3: 'getObject' | 'headObject' | 'copyObject' }> &
  Pick<AwsAccount, 'region' | 'accountId' | 'callerArn'> & { objects: Map<string, Buffer>; copies: string[] };

function fakeS3(objects = new Map<string, Buffer>()): S3Fake {
  const sum = (b: Buffer) => createHash('sha256').update(b).digest('base64');
  const copies: string[] = [];
  return {
    ...IDENTITY,
    objects,
    copies,
    s3: {
      getObject: async (i) => {
        const b = objects.get(i.Key!);
        if (!b) throw awsError('s3', 'getObject', 'NoSuchKey');
        return out({ Body: { transformToByteArray: async () => new Uint8Array(b) } as never, VersionId: 'v1' });
      },
      headObject: async (i) => {
        const b = objects.get(i.Key!);
        if (!b) throw awsError('s3', 'headObject', 'NotFound');
        return out({ ChecksumSHA256: sum(b), ContentLength: b.length, VersionId: 'v1' });
      },
      copyObject: async (i) => {
        const from = decodeURIComponent(i.CopySource!.slice(BUCKET.length + 1).replace(/\?versionId=.*$/, ''));
        const b = objects.get(from)!;
        objects.set(i.Key!, b);
        copies.push(i.Key!);
        return out({ CopyObjectResult: { ChecksumSHA256: sum(b) }, VersionId: 'v2' });
      },
    },
  };
}

function published(tk: FakeToolkit, opts: { pointer?: boolean } = {}): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (const [name, body] of tk.files) m.set(`tools/toolkits/${tk.id}/${name}`, body);
  if (opts.pointer !== false) m.set('tools/toolkits/default.json', tk.pointer);
  return m;
}

const reporter = (): Reporter & { warnings: string[] } => {
  const warnings: string[] = [];
  return { warnings, progress: () => {}, warn: (m: string) => void warnings.push(m) } as never;
};

t.test('--toolkit resolves before anything changes', async (t) => {
  const tk = fakeToolkit('a');
  const s3 = fakeS3(published(tk));

  const none = await resolveRoomToolkit(s3, BUCKET, 'none');
  t.match(none, { kind: 'none', reason: /--toolkit none/ });

  const byDefault = await resolveRoomToolkit(s3, BUCKET, 'default');
  t.equal(byDefault.kind, 'toolkit');
  t.equal(byDefault.kind === 'toolkit' && byDefault.toolkit.toolkitId, tk.id);

  for (const spec of [tk.id, `tools/toolkits/${tk.id}/`]) {
    const r = await resolveRoomToolkit(s3, BUCKET, spec);
    t.equal(r.kind === 'toolkit' && r.toolkit.toolkitId, tk.id, spec);
  }

  const unknown = 'tk-ffffffffffffffffffff';
  await t.rejects(resolveRoomToolkit(s3, BUCKET, unknown), { code: 'TOOLKIT_NOT_FOUND', exitCode: 2 });
  await t.rejects(resolveRoomToolkit(s3, BUCKET, 'latest'), { code: 'INVALID_VALUE', exitCode: 2 });
});

t.test('default with nothing published: no toolkit, a warning naming room tools --publish', async (t) => {
  const s3 = fakeS3(published(fakeToolkit('a'), { pointer: false }));
  const rep = reporter();
  const r = await resolveRoomToolkit(s3, BUCKET, 'default', rep);
  t.equal(r.kind, 'none');
  t.match(r.kind === 'none' && r.reason, /no default toolkit.*cleanroom room tools --publish/);
  t.equal(rep.warnings.length, 1);
  t.match(rep.warnings[0], /cleanroom room tools --publish/);
});

t.test('a default pointer naming a toolkit that is not there is an error, not "none"', async (t) => {
  const tk = fakeToolkit('a');
  const objects = published(tk);
  objects.delete(`tools/toolkits/${tk.id}/manifest.json`);
  await t.rejects(resolveRoomToolkit(fakeS3(objects), BUCKET, 'default'), { code: 'TOOLKIT_NOT_FOUND' });
});

t.test('room.toolkit: the copy recorded once; none and a change back recorded too', async (t) => {
  const a = fakeToolkit('a');
  const s3 = fakeS3(published(a));
  const custody = new MemoryRecorder();
  const plan = await resolveRoomToolkit(s3, BUCKET, 'default');
  const copy = (p: RoomToolkitPlan) =>
    copyRoomToolkit(s3, { caseId: 'IR-7', vault: VAULT, plan: p, custody, reporter: reporter() });

  const first = await copy(plan);
  t.equal(first.toolkitId, a.id);
  t.equal(first.copied, a.files.size, 'every file and manifest.json copied');
  t.ok(s3.objects.has('cases/IR-7/tools/toolkit/manifest.json'));
  t.ok(s3.objects.has(`cases/IR-7/tools/toolkit/${a.wheel}`));
  const events = () => custody.events().filter((e) => e.action === 'room.toolkit');
  t.equal(events().length, 1);
  t.match(events()[0]!.outcome, {
    status: 'succeeded',
    details: {
      toolkitId: a.id,
      manifestSha256: a.manifestSha256,
      tools: [{ name: 'dissect.target', version: '3.25.1' }],
      prefix: 'cases/IR-7/tools/toolkit/',
    },
  });
  const keys = (events()[0]!.outcome.details!['files'] as { key: string }[]).map((f) => f.key).sort();
  t.same(keys, [...a.files.keys()].map((n) => `cases/IR-7/tools/toolkit/${n}`).sort(), 'the copied keys');

  const again = await copy(plan);
  t.equal(again.copied, 0, 'a rerun copies nothing');
  t.equal(events().length, 1, 'and records nothing');

  await copy({ kind: 'none', spec: 'none', reason: '--toolkit none: the room installs no toolkit' });
  t.match(events().at(-1)!.outcome.details, { toolkit: 'none', reason: /--toolkit none/ });
  await copy(plan);
  t.equal(events().length, 3, 'the change back to the toolkit is recorded');
  t.equal(events().at(-1)!.outcome.details!['toolkitId'], a.id);
});

t.test('room.toolkit: a tampered toolkit is recorded failed and nothing is copied', async (t) => {
  const a = fakeToolkit('a');
  const objects = published(a);
  objects.set(`tools/toolkits/${a.id}/${a.wheel}`, Buffer.from('not the wheel'));
  const s3 = fakeS3(objects);
  const custody = new MemoryRecorder();
  const plan = await resolveRoomToolkit(s3, BUCKET, a.id);
  await t.rejects(copyRoomToolkit(s3, { caseId: 'IR-7', vault: VAULT, plan, custody, reporter: reporter() }), {
    code: 'TOOLKIT_INVALID',
  });
  t.same(s3.copies, []);
  t.match(custody.events().at(-1), {
    action: 'room.toolkit',
    outcome: { status: 'failed', error: { code: 'TOOLKIT_INVALID' } },
  });
});

/** An SSM that answers each SendCommand with the next stdout of `answers` (the last one repeats). */
function fakeSsm(answers: string[]) {
  let n = 0;
  const sent: string[] = [];
  return {
    sent,
    forensic: {
      ...IDENTITY,
      ssm: {
        sendCommand: async (i: { Parameters?: Record<string, string[]> }) => {
          sent.push(i.Parameters!['commands']![0]!);
          return out<never>({ Command: { CommandId: `cmd-${++n}` } } as never);
        },
        getCommandInvocation: async () =>
          ({
            Status: 'Success',
            ResponseCode: 0,
            StandardOutputContent: answers[Math.min(n, answers.length) - 1],
            StandardErrorContent: '',
          }) as never,
      },
    } as never,
  };
}

const clock = (): Clock & { t: number } => {
  const c = { t: 0, now: () => c.t, sleep: async (ms: number) => void (c.t += ms) };
  return c;
};

const TK = 'tk-0123456789abcdef0123';
const line = (status: string, extra: Record<string, unknown> = {}) =>
  `${JSON.stringify({ toolkitId: TK, status, detail: `it is ${status}`, ...extra })}\n`;
const budgets = { waitMs: 10 * 60_000, commandMs: 60_000 };

t.test('room.toolkit.verify: installed, recorded with the tools the room reports', async (t) => {
  const ssm = fakeSsm([
    line('installed', { python: '3.11.9', tools: [{ name: 'dissect.target', version: '3.25.1' }] }),
  ]);
  const custody = new MemoryRecorder();
  const r = await verifyRoomToolkit(
    { forensic: ssm.forensic, clock: clock(), custody, reporter: reporter() },
    { instanceId: 'i-1', toolkitId: TK, budgets },
  );
  t.equal(r.status, 'installed');
  t.match(ssm.sent[0], /cat \/var\/lib\/cleanroom\/toolkit-status\.json/);
  t.match(custody.events().at(-1), {
    action: 'room.toolkit.verify',
    outcome: {
      status: 'succeeded',
      details: { instanceId: 'i-1', toolkitId: TK, result: 'installed', python: '3.11.9' },
    },
  });

  const again = await verifyRoomToolkit(
    { forensic: ssm.forensic, clock: clock(), custody, reporter: reporter() },
    { instanceId: 'i-1', toolkitId: TK, budgets },
  );
  t.equal(again.status, 'installed', 'a conclusive answer stands');
  t.equal(ssm.sent.length, 1, 'the room is not asked again');
  t.equal(custody.events().length, 1, 'nothing recorded again');
});

t.test('room.toolkit.verify: mismatch and failed are recorded as failures with the room’s detail', async (t) => {
  for (const status of ['mismatch', 'failed']) {
    const custody = new MemoryRecorder();
    const rep = reporter();
    const r = await verifyRoomToolkit(
      { forensic: fakeSsm([line(status)]).forensic, clock: clock(), custody, reporter: rep },
      { instanceId: 'i-1', toolkitId: TK, budgets },
    );
    t.equal(r.status, status);
    t.match(custody.events().at(-1)!.outcome, {
      status: 'failed',
      error: { code: 'TOOLKIT_NOT_INSTALLED', message: `it is ${status}` },
      details: { result: status },
    });
    t.match(rep.warnings[0], new RegExp(`${status}: it is ${status}`));
  }
});

t.test('room.toolkit.verify: an empty SSM answer (the local AWS) is not-confirmed, said once', async (t) => {
  const ssm = fakeSsm(['']);
  const custody = new MemoryRecorder();
  const run = { forensic: ssm.forensic, clock: clock(), custody, reporter: reporter() };
  const r = await verifyRoomToolkit(run, { instanceId: 'i-1', toolkitId: TK, budgets });
  t.equal(r.status, 'not-confirmed');
  t.match(r.detail, /no status line/);
  t.match(custody.events().at(-1)!.outcome, { status: 'partial', details: { result: 'not-confirmed' } });
  await verifyRoomToolkit(run, { instanceId: 'i-1', toolkitId: TK, budgets });
  t.equal(custody.events().length, 1, 'the same not-confirmed is not recorded twice');
  t.equal(ssm.sent.length, 2, 'but the room is asked again');
});

t.test('room.toolkit.verify: waits while the room installs, then records the answer', async (t) => {
  const absent = '{"status":"absent"}\n';
  const ssm = fakeSsm([absent, line('installing'), line('installing'), line('installed')]);
  const c = clock();
  const custody = new MemoryRecorder();
  const r = await verifyRoomToolkit(
    { forensic: ssm.forensic, clock: c, custody, reporter: reporter() },
    { instanceId: 'i-1', toolkitId: TK, budgets },
  );
  t.equal(r.status, 'installed');
  t.equal(ssm.sent.length, 4);
  t.ok(c.t > 0 && c.t < budgets.waitMs, 'waited between the reads, within the budget');
});

t.test(
  'room.toolkit.verify: still installing when the budget runs out is not-confirmed, naming the last state',
  async (t) => {
    const custody = new MemoryRecorder();
    const r = await verifyRoomToolkit(
      { forensic: fakeSsm([line('installing')]).forensic, clock: clock(), custody, reporter: reporter() },
      { instanceId: 'i-1', toolkitId: TK, budgets },
    );
    t.equal(r.status, 'not-confirmed');
    t.match(r.detail, /no conclusive answer within 600s; last: the room says installing/);
  },
);

t.test('room.toolkit.verify: an instance SSM cannot reach is asked again, then not-confirmed', async (t) => {
  const forensic = {
    ...IDENTITY,
    ssm: {
      sendCommand: async () => {
        throw awsError('ssm', 'sendCommand', 'InvalidInstanceId');
      },
      getCommandInvocation: async () => ({}) as never,
    },
  } as never;
  const r = await verifyRoomToolkit(
    { forensic, clock: clock(), custody: new MemoryRecorder(), reporter: reporter() },
    { instanceId: 'i-1', toolkitId: TK, budgets: { waitMs: 60_000, commandMs: 10_000 } },
  );
  t.equal(r.status, 'not-confirmed');
  t.match(r.detail, /SSM could not run the toolkit status read/);
});

t.test('a status file of another toolkit is not this toolkit’s answer', async (t) => {
  const other = `${JSON.stringify({ toolkitId: 'tk-ffffffffffffffffffff', status: 'installed' })}\n`;
  const r = await verifyRoomToolkit(
    { forensic: fakeSsm([other]).forensic, clock: clock(), custody: new MemoryRecorder(), reporter: reporter() },
    { instanceId: 'i-1', toolkitId: TK, budgets },
  );
  t.equal(r.status, 'not-confirmed');
  t.match(r.detail, /names toolkit tk-ffffffffffffffffffff/);
});

t.test('room.toolkit.verify: after a not-confirmed, one read — unless the instance is fresh', async (t) => {
  const custody = new MemoryRecorder();
  const installing = fakeSsm([line('installing')]);
  const c = clock();
  const run = { forensic: installing.forensic, clock: c, custody, reporter: reporter() };
  await verifyRoomToolkit(run, { instanceId: 'i-1', toolkitId: TK, budgets });
  const first = installing.sent.length;
  t.ok(first > 1, 'the first ask waits for the install');
  const before = c.t;
  const again = await verifyRoomToolkit(run, { instanceId: 'i-1', toolkitId: TK, budgets });
  t.equal(installing.sent.length, first + 1, 'a rerun asks once');
  t.equal(c.t, before, 'and does not wait');
  t.match(again.detail, /not conclusive yet: the room says installing/);
  await verifyRoomToolkit(run, { instanceId: 'i-1', toolkitId: TK, budgets, fresh: true });
  t.ok(installing.sent.length > first + 2, 'a fresh instance is waited for again');
});
