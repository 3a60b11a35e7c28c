/**
 * The content hash of a snapshot computed across invocations: the same flat SHA-256 and block
 * Merkle root as {@link hashSnapshot} (content-hash.ts, the same one pass: ListSnapshotBlocks /
 * GetSnapshotBlock, every block's checksum checked, unlisted blocks as zeros), read a time budget
 * at a time. Between passes the state travels with the caller (a Step Functions execution's
 * state): the SHA-256's internal state (hash-wasm's `save()`, base64), the Merkle builder's stack of
 * perfect subtrees (at most log2(blocks)+1 hashes, their heights implied by the block count), the
 * next block, the bytes so far — about 1.5 KB for a 16 TiB disk.
 *
 * A state that comes back is checked before it is used ({@link checkHashResume}): its format, its
 * snapshot (the one asked for), the disk's block size and size (as the listing reports them now),
 * the block index against the bytes hashed and the Merkle stack, and a digest over all of it (which
 * catches a damaged state, not a forged one: see docs/automation.md, "Library").
 */
import { hash } from 'node:crypto';
import { createSHA256, type IHasher } from 'hash-wasm';
import { UsageError } from '../domain/errors.js';
import {
  HASH_TOOL,
  MerkleBuilder,
  merkleLeaf,
  readSnapshot,
  type ContentHash,
  type SnapshotReadAccount,
  type SnapshotReadOptions,
} from './content-hash.js';
import type { AwsAccount } from '../aws/ports.js';

/**
 * The state of a flat SHA-256 (and Merkle root) between invocations: JSON-safe, a few hundred
 * bytes to ~1.5 KB. Treat it as opaque; hand it back unchanged.
 */
export interface HashResume {
  /** Format version of this state. */
  v: 1;
  snapshotId: string;
  /** As ListSnapshotBlocks reports it (524288 on AWS). */
  blockSize: number;
  /** The disk's size in bytes (VolumeSize GiB × 2^30). */
  totalBytes: number;
  /** The next block to read (blocks 0..nextBlock-1 are in the state). */
  nextBlock: number;
  /** Bytes hashed so far (= nextBlock × blockSize). */
  bytesHashed: number;
  /** Listed blocks read so far (GetSnapshotBlock calls that counted). */
  blocksRead: number;
  /** hash-wasm SHA-256 internal state (`save()`), base64. */
  sha256State: string;
  /** The Merkle builder's stack: its perfect subtrees' roots, 32 bytes each, concatenated, base64. */
  merkle: string;
  /** SHA-256 (hex, first 32) of the fields above: a damaged state is refused. */
  check: string;
}

/** One pass of a resumable hash: not done (carry `resume` to the next pass) or done. */
export type ResumableHashResult =
  | { done: false; resume: HashResume; bytesHashed: number; totalBytes: number }
  | { done: true; hash: ContentHash; bytesHashed: number; totalBytes: number };

export interface ResumableHashOptions
  extends Pick<SnapshotReadOptions, 'concurrency' | 'window' | 'retries' | 'clock' | 'retryDelayMs' | 'onProgress'> {
  /** The state a previous pass returned; none: start at block 0. */
  resume?: HashResume;
  /** Wall-clock time this pass may read for (ms); it stops at the first block boundary after it. */
  budgetMs: number;
  signal?: AbortSignal;
  /** The wall clock of the budget (tests); default Date.now. */
  now?: () => number;
}

function refuse(message: string, details: Record<string, unknown>): never {
  throw new UsageError('HASH_STATE_INVALID', message, { details });
}

function checkOf(r: Omit<HashResume, 'check'>): string {
  const body = [
    r.v,
    r.snapshotId,
    r.blockSize,
    r.totalBytes,
    r.nextBlock,
    r.bytesHashed,
    r.blocksRead,
    r.sha256State,
    r.merkle,
  ].join('\n');
  return hash('sha256', `cleanroom.hash-resume.v1\0${body}`, 'hex').slice(0, 32);
}

/** The number of perfect subtrees the Merkle builder holds after `n` leaves (the bits set in n). */
function stackDepth(n: number): number {
  let c = 0;
  for (let x = n; x > 0; x = Math.floor(x / 2)) c += x % 2;
  return c;
}

/**
 * Check a state handed back for `snapshotId` (and, once the listing is read, against the disk's
 * geometry): refuses (HASH_STATE_INVALID, exit 2) a state of another snapshot, another format, a
 * damaged or inconsistent one.
 */
export function checkHashResume(
  r: unknown,
  snapshotId: string,
  geometry?: { blockSize: number; totalBytes: number },
): HashResume {
  const s = r as Partial<HashResume> | null;
  const details = { snapshotId };
  if (!s || typeof s !== 'object' || s.v !== 1)
    refuse(`The hash state handed back is not a cleanroom hash state (format v1): start the hash anew.`, details);
  const ints = ['blockSize', 'totalBytes', 'nextBlock', 'bytesHashed', 'blocksRead'] as const;
  for (const k of ints)
    if (!Number.isSafeInteger(s[k]) || (s[k] as number) < 0)
      refuse(`The hash state handed back has no valid ${k}.`, { ...details, field: k });
  for (const k of ['snapshotId', 'sha256State', 'merkle', 'check'] as const)
    if (typeof s[k] !== 'string') refuse(`The hash state handed back has no ${k}.`, { ...details, field: k });
  const st = s as HashResume;
  if (st.snapshotId !== snapshotId)
    refuse(
      `The hash state handed back is of snapshot ${st.snapshotId}, not ${snapshotId}: a state cannot be carried to another snapshot.`,
      { ...details, stateSnapshotId: st.snapshotId },
    );
  if (checkOf(st) !== st.check)
    refuse(
      `The hash state of snapshot ${snapshotId} does not match its check digest: it was changed or damaged on the way.`,
      details,
    );
  if (
    st.blockSize === 0 ||
    st.bytesHashed !== st.nextBlock * st.blockSize ||
    st.bytesHashed > st.totalBytes ||
    st.blocksRead > st.nextBlock ||
    Buffer.from(st.merkle, 'base64').length !== 32 * stackDepth(st.nextBlock)
  )
    refuse(
      `The hash state of snapshot ${snapshotId} is inconsistent (block index, bytes hashed and Merkle stack disagree).`,
      details,
    );
  if (geometry && (geometry.blockSize !== st.blockSize || geometry.totalBytes !== st.totalBytes))
    refuse(
      `The hash state of snapshot ${snapshotId} was made for a disk of ${st.totalBytes} bytes in blocks of ${st.blockSize}; the snapshot now lists ${geometry.totalBytes} bytes in blocks of ${geometry.blockSize}.`,
      { ...details, state: { blockSize: st.blockSize, totalBytes: st.totalBytes }, listed: geometry },
    );
  return st;
}

/** The Merkle builder of a state (its stack; the heights follow from the block count). */
function merkleFrom(r: HashResume): MerkleBuilder {
  const roots = Buffer.from(r.merkle, 'base64');
  const heights: number[] = [];
  for (let h = 52; h >= 0; h--) if (Math.floor(r.nextBlock / 2 ** h) % 2 === 1) heights.push(h);
  return MerkleBuilder.restore(
    heights.map((height, k) => ({ height, hash: roots.subarray(32 * k, 32 * (k + 1)) })),
    r.nextBlock,
  );
}

/**
 * One pass of the resumable hash of `snapshotId` (see the module comment): from `resume` (or the
 * start) until the disk ends or `budgetMs` is spent, then done (the {@link ContentHash}, the same as
 * one {@link hashSnapshot} pass) or a state to hand back.
 */
export async function hashSnapshotResumable(
  account: Pick<AwsAccount, 'ebs'> | SnapshotReadAccount,
  snapshotId: string,
  opts: ResumableHashOptions,
): Promise<ResumableHashResult> {
  const now = opts.now ?? Date.now;
  const started = now();
  const prior = opts.resume ? checkHashResume(opts.resume, snapshotId) : undefined;
  const flat: IHasher = await createSHA256();
  flat.init();
  if (prior) {
    try {
      flat.load(new Uint8Array(Buffer.from(prior.sha256State, 'base64')));
    } catch (e) {
      refuse(`The hash state of snapshot ${snapshotId} holds no SHA-256 state hash-wasm can load.`, {
        snapshotId,
        reason: (e as Error).message,
      });
    }
  }
  const tree = prior ? merkleFrom(prior) : new MerkleBuilder();
  const from = prior?.nextBlock ?? 0;
  const r = await readSnapshot(
    account as SnapshotReadAccount,
    snapshotId,
    opts,
    (index, block, sha256) => {
      flat.update(block);
      tree.push(merkleLeaf(index, sha256));
    },
    {
      from,
      // Before any block is read: the state must be of this disk as it lists now.
      onStart: (geometry) => {
        if (prior) checkHashResume(prior, snapshotId, geometry);
      },
      stopBefore: () => now() - started >= opts.budgetMs,
    },
  );
  const blocksRead = (prior?.blocksRead ?? 0) + r.blocksRead;
  const bytesHashed = r.next * r.blockSize;
  if (r.next * r.blockSize >= r.sizeBytes) {
    return {
      done: true,
      bytesHashed,
      totalBytes: r.sizeBytes,
      hash: {
        snapshotId,
        sha256: flat.digest('hex'),
        merkleRoot: tree.root().toString('hex'),
        sizeBytes: r.sizeBytes,
        blockSize: r.blockSize,
        blocksRead,
        hashedAt: new Date().toISOString(),
        hashTool: { ...HASH_TOOL },
      },
    };
  }
  const body: Omit<HashResume, 'check'> = {
    v: 1,
    snapshotId,
    blockSize: r.blockSize,
    totalBytes: r.sizeBytes,
    nextBlock: r.next,
    bytesHashed,
    blocksRead,
    sha256State: Buffer.from(flat.save()).toString('base64'),
    merkle: Buffer.concat(tree.stackRoots()).toString('base64'),
  };
  return { done: false, resume: { ...body, check: checkOf(body) }, bytesHashed, totalBytes: r.sizeBytes };
}
