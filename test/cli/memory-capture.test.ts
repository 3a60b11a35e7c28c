/**
 * `cleanroom memory capture` and `isolate --capture-memory` end to end, as the real CLI against the
 * local AWS. This file depends on the local AWS's SSM gap (docs/local-aws.md): its SSM accepts the
 * command, answers Success with empty output and runs nothing — so every capture here ends "on
 * paper": MEMORY_UPLOAD_INCOMPLETE (exit 1), the upload aborted, the failure recorded, the record
 * still verifying. The capture itself, through a host that runs the script, is proved in
 * test/workflows/memory/capture-local-aws.test.ts. Also: bad input (exit 2 with the message),
 * --dry-run (nothing recorded), SIGKILL after `memory.capture.start` then a rerun (the stale upload
 * aborted and recorded, a new object), and isolate stopping — or, with --yes, going on — when the
 * capture before it fails.
 */
import t from 'tap';
import fs from 'node:fs';
import { DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { openCaseCustody } from '../../src/custody/case-custody.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { VAULT, account, cli } from '../custody/helpers.js';
import { runCli } from './acquire-helpers.js';
import { standIn } from '../workflows/memory/stand-in.js';

const aws = await useLocalAws(t);
const ec2 = new EC2Client({ region: 'us-east-1', endpoint: aws.endpoint });
const s3 = new S3Client({ region: 'us-east-1', endpoint: aws.endpoint, forcePathStyle: true });
const host = standIn(1024);
t.teardown(() => fs.rmSync(host.dir, { recursive: true, force: true }));

async function instance(imageId = 'ami-1e749f67'): Promise<string> {
  const r = await ec2.send(
    new RunInstancesCommand({ ImageId: imageId, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }),
  );
  return r.Instances![0]!.InstanceId!;
}
const events = async (caseId: string) =>
  (await openCaseCustody(await account(), { caseId })).events().map((e) => `${e.action}:${e.outcome.status}`);
const openUploads = async () =>
  (await s3.send(new ListMultipartUploadsCommand({ Bucket: VAULT, Prefix: 'cases/' }))).Uploads ?? [];

t.before(async () => {
  const init = await cli(aws, ['vault', 'init', '--json']);
  if (init.code !== 0) throw new Error(init.stderr);
});

t.test('no tool in the vault: exit 2, MEMORY_TOOL_MISSING names `memory tools --avml`', async (t) => {
  const id = await instance();
  const r = await cli(aws, ['memory', 'capture', '--case', 'IR-M0', '--instance', id, '--json']);
  t.equal(r.code, 2, r.stderr);
  t.equal(r.json().error.code, 'MEMORY_TOOL_MISSING');
  t.match(r.json().error.message, /cleanroom memory tools --avml FILE/);
  // A plan can be read before the tool is published: it says what a run would need.
  const plan = await cli(aws, ['memory', 'capture', '--case', 'IR-M0', '--instance', id, '--dry-run', '--json']);
  t.equal(plan.code, 0, plan.stderr);
  t.equal(plan.json().tool, undefined);
  t.match(plan.json().warnings.join('\n'), /cleanroom memory tools --avml FILE.*A run stops here \(exit 2\)/);
  const tools = await cli(aws, ['memory', 'tools', '--avml', host.avml, '--json']);
  t.equal(tools.code, 0, tools.stderr);
});

t.test('bad input: an unknown instance, a malformed id — exit 2 with the message', async (t) => {
  // A Windows instance is refused in test/workflows/memory/capture.test.ts: moto 5.2.1's
  // DescribeInstances reports no Platform (docs/local-aws.md).
  const unknown = await cli(aws, ['memory', 'capture', '--case', 'IR-M1', '--instance', 'i-0123456789abcdef0']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /i-0123456789abcdef0 does not exist in account 123456789012, region us-east-1/);
  const bad = await cli(aws, ['memory', 'capture', '--case', 'IR-M1', '--instance', 'web-1', '--json']);
  t.equal(bad.code, 2);
  t.equal(bad.json().error.code, 'INVALID_INSTANCE_ID');
});

t.test('--dry-run: every call printed, nothing made, nothing recorded', async (t) => {
  const id = await instance();
  const r = await cli(aws, ['memory', 'capture', '--case', 'IR-M2', '--instance', id, '--dry-run', '--json']);
  t.equal(r.code, 0, r.stderr);
  const doc = r.json();
  t.equal(doc.dryRun, true);
  t.match(doc.key, new RegExp(`^cases/IR-M2/memory/${id}-\\d{8}T\\d{6}Z\\.lime$`));
  t.same(
    doc.calls.map((c: { call: string }) => c.call.split(' ')[0]),
    [
      's3:CreateMultipartUpload',
      's3:presign',
      's3:PutObject',
      's3:presign',
      'ssm:SendCommand',
      'ssm:GetCommandInvocation',
      's3:ListParts',
      's3:HeadObject',
    ],
  );
  t.equal(doc.partSize, 8 * 2 ** 20);
  t.ok(doc.budget.executionSeconds > 600);
  const text = await cli(aws, ['memory', 'capture', '--case', 'IR-M2', '--instance', id, '--dry-run']);
  t.match(text.stdout, /dry run: nothing is made and nothing is recorded[\s\S]*ssm:SendCommand/);
  t.same(await openUploads(), []);
  t.same(await events('IR-M2'), []);
});

t.test(
  'on the local AWS (SSM runs nothing): exit 1 MEMORY_UPLOAD_INCOMPLETE, nothing open, recorded, verifies',
  async (t) => {
    const id = await instance();
    const r = await cli(aws, ['memory', 'capture', '--case', 'IR-M3', '--instance', id, '--json']);
    t.equal(r.code, 1, r.stderr);
    t.equal(r.json().error.code, 'MEMORY_UPLOAD_INCOMPLETE');
    t.match(r.json().error.message, /holds no part of the memory image/);
    t.same(await openUploads(), [], 'the upload was aborted');
    t.same(await events('IR-M3'), [
      'memory.capture.start:succeeded',
      'memory.upload.abort:succeeded',
      'memory.capture:failed',
    ]);
    const verify = await cli(aws, ['custody', 'verify', '--case', 'IR-M3']);
    t.equal(verify.code, 0, verify.stdout + verify.stderr);
    const log = await cli(aws, ['custody', 'log', '--case', 'IR-M3']);
    t.match(log.stdout, /memory\.capture\.start[\s\S]*memory\.upload\.abort[\s\S]*memory\.capture/);
  },
);

t.test(
  'SIGKILL after memory.capture.start, run again: the stale upload aborted and recorded, a new object',
  async (t) => {
    const id = await instance();
    const proxy = await startFaultProxy(aws);
    t.teardown(() => proxy.close());
    const killed = await runCli(
      aws.env({ AWS_ENDPOINT_URL: proxy.endpoint }),
      ['memory', 'capture', '--case', 'IR-M4', '--instance', id, '--json'],
      (child) =>
        proxy.add({
          service: 'ssm',
          action: 'GetCommandInvocation',
          when: () => {
            child.kill('SIGKILL');
            return false;
          },
          fault: { kind: 'delay', ms: 0 },
        }),
    );
    t.equal(killed.signal, 'SIGKILL');
    const open = await openUploads();
    t.equal(open.length, 1, 'the killed run left its upload open');
    t.same(await events('IR-M4'), ['memory.capture.start:succeeded']);

    const again = await cli(aws, ['memory', 'capture', '--case', 'IR-M4', '--instance', id, '--json']);
    t.equal(again.code, 1, again.stderr);
    t.equal(again.json().error.code, 'MEMORY_UPLOAD_INCOMPLETE');
    t.same(await openUploads(), []);
    const custody = await openCaseCustody(await account(), { caseId: 'IR-M4' });
    // The rerun first takes over the killed holder's lease (case.lease.takeover).
    const ev = custody.events().filter((e) => e.action !== 'case.lease.takeover');
    t.same(
      ev.map((e) => `${e.action}:${e.outcome.status}`),
      [
        'memory.capture.start:succeeded',
        'memory.upload.abort:succeeded',
        'memory.capture.start:succeeded',
        'memory.upload.abort:succeeded',
        'memory.capture:failed',
      ],
    );
    t.match(ev[1]!.outcome.details, { uploadId: open[0]!.UploadId, key: open[0]!.Key, reason: /^stale/ });
    t.not(ev[2]!.outcome.details?.['key'], open[0]!.Key, 'the rerun captures into a new object');
    t.equal((await cli(aws, ['custody', 'verify', '--case', 'IR-M4'])).code, 0);
  },
);

t.test('isolate --capture-memory: a failed capture stops isolate before any change; --yes goes on', async (t) => {
  const id = await instance();
  const groupsOf = async () =>
    (
      await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))
    ).Reservations![0]!.Instances![0]!.NetworkInterfaces!.flatMap((n) => n.Groups!.map((g) => g.GroupId));
  const before = await groupsOf();
  const stopped = await cli(aws, ['isolate', '--case', 'IR-M5', '--instance', id, '--capture-memory', '--json']);
  t.equal(stopped.code, 1, stopped.stderr);
  t.equal(stopped.json().error.code, 'MEMORY_UPLOAD_INCOMPLETE');
  t.match(stopped.json().error.message, /Isolate stopped before any change to i-.*--yes/);
  t.same(await groupsOf(), before, 'the network untouched');
  t.same(await events('IR-M5'), [
    'memory.capture.start:succeeded',
    'memory.upload.abort:succeeded',
    'memory.capture:failed',
  ]);

  const went = await cli(aws, ['isolate', '--case', 'IR-M5', '--instance', id, '--capture-memory', '--yes', '--json']);
  t.equal(went.code, 0, went.stderr);
  t.match(
    went.json().warnings.join('\n'),
    /memory capture failed \(MEMORY_UPLOAD_INCOMPLETE\); isolation went on as approved/,
  );
  t.notSame(await groupsOf(), before, 'isolated');
  const ev = await events('IR-M5');
  t.same(ev.slice(3, 9), [
    'memory.capture.start:succeeded',
    'memory.upload.abort:succeeded',
    'memory.capture:failed',
    'isolate.record-state:succeeded',
    'isolate.protect:succeeded',
    'isolate.leave-asg:skipped',
  ]);
  t.equal((await cli(aws, ['custody', 'verify', '--case', 'IR-M5'])).code, 0);
});
