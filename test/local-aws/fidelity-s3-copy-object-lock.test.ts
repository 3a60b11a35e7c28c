// Fidelity patch patches/s3_copy_object_lock.py: CopyObject into a bucket with default Object Lock
// retention succeeds and the copy takes the default retention (the Content-MD5 requirement is for
// requests that upload a body: PutObject); a PutObject without Content-MD5 or a checksum is still
// refused, as AWS documents.
import t from 'tap';
import {
  S3Client,
  CreateBucketCommand,
  PutObjectLockConfigurationCommand,
  PutObjectCommand,
  CopyObjectCommand,
  HeadObjectCommand,
  GetObjectCommand,
} from '@aws-sdk/client-s3';
import { useLocalAws } from '../../local-aws/local-aws.js';

t.test('CopyObject into a bucket with default retention', async (t) => {
  await useLocalAws(t);
  // The SDK adds a checksum to PutObject unless told to send one only when required.
  const s3 = new S3Client({ requestChecksumCalculation: 'WHEN_REQUIRED' });
  const Bucket = 'locked-bucket';
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
  await s3.send(new PutObjectCommand({ Bucket, Key: 'src', Body: 'content', ChecksumAlgorithm: 'SHA256' }));

  const copied = await s3.send(
    new CopyObjectCommand({ Bucket, Key: 'dst', CopySource: `${Bucket}/src`, ChecksumAlgorithm: 'SHA256' }),
  );
  t.ok(copied.CopyObjectResult?.ChecksumSHA256, 'the copy reports its SHA-256');
  t.equal(await (await s3.send(new GetObjectCommand({ Bucket, Key: 'dst' }))).Body!.transformToString(), 'content');
  const head = await s3.send(new HeadObjectCommand({ Bucket, Key: 'dst' }));
  t.equal(head.ObjectLockMode, 'GOVERNANCE', 'the copy takes the default retention');

  await t.rejects(
    s3.send(new PutObjectCommand({ Bucket, Key: 'no-md5', Body: 'x' })),
    { name: 'MissingUploadObjectWithObjectLockHeaders' },
    'an upload without Content-MD5 or a checksum is still refused',
  );
});
