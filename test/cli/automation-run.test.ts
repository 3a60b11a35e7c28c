/**
 * `automation run` end to end on the local AWS, at the issue's scale: refused before anything
 * starts for an unknown or terminated instance and without a deployment; then, deployed, a list of
 * 20 instances given as `--instances-file` lands in the vault under Object Lock with the SHA-256 the
 * record names, running the same list again (as --instance flags, in another order) is the same run,
 * and the fleet state machine's Distributed Map runs every instance's response to its end with
 * `--max-concurrency 5` (observed from the record's times: never more than five children at once,
 * and five did run side by side) while one instance, terminated right after the run started, fails
 * at resolve without stopping the others. The fleet SUCCEEDS (1 of 20 failed is under the default
 * tolerated 25 %); its summary and `automation status --case` (which reads the Summarize notification
 * recorded as `automation.notify`, outcome `summary`) report all 20, the terminated one `failed` with its
 * code; `custody verify` is green.
 *
 * Time: the children share one case but not its lease: isolate and acquire lock their own instance,
 * room and attach the case's one room (docs/custody.md, "Locks finer than the lease"), so only the
 * room's work is taken in turn (the stack is deployed with --readonly-check-seconds 2: the local
 * AWS's SSM never answers the read-only check). Measured on the shared 2-core machine: 680 s with
 * the case lease (load not noted); with the locks 394 s at load average 2 → 5 and 1103 s at 7 → 16 → 9
 * (four sessions' tests at once), 5 children at once. The fleet's time and the most children seen at once are
 * printed (t.comment) on every run.
 */
import t from 'tap';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { cli } from '../custody/helpers.js';
import { waitForExecution } from '../harness/step-functions.js';
import { deploy, instance } from './automation-helpers.js';

const FLEET_SIZE = 20;
const MAX_CONCURRENCY = 5;

t.setTimeout(3_600_000);
const aws = await useLocalAws(t);

t.test('automation run: refusals first, then the list in the vault and the fleet run to its end', async (t) => {
  t.setTimeout(3_600_000);
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
  const ids: string[] = [];
  for (let n = 0; n < FLEET_SIZE; n++) ids.push(await instance(d));
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

  const file = path.join(mkdtempSync(path.join(tmpdir(), 'cleanroom-fleet-')), 'hosts.txt');
  writeFileSync(file, `# the web tier\n${ids.join('\n')}\n`);
  const run = await cli(aws, [
    'automation',
    'run',
    '--case',
    'IR-FLEET-1',
    '--instances-file',
    file,
    '--max-concurrency',
    String(MAX_CONCURRENCY),
    '--json',
  ]);
  t.equal(run.code, 0, run.stderr);
  const r = run.json();
  t.match(r, { case: 'IR-FLEET-1', started: true, maxConcurrency: MAX_CONCURRENCY, items: { count: FLEET_SIZE } });
  t.equal(r.toleratedFailurePercentage, 25, 'the default tolerated failures: max(25, 100/n) %');
  t.match(r.executionArn, /:execution:cleanroom-fleet:run-[0-9a-f]{16}$/);

  // The same list again, in another order, is the same run, recorded once.
  const again = await cli(aws, [
    'automation',
    'run',
    '--case',
    'IR-FLEET-1',
    ...[...ids].reverse().flatMap((i) => ['--instance', i]),
    '--max-concurrency',
    String(MAX_CONCURRENCY),
    '--json',
  ]);
  t.equal(again.code, 0, again.stderr);
  t.match(again.json(), { executionArn: r.executionArn, seq: r.seq }, 'the same list is the same run, recorded once');

  // One instance goes away after the run started: the last of the list, which five-at-a-time has not
  // reached yet.
  const sorted = [...ids].sort();
  const lost = sorted[sorted.length - 1]!;
  await d.ec2.send(new TerminateInstancesCommand({ InstanceIds: [lost] }));

  const s3 = new S3Client({ region: 'us-east-1', endpoint: aws.endpoint });
  const obj = await s3.send(new GetObjectCommand({ Bucket: r.items.bucket, Key: r.items.key }));
  const body = Buffer.from(await obj.Body!.transformToByteArray());
  t.equal(createHash('sha256').update(body).digest('hex'), r.items.sha256, 'the SHA-256 the record names');
  t.same(
    (JSON.parse(body.toString()) as Array<{ instanceId: string }>).map((x) => x.instanceId),
    sorted,
  );
  t.equal(obj.ServerSideEncryption, 'aws:kms');
  t.ok(obj.ObjectLockMode && obj.ObjectLockRetainUntilDate, 'under Object Lock');

  const began = Date.now();
  const end = await waitForExecution(d.sfn, r.executionArn, { budgetMs: 3_300_000 });
  t.comment(
    `fleet of ${FLEET_SIZE} at max concurrency ${MAX_CONCURRENCY}: ${Math.round((Date.now() - began) / 1000)} s`,
  );
  t.equal(end.status, 'SUCCEEDED', `${end.error ?? ''} ${end.cause ?? ''}\n${aws.lambdaLogs().slice(-3000)}`);
  const output = JSON.parse(end.output ?? '{}') as {
    counts?: Record<string, number>;
    instances?: Array<{ instanceId: string; outcome: string }>;
  };
  t.comment(JSON.stringify(output));
  const byInstance = new Map((output.instances ?? []).map((x) => [x.instanceId, x.outcome]));
  t.same([...byInstance.keys()].sort(), sorted, 'the summary names every instance');
  t.equal(byInstance.get(lost), 'failed', 'the terminated instance is reported failed');
  for (const i of sorted.filter((x) => x !== lost)) t.equal(byInstance.get(i), 'succeeded', `${i} done`);

  const log = (await cli(aws, ['custody', 'log', '--case', 'IR-FLEET-1', '--json'])).json().events as Array<{
    action: string;
    time: string;
    resources?: unknown[];
    inputs?: { execution?: string; instance?: string };
    outcome?: { details?: { outcome?: string; instances?: Array<{ instanceId: string; outcome: string }> } };
  }>;
  t.equal(log.filter((e) => e.action === 'automation.run').length, 1);
  // The Summarize step's notification is in the record: one automation.notify that names no
  // instance (`custody log --json` shows action, status and resources; its details — each instance's
  // outcome — are what `automation status` reads, checked below).
  const summaries = log.filter((e) => e.action === 'automation.notify' && (e.resources ?? []).length === 0);
  t.equal(summaries.length, 1, "the fleet's summary notification is recorded once");
  // The terminated instance's child fails at resolve, before it takes its item up.
  t.equal(
    log.filter((e) => e.action === 'automation.start').length,
    FLEET_SIZE - 1,
    'each child that could took its item up',
  );

  // Bounded concurrency, observed: each instance's span in the record, from the first to the last
  // event naming it (its child's steps; the summary names no resource). By instance, not by child
  // execution: the local AWS runs a Distributed Map's children inside the parent execution, so their
  // $$.Execution.Id is the fleet's (a moto gap; on AWS each child is an execution of its own).
  const spans = new Map<string, [number, number]>();
  for (const e of log) {
    const named = JSON.stringify(e.resources ?? []);
    const at = Date.parse(e.time);
    for (const i of sorted.filter((x) => named.includes(x))) {
      const s = spans.get(i);
      spans.set(i, s ? [Math.min(s[0], at), Math.max(s[1], at)] : [at, at]);
    }
  }
  t.ok(spans.size >= FLEET_SIZE - 1, 'every instance that could be was worked on');
  const edges = [...spans.values()].flatMap(([a, b]) => [
    [a, 1],
    [b, -1],
  ]) as Array<[number, number]>;
  edges.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let now = 0;
  let most = 0;
  for (const [, step] of edges) most = Math.max(most, (now += step));
  t.comment(`children at once, at most: ${most}`);
  t.ok(most >= 1 && most <= MAX_CONCURRENCY, `at most ${MAX_CONCURRENCY} children at once (saw ${most})`);
  t.equal(most, MAX_CONCURRENCY, 'and they really ran side by side');

  const status = await cli(aws, ['automation', 'status', '--case', 'IR-FLEET-1', '--json']);
  t.equal(status.code, 0, status.stderr);
  t.match(status.json().executions, [
    { executionArn: r.executionArn, kind: 'fleet', status: 'SUCCEEDED', runId: r.runId },
  ]);
  const inst = status.json().instances as Array<{ instanceId: string; outcome: string }>;
  t.same(
    inst.map((i) => i.instanceId),
    sorted,
  );
  t.comment(JSON.stringify(inst.map((i) => [i.instanceId, i.outcome])));
  // Its child failed at resolve, before its case was resolved: failed, with the code.
  t.match(
    inst.find((i) => i.instanceId === lost),
    { outcome: 'failed', error: { code: 'INSTANCE_TERMINATED' } },
    'status: the terminated instance failed, and why',
  );
  t.same(
    inst.filter((i) => i.instanceId !== lost).map((i) => i.outcome),
    Array(FLEET_SIZE - 1).fill('done'),
    'status: the others are done',
  );
  const verify = await cli(aws, ['custody', 'verify', '--case', 'IR-FLEET-1', '--json']);
  t.equal(verify.code, 0, verify.stdout);
});
