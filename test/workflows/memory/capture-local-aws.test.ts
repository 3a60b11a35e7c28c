/**
 * `captureMemory` round trip on this machine against the local AWS: the real vault (`vault init`),
 * a stand-in AVML published with the real `cleanroom memory tools`, the real guest script, real
 * presigned URLs of the local AWS's S3 — and, in place of SSM's transport, a fake SSM port that
 * RUNS the command it is sent with bash as the host would (the local AWS's SSM answers Success with
 * empty output and runs nothing: docs/local-aws.md). What a custodian relies on is asserted: the
 * image in the vault hashes to the stand-in's bytes, the tool's read-back SHA-256 equals the host's,
 * the record verifies (`custody verify` exit 0), `evidence list` shows the image, no upload is left
 * open — and that the SSM parameters hold nothing but the script and presigned URLs.
 */
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { RunInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetObjectCommand, ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { useLocalAws } from '../../../local-aws/local-aws.js';
import { openCaseCustody } from '../../../src/custody/case-custody.js';
import { captureMemory, captureBudget } from '../../../src/workflows/memory/index.js';
import { VAULT, account, cli } from '../../custody/helpers.js';
import { bashSsm, standIn, type SentCommand } from './stand-in.js';

const aws = await useLocalAws(t);
const ec2 = new EC2Client({ region: 'us-east-1', endpoint: aws.endpoint });
const s3 = new S3Client({ region: 'us-east-1', endpoint: aws.endpoint, forcePathStyle: true });
const MiB = 2 ** 20;

const host = standIn(20 * MiB + 12345);
t.teardown(() => fs.rmSync(host.dir, { recursive: true, force: true }));
const toolSha = createHash('sha256').update(fs.readFileSync(host.avml)).digest('hex');

t.before(async () => {
  const init = await cli(aws, ['vault', 'init', '--json']);
  if (init.code !== 0) throw new Error(init.stderr);
  const tools = await cli(aws, ['memory', 'tools', '--avml', host.avml, '--json']);
  if (tools.code !== 0) throw new Error(tools.stderr);
});

async function linuxInstance(): Promise<string> {
  const r = await ec2.send(
    new RunInstancesCommand({ ImageId: 'ami-1e749f67', InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }),
  );
  return r.Instances![0]!.InstanceId!;
}

/** The parameters hold the script and presigned URLs only: no credential, no AWS_* variable, no role. */
function onlyPresignedUrls(t: Test, s: SentCommand, o: { imageKey: string; maxExpires: number }): void {
  const env = process.env;
  t.same(
    Object.keys(s.input.Parameters ?? {}).sort(),
    ['commands', 'executionTimeout'],
    'only commands and executionTimeout',
  );
  const rest = s.command.replace(/'https:\/\/[^']+'/g, "''");
  t.notMatch(rest, /AWS_[A-Z_]+/, 'no AWS_* variable');
  t.notMatch(rest, /(AKIA|ASIA)[A-Z0-9]{12,}/, 'no access key id outside a presigned URL');
  t.notMatch(rest, /X-Amz-Security-Token|aws_session_token|aws_secret/i, 'no session token, no secret');
  t.notMatch(rest, /arn:aws:iam::|role/i, 'no role');
  for (const secret of [env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN].filter(Boolean) as string[]) {
    t.notOk(rest.includes(secret), 'the secret access key / session token is not in the parameters');
    for (const u of s.urls)
      for (const [k, v] of u.searchParams)
        if (k !== 'X-Amz-Credential') t.notOk(v.includes(secret), `nor in a URL's ${k}`);
  }
  t.equal(s.urls.length, 2, 'two URLs: the tool and the part list');
  const keys = s.urls.map((u) =>
    decodeURIComponent(u.pathname)
      .replace(/^\/[^/]+\//, '')
      .replace(/^\//, ''),
  );
  const [tool, parts] = s.urls;
  t.ok(
    s.urls.every((u) => u.href.includes(VAULT)),
    'both in the vault',
  );
  t.same(keys.sort(), [`tools/memory/avml/${toolSha}`, o.imageKey.replace(/\.lime$/, '.parts.json')].sort());
  for (const u of [tool!, parts!]) {
    t.equal(u.searchParams.get('X-Amz-Algorithm'), 'AWS4-HMAC-SHA256', 'a SigV4 presigned URL');
    t.ok(u.searchParams.get('X-Amz-Signature'), 'signed');
    t.notOk(u.searchParams.get('x-id') && u.searchParams.get('x-id') !== 'GetObject', 'a GET');
    const exp = Number(u.searchParams.get('X-Amz-Expires'));
    t.ok(exp > 0 && exp <= o.maxExpires, `expires within the budget (${exp} s ≤ ${o.maxExpires} s)`);
  }
}

t.test(
  'a capture through presigned URLs: the image in the vault, hashes equal, the record verifies, evidence list shows it',
  async (t) => {
    const instanceId = await linuxInstance();
    const forensic = await account();
    const custody = await openCaseCustody(forensic, { caseId: 'IR-MEM-1' });
    const budget = captureBudget(1024 * MiB);
    let partsChecked = 0;
    const ssm = bashSsm({
      env: { STANDIN_MEMORY: host.image },
      check: (s) => {
        t.equal(s.input.DocumentName, 'AWS-RunShellScript');
        t.same(s.input.InstanceIds, [instanceId]);
        t.same(s.input.Parameters?.['executionTimeout'], [String(budget.executionSeconds)]);
        const key = s.urls
          .map((u) =>
            /cases\/IR-MEM-1\/memory\/i-[0-9a-f]+-\d{8}T\d{6}Z\.parts\.json/.exec(decodeURIComponent(u.pathname)),
          )
          .find(Boolean)?.[0];
        t.ok(key, 'the part list of this case and instance');
        onlyPresignedUrls(t, s, { imageKey: key!.replace('.parts.json', '.lime'), maxExpires: budget.urlSeconds });
        partsChecked++;
      },
    });
    const r = await captureMemory(
      { source: { ...forensic, ssm }, forensic, custody },
      { caseId: 'IR-MEM-1', instanceId },
    );
    t.equal(partsChecked, 1);
    t.same(ssm.cancelled, [], 'a capture that succeeds cancels nothing');
    t.equal(r.instanceType, 't3.micro');
    t.equal(r.memoryBytes, 1024 * MiB);
    t.equal(r.image?.sha256, host.sha256, "the tool's read-back equals the stand-in's bytes");
    t.equal(r.image?.guestSha256, host.sha256, "the host's SHA-256 too");
    t.equal(r.image?.match, true);
    t.equal(r.image?.sizeBytes, host.size);
    t.equal(r.image?.toolSha256, toolSha);
    t.match(r.image?.kernelRelease, /\S/);
    t.ok((r.image?.memTotalKiB ?? 0) > 0);
    t.equal(r.seal.sealed, true);

    // The object in the vault, fetched independently.
    const obj = await s3.send(new GetObjectCommand({ Bucket: VAULT, Key: r.key }));
    t.equal(obj.ServerSideEncryption, 'aws:kms');
    // Object Lock on the image is asked for at CreateMultipartUpload (the record says until when);
    // moto 5.2.1 does not carry a multipart upload's lock to the completed object (docs/local-aws.md),
    // so it is not read back here.
    t.match(r.image?.retainUntil, /^\d{4}-\d\d-\d\dT/);
    const bytes = Buffer.from(await obj.Body!.transformToByteArray());
    t.equal(createHash('sha256').update(bytes).digest('hex'), host.sha256);
    t.same((await s3.send(new ListMultipartUploadsCommand({ Bucket: VAULT }))).Uploads ?? [], [], 'nothing left open');

    const ev = custody.events();
    t.same(
      ev.map((e) => `${e.action}:${e.outcome.status}`),
      ['memory.capture.start:succeeded', 'memory.capture:succeeded'],
    );
    t.match(ev[0]!.outcome.details, { uploadId: r.uploadId, commandId: r.commandId, tool: { sha256: toolSha } });
    t.match(ev[1]!.outcome.details, {
      outcome: 'succeeded',
      sha256: host.sha256,
      guestSha256: host.sha256,
      match: true,
      commandId: r.commandId,
    });

    const verify = await cli(aws, ['custody', 'verify', '--case', 'IR-MEM-1']);
    t.equal(verify.code, 0, verify.stdout + verify.stderr);
    const list = await cli(aws, ['evidence', 'list', '--case', 'IR-MEM-1', '--json']);
    t.equal(list.code, 0, list.stderr);
    t.match(list.json().evidence, [
      { evidenceId: r.evidenceId, kind: 'memory', sha256: host.sha256, state: 'captured' },
    ]);
    const text = await cli(aws, ['evidence', 'list', '--case', 'IR-MEM-1']);
    t.match(text.stdout, /Memory images:[\s\S]*memory[\s\S]*equal/);
    t.ok(text.stdout.includes(r.key));
  },
);

t.test('the local AWS SSM runs nothing: MEMORY_UPLOAD_INCOMPLETE, the upload aborted and recorded', async (t) => {
  // Depends on the SSM gap: this fake answers as the local AWS's SSM does (Success, empty output).
  const instanceId = await linuxInstance();
  const forensic = await account();
  const custody = await openCaseCustody(forensic, { caseId: 'IR-MEM-2' });
  const ssm = bashSsm({ env: {}, silent: true });
  await t.rejects(
    captureMemory({ source: { ...forensic, ssm }, forensic, custody }, { caseId: 'IR-MEM-2', instanceId }),
    { code: 'MEMORY_UPLOAD_INCOMPLETE', details: { sealed: true } },
  );
  t.same(
    custody.events().map((e) => `${e.action}:${e.outcome.status}`),
    ['memory.capture.start:succeeded', 'memory.upload.abort:succeeded', 'memory.capture:failed'],
  );
  t.same((await s3.send(new ListMultipartUploadsCommand({ Bucket: VAULT }))).Uploads ?? [], []);
});
