/**
 * Hand-off waits (domain/hand-off.ts, domain/waiter.ts): with a hand-off clock, a wait whose poll is
 * pending throws WaitHandedOffError (what it waits for, when to come back) instead of sleeping; a
 * wait that is done needs no sleep and returns; a confirmation (successesInARow) still sleeps its
 * short in-process pause; the block mode is unchanged; the mode survives the abortable clock.
 */
import t from 'tap';
import { abortableClock } from '../../src/domain/abort.js';
import { WaitHandedOffError, checkWaitMode, combineHandOffs, isWaitHandedOff } from '../../src/domain/hand-off.js';
import { handOffClock, waitFor, type Clock, type PollResult } from '../../src/domain/waiter.js';

function fakeClock(): Clock & { slept: number[] } {
  let t0 = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => t0,
    sleep: async (ms) => {
      slept.push(ms);
      t0 += ms;
    },
  };
}

const seq = (...rs: PollResult<string>[]) => {
  let i = 0;
  return async () => rs[Math.min(i++, rs.length - 1)]!;
};

t.test('a pending poll hands off instead of sleeping, naming the wait and the steady poll pace', async (t) => {
  const c = fakeClock();
  const e = await waitFor(seq({ state: 'pending', detail: 'pending 42%' }), {
    description: 'snapshot snap-1 to complete',
    budgetMs: 600_000,
    maxIntervalMs: 30_000,
    clock: handOffClock(abortableClock(c, new AbortController().signal), 'hand-off'),
    details: { snapshotId: 'snap-1' },
  }).catch((x) => x);
  t.ok(isWaitHandedOff(e));
  t.equal(e.code, 'WAIT_HANDED_OFF');
  t.equal(e.waitingFor, 'snapshot snap-1 to complete (pending 42%)');
  t.equal(e.retryAfterSeconds, 30);
  t.match(e.details, { snapshotId: 'snap-1', retryAfterSeconds: 30 });
  t.same(c.slept, [], 'nothing slept');
});

t.test('done at once: no hand-off; a confirmation still sleeps its short pause in-process', async (t) => {
  const c = fakeClock();
  const clock = handOffClock(c, 'hand-off');
  t.equal(await waitFor(seq({ state: 'done', value: 'x' }), { description: 'd', budgetMs: 1000, clock }), 'x');
  const v = await waitFor(seq({ state: 'done', value: 'a' }, { state: 'done', value: 'b' }), {
    description: 'd',
    budgetMs: 10_000,
    successesInARow: 2,
    clock,
  });
  t.equal(v, 'b');
  t.ok(c.slept.length === 1 && c.slept[0]! <= 1000, 'one confirmation pause of at most 1 s');
  // A confirmation that flips back to pending hands off (the next call starts the count again).
  const e = await waitFor(seq({ state: 'done', value: 'a' }, { state: 'pending' }), {
    description: 'd',
    budgetMs: 10_000,
    successesInARow: 2,
    clock,
  }).catch((x) => x);
  t.ok(isWaitHandedOff(e));
});

t.test('block mode (the default) sleeps as before', async (t) => {
  const c = fakeClock();
  t.equal(handOffClock(c, undefined), c, 'the clock itself');
  t.equal(handOffClock(c, 'block'), c);
  const v = await waitFor(seq({ state: 'pending' }, { state: 'pending' }, { state: 'done', value: 'ok' }), {
    description: 'd',
    budgetMs: 60_000,
    intervalMs: 2000,
    clock: c,
  });
  t.equal(v, 'ok');
  t.same(c.slept, [2000, 3000]);
});

t.test('several hand-offs become one: every wait named, the soonest retry', async (t) => {
  const a = new WaitHandedOffError({ waitingFor: 'copy snap-a', retryAfterSeconds: 30 });
  const b = new WaitHandedOffError({ waitingFor: 'volume vol-b', retryAfterSeconds: 15 });
  const c = combineHandOffs([new Error('other'), a, b])!;
  t.equal(c.retryAfterSeconds, 15);
  t.equal(c.waitingFor, 'copy snap-a; volume vol-b');
  t.equal(combineHandOffs([a]), a);
  t.equal(combineHandOffs([new Error('x')]), undefined);
  t.equal(new WaitHandedOffError({ waitingFor: 'x', retryAfterSeconds: 0.2 }).retryAfterSeconds, 1);
  t.equal(checkWaitMode(undefined), 'block');
  t.throws(() => checkWaitMode('later'), { code: 'INVALID_VALUE' });
});

t.test(
  'an SSM command in the room is awaited in-process also in hand-off mode (its answer comes to this call only)',
  async (t) => {
    const { runGuestCommand } = await import('../../src/evidence/guest-command.js');
    const c = fakeClock();
    let polls = 0;
    let sent = 0;
    const forensic = {
      ssm: {
        sendCommand: async () => ((sent += 1), { Command: { CommandId: 'cmd-1' } }),
        getCommandInvocation: async () =>
          ++polls < 3 ? { Status: 'InProgress' } : { Status: 'Success', ResponseCode: 0, StandardOutputContent: 'ok' },
      },
    } as unknown as Parameters<typeof runGuestCommand>[0]['forensic'];
    const a = await runGuestCommand({ forensic, clock: handOffClock(c, 'hand-off') }, 'i-0123456789abcdef0', {
      command: 'true',
      comment: 'test',
      budgetMs: 60_000,
      what: 'the test tool',
    });
    t.match(a, { kind: 'answered', status: 'Success', stdout: 'ok' });
    t.equal(sent, 1, 'sent once');
    t.equal(c.slept.length, 2, 'the two pending polls slept in-process');
  },
);
