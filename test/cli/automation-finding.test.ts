/**
 * The automated response end to end on the local AWS, as a responder sees it: `automation deploy`
 * through the CLI, then a GuardDuty sample finding put on the bus starts the response state
 * machine (its real ASL, its real handler code run by the harness), which isolates the instance,
 * acquires and hashes its evidence and brings up the room; `custody verify` is green and
 * `automation status` reports the instance isolated and hashed. The same finding sent again is the
 * same case: the second execution ends "duplicate" and repeats nothing.
 *
 * The first execution is stopped once it reaches Attach: on the local AWS the attach step's
 * read-only confirmation waits for an SSM answer moto never gives (docs/local-aws.md), and in
 * hand-off mode that wait is handed back to the state machine each time instead of ending
 * not-confirmed — the whole run to `done` is what AWS shows.
 */
import t from 'tap';
import { StopExecutionCommand } from '@aws-sdk/client-sfn';
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
  const deadline = Date.now() + 300_000;
  for (;;) {
    const h = await executionHistory(d.sfn, arn);
    if (h.some((e) => e.stateEnteredEventDetails?.name === 'Attach')) break;
    const x = await waitForExecution(d.sfn, arn, { budgetMs: 1, until: () => true });
    if (x.status !== 'RUNNING')
      t.fail(`ended ${x.status} before Attach: ${x.error ?? ''} ${x.cause ?? ''}\n${aws.lambdaLogs().slice(-3000)}`);
    if (x.status !== 'RUNNING' || Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const status = await cli(aws, ['automation', 'status', '--execution', arn, '--json']);
  t.equal(status.code, 0, status.stderr);
  const s = status.json();
  const caseId: string = s.case;
  t.match(caseId, /^GD-[0-9a-f]{16}$/, 'the case id derived from the finding');
  const mine = s.instances.find((x: { instanceId: string }) => x.instanceId === i);
  t.match(mine, { isolated: true, hashed: 1, outcome: 'running' }, JSON.stringify(s.instances));
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
  await d.sfn.send(new StopExecutionCommand({ executionArn: arn, cause: 'test: stopped at Attach' }));
});
