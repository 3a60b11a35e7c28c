/**
 * The content hash of a snapshot, read through the EBS direct APIs: what the evidence *is*.
 *
 * One pass over the disk, block 0 to n-1 (n = VolumeSize / BlockSize, as `ListSnapshotBlocks`
 * reports them — never assumed): a listed block is read with `GetSnapshotBlock` and checked
 * against the SHA-256 AWS sends with it; a block AWS does not list reads as zeros, as it does on an
 * attached volume. Every byte feeds
 * - `sha256`: the SHA-256 of the whole raw disk, byte for byte what `sha256sum /dev/nvme1n1`
 *   prints for a volume created from the snapshot;
 * - `merkleRoot`: a Merkle tree over every block (RFC 6962 §2.1 shape), leaf_i =
 *   SHA-256("cleanroom.evidence.block.v1\0" ‖ u64be(i) ‖ SHA-256(block_i)), node =
 *   SHA-256("cleanroom.evidence.node.v1\0" ‖ left ‖ right), so one block can be proved on its own
 *   and a re-verification can be split (docs/custody.md, "Evidence content hashes").
 *
 * Memory stays flat in the size of the disk: the listing is read a page at a time, at most
 * `concurrency` blocks are read at once and at most `window` are held ahead of the in-order
 * consumer, and the tree is a stack of perfect subtrees (at most log2(n) hashes), not a list of
 * leaves.
 *
 * Retries: the SDK already retries a throttled, 5xx or dropped *call* (the account's adaptive retry
 * mode); this module retries what the SDK cannot see — a body whose bytes do not match their
 * checksum, a connection lost while the body is read, an expired block token (re-listed) — and a
 * transient call failure only when the SDK made a single attempt (an account built with
 * `maxAttempts: 1`), so no failure is retried by both layers. When a block's retries are spent the
 * hash fails with BLOCK_CHECKSUM_MISMATCH or BLOCK_READ_FAILED naming the snapshot and the block.
 */
import { hash, timingSafeEqual } from 'node:crypto';
import pLimit from 'p-limit';
import type { AccountCalls, AwsAccount, EbsPort } from '../aws/ports.js';
import { isTransientAwsError } from '../aws/errors.js';
import { interruptedAt } from '../domain/abort.js';
import { AwsError, CleanroomError, asError } from '../domain/errors.js';
import { type Clock, systemClock } from '../domain/waiter.js';
import { bodyChunks } from '../resources/body.js';
import { sharedSha256Pool, ZERO_CHUNK, type Sha256Pool } from './hash-pool.js';

/** The tool that computed a hash, as the acquisition record names it (ISO/IEC 27037). */
export interface HashTool {
  name: 'cleanroom';
  version: string;
  method: 'ebs-direct' | 'device';
}

/** The content hash of one snapshot. */
export interface ContentHash {
  snapshotId: string;
  /** Hex SHA-256 of the whole raw disk: every byte of `sizeBytes`, unlisted blocks as zeros. */
  sha256: string;
  /** Hex root of the block Merkle tree (module comment; docs/custody.md). */
  merkleRoot: string;
  /** VolumeSize (GiB, from ListSnapshotBlocks) × 2^30. */
  sizeBytes: number;
  /** As EBS reports it (524288 on AWS). */
  blockSize: number;
  /** Blocks listed by ListSnapshotBlocks and read with GetSnapshotBlock. */
  blocksRead: number;
  /** ISO time the hash completed. */
  hashedAt: string;
  hashTool: HashTool;
}

/** Progress of a snapshot read. */
export interface SnapshotReadProgress {
  bytesDone: number;
  bytesTotal: number;
  blocksRead: number;
}

export interface SnapshotReadOptions {
  /** Parallel GetSnapshotBlock calls (default 16). */
  concurrency?: number;
  /** At most this many blocks fetched ahead of the in-order consumer (default 64): memory flat in the disk size. */
  window?: number;
  /** Further attempts per block on a checksum mismatch, a lost body, throttling/5xx/reset the SDK did not retry (default 4). */
  retries?: number;
  /** Stops the read at once with InterruptedError (code INTERRUPTED). */
  signal?: AbortSignal;
  /** Called after each block (in index order). */
  onProgress?: (p: SnapshotReadProgress) => void;
  /** Every block in index order, awaited (backpressure); `null` = unlisted, reads as zeros. */
  onBlock?: (index: number, data: Buffer | null) => void | Promise<void>;
  /** The back-off's clock (tests: a fake that does not sleep). */
  clock?: Clock;
  /** First back-off delay in ms before a retry of a transient failure (default 200; doubles, full jitter, capped at 10 s). */
  retryDelayMs?: number;
}

/** The package version: the hash record names the tool that computed it (test/evidence/content-hash.test.ts checks it against package.json). */
export const CLEANROOM_VERSION = '0.1.0';

export const HASH_TOOL: HashTool = Object.freeze({
  name: 'cleanroom',
  version: CLEANROOM_VERSION,
  method: 'ebs-direct',
}) as HashTool;

/** The account whose EBS direct APIs read the snapshot: the two calls a snapshot read makes. */
export type SnapshotReadAccount = AccountCalls<{ ebs: 'listSnapshotBlocks' | 'getSnapshotBlock' }>;

const LEAF_PREFIX = Buffer.from('cleanroom.evidence.block.v1\0', 'utf8');
const NODE_PREFIX = Buffer.from('cleanroom.evidence.node.v1\0', 'utf8');
const GIB = 2 ** 30;

// One-shot hashes into scratch buffers (the tree is built synchronously): a disk of 512-byte blocks
// has millions of leaves, and crypto.hash on one buffer is about twice as fast as createHash.
const leafScratch = Buffer.alloc(LEAF_PREFIX.length + 8 + 32);
LEAF_PREFIX.copy(leafScratch);
const nodeScratch = Buffer.alloc(NODE_PREFIX.length + 64);
NODE_PREFIX.copy(nodeScratch);

/** leaf_i = SHA-256("cleanroom.evidence.block.v1\0" ‖ u64be(i) ‖ SHA-256(block_i)). */
export function merkleLeaf(index: number, blockSha256: Buffer): Buffer {
  if (!Number.isSafeInteger(index) || index < 0)
    throw new RangeError(`block index must be a non-negative integer, got ${index}`);
  const at = LEAF_PREFIX.length;
  leafScratch.writeUInt32BE(Math.floor(index / 2 ** 32), at);
  leafScratch.writeUInt32BE(index % 2 ** 32, at + 4);
  blockSha256.copy(leafScratch, at + 8);
  return hash('sha256', leafScratch, 'buffer');
}

/** node = SHA-256("cleanroom.evidence.node.v1\0" ‖ left ‖ right). */
export function merkleNode(left: Buffer, right: Buffer): Buffer {
  left.copy(nodeScratch, NODE_PREFIX.length);
  right.copy(nodeScratch, NODE_PREFIX.length + 32);
  return hash('sha256', nodeScratch, 'buffer');
}

/**
 * The Merkle tree built a leaf at a time: a stack of perfect subtrees (heights strictly
 * decreasing), so n leaves need at most log2(n)+1 hashes of memory. The root folds the stack from
 * the right, which is RFC 6962's split at the largest power of two below n.
 */
export class MerkleBuilder {
  private readonly stack: Array<{ height: number; hash: Buffer }> = [];
  private count = 0;
  get leaves(): number {
    return this.count;
  }
  push(leaf: Buffer): void {
    let top = { height: 0, hash: leaf };
    for (;;) {
      const below = this.stack[this.stack.length - 1];
      if (!below || below.height !== top.height) break;
      this.stack.pop();
      top = { height: top.height + 1, hash: merkleNode(below.hash, top.hash) };
    }
    this.stack.push(top);
    this.count += 1;
  }
  /** The roots of the perfect subtrees held, largest first (a resumable hash carries them: resumable-hash.ts). */
  stackRoots(): Buffer[] {
    return this.stack.map((s) => s.hash);
  }
  /** A builder that holds these perfect subtrees (heights strictly decreasing) after `leaves` leaves. */
  static restore(stack: ReadonlyArray<{ height: number; hash: Buffer }>, leaves: number): MerkleBuilder {
    const b = new MerkleBuilder();
    let total = 0;
    for (const [k, s] of stack.entries()) {
      if (s.hash.length !== 32 || (k > 0 && s.height >= stack[k - 1]!.height))
        throw new RangeError('a Merkle stack holds 32-byte roots of strictly decreasing heights');
      total += 2 ** s.height;
      b.stack.push({ height: s.height, hash: Buffer.from(s.hash) });
    }
    if (total !== leaves) throw new RangeError(`a Merkle stack of ${total} leaves cannot stand for ${leaves}`);
    b.count = leaves;
    return b;
  }
  /** The root; of no leaves, SHA-256 of nothing (RFC 6962's MTH({})). */
  root(): Buffer {
    if (this.stack.length === 0) return hash('sha256', Buffer.alloc(0), 'buffer');
    let acc = this.stack[this.stack.length - 1]!.hash;
    for (let k = this.stack.length - 2; k >= 0; k--) acc = merkleNode(this.stack[k]!.hash, acc);
    return acc;
  }
}

/** The Merkle root of the given leaves (for proofs and tests; a hash builds it incrementally). */
export function merkleRootOf(leaves: Buffer[]): Buffer {
  const b = new MerkleBuilder();
  for (const l of leaves) b.push(l);
  return b.root();
}

/** A listed block: its index and the token GetSnapshotBlock needs. */
interface Listed {
  index: number;
  token: string;
}

/**
 * The listing of a snapshot, a page at a time, in index order. AWS pages ListSnapshotBlocks by
 * index (StartingBlockIndex); each page is sorted here, and a page that goes back before what was
 * already handed out is refused rather than silently hashed out of order.
 */
class BlockListing {
  private buffer: Listed[] = [];
  private at = 0;
  private nextToken: string | undefined;
  private last = -1;
  private relisting: Promise<void> = Promise.resolve();
  /** Tokens from the latest re-listing, for blocks already handed out. */
  private fresh = new Map<number, string>();
  blockSize = 0;
  volumeSize = 0;

  /** `list` sends ListSnapshotBlocks in the caller's account (the port stays there for the IAM policy check). */
  constructor(
    private readonly snapshotId: string,
    private readonly list: EbsPort['listSnapshotBlocks'],
  ) {}

  private async page(token: string | undefined, startingBlockIndex?: number) {
    const r = await this.list({
      SnapshotId: this.snapshotId,
      ...(token ? { NextToken: token } : {}),
      ...(startingBlockIndex !== undefined && !token ? { StartingBlockIndex: startingBlockIndex } : {}),
    });
    // The SDK passes BlockIndex through as the service sent it (a string from some); normalise.
    const blocks = (r.Blocks ?? [])
      .map((b) => ({ index: Number(b.BlockIndex), token: b.BlockToken ?? '' }))
      .sort((a, b) => a.index - b.index);
    if (r.BlockSize !== undefined) this.blockSize ||= Number(r.BlockSize);
    if (r.VolumeSize !== undefined) this.volumeSize ||= Number(r.VolumeSize);
    return { blocks, next: r.NextToken ?? undefined };
  }

  /** Read the first page (from block `from`, default 0): BlockSize, VolumeSize and the first blocks. */
  async start(from = 0): Promise<void> {
    const p = await this.page(undefined, from > 0 ? from : undefined);
    // Blocks before `from` are another invocation's (a resumed hash): refused if listed again.
    this.last = from - 1;
    this.buffer = p.blocks.filter((b) => b.index >= from);
    this.nextToken = p.next;
  }

  /** The next listed block in index order, or undefined at the end. */
  async next(): Promise<Listed | undefined> {
    // AWS may answer a page with no blocks and a NextToken; only a missing NextToken ends the list.
    while (this.at >= this.buffer.length) {
      if (!this.nextToken) return undefined;
      const p = await this.page(this.nextToken);
      this.buffer = p.blocks;
      this.at = 0;
      this.nextToken = p.next;
    }
    const b = this.buffer[this.at++]!;
    if (b.index <= this.last) {
      throw new CleanroomError(
        'BLOCK_READ_FAILED',
        `ListSnapshotBlocks for snapshot ${this.snapshotId} listed block ${b.index} after block ${this.last}: the listing is not in index order, so the disk cannot be hashed in one pass.`,
        { details: { snapshotId: this.snapshotId, blockIndex: b.index } },
      );
    }
    this.last = b.index;
    return b;
  }

  /**
   * A fresh token for a block whose token expired (AWS: valid 7 days, then ValidationException):
   * re-list from that block, and refresh the tokens of the blocks not yet handed out too. One
   * re-listing at a time; a block whose token a concurrent re-listing already refreshed uses it.
   */
  async refresh(index: number, stale: string): Promise<string> {
    const run = this.relisting.then(async () => {
      const known = this.fresh.get(index);
      if (known !== undefined && known !== stale) return known;
      this.fresh.clear();
      let token: string | undefined;
      let found: string | undefined;
      do {
        const p = await this.page(token, index);
        for (const b of p.blocks) {
          if (b.index <= this.last) this.fresh.set(b.index, b.token);
          if (b.index === index) found = b.token;
        }
        const byIndex = new Map(p.blocks.map((b) => [b.index, b.token]));
        for (let k = this.at; k < this.buffer.length; k++) {
          const t = byIndex.get(this.buffer[k]!.index);
          if (t !== undefined) this.buffer[k] = { index: this.buffer[k]!.index, token: t };
        }
        token = p.next;
        if (found !== undefined || p.blocks.some((b) => b.index > index)) break;
      } while (token);
      if (found === undefined) {
        throw new CleanroomError(
          'BLOCK_READ_FAILED',
          `Block ${index} of snapshot ${this.snapshotId}: its block token expired and a new listing no longer lists the block.`,
          { details: { snapshotId: this.snapshotId, blockIndex: index } },
        );
      }
      return found;
    });
    this.relisting = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}

/** One verified block: its bytes and their SHA-256 (equal to the checksum AWS sent). */
export interface VerifiedBlock {
  data: Buffer;
  sha256: Buffer;
}

/** How a block read is retried (see {@link readVerifiedBlock}). */
export interface BlockReadOptions {
  retries?: number;
  clock?: Clock;
  retryDelayMs?: number;
  signal?: AbortSignal;
  /** The size the block must have (the listing's BlockSize); unchecked when absent. */
  blockSize?: number;
  /** A fresh token when the one used has expired (default: none, the expiry fails the read). */
  refreshToken?: (index: number, stale: string) => Promise<string>;
}

/**
 * Read one block with GetSnapshotBlock and verify its bytes against the SHA-256 AWS sent with it,
 * retrying as the module comment says; throws BLOCK_CHECKSUM_MISMATCH or BLOCK_READ_FAILED naming
 * the snapshot and the block when the retries are spent (or at once for a failure that is not
 * transient: access denied, an unknown snapshot).
 */
export async function readVerifiedBlock(
  account: AccountCalls<{ ebs: 'getSnapshotBlock' }>,
  snapshotId: string,
  index: number,
  token: string,
  opts: BlockReadOptions = {},
): Promise<VerifiedBlock> {
  const retries = opts.retries ?? 4;
  const clock = opts.clock ?? systemClock;
  const baseDelay = opts.retryDelayMs ?? 200;
  let lastError: Error | undefined;
  let mismatch = false;
  let refreshed = 0;
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (opts.signal?.aborted) throw interruptedAt(`reading block ${index} of ${snapshotId}`, opts.signal.reason);
    let phase: 'call' | 'body' = 'call';
    try {
      const r = await account.ebs.getSnapshotBlock({ SnapshotId: snapshotId, BlockIndex: index, BlockToken: token });
      phase = 'body';
      const data = await readBody(r.BlockData, opts.blockSize);
      const sha256 = hash('sha256', data, 'buffer');
      const want = r.Checksum ? Buffer.from(r.Checksum, 'base64') : undefined;
      const algorithmOk = r.ChecksumAlgorithm === undefined || r.ChecksumAlgorithm === 'SHA256';
      if (!want || !algorithmOk || want.length !== sha256.length || !timingSafeEqual(want, sha256)) {
        mismatch = true;
        lastError = new CleanroomError(
          'BLOCK_CHECKSUM_MISMATCH',
          want && algorithmOk
            ? `Block ${index} of snapshot ${snapshotId} does not match the checksum EBS sent with it (${r.Checksum}), ${attempt + 1} time(s) in a row: the bytes were damaged on the way. Run again; if it persists, the snapshot cannot be read reliably from here.`
            : `Block ${index} of snapshot ${snapshotId} came without a SHA-256 checksum (${r.ChecksumAlgorithm ?? 'none'}), ${attempt + 1} time(s) in a row: its bytes cannot be verified.`,
          { details: { snapshotId, blockIndex: index, checksum: r.Checksum, attempts: attempt + 1 } },
        );
        continue; // re-read at once: damage on the way is not load
      }
      return { data, sha256 };
    } catch (e) {
      const err = asError(e);
      if (err instanceof CleanroomError && err.code === 'INTERRUPTED') throw err;
      mismatch = false;
      lastError = err;
      if (phase === 'call' && isExpiredToken(err) && opts.refreshToken && refreshed < 2) {
        refreshed += 1;
        token = await opts.refreshToken(index, token);
        attempt -= 1; // a refreshed token is not a failed attempt
        continue;
      }
      const retryable = phase === 'body' || (isTransientAwsError(err) && sdkAttempts(err) <= 1);
      if (!retryable || attempt === retries) break;
      const cap = Math.min(10_000, baseDelay * 2 ** attempt);
      try {
        await clock.sleep(Math.round(Math.random() * cap), opts.signal);
      } catch (s) {
        throw interruptedAt(`reading block ${index} of ${snapshotId}`, s);
      }
    }
  }
  if (mismatch && lastError) throw lastError;
  throw new CleanroomError(
    'BLOCK_READ_FAILED',
    `Block ${index} of snapshot ${snapshotId} could not be read: ${oneLine(lastError)}`,
    { cause: lastError, details: { snapshotId, blockIndex: index } },
  );
}

/** True for EBS's answer to an expired or unknown block token (ValidationException, reason INVALID_BLOCK_TOKEN). */
function isExpiredToken(e: Error): boolean {
  if (!(e instanceof AwsError) || e.awsCode !== 'ValidationException') return false;
  const reason = (e.cause as { Reason?: string } | undefined)?.Reason;
  return reason === 'INVALID_BLOCK_TOKEN' || /token/i.test(e.message);
}

/** How many attempts the SDK made for a failed call (1 when it did not retry or did not say). */
function sdkAttempts(e: Error): number {
  const m = (e.cause as { $metadata?: { attempts?: number } } | undefined)?.$metadata;
  return m?.attempts ?? 1;
}

/** Error text for a message: one line (SDK messages carry line breaks). */
function oneLine(e: unknown): string {
  return asError(e).message.replace(/\s+/g, ' ').trim();
}

/** A block's body as one buffer (a Node stream, an async iterable, bytes, or an SDK stream mixin). */
async function readBody(body: unknown, size: number | undefined): Promise<Buffer> {
  // Of a known size: one allocation, the chunks copied in (no list of chunks, no concat).
  const into = size !== undefined ? Buffer.allocUnsafe(size) : undefined;
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const c of asChunks(body)) {
    if (into) {
      if (length + c.byteLength > into.length) {
        length += c.byteLength;
        break;
      }
      into.set(c, length);
    } else {
      chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength));
    }
    length += c.byteLength;
  }
  if (into) {
    if (length !== into.length) {
      throw new AwsError(
        'ebs',
        'getSnapshotBlock',
        'ShortBody',
        `GetSnapshotBlock returned ${length > into.length ? 'more than' : 'only'} ${Math.min(length, into.length)} of the block's ${into.length} bytes`,
      );
    }
    return into;
  }
  return Buffer.concat(chunks, length);
}

/** The chunks of a block's body (a body that is neither bytes nor a stream is an unreadable response). */
function asChunks(body: unknown): AsyncGenerator<Uint8Array> {
  return bodyChunks(
    body,
    () =>
      new AwsError(
        'ebs',
        'getSnapshotBlock',
        'UnreadableResponse',
        'GetSnapshotBlock returned a body that is neither bytes nor a stream',
      ),
  );
}

const zeroBlocks = new Map<number, { data: Buffer; sha256: Buffer }>();

/** An all-zero block of the size and its SHA-256: computed once per block size. */
function zeroBlock(size: number): { data: Buffer; sha256: Buffer } {
  let z = zeroBlocks.get(size);
  if (!z) {
    const data = Buffer.alloc(size);
    z = { data, sha256: hash('sha256', data, 'buffer') };
    zeroBlocks.set(size, z);
  }
  return z;
}

/** How {@link hashSnapshot} computes the flat SHA-256. */
export interface HashSnapshotOptions extends SnapshotReadOptions {
  /**
   * Where the flat SHA-256 is computed (hash-pool.ts): default the process's pool of worker threads,
   * one per core, off the event loop; `inThreadSha256` computes it on the calling thread.
   */
  sha256?: Sha256Pool;
}

/**
 * Hash a snapshot's whole disk through the EBS direct APIs (see the module comment): the flat
 * SHA-256 and the block Merkle root, in one pass, every block's checksum verified. The flat SHA-256
 * is computed off the event loop (`sha256`), fed every byte in order; the Merkle tree here.
 */
export async function hashSnapshot(
  account: Pick<AwsAccount, 'ebs'> | SnapshotReadAccount,
  snapshotId: string,
  opts: HashSnapshotOptions = {},
): Promise<ContentHash> {
  const flat = (opts.sha256 ?? sharedSha256Pool()).open();
  const tree = new MerkleBuilder();
  const onBlock = opts.onBlock;
  // Runs of unlisted blocks reach the flat hash as a count of zero bytes.
  let zerosPending = 0;
  const flushZeros = () => {
    if (zerosPending > 0) flat.zeros(zerosPending);
    zerosPending = 0;
  };
  try {
    const r = await readSnapshot(account, snapshotId, opts, (index, block, sha256, listed) => {
      tree.push(merkleLeaf(index, sha256));
      if (!listed) {
        zerosPending += block.length;
        if (zerosPending >= ZERO_CHUNK) flushZeros();
        return onBlock?.(index, null);
      }
      flushZeros();
      const wait = flat.update(block);
      const after = onBlock?.(index, block);
      return wait && after ? Promise.all([wait, after]).then(() => undefined) : (wait ?? after);
    });
    flushZeros();
    return {
      snapshotId,
      sha256: await flat.digest(),
      merkleRoot: tree.root().toString('hex'),
      sizeBytes: r.sizeBytes,
      blockSize: r.blockSize,
      blocksRead: r.blocksRead,
      hashedAt: new Date().toISOString(),
      hashTool: { ...HASH_TOOL },
    };
  } catch (e) {
    flat.cancel();
    throw e;
  }
}

/** Where a pass over a snapshot starts and when it stops early (a resumable hash: resumable-hash.ts). */
export interface SnapshotPass {
  /** The first block to read (default 0): blocks before it were consumed by an earlier pass. */
  from?: number;
  /** Asked at each block boundary after the first: true ends the pass there (the blocks not consumed are left for the next). */
  stopBefore?: (index: number) => boolean;
  /** Called with the disk's geometry as listed, before any block is read (may throw to refuse the pass). */
  onStart?: (geometry: { blockSize: number; totalBytes: number }) => void;
}

/** What a pass read: the disk's geometry, the listed blocks it read, where it stopped (`next` = blocks when whole). */
export interface SnapshotPassResult {
  sizeBytes: number;
  blockSize: number;
  blocksRead: number;
  /** The next block to read: the disk's block count when the pass reached the end. */
  next: number;
}

/**
 * The one pass: every block `from`..n-1 in index order to `consume` (an unlisted block as the shared
 * zero block), listed blocks fetched by a bounded pool at most `window` ahead; ended early at a
 * block boundary when `stopBefore` says so.
 */
export async function readSnapshot(
  account: SnapshotReadAccount,
  snapshotId: string,
  opts: SnapshotReadOptions,
  consume: (index: number, block: Buffer, sha256: Buffer, listed: boolean) => void | Promise<void>,
  pass: SnapshotPass = {},
): Promise<SnapshotPassResult> {
  const concurrency = positive('concurrency', opts.concurrency ?? 16);
  const window = positive('window', opts.window ?? 64);
  const signal = opts.signal;
  const stage = `hashing snapshot ${snapshotId}`;
  if (signal?.aborted) throw interruptedAt(stage, signal.reason);

  const listing = new BlockListing(snapshotId, (input) => account.ebs.listSnapshotBlocks(input));
  const from = pass.from ?? 0;
  await untilAborted(listing.start(from), signal, stage);
  const blockSize = listing.blockSize;
  const sizeBytes = listing.volumeSize * GIB;
  if (!(blockSize > 0) || !(sizeBytes > 0) || sizeBytes % blockSize !== 0) {
    throw new CleanroomError(
      'BLOCK_READ_FAILED',
      `ListSnapshotBlocks for snapshot ${snapshotId} reported block size ${blockSize} and volume size ${listing.volumeSize} GiB: the disk cannot be divided into blocks.`,
      { details: { snapshotId, blockSize, volumeSize: listing.volumeSize } },
    );
  }
  const blocks = sizeBytes / blockSize;
  if (!Number.isSafeInteger(from) || from < 0 || from > blocks) {
    throw new CleanroomError(
      'BLOCK_READ_FAILED',
      `A pass over snapshot ${snapshotId} cannot start at block ${from}: the disk has ${blocks} blocks of ${blockSize} bytes.`,
      { details: { snapshotId, blockIndex: from } },
    );
  }
  pass.onStart?.({ blockSize, totalBytes: sizeBytes });
  const zero = zeroBlock(blockSize);

  // Internal stop: the first failure (or the caller's abort) stops the reads not yet started.
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const limit = pLimit(concurrency);
  const ahead: Array<{ index: number; block: Promise<VerifiedBlock> }> = [];
  let listingDone = false;
  const readOpts: BlockReadOptions = {
    ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.retryDelayMs !== undefined ? { retryDelayMs: opts.retryDelayMs } : {}),
    signal: stop.signal,
    blockSize,
    refreshToken: (i, stale) => listing.refresh(i, stale),
  };
  const topUp = async () => {
    while (!listingDone && ahead.length < window) {
      const b = await listing.next();
      if (!b) {
        listingDone = true;
        return;
      }
      if (b.index >= blocks) {
        throw new CleanroomError(
          'BLOCK_READ_FAILED',
          `ListSnapshotBlocks for snapshot ${snapshotId} listed block ${b.index}, beyond its ${blocks} blocks of ${blockSize} bytes.`,
          { details: { snapshotId, blockIndex: b.index } },
        );
      }
      const block = limit(() => {
        if (stop.signal.aborted) throw interruptedAt(stage, stop.signal.reason);
        return readVerifiedBlock(account, snapshotId, b.index, b.token, readOpts);
      });
      block.catch(() => {}); // awaited in order below; a failure ahead of the consumer is not unhandled
      ahead.push({ index: b.index, block });
    }
  };

  let blocksRead = 0;
  let bytesDone = from * blockSize;
  const progress = opts.onProgress;
  const stopBefore = pass.stopBefore;
  let i = from;
  try {
    while (i < blocks) {
      if (signal?.aborted) throw interruptedAt(stage, signal.reason);
      // At least one block per pass: a pass always makes progress.
      if (i > from && stopBefore?.(i)) break;
      if (!listingDone && ahead.length < window) await untilAborted(topUp(), signal, stage);
      const head = ahead[0];
      // The run of unlisted blocks before the next listed one: zeros, without a wait per block
      // unless the consumer asks for one.
      const end = head ? head.index : blocks;
      for (; i <= end && i < blocks; i++) {
        if (stopBefore && i > from && stopBefore(i)) break;
        let pending: void | Promise<void>;
        if (i < end) {
          pending = consume(i, zero.data, zero.sha256, false);
          if ((i & 0xfff) === 0 && signal?.aborted) throw interruptedAt(stage, signal.reason);
        } else {
          const got = await untilAborted(ahead[0]!.block, signal, stage);
          ahead.shift();
          blocksRead += 1;
          pending = consume(i, got.data, got.sha256, true);
        }
        if (pending) await pending;
        bytesDone += blockSize;
        progress?.({ bytesDone, bytesTotal: sizeBytes, blocksRead });
      }
      if (i > from && i < blocks && stopBefore?.(i)) break;
    }
  } catch (e) {
    stop.abort(e);
    limit.clearQueue();
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (i < blocks) {
    // Stopped early: the reads fetched ahead are not consumed (the next pass reads them again).
    stop.abort(new Error('pass ended at its budget'));
    limit.clearQueue();
  }
  return { sizeBytes, blockSize, blocksRead, next: i };
}

/** Await `p`, or throw InterruptedError as soon as the signal fires. */
async function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined, stage: string): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) throw interruptedAt(stage, signal.reason);
  let off = () => {};
  const aborted = new Promise<never>((_, reject) => {
    const f = () => reject(interruptedAt(stage, signal.reason));
    signal.addEventListener('abort', f, { once: true });
    off = () => signal.removeEventListener('abort', f);
  });
  try {
    return await Promise.race([p, aborted]);
  } finally {
    off();
  }
}

function positive(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  return v;
}
