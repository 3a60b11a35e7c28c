/**
 * The fidelity patch patches/s3_conditional_writes_atomic.py: conditional PutObject is atomic, as
 * AWS documents — of many writers racing for one new key with `If-None-Match: *`, exactly one
 * succeeds and the key has one version; of many racing with `If-Match` the same ETag, exactly one.
 * (Without the patch moto checks, then writes: two racers could both succeed. A race may or may
 * not show it on a given run; what must always hold is asserted here.)
 */
import t from 'tap';
import {
  S3Client,
  CreateBucketCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  ListObjectVersionsCommand,
} from '@aws-sdk/client-s3';
import { useLocalAws } from '../../local-aws/local-aws.js';

const creds = { accessKeyId: 'testing', secretAccessKey: 'testing' };

/** Status of each of `n` concurrent PUTs (200, 409 or 412). */
async function race(n: number, put: (i: number) => Promise<unknown>): Promise<number[]> {
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      put(i).then(
        () => 200,
        (e: { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode ?? 0,
      ),
    ),
  );
}

t.test('racing conditional writes to one key: exactly one wins, the key has one version', async (t) => {
  const aws = await useLocalAws(t);
  const s3 = new S3Client({ endpoint: aws.endpoint, region: 'us-east-1', credentials: creds, maxAttempts: 1 });
  await s3.send(new CreateBucketCommand({ Bucket: 'race' }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: 'race', VersioningConfiguration: { Status: 'Enabled' } }));
  for (let round = 0; round < 8; round++) {
    const key = `new/${round}`;
    const got = await race(24, (i) =>
      s3.send(new PutObjectCommand({ Bucket: 'race', Key: key, Body: `writer ${i}`, IfNoneMatch: '*' })),
    );
    t.equal(got.filter((s) => s === 200).length, 1, `round ${round}: one If-None-Match write succeeded`);
    t.ok(
      got.every((s) => [200, 409, 412].includes(s)),
      'the others are refused with 412 (or 409)',
    );
    const v = await s3.send(new ListObjectVersionsCommand({ Bucket: 'race', Prefix: key }));
    t.equal(v.Versions?.length, 1, `round ${round}: one version`);
  }
  const first = await s3.send(new PutObjectCommand({ Bucket: 'race', Key: 'lease', Body: 'g0' }));
  const got = await race(24, (i) =>
    s3.send(new PutObjectCommand({ Bucket: 'race', Key: 'lease', Body: `g1 ${i}`, IfMatch: first.ETag! })),
  );
  t.equal(got.filter((s) => s === 200).length, 1, 'one If-Match write succeeded');
  const v = await s3.send(new ListObjectVersionsCommand({ Bucket: 'race', Prefix: 'lease' }));
  t.equal(v.Versions?.length, 2);
});
