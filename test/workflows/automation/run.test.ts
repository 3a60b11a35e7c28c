/**
 * automation run on a fake account: the item list in the vault (contract key, SSE-KMS, checksum,
 * Object Lock, written once), the fleet execution's name and input, the automation.run event,
 * MaxConcurrency from AWS's limits, bad lists refused before anything is written, and --wait.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { fleetLimits, itemsKey, runFleet, type RunOptions } from '../../../src/workflows/automation/index.js';
import { CleanroomError } from '../../../src/domain/errors.js';
import type { Clock } from '../../../src/domain/waiter.js';
import { BUCKET, FLEET_ARN, World, instanceIds } from './fake.js';

const CASE = 'IR-2026-0300';

function fleet(n: number, volumes = 1): { w: World; ids: string[] } {
  const w = new World();
  const ids = instanceIds(n);
  for (const [i, id] of ids.entries())
    w.instances.set(id, { state: 'running', volumes: i === 0 ? volumes : 1, tags: { team: 'web' } });
  return { w, ids };
}

const run = (w: World, o: Omit<RunOptions, 'caseId'>, clock?: Clock) =>
  runFleet(
    { account: w.account(), custody: async () => w.custody(), ...(clock ? { clock } : {}) },
    { caseId: CASE, ...o },
  );

t.test(
  'the item list goes into the vault once, the fleet execution starts with the contract input, automation.run records both',
  async (t) => {
    const { w, ids } = fleet(3, 2);
    const r = await run(w, { instances: [ids[2]!, ids[0]!, ids[1]!, ids[0]!] });
    const body = w.objects.get(itemsKey(CASE, r.runId))!;
    t.ok(body, `written at ${itemsKey(CASE, r.runId)}`);
    const items = JSON.parse(body.toString()) as Array<{ caseId: string; instanceId: string; region: string }>;
    t.same(
      items.map((i) => i.instanceId),
      ids,
      'sorted, each instance once',
    );
    t.same(items[0], { caseId: CASE, instanceId: ids[0], region: 'us-east-1' });
    const sha = createHash('sha256').update(body).digest('hex');
    t.equal(r.items.sha256, sha);
    t.equal(r.runId, sha.slice(0, 16), 'the run id comes from the list');
    const put = w.puts[0]!;
    t.equal(put['ServerSideEncryption'], 'aws:kms');
    t.equal(put['ChecksumSHA256'], createHash('sha256').update(body).digest('base64'), 'S3 checks the SHA-256');
    t.equal(put['ObjectLockMode'], 'GOVERNANCE');
    t.equal(put['IfNoneMatch'], '*', 'never overwritten');
    const start = w.calls.of<{ name: string; input: string; stateMachineArn: string }>('startExecution')[0]!;
    t.equal(start.name, `run-${r.runId}`);
    t.equal(start.stateMachineArn, FLEET_ARN, 'the fleet state machine from the stack outputs');
    t.same(JSON.parse(start.input), {
      caseId: CASE,
      runId: r.runId,
      items: { bucket: BUCKET, key: itemsKey(CASE, r.runId) },
      maxConcurrency: 3,
      toleratedFailurePercentage: 34,
    });
    t.equal(r.executionArn, `${FLEET_ARN.replace(':stateMachine:', ':execution:')}:run-${r.runId}`);
    const events = w.record.events();
    t.same(
      events.map((e) => e.action),
      ['automation.run'],
    );
    t.match(events[0], {
      inputs: { runId: r.runId, items: { key: itemsKey(CASE, r.runId), sha256: sha, count: 3 } },
      outcome: { status: 'succeeded', details: { execution: r.executionArn, started: true } },
    });
    t.ok(events[0]!.resources.some((x) => x.type === 'states:execution' && x.id === r.executionArn));
  },
);

t.test('running the same list again starts nothing new and records nothing twice', async (t) => {
  const { w, ids } = fleet(2);
  const first = await run(w, { instances: ids });
  const again = await run(w, { instances: [...ids].reverse() });
  t.equal(again.executionArn, first.executionArn);
  t.equal(again.started, true, 'still running: StartExecution answers with the same execution');
  t.equal(w.record.events().length, 1);
  w.executions.get(first.executionArn)!.status = 'SUCCEEDED';
  const third = await run(w, { instances: ids });
  t.equal(third.started, false, 'closed: reported as the run that happened');
  t.equal(third.seq, first.seq, 'the same event');
  t.equal(w.puts.length, 1, 'the list written once');
  const fresh = await run(w, { instances: ids, runId: 'again-1' });
  t.equal(fresh.started, true, '--run-id runs the list as a new execution');
  t.equal(w.record.events().length, 2);
});

t.test('unknown and terminated instances are refused before anything is written or started', async (t) => {
  const { w, ids } = fleet(3);
  w.instances.get(ids[1]!)!.state = 'terminated';
  const missing = 'i-0123456789abcdef0';
  const e = await run(w, { instances: [...ids, missing] }).catch((x: unknown) => x);
  t.ok(e instanceof CleanroomError);
  t.match(e, { code: 'INSTANCES_UNAVAILABLE', exitCode: 2, details: { missing: [missing], terminated: [ids[1]] } });
  t.match((e as Error).message, /Nothing was started/);
  t.equal(w.puts.length, 0);
  t.equal(w.calls.of('startExecution').length, 0);
  t.equal(w.record.events().length, 0);
  await t.rejects(run(w, { instances: ['i-xyz'] }), { code: 'INVALID_INSTANCE_ID', exitCode: 2 });
  await t.rejects(run(w, {}), { code: 'NO_INSTANCES', exitCode: 2 });
  await t.rejects(run(w, { instances: ids, maxConcurrency: 0 }), { code: 'INVALID_VALUE', exitCode: 2 });
});

t.test('no automation stack: AUTOMATION_NOT_DEPLOYED names the deploy command, nothing written', async (t) => {
  const { w, ids } = fleet(1);
  w.stack = undefined;
  await t.rejects(run(w, { instances: ids }), {
    code: 'AUTOMATION_NOT_DEPLOYED',
    exitCode: 2,
    message: /cleanroom automation deploy/,
  });
  w.stack = { status: 'CREATE_COMPLETE', outputs: {} };
  await t.rejects(run(w, { instances: ids }), { code: 'AUTOMATION_NOT_DEPLOYED', message: /FleetStateMachineArn/ });
  t.equal(w.puts.length, 0);
});

t.test('--tag takes the tagged instances that are not terminated', async (t) => {
  const { w, ids } = fleet(4);
  w.instances.get(ids[3]!)!.tags = {};
  w.instances.get(ids[2]!)!.state = 'terminated';
  const r = await run(w, { tag: { key: 'team', value: 'web' } });
  t.same(
    r.instances.map((i) => i.instanceId),
    [ids[0], ids[1]],
  );
  await t.rejects(run(w, { tag: { key: 'team', value: 'db' } }), { code: 'NO_INSTANCES' });
});

t.test(
  "MaxConcurrency from AWS's limits: 20 copies per region and the CopySnapshot/AttachVolume bucket, ÷ volumes",
  async (t) => {
    t.match(fleetLimits(50, 1), {
      byCopies: 20,
      byRequestRate: 16,
      maxConcurrency: 16,
      toleratedFailurePercentage: 25,
    });
    t.match(fleetLimits(50, 4), { byCopies: 5, byRequestRate: 4, maxConcurrency: 4 });
    t.match(fleetLimits(50, 30), { byCopies: 1, byRequestRate: 1, maxConcurrency: 1 });
    t.match(
      fleetLimits(2, 1),
      { maxConcurrency: 2, toleratedFailurePercentage: 50 },
      'one failure of two is tolerated',
    );
    t.match(fleetLimits(20, 1), { toleratedFailurePercentage: 25 }, 'one failure of twenty is within 25%');
    const { w, ids } = fleet(30, 3);
    const r = await run(w, { instances: ids });
    t.equal(r.maxConcurrency, 5, 'the instance with 3 volumes sets it: min(20/3, 50/9)');
    const given = await run(w, { instances: ids, runId: 'b', maxConcurrency: 7, toleratedFailurePercentage: 0 });
    t.equal(given.maxConcurrency, 7);
    t.equal(given.toleratedFailurePercentage, 0);
  },
);

t.test(
  '--wait polls until the end and reports each instance from the record; a failed run is RUN_FAILED with them',
  async (t) => {
    const { w, ids } = fleet(2);
    let polls = 0;
    let arn = '';
    const clock: Clock = {
      now: () => polls * 1000,
      sleep: async () => {
        polls += 1;
        if (polls === 2) {
          // what the response flows would have recorded: the first instance done, the second failed
          await w.record.record({
            action: 'isolate.complete',
            resources: [{ type: 'ec2:instance', id: ids[0]! }],
            outcome: { status: 'succeeded' },
          });
          await w.record.record({
            action: 'acquire.run',
            resources: [],
            outcome: {
              status: 'succeeded',
              details: {
                evidence: [
                  { evidenceId: 'ev-a1', sourceInstanceId: ids[0], state: 'attached', sha256: 'ab'.repeat(32) },
                ],
              },
            },
          });
          await w.record.record({
            action: 'evidence.failed',
            resources: [{ type: 'ec2:instance', id: ids[1]! }],
            outcome: { status: 'failed', error: { code: 'ISOLATED_FOR_ANOTHER_CASE', message: 'isolated for IR-1' } },
          });
          const x = w.executions.get(arn)!;
          x.status = 'FAILED';
          x.error = 'States.ExceedToleratedFailureThreshold';
        }
      },
    };
    const e = await run(
      w,
      { instances: ids, wait: true, toleratedFailurePercentage: 0 },
      {
        now: clock.now,
        sleep: async (ms) => {
          arn ||= [...w.executions.keys()][0]!;
          await clock.sleep(ms);
        },
      },
    ).catch((x: unknown) => x);
    t.match(e, { code: 'RUN_FAILED', exitCode: 1 });
    t.match((e as Error).message, new RegExp(`${ids[1]}: ISOLATED_FOR_ANOTHER_CASE`));
    const summary = (e as CleanroomError).details['summary'] as {
      instances: Array<{ instanceId: string; outcome: string }>;
    };
    t.same(
      summary.instances.map((i) => [i.instanceId, i.outcome]),
      [
        [ids[0], 'done'],
        [ids[1], 'failed'],
      ],
    );
    t.equal(polls, 2, 'polled until the execution ended');
  },
);
