/**
 * A versioned in-memory S3 of one bucket with S3's conditional-write semantics (If-None-Match: * →
 * 412 when the key exists; If-Match: <etag> → 412 when the current version's ETag differs, 404 when
 * there is none), for the lease and lock tests.
 */
import { createHash } from 'node:crypto';
import type { AwsAccount } from '../../src/aws/ports.js';
import type { LeaseDocument } from '../../src/custody/lease.js';

function awsError(name: string): Error {
  return Object.assign(new Error(name), { name });
}

/** The fake S3 port, its versions and the PUTs made. */
export function fakeS3() {
  const versions = new Map<string, Array<{ body: Buffer; etag: string }>>();
  const puts: Array<{ key: string; ifMatch?: string; ifNoneMatch?: string; sse?: string; doc: LeaseDocument }> = [];
  const s3 = {
    async getObject(i: { Key?: string }) {
      const v = versions.get(i.Key!)?.at(-1);
      if (!v) throw awsError('NoSuchKey');
      return { ETag: v.etag, Body: { transformToByteArray: async () => new Uint8Array(v.body) } };
    },
    /** Lists the current keys under a prefix (one page). */
    async listObjectsV2(i: { Prefix?: string }) {
      const keys = [...versions.keys()].filter((k) => k.startsWith(i.Prefix ?? '')).sort();
      return { Contents: keys.map((Key) => ({ Key })), IsTruncated: false };
    },
    async putObject(i: {
      Key?: string;
      Body?: unknown;
      IfMatch?: string;
      IfNoneMatch?: string;
      ServerSideEncryption?: string;
    }) {
      const list = versions.get(i.Key!) ?? [];
      const cur = list.at(-1);
      if (i.IfNoneMatch === '*' && cur) throw awsError('PreconditionFailed');
      if (i.IfMatch !== undefined) {
        if (!cur) throw awsError('NoSuchKey');
        if (cur.etag !== i.IfMatch) throw awsError('PreconditionFailed');
      }
      const body = Buffer.from(i.Body as Buffer);
      const etag = `"${createHash('md5').update(body).digest('hex')}"`;
      list.push({ body, etag });
      versions.set(i.Key!, list);
      puts.push({
        key: i.Key!,
        ...(i.IfMatch ? { ifMatch: i.IfMatch } : {}),
        ...(i.IfNoneMatch ? { ifNoneMatch: i.IfNoneMatch } : {}),
        ...(i.ServerSideEncryption ? { sse: i.ServerSideEncryption } : {}),
        doc: JSON.parse(body.toString('utf8')),
      });
      return { ETag: etag };
    },
  };
  return {
    s3: { s3 } as unknown as Pick<AwsAccount, 's3'>,
    versions,
    puts,
    current: (key: string) => JSON.parse(versions.get(key)!.at(-1)!.body.toString('utf8')) as LeaseDocument,
  };
}
