/**
 * The local AWS's test-only fault endpoint (local-aws/patches/fault_injection.py): an armed fault
 * fails exactly the next N matching requests, in the request's protocol, before moto acts on them;
 * other requests and the ones after go through; GET counts what fired; DELETE disarms.
 */
import t from 'tap';
import { CreateBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { armFault, armedFaults } from '../harness/step-functions.js';

const aws = await useLocalAws(t);

t.test('the next N matching requests fail as AWS fails them, then nothing does', async (t) => {
  const s3 = new S3Client({ region: 'us-east-1', endpoint: aws.endpoint, forcePathStyle: true, maxAttempts: 1 });
  const ec2 = new EC2Client({ region: 'us-east-1', endpoint: aws.endpoint, maxAttempts: 1 });
  await s3.send(new CreateBucketCommand({ Bucket: 'faults' }));
  await armFault(aws.endpoint, { method: 'PUT', path: '/cases/', bodyContains: 'evidence.snapshot', count: 2 });
  await armFault(aws.endpoint, { target: 'DescribeVpcs', count: 1, status: 503, code: 'RequestLimitExceeded' });
  const put = (Key: string, Body: string) => s3.send(new PutObjectCommand({ Bucket: 'faults', Key, Body }));

  await put('other/a', 'evidence.snapshot'); // path does not match
  await put('cases/a', 'something else'); // body does not match
  for (const n of [1, 2])
    await t.rejects(
      put('cases/b', '{"action":"evidence.snapshot"}'),
      { name: 'InternalError' },
      `failure ${n}: S3's 500`,
    );
  await t.rejects(
    s3.send(new HeadObjectCommand({ Bucket: 'faults', Key: 'cases/b' })),
    'moto never saw the failed PUTs',
  );
  await put('cases/b', '{"action":"evidence.snapshot"}');
  t.ok(await s3.send(new HeadObjectCommand({ Bucket: 'faults', Key: 'cases/b' })), 'the third one goes through');

  await t.rejects(
    ec2.send(new DescribeVpcsCommand({})),
    { name: 'RequestLimitExceeded' },
    "EC2's error, as EC2 writes it",
  );
  t.ok((await ec2.send(new DescribeVpcsCommand({}))).Vpcs, 'then EC2 answers');

  const faults = await armedFaults(aws.endpoint);
  t.same(
    faults.map((f) => [f.fired, f.remaining]),
    [
      [2, 0],
      [1, 0],
    ],
  );
  await fetch(`${aws.endpoint}/moto-api/cleanroom/faults`, { method: 'DELETE' });
  t.same(await armedFaults(aws.endpoint), [], 'disarmed');
  const bad = await fetch(`${aws.endpoint}/moto-api/cleanroom/faults`, {
    method: 'POST',
    body: JSON.stringify({ path: '(', count: 1 }),
  });
  t.equal(bad.status, 400, 'a fault that cannot match is refused');
});
