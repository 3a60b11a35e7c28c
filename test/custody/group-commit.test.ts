/**
 * Group commit for a main-chain writer (the CLI's leased writer; issue 14): appends made while one
 * is being written go out together — one lane object and one checkpoint, not one PUT each — in the
 * order they were made, each acknowledged only once its batch is committed; a failed batch fails
 * every append in it and nothing else. On the fake vault of lane-vault.ts (PUTs counted and held).
 */
import t from 'tap';
import { openCaseCustody } from '../../src/custody/case-custody.js';
import { readCaseLog } from '../../src/custody/log.js';
import type { RecordedEvent } from '../../src/domain/recorder.js';
import { BUCKET, codes } from './fake-vault.js';
import { CASE, entry, laneVault } from './lane-vault.js';

const isEvent = (k: string) => /\/custody\/\d+\.json$/.test(k);
const isLane = (k: string) => k.includes('/custody/lanes/');

/** A PUT hook that holds every PUT whose key `when` picks until `release()`. */
function gate(when: (key: string) => boolean) {
  let open!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  let held = 0;
  return {
    beforePut: async (key: string) => {
      if (!when(key)) return;
      held++;
      await opened;
    },
    release: () => open(),
    get held() {
      return held;
    },
  };
}

t.test('32 appends at once: one lane object and one checkpoint, not 32 PUTs', async (t) => {
  const w = laneVault();
  const c = await openCaseCustody(w.account, { caseId: CASE, bucket: BUCKET, audit: w.audit, groupCommit: true });
  const acked = await Promise.all(Array.from({ length: 32 }, (_, i) => c.record(entry(`v:${i}`))));
  t.equal(w.puts.length, 2, 'two PUTs for 32 events');
  t.equal(w.puts.filter(isLane).length, 1, 'one lane object holding the 32 events');
  t.equal(w.puts.filter(isEvent).length, 1, 'one main-chain event: the checkpoint committing them');
  t.ok(
    acked.every((e) => e.lane?.startsWith('group-')),
    "the events are in the writer's group lane",
  );
  t.same(
    c.events().map((e) => e.idempotencyKey ?? e.action),
    [...Array.from({ length: 32 }, (_, i) => `v:${i}`), 'custody.checkpoint'],
    'the record keeps the order of the calls; the checkpoint follows its batch',
  );
  await c.sealManifest();
  t.same(codes(await w.verify()), [], 'custody verify: green');
  const reader = await openCaseCustody(w.account, { caseId: CASE, bucket: BUCKET, audit: w.audit, groupCommit: true });
  const stored = new Map(reader.events().map((e) => [e.idempotencyKey, e.hash]));
  const log = await readCaseLog(w.v.account, { caseId: CASE, bucket: BUCKET });
  t.same(
    log.events.map((e) => e.hash),
    reader.events().map((e) => e.hash),
    'custody log reads the same order',
  );
  t.ok(
    acked.every((a) => stored.get(a.idempotencyKey) === a.hash),
    'every acknowledged event is stored as acknowledged',
  );
});

t.test('appends made while a write is in flight go out together in the next one', async (t) => {
  const g = gate((k) => k.endsWith('/custody/0000000001.json'));
  const w = laneVault(g);
  const c = await openCaseCustody(w.account, { caseId: CASE, bucket: BUCKET, audit: w.audit, groupCommit: true });
  const first = c.record(entry('first'));
  while (g.held === 0) await new Promise((r) => setImmediate(r));
  const rest = Array.from({ length: 8 }, (_, i) => c.record(entry(`r:${i}`)));
  g.release();
  const [a, ...others] = await Promise.all([first, ...rest]);
  t.same([a!.lane, a!.seq], [undefined, 1], 'the append made alone is a main-chain event, as before');
  t.equal(w.puts.length, 3, 'the eight made meanwhile: one lane object and one checkpoint');
  t.ok(others.every((e) => e.lane?.startsWith('group-')));
  t.same(
    c.events().map((e) => e.idempotencyKey ?? e.action),
    ['first', ...Array.from({ length: 8 }, (_, i) => `r:${i}`), 'custody.checkpoint'],
  );
});

t.test('one append at a time costs one main-chain PUT each, as before group commit', async (t) => {
  const w = laneVault();
  const c = await openCaseCustody(w.account, { caseId: CASE, bucket: BUCKET, audit: w.audit, groupCommit: true });
  for (let i = 0; i < 3; i++) await c.record(entry(`s:${i}`));
  t.same(
    w.puts.map((k) => k.replace(/.*\/custody\//, '')),
    ['0000000001.json', '0000000002.json', '0000000003.json'],
  );
  t.same(
    c.events().map((e) => e.seq),
    [1, 2, 3],
  );
});

t.test('an append resolves only when its batch is committed: the lane object AND the checkpoint', async (t) => {
  // Hold the checkpoint's PUT (main-chain event 1): the batch's lane object is written, not committed.
  const g = gate((k) => k.endsWith('/custody/0000000001.json'));
  const w = laneVault(g);
  const c = await openCaseCustody(w.account, { caseId: CASE, bucket: BUCKET, audit: w.audit, groupCommit: true });
  const settled: string[] = [];
  const track = (p: Promise<RecordedEvent>, name: string) => p.then(() => settled.push(name));
  const all = [track(c.record(entry('a')), 'a'), track(c.record(entry('b')), 'b'), track(c.record(entry('c')), 'c')];
  // Let the batch reach the held checkpoint PUT.
  while (g.held === 0) await new Promise((r) => setImmediate(r));
  t.equal(w.puts.filter(isLane).length, 1, 'the batch is in its lane object');
  t.same(settled, [], 'no append is acknowledged before the checkpoint committing it is written');
  g.release();
  await Promise.all(all);
  t.same(settled, ['a', 'b', 'c']);
  await c.sealManifest();
  t.same(codes(await w.verify()), []);
});

t.test('a failed batch fails every append in it; the appends after it stand', async (t) => {
  let failLane = true;
  const w = laneVault({
    beforePut: async (k) => {
      if (isLane(k) && failLane) {
        failLane = false;
        throw Object.assign(new Error('We encountered an internal error. Please try again.'), {
          name: 'InternalError',
          $metadata: { httpStatusCode: 500 },
        });
      }
    },
  });
  const c = await openCaseCustody(w.account, { caseId: CASE, bucket: BUCKET, audit: w.audit, groupCommit: true });
  const results = await Promise.allSettled(['a', 'b', 'c', 'd'].map((k) => c.record(entry(k))));
  t.same(
    results.map((r) => r.status),
    ['rejected', 'rejected', 'rejected', 'rejected'],
    'the batch of the four failed whole',
  );
  const later = await Promise.all(['e', 'f', 'g'].map((k) => c.record(entry(k))));
  t.equal(later.length, 3, 'the next appends are written (a new group lane)');
  t.same(
    c.events().map((e) => e.idempotencyKey ?? e.action),
    ['e', 'f', 'g', 'custody.checkpoint'],
    'no failed append in the record, nothing reordered',
  );
  await c.sealManifest();
  t.same(codes(await w.verify()), [], 'green');
});

t.test(
  'the same idempotency key twice in one batch is one event; a key already recorded is not written again',
  async (t) => {
    const w = laneVault();
    const c = await openCaseCustody(w.account, { caseId: CASE, bucket: BUCKET, audit: w.audit, groupCommit: true });
    const [a, b1, b2, a2] = await Promise.all([
      c.record(entry('a')),
      c.record(entry('b')),
      c.record(entry('b')),
      c.record(entry('a')),
    ]);
    t.equal(b1.hash, b2.hash);
    t.equal(a.hash, a2!.hash);
    t.same(
      c.events().map((e) => e.idempotencyKey ?? e.action),
      ['a', 'b', 'custody.checkpoint'],
      'one batch of two events',
    );
  },
);

t.test('a batch between single appends keeps its place in the record', async (t) => {
  const w = laneVault();
  const c = await openCaseCustody(w.account, { caseId: CASE, bucket: BUCKET, audit: w.audit, groupCommit: true });
  await c.record(entry('first'));
  const xyz = await Promise.all([c.record(entry('x')), c.record(entry('y')), c.record(entry('z'))]);
  t.ok(xyz.every((e) => e.lane));
  await c.record(entry('last'));
  await c.sealManifest();
  const reader = await openCaseCustody(w.account, { caseId: CASE, bucket: BUCKET, audit: w.audit, groupCommit: true });
  t.same(
    reader.events().map((e) => e.idempotencyKey ?? e.action),
    ['first', 'x', 'y', 'z', 'custody.checkpoint', 'last'],
    'a new reader reads the same order',
  );
  t.same(codes(await w.verify()), []);
});
