// room up meeting a stack in every state an earlier run (or CloudFormation) can leave it, against
// the local AWS with the fault-injecting proxy in front of it. moto creates a stack at once and
// never rolls back (docs/local-aws.md: "CFN resource handler error — HTTP 500, stack stuck in
// CREATE_IN_PROGRESS, no rollback"; "CFN stack events — stack-level only, none per resource"), so the
// states AWS would show — ROLLBACK_COMPLETE, ROLLBACK_IN_PROGRESS with a failed resource, a stack
// still in progress — are written into moto's answers by the proxy. A fake clock drives the waits.
import t from 'tap';
import { CloudFormationClient, CreateChangeSetCommand } from '@aws-sdk/client-cloudformation';
import { openAccount } from '../../../src/aws/account.js';
import { MemoryRecorder } from '../../../src/domain/recorder.js';
import { TimeoutError } from '../../../src/domain/errors.js';
import type { Clock } from '../../../src/domain/waiter.js';
import { initVault } from '../../../src/workflows/vault/index.js';
import { roomUp, deployKeys } from '../../../src/workflows/room/up.js';
import { StackFailedError } from '../../../src/workflows/room/deploy.js';
import { readRoomStack } from '../../../src/resources/stacks.js';
import { useLocalAws } from '../../../local-aws/local-aws.js';
import { startFaultProxy } from '../../harness/fault-proxy.js';

function fakeClock(): Clock & { t: number } {
  const c = { t: Date.parse('2026-03-01T00:00:00Z'), now: () => c.t, sleep: async (ms: number) => void (c.t += ms) };
  return c;
}

const setStatus = (to: string) => (body: string) =>
  body.replace(/<StackStatus>[A-Z_]+<\/StackStatus>/, `<StackStatus>${to}</StackStatus>`);
const injectEvents =
  (
    events: Array<{ id: string; logicalId: string; type: string; status: string; reason: string; physicalId?: string }>,
  ) =>
  (body: string) =>
    body.replace(
      '<StackEvents>',
      `<StackEvents>${events
        .map(
          (e) =>
            `<member><EventId>${e.id}</EventId><StackName>x</StackName><LogicalResourceId>${e.logicalId}</LogicalResourceId>${e.physicalId ? `<PhysicalResourceId>${e.physicalId}</PhysicalResourceId>` : ''}<ResourceType>${e.type}</ResourceType><Timestamp>2026-03-01T00:00:00Z</Timestamp><ResourceStatus>${e.status}</ResourceStatus><ResourceStatusReason>${e.reason}</ResourceStatusReason></member>`,
        )
        .join('')}`,
    );

t.test('room up and the states a stack can be left in', async (t) => {
  const aws = await useLocalAws(t);
  // Every account here reaches moto through the proxy (the SDK reads AWS_ENDPOINT_URL when it
  // first sends); rules are added only around the call under test.
  const setup = await openAccount({});
  await initVault(setup, {});
  const proxy = await startFaultProxy(aws);
  t.teardown(() => proxy.close());
  process.env.AWS_ENDPOINT_URL = proxy.endpoint;
  const account = await openAccount({});
  t.teardown(() => void (process.env.AWS_ENDPOINT_URL = aws.endpoint));
  const executed = () => proxy.calls.some((c) => c.action === 'ExecuteChangeSet');
  t.beforeEach(() => {
    proxy.clear();
    proxy.calls.length = 0;
  });

  t.test(
    'ROLLBACK_COMPLETE from an earlier attempt: refused with the failed resource and the way forward; nothing changed',
    async (t) => {
      await roomUp({ account: setup, custody: new MemoryRecorder() }, { caseId: 'IR-rb' });
      proxy.calls.length = 0;
      proxy.add({
        service: 'cloudformation',
        action: 'DescribeStacks',
        fault: { kind: 'rewrite', fn: setStatus('ROLLBACK_COMPLETE') },
      });
      proxy.add({
        service: 'cloudformation',
        action: 'DescribeStackEvents',
        fault: {
          kind: 'rewrite',
          fn: injectEvents([
            {
              id: 'e1',
              logicalId: 'ForensicInstance',
              type: 'AWS::EC2::Instance',
              status: 'CREATE_FAILED',
              reason: 'Instance i-0abc failed to stabilize: Server.InternalError',
            },
          ]),
        },
      });
      const rec = new MemoryRecorder();
      const e = await roomUp({ account, custody: rec, clock: fakeClock() }, { caseId: 'IR-rb' }).catch((x) => x);
      t.ok(e instanceof StackFailedError);
      t.equal(e.code, 'ROOM_STACK_ROLLED_BACK');
      t.equal(e.exitCode, 1);
      t.match(
        e.message,
        /cleanroom-IR-rb is in ROLLBACK_COMPLETE.*ForensicInstance: Instance i-0abc failed to stabilize.*room down --case IR-rb.*room up --case IR-rb/s,
      );
      t.same(
        e.failedResources.map((f: { logicalId: string }) => f.logicalId),
        ['ForensicInstance'],
      );
      t.equal(proxy.count('cloudformation', 'CreateChangeSet'), 0, 'no change set was made');
      t.equal(
        proxy.calls.filter(
          (c) => /^(Create|Put|Delete|Execute|Revoke|Authorize|Modify)/.test(c.action) || c.action.startsWith('PUT '),
        ).length,
        0,
        'nothing was changed',
      );
      t.same(rec.events(), []);
    },
  );

  t.test(
    'a stack that fails while being created: fail fast on ROLLBACK_IN_PROGRESS, the cause named first, recorded',
    async (t) => {
      proxy.add({
        service: 'cloudformation',
        action: 'DescribeStacks',
        when: executed,
        fault: { kind: 'rewrite', fn: setStatus('ROLLBACK_IN_PROGRESS') },
      });
      proxy.add({
        service: 'cloudformation',
        action: 'DescribeStackEvents',
        when: executed,
        fault: {
          kind: 'rewrite',
          fn: injectEvents([
            {
              id: 'e3',
              logicalId: 'FlowLog',
              type: 'AWS::EC2::FlowLog',
              status: 'CREATE_FAILED',
              reason: 'Resource creation cancelled',
            },
            {
              id: 'e2',
              logicalId: 'KmsEndpoint',
              type: 'AWS::EC2::VPCEndpoint',
              status: 'CREATE_FAILED',
              physicalId: 'vpce-0123',
              reason: 'The VPC endpoint service com.amazonaws.us-east-1.kms does not support the availability zone',
            },
          ]),
        },
      });
      const rec = new MemoryRecorder();
      const stackEvents: string[] = [];
      const reporter = {
        progress: (e: { kind: string; logicalId?: string; status?: string }) =>
          void (e.kind === 'stack-event' && stackEvents.push(`${e.logicalId} ${e.status}`)),
        warn() {},
        debug() {},
      };
      const e = await roomUp({ account, custody: rec, reporter, clock: fakeClock() }, { caseId: 'IR-ff' }).catch(
        (x) => x,
      );
      t.ok(e instanceof StackFailedError, e.message);
      t.equal(e.code, 'ROOM_STACK_FAILED');
      t.match(
        e.message,
        /cleanroom-IR-ff failed \(ROLLBACK_IN_PROGRESS\) — KmsEndpoint \(vpce-0123\): The VPC endpoint service .* does not support the availability zone; FlowLog: Resource creation cancelled\. CloudFormation is rolling the change back now\. .*room down --case IR-ff/s,
      );
      t.ok(stackEvents.includes('KmsEndpoint CREATE_FAILED'), 'the failure was shown as progress too');
      const outcome = rec.find(
        deployKeys.outcome(
          rec.events().find((x) => x.action === 'room.deploy.start')!.outcome.details!['changeSetId'] as string,
        ),
      )!;
      t.match(outcome, {
        action: 'room.deploy',
        outcome: {
          status: 'failed',
          error: { code: 'ROOM_STACK_FAILED' },
          details: { failedResources: [{ logicalId: 'KmsEndpoint' }, { logicalId: 'FlowLog' }] },
        },
      });
      t.equal(
        rec.events().some((x) => x.action.startsWith('room.guard-rail')),
        false,
        'no guard rails on a failed stack',
      );
    },
  );

  t.test(
    'a run that died while the stack was updating: the next run waits, records how it ended, carries on',
    async (t) => {
      await roomUp({ account: setup, custody: new MemoryRecorder() }, { caseId: 'IR-wait' });
      const stack = (await readRoomStack(setup, 'IR-wait'))!;
      const rec = new MemoryRecorder();
      // The record of the run that died: it executed change set cs-died and never saw it finish.
      await rec.record({
        action: 'room.deploy.start',
        resources: [{ type: 'cloudformation:stack', id: stack.stackName, arn: stack.stackId }],
        outcome: { status: 'succeeded', details: { changeSetId: 'cs-died' } },
        idempotencyKey: deployKeys.start('cs-died'),
      });
      proxy.add({
        service: 'cloudformation',
        action: 'DescribeStacks',
        times: 3,
        fault: { kind: 'rewrite', fn: setStatus('UPDATE_IN_PROGRESS') },
      });
      const clock = fakeClock();
      const start = clock.now();
      const r = await roomUp({ account, custody: rec, clock }, { caseId: 'IR-wait' });
      t.ok(clock.now() > start, 'it waited (on the fake clock)');
      t.equal(r.change, 'unchanged');
      t.match(rec.find(deployKeys.outcome('cs-died')), {
        action: 'room.deploy',
        outcome: {
          status: 'succeeded',
          details: { changeSetId: 'cs-died', stackStatus: 'CREATE_COMPLETE', resumed: true },
        },
      });
    },
  );

  t.test(
    "waits 'hand-off': a stack still creating hands the wait back; called again, the room comes up with one change set executed",
    async (t) => {
      proxy.add({
        service: 'cloudformation',
        action: 'DescribeStacks',
        times: 6,
        fault: { kind: 'rewrite', fn: setStatus('CREATE_IN_PROGRESS') },
      });
      const rec = new MemoryRecorder();
      const clock = fakeClock();
      const start = clock.now();
      const handOffs: Array<{ waitingFor: string; retryAfterSeconds: number }> = [];
      let r: Awaited<ReturnType<typeof roomUp>> | undefined;
      for (let i = 0; i < 10 && !r; i++) {
        try {
          r = await roomUp({ account, custody: rec, clock }, { caseId: 'IR-ho', waits: 'hand-off' });
        } catch (e) {
          if ((e as { code?: string }).code !== 'WAIT_HANDED_OFF') throw e;
          handOffs.push(e as { waitingFor: string; retryAfterSeconds: number });
        }
      }
      t.ok(r, `up after ${handOffs.length + 1} invocations`);
      t.ok(handOffs.length >= 1, 'the stack wait was handed off');
      for (const h of handOffs) t.match(h.waitingFor, /cleanroom-IR-ho/);
      t.ok(clock.now() - start < 60_000, 'nothing slept the stack wait');
      t.equal(r!.room.stackStatus, 'CREATE_COMPLETE');
      t.equal(proxy.calls.filter((c) => c.action === 'ExecuteChangeSet').length, 1, 'one change set executed');
      t.equal(rec.events().filter((e) => e.action === 'room.deploy.start').length, 1);
      t.match(
        rec.events().filter((e) => e.action === 'room.deploy'),
        [{ outcome: { status: 'succeeded', details: { stackStatus: 'CREATE_COMPLETE' } } }],
        'the deploy outcome recorded once, by the call that saw it finish',
      );
      t.notOk(
        rec.events().some((e) => e.outcome.status === 'failed'),
        'no failure recorded',
      );
    },
  );

  t.test(
    'a change set created and never executed (REVIEW_IN_PROGRESS): discarded, the room created anew',
    async (t) => {
      await new CloudFormationClient({ endpoint: aws.endpoint }).send(
        new CreateChangeSetCommand({
          StackName: 'cleanroom-IR-rev',
          ChangeSetName: 'abandoned',
          ChangeSetType: 'CREATE',
          TemplateBody: 'Resources:\n  T:\n    Type: AWS::SNS::Topic\n',
        }),
      );
      t.equal((await readRoomStack(setup, 'IR-rev'))!.status, 'REVIEW_IN_PROGRESS');
      const rec = new MemoryRecorder();
      const r = await roomUp({ account, custody: rec, clock: fakeClock() }, { caseId: 'IR-rev' });
      t.equal(r.change, 'created');
      t.equal(r.room.stackStatus, 'CREATE_COMPLETE');
      t.ok(rec.events().some((e) => e.action === 'room.discard-review-stack'));
    },
  );

  t.test(
    'an upload that fails partway: recorded with what was uploaded; no stack; the rerun uploads only the rest',
    async (t) => {
      proxy.add({
        service: 's3',
        action: /^PUT .*\/tools\/guest\/cleanroom-evidence-status$/,
        fault: { kind: 'error', status: 403, code: 'AccessDenied', message: 'Access Denied' },
      });
      const rec = new MemoryRecorder();
      const e = await roomUp({ account, custody: rec, clock: fakeClock() }, { caseId: 'IR-pt' }).catch((x) => x);
      t.match(e.message, /Access denied for s3 putObject: the caller lacks the permission s3:PutObject/);
      const ev = rec.events().find((x) => x.action === 'room.guest-tools')!;
      t.equal(ev.outcome.status, 'partial');
      t.same(
        (ev.outcome.details!['files'] as Array<{ name: string; uploaded: boolean }>).map((f) => [f.name, f.uploaded]),
        [
          ['10-cleanroom-evidence-ro.rules', true],
          ['cleanroom-evidence-hash', true],
          ['cleanroom-evidence-ro', true],
        ],
      );
      t.equal(await readRoomStack(setup, 'IR-pt'), undefined, 'no stack');
      proxy.clear();
      const r = await roomUp({ account, custody: rec, clock: fakeClock() }, { caseId: 'IR-pt' });
      t.equal(r.guestTools.uploaded, r.guestTools.files - 3, 'the three already there are not uploaded again');
    },
  );

  t.test(
    'a stack that never finishes: a TimeoutError naming it within the budget; the next run records how it ended',
    async (t) => {
      proxy.add({
        service: 'cloudformation',
        action: 'DescribeStacks',
        when: executed,
        fault: { kind: 'rewrite', fn: setStatus('CREATE_IN_PROGRESS') },
      });
      const rec = new MemoryRecorder();
      const clock = fakeClock();
      const e = await roomUp(
        { account, custody: rec, clock },
        { caseId: 'IR-slow', budgets: { deployMs: 120_000 } },
      ).catch((x) => x);
      t.ok(e instanceof TimeoutError, e.message);
      t.equal(e.exitCode, 1);
      t.match(
        e.message,
        /Gave up waiting for room stack cleanroom-IR-slow after \d+s \(budget 120s\); last state: CREATE_IN_PROGRESS\. Run the same command again to resume/,
      );
      const cs = rec.events().find((x) => x.action === 'room.deploy.start')!.outcome.details!['changeSetId'] as string;
      t.match(rec.events().at(-1), {
        action: 'room.deploy.timeout',
        outcome: { status: 'failed', error: { code: 'TIMEOUT' } },
      });
      t.equal(rec.find(deployKeys.outcome(cs)), undefined, 'the outcome is still open');
      proxy.clear();
      const r = await roomUp({ account, custody: rec, clock }, { caseId: 'IR-slow' });
      t.equal(r.change, 'unchanged');
      t.match(rec.find(deployKeys.outcome(cs)), { outcome: { status: 'succeeded', details: { resumed: true } } });
    },
  );
});
