/**
 * The automated response end to end on the local AWS, as a responder sees it: `automation deploy`
 * through the CLI, then a GuardDuty sample finding put on the bus starts the response state
 * machine (its real ASL, its real handler code run by the harness), which isolates the instance,
 * acquires and hashes its evidence, brings up the room and attaches it; `custody verify` is green
 * and `automation status` reports the instance done. The same finding sent again gives one case.
 */
import t from 'tap';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { cli } from '../custody/helpers.js';
import { waitForExecution, waitForExecutions } from '../harness/step-functions.js';
import { deploy, instance, sendFinding } from './automation-helpers.js';

const aws = await useLocalAws(t);

t.test('a GuardDuty finding runs the whole response; the same finding again is the same case', async (t) => {
  const d = await deploy(aws, t, 'auto');
  const i = await instance(d);
  await sendFinding(d, i, 'f0000000000000000000000000000001');
  const [started] = await waitForExecutions(d.sfn, d.responseArn, { count: 1 });
  const end = await waitForExecution(d.sfn, started!.executionArn!, { budgetMs: 300_000 });
  t.equal(end.status, 'SUCCEEDED', `${end.error ?? ''} ${end.cause ?? ''}\n${aws.lambdaLogs().slice(-4000)}`);
  const out = JSON.parse(end.output ?? '{}');
  const caseId: string = out.case?.caseId ?? out.resolved?.case?.caseId;
  t.match(caseId, /^GD-[0-9a-f]{16}$/, 'the case id derived from the finding');

  const status = await cli(aws, ['automation', 'status', '--case', caseId, '--json']);
  t.equal(status.code, 0, status.stderr);
  const s = status.json();
  const mine = s.instances.find((x: { instanceId: string }) => x.instanceId === i);
  t.match(mine, { outcome: 'done', isolated: true, hashed: 1, attached: 1 }, JSON.stringify(s.instances));
  t.ok(
    s.executions.some((x: { executionArn: string; status: string }) => x.executionArn === started!.executionArn && x.status === 'SUCCEEDED'),
    'the execution, from the record, with its status',
  );
  const verify = await cli(aws, ['custody', 'verify', '--case', caseId, '--json']);
  t.equal(verify.code, 0, verify.stdout);
  t.equal(verify.json().ok, true);

  // The same finding again: one case, nothing done twice.
  const before = (await cli(aws, ['custody', 'log', '--case', caseId, '--json'])).json().events.length;
  await sendFinding(d, i, 'f0000000000000000000000000000001');
  const all = await waitForExecutions(d.sfn, d.responseArn, { count: 2 });
  const second = all.find((x) => x.executionArn !== started!.executionArn)!;
  const end2 = await waitForExecution(d.sfn, second.executionArn!, { budgetMs: 120_000 });
  t.equal(end2.status, 'SUCCEEDED', `${end2.error ?? ''} ${end2.cause ?? ''}`);
  const log = (await cli(aws, ['custody', 'log', '--case', caseId, '--json'])).json().events as Array<{ action: string }>;
  t.equal(log.filter((e) => e.action === 'automation.start').length, 1, 'one automation.start for the finding');
  t.equal(log.filter((e) => e.action === 'isolate.complete').length, 1, 'isolated once');
  t.ok(log.length - before <= 2, `the duplicate adds at most its notification (${log.length - before} event(s))`);
});
