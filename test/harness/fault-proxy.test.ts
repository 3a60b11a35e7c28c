import t from 'tap';
import { EC2Client, DescribeVolumesCommand, CreateVolumeCommand } from '@aws-sdk/client-ec2';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { startFaultProxy } from './fault-proxy.js';

t.test('the fault proxy forwards, throttles, fails and rewrites by service and action', async (t) => {
  const aws = await useLocalAws(t);
  const proxy = await startFaultProxy(aws);
  t.teardown(() => proxy.close());
  const ec2 = new EC2Client({ endpoint: proxy.endpoint, maxAttempts: 1 });
  await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: 1 }));
  t.equal((await ec2.send(new DescribeVolumesCommand({}))).Volumes?.length, 1, 'forwards to moto');

  proxy.add({ service: 'ec2', action: 'DescribeVolumes', fault: { kind: 'throttle' }, times: 1 });
  await t.rejects(ec2.send(new DescribeVolumesCommand({})), { name: 'RequestLimitExceeded' }, 'throttles as EC2 does');
  t.equal((await ec2.send(new DescribeVolumesCommand({}))).Volumes?.length, 1, 'times: 1 applies once');

  proxy.add({
    service: 'ec2',
    action: 'DescribeVolumes',
    fault: { kind: 'error', status: 403, code: 'UnauthorizedOperation', message: 'You are not authorized' },
    times: 1,
  });
  await t.rejects(ec2.send(new DescribeVolumesCommand({})), { name: 'UnauthorizedOperation' });

  proxy.add({
    service: 'ec2',
    action: 'DescribeVolumes',
    fault: { kind: 'rewrite', fn: (b) => b.replace(/<status>available<\/status>/g, '<status>creating</status>') },
    times: 1,
  });
  t.equal((await ec2.send(new DescribeVolumesCommand({}))).Volumes?.[0]?.State, 'creating', 'rewrites answers');

  proxy.add({ service: 'ec2', action: 'DescribeVolumes', fault: { kind: 'reset' }, times: 1 });
  await t.rejects(ec2.send(new DescribeVolumesCommand({})), 'a reset connection fails the call');

  let hooked = '';
  proxy.onCall(proxy.calls.length + 1, (c) => {
    hooked = c.action;
  });
  await ec2.send(new DescribeVolumesCommand({}));
  t.equal(hooked, 'DescribeVolumes', 'the k-th call hook sees the call');
  t.ok(proxy.count('ec2', 'DescribeVolumes') >= 6, 'counts calls');
});
