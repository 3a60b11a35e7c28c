/**
 * `automation run` end to end on the local AWS: refused before anything starts for an unknown or
 * terminated instance and without a deployment; then, deployed, the item list lands in the vault
 * under Object Lock with the SHA-256 the record names, the fleet state machine's Distributed Map reads
 * it and starts one child per instance, and running the same list again is the same run.
 *
 * The fleet is stopped once its children run: on the local AWS each child's attach step waits for an
 * SSM answer moto never gives (see test/cli/automation-finding.test.ts), so no child ends here.
 */
import t from 'tap';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import * as sfnSdk from '@aws-sdk/client-sfn';
import { createHash } from 'node:crypto';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { cli } from '../custody/helpers.js';
import { deploy, instance } from './automation-helpers.js';

const aws = await useLocalAws(t);

t.test('automation run: refusals first, then the list in the vault and the fleet running it', async (t) => {
  const init = await cli(aws, ['vault', 'init', '--json']);
  t.equal(init.code, 0, init.stderr);
  const notDeployed = await cli(aws, [
    'automation',
    'run',
    '--case',
    'IR-FLEET-1',
    '--instance',
    'i-0123456789abcdef0',
    '--json',
  ]);
  t.equal(notDeployed.code, 2);
  t.equal(notDeployed.json().error.code, 'INSTANCES_UNAVAILABLE', 'the list is checked first');

  const d = await deploy(aws, t, 'auto');
  const ids = [await instance(d), await instance(d), await instance(d)];
  const gone = await instance(d);
  await d.ec2.send(new TerminateInstancesCommand({ InstanceIds: [gone] }));
  const refused = await cli(aws, [
    'automation',
    'run',
    '--case',
    'IR-FLEET-1',
    '--instance',
    ids[0]!,
    '--instance',
    gone,
    '--json',
  ]);
  t.equal(refused.code, 2);
  t.match(refused.json().error, { code: 'INSTANCES_UNAVAILABLE', details: { terminated: [gone] } });

  const run = await cli(aws, [
    'automation',
    'run',
    '--case',
    'IR-FLEET-1',
    ...ids.flatMap((i) => ['--instance', i]),
    '--json',
  ]);
  t.equal(run.code, 0, run.stderr);
  const r = run.json();
  t.match(r, { case: 'IR-FLEET-1', started: true, maxConcurrency: 3, items: { count: 3 } });
  t.match(r.executionArn, /:execution:cleanroom-fleet:run-[0-9a-f]{16}$/);
  const s3 = new S3Client({ region: 'us-east-1', endpoint: aws.endpoint });
  const obj = await s3.send(new GetObjectCommand({ Bucket: r.items.bucket, Key: r.items.key }));
  const body = Buffer.from(await obj.Body!.transformToByteArray());
  t.equal(createHash('sha256').update(body).digest('hex'), r.items.sha256, 'the SHA-256 the record names');
  t.same(
    (JSON.parse(body.toString()) as Array<{ instanceId: string }>).map((x) => x.instanceId),
    [...ids].sort(),
  );
  t.equal(obj.ServerSideEncryption, 'aws:kms');
  t.ok(obj.ObjectLockMode && obj.ObjectLockRetainUntilDate, 'under Object Lock');

  // The Distributed Map read the list: one child per instance, each recording that it took it up.
  const deadline = Date.now() + 120_000;
  let started: string[] = [];
  while (Date.now() < deadline) {
    const events = (await cli(aws, ['custody', 'log', '--case', 'IR-FLEET-1', '--json'])).json().events as Array<{
      action: string;
    }>;
    started = events.filter((e) => e.action === 'automation.start').map((e) => e.action);
    if (started.length >= 3) break;
    await new Promise((res) => setTimeout(res, 1000));
  }
  t.equal(started.length, 3, 'one child per instance took up its item');

  const again = await cli(aws, [
    'automation',
    'run',
    '--case',
    'IR-FLEET-1',
    '--instance',
    ids[2]!,
    '--instance',
    ids[0]!,
    '--instance',
    ids[1]!,
    '--json',
  ]);
  t.equal(again.code, 0, again.stderr);
  t.match(again.json(), { executionArn: r.executionArn, seq: r.seq }, 'the same list is the same run, recorded once');
  const log = (await cli(aws, ['custody', 'log', '--case', 'IR-FLEET-1', '--json'])).json().events as Array<{
    action: string;
  }>;
  t.equal(log.filter((e) => e.action === 'automation.run').length, 1);
  const status = await cli(aws, ['automation', 'status', '--case', 'IR-FLEET-1', '--json']);
  t.equal(status.code, 0, status.stderr);
  t.match(status.json().executions, [
    { executionArn: r.executionArn, kind: 'fleet', status: 'RUNNING', runId: r.runId },
  ]);
  t.same(
    status.json().instances.map((i: { instanceId: string }) => i.instanceId),
    [...ids].sort(),
  );
  await d.sfn.send(new sfnSdk.StopExecutionCommand({ executionArn: r.executionArn, cause: 'test: children run' }));
});
