import t from 'tap';
import { startLocalAws } from '../../local-aws/local-aws.js';

t.test('moto starts on a free loopback port, resets, and stops by PID', async (t) => {
  const aws = await startLocalAws();
  t.match(aws.endpoint, /^https:\/\/127\.0\.0\.1:\d+$/);
  // State is visible, then gone after reset.
  const env = aws.env();
  const { S3Client, CreateBucketCommand, ListBucketsCommand } = await import('@aws-sdk/client-s3');
  const s3 = new S3Client({
    region: env.AWS_REGION!,
    endpoint: aws.endpoint,
    credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
  });
  // Over TLS with the test CA (see moto_launcher.py for why).
  await s3.send(new CreateBucketCommand({ Bucket: 'harness-probe' }));
  t.equal((await s3.send(new ListBucketsCommand({}))).Buckets?.length, 1);
  await aws.reset();
  t.equal((await s3.send(new ListBucketsCommand({}))).Buckets?.length ?? 0, 0, 'reset forgets all state');
  await aws.stop();
  t.throws(() => process.kill(aws.pid, 0), 'the process is gone after stop');
});
