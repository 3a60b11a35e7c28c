/**
 * A finding the response cannot take, end to end on the local AWS: a GuardDuty sample finding for an
 * instance that does not exist (and one that was terminated) starts the real response, which ends
 * FAILED with the cleanroom error code as the execution's error, and the responders' topic gets a
 * notification naming the instance and the failure — read here from an SQS queue subscribed to it,
 * as a responder's pager would be.
 */
import t from 'tap';
import { TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { poll, waitForExecutions, waitForExecution } from '../harness/step-functions.js';
import { REGION, deploy, instance, sendFinding } from './automation-helpers.js';

const aws = await useLocalAws(t);

t.test('a finding for an unknown or a terminated instance ends failed, and the responders are told', async (t) => {
  const d = await deploy(aws, t, 'auto');
  const env = { region: REGION, endpoint: aws.endpoint };
  const sqs = new SQSClient(env);
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'responders' }));
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  await new SNSClient(env).send(
    new SubscribeCommand({ TopicArn: d.topicArn, Protocol: 'sqs', Endpoint: attrs.Attributes!.QueueArn }),
  );
  const messages: string[] = [];
  const notified = (needle: string) =>
    poll(`a notification naming ${needle}`, 120_000, async () => {
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10 }));
      for (const m of r.Messages ?? []) messages.push(m.Body ?? '');
      return { done: messages.some((m) => m.includes(needle)), value: messages.length };
    });

  const unknown = 'i-0123456789abcdef0';
  const gone = await instance(d);
  await d.ec2.send(new TerminateInstancesCommand({ InstanceIds: [gone] }));
  let seen = 0;
  for (const [n, id] of [unknown, gone].entries()) {
    await sendFinding(d, id, `f00000000000000000000000000fail${n}`);
    const all = await waitForExecutions(d.sfn, d.responseArn, { count: seen + 1 });
    seen = all.length;
    const arn = all.sort((a, b) => Number(b.startDate) - Number(a.startDate))[0]!.executionArn!;
    const end = await waitForExecution(d.sfn, arn, { budgetMs: 240_000 });
    t.equal(end.status, 'FAILED', `${id}: the execution fails (${end.error ?? ''} ${end.cause ?? ''})`);
    t.match(end.error ?? '', /^[A-Z][A-Z_]+$/, `${id}: the error is a cleanroom code: ${end.error}`);
    t.match(end.cause ?? '', new RegExp(id), `${id}: the cause names the instance`);
    await notified(id);
    const mine = messages.filter((m) => m.includes(id));
    t.ok(
      mine.some((m) => /fail/i.test(m)),
      `${id}: the responders' notification says it failed: ${mine.join('\n').slice(0, 600)}`,
    );
  }
});
