/**
 * "A handler that throws halfway is retried by the state machine and converges", through the real
 * state machine on the local AWS. The fault is real in kind: S3 answers `500 InternalError` to the
 * custody write of `evidence.snapshot` as many times as the Lambda's S3 client tries (8), so the
 * Acquire step fails after it has made the evidence snapshot and before the record names it — the
 * worst place for a crash. Acquire reports it as it reports any volume it could not finish:
 * PARTIAL_FAILURE, "run the same command again to finish". The ASL's Retry (PARTIAL_FAILURE: twice,
 * 5 s, ×2) invokes Acquire again, which resumes from the record and the idempotency keys (it finds
 * the snapshot it made instead of making another), and the execution SUCCEEDS: exactly one snapshot
 * and one forensic copy for the volume (every snapshot the response made is one the record names),
 * no custody event twice, `custody verify` exit 0.
 *
 * The fault is injected by the local AWS's test-only fault endpoint (local-aws/patches/fault_injection.py;
 * moto never fails a request on its own).
 */
import t from 'tap';
import { DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { cli } from '../custody/helpers.js';
import {
  armFault,
  armedFaults,
  executionHistory,
  waitForExecution,
  waitForExecutions,
} from '../harness/step-functions.js';
import { deploy, instance, sendFinding } from './automation-helpers.js';

t.setTimeout(1_200_000);
const aws = await useLocalAws(t);

t.test('acquire fails halfway (its custody write fails), is retried by the state machine, converges', async (t) => {
  t.setTimeout(1_200_000);
  const d = await deploy(aws, t, 'auto');
  const i = await instance(d);
  const snapshots = async () =>
    new Set(
      ((await d.ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).Snapshots ?? []).map(
        (s) => s.SnapshotId!,
      ),
    );
  const before = await snapshots();
  // S3's JS client in the functions tries a request 8 times (maxAttempts, src/aws/account.ts): 8
  // failures make the call fail in the step.
  await armFault(aws.endpoint, {
    method: 'PUT',
    path: '/cases/',
    bodyContains: '"action":"evidence.snapshot"',
    count: 8,
    status: 500,
    code: 'InternalError',
  });
  await sendFinding(d, i, 'f0000000000000000000000000000099');
  const [started] = await waitForExecutions(d.sfn, d.responseArn, { count: 1 });
  const arn = started!.executionArn!;
  const end = await waitForExecution(d.sfn, arn, { budgetMs: 900_000 });
  t.equal(end.status, 'SUCCEEDED', `${end.error ?? ''} ${end.cause ?? ''}\n${aws.lambdaLogs().slice(-3000)}`);

  const [fault] = await armedFaults(aws.endpoint);
  t.equal(fault?.fired, 8, 'the fault fired: 8 custody writes of evidence.snapshot failed');
  const history = await executionHistory(d.sfn, arn);
  const failed = history.filter((e) => e.type === 'LambdaFunctionFailed');
  // Once, with an error the ASL retries: PARTIAL_FAILURE when acquire finished the other volumes
  // and reports this one unfinished, or the S3 error itself (AWS_InternalError) when the failed
  // write is the step's custody lane object, which fails the invocation as a whole.
  t.equal(failed.length, 1, 'the step failed halfway, once');
  t.match(
    failed[0]?.lambdaFunctionFailedEventDetails?.error ?? '',
    /^(PARTIAL_FAILURE|AWS_InternalError)$/,
    'with an error the state machine retries',
  );
  const entered = history.filter((e) => e.type === 'TaskStateEntered').map((e) => e.stateEnteredEventDetails?.name);
  const scheduled = history.filter((e) => e.type === 'LambdaFunctionScheduled').length;
  t.equal(entered.filter((n) => n === 'Acquire').length, 1, 'one Acquire state…');
  t.ok(scheduled > entered.length, '…whose Lambda the Retry invoked again');

  const caseId: string = (await cli(aws, ['automation', 'status', '--execution', arn, '--json'])).json().case;
  const log = (await cli(aws, ['custody', 'log', '--case', caseId, '--json'])).json().events as Array<{
    action: string;
    idempotencyKey?: string;
    resources: Array<{ type: string; id: string }>;
  }>;
  const keys = log.map((e) => e.idempotencyKey).filter((k) => k !== undefined);
  t.equal(new Set(keys).size, keys.length, 'no custody event recorded twice');
  t.equal(log.filter((e) => e.action === 'evidence.snapshot').length, 1, 'one evidence.snapshot');
  t.equal(log.filter((e) => e.action === 'evidence.copy').length, 1, 'one evidence.copy');
  const made = [...(await snapshots())].filter((s) => !before.has(s)).sort();
  const named = [
    ...new Set(log.flatMap((e) => e.resources.filter((r) => r.type === 'ec2:snapshot').map((r) => r.id))),
  ].sort();
  t.same(made, named, 'every snapshot the response made is one the record names: none made twice');
  t.equal(made.length, 2, 'the evidence snapshot and its forensic copy');
  const status = await cli(aws, ['automation', 'status', '--execution', arn, '--json']);
  t.match(
    status.json().instances.find((x: { instanceId: string }) => x.instanceId === i),
    { outcome: 'done', hashed: 1 },
  );
  const verify = await cli(aws, ['custody', 'verify', '--case', caseId, '--json']);
  t.equal(verify.code, 0, verify.stdout);
});
