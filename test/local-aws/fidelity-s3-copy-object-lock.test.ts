/**
 * The fidelity patch patches/s3_copy_object_lock.py: a CopyObject into a bucket with Object Lock
 * (default retention, or the lock headers on the request) succeeds without Content-MD5, as AWS
 * documents (the checksum requirement is for uploads of bytes), and the copy is locked; an upload
 * without a checksum is still refused, as AWS refuses it.
 */
import t from 'tap';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectLockConfigurationCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { useLocalAws } from '../../local-aws/local-aws.js';

const creds = { accessKeyId: 'testing', secretAccessKey: 'testing' };

t.test('CopyObject into an Object Lock bucket needs no Content-MD5; uploads still do', async (t) => {
  const aws = await useLocalAws(t);
  const s3 = new S3Client({ endpoint: aws.endpoint, region: 'us-east-1', credentials: creds });
  // Sends no checksum unless the operation requires one (PutObject does not).
  const bare = new S3Client({
    endpoint: aws.endpoint,
    region: 'us-east-1',
    credentials: creds,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  const Bucket = 'locked';
  await s3.send(new CreateBucketCommand({ Bucket, ObjectLockEnabledForBucket: true }));
  await s3.send(
    new PutObjectLockConfigurationCommand({
      Bucket,
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 1 } },
      },
    }),
  );
  await s3.send(new PutObjectCommand({ Bucket, Key: 'src', Body: 'evidence', ChecksumAlgorithm: 'SHA256' }));

  const until = new Date(Date.now() + 2 * 86_400_000);
  const copied = await bare.send(
    new CopyObjectCommand({
      Bucket,
      Key: 'dst',
      CopySource: `${Bucket}/src`,
      ChecksumAlgorithm: 'SHA256',
      ObjectLockMode: 'GOVERNANCE',
      ObjectLockRetainUntilDate: until,
    }),
  );
  t.ok(copied.CopyObjectResult?.ChecksumSHA256, 'the copy has the SHA-256 S3 computed');
  const h = await s3.send(new HeadObjectCommand({ Bucket, Key: 'dst' }));
  t.equal(h.ObjectLockMode, 'GOVERNANCE', 'the copy is locked');
  t.equal(new Date(h.ObjectLockRetainUntilDate!).toISOString().slice(0, 19), until.toISOString().slice(0, 19));

  await bare.send(new CopyObjectCommand({ Bucket, Key: 'dst2', CopySource: `${Bucket}/src` }));
  t.ok(await s3.send(new HeadObjectCommand({ Bucket, Key: 'dst2' })), 'a copy under the default retention');

  const upload = await bare
    .send(new PutObjectCommand({ Bucket, Key: 'nochecksum', Body: 'x' }))
    .then(() => 'allowed')
    .catch((e: Error) => e.name);
  t.equal(upload, 'MissingUploadObjectWithObjectLockHeaders', 'an upload without a checksum is still refused');
});
