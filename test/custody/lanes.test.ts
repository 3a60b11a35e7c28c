/**
 * Lanes (many writers on one case, issue 14) on a fake vault whose conditional PUT is atomic as
 * S3's is: writers that open the record with `lane` append to their own lane without contention
 * (group commit: appends made while a PUT is in flight share the next object), a seal commits the
 * lanes with a `custody.checkpoint`, and `custody verify` (vault and bundle) checks the lanes: a
 * writer that died with uncommitted lane events, a forged fork at a lane position, a checkpoint
 * moving a lane backwards, an edited lane event, a bundle with a lane file missing, extra or
 * listed twice.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { openCaseCustody } from '../../src/custody/case-custody.js';
import { canonicalBytes } from '../../src/custody/canonical.js';
import { eventHash, type CustodyEvent } from '../../src/custody/event.js';
import { exportBundle, verifyBundle } from '../../src/custody/bundle.js';
import { readCaseLog } from '../../src/custody/log.js';
import { BUCKET, codes } from './fake-vault.js';
import { CASE, entry, laneVault as vault } from './lane-vault.js';
import { resum } from './tamper.js';

/** Sixteen lane writers, each recording `n` events (all at once: one group commit each), then a custodian's seal. */
async function sixteenWriters(w: ReturnType<typeof vault>, n = 3) {
  const writers = await Promise.all(Array.from({ length: 16 }, (_, i) => w.open(`exec-step${i}`)));
  const acked = (
    await Promise.all(
      writers.map((c, i) => Promise.all(Array.from({ length: n }, (_, j) => c.record(entry(`u:${i}:${j}`))))),
    )
  ).flat();
  return { writers, acked };
}

t.test(
  'sixteen lane writers: no contention, one PUT per batch, a seal commits every lane, verify is green',
  async (t) => {
    const w = vault();
    const { acked } = await sixteenWriters(w);
    t.equal(acked.length, 48, 'every append acknowledged');
    t.equal(w.puts.length, 16, 'one lane object per writer: the three appends of each went into one PUT');
    t.ok(
      acked.every((e) => e.lane?.startsWith('exec-step')),
      'each event names its lane',
    );
    t.equal(
      codes(await w.verify()).filter((c) => c === 'LANE_UNCOMMITTED').length,
      16,
      'before a seal: every lane uncommitted',
    );
    const custodian = await w.open();
    t.ok(custodian.dirty, 'uncommitted lanes make the record need a seal');
    await custodian.sealManifest();
    const r = await w.verify();
    t.same(codes(r), [], 'custody verify: green');
    t.equal(r.events, 1, 'the main chain holds the one checkpoint');
    const order = custodian.events();
    t.equal(order.length, 49, 'the total order: 48 lane events, then the checkpoint');
    t.equal(order.at(-1)!.action, 'custody.checkpoint');
    t.same(
      new Set(order.slice(0, -1).map((e) => e.idempotencyKey)),
      new Set(acked.map((e) => e.idempotencyKey)),
      'every acknowledged event is in the record, once',
    );
    const log = await readCaseLog(w.v.account, { caseId: CASE, bucket: BUCKET });
    t.equal(log.events.length, 49, 'custody log reads the same total order');
    t.equal(log.events.at(-1)!.action, 'custody.checkpoint');
    t.ok(log.events[0]!.lane, 'lane events come before the checkpoint that commits them');
    const again = await w.open('exec-step0');
    t.equal(
      again.find('u:0:0')?.hash,
      acked[0]!.hash,
      'a later writer finds a committed lane event by its idempotency key',
    );
  },
);

t.test(
  'a writer dies with uncommitted lane events: LANE_UNCOMMITTED (exit 3); custody seal commits them',
  async (t) => {
    const w = vault();
    const main = await w.open();
    await main.record(entry('main:1'));
    await main.sealManifest();
    const lane = await w.open('dies');
    await lane.record(entry('lost:1'));
    await lane.record(entry('lost:2'));
    // …and the writer dies here, without sealing.
    const before = await w.verify();
    t.notOk(before.ok);
    t.ok(codes(before).includes('LANE_UNCOMMITTED'), `named: ${codes(before).join(', ')}`);
    const custodian = await w.open();
    await custodian.sealManifest();
    const after = await w.verify();
    t.same(codes(after), [], 'green after the seal');
    t.same(
      custodian.events().map((e) => e.idempotencyKey ?? e.action),
      ['main:1', 'lost:1', 'lost:2', 'custody.checkpoint'],
      'the swept lane events sit right before the checkpoint',
    );
  },
);

t.test('a lane writer on a case with a main chain anchors on its head, seals, and keeps writing', async (t) => {
  const w = vault();
  const main = await w.open();
  await main.record(entry('main:1'));
  const first = await main.record(entry('main:2'));
  await main.sealManifest();
  const lane = await w.open('late');
  const ev = await lane.record(entry('lane:1'));
  t.equal(ev.prevHash, first.hash, "the lane's first event links to the main head its writer saw");
  await lane.sealManifest();
  t.same(codes(await w.verify()), [], 'green');
  await lane.record(entry('lane:2'));
  await lane.sealManifest();
  t.same(codes(await w.verify()), [], 'a second checkpoint moves the lane forward: green');
  t.same(
    lane.events().map((e) => e.idempotencyKey ?? e.action),
    ['main:1', 'main:2', 'lane:1', 'custody.checkpoint', 'lane:2', 'custody.checkpoint'],
  );
});

t.test(
  'a named lane ({ id }): a retried step continues the lane of its dead attempt; a concurrent twin cannot fork it',
  async (t) => {
    const w = vault();
    const openExact = (id: string) =>
      openCaseCustody(w.account, { caseId: CASE, bucket: BUCKET, audit: w.audit, lane: { id } });
    const first = await openExact('run-1.acquire.0123456789ab');
    await first.record(entry('step:1'));
    await first.record(entry('step:2'));
    // …the invocation dies here; the state machine invokes the step again.
    const retry = await openExact('run-1.acquire.0123456789ab');
    const twin = await openExact('run-1.acquire.0123456789ab'); // a duplicate invocation, opened at the same head
    t.ok(retry.find('step:1'), "the retry finds the dead attempt's events by idempotency key");
    t.equal((await retry.record(entry('step:1'))).seq, 1, 'recording them again returns the recorded event');
    const third = await retry.record(entry('step:3'));
    t.same([third.lane, third.seq], ['run-1.acquire.0123456789ab', 3], 'the retry continues the lane at its head');
    const lost = await twin.record(entry('twin:3')).catch((e: { code?: string }) => e);
    t.equal((lost as { code?: string }).code, 'CUSTODY_CONTENTION', 'the twin finds the position taken and fails');
    t.same(w.laneKeys().length, 3, 'three lane objects (one per awaited append), no fork');
    await retry.sealManifest();
    t.same(codes(await w.verify()), [], 'green after the seal');
    t.same(
      retry.events().map((e) => e.idempotencyKey ?? e.action),
      ['step:1', 'step:2', 'step:3', 'custody.checkpoint'],
    );
    await t.rejects(openExact('no spaces allowed'), { code: 'CUSTODY_EVENT_INVALID' });
  },
);

t.test(
  'a checkpoint names lanes in the order their writers ran (first uncommitted event time), not by id',
  async (t) => {
    const w = vault();
    let clock = Date.parse('2026-12-05T12:00:00Z');
    const at = (lane: string) =>
      openCaseCustody(w.account, {
        caseId: CASE,
        bucket: BUCKET,
        audit: w.audit,
        lane: { id: lane },
        now: () => new Date(clock),
      });
    const resolve = await at('run-1.zz-resolve.000000000001');
    await resolve.record(entry('start'));
    clock += 1000;
    const isolate = await at('run-1.mm-isolate.000000000002');
    await isolate.record(entry('isolated'));
    clock += 1000;
    const attach = await at('run-1.aa-attach.000000000003');
    await attach.record(entry('attached'));
    await attach.sealManifest();
    t.same(codes(await w.verify()), [], 'green');
    t.same(
      attach.events().map((e) => e.idempotencyKey ?? e.action),
      ['start', 'isolated', 'attached', 'custody.checkpoint'],
      'the record keeps the order the steps ran in',
    );
    const log = await readCaseLog(w.v.account, { caseId: CASE, bucket: BUCKET });
    t.same(
      log.events.map((e) => (e.action === 'custody.checkpoint' ? 'checkpoint' : e.lane?.split('.')[1])),
      ['zz-resolve', 'mm-isolate', 'aa-attach', 'checkpoint'],
      'custody log reads the same order',
    );
  },
);

t.test('a forged second version at a lane position is a fork: EXTRA_VERSION', async (t) => {
  const w = vault();
  const c = await w.open('w');
  await c.record(entry('a'));
  await c.sealManifest();
  const [key] = w.laneKeys();
  w.v.bucket.put(key!, w.v.bucket.objects.get(key!)!.at(-1)!.body!);
  const r = await w.verify();
  t.notOk(r.ok);
  t.ok(codes(r).includes('EXTRA_VERSION'), codes(r).join(', '));
});

t.test('a checkpoint moving a lane backwards, or naming a head not in the record, fails verify', async (t) => {
  const w = vault();
  const c = await w.open('w');
  const evs = await Promise.all([c.record(entry('a')), c.record(entry('b'))]);
  await c.sealManifest();
  const forger = await w.open();
  const lane = evs[0]!.lane!;
  await forger.record({
    action: 'custody.checkpoint',
    resources: [],
    outcome: { status: 'succeeded', details: { lanes: [{ lane, seq: 1, hash: evs[0]!.hash }] } },
  });
  const r = await w.verify();
  t.notOk(r.ok);
  t.ok(codes(r).includes('CHECKPOINT_INVALID@2'), codes(r).join(', '));

  const w2 = vault();
  const m = await w2.open();
  await m.record({
    action: 'custody.checkpoint',
    resources: [],
    outcome: { status: 'succeeded', details: { lanes: [{ lane: 'ghost', seq: 1, hash: 'a'.repeat(64) }] } },
  });
  await m.sealManifest();
  t.ok(codes(await w2.verify()).includes('CHECKPOINT_INVALID@1'), 'a head that is not in the record');
});

t.test('an edited lane event fails verify (its hash, the checkpoint naming it)', async (t) => {
  const w = vault();
  const c = await w.open('w');
  await Promise.all([c.record(entry('a')), c.record(entry('b'))]);
  await c.sealManifest();
  const [key] = w.laneKeys();
  const stored = w.v.bucket.objects.get(key!)!.at(-1)!;
  const events = JSON.parse(stored.body!.toString('utf8')) as CustodyEvent[];
  events[0]!.outcome = { status: 'failed' };
  stored.body = canonicalBytes(events);
  const r = await w.verify();
  t.notOk(r.ok);
  t.ok(codes(r).includes('HASH_MISMATCH'), codes(r).join(', '));
  // Re-hashed, it no longer links, and the checkpoint's head is another event.
  events[0]!.hash = eventHash(events[0]!);
  stored.body = canonicalBytes(events);
  const r2 = await w.verify();
  t.ok(codes(r2).includes('CHAIN_LINK_MISMATCH'), codes(r2).join(', '));
});

t.test(
  'the export carries lanes/ and verifies offline; a lane file missing, extra or listed twice fails',
  async (t) => {
    const w = vault();
    await sixteenWriters(w, 2);
    await (await w.open()).sealManifest();
    const base = t.testdir();
    const outDir = path.join(base, 'bundle');
    await exportBundle(w.v.account, { caseId: CASE, bucket: BUCKET, out: outDir });
    const ok = await verifyBundle(outDir);
    t.same(
      codes(ok).filter((c) => c !== 'KEY_NOT_TRUSTED'),
      [],
      'the bundle verifies',
    );
    const sums = fs.readFileSync(path.join(outDir, 'SHA256SUMS'), 'utf8').split('\n');
    t.ok(sums[0]!.includes('  lanes/'), 'lane objects are listed first');
    const laneLine = sums.find((l) => l.includes('  lanes/'))!;
    const laneRel = laneLine.slice(66);
    const copy = (name: string) => {
      const d = path.join(base, name);
      fs.cpSync(outDir, d, { recursive: true });
      return d;
    };
    const missing = copy('missing');
    fs.rmSync(path.join(missing, laneRel));
    t.ok(codes(await verifyBundle(missing)).includes('BUNDLE_INCOMPLETE'), 'a lane file missing');
    const extra = copy('extra');
    fs.writeFileSync(path.join(extra, path.dirname(laneRel), '0000000009.json'), '[]');
    t.ok(codes(await verifyBundle(extra)).includes('BUNDLE_INCOMPLETE'), 'a lane file not listed');
    const twice = copy('twice');
    const lines = fs.readFileSync(path.join(twice, 'SHA256SUMS'), 'utf8').split('\n');
    lines.splice(1, 0, laneLine);
    fs.writeFileSync(path.join(twice, 'SHA256SUMS'), lines.join('\n'));
    t.ok(codes(await verifyBundle(twice)).includes('SEQUENCE_DUPLICATE'), 'a lane file listed twice');
    const unlisted = copy('unlisted');
    fs.writeFileSync(
      path.join(unlisted, 'SHA256SUMS'),
      fs
        .readFileSync(path.join(unlisted, 'SHA256SUMS'), 'utf8')
        .split('\n')
        .filter((l) => l !== laneLine)
        .join('\n'),
    );
    resum(unlisted);
    const r = await verifyBundle(unlisted);
    t.notOk(r.ok, `a lane dropped from SHA256SUMS: ${codes(r).join(', ')}`);
  },
);
