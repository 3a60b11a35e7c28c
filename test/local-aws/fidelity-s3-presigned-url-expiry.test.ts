// Fidelity patch patches/s3_presigned_url_expiry.py: a presigned S3 URL used after X-Amz-Date +
// X-Amz-Expires is refused with 403 AccessDenied "Request has expired", as AWS does; one used in
// time works, and requests signed in the Authorization header are not affected.
import t from 'tap';
import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  UploadPartCommand,
  CreateMultipartUploadCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { useLocalAws } from '../../local-aws/local-aws.js';

t.test('presigned URLs expire', async (t) => {
  await useLocalAws(t);
  const s3 = new S3Client({ requestChecksumCalculation: 'WHEN_REQUIRED' });
  const Bucket = 'presigned';
  await s3.send(new CreateBucketCommand({ Bucket }));
  await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'content' }));

  const fresh = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: 'k' }), { expiresIn: 60 });
  const ok = await fetch(fresh);
  t.equal(ok.status, 200);
  t.equal(await ok.text(), 'content', 'a URL used in time works');

  const twoHoursAgo = new Date(Date.now() - 7_200_000);
  const old = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: 'k' }), {
    expiresIn: 60,
    signingDate: twoHoursAgo,
  });
  const refused = await fetch(old);
  t.equal(refused.status, 403);
  const body = await refused.text();
  t.match(body, /<Code>AccessDenied<\/Code><Message>Request has expired<\/Message>/);
  t.match(body, /<X-Amz-Expires>60<\/X-Amz-Expires>/);

  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'm' }));
  const part = await getSignedUrl(s3, new UploadPartCommand({ Bucket, Key: 'm', UploadId, PartNumber: 1 }), {
    expiresIn: 60,
    signingDate: twoHoursAgo,
  });
  const put = await fetch(part, { method: 'PUT', body: 'x'.repeat(10) });
  t.equal(put.status, 403, 'an expired part URL too');
  t.match(await put.text(), /Request has expired/);

  const got = await s3.send(new GetObjectCommand({ Bucket, Key: 'k' }));
  t.equal(await got.Body!.transformToString(), 'content', 'requests signed in the header are not affected');
});
