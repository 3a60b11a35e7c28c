/**
 * The content hash of a snapshot, read through the EBS direct APIs (issue 13's shared contract).
 *
 * STAND-IN written by the export part (p5) against the contract while the hashing core (p2) is
 * being built: same exports, same results, simple (one in-order reader with a bounded look-ahead,
 * a few retries). p2's module replaces this file when the branches are merged.
 */
import { createHash, hash, timingSafeEqual } from 'node:crypto';
import type { AwsAccount } from '../aws/ports.js';
import { isTransientAwsError } from '../aws/errors.js';
import { CleanroomError, asError } from '../domain/errors.js';
import { throwIfAborted } from '../domain/abort.js';

export interface HashTool {
  name: 'cleanroom';
  version: string;
  method: 'ebs-direct' | 'device';
}

export interface ContentHash {
  snapshotId: string;
  sha256: string;
  merkleRoot: string;
  sizeBytes: number;
  blockSize: number;
  blocksRead: number;
  hashedAt: string;
  hashTool: HashTool;
}

export interface SnapshotReadOptions {
  concurrency?: number;
  window?: number;
  retries?: number;
  signal?: AbortSignal;
  onProgress?: (p: { bytesDone: number; bytesTotal: number; blocksRead: number }) => void;
  onBlock?: (index: number, data: Buffer | null) => void | Promise<void>;
}

export const HASH_TOOL: HashTool = { name: 'cleanroom', version: '0.1.0', method: 'ebs-direct' };

const LEAF = Buffer.from('cleanroom.evidence.block.v1\0');
const NODE = Buffer.from('cleanroom.evidence.node.v1\0');

export function merkleLeaf(index: number, blockSha256: Buffer): Buffer {
  const msg = Buffer.allocUnsafe(LEAF.length + 8 + blockSha256.length);
  LEAF.copy(msg, 0);
  msg.writeUInt32BE(Math.floor(index / 2 ** 32), LEAF.length);
  msg.writeUInt32BE(index >>> 0, LEAF.length + 4);
  blockSha256.copy(msg, LEAF.length + 8);
  return hash('sha256', msg, 'buffer');
}

export function merkleRootOf(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return createHash('sha256').digest();
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return createHash('sha256')
    .update(NODE)
    .update(merkleRootOf(leaves.slice(0, k)))
    .update(merkleRootOf(leaves.slice(k)))
    .digest();
}

async function bytesOf(body: unknown): Promise<Buffer> {
  if (body instanceof Uint8Array) return Buffer.from(body);
  const t = body as { transformToByteArray?: () => Promise<Uint8Array> };
  if (typeof t?.transformToByteArray === 'function') return Buffer.from(await t.transformToByteArray());
  const chunks: Buffer[] = [];
  for await (const c of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

export async function hashSnapshot(
  account: Pick<AwsAccount, 'ebs'>,
  snapshotId: string,
  opts: SnapshotReadOptions = {},
): Promise<ContentHash> {
  const listed = new Map<number, string>();
  let blockSize = 0;
  let volumeSize = 0;
  let token: string | undefined;
  do {
    throwIfAborted(opts.signal, 'listing snapshot blocks');
    const page = await account.ebs.listSnapshotBlocks({
      SnapshotId: snapshotId,
      ...(token ? { NextToken: token } : {}),
    });
    blockSize ||= page.BlockSize ?? 0;
    volumeSize ||= page.VolumeSize ?? 0;
    for (const b of page.Blocks ?? [])
      if (b.BlockIndex !== undefined) listed.set(Number(b.BlockIndex), b.BlockToken ?? '');
    token = page.NextToken;
  } while (token);
  const sizeBytes = volumeSize * 2 ** 30;
  const n = blockSize ? sizeBytes / blockSize : 0;
  const zeroBlock = Buffer.alloc(blockSize);
  const zeroSha = createHash('sha256').update(zeroBlock).digest();
  const whole = createHash('sha256');
  // RFC 6962 shape, streamed: complete left subtrees merge as they fill; the rest fold at the end.
  const stack: Array<{ size: number; hash: Buffer }> = [];
  const node = (l: Buffer, r: Buffer) => hash('sha256', Buffer.concat([NODE, l, r]), 'buffer');
  const retries = opts.retries ?? 4;
  const read = async (index: number): Promise<Buffer> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await account.ebs.getSnapshotBlock({
          SnapshotId: snapshotId,
          BlockIndex: index,
          BlockToken: listed.get(index)!,
        });
        const data = await bytesOf(r.BlockData);
        const got = createHash('sha256').update(data).digest();
        const want = r.Checksum ? Buffer.from(r.Checksum, 'base64') : got;
        if (want.length !== got.length || !timingSafeEqual(want, got))
          throw new CleanroomError(
            'BLOCK_CHECKSUM_MISMATCH',
            `Block ${index} of snapshot ${snapshotId} does not match the checksum EBS sent with it.`,
            { details: { snapshotId, blockIndex: index } },
          );
        return data;
      } catch (e) {
        const err = asError(e);
        const again = err instanceof CleanroomError ? err.code === 'BLOCK_CHECKSUM_MISMATCH' : isTransientAwsError(err);
        if (!again || attempt >= retries) {
          if (err instanceof CleanroomError && err.code === 'BLOCK_CHECKSUM_MISMATCH') throw err;
          throw new CleanroomError(
            'BLOCK_READ_FAILED',
            `Reading block ${index} of snapshot ${snapshotId} failed: ${err.message}`,
            { cause: err, details: { snapshotId, blockIndex: index } },
          );
        }
        await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
      }
    }
  };
  const window = Math.max(1, opts.window ?? 16);
  const ahead = new Map<number, Promise<Buffer>>();
  const listedIdx = [...listed.keys()].sort((a, b) => a - b);
  let next = 0;
  const fill = (from: number) => {
    while (next < listedIdx.length && ahead.size < window && listedIdx[next]! >= from) {
      const i = listedIdx[next++]!;
      const p = read(i);
      p.catch(() => undefined);
      ahead.set(i, p);
    }
  };
  let blocksRead = 0;
  for (let i = 0; i < n; i++) {
    throwIfAborted(opts.signal, `reading block ${i} of ${snapshotId}`);
    fill(i);
    let data: Buffer | null = null;
    if (listed.has(i)) {
      data = await ahead.get(i)!;
      ahead.delete(i);
      blocksRead++;
    }
    const blockSha = data ? createHash('sha256').update(data).digest() : zeroSha;
    whole.update(data ?? zeroBlock);
    stack.push({ size: 1, hash: merkleLeaf(i, blockSha) });
    while (stack.length > 1 && stack[stack.length - 1]!.size === stack[stack.length - 2]!.size) {
      const r = stack.pop()!;
      const l = stack.pop()!;
      stack.push({ size: l.size * 2, hash: node(l.hash, r.hash) });
    }
    await opts.onBlock?.(i, data);
    opts.onProgress?.({ bytesDone: (i + 1) * blockSize, bytesTotal: sizeBytes, blocksRead });
  }
  return {
    snapshotId,
    sha256: whole.digest('hex'),
    merkleRoot: (stack.length
      ? stack.reduceRight((acc: Buffer | undefined, x) => (acc ? node(x.hash, acc) : x.hash), undefined)!
      : createHash('sha256').digest()
    ).toString('hex'),
    sizeBytes,
    blockSize,
    blocksRead,
    hashedAt: new Date().toISOString(),
    hashTool: HASH_TOOL,
  };
}
