/**
 * Reading what started a response (src/lambda/events.ts): each kind of event, the deterministic
 * case id (same finding → same case; another finding, account or Region → another), the severity
 * gate, what is ignored and what is refused.
 */
import t from 'tap';
import { readTrigger, type Trigger } from '../../src/lambda/events.js';
import { automationCaseId, digest16 } from '../../src/lambda/case-id.js';
import { createHash } from 'node:crypto';
import { guardDutyEvent } from './fake-world.js';

const I = 'i-0abc1234def567890';

const trigger = (x: ReturnType<typeof readTrigger>): Trigger => {
  if ('ignored' in x) throw new Error(`ignored: ${x.ignored}`);
  return x;
};

t.test('GuardDuty: the case id is GD- and 16 hex of SHA-256(account:region:findingId)', async (t) => {
  const r = trigger(readTrigger(guardDutyEvent(), 7));
  const expected = createHash('sha256')
    .update('123456789012:us-east-1:16afba5c5c43e07c9e3e5e2e544e95df')
    .digest('hex')
    .slice(0, 16);
  t.equal(r.caseId, `GD-${expected}`);
  t.equal(r.instanceId, I);
  t.equal(r.region, 'us-east-1');
  t.equal(r.account, '123456789012');
  t.same(r.finding, {
    id: '16afba5c5c43e07c9e3e5e2e544e95df',
    type: 'UnauthorizedAccess:EC2/SSHBruteForce',
    severity: 8,
    title: 'SSH brute force attack against i-0abc',
    source: 'guardduty',
  });
  t.equal(trigger(readTrigger(guardDutyEvent(), 7)).caseId, r.caseId, 'the same finding twice: the same case');
  t.not(trigger(readTrigger(guardDutyEvent({ id: 'other' }), 7)).caseId, r.caseId, 'another finding: another case');
  t.not(
    trigger(readTrigger(guardDutyEvent({ account: '111111111111' }), 7)).caseId,
    r.caseId,
    'the same finding id in another account: another case',
  );
  t.equal(
    automationCaseId('guardduty', '123456789012', 'us-east-1', 'x'),
    `GD-${digest16('123456789012', 'us-east-1', 'x')}`,
  );
});

t.test('GuardDuty: below the minimum severity, or not about an instance, is ignored', async (t) => {
  t.match(readTrigger(guardDutyEvent({ severity: 5 }), 7), { ignored: /severity 5, below the minimum 7/ });
  t.notOk('ignored' in readTrigger(guardDutyEvent({ severity: 7 }), 7), 'at the minimum: taken');
  const s3 = guardDutyEvent();
  (s3.detail as { resource: unknown }).resource = { resourceType: 'S3Bucket' };
  t.match(readTrigger(s3, 0), { ignored: /not about an EC2 instance/ });
});

t.test('Security Hub custom action: the first EC2 instance is taken, the others listed', async (t) => {
  const ev = {
    source: 'aws.securityhub',
    'detail-type': 'Security Hub Findings - Custom Action',
    account: '123456789012',
    region: 'us-east-1',
    detail: {
      actionName: 'cleanroom',
      findings: [
        { Id: 'arn:f0', Resources: [{ Type: 'AwsS3Bucket', Id: 'arn:aws:s3:::b' }] },
        {
          Id: 'arn:aws:securityhub:us-east-1:123456789012:finding/f1',
          Title: 'Crypto mining',
          Types: ['TTPs/Impact'],
          Severity: { Label: 'HIGH', Normalized: 70 },
          Resources: [
            { Type: 'AwsEc2Instance', Id: `arn:aws:ec2:us-east-1:123456789012:instance/${I}` },
            { Type: 'AwsEc2Instance', Id: 'arn:aws:ec2:us-west-2:123456789012:instance/i-0000000000000000b' },
          ],
        },
      ],
    },
  };
  const r = trigger(readTrigger(ev, 9));
  t.equal(r.instanceId, I, 'not gated by severity: a person chose it');
  t.match(r.caseId, /^SH-[0-9a-f]{16}$/);
  t.equal(
    r.caseId,
    automationCaseId(
      'securityhub',
      '123456789012',
      'us-east-1',
      'arn:aws:securityhub:us-east-1:123456789012:finding/f1',
    ),
  );
  t.same(r.finding, {
    id: 'arn:aws:securityhub:us-east-1:123456789012:finding/f1',
    type: 'TTPs/Impact',
    severity: 7,
    title: 'Crypto mining',
    source: 'securityhub',
  });
  t.same(r.others, [
    {
      instanceId: 'i-0000000000000000b',
      region: 'us-west-2',
      account: '123456789012',
      findingId: 'arn:aws:securityhub:us-east-1:123456789012:finding/f1',
    },
  ]);
  ev.detail.findings = [ev.detail.findings[0]!];
  t.match(readTrigger(ev, 0), { ignored: /names no EC2 instance/ });
});

t.test('a cleanroom:respond tag: TAG- from the instance; a removed tag is ignored', async (t) => {
  const ev = (tags: Record<string, string>) => ({
    source: 'aws.tag',
    'detail-type': 'Tag Change on Resource',
    account: '123456789012',
    region: 'us-east-1',
    resources: [`arn:aws:ec2:us-east-1:123456789012:instance/${I}`],
    detail: { 'changed-tag-keys': ['cleanroom:respond'], service: 'ec2', 'resource-type': 'instance', tags },
  });
  const r = trigger(readTrigger(ev({ 'cleanroom:respond': 'true' }), 7));
  t.equal(r.caseId, automationCaseId('tag', '123456789012', 'us-east-1', I));
  t.equal(r.finding.source, 'tag');
  t.equal(trigger(readTrigger(ev({ 'cleanroom:respond': 'yes' }), 7)).caseId, r.caseId, 'tagged again: the same case');
  t.match(readTrigger(ev({ Name: 'web' }), 7), { ignored: /does not carry the cleanroom:respond tag/ });
});

t.test('a fleet item names its case; anything else is UNSUPPORTED_EVENT', async (t) => {
  const r = trigger(
    readTrigger(
      { fleet: { caseId: 'IR-9', runId: 'r1' }, item: { caseId: 'IR-9', instanceId: I, region: 'eu-west-1' } },
      7,
    ),
  );
  t.same(
    [r.caseId, r.instanceId, r.region, r.finding.source, r.finding.id],
    ['IR-9', I, 'eu-west-1', 'fleet', 'fleet:r1'],
  );
  for (const bad of [
    null,
    'x',
    { source: 'aws.ec2', 'detail-type': 'EC2 Instance State-change Notification' },
    { fleet: { runId: 'r' }, item: {} },
  ]) {
    t.throws(() => readTrigger(bad, 7), { code: 'UNSUPPORTED_EVENT', exitCode: 2 }, JSON.stringify(bad));
  }
  t.throws(
    () =>
      readTrigger(
        { fleet: { caseId: 'IR-9', runId: 'r1' }, item: { caseId: 'bad id!', instanceId: I, region: 'us-east-1' } },
        7,
      ),
    { code: 'INVALID_CASE_ID' },
  );
});
