// templates/automation.yaml as a user of the stack depends on it: which events start a response
// (the rules' patterns evaluated by moto's EventBridge pattern matcher, a real implementation of
// the pattern language, on sample events), the functions the ASL and the deploy name, and the
// substitutions every definition uses. Each check is shown to fail on a broken copy.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { yamlParse } from 'yaml-cfn';
import { ROOT } from '../../local-aws/local-aws.js';
import { TAG_RESPOND } from '../../src/domain/tags.js';
import { HANDLER_NAMES } from '../../src/lambda/types.js';
import { AUTOMATION_DEFAULTS } from '../../src/workflows/automation/deploy.js';

type Doc = { Parameters: Record<string, any>; Resources: Record<string, any>; Outputs: Record<string, any> };
const TEMPLATE = readFileSync(path.join(ROOT, 'templates/automation.yaml'), 'utf8');
const doc = yamlParse(TEMPLATE) as Doc;
const fixture = (name: string) =>
  JSON.parse(readFileSync(path.join(ROOT, 'test/fixtures/automation', name), 'utf8')) as Record<string, any>;

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const PSEUDO: Record<string, string> = { 'AWS::Partition': 'aws', 'AWS::Region': REGION, 'AWS::AccountId': ACCOUNT };

/** Resolve the intrinsics a rule's pattern uses (Fn::Sub over parameters and pseudo parameters). */
function resolve(node: unknown, params: Record<string, string>): unknown {
  if (Array.isArray(node)) return node.map((n) => resolve(n, params));
  if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if ('Fn::Sub' in o)
      return String(o['Fn::Sub']).replace(/\$\{([^}]+)\}/g, (_, k: string) => {
        const v = params[k] ?? PSEUDO[k];
        if (v === undefined) throw new Error(`unresolved \${${k}}`);
        return v;
      });
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, resolve(v, params)]));
  }
  return node;
}

/** A rule's pattern as EventBridge receives it, for the given parameter values. */
function pattern(d: Doc, logicalId: string, params: Record<string, string> = {}): string {
  const p = resolve(d.Resources[logicalId].Properties.EventPattern, {
    MinSeverity: String(d.Parameters.MinSeverity.Default),
    ...params,
  });
  return typeof p === 'string' ? p : JSON.stringify(p);
}

/** moto's EventBridge pattern matcher on each [pattern, event] pair. */
function matches(pairs: Array<[string, unknown]>): boolean[] {
  const py = [
    'import json, sys',
    'from moto.events.models import EventPattern',
    'pairs = json.load(sys.stdin)',
    'print(json.dumps([EventPattern.load(p).matches_event(e) for p, e in pairs]))',
  ].join('\n');
  const out = execFileSync(path.join(ROOT, '.venv/bin/python'), ['-c', py], {
    input: JSON.stringify(pairs),
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return JSON.parse(out) as boolean[];
}

const finding = fixture('guardduty-finding.json');
const withSeverity = (s: number) => ({ ...finding, detail: { ...finding.detail, severity: s } });
const onResource = (type: string) => ({
  ...finding,
  detail: { ...finding.detail, resource: { resourceType: type, accessKeyDetails: { userName: 'x' } } },
});

t.test('a GuardDuty finding on an instance starts a response at or above MinSeverity, not below', async (t) => {
  const gd = pattern(doc, 'GuardDutyRule');
  const [high, atMin, below, low, s3, key, otherSource] = matches([
    [gd, withSeverity(8.9)],
    [gd, withSeverity(7)],
    [gd, withSeverity(6.9)],
    [gd, withSeverity(2)],
    [gd, onResource('S3Bucket')],
    [gd, onResource('AccessKey')],
    [gd, { ...finding, source: 'aws.securityhub' }],
  ]);
  t.ok(high, 'severity 8.9 (critical end of High)');
  t.ok(atMin, 'severity 7.0 = the default MinSeverity');
  t.notOk(below, 'severity 6.9');
  t.notOk(low, 'severity 2 (Low)');
  t.notOk(s3, 'a finding on an S3 bucket');
  t.notOk(key, 'a finding on an access key');
  t.notOk(otherSource, 'another source');
  const lowered = pattern(doc, 'GuardDutyRule', { MinSeverity: '4' });
  const [medium, stillLow] = matches([
    [lowered, withSeverity(5.5)],
    [lowered, withSeverity(3.9)],
  ]);
  t.ok(medium, 'with MinSeverity 4, a Medium finding (5.5) starts one');
  t.notOk(stillLow, 'with MinSeverity 4, 3.9 does not');
  t.match(gd, /"numeric": \[">=", 7\]/, 'the severity is compared as a number (unquoted in the pattern)');
});

t.test('the severity check can fail: a pattern that quotes MinSeverity matches nothing', async (t) => {
  const broken = structuredClone(doc);
  broken.Resources.GuardDutyRule.Properties.EventPattern['Fn::Sub'] = String(
    doc.Resources.GuardDutyRule.Properties.EventPattern['Fn::Sub'],
  ).replace('${MinSeverity}', '"${MinSeverity}"');
  let result: boolean[] | Error;
  try {
    result = matches([[pattern(broken, 'GuardDutyRule'), withSeverity(8)]]);
  } catch (e) {
    result = e as Error;
  }
  t.ok(result instanceof Error || result[0] === false, 'a quoted severity does not match a High finding');
});

t.test('the tag rule starts a response when cleanroom:respond is put on an instance', async (t) => {
  const tag = fixture('tag-change.json');
  const p = pattern(doc, 'TagRule');
  const [put, other, removed, notInstance] = matches([
    [p, tag],
    [p, { ...tag, detail: { ...tag.detail, 'changed-tag-keys': ['Name'] } }],
    [p, { ...tag, detail: { ...tag.detail, tags: { Name: 'web-1' } } }],
    [p, { ...tag, detail: { ...tag.detail, 'resource-type': 'volume' } }],
  ]);
  t.ok(put, `${TAG_RESPOND} added to an instance`);
  t.notOk(other, 'another tag changed');
  t.notOk(removed, `${TAG_RESPOND} removed (changed, no longer there)`);
  t.notOk(notInstance, `${TAG_RESPOND} on a volume`);
  t.ok(TEMPLATE.includes(TAG_RESPOND), 'the template spells the tag key as src/domain/tags.ts does');
});

t.test('the Security Hub rule starts a response from the custom action only', async (t) => {
  const sh = fixture('securityhub-custom-action.json');
  const p = pattern(doc, 'SecurityHubRule');
  const [ours, other] = matches([
    [p, sh],
    [p, { ...sh, resources: ['arn:aws:securityhub:us-east-1:123456789012:action/custom/SomethingElse'] }],
  ]);
  t.ok(ours, '"cleanroom: contain and acquire" (CleanroomContain)');
  t.notOk(other, 'another custom action');
});

t.test('every rule targets the response machine with a role, a dead-letter queue and retries', async (t) => {
  const rules = Object.entries(doc.Resources).filter(([, r]) => r.Type === 'AWS::Events::Rule');
  t.same(rules.map(([id]) => id).sort(), ['GuardDutyRule', 'SecurityHubRule', 'TagRule']);
  for (const [id, r] of rules) {
    const [target, ...more] = r.Properties.Targets;
    t.equal(more.length, 0, `${id}: one target`);
    t.same(target.Arn, { Ref: 'ResponseStateMachine' }, `${id}: the response state machine`);
    t.same(target.RoleArn, { 'Fn::GetAtt': ['RulesRole', 'Arn'] }, `${id}: with the rules' role`);
    t.same(target.DeadLetterConfig.Arn, { 'Fn::GetAtt': ['DeadLetterQueue', 'Arn'] }, `${id}: dead letters`);
    t.ok(target.RetryPolicy.MaximumRetryAttempts > 0, `${id}: retries`);
  }
});

const HANDLERS = HANDLER_NAMES;
const ENV = [
  'CLEANROOM_VAULT_BUCKET',
  'CLEANROOM_VAULT_KEY_ARN',
  'CLEANROOM_CODE_SHA256',
  'CLEANROOM_TOPIC_ARN',
  'CLEANROOM_ISOLATION_POLICY',
  'CLEANROOM_MIN_SEVERITY',
  'CLEANROOM_READONLY_CHECK_SECONDS',
];
const logicalId = (h: string) => `${h[0]!.toUpperCase()}${h.slice(1)}Function`;

t.test('one function per handler, as the contract names them, on the bundle in the vault', async (t) => {
  const fns = Object.entries(doc.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
  t.same(fns.map(([id]) => id).sort(), HANDLERS.map(logicalId).sort());
  for (const h of HANDLERS) {
    const p = doc.Resources[logicalId(h)].Properties;
    t.equal(p.FunctionName, `cleanroom-${h}`, `${h}: named cleanroom-${h}`);
    t.equal(p.Handler, `index.${h}`, `${h}: handler index.${h}`);
    t.equal(p.Runtime, 'nodejs22.x', `${h}: Node.js 22`);
    t.equal(p.Timeout, 900, `${h}: Lambda's 15 minutes`);
    t.ok(p.MemorySize >= 1024, `${h}: memory for hashing`);
    t.same(p.Code, { S3Bucket: { Ref: 'VaultBucket' }, S3Key: { Ref: 'CodeKey' } }, `${h}: code from the vault`);
    t.same(Object.keys(p.Environment.Variables).sort(), [...ENV].sort(), `${h}: the contract's environment`);
    t.same(p.DeadLetterConfig.TargetArn, { 'Fn::GetAtt': ['DeadLetterQueue', 'Arn'] }, `${h}: dead letters`);
  }
});

/** `${Name}` placeholders of an ASL file. */
function placeholders(file: string): string[] {
  const text = readFileSync(path.join(ROOT, 'templates/automation', file), 'utf8');
  return [...new Set([...text.matchAll(/\$\{([A-Za-z0-9]+)\}/g)].map((m) => m[1]!))].sort();
}

t.test('each state machine substitutes every placeholder of its ASL file, from the vault', async (t) => {
  for (const [id, file] of [
    ['ResponseStateMachine', 'response.asl.json'],
    ['FleetStateMachine', 'fleet.asl.json'],
  ] as const) {
    const p = doc.Resources[id].Properties;
    t.equal(p.StateMachineType, 'STANDARD', `${id}: Standard`);
    t.same(p.DefinitionS3Location.Bucket, { Ref: 'VaultBucket' }, `${id}: definition in the vault`);
    t.same(p.DefinitionS3Location.Key, { 'Fn::Sub': `\${DefinitionPrefix}${file}` }, `${id}: ${file}`);
    const given = Object.keys(p.DefinitionSubstitutions);
    t.same(
      placeholders(file).filter((x) => !given.includes(x)),
      [],
      `${id}: every \${…} of ${file} is substituted`,
    );
    t.ok(p.LoggingConfiguration.Destinations.length === 1, `${id}: logs to a log group`);
  }
  const response = Object.keys(doc.Resources.ResponseStateMachine.Properties.DefinitionSubstitutions);
  t.same(
    HANDLERS.map((h) => `${logicalId(h)}Arn`).filter((x) => !response.includes(x)),
    [],
    'the response definition can name every function',
  );
  for (const k of ['TopicArn', 'VaultBucket', 'PollSeconds']) t.ok(response.includes(k), `response: ${k}`);
  const fleet = Object.keys(doc.Resources.FleetStateMachine.Properties.DefinitionSubstitutions);
  for (const k of ['ResponseStateMachineArn', 'FleetMaxConcurrency', 'FleetToleratedFailurePercentage'])
    t.ok(fleet.includes(k), `fleet: ${k}`);
});

t.test("the deploy's defaults are the template's", async (t) => {
  for (const [k, v] of Object.entries(AUTOMATION_DEFAULTS))
    t.equal(String(doc.Parameters[k].Default), v, `${k} defaults to ${JSON.stringify(v)}`);
});

t.test('the outputs automation run and status read', async (t) => {
  t.same(
    ['CodeSha256', 'DeadLetterQueueUrl', 'FleetStateMachineArn', 'ResponseStateMachineArn', 'TopicArn'].filter(
      (o) => !(o in doc.Outputs),
    ),
    [],
  );
});

t.test('the responders topic and the dead-letter queue are encrypted', async (t) => {
  t.ok(doc.Resources.Topic.Properties.KmsMasterKeyId, 'topic: SSE with KMS');
  t.equal(doc.Resources.DeadLetterQueue.Properties.SqsManagedSseEnabled, true, 'queue: SSE-SQS');
});
