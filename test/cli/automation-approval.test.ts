/**
 * IsolationPolicy `approve` end to end on the local AWS: `automation deploy --isolation-policy
 * approve`, a GuardDuty sample finding put on the bus, the response (real ASL, real handler code)
 * pauses on its task token; `automation reject --execution ARN` ends it cleanly with the instance
 * untouched, `automation approve` lets a second one go on to isolate it. Each decision is a custody
 * event; `automation status` reads the case from the record.
 *
 * The approved execution is stopped once isolation is recorded: on the local AWS the attach step's
 * read-only confirmation waits for an SSM answer moto never gives (docs/local-aws.md), and in hand-off
 * mode that wait is handed back to the state machine each time instead of ending not-confirmed.
 */
import t from 'tap';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { StopExecutionCommand } from '@aws-sdk/client-sfn';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { cli } from '../custody/helpers.js';
import { executionHistory, waitForExecution, waitForExecutions } from '../harness/step-functions.js';
import { deploy, instance, sendFinding, type Deployed } from './automation-helpers.js';

const aws = await useLocalAws(t);

async function pausedExecution(d: Deployed, count: number): Promise<string> {
  const list = await waitForExecutions(d.sfn, d.responseArn, { count });
  const running = list.find((x) => x.status === 'RUNNING')!;
  const deadline = Date.now() + 120_000;
  for (;;) {
    const h = await executionHistory(d.sfn, running.executionArn!);
    if (
      h.some((e) => e.type === 'TaskScheduled' && e.taskScheduledEventDetails?.resource?.includes('waitForTaskToken'))
    )
      break;
    if (Date.now() > deadline) throw new Error(`${running.executionArn} never reached RequestApproval`);
    await new Promise((r) => setTimeout(r, 500));
  }
  return running.executionArn!;
}

const groupsOf = async (d: Deployed, id: string) =>
  (
    await d.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))
  ).Reservations![0]!.Instances![0]!.SecurityGroups!.map((g) => g.GroupId);

t.test(
  'approve pauses the response; reject ends it without touching the instance; approve lets it isolate',
  async (t) => {
    const d = await deploy(aws, t, 'approve');

    // 1. Rejected.
    const a = await instance(d);
    const groupsBefore = await groupsOf(d, a);
    await sendFinding(d, a, 'f00000000000000000000000000000aa');
    const first = await pausedExecution(d, 1);
    let rejected = await cli(aws, [
      'automation',
      'reject',
      '--execution',
      first,
      '--instance',
      a,
      '--reason',
      'owner says: planned scan',
      '--json',
    ]);
    for (let i = 0; i < 60 && rejected.code === 2 && /no approval was requested/.test(rejected.stderr); i++) {
      // the request object lands a moment after the task is scheduled
      await new Promise((r) => setTimeout(r, 500));
      rejected = await cli(aws, [
        'automation',
        'reject',
        '--execution',
        first,
        '--instance',
        a,
        '--reason',
        'owner says: planned scan',
        '--json',
      ]);
    }
    t.equal(rejected.code, 0, rejected.stderr);
    const r = rejected.json();
    t.match(r, { decision: 'rejected', instanceId: a, reason: 'owner says: planned scan', by: /^arn:aws:/ });
    t.match(r.case, /^GD-[0-9a-f]{16}$/, 'the case found from the execution');
    const end = await waitForExecution(d.sfn, first, { budgetMs: 120_000 });
    t.equal(end.status, 'SUCCEEDED', `${end.error ?? ''} ${end.cause ?? ''}`);
    t.match(JSON.parse(end.output ?? '{}'), { outcome: 'rejected' });
    t.same(await groupsOf(d, a), groupsBefore, 'the instance keeps its groups: nothing was isolated');
    const again = await cli(aws, ['automation', 'approve', '--execution', first, '--json']);
    t.equal(again.code, 2);
    t.equal(again.json().error.code, 'APPROVAL_NOT_PENDING');
    // The request is keyed by execution name and instance: fleet children that share an execution
    // name (every Map child on the local AWS has its parent's) never overwrite each other's.
    const elsewhere = await cli(aws, [
      'automation',
      'approve',
      '--execution',
      first,
      '--instance',
      'i-0123456789abcdef0',
      '--json',
    ]);
    t.equal(elsewhere.code, 2);
    t.match(elsewhere.json().error, {
      code: 'APPROVAL_NOT_PENDING',
      message: new RegExp(`no approval was requested for instance i-0123456789abcdef0; it waits for ${a}`),
    });
    const log = (await cli(aws, ['custody', 'log', '--case', r.case, '--json'])).json().events as Array<{
      action: string;
      resources: Array<{ id: string }>;
    }>;
    const requestKey = new RegExp(`^cases/${r.case}/automation/approvals/[^/]+/${a}\\.json$`);
    t.ok(
      log.find((e) => e.action === 'automation.approval.request')?.resources.some((x) => requestKey.test(x.id)),
      'the request object is named by execution and instance',
    );
    t.same(
      log.filter((e) => e.action.startsWith('automation.approval')).map((e) => e.action),
      ['automation.approval.request', 'automation.approval'],
    );
    t.notOk(
      log.some((e) => e.action.startsWith('isolate.')),
      'no isolation event',
    );
    const status = await cli(aws, ['automation', 'status', '--case', r.case, '--json']);
    t.equal(status.code, 0, status.stderr);
    t.match(status.json().executions, [{ executionArn: first, status: 'SUCCEEDED' }]);

    // 2. Approved: it goes on to isolate.
    const b = await instance(d);
    await sendFinding(d, b, 'f00000000000000000000000000000bb');
    const second = await pausedExecution(d, 2);
    let approved = await cli(aws, ['automation', 'approve', '--execution', second, '--json']);
    for (let i = 0; i < 60 && approved.code === 2 && /no approval was requested/.test(approved.stderr); i++) {
      await new Promise((r) => setTimeout(r, 500));
      approved = await cli(aws, ['automation', 'approve', '--execution', second, '--json']);
    }
    t.equal(approved.code, 0, approved.stderr);
    const caseB = approved.json().case as string;
    const deadline = Date.now() + 180_000;
    let isolated = false;
    while (!isolated && Date.now() < deadline) {
      const events = (await cli(aws, ['custody', 'log', '--case', caseB, '--json'])).json().events as Array<{
        action: string;
      }>;
      isolated = events.some((e) => e.action === 'isolate.complete');
      if (!isolated) await new Promise((r) => setTimeout(r, 1000));
    }
    t.ok(isolated, 'isolate.complete recorded after the approval');
    t.notSame(await groupsOf(d, b), await groupsOf(d, a), 'the approved instance is in its isolation group');
    await d.sfn.send(new StopExecutionCommand({ executionArn: second, cause: 'test: stopped after isolation' }));
  },
);
