/**
 * The one batched status poll: many snapshots read with one DescribeSnapshots per poll, each
 * waiter settled on its own (done, error, gone, its own budget), transient read errors ridden out,
 * and new work polled soon even while the loop sleeps a long backoff. A hand-driven clock: time
 * moves only when the test says so.
 */
import t from 'tap';
import type { AwsAccount, Ec2Port } from '../../src/aws/ports.js';
import type { SnapshotState } from '@aws-sdk/client-ec2';
import type { FakePort } from '../fakes/ports.js';
import { AwsError, type CleanroomError, TimeoutError } from '../../src/domain/errors.js';
import { silentReporter } from '../../src/domain/reporter.js';
import type { Clock } from '../../src/domain/waiter.js';
import { ResourceWatcher } from '../../src/evidence/watch.js';
import { abortableClock, isInterrupted } from '../../src/domain/abort.js';

class HandClock implements Clock {
  t = 0;
  private timers: Array<{ at: number; resolve: () => void }> = [];
  now = () => this.t;
  sleep = (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      const timer = { at: this.t + ms, resolve };
      this.timers.push(timer);
      signal?.addEventListener('abort', () => {
        this.timers = this.timers.filter((x) => x !== timer);
        reject(signal.reason);
      });
    });
  /** Move time on, firing due timers, and let the promises run. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      const next = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.t = next.at;
      this.timers = this.timers.filter((x) => x !== next);
      next.resolve();
    }
    this.t = end;
    await settle();
  }
}
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

function account(states: Map<string, SnapshotState>, opts: { fail?: () => Error | undefined } = {}) {
  const calls: string[][] = [];
  const fake: Pick<AwsAccount, 'region'> & { ec2: FakePort<Pick<Ec2Port, 'describeSnapshots'>> } = {
    region: 'us-east-1',
    ec2: {
      async describeSnapshots(i) {
        const ids = i.Filters?.[0]?.Values ?? [];
        calls.push(ids);
        const e = opts.fail?.();
        if (e) throw e;
        return {
          Snapshots: ids
            .filter((id) => states.has(id))
            .map((id) => ({
              SnapshotId: id,
              State: states.get(id),
              Progress: states.get(id) === 'completed' ? '100%' : '12%',
            })),
        };
      },
    },
  };
  // The watcher takes a whole account; it polls DescribeSnapshots only.
  const a = fake as unknown as AwsAccount;
  return { a, calls };
}

t.test('one describe call per poll for every pending snapshot; each settles on its own', async (t) => {
  const clock = new HandClock();
  const states = new Map<string, SnapshotState>([
    ['snap-a', 'pending'],
    ['snap-b', 'pending'],
    ['snap-c', 'pending'],
  ]);
  const { a, calls } = account(states);
  const w = new ResourceWatcher(clock, silentReporter, { intervalMs: 1000, maxIntervalMs: 8000, debounceMs: 100 });
  const settled: Record<string, string> = {};
  for (const id of ['snap-a', 'snap-b', 'snap-c']) {
    w.snapshotCompleted(a, id, { item: `ev-${id}`, phase: 'source snapshot', budgetMs: 600_000 }).then(
      () => (settled[id] = 'done'),
      (e) => (settled[id] = (e as CleanroomError).code),
    );
  }
  await clock.advance(100);
  t.same(calls, [['snap-a', 'snap-b', 'snap-c']], 'one call for all three');
  states.set('snap-a', 'completed');
  states.set('snap-b', 'error');
  await clock.advance(1000);
  t.same(settled, { 'snap-a': 'done', 'snap-b': 'SNAPSHOT_ERROR' });
  t.same(calls.at(-1), ['snap-a', 'snap-b', 'snap-c']);
  states.delete('snap-c');
  await clock.advance(200_000);
  t.equal(settled['snap-c'], 'SNAPSHOT_GONE', 'a snapshot that disappears fails after the grace period');
  t.ok(calls.every((c) => c.length <= 3));
});

t.test('each waiter has its own budget; transient read errors are ridden out, others fail at once', async (t) => {
  const clock = new HandClock();
  const states = new Map<string, SnapshotState>([
    ['snap-x', 'pending'],
    ['snap-y', 'pending'],
  ]);
  let throttle = 3;
  const { a } = account(states, {
    fail: () =>
      throttle-- > 0
        ? new AwsError('ec2', 'describeSnapshots', 'RequestLimitExceeded', 'Request limit exceeded.')
        : undefined,
  });
  const w = new ResourceWatcher(clock, silentReporter, { intervalMs: 1000, maxIntervalMs: 4000, debounceMs: 100 });
  const x = w
    .snapshotCompleted(a, 'snap-x', { item: 'ev-x', phase: 'forensic copy', budgetMs: 10_000 })
    .catch((e) => e);
  const y = w
    .snapshotCompleted(a, 'snap-y', { item: 'ev-y', phase: 'forensic copy', budgetMs: 60_000 })
    .then(() => 'done');
  await clock.advance(15_000);
  const ex = await x;
  t.ok(ex instanceof TimeoutError);
  t.match(
    ex.message,
    /Gave up waiting for the forensic copy snap-x of ev-x after \d+s \(budget 10s\); last state: pending 12%/,
  );
  states.set('snap-y', 'completed');
  await clock.advance(5000);
  t.equal(await y, 'done', 'the other waiter lives on its own budget');

  const denied = account(new Map([['snap-z', 'pending']]), {
    fail: () =>
      new AwsError('ec2', 'describeSnapshots', 'UnauthorizedOperation', 'Access denied for ec2 describeSnapshots'),
  });
  const z = w
    .snapshotCompleted(denied.a, 'snap-z', { item: 'ev-z', phase: 'source snapshot', budgetMs: 60_000 })
    .catch((e) => e);
  await clock.advance(200);
  t.match((await z).message, /Access denied/, 'access denied fails at once');
});

t.test('new work is polled soon even while the loop sleeps a long backoff', async (t) => {
  const clock = new HandClock();
  const states = new Map<string, SnapshotState>([['snap-old', 'pending']]);
  const { a, calls } = account(states);
  const w = new ResourceWatcher(clock, silentReporter, { intervalMs: 1000, maxIntervalMs: 60_000, debounceMs: 100 });
  void w
    .snapshotCompleted(a, 'snap-old', { item: 'ev-old', phase: 'source snapshot', budgetMs: 3_600_000 })
    .catch(() => undefined);
  await clock.advance(20_000); // the backoff grows: 1, 1.5, 2.25, 3.4, 5.1, 7.6 s …
  const before = calls.length;
  states.set('snap-new', 'completed');
  let done = false;
  void w
    .snapshotCompleted(a, 'snap-new', { item: 'ev-new', phase: 'source snapshot', budgetMs: 60_000 })
    .then(() => (done = true));
  await clock.advance(150);
  t.equal(calls.length, before + 1, 'polled once, right after the debounce');
  t.same(calls.at(-1), ['snap-old', 'snap-new'], 'together with the old one');
  t.equal(done, true);
});

t.test(
  'a workflow stopped by its signal: every waiter is rejected INTERRUPTED, and the loop stops polling',
  async (t) => {
    const clock = new HandClock();
    const stop = new AbortController();
    const states = new Map<string, SnapshotState>([
      ['snap-s', 'pending'],
      ['snap-t', 'pending'],
    ]);
    const { a, calls } = account(states);
    const w = new ResourceWatcher(abortableClock(clock, stop.signal), silentReporter, {
      intervalMs: 1000,
      maxIntervalMs: 8000,
      debounceMs: 100,
    });
    const s = w
      .snapshotCompleted(a, 'snap-s', { item: 'ev-s', phase: 'source snapshot', budgetMs: 600_000 })
      .catch((e) => e);
    await clock.advance(100);
    t.equal(calls.length, 1, 'polled once');
    stop.abort(new Error('stop'));
    const e = await s;
    t.ok(isInterrupted(e), `rejected INTERRUPTED (${(e as Error).message})`);
    // Work registered after the stop is refused at once instead of restarting the loop.
    const late = await w
      .snapshotCompleted(a, 'snap-t', { item: 'ev-t', phase: 'source snapshot', budgetMs: 600_000 })
      .catch((x) => x);
    t.ok(isInterrupted(late), 'later work is refused too');
    await clock.advance(60_000);
    t.equal(calls.length, 1, 'no poll after the stop');
  },
);
