/**
 * Acquisition at the workflow level, on the hand-written stateful fake (`fake.ts`) and a
 * MemoryRecorder, with a fake clock driving every wait (nothing sleeps): the pipeline's order and
 * end state (cross-account and same-account), resumability (a crash right after every single
 * mutating call and before every custody write, then a rerun: the same end state, no duplicate
 * snapshot/copy/volume/event, no leaked key), faults (throttling, lost answers, snapshots in error or
 * pending past the budget), AWS's limits, the read-only confirmation, and bad input.
 */
import t from 'tap';
import type { AwsAccount } from '../../../src/aws/ports.js';
import {
  AwsError,
  CleanroomError,
  PartialFailureError,
  UsageError,
  VerificationFailedError,
} from '../../../src/domain/errors.js';
import { foldEvidence, evidenceJson, EVIDENCE_JSON_FIELDS } from '../../../src/domain/evidence.js';
import { acquireEvidence, type AcquireDeps, type AcquireOptions } from '../../../src/workflows/acquire/index.js';
import { findTemporaryKeys, retiredInRecord } from '../../../src/workflows/close/keys.js';
import type { ProgressEvent } from '../../../src/domain/reporter.js';
import { AZ, CASE, Crash, FORENSIC, FakeAccount, REGION, SOURCE, World } from './fake.js';

function deps(w: World, extra: Partial<AcquireDeps> = {}): AcquireDeps {
  return {
    forensic: w.forensic.port(),
    source: w.source.port(),
    custody: w.recorder,
    room: w.gate(),
    clock: w.clock,
    sourceInRegion: async (r) => (r === 'us-west-2' ? w.sourceWest.port() : new FakeAccount(SOURCE, r, w).port()),
    hasher: w.hasher(),
    ...extra,
  };
}
const acquire = (w: World, o: Partial<AcquireOptions> = {}, extra: Partial<AcquireDeps> = {}) =>
  acquireEvidence(deps(w, extra), { caseId: CASE, ...o });
const sameAccount = (w: World): Partial<AcquireDeps> => ({ source: w.forensic.port() });

t.test(
  'cross-account: an instance with two volumes, snapshotted together, preserved, attached, read-only confirmed, temporaries retired',
  async (t) => {
    const w = new World();
    const { instanceId, volumeIds } = w.compromisedInstance([8, 20]);
    const progress: ProgressEvent[] = [];
    const r = await acquire(
      w,
      { instanceIds: [instanceId] },
      { reporter: { progress: (e) => progress.push(e), warn() {}, debug() {} } },
    );

    t.same(r.failures, []);
    t.equal(r.evidence.length, 2);
    const src = w.source;
    const f = w.forensic;
    // One CreateSnapshots for the instance (crash-consistent), no CreateSnapshot.
    t.equal(src.mutations.filter((m) => m === 'CreateSnapshots').length, 1);
    t.equal(src.mutations.filter((m) => m === 'CreateSnapshot').length, 0);
    // Source snapshots kept and tagged with case + evidence; sharing copies deleted; key retired.
    const sourceSnaps = [...src.snapshots.values()];
    t.equal(sourceSnaps.length, 2, 'only the source snapshots remain in the source account');
    for (const s of sourceSnaps) {
      t.equal(s.tags['cleanroom:case'], CASE);
      t.match(s.tags['cleanroom:evidence'], /^ev-/);
      t.equal(s.tags['cleanroom:role'], 'source-snapshot');
      t.equal(s.tags['cleanroom:source-instance'], instanceId);
    }
    t.equal(src.deletedSnapshots.length, 2, 'both sharing copies retired');
    t.same(
      src.deletedSnapshots.map((s) => s.tags['cleanroom:role']),
      ['sharing-copy', 'sharing-copy'],
    );
    const shareKey = [...src.keys.values()].find((k) => k.tags['cleanroom:role'] === 'share-key')!;
    t.equal(shareKey.state, 'PendingDeletion', 'the temporary sharing key is retired');
    t.equal(shareKey.tags['cleanroom:case'], CASE);
    t.match(shareKey.policy, /arn:aws:iam::123456789012:root/, 'the key policy names the forensic account');
    t.match(shareKey.policy, /kms:GrantIsForAWSResource/);
    t.equal(src.aliases.get(`alias/cleanroom/share/${CASE}`), shareKey.id);
    t.same(r.sharing, { keyArn: shareKey.arn, owner: 'cleanroom', retired: true, kept: [] });

    // Forensic copies under the case key; working volumes in the room's AZ, attached.
    const copies = [...f.snapshots.values()];
    t.equal(copies.length, 2);
    for (const c of copies) {
      t.equal(c.kmsKeyId, `arn:aws:kms:${REGION}:${FORENSIC}:key/casekey`);
      t.equal(c.tags['cleanroom:role'], 'forensic-copy');
      t.equal(c.tags['cleanroom:source-account'], SOURCE);
    }
    const work = [...f.volumes.values()].filter((v) => v.tags['cleanroom:role'] === 'working-volume');
    t.equal(work.length, 2);
    for (const v of work) {
      t.equal(v.az, AZ);
      t.equal(v.kmsKeyId, `arn:aws:kms:${REGION}:${FORENSIC}:key/casekey`);
      t.equal(v.attachment?.instanceId, w.forensicInstance);
    }
    t.same(work.map((v) => v.attachment!.device).sort(), ['/dev/sdf', '/dev/sdg']);

    // The evidence items, as the contract wants them, folded from the record.
    const byVol = new Map(r.evidence.map((e) => [e.sourceVolumeId, e]));
    for (const vid of volumeIds) {
      const e = byVol.get(vid)!;
      t.equal(e.state, 'attached');
      t.equal(e.sourceAccount, SOURCE);
      t.equal(e.sourceRegion, REGION);
      t.equal(e.sourceInstanceId, instanceId);
      t.ok(e.sourceSnapshotId && src.snapshots.has(e.sourceSnapshotId));
      t.ok(e.forensicSnapshotId && f.snapshots.has(e.forensicSnapshotId));
      t.equal(e.kmsKeyArn, `arn:aws:kms:${REGION}:${FORENSIC}:key/casekey`);
      t.equal(e.instanceId, w.forensicInstance);
      t.match(e.device, /^\/dev\/sd[fg]$/);
      t.equal(e.guestDevice, `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${e.volumeId!.replace('-', '')}`);
      t.equal(e.readOnly, 'confirmed');
      t.same(Object.keys(evidenceJson(e)).slice(0, EVIDENCE_JSON_FIELDS.length), [...EVIDENCE_JSON_FIELDS]);
    }
    t.same(
      r.readOnly.map((x) => x.status),
      ['confirmed', 'confirmed'],
    );

    // The record: every step, in pipeline order per item; close conventions hold.
    const actions = w.recorder.events().map((e) => e.action);
    for (const a of [
      'acquire.share-key',
      'evidence.snapshot',
      'evidence.share.copy',
      'evidence.share',
      'evidence.copy',
      'evidence.preserved',
      'evidence.volume.create',
      'evidence.attach',
      'evidence.readonly-check',
      'evidence.share.retire',
      'acquire.share-key.retire',
      'acquire.run',
    ]) {
      t.ok(actions.includes(a), `recorded ${a}`);
    }
    for (const vid of volumeIds) {
      const eid = byVol.get(vid)!.evidenceId;
      const order = w.recorder
        .events()
        .filter((e) => JSON.stringify(e.outcome.details ?? {}).includes(eid))
        .map((e) => e.action);
      const idx = (a: string) => order.indexOf(a);
      t.ok(
        idx('evidence.snapshot') < idx('evidence.share.copy') &&
          idx('evidence.share.copy') < idx('evidence.share') &&
          idx('evidence.share') < idx('evidence.copy') &&
          idx('evidence.copy') < idx('evidence.preserved') &&
          idx('evidence.preserved') < idx('evidence.share.retire') &&
          idx('evidence.preserved') < idx('evidence.attach'),
        `order of ${eid}: ${order.join(' → ')}`,
      );
    }
    t.ok(
      actions.indexOf('acquire.share-key.retire') > actions.lastIndexOf('evidence.share.retire'),
      'the key is retired after its copies',
    );
    t.equal(retiredInRecord(w.recorder.events(), shareKey.arn), true, 'close sees the sharing key retired');
    const tmp = await findTemporaryKeys(w.source.port(), CASE, w.recorder.events(), undefined, () => {});
    t.same(
      tmp.map((k) => [k.arn, k.role, k.state]),
      [[shareKey.arn, 'share-key', 'PendingDeletion']],
      'close finds the sharing key as a temporary key of the case',
    );

    // Progress per item, with snapshot percentages.
    t.ok(
      progress.some((p) => p.kind === 'item' && p.percent !== undefined && p.phase === 'source snapshot'),
      'snapshot Progress % reported',
    );
  },
);

t.test('same account: no sharing key, no sharing copy, the source snapshot copied under the case key', async (t) => {
  const w = new World();
  const { instanceId } = w.compromisedInstance([8, 4], w.forensic, 'i-0abcabcabcabcabca');
  const r = await acquire(w, { instanceIds: [instanceId] }, sameAccount(w));
  t.same(r.failures, []);
  t.equal(r.sharing, undefined);
  t.same(
    [...w.forensic.keys.values()].map((k) => k.tags['cleanroom:role']),
    ['case-key'],
    'no key made',
  );
  t.notOk(w.forensic.mutations.includes('ModifySnapshotAttribute'), 'nothing shared');
  t.same(w.source.mutations, [], 'the other account is untouched');
  const copies = [...w.forensic.snapshots.values()].filter((s) => s.tags['cleanroom:role'] === 'forensic-copy');
  t.equal(copies.length, 2);
  for (const c of copies)
    t.equal(
      w.forensic.snapshots.get(c.copyOf!)!.tags['cleanroom:role'],
      'source-snapshot',
      'copied straight from the source snapshot',
    );
  t.same(
    r.evidence.map((e) => [e.state, e.sourceAccount]),
    [
      ['attached', FORENSIC],
      ['attached', FORENSIC],
    ],
  );
});

t.test('a rerun of a finished acquisition changes nothing and records nothing new', async (t) => {
  const w = new World();
  const { instanceId } = w.compromisedInstance([8, 20]);
  const first = await acquire(w, { instanceIds: [instanceId] });
  const events = w.recorder.events().length;
  const before = w.mutations().length;
  const again = await acquire(w, { instanceIds: [instanceId] });
  t.same(w.mutations().slice(before), [], 'no mutating call');
  t.equal(w.recorder.events().length, events, 'no new event');
  t.same(again.evidence, first.evidence);
});

/** Every mutation / custody write of a clean run, as crash points. */
async function crashPoints(make: () => World, o: Partial<AcquireOptions>, extra: (w: World) => Partial<AcquireDeps>) {
  const clean = make();
  await acquire(clean, o, extra(clean));
  return { clean, mutations: clean.mutations().length, records: clean.recorder.events().length };
}

for (const [name, sizes, opts, mode] of [
  ['cross-account, an instance of two volumes', [8, 20], (id: string) => ({ instanceIds: [id] }), 'cross'],
  ['cross-account, two volumes named', [8, 20], (_: string, v: string[]) => ({ volumeIds: v }), 'cross'],
  ['same account, an instance of two volumes', [8, 20], (id: string) => ({ instanceIds: [id] }), 'same'],
] as const) {
  t.test(`killed after every mutating call and before every custody write, then rerun: ${name}`, async (t) => {
    const make = () => {
      const w = new World();
      const fx = w.compromisedInstance(
        [...sizes],
        mode === 'same' ? w.forensic : w.source,
        mode === 'same' ? 'i-0abcabcabcabcabca' : undefined,
      );
      return Object.assign(w, { fx });
    };
    const extra = (w: World) => (mode === 'same' ? sameAccount(w) : {});
    const first = make();
    const o = (w: World & { fx: { instanceId: string; volumeIds: string[] } }) => opts(w.fx.instanceId, w.fx.volumeIds);
    const { clean, mutations, records } = await crashPoints(() => first, o(first), extra);
    const want = { picture: clean.picture(), keys: clean.keys().sort() };
    t.ok(mutations > 5 && records > 10, `${mutations} mutating calls, ${records} custody writes`);
    const points = [
      ...Array.from({ length: mutations }, (_, i) => ({ after: i + 1 })),
      ...Array.from({ length: records }, (_, i) => ({ before: i + 1 })),
    ];
    for (const p of points) {
      const w = make();
      if ('after' in p) w.crashAfterMutation = p.after;
      else w.crashBeforeRecord = p.before;
      const e = await acquire(w, o(w), extra(w)).catch((x) => x);
      t.ok(
        e instanceof Crash || (e instanceof PartialFailureError && e.failures.every((f) => f.error instanceof Crash)),
        `killed ${JSON.stringify(p)}`,
      );
      w.revive();
      const r = await acquire(w, o(w), extra(w));
      t.same(r.failures, [], `rerun completes ${JSON.stringify(p)}`);
      const keys = w.keys();
      t.equal(new Set(keys).size, keys.length, `no duplicate event ${JSON.stringify(p)}`);
      t.same(keys.sort(), want.keys, `the same events ${JSON.stringify(p)}`);
      t.same(
        w.picture(),
        want.picture,
        `the same end state, no duplicate snapshot/copy/volume, no leaked key ${JSON.stringify(p)}`,
      );
    }
  });
}

t.test(
  'lost answers (the request took effect, the answer did not arrive) never make a second snapshot, copy or volume',
  async (t) => {
    const w = new World();
    const { instanceId } = w.compromisedInstance([8, 20]);
    for (const op of ['CreateSnapshots', 'CopySnapshot', 'CreateKey', 'CreateVolume']) {
      w.source.failAfter.set(op, { n: 1, code: 'InternalError', status: 500 });
      w.forensic.failAfter.set(op, { n: 1, code: 'InternalError', status: 500 });
    }
    const r = await acquire(w, { instanceIds: [instanceId] });
    t.same(r.failures, []);
    t.equal([...w.source.keys.values()].length, 1, 'one sharing key');
    t.equal(w.source.snapshots.size + w.source.deletedSnapshots.length, 4, '2 source snapshots + 2 sharing copies');
    t.equal(w.forensic.snapshots.size, 2, '2 forensic copies');
    t.equal(
      [...w.forensic.volumes.values()].filter((v) => v.tags['cleanroom:role'] === 'working-volume').length,
      2,
      '2 working volumes',
    );
  },
);

t.test(
  'throttling: retried with backoff within the budget; when the budget is spent, a clear failure, successes kept, the record says how far it got',
  async (t) => {
    const w = new World();
    const { volumeIds } = w.compromisedInstance([8, 20]);
    w.forensic.failBefore.set('CopySnapshot', { n: 3, code: 'RequestLimitExceeded', status: 503 });
    const ok = await acquire(w, { volumeIds });
    t.same(ok.failures, [], 'three throttles are absorbed');

    const w2 = new World();
    const fx = w2.compromisedInstance([8, 20]);
    // The forensic copy of the second volume is throttled forever.
    let copies = 0;
    const port = w2.forensic.port();
    const throttled: AwsAccount = {
      ...port,
      single: {
        ...port.single!,
        ec2: {
          ...port.single!.ec2,
          copySnapshot: async (i) => {
            if (i.Description?.includes(fx.volumeIds[1]!)) {
              copies++;
              throw new AwsError('ec2', 'copySnapshot', 'RequestLimitExceeded', 'Request limit exceeded.', {
                cause: Object.assign(new Error('x'), { $metadata: { httpStatusCode: 503 } }),
              });
            }
            return port.single!.ec2.copySnapshot(i);
          },
        },
      },
    };
    const e = await acquire(
      w2,
      { volumeIds: fx.volumeIds, budgets: { apiMs: 120_000 } },
      { forensic: throttled },
    ).catch((x) => x);
    t.ok(e instanceof PartialFailureError);
    t.equal(e.exitCode, 1);
    t.match(
      e.message,
      /1 of 2 volume\(s\) of case IR-42 could not be acquired; 1 succeeded and are recorded. Run the same command again/,
    );
    t.match(
      e.failures[0].error.message,
      /Gave up waiting for AWS to accept the request for the forensic copy .* last state: .*Request limit exceeded/,
    );
    t.ok(copies > 3 && copies < 30, `retried with backoff (${copies} attempts in 120 s of fake time)`);
    const failedEid = `ev-${fx.volumeIds[1]!.slice(4)}`;
    const failure = w2.recorder.events().find((x) => x.action === 'evidence.failed')!;
    t.same(
      failure.outcome.details,
      { step: 'forensic-copy', reached: 'sharing', evidence: { evidenceId: failedEid, state: 'failed' } },
      'how far it got',
    );
    t.equal(failure.outcome.error!.code, 'TIMEOUT');
    const items = foldEvidence(w2.recorder.events());
    t.equal(items.get(`ev-${fx.volumeIds[0]!.slice(4)}`)!.state, 'attached', 'the other item is kept and recorded');
    t.equal(items.get(failedEid)!.sharingSnapshotId !== undefined, true);
    // finally: the sharing copies are retired and the key too (no forensic copy reads from them).
    t.equal(w2.source.deletedSnapshots.length, 2);
    t.equal([...w2.source.keys.values()][0]!.state, 'PendingDeletion');
    t.same(
      e.details.failures.map((f: any) => f.code),
      ['TIMEOUT'],
    );

    // The rerun (no more throttling) finishes with a new sharing key and copy, nothing duplicated.
    const r = await acquire(w2, { volumeIds: fx.volumeIds });
    t.same(r.failures, []);
    t.same(
      [...w2.source.keys.values()].map((k) => k.state),
      ['PendingDeletion', 'PendingDeletion'],
      'a new key for the rerun, retired too',
    );
    t.equal(w2.forensic.snapshots.size, 2);
  },
);

t.test('a snapshot that ends in error fails its item only; the rerun makes it anew', async (t) => {
  const w = new World();
  const { volumeIds } = w.compromisedInstance([8, 20]);
  w.copiesEndInError = true;
  const e = await acquire(w, { volumeIds, attach: false }).catch((x) => x);
  t.ok(e instanceof PartialFailureError);
  t.equal(e.failures.length, 2);
  t.match(
    e.failures[0].error.message,
    /sharing copy snap-\w+ of ev-\w+ ended in state error.*Run the same command again/,
  );
  t.equal(w.recorder.events().filter((x) => x.action === 'evidence.failed').length, 2);
  t.same(w.source.snapshots.size, 2, 'errored sharing copies retired, source snapshots kept');
  w.copiesEndInError = false;
  const r = await acquire(w, { volumeIds, attach: false });
  t.same(r.failures, []);
  t.same(
    r.evidence.map((x) => x.state),
    ['volume-created', 'volume-created'],
  );
});

t.test(
  'snapshots pending for a while: waited for on the clock, with progress; pending past the budget (scaled by size): timeout, the copy in progress keeps its sharing copy and key',
  async (t) => {
    const w = new World();
    const { volumeIds } = w.compromisedInstance([8, 100]);
    w.source.pendingPolls = 4;
    w.forensic.pendingPolls = 4;
    const start = w.clock.now();
    const r = await acquire(w, { volumeIds });
    t.same(r.failures, []);
    t.ok(w.clock.now() - start > 10_000, 'time passed on the fake clock only');

    const w2 = new World();
    const fx = w2.compromisedInstance([1, 1]);
    w2.forensic.pendingPolls = 1e9;
    const start2 = w2.clock.now();
    const e = await acquire(w2, {
      volumeIds: fx.volumeIds,
      budgets: { waitBaseMs: 60_000, waitPerGiBMs: 60_000 },
    }).catch((x) => x);
    t.ok(e instanceof PartialFailureError);
    t.match(
      e.failures[0].error.message,
      /Gave up waiting for the forensic copy snap-\w+ of ev-\w+ after \d+s \(budget 120s\); last state: pending/,
    );
    t.ok(w2.clock.now() - start2 >= 120_000 && w2.clock.now() - start2 < 200_000, 'the budget is base + per GiB');
    t.equal(w2.source.deletedSnapshots.length, 0, 'sharing copies a forensic copy reads from are kept');
    t.equal([...w2.source.keys.values()][0]!.state, 'Enabled', 'and so is their key');
    t.ok(w2.recorder.events().some((x) => x.action === 'acquire.share-key.kept'));
    t.equal(e.details.failures.length, 2);

    w2.forensic.pendingPolls = 0;
    for (const s of w2.forensic.snapshots.values()) s.pendingPolls = 0;
    const done = await acquire(w2, { volumeIds: fx.volumeIds });
    t.same(done.failures, []);
    t.equal(w2.source.deletedSnapshots.length, 2, 'the rerun retires them');
    t.equal([...w2.source.keys.values()][0]!.state, 'PendingDeletion');
    t.equal(w2.forensic.snapshots.size, 2, 'no copy made twice');
  },
);

t.test(
  "AWS's limits: at most 20 copies in flight per destination, one batched status poll, 5 pending snapshots per volume",
  async (t) => {
    const w = new World();
    const sizes = Array.from({ length: 26 }, () => 1);
    const { instanceId, volumeIds } = w.compromisedInstance(sizes);
    w.source.pendingPolls = 3;
    w.forensic.pendingPolls = 3;
    const r = await acquire(w, { instanceIds: [instanceId], attach: false });
    t.same(r.failures, []);
    t.equal(w.forensic.snapshots.size, 26);
    t.ok(
      w.forensic.maxConcurrentCopies <= 20 && w.source.maxConcurrentCopies <= 20,
      `copies in flight ≤ 20 (${w.forensic.maxConcurrentCopies}, ${w.source.maxConcurrentCopies})`,
    );
    t.equal(
      Math.max(w.forensic.maxConcurrentCopies, w.source.maxConcurrentCopies),
      20,
      'and the pool fills all 20 slots',
    );
    const polls =
      w.source.calls.filter((c) => c.op === 'DescribeSnapshots').length +
      w.forensic.calls.filter((c) => c.op === 'DescribeSnapshots').length;
    t.ok(Math.max(...w.describedSnapshotIds) >= 20, 'one DescribeSnapshots answers for many snapshots at once');
    t.ok(
      polls < volumeIds.length * 3,
      `${polls} DescribeSnapshots for 26 volumes × 3 snapshots each, each pending 3 polls — not a waiter per snapshot`,
    );

    const w2 = new World();
    const fx = w2.compromisedInstance([8]);
    const vol = w2.source.volumes.get(fx.volumeIds[0]!)!;
    for (let i = 0; i < 5; i++) w2.source.newSnapshot(vol, { backup: 'dlm' }).pendingPolls = 6;
    const r2 = await acquire(w2, { volumeIds: fx.volumeIds });
    t.same(r2.failures, []);
    t.equal(
      w2.source.calls.filter((c) => c.op === 'CreateSnapshot').length,
      1,
      'CreateSnapshot waited for a free slot instead of being refused',
    );
  },
);

t.test(
  'read-only is recorded as the guest answers: confirmed, writable (loud, exit 3 material), or NOT confirmed — never confirmed on an empty answer',
  async (t) => {
    for (const [mode, want, status] of [
      ['empty', 'not-confirmed', 'skipped'],
      ['writable', 'writable', 'failed'],
      ['unreachable', 'not-confirmed', 'skipped'],
    ] as const) {
      const w = new World();
      w.ssmMode = mode;
      const { volumeIds } = w.compromisedInstance([8]);
      const warned: string[] = [];
      const r = await acquire(
        w,
        { volumeIds, budgets: { readOnlyCheckMs: 20_000 } },
        { reporter: { progress() {}, debug() {}, warn: (m) => warned.push(m) } },
      );
      t.equal(r.readOnly[0]!.status, want, mode);
      const ev = w.recorder.events().find((e) => e.action === 'evidence.readonly-check')!;
      t.equal(ev.outcome.status, status, `${mode}: recorded as ${status}`);
      t.equal(r.evidence[0]!.readOnly, want);
      if (mode === 'empty')
        t.match(r.evidence[0]!.readOnlyDetail, /ended Success \(exit 0\): the status tool printed no disk at all/);
      if (mode === 'writable') t.ok(warned.some((m) => /IS WRITABLE/.test(m)));
      if (mode === 'unreachable')
        t.match(r.evidence[0]!.readOnlyDetail, /SSM could not run the status tool on i-\w+|InvalidInstanceId/);
    }
  },
);

t.test(
  'stopped during the read-only check: INTERRUPTED, and no "not confirmed" answer is recorded for the wait it cut short',
  async (t) => {
    const w = new World();
    w.ssmMode = 'empty'; // the guest never reports the disk: the check waits
    const { volumeIds } = w.compromisedInstance([8]);
    const stop = new AbortController();
    const answer = w.ssmAnswer.bind(w);
    let polls = 0;
    w.ssmAnswer = (acct, instanceId) => {
      if (++polls === 2) stop.abort(); // the check is waiting for the guest when the stop comes
      return answer(acct, instanceId);
    };
    const err = await acquire(w, { volumeIds, budgets: { readOnlyCheckMs: 20_000 }, signal: stop.signal }).catch(
      (e: unknown) => e,
    );
    t.equal(polls >= 2, true, 'the check was polling when stopped');
    t.match(err, { code: 'INTERRUPTED' }, 'the run ends INTERRUPTED');
    t.notOk(
      w.recorder.events().some((e) => e.action === 'evidence.readonly-check'),
      'no read-only answer is recorded for a check that was stopped',
    );
    t.ok(
      w.recorder.events().some((e) => e.action === 'evidence.attach'),
      'what finished before the stop (the attach) is recorded',
    );
  },
);

t.test(
  '--no-attach: a working volume in the room’s AZ when the room is up, the snapshot only when it is not',
  async (t) => {
    const w = new World();
    const { volumeIds } = w.compromisedInstance([8]);
    const r = await acquire(w, { volumeIds, attach: false });
    t.same(
      r.evidence.map((e) => e.state),
      ['volume-created'],
    );
    t.notOk(w.forensic.mutations.includes('AttachVolume'));
    t.equal(w.gate().audits, 0);

    const w2 = new World();
    w2.room.info = undefined;
    const fx = w2.compromisedInstance([8]);
    const warned: string[] = [];
    const r2 = await acquire(
      w2,
      { volumeIds: fx.volumeIds, attach: false },
      { reporter: { progress() {}, debug() {}, warn: (m) => warned.push(m) } },
    );
    t.same(
      r2.evidence.map((e) => e.state),
      ['preserved'],
    );
    t.notOk(w2.forensic.mutations.includes('CreateVolume'));
    t.ok(warned.some((m) => /not up.*evidence attach/.test(m)));
  },
);

t.test(
  'an instance type with no free attachment: the items that fit are attached, the rest stay ready as volumes, named',
  async (t) => {
    const w = new World();
    w.forensic.maxEbsAttachments = 2; // the root volume takes one
    const { volumeIds } = w.compromisedInstance([8, 8]);
    const e = await acquire(w, { volumeIds }).catch((x) => x);
    t.ok(e instanceof PartialFailureError);
    t.equal(e.failures.length, 1);
    t.match(
      e.failures[0].error.message,
      /takes at most 2 EBS volumes and has no free attachment left.*stays ready as volume vol-/,
    );
    t.notOk(
      w.forensic.calls.some(
        (c) => c.op === 'AttachVolume' && c.input.VolumeId === e.failures[0].error.details.volumeId,
      ),
      'no AttachVolume sent past the limit',
    );
    t.same(e.details.evidence.map((x: any) => x.state).sort(), ['attached', 'failed']);
  },
);

t.test('bad input is refused with the contract exit code, before anything is made', async (t) => {
  const cases: Array<[string, (w: World) => Promise<unknown>, number, RegExp]> = [
    ['nothing named', (w) => acquire(w, {}), 2, /Name what to acquire/],
    [
      'both named',
      (w) => acquire(w, { instanceIds: ['i-0123456789abcdef0'], volumeIds: ['vol-0123456789abcdef0'] }),
      2,
      /either --instance or --volume/,
    ],
    ['a malformed id', (w) => acquire(w, { volumeIds: ['vol-xyz'] }), 2, /Not an EC2 volume id: "vol-xyz"/],
    [
      'an unknown instance',
      (w) => acquire(w, { instanceIds: ['i-00000000000000000'] }),
      2,
      /No instance i-00000000000000000 in account 111111111111 \(us-east-1 or any other Region\)/,
    ],
    [
      'an unknown volume',
      (w) => acquire(w, { volumeIds: ['vol-00000000000000000'] }),
      2,
      /No volume vol-00000000000000000/,
    ],
    [
      'an instance in another Region than given',
      (w) => {
        const { instanceId } = w.compromisedInstance([8], w.sourceWest, 'i-0def0def0def0def0');
        return acquire(w, { instanceIds: [instanceId] });
      },
      2,
      /Instance i-0def0def0def0def0 is in us-west-2, not in us-east-1 where cleanroom looked: run again with --source-region us-west-2/,
    ],
    [
      'a volume attached to the forensic instance',
      (w) => acquire(w, { volumeIds: ['vol-0aaaaaaaaaaaaaaaa'] }, sameAccount(w)),
      2,
      /attached to the forensic instance i-0f0f0f0f0f0f0f0f0.*not a source/,
    ],
    [
      'the forensic instance as the source',
      (w) => acquire(w, { instanceIds: [w.forensicInstance] }, sameAccount(w)),
      2,
      /is the forensic instance of case IR-42/,
    ],
    [
      'a source key the forensic account cannot use',
      (w) => {
        w.source.keys.set('mine', {
          id: 'mine',
          arn: `arn:aws:kms:${REGION}:${SOURCE}:key/mine`,
          state: 'Enabled',
          tags: {},
          policy: JSON.stringify({
            Statement: [
              { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${SOURCE}:root` }, Action: 'kms:*', Resource: '*' },
            ],
          }),
          manager: 'CUSTOMER',
          spec: 'SYMMETRIC_DEFAULT',
        });
        const { volumeIds } = w.compromisedInstance([8]);
        return acquire(w, { volumeIds, sourceKmsKeyArn: `arn:aws:kms:${REGION}:${SOURCE}:key/mine` });
      },
      2,
      /forensic account 123456789012 cannot use --source-kms-key .*key\/mine: neither its key policy nor a grant allows account 123456789012 kms:DescribeKey, kms:CreateGrant/,
    ],
    [
      'an AWS managed source key',
      (w) => {
        w.source.keys.set('ebs', {
          id: 'ebs',
          arn: `arn:aws:kms:${REGION}:${SOURCE}:key/ebs`,
          state: 'Enabled',
          tags: {},
          policy: '{}',
          manager: 'AWS',
          spec: 'SYMMETRIC_DEFAULT',
        });
        const { volumeIds } = w.compromisedInstance([8]);
        return acquire(w, { volumeIds, sourceKmsKeyArn: `arn:aws:kms:${REGION}:${SOURCE}:key/ebs` });
      },
      2,
      /AWS managed key, and snapshots encrypted with an AWS managed key cannot be shared/,
    ],
    [
      'a source key in another account',
      (w) => {
        const { volumeIds } = w.compromisedInstance([8]);
        return acquire(w, { volumeIds, sourceKmsKeyArn: `arn:aws:kms:${REGION}:222222222222:key/x` });
      },
      2,
      /is in account 222222222222 \/ us-east-1, but the source snapshots are in account 111111111111/,
    ],
    [
      'a room that is not up',
      (w) => {
        w.room.info = { ...w.room.info!, stackStatus: 'ROLLBACK_COMPLETE' };
        const { volumeIds } = w.compromisedInstance([8]);
        return acquire(w, { volumeIds });
      },
      2,
      /clean room of case IR-42 is not up \(stack cleanroom-IR-42 is ROLLBACK_COMPLETE\).*--no-attach/,
    ],
    [
      'no room at all',
      (w) => {
        w.room.info = undefined;
        const { volumeIds } = w.compromisedInstance([8]);
        return acquire(w, { volumeIds });
      },
      2,
      /is not there \(no stack\).*cleanroom room up --case IR-42/,
    ],
    [
      'a room that fails its audit',
      (w) => {
        w.room.audit = {
          ok: false,
          checks: [
            { id: 'network.no-route-out', ok: false, detail: 'route 0.0.0.0/0 via igw-1', severity: 'critical' },
          ],
        };
        const { volumeIds } = w.compromisedInstance([8]);
        return acquire(w, { volumeIds });
      },
      3,
      /fails its audit \(network.no-route-out: route 0.0.0.0\/0 via igw-1\), so no evidence is attached to it. Nothing was changed/,
    ],
    [
      'an AZ mismatch between the room and its instance',
      (w) => {
        w.forensic.instances.get(w.forensicInstance)!.az = 'us-east-1c';
        const { volumeIds } = w.compromisedInstance([8]);
        return acquire(w, { volumeIds });
      },
      2,
      /forensic instance i-0f0f0f0f0f0f0f0f0 is in us-east-1c, but the room of case IR-42 says us-east-1a/,
    ],
    [
      'an invalid case id',
      (w) => acquire(w, { caseId: 'bad id!', volumeIds: ['vol-0123456789abcdef0'] }),
      2,
      /Case id "bad id!" is not valid/,
    ],
  ];
  for (const [name, run, code, message] of cases) {
    const w = new World();
    const e: unknown = await run(w).then(
      () => undefined,
      (x: unknown) => x,
    );
    if (!(e instanceof CleanroomError)) {
      t.fail(
        `${name}: a CleanroomError (got ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)})`,
      );
      continue;
    }
    t.equal(e.exitCode, code, `${name}: exit ${code}`);
    t.match(e.message, message, name);
    t.same(w.mutations(), [], `${name}: nothing made`);
    t.same(w.recorder.events(), [], `${name}: nothing recorded`);
    if (code === 2) t.ok(e instanceof UsageError, `${name}: UsageError`);
    if (code === 3) t.ok(e instanceof VerificationFailedError, `${name}: VerificationFailedError`);
  }
});

t.test('a sharing key left behind by a killed run (no alias yet) is adopted, not duplicated', async (t) => {
  const w = new World();
  const { volumeIds } = w.compromisedInstance([8]);
  // The killed run: CreateKey went through, CreateAlias never happened.
  const port = w.source.port();
  const killed: AwsAccount = {
    ...port,
    kms: {
      ...port.kms,
      createAlias: async () => {
        w.dead = true;
        throw new Crash();
      },
    },
  };
  await acquire(w, { volumeIds }, { source: killed }).catch(() => undefined);
  w.revive();
  t.equal(w.source.keys.size, 1, 'the killed run made one key');
  const r = await acquire(w, { volumeIds });
  t.same(r.failures, []);
  t.equal(w.source.keys.size, 1, 'the rerun adopted it');
  t.equal([...w.source.keys.values()][0]!.state, 'PendingDeletion', 'and retired it');
  t.equal(w.recorder.events().find((e) => e.action === 'acquire.share-key')!.outcome.details!['foundExisting'], true);
});

t.test(
  "a responder's key (--source-kms-key) that the forensic account may use: used for the sharing copies, never retired, never named for deletion",
  async (t) => {
    const w = new World();
    const arn = `arn:aws:kms:${REGION}:${SOURCE}:key/theirs`;
    const { shareKeyPolicy } = await import('../../../src/workflows/acquire/share-key.js');
    w.source.keys.set('theirs', {
      id: 'theirs',
      arn,
      state: 'Enabled',
      tags: {},
      policy: shareKeyPolicy(SOURCE, FORENSIC),
      manager: 'CUSTOMER',
      spec: 'SYMMETRIC_DEFAULT',
    });
    const { volumeIds } = w.compromisedInstance([8]);
    const r = await acquire(w, { volumeIds, sourceKmsKeyArn: arn });
    t.same(r.failures, []);
    t.same(r.sharing, { keyArn: arn, owner: 'responder', retired: false, kept: [] });
    t.equal(w.source.keys.size, 1, 'no key made');
    t.equal(w.source.keys.get('theirs')!.state, 'Enabled', 'left as it is');
    t.equal(w.source.deletedSnapshots.length, 1, 'the sharing copy is still retired');
    t.equal(w.source.deletedSnapshots[0]!.kmsKeyId, arn);
    t.notOk(
      w.recorder.events().some((e) => e.resources.some((x) => x.type === 'kms:key' && x.arn === arn)),
      'not a kms:key resource of the record (close would schedule it)',
    );
    t.equal(r.evidence[0]!.sharingKeyArn, arn, 'but named in the evidence');
    t.same(
      await findTemporaryKeys(w.source.port(), CASE, w.recorder.events(), undefined, () => {}),
      [],
      'close finds no temporary key to delete',
    );
  },
);
