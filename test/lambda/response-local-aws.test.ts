/**
 * The real step handlers (src/lambda/handlers.ts over the real world of library.ts) called
 * in-process in the order the response state machine calls them — each pending answer called
 * again, as the Wait loop does — against the local AWS: a GuardDuty-shaped finding on an instance
 * with a 1 GiB disk ends isolated, acquired, hashed (the resumable hash, its state carried between
 * calls), in a room, attached and notified; `cleanroom custody verify` is green, every automated
 * event names the execution, the function and the code; the same finding again is a duplicate.
 * (Through Step Functions itself: the automation end-to-end tests.)
 *
 * Emulator notes: moto's SSM answers every command with empty output, so the read-only check and
 * the in-room hash are recorded as not confirmed (docs/local-aws.md); IAM is not enforced.
 */
import t from 'tap';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { openCaseCustody } from '../../src/custody/case-custody.js';
import { lambdaWorld } from '../../src/lambda/library.js';
import { makeHandlers } from '../../src/lambda/handlers.js';
import type { HandlerName, StepResult } from '../../src/lambda/types.js';
import { VAULT, account, cli } from '../custody/helpers.js';
import { ec2In, instanceWithVolumes } from '../workflows/acquire/fixtures.js';
import { context, guardDutyEvent } from './fake-world.js';

const EXECUTION = 'arn:aws:states:us-east-1:123456789012:execution:cleanroom-response:gd-1';
const CODE = 'e'.repeat(64);

t.test('a GuardDuty finding, step by step as the state machine runs it, to a verified record', async (t) => {
  const aws = await useLocalAws(t);
  const init = await cli(aws, ['vault', 'init', '--json']);
  t.equal(init.code, 0, init.stderr);
  const sns = new SNSClient({ region: 'us-east-1', endpoint: aws.endpoint });
  const topic = (await sns.send(new CreateTopicCommand({ Name: 'cleanroom-responders' }))).TopicArn!;
  const { instanceId } = await instanceWithVolumes(ec2In(aws.endpoint), 'us-east-1a', [], 1);

  const world = lambdaWorld(
    {
      region: 'us-east-1',
      vaultBucket: VAULT,
      vaultKeyArn: 'arn:aws:kms:us-east-1:123456789012:alias/cleanroom/vault',
      codeSha256: CODE,
      topicArn: topic,
      isolationPolicy: 'auto',
      minSeverity: 7,
      // moto's SSM answers with no disk at all: the read-only check would wait its whole budget.
    },
    { evidenceBudgets: { readOnlyCheckMs: 0 } },
  );
  const h = makeHandlers(() => world);
  const pendings: Record<string, number> = {};
  /** One Task and its pending loop: called again until done (the Wait state's time is not waited here). */
  async function step(name: HandlerName, input: Record<string, unknown>): Promise<any> {
    const started = Date.now();
    let next = input;
    for (let i = 0; i < 60; i++) {
      const r = (await h[name](next, context(900_000, `cleanroom-${name}`))) as StepResult & Record<string, unknown>;
      if (r.status === 'done') {
        t.comment(`${name}: ${Date.now() - started} ms`);
        return r;
      }
      t.ok(r.waitSeconds >= 1 && r.waitingFor.length > 0, `${name} pending: ${r.waitingFor}`);
      pendings[name] = (pendings[name] ?? 0) + 1;
      if ('resume' in r) next = { ...input, resume: r['resume'] };
    }
    throw new Error(`${name} never finished`);
  }

  const finding = guardDutyEvent({ instanceId });
  const resolved = await step('resolve', { input: finding, execution: EXECUTION });
  t.match(resolved, { duplicate: false, ignored: false, case: { instanceId, policy: 'auto' } });
  const c = { case: resolved.case, execution: EXECUTION };
  const caseId: string = resolved.case.caseId;
  t.match(caseId, /^GD-[0-9a-f]{16}$/);

  t.match(await step('isolate', c), { status: 'done', skipped: false });
  const acquired = await step('acquire', c);
  t.equal(acquired.evidence.length, 1, 'one evidence item: the 1 GiB root disk');
  const hashes = [];
  for (const item of acquired.evidence) hashes.push(await step('hash', { ...c, item, resume: null }));
  t.match(hashes[0], { status: 'done', sha256: /^[0-9a-f]{64}$/ });
  t.match(await step('room', c), { status: 'done', stackName: `cleanroom-${caseId}` });
  for (const item of acquired.evidence)
    t.match(await step('attach', { ...c, item }), { status: 'done', volumeId: /^vol-/ });
  const notified = await step('notify', { ...c, outcome: 'succeeded' });
  t.match(notified, { status: 'done', messageId: /.+/, head: { seq: Number } });

  const verify = await cli(aws, ['custody', 'verify', '--case', caseId, '--json']);
  t.equal(verify.code, 0, `custody verify is green: ${verify.stdout.slice(0, 400)}${verify.stderr}`);

  const events = (await openCaseCustody(await account(), { caseId })).events();
  const actions = events.map((e) => e.action);
  for (const a of [
    'automation.start',
    'isolate.complete',
    'evidence.preserved',
    'evidence.hash',
    'room.deploy',
    'evidence.attach',
    'automation.notify',
  ])
    t.ok(actions.includes(a), `${a} recorded`);
  t.ok(actions.indexOf('automation.start') < actions.indexOf('isolate.complete'));
  t.ok(actions.indexOf('evidence.hash') < actions.indexOf('evidence.attach'), 'hashed before it is attached');
  const automated = events.filter((e) => e.action.startsWith('automation.'));
  for (const e of automated)
    t.match(
      (e as unknown as { via?: unknown }).via,
      { execution: EXECUTION, function: /^cleanroom-/, codeSha256: CODE },
      `${e.action} names the execution, the function and the code`,
    );
  const hashed = events.find((e) => e.action === 'evidence.hash')!;
  t.match((hashed as unknown as { via?: unknown }).via, { function: 'cleanroom-hash' });

  // The same finding delivered again (another execution): one case, nothing repeated.
  const again = await step('resolve', { input: finding, execution: `${EXECUTION}-again` });
  t.match(again, { duplicate: true, firstExecution: EXECUTION, case: { caseId } });
  t.equal((await openCaseCustody(await account(), { caseId })).events().length, events.length, 'nothing appended');
  t.comment(`pending answers: ${JSON.stringify(pendings)}`);
});
