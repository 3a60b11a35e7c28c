/**
 * Acquisition with `waits: 'hand-off'` (automation: a Step Functions Wait state does the waiting)
 * on the stateful fake: where the blocking run would sleep on a pending snapshot, copy or volume,
 * the run ends with WaitHandedOffError, having recorded what it did; calling it again with the same
 * inputs progresses, and the loop ends in the same state as one blocking run: the same AWS
 * mutations (no duplicate snapshot, copy, volume or attachment), the same custody actions, no item
 * recorded as failed. Each invocation's clock never moves (nothing sleeps): the fake's snapshots
 * complete after a number of polls.
 */
import t from 'tap';
import { isWaitHandedOff, type WaitHandedOffError } from '../../../src/domain/hand-off.js';
import { foldEvidence } from '../../../src/domain/evidence.js';
import { acquireEvidence, type AcquireDeps, type AcquireOptions } from '../../../src/workflows/acquire/index.js';
import { CASE, FakeAccount, REGION, SOURCE, World } from './fake.js';

function deps(w: World): AcquireDeps {
  return {
    forensic: w.forensic.port(),
    source: w.source.port(),
    custody: w.recorder,
    room: w.gate(),
    clock: w.clock,
    sourceInRegion: async (r) => new FakeAccount(SOURCE, r, w).port(),
    hasher: w.hasher(),
  };
}

/** A world whose snapshots and copies stay pending for `polls` polls. */
function slowWorld(polls: number): { w: World; instanceId: string } {
  const w = new World();
  w.source.pendingPolls = polls;
  w.forensic.pendingPolls = polls;
  const { instanceId } = w.compromisedInstance([8, 20]);
  return { w, instanceId };
}

const count = (xs: readonly string[]) => {
  const m: Record<string, number> = {};
  for (const x of xs) m[x] = (m[x] ?? 0) + 1;
  return m;
};

/** Call acquire in hand-off mode until it returns; the hand-offs seen on the way. */
async function untilDone(w: World, o: AcquireOptions, max = 40) {
  const handOffs: WaitHandedOffError[] = [];
  for (let i = 0; i < max; i++) {
    try {
      const r = await acquireEvidence(deps(w), { ...o, waits: 'hand-off' });
      return { r, handOffs };
    } catch (e) {
      if (!isWaitHandedOff(e)) throw e;
      handOffs.push(e);
    }
  }
  throw new Error(`not done after ${max} invocations`);
}

t.test('hand-off: called again until done, the same end state as one blocking run, nothing made twice', async (t) => {
  const blocking = slowWorld(4);
  const b = await acquireEvidence(deps(blocking.w), { caseId: CASE, instanceIds: [blocking.instanceId] });
  t.same(b.failures, []);

  const handed = slowWorld(4);
  const start = handed.w.clock.now();
  const { r, handOffs } = await untilDone(handed.w, { caseId: CASE, instanceIds: [handed.instanceId] });
  t.ok(handOffs.length >= 2, `the waits were handed off (${handOffs.length} times) instead of slept`);
  t.equal(handed.w.clock.now() - start < 60_000, true, 'hardly any clock time passed: the waits were not slept');
  for (const h of handOffs) {
    t.equal(h.code, 'WAIT_HANDED_OFF');
    t.ok(h.retryAfterSeconds >= 1, 'a retry time in whole seconds');
    t.match(h.waitingFor, /snap-|vol-/, 'names what it waits for');
  }
  t.same(r.failures, []);
  t.same(
    r.evidence.map((e) => e.state),
    b.evidence.map((e) => e.state),
    'the items end where the blocking run leaves them',
  );
  for (const [acct, name] of [
    ['source', 'source account'],
    ['forensic', 'forensic account'],
  ] as const)
    t.same(count(handed.w[acct].mutations), count(blocking.w[acct].mutations), `the same mutations in the ${name}`);
  t.same(
    count(handed.w.recorder.events().map((e) => e.action)),
    count(blocking.w.recorder.events().map((e) => e.action)),
    'the same custody actions, none twice',
  );
  t.notOk(
    handed.w.recorder.events().some((e) => e.action === 'evidence.failed' || e.outcome.status === 'failed'),
    'a handed-off wait is not recorded as a failure',
  );
  const ids = (w: World) => [...w.forensic.snapshots.keys()].sort();
  t.same(ids(handed.w), ids(blocking.w), 'the same forensic copies (ids are derived from what they copy)');
});

t.test('hand-off: only what is still pending at its first poll is handed off', async (t) => {
  // Snapshots and copies complete at their first poll here; a new working volume (the fake's
  // CreateVolume) is `creating` for one poll: that one wait is handed off, once.
  const { w, instanceId } = slowWorld(0);
  const { r, handOffs } = await untilDone(w, { caseId: CASE, instanceIds: [instanceId] });
  t.equal(handOffs.length, 1);
  t.match(handOffs[0]!.waitingFor, /working volume|vol-/);
  t.notMatch(handOffs[0]!.waitingFor, /snap-/);
  t.same(r.failures, []);
});

t.test('acquisitionHash deferred: items stop at preserved, unhashed, with no working volume', async (t) => {
  const { w, instanceId } = slowWorld(0);
  const r = await acquireEvidence(deps(w), { caseId: CASE, instanceIds: [instanceId], acquisitionHash: 'deferred' });
  t.same(r.failures, []);
  t.same(
    r.evidence.map((e) => e.state),
    ['preserved', 'preserved'],
  );
  t.ok(r.evidence.every((e) => e.sha256 === undefined));
  t.equal([...w.forensic.volumes.values()].filter((v) => v.tags['cleanroom:role'] === 'working-volume').length, 0);
  t.equal(w.recorder.events().filter((e) => e.action === 'evidence.hash').length, 0, 'no acquisition hash is recorded');
  const folded = foldEvidence(w.recorder.events());
  t.equal(folded.size, 2);
  t.equal(REGION, w.forensic.region);
});

t.test('an unknown waits mode is refused before anything is made', async (t) => {
  const { w, instanceId } = slowWorld(0);
  await t.rejects(
    acquireEvidence(deps(w), {
      caseId: CASE,
      instanceIds: [instanceId],
      waits: 'handoff' as unknown as 'hand-off',
    }),
    { code: 'INVALID_VALUE' },
  );
  t.equal(w.source.mutations.length, 0);
});
