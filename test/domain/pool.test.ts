import t from 'tap';
import { mapPool, TokenBucket } from '../../src/domain/pool.js';

t.test('mapPool bounds concurrency, keeps order, and collects failures without stopping', async (t) => {
  let inFlight = 0;
  let peak = 0;
  let settled = 0;
  const gates: Array<() => void> = [];
  const run = mapPool([1, 2, 3, 4, 5, 6], 2, async (n) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise<void>((r) => gates.push(r));
    inFlight--;
    settled++;
    if (n === 3) throw new Error('item 3 broke');
    return n * 10;
  });
  // Release the gates one by one as workers arrive (no timers).
  while (settled < 6) {
    await new Promise((r) => setImmediate(r));
    gates.shift()?.();
  }
  const out = await run;
  t.equal(peak, 2);
  t.same(
    out.map((o) => o.item),
    [1, 2, 3, 4, 5, 6],
  );
  t.same(
    out.filter((o) => o.ok).map((o) => (o as { value: number }).value),
    [10, 20, 40, 50, 60],
  );
  const bad = out.find((o) => !o.ok) as { error: Error };
  t.equal(bad.error.message, 'item 3 broke');
});

t.test('mapPool refuses a nonsensical concurrency', async (t) => {
  await t.rejects(
    mapPool([1], 0, async () => 1),
    RangeError,
  );
});

t.test('TokenBucket allows a burst, then paces to the refill rate', async (t) => {
  let now = 0;
  const sleeps: number[] = [];
  const b = new TokenBucket(
    3,
    5,
    () => now,
    async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
  );
  for (let i = 0; i < 3; i++) await b.take();
  t.same(sleeps, [], 'burst of 3 without waiting');
  await b.take();
  await b.take();
  t.same(sleeps, [200, 200], '5 per second after the burst');
});
