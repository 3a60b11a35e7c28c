/**
 * The step handlers over a fake world (test/lambda/fake-world.ts): what each records, publishes
 * and returns; duplicates; done and pending; the stop before Lambda's time limit; bad input and
 * failures thrown as errors named by their cleanroom code (what the state machine's Retry and
 * Catch match).
 */
import t from 'tap';
import { CleanroomError, UsageError } from '../../src/domain/errors.js';
import { WaitHandedOffError } from '../../src/domain/hand-off.js';
import { interruptedAt } from '../../src/domain/abort.js';
import { makeHandlers } from '../../src/lambda/handlers.js';
import { approvalKey } from '../../src/lambda/steps.js';
import { stepLane } from '../../src/lambda/host.js';
import { LANE_ID_PATTERN } from '../../src/custody/event.js';
import type { CaseRef } from '../../src/lambda/types.js';
import type { Workflows } from '../../src/lambda/host.js';
import { EXECUTION, context, fakeWorld, guardDutyEvent, type FakeRecord, type FakeWorld } from './fake-world.js';

const I = 'i-0abc1234def567890';
const REF: CaseRef = {
  caseId: 'GD-0123456789abcdef',
  instanceId: I,
  region: 'us-east-1',
  account: '123456789012',
  finding: { id: 'f1', type: 'UnauthorizedAccess:EC2/SSHBruteForce', severity: 8, title: 'SSH', source: 'guardduty' },
  policy: 'auto',
};

const setup = (workflows: Partial<Workflows> = {}, env: Parameters<typeof fakeWorld>[1] = {}, marginMs?: number) => {
  const world = fakeWorld(workflows, env);
  return { world, h: makeHandlers(() => world, marginMs) };
};

/** Open the case's record as resolve left it (so the later steps find the case). */
async function withCase(world: FakeWorld): Promise<FakeRecord> {
  await world.openRecord(REF.caseId, {
    mustExist: false,
    lane: 'test-lane',
    actor: { execution: EXECUTION, function: 'f', codeSha256: 'c'.repeat(64) },
  });
  return world.records.get(REF.caseId)!;
}

async function rejects(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

t.test('resolve: a GuardDuty finding opens its case and records automation.start, with the actor', async (t) => {
  const { world, h } = setup();
  const r = (await h.resolve(
    { input: guardDutyEvent(), execution: EXECUTION },
    context(900_000, 'cleanroom-resolve'),
  )) as any;
  t.equal(r.status, 'done');
  t.equal(r.duplicate, false);
  t.equal(r.ignored, false);
  t.match(r.case, { instanceId: I, region: 'us-east-1', account: '123456789012', policy: 'auto' });
  t.match(r.case.caseId, /^GD-[0-9a-f]{16}$/);
  const rec = world.records.get(r.case.caseId)!;
  t.same(
    rec.events().map((e) => e.action),
    ['automation.start'],
  );
  t.match(rec.events()[0]!.inputs, {
    finding: { source: 'guardduty', severity: 8 },
    instance: I,
    policy: 'auto',
    execution: EXECUTION,
  });
  t.equal(rec.seals, 0, 'not sealed: the event waits in the step lane for the final step');
  t.equal(world.opened[0]!.lane, stepLane(EXECUTION, 'cleanroom-resolve', I), 'written to its own lane');
  t.same(world.opened[0]!.actor, {
    execution: EXECUTION,
    function: 'cleanroom-resolve',
    codeSha256: 'c'.repeat(64),
  });
  t.equal(world.opened[0]!.locks, undefined, 'appending automation.start takes no lock');
});

t.test('resolve: the same finding again ends duplicate; a retry of the same execution goes on', async (t) => {
  const { world, h } = setup();
  const first = (await h.resolve({ input: guardDutyEvent(), execution: EXECUTION }, context())) as any;
  const retry = (await h.resolve({ input: guardDutyEvent(), execution: EXECUTION }, context())) as any;
  t.equal(retry.duplicate, false, 'the execution that recorded the start is not its own duplicate');
  const second = (await h.resolve({ input: guardDutyEvent(), execution: `${EXECUTION}-again` }, context())) as any;
  t.equal(second.duplicate, true);
  t.equal(second.case.caseId, first.case.caseId);
  t.equal(second.firstExecution, EXECUTION);
  t.equal(world.records.get(first.case.caseId)!.events().length, 1, 'one automation.start, not two');
});

t.test('resolve: ignored events open no case; an unknown instance fails before any record', async (t) => {
  const { world, h } = setup(
    {
      checkInstance: async () => {
        throw new UsageError('INSTANCE_NOT_FOUND', `Instance ${I} does not exist in us-east-1.`);
      },
    },
    { minSeverity: 9 },
  );
  const ignored = (await h.resolve({ input: guardDutyEvent(), execution: EXECUTION }, context())) as any;
  t.match(ignored, { status: 'done', ignored: true, reason: /below the minimum 9/ });
  t.equal(world.opened.length, 0);
  const { world: w2, h: h2 } = setup({
    checkInstance: async () => {
      throw new UsageError('INSTANCE_NOT_FOUND', `Instance ${I} does not exist in us-east-1.`);
    },
  });
  const e = await rejects(h2.resolve({ input: guardDutyEvent(), execution: EXECUTION }, context()));
  t.equal(e.name, 'INSTANCE_NOT_FOUND', 'named for the ASL Catch');
  t.match(e.message, /does not exist/);
  t.equal(w2.opened.length, 0, 'no case record for an instance that does not exist');
});

t.test('bad input is INVALID_AUTOMATION_INPUT, named, before any work', async (t) => {
  const { world, h } = setup({ acquire: async () => ({ evidence: [] }) });
  const e = await rejects(h.acquire({ case: { ...REF, instanceId: 'vol-1' }, execution: EXECUTION }, context()));
  t.equal(e.name, 'INVALID_AUTOMATION_INPUT');
  t.match(e.message, /acquire step.*\/case\/instanceId/);
  t.same(world.calls, []);
  const e2 = await rejects(h.hash({ case: REF, execution: 'not-an-arn', item: { evidenceId: 'ev-x' } }, context()));
  t.equal(e2.name, 'INVALID_AUTOMATION_INPUT');
});

t.test("isolate: auto isolates under the instance's lock and gives it back; never skips", async (t) => {
  const { world, h } = setup({
    isolate: async (r) => {
      t.equal(r.ref.instanceId, I);
      return { alreadyIsolated: false, steps: [{ step: 'protect', status: 'done' }] };
    },
  });
  const rec = await withCase(world);
  const r = (await h.isolate({ case: REF, execution: EXECUTION }, context(900_000, 'cleanroom-isolate'))) as any;
  t.same(r, { status: 'done', skipped: false, alreadyIsolated: false, steps: [{ step: 'protect', status: 'done' }] });
  const open = world.opened.at(-1)!;
  t.same(open.locks, {
    owner: `${EXECUTION}|cleanroom-isolate|req-1`,
    command: 'automation isolate',
    scopes: [`instance:${I}@123456789012.us-east-1`],
  });
  t.equal(rec.leaseReleased, 1);
  const never = (await h.isolate({ case: { ...REF, policy: 'never' }, execution: EXECUTION }, context())) as any;
  t.match(never, { status: 'done', skipped: true });
  t.same(world.calls, ['isolate'], 'never: the isolate workflow is not called');
});

t.test(
  'each step locks only what it changes: the instance (isolate, acquire) or the room (room, attach)',
  async (t) => {
    const { world, h } = setup({
      isolate: async (r) => {
        // What isolate's shared steps hold goes through the record's locks, as the step opened it.
        await r.exclusive!(['groups:vpc-1'], async () => undefined);
        return { alreadyIsolated: false, steps: [] };
      },
      acquire: async () => ({ evidence: [] }),
      room: async () => ({ stackName: 'cleanroom-room-GD-0123456789abcdef' }),
      attach: async () => ({}),
    });
    const rec = await withCase(world);
    const other = { ...REF, instanceId: 'i-0fff1234def567890' };
    await h.isolate({ case: REF, execution: EXECUTION }, context());
    await h.acquire({ case: other, execution: EXECUTION }, context());
    await h.room({ case: REF, execution: EXECUTION }, context());
    await h.attach({ case: other, execution: EXECUTION, item: { evidenceId: 'ev-abc1' } }, context());
    t.same(
      world.opened.slice(1).map((o) => o.locks?.scopes),
      [
        [`instance:${I}@123456789012.us-east-1`],
        ['instance:i-0fff1234def567890@123456789012.us-east-1'],
        ['room:cleanroom-GD-0123456789abcdef'],
        ['room:cleanroom-GD-0123456789abcdef'],
      ],
      "two instances' steps lock different objects; room and attach the one room",
    );
    t.same(rec.lockedBriefly, [['groups:vpc-1']]);
    t.equal(rec.leaseReleased, 4, 'every step gives its locks back');
  },
);

t.test('a wait handed off is pending (the state machine waits); the locks are given back', async (t) => {
  const { world, h } = setup({
    acquire: async () => {
      throw new WaitHandedOffError({
        waitingFor: 'snapshot snap-1 of vol-1 (ev-x): pending 40%',
        retryAfterSeconds: 14.2,
      });
    },
  });
  const rec = await withCase(world);
  const r = await h.acquire({ case: REF, execution: EXECUTION }, context());
  t.same(r, { status: 'pending', waitSeconds: 15, waitingFor: 'snapshot snap-1 of vol-1 (ev-x): pending 40%' });
  t.equal(rec.leaseReleased, 1);
});

t.test('acquire done: the evidence items for the Hash and Attach maps', async (t) => {
  const { world, h } = setup({
    acquire: async () => ({ evidence: [{ evidenceId: 'ev-abc1', forensicSnapshotId: 'snap-f', sizeGiB: 1 }] }),
  });
  await withCase(world);
  t.same(await h.acquire({ case: REF, execution: EXECUTION }, context()), {
    status: 'done',
    evidence: [{ evidenceId: 'ev-abc1', snapshotId: 'snap-f', sizeGiB: 1 }],
  });
});

t.test('the step stops before the Lambda time limit and answers pending', async (t) => {
  // 200 ms left, a margin of 150 ms: the signal fires after 100 ms (half the time left, the floor).
  const { world, h } = setup(
    {
      room: (r) =>
        new Promise((_, reject) =>
          r.signal.addEventListener('abort', () => reject(interruptedAt('waiting for the stack', r.signal.reason))),
        ),
    },
    {},
    150,
  );
  const rec = await withCase(world);
  const r = await h.room({ case: REF, execution: EXECUTION }, context(200));
  t.match(r, { status: 'pending', waitSeconds: 1, waitingFor: /next invocation of room/ });
  t.equal(rec.leaseReleased, 1);
});

t.test('hash: pending carries the resume state; the next call passes it in; done gives the SHA-256', async (t) => {
  const seen: unknown[] = [];
  const { world, h } = setup({
    hash: async (r) => {
      seen.push(r.resume);
      return r.resume
        ? { done: true, sha256: 'a'.repeat(64) }
        : { done: false, state: { v: 1, nextBlock: 7 }, waitingFor: 'ev-abc1: 40%' };
    },
  });
  await withCase(world);
  const item = { evidenceId: 'ev-abc1' };
  const first = (await h.hash({ case: REF, execution: EXECUTION, item, resume: null }, context())) as any;
  t.same(first, { status: 'pending', waitSeconds: 1, waitingFor: 'ev-abc1: 40%', resume: { v: 1, nextBlock: 7 } });
  const second = await h.hash({ case: REF, execution: EXECUTION, item, resume: first.resume }, context());
  t.same(second, { status: 'done', evidenceId: 'ev-abc1', sha256: 'a'.repeat(64) });
  t.same(seen, [null, { v: 1, nextBlock: 7 }]);
  t.equal(world.opened.at(-1)!.locks, undefined, 'hashing takes no lock (items hash in parallel)');
});

t.test('failures are named by their code; anything unexpected is INTERNAL', async (t) => {
  const { world, h } = setup({
    attach: async () => {
      throw new CleanroomError('CASE_BUSY', 'Case GD-… is busy: acquire holds its lease.');
    },
    room: async () => {
      throw new TypeError('x is undefined');
    },
  });
  await withCase(world);
  const busy = await rejects(h.attach({ case: REF, execution: EXECUTION, item: { evidenceId: 'ev-abc1' } }, context()));
  t.equal(busy.name, 'CASE_BUSY', 'retried by the state machine');
  const bug = await rejects(h.room({ case: REF, execution: EXECUTION }, context()));
  t.equal(bug.name, 'INTERNAL');
  t.match(bug.message, /TypeError: x is undefined/);
  const unknown = await rejects(h.isolate({ case: { ...REF, caseId: 'GD-ffff' }, execution: EXECUTION }, context()));
  t.equal(unknown.name, 'UNKNOWN_CASE', 'a step of a case resolve never opened');
});

t.test('requestApproval: the task token into the vault, the request recorded, the command published', async (t) => {
  const { world, h } = setup({}, { isolationPolicy: 'approve' });
  const rec = await withCase(world);
  const ref = { ...REF, policy: 'approve' as const };
  const r = (await h.requestApproval({ case: ref, execution: EXECUTION, taskToken: 'tok-1' }, context())) as any;
  const key = `cases/${REF.caseId}/automation/approvals/run-1/${I}.json`;
  t.equal(
    approvalKey(REF.caseId, EXECUTION, I),
    key,
    'one request per instance: fleet children may share an execution name',
  );
  t.not(approvalKey(REF.caseId, EXECUTION, 'i-0ffffffffffffffff'), key);
  t.same(r, { status: 'done', approvalKey: key, requestedAt: '2026-12-05T12:00:00.000Z' });
  t.same(world.vault.get(key), {
    taskToken: 'tok-1',
    executionArn: EXECUTION,
    requestedAt: '2026-12-05T12:00:00.000Z',
    caseId: REF.caseId,
    instanceId: I,
  });
  t.same(
    rec.events().map((e) => e.action),
    ['automation.approval.request'],
  );
  t.equal(world.published.length, 1);
  t.match(world.published[0]!.subject, /approve isolation of i-0abc/);
  t.match(world.published[0]!.message, `cleanroom automation approve --execution ${EXECUTION} --instance ${I}`);
  t.match(world.published[0]!.message, `cleanroom automation reject --execution ${EXECUTION} --instance ${I}`);
  await h.requestApproval({ case: ref, execution: EXECUTION, taskToken: 'tok-2' }, context());
  t.equal((world.vault.get(key) as any).taskToken, 'tok-2', "a retried task's new token replaces the old");
  t.equal(rec.events().length, 1, 'the request is recorded once');
});

t.test('notify: the summary with evidence, hashes and the custody head, recorded once', async (t) => {
  const { world, h } = setup();
  const rec = await withCase(world);
  await rec.record({
    action: 'evidence.hash',
    resources: [],
    outcome: {
      status: 'succeeded',
      details: {
        evidence: {
          evidenceId: 'ev-abc1',
          sourceInstanceId: I,
          sourceVolumeId: 'vol-1',
          forensicSnapshotId: 'snap-f',
          sha256: 'd'.repeat(64),
        },
      },
    },
  });
  const r = (await h.notify({ case: REF, execution: EXECUTION, outcome: 'succeeded' }, context())) as any;
  t.match(r, { status: 'done', messageId: 'msg-1', head: { seq: 1, hash: 'mem-1' } });
  const m = world.published[0]!;
  t.match(m.subject, /response succeeded for instance i-0abc1234def567890 \(case GD-0123456789abcdef\)/);
  t.match(m.message, /ev-abc1 +vol-1 +snapshot snap-f +sha256 d{64}/);
  t.match(m.message, 'Custody head: #1 mem-1');
  t.equal(rec.seals, 2, "the steps' lanes committed before the notice names the head, its own event after");
  t.notOk(rec.dirty, 'a finished execution leaves nothing uncommitted');
  t.match(m.message, `cleanroom custody verify --case ${REF.caseId}`);
  t.same(
    rec.events().map((e) => e.action),
    ['evidence.hash', 'automation.notify'],
  );
  t.match(rec.events()[1]!.outcome.details, { outcome: 'succeeded', messageId: 'msg-1', evidence: ['ev-abc1'] });
  const again = (await h.notify({ case: REF, execution: EXECUTION, outcome: 'succeeded' }, context())) as any;
  t.equal(again.alreadyNotified, true);
  t.equal(world.published.length, 1, 'a retried notify does not publish twice');
  t.equal(rec.seals, 2, 'nothing left to commit: not sealed again');
  rec.dirty = true; // as a retry finds the record when the first attempt died before its seal
  await h.notify({ case: REF, execution: EXECUTION, outcome: 'succeeded' }, context());
  t.equal(rec.seals, 3, 'a retry after the notice was recorded still commits the lanes');
  t.equal(world.published.length, 1);
});

t.test('step lanes: a retry continues its lane; another unit, function or execution has its own', async (t) => {
  const a = stepLane(EXECUTION, 'cleanroom-hash', 'ev-1');
  t.equal(stepLane(EXECUTION, 'cleanroom-hash', 'ev-1'), a, 'the same step, unit and execution: the same lane');
  t.not(stepLane(EXECUTION, 'cleanroom-hash', 'ev-2'), a, 'items of one Map write different lanes');
  t.not(stepLane(EXECUTION, 'cleanroom-attach', 'ev-1'), a);
  t.not(stepLane(`${EXECUTION}-2`, 'cleanroom-hash', 'ev-1'), a);
  t.match(a, /^run-1\.cleanroom-hash\.[0-9a-f]{12}$/, 'named for the execution and the function');
  const long = stepLane(`${EXECUTION}:${'x'.repeat(200)}`, `-${'f'.repeat(200)}`, 'u');
  t.ok(LANE_ID_PATTERN.test(long), 'a long execution or function name still makes a lane id');

  // The workflows get a record they append to but cannot seal (the seal is the final step's).
  let sealable: unknown;
  const { world, h } = setup({
    attach: async (r) => {
      sealable = (r.record as { sealManifest?: unknown }).sealManifest;
      await r.record.record({ action: 'evidence.attach', resources: [], outcome: { status: 'succeeded' } });
      return {};
    },
  });
  const rec = await withCase(world);
  await h.attach({ case: REF, execution: EXECUTION, item: { evidenceId: 'ev-abc1' } }, context(900_000, 'fn-attach'));
  t.equal(sealable, undefined, 'the workflow cannot seal');
  t.equal(rec.seals, 0);
  t.same(
    rec.events().map((e) => e.action),
    ['evidence.attach'],
  );
  t.equal(world.opened.at(-1)!.lane, stepLane(EXECUTION, 'fn-attach', 'ev-abc1'));
});

t.test('notify of a failure before any case: published, nothing recorded', async (t) => {
  const { world, h } = setup();
  const cause = JSON.stringify({ errorType: 'INSTANCE_NOT_FOUND', errorMessage: `Instance ${I} does not exist.` });
  await h.notify(
    { case: null, execution: EXECUTION, outcome: 'failed', error: { Error: 'INSTANCE_NOT_FOUND', Cause: cause } },
    context(),
  );
  t.equal(world.published.length, 1);
  t.match(world.published[0]!.message, `Error: INSTANCE_NOT_FOUND: Instance ${I} does not exist.`);
  t.equal(world.opened.length, 0);
});

t.test("notify of a fleet item that failed before its case was resolved: recorded in the item's case", async (t) => {
  const { world, h } = setup();
  const cause = JSON.stringify({ errorType: 'INSTANCE_TERMINATED', errorMessage: `Instance ${I} is terminated.` });
  const input = {
    case: null,
    item: { caseId: 'IR-F', instanceId: I, region: 'us-east-1' },
    execution: EXECUTION,
    outcome: 'failed',
    error: { Error: 'INSTANCE_TERMINATED', Cause: cause },
  };
  await h.notify(input, context());
  t.match(world.published[0]!.subject, `instance ${I} (case IR-F)`);
  const events = world.records.get('IR-F')!.events();
  t.match(events, [
    {
      action: 'automation.notify',
      resources: [{ type: 'ec2:instance', id: I }],
      outcome: {
        status: 'succeeded',
        details: { outcome: 'failed', error: 'INSTANCE_TERMINATED', errorMessage: `Instance ${I} is terminated.` },
      },
    },
  ]);
  await h.notify(input, context());
  t.equal(world.published.length, 1, 'a retried notify does not publish or record twice');
  t.equal(world.records.get('IR-F')!.events().length, 1);
});

t.test("summarize: one summary of the fleet's outcomes; a failed item named from the item list", async (t) => {
  const { world, h } = setup();
  world.vault.set('cases/IR-F/automation/runs/r1/items.json', [
    { caseId: 'IR-F', instanceId: 'i-00000001', region: 'us-east-1' },
    { caseId: 'IR-F', instanceId: 'i-00000002', region: 'us-east-1' },
    { caseId: 'IR-F', instanceId: 'i-00000003', region: 'us-east-1' },
  ]);
  const r = (await h.summarize(
    {
      fleet: { caseId: 'IR-F', runId: 'r1' },
      execution: EXECUTION,
      results: [
        { outcome: 'succeeded', case: { caseId: 'IR-F', instanceId: 'i-00000001' } },
        null,
        { outcome: 'duplicate', case: { caseId: 'IR-F', instanceId: 'i-00000003' } },
      ],
      items: { bucket: 'b', key: 'cases/IR-F/automation/runs/r1/items.json' },
    },
    context(),
  )) as any;
  t.same(r.counts, { succeeded: 1, failed: 1, duplicate: 1 });
  t.match(r.instances[1], { instanceId: 'i-00000002', outcome: 'failed' });
  t.match(world.published[0]!.message, /i-00000002 +IR-F +failed/);
  t.same(
    world.records
      .get('IR-F')!
      .events()
      .map((e) => e.action),
    ['automation.notify'],
  );
});
