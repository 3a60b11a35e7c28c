/**
 * The written-to check: was a working volume changed while it was attached to the forensic
 * instance? The caller snapshots the working volume and hands this module the evidence snapshot
 * the volume was created from (`first`) and that new snapshot (`second`); this module compares
 * them through the EBS direct APIs and says how it knows.
 *
 * 1. `changed-blocks`: `ListChangedBlocks(first, second)` lists the blocks that differ between two
 *    snapshots of one lineage — AWS documents that a block present in only one of them is listed
 *    too (ChangedBlock: "FirstBlockToken … is absent if the first snapshot does not have the
 *    changed block that is on the second snapshot"). An empty list is a claim of absence, so it is
 *    corroborated before it is believed: the block indexes of both snapshots (`ListSnapshotBlocks`,
 *    metadata only, no data read) are compared and every index present in only one snapshot must be
 *    in the changed list. If one is missing, the list is not trusted and (2) decides.
 * 2. `content-hash`: every block of both snapshots is read with `GetSnapshotBlock` (streamed, a
 *    bounded pool of workers) and hashed: per block SHA-256(8-byte big-endian index ‖ data), per
 *    snapshot SHA-256 over the block digests of its non-zero blocks in index order (a block that
 *    is absent reads as zeros, so an absent block and an all-zero block compare equal). The
 *    checksum AWS returns with each block is checked against the bytes, never trusted instead.
 * 3. `unavailable`: neither worked (no EBS direct access, an archived snapshot, a block size that
 *    differs). The result says why, and never claims the volume is identical.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AwsAccount, EbsPort } from '../aws/ports.js';
import { CleanroomError, asError } from '../domain/errors.js';
import { mapPool } from '../domain/pool.js';
import { readVerifiedBlock } from './content-hash.js';

/** How a comparison was decided. */
export type CompareMethod = 'changed-blocks' | 'content-hash' | 'unavailable';

export interface CompareResult {
  method: CompareMethod;
  /** True: same content. False: written to. Undefined: could not tell (`unavailable`). */
  identical?: boolean;
  /** How many blocks differ (changed-blocks: as listed; content-hash: as hashed). */
  changedBlocks?: number;
  /** The first differing block indexes (at most 32), to name in the record. */
  changedBlockIndexes?: number[];
  /** Block size in bytes, as the EBS direct APIs report it. */
  blockSize?: number;
  /** content-hash only: how many block indexes were read (union of both snapshots). */
  blocksCompared?: number;
  /** content-hash only: per-snapshot digests (hex), comparable across runs and tools. */
  digests?: { first: string; second: string };
  /** Why the changed-block list was not used or not trusted (when content-hash decided). */
  fallbackReason?: string;
  /** Why no method could decide (`unavailable`). */
  reason?: string;
}

export interface CompareOptions {
  /** `auto` (default): changed blocks first, content hash where that is unavailable or untrusted. `content-hash`: always read and hash. */
  mode?: 'auto' | 'content-hash';
  /** Parallel GetSnapshotBlock calls (default 16). */
  concurrency?: number;
  /** Called as blocks are hashed. */
  onProgress?: (done: number, total: number) => void;
}

/** The EBS direct calls this module makes. */
export type CompareEbs = Pick<EbsPort, 'listChangedBlocks' | 'listSnapshotBlocks' | 'getSnapshotBlock'>;

/**
 * The account whose EBS direct APIs read the snapshots. The port stays on its account
 * (`account.ebs.<call>`) so that the IAM policy check attributes each call to its account.
 */
export type CompareAccount = Pick<AwsAccount, 'ebs'>;

const MAX_NAMED_INDEXES = 32;

/** Compare two snapshots block by block; see the module comment for the methods. */
export async function compareSnapshots(
  account: CompareAccount,
  first: string,
  second: string,
  opts: CompareOptions = {},
): Promise<CompareResult> {
  let fallbackReason: string | undefined;
  let listings: { a: SnapshotBlocks; b: SnapshotBlocks } | undefined;
  let listError: string | undefined;
  const listBoth = async () => {
    if (listings || listError) return listings;
    try {
      listings = { a: await listSnapshotBlocks(account, first), b: await listSnapshotBlocks(account, second) };
    } catch (e) {
      listError = `ListSnapshotBlocks failed: ${oneLine(e)}`;
    }
    return listings;
  };

  if ((opts.mode ?? 'auto') === 'auto') {
    let changed: ChangedBlocks | undefined;
    try {
      changed = await listChangedBlocks(account, first, second);
    } catch (e) {
      fallbackReason = `ListChangedBlocks failed: ${oneLine(e)}`;
    }
    if (changed) {
      const l = await listBoth();
      if (!l) {
        fallbackReason = `the changed-block list could not be corroborated (${listError})`;
      } else {
        const missed = onlyInOne(l.a, l.b).filter((i) => !changed.indexes.has(i));
        if (missed.length === 0) {
          const all = [...changed.indexes].sort((x, y) => x - y);
          return {
            method: 'changed-blocks',
            identical: all.length === 0,
            changedBlocks: all.length,
            changedBlockIndexes: all.slice(0, MAX_NAMED_INDEXES),
            ...(changed.blockSize !== undefined ? { blockSize: changed.blockSize } : {}),
          };
        }
        fallbackReason = `ListChangedBlocks left out ${missed.length} block(s) present in only one snapshot (first: ${missed.slice(0, 5).join(', ')}); the list is not trusted`;
      }
    }
  }

  const l = await listBoth();
  if (!l) {
    return {
      method: 'unavailable',
      reason: [fallbackReason, listError].filter(Boolean).join('; '),
      ...(fallbackReason ? { fallbackReason } : {}),
    };
  }
  if (l.a.blockSize !== undefined && l.b.blockSize !== undefined && l.a.blockSize !== l.b.blockSize) {
    return {
      method: 'unavailable',
      reason: `the snapshots have different block sizes (${first}: ${l.a.blockSize}, ${second}: ${l.b.blockSize}); they cannot be compared block by block`,
      ...(fallbackReason ? { fallbackReason } : {}),
    };
  }
  try {
    const r = await hashCompare(account, first, second, l.a, l.b, opts);
    return { ...r, ...(fallbackReason ? { fallbackReason } : {}) };
  } catch (e) {
    if (e instanceof CleanroomError && e.code === 'BLOCK_CHECKSUM_MISMATCH') throw e;
    return {
      method: 'unavailable',
      reason: [fallbackReason, `GetSnapshotBlock failed: ${oneLine(e)}`].filter(Boolean).join('; '),
      ...(fallbackReason ? { fallbackReason } : {}),
    };
  }
}

interface ChangedBlocks {
  indexes: Set<number>;
  blockSize?: number;
}

interface SnapshotBlocks {
  /** block index → block token */
  tokens: Map<number, string>;
  blockSize?: number;
}

// AWS may answer a page with no blocks and a NextToken when changed blocks are sparse; only a
// missing NextToken ends the list (EBS direct APIs FAQ).
async function listChangedBlocks(account: CompareAccount, first: string, second: string): Promise<ChangedBlocks> {
  const indexes = new Set<number>();
  let blockSize: number | undefined;
  let token: string | undefined;
  do {
    const page = await account.ebs.listChangedBlocks({
      FirstSnapshotId: first,
      SecondSnapshotId: second,
      ...(token ? { NextToken: token } : {}),
    });
    blockSize ??= page.BlockSize;
    // The SDK passes BlockIndex through as the service sent it; normalise to a number.
    for (const b of page.ChangedBlocks ?? []) indexes.add(Number(b.BlockIndex));
    token = page.NextToken ?? undefined;
  } while (token);
  return { indexes, ...(blockSize !== undefined ? { blockSize: Number(blockSize) } : {}) };
}

async function listSnapshotBlocks(account: CompareAccount, snapshotId: string): Promise<SnapshotBlocks> {
  const tokens = new Map<number, string>();
  let blockSize: number | undefined;
  let token: string | undefined;
  do {
    const page = await account.ebs.listSnapshotBlocks({
      SnapshotId: snapshotId,
      ...(token ? { NextToken: token } : {}),
    });
    blockSize ??= page.BlockSize;
    for (const b of page.Blocks ?? []) tokens.set(Number(b.BlockIndex), b.BlockToken ?? '');
    token = page.NextToken ?? undefined;
  } while (token);
  return { tokens, ...(blockSize !== undefined ? { blockSize: Number(blockSize) } : {}) };
}

function onlyInOne(a: SnapshotBlocks, b: SnapshotBlocks): number[] {
  const out: number[] = [];
  for (const i of a.tokens.keys()) if (!b.tokens.has(i)) out.push(i);
  for (const i of b.tokens.keys()) if (!a.tokens.has(i)) out.push(i);
  return out.sort((x, y) => x - y);
}

interface BlockHash {
  /** SHA-256(index ‖ data), or undefined for an all-zero block (reads like an absent one). */
  digest?: Buffer;
}

async function hashCompare(
  account: CompareAccount,
  first: string,
  second: string,
  a: SnapshotBlocks,
  b: SnapshotBlocks,
  opts: CompareOptions,
): Promise<CompareResult> {
  const jobs: Array<{ snapshotId: string; side: 'a' | 'b'; index: number; token: string }> = [];
  for (const [index, token] of a.tokens) jobs.push({ snapshotId: first, side: 'a', index, token });
  for (const [index, token] of b.tokens) jobs.push({ snapshotId: second, side: 'b', index, token });
  const hashes = { a: new Map<number, BlockHash>(), b: new Map<number, BlockHash>() };
  let done = 0;
  const settled = await mapPool(jobs, opts.concurrency ?? 16, async (job) => {
    const h = await hashBlock(account, job.snapshotId, job.index, job.token, a.blockSize ?? b.blockSize);
    hashes[job.side].set(job.index, h);
    opts.onProgress?.(++done, jobs.length);
  });
  const failures = settled.filter((s) => !s.ok);
  if (failures.length) {
    const firstFailure = failures[0] as { ok: false; error: Error; item: (typeof jobs)[number] };
    if (firstFailure.error instanceof CleanroomError && firstFailure.error.code === 'BLOCK_CHECKSUM_MISMATCH')
      throw firstFailure.error;
    throw new CleanroomError(
      'BLOCK_READ_FAILED',
      `Failed to read ${failures.length} block(s), first block ${firstFailure.item.index} of ${firstFailure.item.snapshotId}: ${oneLine(firstFailure.error)}`,
      {
        cause: firstFailure.error,
      },
    );
  }
  const indexes = [...new Set([...a.tokens.keys(), ...b.tokens.keys()])].sort((x, y) => x - y);
  const digestA = createHash('sha256');
  const digestB = createHash('sha256');
  const differing: number[] = [];
  for (const i of indexes) {
    const ha = hashes.a.get(i)?.digest;
    const hb = hashes.b.get(i)?.digest;
    if (ha) digestA.update(ha);
    if (hb) digestB.update(hb);
    const same = ha && hb ? timingSafeEqual(ha, hb) : !ha && !hb;
    if (!same) differing.push(i);
  }
  const blockSize = a.blockSize ?? b.blockSize;
  return {
    method: 'content-hash',
    identical: differing.length === 0,
    changedBlocks: differing.length,
    changedBlockIndexes: differing.slice(0, MAX_NAMED_INDEXES),
    ...(blockSize !== undefined ? { blockSize } : {}),
    blocksCompared: indexes.length,
    digests: { first: digestA.digest('hex'), second: digestB.digest('hex') },
  };
}

async function hashBlock(
  account: CompareAccount,
  snapshotId: string,
  index: number,
  token: string,
  blockSize: number | undefined,
): Promise<BlockHash> {
  // The one block reader (content-hash.ts): the checksum AWS sends is checked against the bytes,
  // never trusted instead — a block damaged on the way is read again, then fails the comparison
  // (BLOCK_CHECKSUM_MISMATCH) rather than let it prove anything.
  const { data } = await readVerifiedBlock(account, snapshotId, index, token, {
    ...(blockSize !== undefined ? { blockSize } : {}),
  });
  if (isZero(data)) return {};
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64BE(BigInt(index));
  return { digest: createHash('sha256').update(prefix).update(data).digest() };
}

/** Error text for the record: one line (SDK messages carry line breaks). */
function oneLine(e: unknown): string {
  return asError(e).message.replace(/\s+/g, ' ').trim();
}

const ZEROS = Buffer.alloc(64 * 1024);

function isZero(chunk: Uint8Array): boolean {
  for (let off = 0; off < chunk.length; off += ZEROS.length) {
    const part = chunk.subarray(off, Math.min(chunk.length, off + ZEROS.length));
    if (Buffer.compare(part, ZEROS.subarray(0, part.length)) !== 0) return false;
  }
  return true;
}
