/**
 * The flat SHA-256 off the event loop (src/evidence/hash-pool.ts): the worker pool gives the digest
 * the calling thread gives on the same bytes (zero runs across chunk boundaries, sessions
 * interleaved on one thread), asks the reader to wait when a session's bytes pile up, skips a
 * cancelled session's queued work, and turns a thread that fails into HASH_WORKER_FAILED, then
 * replaces it.
 */
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import {
  IN_FLIGHT_BYTES,
  WORKER_SOURCE,
  WorkerSha256Pool,
  ZERO_CHUNK,
  inThreadSha256,
  type Sha256Pool,
} from '../../src/evidence/hash-pool.js';
import { CleanroomError } from '../../src/domain/errors.js';

type Feed = Array<Buffer | number>;

async function digestOf(pool: Sha256Pool, feed: Feed): Promise<string> {
  const s = pool.open();
  for (const f of feed) await (typeof f === 'number' ? s.zeros(f) : s.update(f));
  return s.digest();
}

function reference(feed: Feed): string {
  const h = createHash('sha256');
  for (const f of feed) h.update(typeof f === 'number' ? Buffer.alloc(f) : f);
  return h.digest('hex');
}

t.test(
  'the worker pool and the calling thread give the same SHA-256 on the same bytes, zero runs included',
  async (t) => {
    const pool = new WorkerSha256Pool({ threads: 2 });
    t.teardown(() => pool.close());
    const feeds: Record<string, Feed> = {
      nothing: [],
      'one block': [randomBytes(512 * 1024)],
      'zeros only, across chunk boundaries': [ZERO_CHUNK + 12345],
      'data, a zero run, data (a sparse disk)': [
        randomBytes(1000),
        3 * 2 ** 20 + 7,
        randomBytes(77),
        5,
        randomBytes(1),
      ],
    };
    for (const [name, feed] of Object.entries(feeds)) {
      const want = reference(feed);
      t.equal(await digestOf(pool, feed), want, `${name}: worker pool`);
      t.equal(await digestOf(inThreadSha256, feed), want, `${name}: in thread`);
    }
  },
);

t.test(
  'sessions interleaved on one thread keep their own state; the caller may reuse its buffer at once',
  async (t) => {
    const pool = new WorkerSha256Pool({ threads: 1 });
    t.teardown(() => pool.close());
    const a = pool.open();
    const b = pool.open();
    const buf = Buffer.from('first');
    a.update(buf);
    buf.write('XXXXX'); // reused after update: the session hashed what it was given
    b.zeros(10);
    a.zeros(3);
    b.update(Buffer.from('second'));
    const [da, db] = await Promise.all([a.digest(), b.digest()]);
    t.equal(da, reference([Buffer.from('first'), 3]));
    t.equal(db, reference([10, Buffer.from('second')]));
  },
);

t.test('update asks the reader to wait once a session has more than IN_FLIGHT_BYTES queued', async (t) => {
  const pool = new WorkerSha256Pool({ threads: 1 });
  t.teardown(() => pool.close());
  const s = pool.open();
  const block = Buffer.alloc(512 * 1024, 1);
  let waited = 0;
  const feed: Buffer[] = [];
  for (let k = 0; k < (2 * IN_FLIGHT_BYTES) / block.length; k++) {
    feed.push(block);
    const w = s.update(block);
    if (w) {
      waited += 1;
      await w;
    }
  }
  t.ok(waited > 0, 'the reader was told to wait');
  t.equal(await s.digest(), reference(feed));
});

t.test('a cancelled session: the thread skips its queued work and serves the next session', async (t) => {
  const pool = new WorkerSha256Pool({ threads: 1 });
  t.teardown(() => pool.close());
  const big = pool.open();
  const total = 64 * 2 ** 30; // ~40 s of one core if it were hashed
  big.zeros(total);
  big.cancel();
  t.throws(() => big.update(Buffer.from('x')), /closed/, 'a cancelled session takes no more bytes');
  t.equal(await digestOf(pool, [Buffer.from('after')]), reference([Buffer.from('after')]));
  t.ok(pool.bytesHashed < total / 8, `hashed ${pool.bytesHashed} of the ${total} bytes queued before the cancel`);
});

t.test(
  'a thread that fails fails its sessions with HASH_WORKER_FAILED; the next session gets a new thread',
  async (t) => {
    // A thread whose program throws on a run of zeros (an uncaught error in the thread).
    const pool = new WorkerSha256Pool({
      threads: 1,
      source: WORKER_SOURCE.replace("case 'zeros':", "case 'zeros': throw new Error('boom in the thread');"),
    });
    t.teardown(() => pool.close());
    const s = pool.open();
    s.update(Buffer.from('a'));
    s.zeros(5);
    const err = await s.digest().then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof CleanroomError, 'a project error');
    t.equal((err as CleanroomError).code, 'HASH_WORKER_FAILED');
    t.match((err as CleanroomError).message, /boom in the thread/);
    t.throws(
      () => s.update(Buffer.from('b')),
      { code: 'HASH_WORKER_FAILED' },
      'the failed session takes no more bytes',
    );
    t.equal(await digestOf(pool, [Buffer.from('fine')]), reference([Buffer.from('fine')]), 'a new thread serves');
  },
);
