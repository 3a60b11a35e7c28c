/**
 * automation approve | reject and automation status on a fake account: the decision recorded and
 * handed to the paused task's token, refused when nothing waits or it was decided; status reads
 * each instance's outcome from the record and the executions' state from Step Functions.
 */
import t from 'tap';
import { approvalKey, automationStatus, caseHolders, decideApproval } from '../../../src/workflows/automation/index.js';
import { acquireCaseLocks } from '../../../src/custody/lease.js';
import { lockScopes } from '../../../src/domain/exclusive.js';
import { fakeS3 } from '../../custody/fake-lease-s3.js';
import { MemoryRecorder } from '../../../src/domain/recorder.js';
import { legacyAutomationApprovalKey } from '../../../src/domain/vault-name.js';
import { idempotencyKeys } from '../../../src/domain/idempotency-keys.js';
import { RESPONSE_ARN, World, instanceIds } from './fake.js';

const CASE = 'GD-0123456789abcdef';
const [I1, I2] = instanceIds(2) as [string, string];
const EXEC = `${RESPONSE_ARN.replace(':stateMachine:', ':execution:')}:ev-1`;

/** A response paused for approval: the raw finding as input, the case in its history, the request in the vault. */
function paused(): World {
  const w = new World();
  w.executions.set(EXEC, {
    arn: EXEC,
    stateMachineArn: RESPONSE_ARN,
    name: 'ev-1',
    input: JSON.stringify({ source: 'aws.guardduty', detail: { id: 'f-1' } }),
    status: 'RUNNING',
    output: JSON.stringify({ case: { caseId: CASE, instanceId: I1 } }),
    token: { token: 'tok-1' },
  });
  w.objects.set(approvalKey(CASE, 'ev-1', I1), request('tok-1', I1));
  return w;
}

const request = (taskToken: string, instanceId: string) =>
  Buffer.from(
    JSON.stringify({ taskToken, executionArn: EXEC, requestedAt: '2026-12-05T12:00:00Z', caseId: CASE, instanceId }),
  );

const decide = (w: World, decision: 'approved' | 'rejected', reason?: string, instanceId?: string) =>
  decideApproval(
    { account: w.account(), custody: async () => w.custody() },
    { execution: EXEC, decision, ...(reason ? { reason } : {}), ...(instanceId ? { instanceId } : {}) },
  );

t.test('approve: recorded with who and why, then the token gets the decision', async (t) => {
  const w = paused();
  const r = await decide(w, 'approved', 'confirmed with the owner');
  t.equal(r.case, CASE, 'the case found in the execution (its input is the raw finding)');
  t.equal(r.instanceId, I1);
  t.equal(r.by, 'arn:aws:sts::123456789012:assumed-role/Custodian/alice');
  const ev = w.record.events()[0]!;
  t.equal(ev.action, 'automation.approval');
  t.match(ev.outcome.details, { decision: 'approved', by: r.by, reason: 'confirmed with the owner' });
  t.same(
    w.calls
      .of<{ taskToken: string; output: string }>('sendTaskSuccess')
      .map((c) => [c.taskToken, JSON.parse(c.output).decision]),
    [['tok-1', 'approved']],
  );
  await t.rejects(
    decide(w, 'approved'),
    { code: 'APPROVAL_NOT_PENDING', exitCode: 2 },
    'already decided: nothing waits',
  );
  await t.rejects(decide(w, 'rejected'), { code: 'APPROVAL_NOT_PENDING', message: /already approved/ });
  t.equal(w.record.events().length, 1, 'one decision in the record');
});

t.test('reject: the task fails with Rejected, which the state machine catches, and the reason', async (t) => {
  const w = paused();
  await decide(w, 'rejected', 'production database, take it offline by hand');
  t.same(w.calls.of('sendTaskFailure'), [
    { taskToken: 'tok-1', error: 'Rejected', cause: 'production database, take it offline by hand' },
  ]);
  t.match(w.record.events()[0]!.outcome.details, { decision: 'rejected' });
});

t.test(
  'two instances paused under one execution name (fleet children on the local AWS): neither overwrites the other, and the instance is named',
  async (t) => {
    const w = paused();
    w.executions.get(EXEC)!.moreTokens = [{ token: 'tok-2' }];
    w.objects.set(approvalKey(CASE, 'ev-1', I2), request('tok-2', I2));
    t.not(approvalKey(CASE, 'ev-1', I1), approvalKey(CASE, 'ev-1', I2), 'one request object per instance');
    const err = await decide(w, 'approved').catch((e: unknown) => e);
    t.match(err, { code: 'APPROVAL_INSTANCE_REQUIRED', exitCode: 2, details: { instances: [I1, I2] } });
    t.match((err as Error).message, new RegExp(`${I1} \\(waiting\\), ${I2} \\(waiting\\): name one with --instance`));
    t.equal(w.record.events().length, 0, 'nothing recorded, nothing sent');
    t.same(w.calls.of('sendTaskSuccess'), []);

    const second = await decide(w, 'rejected', 'not this one', I2);
    t.equal(second.instanceId, I2);
    t.same(
      w.calls.of('sendTaskFailure'),
      [{ taskToken: 'tok-2', error: 'Rejected', cause: 'not this one' }],
      "I2's token",
    );
    const first = await decide(w, 'approved');
    t.equal(first.instanceId, I1, 'the one request still undecided is found without --instance');
    t.same(
      w.calls.of<{ taskToken: string }>('sendTaskSuccess').map((c) => c.taskToken),
      ['tok-1'],
    );
    t.same(
      w.record.events().map((e) => [e.action, e.inputs?.['instanceId'], e.outcome.details?.['decision']]),
      [
        ['automation.approval', I2, 'rejected'],
        ['automation.approval', I1, 'approved'],
      ],
      'one decision per instance',
    );
    await t.rejects(decide(w, 'approved'), { code: 'APPROVAL_INSTANCE_REQUIRED', message: /decided.*decided/ });
    await t.rejects(decide(w, 'approved', undefined, 'i-0123456789abcdef0'), {
      code: 'APPROVAL_NOT_PENDING',
      message: new RegExp(`no approval was requested for instance i-0123456789abcdef0; it waits for ${I1}, ${I2}`),
    });
    await t.rejects(decide(w, 'approved', undefined, 'web-1'), { code: 'INVALID_INSTANCE_ID', exitCode: 2 });
  },
);

t.test('a request written by a step deployed before requests were per instance is still decided', async (t) => {
  const w = paused();
  w.objects.clear();
  w.objects.set(legacyAutomationApprovalKey(CASE, 'ev-1'), request('tok-1', I1));
  const r = await decide(w, 'approved');
  t.equal(r.instanceId, I1);
  t.same(
    w.calls.of<{ taskToken: string }>('sendTaskSuccess').map((c) => c.taskToken),
    ['tok-1'],
  );
  t.equal(
    w.record.events()[0]!.idempotencyKey,
    idempotencyKeys.automation.approvalOfInstance(I1, EXEC),
    'recorded under the per-instance key',
  );
  const old = paused();
  await old.record.record({
    action: 'automation.approval',
    idempotencyKey: idempotencyKeys.automation.approval(EXEC),
    resources: [],
    inputs: { execution: EXEC, instanceId: I1 },
    outcome: { status: 'succeeded', details: { decision: 'approved', by: 'someone' } },
  });
  await t.rejects(
    decide(old, 'rejected'),
    {
      code: 'APPROVAL_NOT_PENDING',
      message: /already approved by someone/,
    },
    'a decision recorded under the old key still holds for its instance',
  );
});

t.test('nothing waiting: no request, an ended execution, an unknown or malformed ARN', async (t) => {
  const w = paused();
  w.objects.clear();
  await t.rejects(decide(w, 'approved'), { code: 'APPROVAL_NOT_PENDING', message: /no approval was requested/ });
  const ended = paused();
  ended.executions.get(EXEC)!.status = 'SUCCEEDED';
  await t.rejects(decide(ended, 'approved'), { code: 'APPROVAL_NOT_PENDING', message: /ended \(SUCCEEDED\)/ });
  t.equal(ended.record.events().length, 0, 'nothing recorded');
  const none = new World();
  await t.rejects(decide(none, 'approved'), { code: 'EXECUTION_NOT_FOUND', exitCode: 2 });
  await t.rejects(
    decideApproval(
      { account: none.account(), custody: async () => none.custody() },
      { execution: 'arn:nope', decision: 'approved' },
    ),
    { code: 'INVALID_EXECUTION_ARN', exitCode: 2 },
  );
});

t.test("status: each instance's outcome from the record, each execution's state from Step Functions", async (t) => {
  const w = paused();
  const fleetArn = 'arn:aws:states:us-east-1:123456789012:execution:cleanroom-fleet:run-abc';
  w.executions.set(fleetArn, {
    arn: fleetArn,
    stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:cleanroom-fleet',
    name: 'run-abc',
    input: '{}',
    status: 'SUCCEEDED',
  });
  const rec = w.record;
  await rec.record({
    action: 'automation.run',
    resources: [],
    inputs: { runId: 'abc', items: { bucket: 'b', key: 'k', sha256: 'ff', count: 2 }, instanceIds: [I1, I2] },
    outcome: { status: 'succeeded', details: { execution: fleetArn } },
  });
  await rec.record({
    action: 'isolate.complete',
    resources: [{ type: 'ec2:instance', id: I1 }],
    outcome: { status: 'succeeded' },
  });
  await rec.record({
    action: 'acquire.run',
    resources: [],
    outcome: {
      status: 'succeeded',
      details: {
        evidence: [
          { evidenceId: 'ev-one', sourceInstanceId: I1, state: 'attached', sha256: 'ab'.repeat(32) },
          { evidenceId: 'ev-two', sourceInstanceId: I2, state: 'preserved' },
        ],
      },
    },
  });
  await rec.record({
    action: 'isolate.complete',
    resources: [{ type: 'ec2:instance', id: I2 }],
    outcome: { status: 'failed', error: { code: 'ASG_AT_MINIMUM', message: 'at minimum' } },
  });
  const s = await automationStatus({ account: w.account(), custody: async () => rec }, { caseId: CASE });
  t.same(
    s.executions.map((x) => [x.kind, x.status]),
    [['fleet', 'SUCCEEDED']],
  );
  t.same(
    s.instances.map((i) => [i.instanceId, i.outcome, i.isolated, i.hashed, i.attached, i.error?.code]),
    [
      [I1, 'done', true, 1, 1, undefined],
      [I2, 'failed', false, 0, 0, 'ASG_AT_MINIMUM'],
    ],
  );
  t.equal(s.head?.seq, 4, 'read up to the head of the record');
  const gone = await automationStatus({ account: new World().account(), custody: async () => rec }, { caseId: CASE });
  t.equal(
    gone.executions[0]!.status,
    'UNKNOWN',
    'an execution Step Functions forgot is still reported from the record',
  );
  const latest = await automationStatus({ account: w.account() }, {});
  t.equal(latest.case, null);
  t.same(latest.executions.map((x) => x.kind).sort(), ['fleet', 'response']);
});

t.test('status: a fleet child that failed at resolve is failed, with the code, not incomplete', async (t) => {
  const w = new World();
  const fleetArn = 'arn:aws:states:us-east-1:123456789012:execution:cleanroom-fleet:run-def';
  w.executions.set(fleetArn, {
    arn: fleetArn,
    stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:cleanroom-fleet',
    name: 'run-def',
    input: '{}',
    status: 'SUCCEEDED',
  });
  const [A, B, C] = instanceIds(3) as [string, string, string];
  const rec = w.record;
  await rec.record({
    action: 'automation.run',
    resources: [],
    inputs: { runId: 'def', instanceIds: [A, B, C] },
    outcome: { status: 'succeeded', details: { execution: fleetArn } },
  });
  // A: its child's NotifyResolveFailure recorded the failure in the run's case (the item names it).
  await rec.record({
    action: 'automation.notify',
    resources: [{ type: 'ec2:instance', id: A }],
    inputs: { execution: fleetArn },
    outcome: {
      status: 'succeeded',
      details: { outcome: 'failed', error: 'INSTANCE_TERMINATED', errorMessage: `Instance ${A} is terminated.` },
    },
  });
  // The summary names A and B failed (B with the error the map gave; A's result was null) and C succeeded.
  await rec.record({
    action: 'automation.notify',
    resources: [],
    inputs: { execution: fleetArn, runId: 'def' },
    outcome: {
      status: 'succeeded',
      details: {
        outcome: 'summary',
        instances: [
          { instanceId: A, caseId: CASE, outcome: 'failed' },
          { instanceId: B, caseId: CASE, outcome: 'failed', error: 'INSTANCE_NOT_FOUND: no such instance' },
          { instanceId: C, caseId: CASE, outcome: 'succeeded' },
        ],
      },
    },
  });
  const s = await automationStatus({ account: w.account(), custody: async () => rec }, { caseId: CASE });
  t.same(
    s.instances.map((i) => [i.instanceId, i.outcome, i.error?.code, i.error?.message]),
    [
      [A, 'failed', 'INSTANCE_TERMINATED', `Instance ${A} is terminated.`],
      [B, 'failed', 'INSTANCE_NOT_FOUND', 'no such instance'],
      // C: the summary says it succeeded but the record holds none of its work: not done.
      [C, 'incomplete', undefined, undefined],
    ],
  );
  // A later run of the same instance that notifies success makes the earlier failure good.
  await rec.record({
    action: 'automation.notify',
    resources: [{ type: 'ec2:instance', id: A }],
    inputs: { execution: fleetArn },
    outcome: { status: 'succeeded', details: { outcome: 'succeeded' } },
  });
  await rec.record({
    action: 'automation.notify',
    resources: [],
    inputs: { execution: fleetArn, runId: 'def2' },
    outcome: {
      status: 'succeeded',
      details: { outcome: 'summary', instances: [{ instanceId: A, outcome: 'succeeded' }] },
    },
  });
  const again = await automationStatus({ account: w.account(), custody: async () => rec }, { caseId: CASE });
  t.equal(again.instances.find((i) => i.instanceId === A)?.outcome, 'incomplete', 'no standing failure for A');
});

t.test("status: what holds the case now — the steps' locks (and the case's lease) — with the holder", async (t) => {
  const { s3 } = fakeS3();
  const vault = { ...s3, accountId: async () => '123456789012', region: 'us-east-1' };
  const lock = (owner: string, command: string, scope: string) =>
    acquireCaseLocks(
      { account: s3, bucket: 'vault', vaultKeyArn: 'arn:k', caseId: CASE, owner, command, ttlMs: 60_000 },
      [scope],
    );
  await lock(
    'exec|acquire|1',
    'automation acquire',
    lockScopes.instance('i-0aaaaaaaaaaaaaaaa', { account: '123456789012', region: 'us-east-1' }),
  );
  const [done] = await lock('exec|room|2', 'automation room', lockScopes.room(CASE));
  await done!.release();
  const s = await automationStatus(
    {
      account: new World().account(),
      custody: async () => new MemoryRecorder('me'),
      held: caseHolders(vault, 'vault'),
    },
    { caseId: CASE },
  );
  t.match(s.held, [
    {
      scope: 'instance:i-0aaaaaaaaaaaaaaaa@123456789012.us-east-1',
      command: 'automation acquire',
      holder: 'exec|acquire|1',
    },
  ]);
  t.equal(s.held?.length, 1, 'a lock given back holds nothing');
});
