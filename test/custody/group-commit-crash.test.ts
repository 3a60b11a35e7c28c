/**
 * Group commit under a kill (the CLI's leased main-chain writer; issue 14): a writer killed between
 * a batch's group-lane object and the checkpoint committing it leaves that object uncommitted. The
 * next leased writer commits it at open — one checkpoint that says so (`details.recovered`), before
 * it appends anything, so the record keeps the order things happened in — and a rerun records none
 * of its events twice. Killed during that recovery, the next open recovers again, once. An
 * uncommitted object that fails its check is neither committed nor skipped: the open is refused.
 * On the fake vault of lane-vault.ts; "killed" is a PUT held forever (the process never goes on).
 */
import t, { type Test } from 'tap';
import { openCaseCustody, type CaseCustody } from '../../src/custody/case-custody.js';
import { canonicalBytes } from '../../src/custody/canonical.js';
import type { CleanroomError } from '../../src/domain/errors.js';
import type { CustodyEvent } from '../../src/custody/event.js';
import { BUCKET, codes } from './fake-vault.js';
import { CASE, entry, laneVault } from './lane-vault.js';

const isEvent = (k: string) => /\/custody\/\d+\.json$/.test(k);
const isLane = (k: string) => k.includes('/custody/lanes/');
const never = new Promise<void>(() => {});

/**
 * A vault where writer "A" (leased) recorded `first` alone, then x, y, z together, and was killed
 * once the batch's lane object was stored, before its checkpoint was written. `killAtNextEvent`
 * kills the next writer at its next main-chain PUT, before that object is stored or after (its
 * answer lost); it resolves once the PUT is held.
 */
async function killedBetweenObjectAndCheckpoint(t: Test) {
  let armed: 'before' | 'after' | undefined;
  let onHeld = () => {};
  const hold = async (phase: 'before' | 'after', k: string) => {
    if (armed !== phase || !isEvent(k)) return;
    armed = undefined;
    onHeld();
    await never;
  };
  const w = laneVault({ beforePut: (k) => hold('before', k), afterPut: (k) => hold('after', k) });
  const killAtNextEvent = (phase: 'before' | 'after') => {
    armed = phase;
    return new Promise<void>((r) => {
      onHeld = r;
    });
  };
  const open = (owner: string): Promise<CaseCustody> =>
    openCaseCustody(w.account, {
      caseId: CASE,
      bucket: BUCKET,
      audit: w.audit,
      lease: { owner, command: 'acquire', holderGone: () => true },
    });
  const a = await open('A');
  await a.record(entry('first'));
  const killed = killAtNextEvent('before');
  void Promise.all(['x', 'y', 'z'].map((k) => a.record(entry(k)))).catch(() => undefined);
  await killed;
  t.equal(w.laneKeys().length, 1, "A's batch is in its lane object");
  return { w, open, killAtNextEvent, orphan: w.laneKeys()[0]!, putsAtKill: w.puts.length };
}

const keysOf = (c: CaseCustody) => c.events().map((e) => (e.action === 'room.audit' ? e.idempotencyKey : e.action));
const recoveredOf = (c: CaseCustody) =>
  c.events().filter((e) => e.action === 'custody.checkpoint' && e.outcome.details?.['recovered'] !== undefined);

t.test(
  'killed between a group object and its checkpoint: the next leased writer commits it at open, once',
  async (t) => {
    const { w, open, putsAtKill } = await killedBetweenObjectAndCheckpoint(t);
    const b = await open('B');
    const opened = w.puts.slice(putsAtKill).map((k) => k.replace(/^cases\/IR-9\//, ''));
    t.same(
      opened,
      ['lease.json', 'custody/0000000002.json', 'custody/0000000003.json'],
      'at open: the lease, then the recovery checkpoint (#2), then the take-over (#3) — before anything new',
    );
    t.same(
      recoveredOf(b).map((e) => e.outcome.details),
      [
        {
          lanes: [{ lane: expect(b, 'x').lane, seq: 3, hash: expect(b, 'z').hash }],
          recovered: { reason: 'uncommitted-at-open', events: 3 },
        },
      ],
      'the checkpoint says what it recovered',
    );
    // The rerun records its work again, as a rerun does: what A wrote is found, not written again.
    const again = await Promise.all(['x', 'y', 'z', 'w'].map((k) => b.record(entry(k))));
    t.same(
      again.slice(0, 3).map((e) => e.lane),
      [expect(b, 'x').lane, expect(b, 'x').lane, expect(b, 'x').lane],
      "x, y, z are A's events",
    );
    await b.sealManifest();
    t.same(
      keysOf(b).filter((k) => k !== 'custody.checkpoint'),
      ['first', 'x', 'y', 'z', 'case.lease.takeover', 'w'],
      "the record's order is what happened: A's events, then B's take-over, then B's work",
    );
    const keys = b.events().flatMap((e) => (e.idempotencyKey ? [e.idempotencyKey] : []));
    t.equal(new Set(keys).size, keys.length, 'no idempotency key twice');
    t.same(codes(await w.verify()), [], 'custody verify: green');
  },
);

t.test('killed at its very first batch (a case with no main-chain event yet): recovered as event 1', async (t) => {
  let hold = true;
  const w = laneVault({
    beforePut: async (k) => {
      if (hold && isEvent(k)) await never;
    },
  });
  const a = await openCaseCustody(w.account, { caseId: CASE, bucket: BUCKET, audit: w.audit });
  void Promise.all(['x', 'y'].map((k) => a.record(entry(k)))).catch(() => undefined);
  while (w.laneKeys().length === 0) await new Promise((r) => setImmediate(r));
  hold = false;
  const b = await openCaseCustody(w.account, {
    caseId: CASE,
    bucket: BUCKET,
    audit: w.audit,
    mustExist: true,
    lease: { owner: 'B', command: 'acquire' },
  });
  t.same(
    recoveredOf(b).map((e) => [e.seq, e.outcome.details?.['recovered']]),
    [[1, { reason: 'uncommitted-at-open', events: 2 }]],
    'the case exists (its lane object), and its first main-chain event commits it',
  );
  await b.sealManifest();
  t.same(codes(await w.verify()), [], 'custody verify: green');
});

t.test('killed during the recovery checkpoint: the next open recovers again, once', async (t) => {
  for (const phase of ['before', 'after'] as const) {
    const { w, open, killAtNextEvent } = await killedBetweenObjectAndCheckpoint(t);
    // B is killed at its first main-chain PUT, the recovery checkpoint: before it is stored, or
    // after (stored, its answer lost).
    const killed = killAtNextEvent(phase);
    let bSettled = false;
    void open('B').finally(() => {
      bSettled = true;
    });
    await killed;
    t.notOk(bSettled, `B killed during its recovery checkpoint (${phase} it is stored)`);
    const c = await open('C');
    await Promise.all(['x', 'y', 'z', 'w'].map((k) => c.record(entry(k))));
    await c.sealManifest();
    t.equal(recoveredOf(c).length, 1, `one recovery checkpoint in the record (${phase})`);
    const keys = c.events().flatMap((e) => (e.idempotencyKey?.length === 1 ? [e.idempotencyKey] : []));
    t.same(keys, ['x', 'y', 'z', 'w'], `every event once, in order (${phase})`);
    t.equal(c.find('first')?.seq, 1);
    t.same(codes(await w.verify()), [], `custody verify: green (${phase})`);
  }
});

t.test('an uncommitted group object that fails its check: the leased open is refused, nothing committed', async (t) => {
  const { w, open, orphan, putsAtKill } = await killedBetweenObjectAndCheckpoint(t);
  // The object's second event altered after it was written (its hash no longer matches).
  const stored = w.v.bucket.objects.get(orphan)!;
  const evs = JSON.parse(stored[0]!.body!.toString('utf8')) as CustodyEvent[];
  evs[1]!.outcome = { status: 'failed' };
  stored[0] = { ...stored[0]!, body: canonicalBytes(evs) };
  const refused = await open('B').then(
    () => undefined,
    (e: CleanroomError) => e,
  );
  t.equal(refused?.code, 'CUSTODY_INVALID', 'refused: the record fails its check');
  t.equal(refused?.exitCode, 3, 'exit 3: a verification found a problem');
  t.match(refused?.message, /lane group-[0-9a-f]+ event 2/, 'naming the object that fails');
  t.same(w.puts.slice(putsAtKill).filter(isEvent), [], 'nothing appended: the object is neither committed nor skipped');
  const v = await w.verify();
  t.ok(
    codes(v).includes('HASH_MISMATCH') && codes(v).includes('LANE_UNCOMMITTED'),
    'custody verify names it (HASH_MISMATCH, LANE_UNCOMMITTED)',
  );
});

t.test('without a lease nothing is written at open; the uncommitted events are found by key', async (t) => {
  const { w, putsAtKill } = await killedBetweenObjectAndCheckpoint(t);
  const reader = await openCaseCustody(w.account, { caseId: CASE, bucket: BUCKET, audit: w.audit });
  t.equal(w.puts.length, putsAtKill, 'a writer without the lease does not commit at open');
  t.ok(reader.find('y')?.lane, 'y is found (uncommitted)');
  t.ok(reader.dirty, 'the record needs a seal (which commits them)');
});

t.test(
  'a group object stored but its answer lost (the SDK gave up): read back, committed, not written again',
  async (t) => {
    let lose = true;
    const w = laneVault({
      afterPut: async (k) => {
        if (lose && isLane(k)) {
          lose = false;
          throw Object.assign(new Error('We encountered an internal error. Please try again.'), {
            name: 'InternalError',
            $metadata: { httpStatusCode: 500 },
          });
        }
      },
    });
    const c = await openCaseCustody(w.account, { caseId: CASE, bucket: BUCKET, audit: w.audit });
    const acked = await Promise.all(['a', 'b', 'c'].map((k) => c.record(entry(k))));
    t.ok(
      acked.every((e) => e.lane),
      'the batch is acknowledged: its object was read back as written',
    );
    await Promise.all(['a', 'b', 'c'].map((k) => c.record(entry(k))));
    t.equal(w.laneKeys().length, 1, 'one group object: a retry of the same keys writes nothing');
    await c.sealManifest();
    t.same(codes(await w.verify()), [], 'custody verify: green');
  },
);

t.test('group commit is on by default; groupCommit: false writes one main-chain event per append', async (t) => {
  const on = laneVault();
  const c = await openCaseCustody(on.account, { caseId: CASE, bucket: BUCKET, audit: on.audit });
  await Promise.all(Array.from({ length: 8 }, (_, i) => c.record(entry(`v:${i}`))));
  t.same(
    [on.puts.filter(isLane).length, on.puts.filter(isEvent).length],
    [1, 1],
    'default: 8 appends at once are one lane object and one checkpoint',
  );
  const off = laneVault();
  const d = await openCaseCustody(off.account, { caseId: CASE, bucket: BUCKET, audit: off.audit, groupCommit: false });
  await Promise.all(Array.from({ length: 8 }, (_, i) => d.record(entry(`v:${i}`))));
  t.same([off.puts.filter(isLane).length, off.puts.filter(isEvent).length], [0, 8], 'off: 8 main-chain events');
});

function expect(c: CaseCustody, key: string) {
  const e = c.find(key);
  if (!e) throw new Error(`no event ${key}`);
  return e;
}
