/**
 * The written-to check's decision logic, on a hand-written EBS direct fake that behaves as AWS
 * documents (complete changed-block lists, pages that may be empty with a NextToken) and can be
 * told to misbehave (a changed-block list that leaves blocks out, failing calls, a damaged block).
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { compareSnapshots, type CompareEbs } from '../../src/evidence/volume-compare.js';
import { CleanroomError } from '../../src/domain/errors.js';
import { out, sdkStream } from '../fakes/ports.js';

const BS = 64;
const block = (fill: number) => Buffer.alloc(BS, fill);

interface FakeOpts {
  /** ListChangedBlocks leaves out blocks present only in the second snapshot (the emulator gap). */
  missSecondOnly?: boolean;
  failChanged?: boolean;
  failList?: boolean;
  failGet?: boolean;
  /** Return a wrong checksum for this block index. */
  damage?: number;
  pageSize?: number;
}

function fakeEbs(snaps: Record<string, Map<number, Buffer>>, o: FakeOpts = {}) {
  const calls: string[] = [];
  const pageSize = o.pageSize ?? 1000;
  const page = <T>(items: T[], token?: string) => {
    const start = token ? Number(token) : 0;
    const next = start + pageSize < items.length ? String(start + pageSize) : undefined;
    return { items: items.slice(start, start + pageSize), next };
  };
  const err = (op: string) =>
    Object.assign(new Error(`ebs ${op} failed (HTTP 500)`), { name: 'InternalServerException' });
  const ebs: CompareEbs = {
    async listChangedBlocks(input) {
      calls.push('listChangedBlocks');
      if (o.failChanged) throw err('listChangedBlocks');
      const a = snaps[input.FirstSnapshotId!]!;
      const b = snaps[input.SecondSnapshotId!]!;
      const idx = [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => x - y);
      const changed = idx.filter((i) => {
        if (o.missSecondOnly && !a.has(i)) return false;
        const x = a.get(i);
        const y = b.get(i);
        return !x || !y || !x.equals(y);
      });
      // An empty first page with a NextToken, as AWS may send when changes are sparse.
      if (!input.NextToken && changed.length)
        return out({ ChangedBlocks: [], NextToken: '0', BlockSize: BS, VolumeSize: 1 });
      const p = page(changed, input.NextToken);
      return out({
        ChangedBlocks: p.items.map((i) => ({
          BlockIndex: i,
          FirstBlockToken: a.has(i) ? `a${i}` : undefined,
          SecondBlockToken: b.has(i) ? `b${i}` : undefined,
        })),
        NextToken: p.next,
        BlockSize: BS,
        VolumeSize: 1,
      });
    },
    async listSnapshotBlocks(input) {
      calls.push('listSnapshotBlocks');
      if (o.failList) throw err('listSnapshotBlocks');
      const s = snaps[input.SnapshotId!]!;
      const p = page(
        [...s.keys()].sort((x, y) => x - y),
        input.NextToken,
      );
      // BlockIndex as a string, as moto sends it and the SDK passes it through.
      return out({
        Blocks: p.items.map((i) => ({
          BlockIndex: String(i) as unknown as number,
          BlockToken: `${input.SnapshotId}:${i}`,
        })),
        NextToken: p.next,
        BlockSize: BS,
        VolumeSize: 1,
      });
    },
    async getSnapshotBlock(input) {
      calls.push('getSnapshotBlock');
      if (o.failGet) throw err('getSnapshotBlock');
      // AWS refuses a block read without that block's own token.
      if (input.BlockToken !== `${input.SnapshotId}:${input.BlockIndex}`)
        throw Object.assign(new Error('bad token'), { name: 'ValidationException' });
      const data = snaps[input.SnapshotId!]!.get(input.BlockIndex!)!;
      const sum = createHash('sha256')
        .update(input.BlockIndex === o.damage ? Buffer.from('x') : data)
        .digest('base64');
      return out({
        BlockData: sdkStream(Readable.from([data.subarray(0, 10), data.subarray(10)])),
        Checksum: sum,
        ChecksumAlgorithm: 'SHA256',
        DataLength: BS,
      });
    },
  };
  return { ebs, calls };
}

const base = () =>
  new Map<number, Buffer>([
    [0, block(1)],
    [1, block(2)],
    [7, block(3)],
  ]);

t.test(
  'identical snapshots: the changed-block list decides, corroborated by the block indexes, no data read',
  async (t) => {
    const { ebs, calls } = fakeEbs({ 'snap-ev': base(), 'snap-chk': base() });
    const r = await compareSnapshots({ ebs }, 'snap-ev', 'snap-chk');
    t.same(r, { method: 'changed-blocks', identical: true, changedBlocks: 0, changedBlockIndexes: [], blockSize: BS });
    t.notOk(calls.includes('getSnapshotBlock'));
  },
);

t.test('a block written with other data is listed as changed (every page read, empty pages too)', async (t) => {
  const b = base();
  b.set(1, block(9));
  b.set(9, block(5));
  const { ebs } = fakeEbs({ 'snap-ev': base(), 'snap-chk': b }, { pageSize: 1 });
  const r = await compareSnapshots({ ebs }, 'snap-ev', 'snap-chk');
  t.equal(r.method, 'changed-blocks');
  t.equal(r.identical, false);
  t.equal(r.changedBlocks, 2);
  t.same(r.changedBlockIndexes, [1, 9]);
});

t.test(
  'a changed-block list that leaves out a block only in the second snapshot is not trusted: the content hash decides',
  async (t) => {
    const b = base();
    b.set(12, block(4));
    const { ebs, calls } = fakeEbs({ 'snap-ev': base(), 'snap-chk': b }, { missSecondOnly: true });
    const r = await compareSnapshots({ ebs }, 'snap-ev', 'snap-chk');
    t.equal(r.method, 'content-hash');
    t.equal(r.identical, false, 'never "identical" from an incomplete list');
    t.same(r.changedBlockIndexes, [12]);
    t.match(r.fallbackReason, /left out 1 block/);
    t.ok(calls.includes('getSnapshotBlock'));
    t.not(r.digests!.first, r.digests!.second);
  },
);

t.test(
  'ListChangedBlocks unavailable: the content hash decides; an absent block equals an all-zero block',
  async (t) => {
    const a = base();
    const b = base();
    b.set(20, Buffer.alloc(BS));
    const { ebs } = fakeEbs({ 'snap-ev': a, 'snap-chk': b }, { failChanged: true });
    const r = await compareSnapshots({ ebs }, 'snap-ev', 'snap-chk');
    t.equal(r.method, 'content-hash');
    t.equal(r.identical, true);
    t.equal(r.changedBlocks, 0);
    t.equal(r.blocksCompared, 4);
    t.equal(r.digests!.first, r.digests!.second);
    t.match(r.fallbackReason, /ListChangedBlocks failed/);
  },
);

t.test('the content hash binds each block to its index: the same data moved to another block differs', async (t) => {
  const a = new Map([
    [0, block(1)],
    [1, block(2)],
  ]);
  const b = new Map([
    [0, block(2)],
    [1, block(1)],
  ]);
  const { ebs } = fakeEbs({ 'snap-ev': a, 'snap-chk': b });
  const r = await compareSnapshots({ ebs }, 'snap-ev', 'snap-chk', { mode: 'content-hash', concurrency: 3 });
  t.equal(r.identical, false);
  t.same(r.changedBlockIndexes, [0, 1]);
});

t.test('mode content-hash always reads both snapshots and reports progress', async (t) => {
  const { ebs, calls } = fakeEbs({ 'snap-ev': base(), 'snap-chk': base() });
  const seen: number[] = [];
  const r = await compareSnapshots({ ebs }, 'snap-ev', 'snap-chk', {
    mode: 'content-hash',
    onProgress: (d) => seen.push(d),
  });
  t.equal(r.method, 'content-hash');
  t.equal(r.identical, true);
  t.notOk(calls.includes('listChangedBlocks'));
  t.equal(calls.filter((c) => c === 'getSnapshotBlock').length, 6);
  t.same(seen, [1, 2, 3, 4, 5, 6]);
});

t.test('nothing works: unavailable, with the reasons, and never identical', async (t) => {
  const { ebs } = fakeEbs({ 'snap-ev': base(), 'snap-chk': base() }, { failChanged: true, failList: true });
  const r = await compareSnapshots({ ebs }, 'snap-ev', 'snap-chk');
  t.equal(r.method, 'unavailable');
  t.equal(r.identical, undefined);
  t.match(r.reason, /ListChangedBlocks failed.*ListSnapshotBlocks failed/);
});

t.test('an empty changed list that cannot be corroborated is not believed', async (t) => {
  const { ebs } = fakeEbs({ 'snap-ev': base(), 'snap-chk': base() }, { failList: true });
  const r = await compareSnapshots({ ebs }, 'snap-ev', 'snap-chk');
  t.equal(r.method, 'unavailable');
  t.match(r.reason, /could not be corroborated/);
});

t.test('blocks that cannot be read: unavailable, naming the failure', async (t) => {
  const { ebs } = fakeEbs({ 'snap-ev': base(), 'snap-chk': base() }, { failGet: true });
  const r = await compareSnapshots({ ebs }, 'snap-ev', 'snap-chk', { mode: 'content-hash' });
  t.equal(r.method, 'unavailable');
  t.match(r.reason, /GetSnapshotBlock failed: Failed to read 6 block/);
});

t.test('a block whose bytes do not match the checksum EBS sent fails loudly', async (t) => {
  const { ebs } = fakeEbs({ 'snap-ev': base(), 'snap-chk': base() }, { damage: 7 });
  const e = await compareSnapshots({ ebs }, 'snap-ev', 'snap-chk', { mode: 'content-hash' }).catch((x) => x);
  t.ok(e instanceof CleanroomError);
  t.equal(e.code, 'BLOCK_CHECKSUM_MISMATCH');
  t.match(e.message, /Block 7 of snapshot snap-(ev|chk)/);
});
