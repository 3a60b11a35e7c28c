/**
 * The automated response end to end on the local AWS, as a responder sees it: `automation deploy`
 * through the CLI, then a GuardDuty sample finding put on the bus starts the response state
 * machine (its real ASL, its real handler code run by the harness), which isolates the instance,
 * acquires and hashes its evidence and brings up the room; `custody verify` is green and
 * `automation status` reports the instance isolated and hashed. The same finding sent again is the
 * same case: the second execution ends "duplicate" and repeats nothing.
 *
 * The run goes to the end on the local AWS: the attach step's read-only confirmation and in-room
 * hash ask the room over SSM, which the local AWS answers with no output (docs/local-aws.md), so
 * they end not-confirmed within their budgets, awaited inside the call as on AWS.
 */
import t from 'tap';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { cli } from '../custody/helpers.js';
import { executionHistory, waitForExecution, waitForExecutions } from '../harness/step-functions.js';
import { deploy, instance, sendFinding } from './automation-helpers.js';

const aws = await useLocalAws(t);

t.test('a GuardDuty finding isolates, acquires and hashes; the same finding again is the same case', async (t) => {
  const d = await deploy(aws, t, 'auto');
  const i = await instance(d);
  await sendFinding(d, i, 'f0000000000000000000000000000001');
  const [started] = await waitForExecutions(d.sfn, d.responseArn, { count: 1 });
  const arn = started!.executionArn!;
  const end = await waitForExecution(d.sfn, arn, { budgetMs: 400_000 });
  t.equal(end.status, 'SUCCEEDED', `${end.error ?? ''} ${end.cause ?? ''}\n${aws.lambdaLogs().slice(-3000)}`);
  const names = (await executionHistory(d.sfn, arn)).map((e) => e.stateEnteredEventDetails?.name);
  for (const step of ['Isolate', 'Acquire', 'Room', 'Attach', 'Notify']) t.ok(names.includes(step), `ran ${step}`);
  const status = await cli(aws, ['automation', 'status', '--execution', arn, '--json']);
  t.equal(status.code, 0, status.stderr);
  const s = status.json();
  const caseId: string = s.case;
  t.match(caseId, /^GD-[0-9a-f]{16}$/, 'the case id derived from the finding');
  const mine = s.instances.find((x: { instanceId: string }) => x.instanceId === i);
  t.match(mine, { isolated: true, hashed: 1, outcome: 'done' }, JSON.stringify(s.instances));
  t.match(mine.evidence[0].sha256, /^[0-9a-f]{64}$/, 'the acquisition SHA-256, from the record');
  const verify = await cli(aws, ['custody', 'verify', '--case', caseId, '--json']);
  t.equal(verify.code, 0, verify.stdout);

  // The same finding again: one case, nothing done twice.
  await sendFinding(d, i, 'f0000000000000000000000000000001');
  const all = await waitForExecutions(d.sfn, d.responseArn, { count: 2 });
  const second = all.find((x) => x.executionArn !== arn)!;
  const end2 = await waitForExecution(d.sfn, second.executionArn!, { budgetMs: 120_000 });
  t.equal(end2.status, 'SUCCEEDED', `${end2.error ?? ''} ${end2.cause ?? ''}`);
  t.match(JSON.parse(end2.output ?? '{}'), { outcome: 'duplicate', case: { caseId } });
  const log = (await cli(aws, ['custody', 'log', '--case', caseId, '--json'])).json().events as Array<{
    action: string;
  }>;
  t.equal(log.filter((e) => e.action === 'automation.start').length, 1, 'one automation.start for the finding');
  t.equal(log.filter((e) => e.action === 'isolate.complete').length, 1, 'isolated once');
});
