// `cleanroom automation deploy | remove` end to end, as a user runs them: the real CLI (bundling
// dist/lambda/handlers.js with esbuild) against the local AWS (moto 5.2.1 with the fidelity
// patches of docs/local-aws.md, which create state machines from DefinitionS3Location). deploy →
// the stack, its functions on the uploaded code, state machines from the uploaded definitions →
// a second deploy changes nothing and uploads nothing → a changed option is an update → remove
// deletes the stack and leaves the code in the vault.
import t from 'tap';
import { DescribeStateMachineCommand, SFNClient } from '@aws-sdk/client-sfn';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { openAccount } from '../../src/aws/account.js';
import { readStack } from '../../src/resources/stacks.js';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { cli } from '../custody/helpers.js';

/**
 * Lambda's GetFunction through its REST API (the project has no Lambda client: nothing in src/
 * calls Lambda; moto answers an unsigned request as the default account).
 */
async function getFunction(endpoint: string, name: string): Promise<Record<string, any>> {
  const r = await fetch(`${endpoint}/2015-03-31/functions/${name}`, {
    headers: {
      authorization:
        'AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0',
    },
  });
  if (!r.ok) throw new Error(`GetFunction ${name}: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { Configuration: Record<string, any> }).Configuration;
}

t.test('automation deploy, deploy again, update, remove', async (t) => {
  const aws = await useLocalAws(t);
  const account = await openAccount({});
  t.equal((await cli(aws, ['vault', 'init'])).code, 0, 'vault init');

  const first = await cli(aws, ['automation', 'deploy', '--poll-seconds', '1', '--json']);
  t.equal(first.code, 0, first.stderr);
  const d = first.json();
  t.match(d, {
    stackName: 'cleanroom-automation',
    stackStatus: 'CREATE_COMPLETE',
    change: 'created',
    codeSha256: /^[0-9a-f]{64}$/,
    code: { uploaded: true },
    parameters: { PollSeconds: '1', CodeSha256: d.codeSha256 },
  });
  t.equal(d.code.key, `automation/code/${d.codeSha256}.zip`);
  t.same(
    d.definitions.map((x: { key: string }) => x.key),
    ['response', 'fleet'].map((n) => `automation/code/${d.codeSha256}/${n}.asl.json`),
  );
  for (const o of ['ResponseStateMachineArn', 'FleetStateMachineArn', 'TopicArn', 'DeadLetterQueueUrl', 'CodeSha256'])
    t.ok(d.outputs[o], `output ${o}`);
  t.equal(d.outputs.CodeSha256, d.codeSha256);
  t.match(first.stderr, /creating automation stack cleanroom-automation through change set/, 'says what it does');
  t.match(first.stderr, /ResponseStateMachine/, 'stack events as progress');

  // What AWS now holds: the functions on the code in the vault, the machines from its definitions.
  const s3 = new S3Client({});
  const head = await s3.send(new HeadObjectCommand({ Bucket: d.bucket, Key: d.code.key }));
  t.equal(head.Metadata?.['sha256'], d.codeSha256, 'the zip in the vault is the code the stack names');
  t.equal(head.ServerSideEncryption, 'aws:kms', 'under the vault key');
  const endpoint = aws.env()['AWS_ENDPOINT_URL']!;
  t.match(await getFunction(endpoint, 'cleanroom-acquire'), {
    Runtime: 'nodejs22.x',
    Handler: 'index.acquire',
    Timeout: 900,
    Environment: { Variables: { CLEANROOM_CODE_SHA256: d.codeSha256, CLEANROOM_VAULT_BUCKET: d.bucket } },
  });
  const sm = await new SFNClient({}).send(
    new DescribeStateMachineCommand({ stateMachineArn: d.outputs.ResponseStateMachineArn }),
  );
  t.notMatch(sm.definition ?? '', /\$\{[A-Za-z]+FunctionArn\}/, 'every function ARN substituted');
  t.match(sm.definition ?? '', /cleanroom-resolve/, 'the definition names the deployed functions');

  const again = await cli(aws, ['automation', 'deploy', '--json']);
  t.equal(again.code, 0, again.stderr);
  const a = again.json();
  t.equal(a.change, 'unchanged', 'a second deploy with nothing new: no changes');
  t.equal(a.codeSha256, d.codeSha256, 'the same code, the same SHA-256');
  t.notOk(
    [a.code, ...a.definitions, a.template].some((o: { uploaded: boolean }) => o.uploaded),
    'nothing uploaded again',
  );
  t.equal(a.parameters.PollSeconds, '1', 'an option not given keeps its deployed value');
  const text = await cli(aws, ['automation', 'deploy']);
  t.equal(text.code, 0);
  t.match(text.stdout, /is up to date: no changes/);

  const updated = await cli(aws, [
    'automation',
    'deploy',
    '--isolation-policy',
    'auto',
    '--readonly-check-seconds',
    '5',
    '--json',
  ]);
  t.equal(updated.code, 0, updated.stderr);
  t.match(updated.json(), {
    change: 'updated',
    parameters: { IsolationPolicy: 'auto', PollSeconds: '1', ReadOnlyCheckSeconds: '5' },
  });
  const env = (await getFunction(endpoint, 'cleanroom-isolate'))['Environment']?.['Variables'];
  t.equal(env?.['CLEANROOM_ISOLATION_POLICY'], 'auto', 'the functions see the new policy');
  const attachEnv = (await getFunction(endpoint, 'cleanroom-attach'))['Environment']?.['Variables'];
  // String(): moto's CloudFormation passes a Number parameter into the variable as a JSON number (AWS: "5").
  t.equal(String(attachEnv?.['CLEANROOM_READONLY_CHECK_SECONDS']), '5', "attach's read-only check budget");

  const refused = await cli(aws, ['automation', 'remove', '--json']);
  t.equal(refused.code, 2, 'remove without a terminal or --yes is refused');
  t.equal(refused.json().error.code, 'CONFIRMATION_REQUIRED');

  const removed = await cli(aws, ['automation', 'remove', '--yes', '--json']);
  t.equal(removed.code, 0, removed.stderr);
  t.match(removed.json(), { stackName: 'cleanroom-automation', removed: true });
  const gone = await readStack(account, 'cleanroom-automation');
  t.ok(!gone || gone.status === 'DELETE_COMPLETE', 'the stack is gone');
  const kept = await s3.send(new HeadObjectCommand({ Bucket: d.bucket, Key: d.code.key }));
  t.equal(kept.Metadata?.['sha256'], d.codeSha256, 'the code stays in the vault');

  const nothing = await cli(aws, ['automation', 'remove', '--yes']);
  t.equal(nothing.code, 0);
  t.match(nothing.stdout, /nothing to remove/);
});

t.test('bad options are refused before any AWS call (exit 2)', async (t) => {
  const aws = await useLocalAws(t);
  for (const args of [
    ['--min-severity', '9'],
    ['--poll-seconds', '0'],
    ['--readonly-check-seconds', '601'],
    ['--isolation-policy', 'sometimes'],
    ['--stack-name', '1bad'],
    ['--notify-email', 'nobody'],
  ]) {
    const r = await cli(aws, ['automation', 'deploy', ...args, '--json']);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.json().error.code, /INVALID_VALUE|USAGE/, `${args.join(' ')}: ${r.json().error.code}`);
  }
});
