import t from 'tap';
import { waitFor, type Clock, type PollResult } from '../../src/domain/waiter.js';
import { TimeoutError, CleanroomError } from '../../src/domain/errors.js';

/** A clock whose sleep advances time instantly, recording each sleep. */
function fakeClock(): Clock & { slept: number[] } {
  let now = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  };
}

function script<T>(...results: PollResult<T>[]) {
  let i = 0;
  return async () => results[Math.min(i++, results.length - 1)]!;
}

t.test('returns the value once done, reporting pending progress', async (t) => {
  const clock = fakeClock();
  const seen: Array<[string | undefined, number | undefined]> = [];
  const v = await waitFor(
    script<string>(
      { state: 'pending', detail: 'pending', percent: 10 },
      { state: 'pending', percent: 60 },
      { state: 'done', value: 'ok' },
    ),
    {
      description: 'x',
      budgetMs: 60_000,
      intervalMs: 1000,
      clock,
      onPending: (d, p) => seen.push([d, p]),
    },
  );
  t.equal(v, 'ok');
  t.same(seen, [
    ['pending', 10],
    [undefined, 60],
  ]);
  t.same(clock.slept, [1000, 1500], 'backs off between polls');
});

t.test('fails fast on a failed poll, without waiting for the budget', async (t) => {
  const clock = fakeClock();
  const err = new CleanroomError('SNAPSHOT_ERROR', 'snapshot snap-1 is in state error');
  await t.rejects(
    waitFor(script<string>({ state: 'pending' }, { state: 'failed', error: err }), {
      description: 'x',
      budgetMs: 3_600_000,
      clock,
    }),
    err,
  );
  t.equal(clock.slept.length, 1);
});

t.test('throws a TimeoutError naming what it waited for and the last state', async (t) => {
  const clock = fakeClock();
  const e = await waitFor(script<string>({ state: 'pending', detail: 'UPDATE_IN_PROGRESS' }), {
    description: 'stack cleanroom-X',
    budgetMs: 10_000,
    intervalMs: 2000,
    clock,
  }).catch((x) => x);
  t.ok(e instanceof TimeoutError);
  t.match(e.message, /stack cleanroom-X.*UPDATE_IN_PROGRESS/);
  t.equal(e.exitCode, 1);
  t.ok(clock.now() <= 10_000 + 1, 'never sleeps past the budget');
});

t.test('needs several successes in a row when asked (eventual consistency)', async (t) => {
  const clock = fakeClock();
  let polls = 0;
  const v = await waitFor(
    async () => {
      polls++;
      return polls === 2 ? { state: 'pending' as const } : { state: 'done' as const, value: polls };
    },
    { description: 'x', budgetMs: 60_000, clock, successesInARow: 2 },
  );
  t.equal(v, 4, 'a done, a flip back to pending, then two in a row');
});
