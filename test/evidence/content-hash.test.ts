/**
 * The content hash of a snapshot on a hand-written EBS direct fake: the flat SHA-256 is that of the
 * whole raw image (zeros where no block is listed), the Merkle root is RFC 6962's tree over the
 * domain-separated leaves (checked against a straightforward recursive implementation written here,
 * independently of the incremental one), damaged and throttled blocks are retried and then named,
 * the read stays within its window, and an abort stops it at once.
 *
 * The fake reports VolumeSize as a fraction of a GiB (the field is a number) so that a disk of a
 * handful of small blocks fits a unit test: sizeBytes = VolumeSize × 2^30 stays exact.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import {
  CLEANROOM_VERSION,
  HASH_TOOL,
  hashSnapshot,
  merkleLeaf,
  merkleRootOf,
  type SnapshotReadAccount,
} from '../../src/evidence/content-hash.js';
import { CleanroomError } from '../../src/domain/errors.js';
import { WorkerSha256Pool, inThreadSha256 } from '../../src/evidence/hash-pool.js';
import type { Clock } from '../../src/domain/waiter.js';
import { awsError, out, sdkStream } from '../fakes/ports.js';

const BS = 64;
const GIB = 2 ** 30;
const sha = (b: Buffer) => createHash('sha256').update(b).digest();

interface FakeDisk {
  blocks: Map<number, Buffer>;
  /** Number of blocks of the disk (listed or not). */
  n: number;
  pageSize?: number;
  /** Called before each GetSnapshotBlock answers; may throw (a fault) or return a wrong checksum. */
  fault?: (index: number, nth: number) => Error | 'damage' | 'short' | undefined;
  /** Answers GetSnapshotBlock after this promise (a slow or hanging read). */
  gate?: (index: number) => Promise<void>;
  /** Tokens issued before this listing generation are refused as expired. */
  expireBefore?: () => number;
}

function fakeEbs(d: FakeDisk) {
  const stats = { gets: 0, lists: 0, inFlight: 0, maxInFlight: 0, perBlock: new Map<number, number>() };
  let generation = 0;
  const pageSize = d.pageSize ?? 1000;
  const ebs: SnapshotReadAccount['ebs'] = {
    async listSnapshotBlocks(input) {
      stats.lists += 1;
      generation += 1;
      const all = [...d.blocks.keys()].sort((a, b) => a - b);
      const start = input.NextToken ? Number(input.NextToken) : 0;
      const page = all.slice(start, start + pageSize);
      const next = start + pageSize < all.length ? String(start + pageSize) : undefined;
      return out({
        // Within a page in reverse, and BlockIndex as a string, as moto sends it: the reader sorts and normalises.
        Blocks: page
          .reverse()
          .map((i) => ({ BlockIndex: String(i) as unknown as number, BlockToken: `g${generation}:${i}` })),
        NextToken: next,
        BlockSize: BS,
        VolumeSize: (d.n * BS) / GIB,
      });
    },
    async getSnapshotBlock(input) {
      const i = input.BlockIndex!;
      stats.gets += 1;
      const nth = (stats.perBlock.get(i) ?? 0) + 1;
      stats.perBlock.set(i, nth);
      stats.inFlight += 1;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      try {
        if (d.gate) await d.gate(i);
        const gen = Number(/^g(\d+):/.exec(input.BlockToken ?? '')?.[1]);
        if (d.expireBefore && gen < d.expireBefore())
          throw awsError('ebs', 'getSnapshotBlock', 'ValidationException', 'The block token is not valid.');
        const f = d.fault?.(i, nth);
        if (f instanceof Error) throw f;
        const data = d.blocks.get(i)!;
        const body = f === 'short' ? data.subarray(0, BS - 1) : data;
        return out({
          BlockData: sdkStream(Readable.from([body.subarray(0, 7), body.subarray(7)])),
          Checksum: (f === 'damage' ? sha(Buffer.from('x')) : sha(data)).toString('base64'),
          ChecksumAlgorithm: 'SHA256',
          DataLength: BS,
        });
      } finally {
        stats.inFlight -= 1;
      }
    },
  };
  return { account: { ebs }, stats };
}

/** A disk of n blocks: some listed with data, one listed all-zero, the rest unlisted. */
function disk(n: number): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (let i = 0; i < n; i++) {
    if (i % 3 === 1) continue; // unlisted: zeros
    m.set(i, i === 3 ? Buffer.alloc(BS) : createHash('sha512').update(`block ${i}`).digest());
  }
  return m;
}

function image(blocks: Map<number, Buffer>, n: number): Buffer {
  const img = Buffer.alloc(n * BS);
  for (const [i, b] of blocks) b.copy(img, i * BS);
  return img;
}

/** RFC 6962 §2.1 MTH, recursively, with this project's leaf and node prefixes — written out independently. */
function referenceRoot(img: Buffer, n: number): Buffer {
  const leaf = (i: number) => {
    const idx = Buffer.alloc(8);
    idx.writeBigUInt64BE(BigInt(i));
    return sha(
      Buffer.concat([Buffer.from('cleanroom.evidence.block.v1\0'), idx, sha(img.subarray(i * BS, (i + 1) * BS))]),
    );
  };
  const mth = (from: number, count: number): Buffer => {
    if (count === 1) return leaf(from);
    let k = 1;
    while (k * 2 < count) k *= 2;
    return sha(Buffer.concat([Buffer.from('cleanroom.evidence.node.v1\0'), mth(from, k), mth(from + k, count - k)]));
  };
  return mth(0, n);
}

const noSleep = (): Clock & { slept: number[] } => {
  const slept: number[] = [];
  return { slept, now: () => 0, sleep: async (ms) => void slept.push(ms) };
};

t.test(
  'the flat SHA-256 is that of the whole image, zeros included; the Merkle root is RFC 6962 over the blocks',
  async (t) => {
    for (const n of [1, 2, 3, 5, 8, 13]) {
      const blocks = disk(n);
      const { account, stats } = fakeEbs({ blocks, n, pageSize: 2 });
      const img = image(blocks, n);
      const h = await hashSnapshot(account, 'snap-1', { concurrency: 3, window: 4 });
      t.equal(h.sha256, sha(img).toString('hex'), `n=${n}: sha256 = sha256sum of the raw image`);
      t.equal(h.merkleRoot, referenceRoot(img, n).toString('hex'), `n=${n}: Merkle root = recursive RFC 6962`);
      t.equal(h.sizeBytes, n * BS);
      t.equal(h.blockSize, BS);
      t.equal(h.blocksRead, blocks.size, `n=${n}: every listed block read once`);
      t.equal(stats.gets, blocks.size, `n=${n}: no unlisted block requested`);
      t.equal(h.snapshotId, 'snap-1');
      t.same(h.hashTool, { name: 'cleanroom', version: CLEANROOM_VERSION, method: 'ebs-direct' });
      t.ok(!Number.isNaN(Date.parse(h.hashedAt)));
    }
  },
);

t.test(
  'merkleRootOf and merkleLeaf agree with the recursive definition; no leaves is SHA-256 of nothing',
  async (t) => {
    for (let n = 1; n <= 17; n++) {
      const blocks = new Map([...Array(n).keys()].map((i) => [i, createHash('sha512').update(`b${i}`).digest()]));
      const img = image(blocks, n);
      const leaves = [...Array(n).keys()].map((i) => merkleLeaf(i, sha(img.subarray(i * BS, (i + 1) * BS))));
      t.equal(merkleRootOf(leaves).toString('hex'), referenceRoot(img, n).toString('hex'), `n=${n}`);
    }
    t.equal(merkleRootOf([]).toString('hex'), sha(Buffer.alloc(0)).toString('hex'));
  },
);

t.test('the tool names the package version', async (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  t.equal(HASH_TOOL.version, pkg.version);
  t.equal(HASH_TOOL.method, 'ebs-direct');
});

t.test('onBlock sees every block in index order, null for an unlisted one, and is awaited', async (t) => {
  const n = 7;
  const blocks = disk(n);
  const { account } = fakeEbs({ blocks, n });
  const seen: Array<[number, string | null]> = [];
  const progress: number[] = [];
  await hashSnapshot(account, 'snap-1', {
    onBlock: async (i, data) => {
      await new Promise((r) => setImmediate(r));
      seen.push([i, data ? data.toString('hex') : null]);
    },
    onProgress: (p) => progress.push(p.bytesDone),
  });
  t.same(
    seen,
    [...Array(n).keys()].map((i) => [i, blocks.get(i)?.toString('hex') ?? null]),
  );
  t.same(
    progress,
    [...Array(n).keys()].map((i) => (i + 1) * BS),
  );
});

t.test('a block whose bytes do not match its checksum is read again; still damaged, it is named', async (t) => {
  const n = 5;
  const blocks = disk(n);
  const img = image(blocks, n);
  const once = fakeEbs({ blocks, n, fault: (i, nth) => (i === 2 && nth <= 2 ? 'damage' : undefined) });
  const h = await hashSnapshot(once.account, 'snap-1', { clock: noSleep() });
  t.equal(h.sha256, sha(img).toString('hex'), 'the re-read bytes are hashed');
  t.equal(once.stats.perBlock.get(2), 3, 'read three times');

  const always = fakeEbs({ blocks, n, fault: (i) => (i === 3 ? 'damage' : undefined) });
  const e = await hashSnapshot(always.account, 'snap-9', { retries: 2, clock: noSleep() }).catch((x) => x);
  t.ok(e instanceof CleanroomError);
  t.equal(e.code, 'BLOCK_CHECKSUM_MISMATCH');
  t.match(e.message, /Block 3 of snapshot snap-9/);
  t.match(e.details, { snapshotId: 'snap-9', blockIndex: 3 });
  t.equal(always.stats.perBlock.get(3), 3, 'one read and two retries');
});

t.test('a body cut short is read again', async (t) => {
  const n = 3;
  const blocks = disk(n);
  const { account, stats } = fakeEbs({ blocks, n, fault: (i, nth) => (i === 0 && nth === 1 ? 'short' : undefined) });
  const h = await hashSnapshot(account, 'snap-1', { clock: noSleep() });
  t.equal(h.sha256, sha(image(blocks, n)).toString('hex'));
  t.equal(stats.perBlock.get(0), 2);
});

t.test('throttling the SDK did not retry is retried with back-off; what the SDK already retried is not', async (t) => {
  const n = 5;
  const blocks = disk(n);
  const clock = noSleep();
  const throttled = fakeEbs({
    blocks,
    n,
    fault: (i, nth) =>
      i === 2 && nth <= 2
        ? awsError('ebs', 'getSnapshotBlock', nth === 1 ? 'ThrottlingException' : 'RequestThrottledException')
        : i === 3 && nth === 1
          ? awsError('ebs', 'getSnapshotBlock', 'InternalServerException', 'boom', 500)
          : undefined,
  });
  const h = await hashSnapshot(throttled.account, 'snap-1', { clock, retryDelayMs: 100 });
  t.equal(h.sha256, sha(image(blocks, n)).toString('hex'));
  t.equal(throttled.stats.perBlock.get(2), 3);
  t.equal(throttled.stats.perBlock.get(3), 2);
  t.equal(clock.slept.length, 3, 'a back-off before each retry');
  t.ok(
    clock.slept.every((ms) => ms >= 0 && ms <= 200),
    'full jitter within the doubling cap',
  );

  // The SDK made 8 attempts already (its adaptive retry): not multiplied by another round here.
  const sdkRetried = () => {
    const e = awsError('ebs', 'getSnapshotBlock', 'ThrottlingException');
    (e.cause as { $metadata: { attempts?: number } }).$metadata.attempts = 8;
    return e;
  };
  const spent = fakeEbs({ blocks, n, fault: (i) => (i === 0 ? sdkRetried() : undefined) });
  const e = await hashSnapshot(spent.account, 'snap-7', { clock: noSleep() }).catch((x) => x);
  t.equal(e.code, 'BLOCK_READ_FAILED');
  t.match(e.message, /Block 0 of snapshot snap-7 could not be read/);
  t.equal(spent.stats.perBlock.get(0), 1);

  const denied = fakeEbs({
    blocks,
    n,
    fault: (i) => (i === 2 ? awsError('ebs', 'getSnapshotBlock', 'AccessDeniedException', 'no', 403) : undefined),
  });
  const d = await hashSnapshot(denied.account, 'snap-1', { clock: noSleep() }).catch((x) => x);
  t.equal(d.code, 'BLOCK_READ_FAILED');
  t.match(d.message, /Block 2 of snapshot snap-1.*Access denied/);
  t.equal(denied.stats.perBlock.get(2), 1, 'access denied is not retried');
});

t.test('an expired block token is refreshed by listing again', async (t) => {
  const n = 8;
  const blocks = disk(n);
  let expire = 0;
  const { account, stats } = fakeEbs({ blocks, n, pageSize: 3, expireBefore: () => expire });
  let first = true;
  const h = await hashSnapshot(account, 'snap-1', {
    concurrency: 1,
    window: 1,
    onBlock: () => {
      // After the first block, every token issued so far expires (as after 7 days).
      if (first) expire = stats.lists + 1;
      first = false;
    },
  });
  t.equal(h.sha256, sha(image(blocks, n)).toString('hex'));
  t.ok(stats.lists > Math.ceil(blocks.size / 3), 'listed again');
});

t.test('memory stays bounded: at most `window` blocks fetched ahead, at most `concurrency` in flight', async (t) => {
  const n = 200;
  const blocks = new Map([...Array(n).keys()].map((i) => [i, createHash('sha512').update(`b${i}`).digest()]));
  let consumed = 0;
  let started = 0;
  let maxAhead = 0;
  const { account, stats } = fakeEbs({
    blocks,
    n,
    pageSize: 37,
    gate: async () => {
      started += 1;
      maxAhead = Math.max(maxAhead, started - consumed);
      await new Promise((r) => setImmediate(r));
    },
  });
  await hashSnapshot(account, 'snap-1', {
    concurrency: 4,
    window: 10,
    onBlock: async () => {
      // A slow consumer: the readers must wait for it, not run ahead.
      for (let k = 0; k < 3; k++) await new Promise((r) => setImmediate(r));
      consumed += 1;
    },
  });
  t.ok(maxAhead <= 10, `blocks held or in flight ahead of the consumer: ${maxAhead} ≤ 10`);
  t.ok(maxAhead >= 4, 'and it does read ahead');
  t.ok(stats.maxInFlight <= 4, `in flight: ${stats.maxInFlight} ≤ 4`);
});

t.test('an abort stops the hash at once with INTERRUPTED', async (t) => {
  const n = 5;
  const blocks = disk(n);
  const ac = new AbortController();
  const { account } = fakeEbs({
    blocks,
    n,
    gate: (i) => (i === 2 ? new Promise(() => {}) : Promise.resolve()), // block 2 never answers
  });
  const e = await hashSnapshot(account, 'snap-1', {
    signal: ac.signal,
    onBlock: (i) => {
      if (i === 1) setImmediate(() => ac.abort());
    },
  }).catch((x) => x);
  t.ok(e instanceof CleanroomError);
  t.equal(e.code, 'INTERRUPTED');

  const pre = new AbortController();
  pre.abort();
  const p = await hashSnapshot(account, 'snap-1', { signal: pre.signal }).catch((x) => x);
  t.equal(p.code, 'INTERRUPTED');
});

t.test('the worker pool and the calling thread give the same hash of a sparse disk', async (t) => {
  const pool = new WorkerSha256Pool({ threads: 2 });
  t.teardown(() => pool.close());
  for (const n of [1, 4, 13]) {
    const blocks = disk(n);
    const img = image(blocks, n);
    const inThread = await hashSnapshot(fakeEbs({ blocks, n }).account, 'snap-1', { sha256: inThreadSha256 });
    const workers = await hashSnapshot(fakeEbs({ blocks, n }).account, 'snap-1', { sha256: pool });
    t.equal(workers.sha256, sha(img).toString('hex'), `n=${n}: workers = sha256sum of the image`);
    t.equal(inThread.sha256, workers.sha256, `n=${n}: the same flat SHA-256`);
    t.equal(inThread.merkleRoot, workers.merkleRoot, `n=${n}: the same Merkle root`);
  }
});

t.test('an abort during a long run of zeros stops the hashing thread too', async (t) => {
  // A 16 GiB disk of 512 KiB blocks with only block 0 written: 16 GiB of zeros to hash.
  const BLOCK = 512 * 1024;
  const data = Buffer.alloc(BLOCK, 7);
  const account: SnapshotReadAccount = {
    ebs: {
      listSnapshotBlocks: async () =>
        out({ Blocks: [{ BlockIndex: 0, BlockToken: 't0' }], BlockSize: BLOCK, VolumeSize: 16 }),
      getSnapshotBlock: async () =>
        out({
          BlockData: sdkStream(Readable.from([data])),
          Checksum: sha(data).toString('base64'),
          ChecksumAlgorithm: 'SHA256',
          DataLength: BLOCK,
        }),
    },
  };
  const pool = new WorkerSha256Pool({ threads: 1 });
  t.teardown(() => pool.close());
  const ac = new AbortController();
  const e = await hashSnapshot(account, 'snap-big', {
    sha256: pool,
    signal: ac.signal,
    onProgress: ({ bytesDone }) => {
      if (bytesDone >= 8 * GIB) ac.abort();
    },
  }).catch((x) => x);
  t.equal(e.code, 'INTERRUPTED');
  // The thread serves the next hash only after what was queued before it: skipped, not hashed.
  const s = pool.open();
  s.update(Buffer.from('next'));
  t.equal(await s.digest(), sha(Buffer.from('next')).toString('hex'));
  t.ok(pool.bytesHashed < 2 * GIB, `the thread hashed ${pool.bytesHashed} bytes, not the 8 GiB of zeros queued`);
});

t.test('a listing that does not fit the volume fails clearly', async (t) => {
  const { account } = fakeEbs({ blocks: new Map([[9, Buffer.alloc(BS, 1)]]), n: 4 });
  const e = await hashSnapshot(account, 'snap-1').catch((x) => x);
  t.equal(e.code, 'BLOCK_READ_FAILED');
  t.match(e.message, /listed block 9, beyond its 4 blocks/);
});
