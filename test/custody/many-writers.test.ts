/**
 * Many writers on one case's record (issue 14 groundwork), on a fake vault whose conditional PUT
 * is atomic as S3's is and whose PUTs the test can hold and release: two writers claiming the same
 * sequence number (one wins, the other backs off, catches up and lands after it), a shared unit of
 * work recorded once, writers that die between the steps of an append, and sixteen writers in a
 * random interleaving — each ending with `custody verify` of the stored record.
 */
import t from 'tap';
import { openCaseCustody, appendBackoffMs, type CaseCustody } from '../../src/custody/case-custody.js';
import { eventKey } from '../../src/custody/event.js';
import { verifyCaseInVault } from '../../src/custody/verify-vault.js';
import type { AwsAccount } from '../../src/aws/ports.js';
import type { CleanroomError } from '../../src/domain/errors.js';
import { awsError } from '../fakes/ports.js';
import { BUCKET, codes, fakeVault } from './fake-vault.js';
import { CASE, conditionalPut, entry, readyAudit } from './lane-vault.js';

/** A vault with no events yet, and writers on it whose PUTs pass through `gate` first. */
function vaultForWriters() {
  const v = fakeVault(CASE, 0);
  const audit = readyAudit(v);
  /** Called before each PUT lands (writer name, key); may wait. */
  let gate: (who: string, key: string) => Promise<void> = async () => undefined;
  /** After a PUT landed: throw here to lose its answer (the writer sees an error, the object is stored). */
  let afterPut: (who: string, key: string) => void = () => undefined;
  const waits: Array<{ who: string; ms: number }> = [];
  const writer = (who: string, random: () => number = () => 0.5): Promise<CaseCustody> => {
    const account = {
      ...v.account,
      callerArn: async () => `arn:aws:sts::123456789012:assumed-role/Responder/${who}`,
      s3: {
        ...v.bucket.s3,
        putObject: conditionalPut(v, { before: (key) => gate(who, key), after: (key) => afterPut(who, key) }),
      },
    } as unknown as AwsAccount;
    return openCaseCustody(account, {
      caseId: CASE,
      bucket: BUCKET,
      audit,
      sleep: async (ms) => {
        waits.push({ who, ms });
      },
      random,
    });
  };
  const verify = async () => {
    const sealer = await writer('custodian');
    await sealer.sealManifest();
    return verifyCaseInVault(v.account, { caseId: 'IR-9', bucket: BUCKET });
  };
  return {
    v,
    writer,
    waits,
    verify,
    setGate: (g: typeof gate) => (gate = g),
    setAfterPut: (f: typeof afterPut) => (afterPut = f),
  };
}

/** A gate holding every PUT of `key` until `n` writers are waiting at it, then letting them through in `order`. */
function barrier(key: string, order: string[]) {
  const waiting = new Map<string, () => void>();
  return async (who: string, k: string) => {
    if (k !== key || !order.includes(who)) return;
    await new Promise<void>((resolve) => {
      waiting.set(who, resolve);
      if (waiting.size === order.length) {
        // Release in order, each after the previous one's PUT has run.
        let p = Promise.resolve();
        for (const w of order) p = p.then(() => waiting.get(w)!()).then(() => new Promise((r) => setImmediate(r)));
      }
    });
  };
}

t.test('two writers claim the same sequence number: one wins, the other catches up and lands after it', async (t) => {
  const w = vaultForWriters();
  const a = await w.writer('a');
  const b = await w.writer('b');
  w.setGate(barrier(eventKey('IR-9', 1), ['a', 'b']));
  const [ea, eb] = await Promise.all([a.record(entry('unit:a')), b.record(entry('unit:b'))]);
  t.equal(ea.seq, 1, 'a won number 1');
  t.equal(eb.seq, 2, 'b lost it, and landed at number 2');
  t.equal(eb.prevHash, ea.hash, "b's event links onto a's");
  t.same(w.waits, [{ who: 'b', ms: appendBackoffMs(0, () => 0.5) }], 'b backed off once, a never');
  t.same(
    [...w.v.bucket.objects.entries()]
      .filter(([k]) => k.includes('/custody/'))
      .map(([k, vs]) => [k.slice(-15), vs.length]),
    [
      ['0000000001.json', 1],
      ['0000000002.json', 1],
    ],
    'one version per number: no fork',
  );
  t.equal(b.events().length, 2, "b's view holds a's event too");
  const r = await w.verify();
  t.equal(r.ok, true, JSON.stringify(codes(r)));
  t.equal(r.events, 2);
});

t.test('both writers record the same unit of work at once: one event, both get it', async (t) => {
  const w = vaultForWriters();
  const a = await w.writer('a');
  const b = await w.writer('b');
  w.setGate(barrier(eventKey('IR-9', 1), ['a', 'b']));
  const [ea, eb] = await Promise.all([a.record(entry('unit:shared')), b.record(entry('unit:shared'))]);
  t.equal(ea.hash, eb.hash, 'b found the event a wrote for the same key and appended nothing');
  t.equal(w.v.bucket.objects.has(eventKey('IR-9', 2)), false);
  t.equal((await w.verify()).ok, true);
});

t.test(
  'a writer dies between the steps of an append: the record verifies, a rerun appends nothing twice',
  async (t) => {
    const w = vaultForWriters();
    const a = await w.writer('a');
    await a.record(entry('unit:1'));

    // 1. Its PUT landed but the answer was lost (the process died before it could acknowledge).
    const dying = await w.writer('dying');
    w.setAfterPut((who) => {
      if (who === 'dying') throw awsError('s3', 'putObject', 'RequestTimeout', 'socket hang up', 500);
    });
    const lost = await dying.record(entry('unit:2')).catch((e: CleanroomError) => e);
    t.ok(lost instanceof Error, 'the append was not acknowledged');
    w.setAfterPut(() => undefined);
    t.equal((await w.verify()).ok, true, 'the stored event is a valid link: the record verifies');
    const rerun = await w.writer('dying-rerun');
    const again = await rerun.record(entry('unit:2'));
    t.equal(again.seq, 2, 'the rerun finds the event of its unit of work');
    t.equal(w.v.bucket.objects.has(eventKey('IR-9', 3)), false, 'and appends nothing');

    // 2. It lost a race and died while catching up: nothing of its event is stored, nothing was acknowledged.
    const b = await w.writer('b');
    const c = await w.writer('c');
    w.setGate(barrier(eventKey('IR-9', 3), ['b', 'c']));
    w.v.bucket.faults.set('getObject', (i) =>
      (i as { Key?: string }).Key === eventKey('IR-9', 3)
        ? awsError('s3', 'getObject', 'InternalError', 'died', 500)
        : undefined,
    );
    const [eb, ec] = await Promise.allSettled([b.record(entry('unit:b')), c.record(entry('unit:c'))]);
    t.equal(eb.status, 'fulfilled');
    t.equal(ec.status, 'rejected', 'c was never acknowledged');
    w.v.bucket.faults.set('getObject', () => undefined);
    const r = await w.verify();
    t.equal(r.ok, true, JSON.stringify(codes(r)));
    t.equal(r.events, 3, 'every acknowledged event, nothing else');
  },
);

t.test('sixteen writers in a random interleaving: one chain, every acknowledged event in it once', async (t) => {
  const w = vaultForWriters();
  // A seeded generator: the interleaving is random but the same on every run.
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const writers = await Promise.all(Array.from({ length: 16 }, (_, i) => w.writer(`w${i}`, rnd)));
  w.setGate(async () => {
    for (let i = Math.floor(rnd() * 4); i > 0; i--) await new Promise((r) => setImmediate(r));
  });
  const acked = (
    await Promise.all(
      writers.map(async (c, i) => {
        const got = [];
        for (let n = 0; n < 5; n++) got.push(await c.record(entry(`unit:${i}:${n}`)));
        return got;
      }),
    )
  ).flat();
  t.equal(acked.length, 80);
  t.equal(new Set(acked.map((e) => e.seq)).size, 80, 'no two acknowledgements share a number');
  t.ok(w.waits.length > 0, 'writers did collide and back off');
  // A writer that finished while others still appended seals the newest head, not its own last.
  const sealed = await writers[0]!.sealManifest();
  t.equal(sealed.head.seq, 80, 'its seal covers every event');
  const r = await w.verify();
  t.equal(r.ok, true, JSON.stringify(codes(r)));
  t.equal(r.events, 80);
  const custodian = await w.writer('reader');
  for (const e of acked) t.equal(custodian.find(e.idempotencyKey!)?.hash, e.hash);
  const versions = [...w.v.bucket.objects.entries()].filter(([k]) => k.includes('/custody/'));
  t.ok(
    versions.every(([, vs]) => vs.length === 1),
    'one version per number: no fork',
  );
});

t.test('the back-off grows with the races lost, up to its cap, and is random below it', async (t) => {
  t.equal(
    appendBackoffMs(0, () => 0.999),
    19,
  );
  t.equal(
    appendBackoffMs(3, () => 0.5),
    80,
  );
  t.equal(
    appendBackoffMs(40, () => 0.999),
    1998,
  );
  t.equal(
    appendBackoffMs(40, () => 0),
    0,
  );
});
