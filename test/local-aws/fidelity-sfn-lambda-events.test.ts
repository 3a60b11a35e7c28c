// Fidelity patches lambda_invoke_node, sfn_internal_clients_tls, sfn_executions and events_sfn_target
// (docs/local-aws.md, "Step Functions, Lambda and EventBridge"): a state machine deployed by
// CloudFormation runs its definition with moto's interpreter, its Lambda tasks run the functions'
// deployed code in Node (errors by name, timeouts, retries, task tokens), a Distributed Map reads its
// items from S3 with bounded concurrency and a tolerated failure, and an EventBridge rule starts an
// execution with the event as AWS delivers it.
import t from 'tap';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CloudFormationClient, CreateStackCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ListExecutionsCommand, SFNClient, SendTaskSuccessCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { build } from 'esbuild';
import { ROOT, useLocalAws } from '../../local-aws/local-aws.js';
import { lambdaZip, poll, waitForExecution, waitForExecutions } from '../harness/step-functions.js';

// The functions' code: plain ESM, no AWS SDK (each invocation is its own Node process, so state that
// must outlive one invocation goes through files the test names).
const HANDLERS = `
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
const named = (name, message) => Object.assign(new Error(message), { name });
const pause = (ms) => new Promise((r) => setTimeout(r, ms));
export const step = async (e, ctx) => {
  const count = (e.count ?? 0) + 1;
  const base = { count, target: e.target, fn: ctx.functionName, remaining: ctx.getRemainingTimeInMillis() };
  return count >= e.target ? { ...base, status: 'done' } : { ...base, status: 'pending', waitSeconds: e.waitSeconds };
};
export const fail = async (e) => { throw named('INSTANCE_NOT_FOUND', 'no instance ' + e.instanceId); };
export const flaky = async (e) => {
  if (!existsSync(e.marker)) { writeFileSync(e.marker, 'first attempt'); throw named('CASE_BUSY', 'busy, try again'); }
  return { attempt: 2 };
};
export const slow = async () => { await pause(20000); return 'never'; };
export const approval = async (e) => { writeFileSync(e.tokenFile, e.token); return { requested: true }; };
export const record = async (e) => { appendFileSync(process.env.RECORD_FILE, JSON.stringify(e) + '\\n'); return null; };
export const item = async (e) => {
  const start = Date.now();
  await pause(300);
  appendFileSync(e.log, JSON.stringify({ id: e.item.instanceId, start, end: Date.now() }) + '\\n');
  if (e.item.fail) throw named('INSTANCE_NOT_FOUND', 'no instance ' + e.item.instanceId);
  return { instanceId: e.item.instanceId, ok: true };
};
`;

// A function whose bundle carries the AWS SDK (as the product's does): it reaches the local AWS
// through the environment the runtime gives it (endpoint, CA, the role's credentials).
const WHOAMI = `
import { STSClient, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
export const whoami = async () => {
  const id = await new STSClient({}).send(new GetCallerIdentityCommand({}));
  return { arn: id.Arn, account: id.Account, region: process.env.AWS_REGION, vault: process.env.CLEANROOM_VAULT_BUCKET };
};
`;

const ACCOUNT = '123456789012';

const LOOP = {
  StartAt: 'Step',
  States: {
    Step: { Type: 'Task', Resource: '${StepArn}', Next: 'Pending?' },
    'Pending?': {
      Type: 'Choice',
      Choices: [{ Variable: '$.status', StringEquals: 'pending', Next: 'Wait' }],
      Default: 'Done',
    },
    Wait: { Type: 'Wait', SecondsPath: '$.waitSeconds', Next: 'Step' },
    Done: { Type: 'Succeed' },
  },
};

const ERRORS = {
  StartAt: 'Flaky',
  States: {
    Flaky: {
      Type: 'Task',
      Resource: '${FlakyArn}',
      Parameters: { 'marker.$': '$.marker' },
      ResultPath: '$.flaky',
      Retry: [{ ErrorEquals: ['CASE_BUSY'], IntervalSeconds: 1, MaxAttempts: 2, BackoffRate: 2 }],
      Next: 'Slow',
    },
    Slow: {
      Type: 'Task',
      Resource: '${SlowArn}',
      ResultPath: null,
      Catch: [{ ErrorEquals: ['Sandbox.Timedout'], ResultPath: '$.timedOut', Next: 'Fail' }],
      Next: 'Fail',
    },
    Fail: {
      Type: 'Task',
      Resource: '${FailArn}',
      Parameters: { instanceId: 'i-0000000000000dead' },
      Catch: [{ ErrorEquals: ['INSTANCE_NOT_FOUND'], ResultPath: '$.caught', Next: 'Notify' }],
      End: true,
    },
    Notify: {
      Type: 'Task',
      Resource: 'arn:aws:states:::sns:publish',
      Parameters: { TopicArn: '${TopicArn}', 'Message.$': '$.caught.Cause' },
      ResultPath: '$.published',
      End: true,
    },
  },
};

const APPROVAL = {
  StartAt: 'Ask',
  States: {
    Ask: {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      Parameters: {
        FunctionName: '${ApprovalArn}',
        Payload: { 'token.$': '$$.Task.Token', 'tokenFile.$': '$.tokenFile' },
      },
      ResultPath: '$.decision',
      End: true,
    },
  },
};

const FLEET = {
  StartAt: 'Each',
  States: {
    Each: {
      Type: 'Map',
      ItemReader: {
        Resource: 'arn:aws:states:::s3:getObject',
        ReaderConfig: { InputType: 'JSON' },
        Parameters: { 'Bucket.$': '$.items.bucket', 'Key.$': '$.items.key' },
      },
      ItemSelector: { 'item.$': '$$.Map.Item.Value', 'log.$': '$.log' },
      MaxConcurrencyPath: '$.maxConcurrency',
      ToleratedFailurePercentagePath: '$.toleratedFailurePercentage',
      ItemProcessor: {
        ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
        StartAt: 'Item',
        States: { Item: { Type: 'Task', Resource: '${ItemArn}', End: true } },
      },
      End: true,
    },
  },
};

const HANDLER_NAMES = ['step', 'fail', 'flaky', 'slow', 'approval', 'item', 'record'];

function template(codeBucket: string, recordFile: string) {
  const role = (service: string) => ({
    Type: 'AWS::IAM::Role',
    Properties: {
      AssumeRolePolicyDocument: {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }],
      },
    },
  });
  const fn = (name: string, key: string, timeout: number) => ({
    Type: 'AWS::Lambda::Function',
    Properties: {
      FunctionName: `t-${name}`,
      Runtime: 'nodejs22.x',
      Handler: `index.${name}`,
      Timeout: timeout,
      Role: { 'Fn::GetAtt': ['FnRole', 'Arn'] },
      Code: { S3Bucket: codeBucket, S3Key: key },
      Environment: { Variables: { CLEANROOM_VAULT_BUCKET: 'the-vault', RECORD_FILE: recordFile } },
    },
  });
  const machine = (name: string, definition: object, subs: Record<string, unknown>) => ({
    Type: 'AWS::StepFunctions::StateMachine',
    Properties: {
      StateMachineName: name,
      RoleArn: { 'Fn::GetAtt': ['SfnRole', 'Arn'] },
      Definition: definition,
      DefinitionSubstitutions: subs,
    },
  });
  const ref = (name: string) => ({ 'Fn::GetAtt': [`${name[0]!.toUpperCase()}${name.slice(1)}Function`, 'Arn'] });
  return JSON.stringify({
    Resources: {
      FnRole: role('lambda.amazonaws.com'),
      SfnRole: role('states.amazonaws.com'),
      EventsRole: role('events.amazonaws.com'),
      Topic: { Type: 'AWS::SNS::Topic', Properties: { TopicName: 't-responders' } },
      ...Object.fromEntries(
        HANDLER_NAMES.map((n) => [
          `${n[0]!.toUpperCase()}${n.slice(1)}Function`,
          fn(n, 'code/handlers.zip', n === 'slow' ? 1 : 60),
        ]),
      ),
      WhoamiFunction: fn('whoami', 'code/whoami.zip', 60),
      Loop: machine('t-loop', LOOP, { StepArn: ref('step') }),
      Errors: machine('t-errors', ERRORS, {
        FlakyArn: ref('flaky'),
        SlowArn: ref('slow'),
        FailArn: ref('fail'),
        TopicArn: { Ref: 'Topic' },
      }),
      Approval: machine('t-approval', APPROVAL, { ApprovalArn: ref('approval') }),
      Fleet: machine('t-fleet', FLEET, { ItemArn: ref('item') }),
      Whoami: machine(
        't-whoami',
        { StartAt: 'W', States: { W: { Type: 'Task', Resource: '${W}', End: true } } },
        {
          W: ref('whoami'),
        },
      ),
      Echo: machine('t-echo', { StartAt: 'P', States: { P: { Type: 'Pass', End: true } } }, {}),
      GuardDutyRule: {
        Type: 'AWS::Events::Rule',
        Properties: {
          EventPattern: {
            source: ['aws.guardduty'],
            'detail-type': ['GuardDuty Finding'],
            detail: { resource: { resourceType: ['Instance'] }, severity: [{ numeric: ['>=', 7] }] },
          },
          Targets: [{ Id: 'response', Arn: { Ref: 'Echo' }, RoleArn: { 'Fn::GetAtt': ['EventsRole', 'Arn'] } }],
        },
      },
      // The responders' topic reaches a function; a rule publishes to the topic and invokes the function.
      RecordSubscription: {
        Type: 'AWS::SNS::Subscription',
        Properties: { TopicArn: { Ref: 'Topic' }, Protocol: 'lambda', Endpoint: ref('record') },
      },
      NotifyRule: {
        Type: 'AWS::Events::Rule',
        Properties: {
          EventPattern: { source: ['test.notify'] },
          Targets: [
            { Id: 'topic', Arn: { Ref: 'Topic' } },
            { Id: 'function', Arn: ref('record'), InputPath: '$.detail' },
            {
              Id: 'machine',
              Arn: { Ref: 'Echo' },
              RoleArn: { 'Fn::GetAtt': ['EventsRole', 'Arn'] },
              InputTransformer: {
                InputPathsMap: { case: '$.detail.case', source: '$.source' },
                InputTemplate: '{"case": "<case>", "from": "<source>"}',
              },
            },
          ],
        },
      },
    },
  });
}

const smArn = (name: string) => `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:${name}`;

t.test('state machines, Lambda code and EventBridge on the local AWS', async (t) => {
  const aws = await useLocalAws(t);
  const s3 = new S3Client({});
  const cfn = new CloudFormationClient({});
  const sfn = new SFNClient({});
  const dir = mkdtempSync(path.join(tmpdir(), 'cleanroom-sfn-'));
  t.afterEach(async (t) => {
    if (t.passing()) return;
    t.comment(`Lambda logs:\n${aws.lambdaLogs()}`);
  });

  const whoami = await build({
    stdin: { contents: WHOAMI, resolveDir: ROOT, loader: 'js' },
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    // The SDK's CommonJS parts call require(): an ESM bundle must define it (AWS's runtime is no different).
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
    write: false,
  });
  await s3.send(new CreateBucketCommand({ Bucket: 'code' }));
  await s3.send(
    new PutObjectCommand({ Bucket: 'code', Key: 'code/handlers.zip', Body: lambdaZip({ 'index.mjs': HANDLERS }) }),
  );
  await s3.send(
    new PutObjectCommand({
      Bucket: 'code',
      Key: 'code/whoami.zip',
      Body: lambdaZip({ 'index.mjs': whoami.outputFiles[0]!.text }),
    }),
  );
  await cfn.send(
    new CreateStackCommand({ StackName: 't-automation', TemplateBody: template('code', path.join(dir, 'record.log')) }),
  );
  const stack = (await cfn.send(new DescribeStacksCommand({ StackName: 't-automation' }))).Stacks![0]!;
  t.equal(stack.StackStatus, 'CREATE_COMPLETE');

  const run = async (name: string, input: object) => {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: smArn(name), input: JSON.stringify(input) }),
    );
    return waitForExecution(sfn, executionArn!);
  };

  t.test('a pending step loops through Choice and Wait until it is done', async (t) => {
    const done = await run('t-loop', { count: 0, target: 3, waitSeconds: 0 });
    t.equal(done.status, 'SUCCEEDED', String(done.cause));
    const out = JSON.parse(done.output!);
    t.equal(out.count, 3, 'three invocations: pending, pending, done');
    t.equal(out.status, 'done');
    t.equal(out.fn, 't-step', 'the context names the function');
    t.ok(
      out.remaining > 50_000 && out.remaining <= 60_000,
      `getRemainingTimeInMillis from Timeout 60: ${out.remaining}`,
    );
  });

  t.test('a retried error, a timeout and an error caught by name, then an SNS notification', async (t) => {
    const done = await run('t-errors', { marker: path.join(dir, 'flaky-marker') });
    t.equal(done.status, 'SUCCEEDED', String(done.cause));
    t.ok(existsSync(path.join(dir, 'flaky-marker')), 'the first attempt failed');
    const out = JSON.parse(done.output!);
    t.same(out.flaky, { attempt: 2 }, 'Retry on CASE_BUSY: the second attempt succeeded');
    t.equal(out.timedOut.Error, 'Sandbox.Timedout', 'a function past its Timeout is stopped');
    t.match(out.timedOut.Cause, /Task timed out after 1\.00 seconds/);
    t.equal(out.caught.Error, 'INSTANCE_NOT_FOUND', 'Catch matched the thrown error by its name');
    t.same(
      { ...JSON.parse(out.caught.Cause), trace: undefined },
      { errorType: 'INSTANCE_NOT_FOUND', errorMessage: 'no instance i-0000000000000dead', trace: undefined },
      'the cause is the function error payload AWS returns',
    );
    t.match(out.published, { MessageId: /\S+/ }, 'sns:publish reached the topic');
  });

  t.test('.waitForTaskToken pauses until SendTaskSuccess', async (t) => {
    const tokenFile = path.join(dir, 'token');
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: smArn('t-approval'), input: JSON.stringify({ tokenFile }) }),
    );
    // The function received the token (and wrote it); the execution waits for it.
    const paused = await waitForExecution(sfn, executionArn!, { until: () => existsSync(tokenFile) });
    t.equal(paused.status, 'RUNNING');
    await sfn.send(
      new SendTaskSuccessCommand({
        taskToken: readFileSync(tokenFile, 'utf8'),
        output: JSON.stringify({ approved: true, by: 'analyst' }),
      }),
    );
    const done = await waitForExecution(sfn, executionArn!);
    t.equal(done.status, 'SUCCEEDED', String(done.cause));
    t.same(JSON.parse(done.output!).decision, { approved: true, by: 'analyst' });
  });

  t.test('Distributed Map: items from S3, at most MaxConcurrency at once, a tolerated failure', async (t) => {
    const items = Array.from({ length: 20 }, (_, i) => ({
      caseId: 'CASE-1',
      instanceId: `i-${String(i).padStart(17, '0')}`,
      region: 'us-east-1',
      ...(i === 7 ? { fail: true } : {}),
    }));
    await s3.send(new PutObjectCommand({ Bucket: 'code', Key: 'runs/r1/items.json', Body: JSON.stringify(items) }));
    const log = path.join(dir, 'fleet.log');
    const input = { items: { bucket: 'code', key: 'runs/r1/items.json' }, log, maxConcurrency: 3 };
    const done = await run('t-fleet', { ...input, toleratedFailurePercentage: 10 });
    t.equal(done.status, 'SUCCEEDED', String(done.cause));
    const calls = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; start: number; end: number });
    t.same(calls.map((c) => c.id).sort(), items.map((i) => i.instanceId).sort(), 'every item ran once');
    let max = 0;
    for (const c of calls) max = Math.max(max, calls.filter((o) => o.start <= c.start && c.start < o.end).length);
    t.ok(max <= 3, `at most 3 at once (saw ${max})`);
    t.ok(max >= 2, `and they did run concurrently (saw ${max})`);
    const results = JSON.parse(done.output!) as ({ instanceId: string } | null)[];
    t.equal(results.filter((r) => r?.instanceId).length, 19, 'nineteen results');

    const strict = await run('t-fleet', { ...input, log: path.join(dir, 'strict.log'), toleratedFailurePercentage: 0 });
    t.equal(strict.status, 'FAILED', 'with no tolerance the one failure fails the map');
    t.equal(strict.error, 'States.ExceedToleratedFailureThreshold');
  });

  t.test("the function's code reaches the local AWS as its role", async (t) => {
    const done = await run('t-whoami', {});
    t.equal(done.status, 'SUCCEEDED', String(done.cause));
    const out = JSON.parse(done.output!);
    t.match(out.arn, new RegExp(`^arn:aws:sts::${ACCOUNT}:assumed-role/[^/]+/t-whoami$`), 'a session of its role');
    t.same(
      { account: out.account, region: out.region, vault: out.vault },
      {
        account: ACCOUNT,
        region: 'us-east-1',
        vault: 'the-vault',
      },
    );
  });

  t.test(
    'a rule publishes to an SNS topic, invokes a function, starts an execution with an InputTransformer',
    async (t) => {
      const eb = new EventBridgeClient({});
      const put = await eb.send(
        new PutEventsCommand({ Entries: [{ Source: 'test.notify', DetailType: 'note', Detail: '{"case":"C-1"}' }] }),
      );
      // (The topic also got the errors test's notification: look for this event's two deliveries.)
      const record = path.join(dir, 'record.log');
      const [direct, viaTopic] = await poll('two deliveries', 30_000, async () => {
        const events = (existsSync(record) ? readFileSync(record, 'utf8') : '')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l));
        const direct = events.find((e) => !e.Records);
        const viaTopic = events
          .filter((e) => e.Records)
          .map((e) => JSON.parse(e.Records[0].Sns.Message))
          .find((m) => m.source === 'test.notify');
        return { done: Boolean(direct && viaTopic), value: [direct, viaTopic] };
      });
      t.same(direct, { case: 'C-1' }, 'the function got the InputPath of the event');
      const echoes = await waitForExecutions(sfn, smArn('t-echo'));
      const inputs = await Promise.all(echoes.map(async (e) => (await waitForExecution(sfn, e.executionArn!)).input));
      t.ok(
        inputs.map((i) => JSON.parse(i!)).some((i) => i.case === 'C-1' && i.from === 'test.notify'),
        'the transformed input',
      );
      t.match(viaTopic, {
        id: put.Entries![0]!.EventId,
        source: 'test.notify',
        account: ACCOUNT,
        detail: { case: 'C-1' },
      });
    },
  );

  t.test('a GuardDuty finding put on the bus starts an execution with the event as input', async (t) => {
    const eb = new EventBridgeClient({});
    const finding = (severity: number) => ({
      Source: 'aws.guardduty',
      DetailType: 'GuardDuty Finding',
      Resources: [],
      Detail: JSON.stringify({
        id: `f-${severity}`,
        type: 'UnauthorizedAccess:EC2/SSHBruteForce',
        severity,
        resource: { resourceType: 'Instance', instanceDetails: { instanceId: 'i-0123456789abcdef0' } },
      }),
    });
    const listed = await sfn.send(new ListExecutionsCommand({ stateMachineArn: smArn('t-echo') }));
    const before = new Set((listed.executions ?? []).map((e) => e.executionArn));
    const put = await eb.send(new PutEventsCommand({ Entries: [finding(2), finding(8)] }));
    t.equal(put.FailedEntryCount, 0);
    const executions = await waitForExecutions(sfn, smArn('t-echo'), { count: before.size + 1 });
    const fresh = executions.filter((e) => !before.has(e.executionArn));
    t.equal(fresh.length, 1, 'one execution: the low-severity finding matched no rule');
    const started = await waitForExecution(sfn, fresh[0]!.executionArn!);
    t.equal(started.status, 'SUCCEEDED', String(started.cause));
    const event = JSON.parse(started.input!);
    t.match(event, {
      version: '0',
      id: put.Entries![1]!.EventId,
      'detail-type': 'GuardDuty Finding',
      source: 'aws.guardduty',
      account: ACCOUNT,
      region: 'us-east-1',
      time: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
      resources: [],
      detail: { id: 'f-8', severity: 8 },
    });
    t.match(started.name, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'named with a UUID');
  });
});
