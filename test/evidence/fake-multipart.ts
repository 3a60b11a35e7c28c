/**
 * A vault bucket that takes multipart uploads, in memory (the calls `evidence export --to-vault`
 * makes, answering as S3 documents them: parts by number, a part sent again replaces it, ListParts
 * with each part's ChecksumSHA256, a completed upload leaves the uploads list and becomes a new
 * object version with a composite checksum), and an in-order block reader like the hashing core's.
 */
import { createHash } from 'node:crypto';
import type { ContentHash } from '../../src/evidence/content-hash.js';
import type { BlockReader, ExportS3 } from '../../src/evidence/image-export.js';
import { compositeChecksum } from '../../src/evidence/image-export.js';
import { awsError, Calls, Faults, out, type FakePort } from '../fakes/ports.js';

interface Upload {
  key: string;
  initiated: Date;
  parts: Map<number, { body: Buffer; etag: string; checksum: string }>;
  input: Record<string, unknown>;
}

export interface StoredObject {
  body: Buffer;
  versionId: string;
  checksum: string;
  retention?: { mode: string; until: Date };
}

export class FakeMultipartBucket {
  readonly uploads = new Map<string, Upload>();
  readonly objects = new Map<string, StoredObject[]>();
  readonly calls = new Calls();
  readonly faults = new Faults();
  private n = 0;
  /** Whether ListParts answers each part's ChecksumSHA256 (the local AWS does not). */
  listChecksums = true;
  /** Complete the next upload, then lose the answer (a timeout; a retry would be NoSuchUpload). */
  loseCompleteAnswer = false;

  constructor(readonly name = 'cleanroom-evidence-123456789012-us-east-1') {}

  /** An upload in progress as an earlier run would have left it (parts given by number). */
  leaveUpload(key: string, parts: Record<number, Buffer>, initiated = new Date('2026-12-01T00:00:00Z')): string {
    const id = `upload-${++this.n}`;
    const u: Upload = { key, initiated, parts: new Map(), input: {} };
    for (const [k, body] of Object.entries(parts)) u.parts.set(Number(k), this.part(body));
    this.uploads.set(id, u);
    return id;
  }

  private part(body: Buffer) {
    return {
      body: Buffer.from(body),
      etag: `"${createHash('md5').update(body).digest('hex')}"`,
      checksum: createHash('sha256').update(body).digest('base64'),
    };
  }

  private call(op: string, input: unknown): void {
    this.calls.add(op, input);
    this.faults.check(op, input);
  }

  current(key: string): StoredObject | undefined {
    const v = this.objects.get(key);
    return v?.[v.length - 1];
  }

  port(): ExportS3 {
    const s3: FakePort<ExportS3['s3']> = {
      createMultipartUpload: async (i) => {
        this.call('createMultipartUpload', i);
        const id = `upload-${++this.n}`;
        this.uploads.set(id, { key: i.Key!, initiated: new Date(), parts: new Map(), input: i as never });
        return { UploadId: id, Bucket: i.Bucket, Key: i.Key };
      },
      uploadPart: async (i) => {
        this.call('uploadPart', i);
        const u = this.uploads.get(i.UploadId!);
        if (!u) throw awsError('s3', 'uploadPart', 'NoSuchUpload');
        const body = Buffer.from(i.Body as Uint8Array);
        const p = this.part(body);
        if (i.ChecksumSHA256 && i.ChecksumSHA256 !== p.checksum) throw awsError('s3', 'uploadPart', 'BadDigest');
        u.parts.set(i.PartNumber!, p);
        return { ETag: p.etag, ChecksumSHA256: p.checksum };
      },
      listMultipartUploads: async (i) => {
        this.call('listMultipartUploads', i);
        return {
          Uploads: [...this.uploads.entries()]
            .filter(([, u]) => u.key.startsWith(i.Prefix ?? ''))
            .map(([id, u]) => ({ UploadId: id, Key: u.key, Initiated: u.initiated })),
          IsTruncated: false,
        };
      },
      listParts: async (i) => {
        this.call('listParts', i);
        const u = this.uploads.get(i.UploadId!);
        if (!u) throw awsError('s3', 'listParts', 'NoSuchUpload');
        return {
          Parts: [...u.parts.entries()]
            .sort(([a], [b]) => a - b)
            .map(([n, p]) => ({
              PartNumber: n,
              ETag: p.etag,
              Size: p.body.length,
              ...(this.listChecksums ? { ChecksumSHA256: p.checksum } : {}),
            })),
          IsTruncated: false,
        };
      },
      completeMultipartUpload: async (i) => {
        this.call('completeMultipartUpload', i);
        const u = this.uploads.get(i.UploadId!);
        if (!u) throw awsError('s3', 'completeMultipartUpload', 'NoSuchUpload');
        const listed = i.MultipartUpload?.Parts ?? [];
        const bodies: Buffer[] = [];
        for (const p of listed) {
          const have = u.parts.get(p.PartNumber!);
          if (!have || have.etag !== p.ETag || (p.ChecksumSHA256 && p.ChecksumSHA256 !== have.checksum))
            throw awsError('s3', 'completeMultipartUpload', 'InvalidPart');
          bodies.push(have.body);
        }
        this.uploads.delete(i.UploadId!);
        const obj: StoredObject = {
          body: Buffer.concat(bodies),
          versionId: `v${++this.n}`,
          checksum: compositeChecksum(bodies.map((b) => createHash('sha256').update(b).digest())),
        };
        this.objects.set(u.key, [...(this.objects.get(u.key) ?? []), obj]);
        if (this.loseCompleteAnswer) {
          this.loseCompleteAnswer = false;
          throw awsError('s3', 'completeMultipartUpload', 'RequestTimeout', 'socket timed out', 500);
        }
        return { VersionId: obj.versionId, Key: u.key, ChecksumSHA256: obj.checksum };
      },
      abortMultipartUpload: async (i) => {
        this.call('abortMultipartUpload', i);
        this.uploads.delete(i.UploadId!);
        return {};
      },
      putObjectRetention: async (i) => {
        this.call('putObjectRetention', i);
        const o = (this.objects.get(i.Key!) ?? []).find((v) => v.versionId === i.VersionId) ?? this.current(i.Key!);
        if (!o) throw awsError('s3', 'putObjectRetention', 'NoSuchKey');
        o.retention = { mode: i.Retention!.Mode!, until: new Date(i.Retention!.RetainUntilDate!) };
        return {};
      },
      headObject: async (i) => {
        this.call('headObject', i);
        const o = this.current(i.Key!);
        if (!o) throw awsError('s3', 'headObject', 'NotFound', 'Not Found', 404);
        return {
          ContentLength: o.body.length,
          VersionId: o.versionId,
          ...(i.ChecksumMode === 'ENABLED' ? { ChecksumSHA256: o.checksum } : {}),
        };
      },
    };
    return { s3: s3 as unknown as ExportS3['s3'] };
  }
}

/** A disk image: `n` blocks of `blockSize`, the listed ones given (the rest zeros). */
export class FakeDisk {
  constructor(
    readonly blockSize: number,
    readonly n: number,
    readonly blocks: Map<number, Buffer>,
  ) {}

  static filled(blockSize: number, n: number, listed: number[]): FakeDisk {
    const m = new Map<number, Buffer>();
    for (const i of listed) m.set(i, Buffer.alloc(blockSize, (i % 250) + 1));
    return new FakeDisk(blockSize, n, m);
  }

  get sizeBytes(): number {
    return this.blockSize * this.n;
  }

  bytes(): Buffer {
    const b = Buffer.alloc(this.sizeBytes);
    for (const [i, d] of this.blocks) d.copy(b, i * this.blockSize);
    return b;
  }

  sha256(): string {
    return createHash('sha256').update(this.bytes()).digest('hex');
  }

  /** The reader; `stopAt`: throw before block `stopAt` (a process killed mid-export). */
  reader(opts: { stopAt?: number; reads?: { count: number } } = {}): BlockReader {
    return async (onBlock) => {
      if (opts.reads) opts.reads.count++;
      for (let i = 0; i < this.n; i++) {
        if (opts.stopAt === i) throw new Error(`killed at block ${i}`);
        await onBlock(i, this.blocks.get(i) ?? null);
      }
      return this.content();
    };
  }

  content(): ContentHash {
    return {
      snapshotId: 'snap-0123456789abcdef0',
      sha256: this.sha256(),
      merkleRoot: '00'.repeat(32),
      sizeBytes: this.sizeBytes,
      blockSize: this.blockSize,
      blocksRead: this.blocks.size,
      hashedAt: '2026-12-05T00:00:00.000Z',
      hashTool: { name: 'cleanroom', version: '0.1.0', method: 'ebs-direct' },
    };
  }
}

export { out };
