/**
 * A failed call of an isolate step keeps its error's code and exit code (StepCallError is a
 * cleanroom error), so it can never reach the user as INTERNAL with a stack. No local AWS needed.
 */
import t from 'tap';
import type { AwsAccount } from '../../../src/aws/ports.js';
import { CleanroomError, UsageError } from '../../../src/domain/errors.js';
import { StepCallError, execute, type PlannedCall } from '../../../src/workflows/isolate/calls.js';

const account = {} as AwsAccount;
const call = (send: PlannedCall['send'], input: Record<string, unknown> = {}): PlannedCall => ({
  send,
  input,
  why: 'test',
});

t.test("a failing call: StepCallError with the call's code, exit code and the calls done before it", async (t) => {
  const ok = call((a, i) => a.ec2.describeInstances(i).then(() => ({})));
  const okAccount = {
    ec2: {
      describeInstances: async () => ({}),
      modifyInstanceAttribute: async () => {
        throw new UsageError('INVALID_INSTANCE_ID', 'bad id', { details: { instanceId: 'i-x' } });
      },
    },
  } as unknown as AwsAccount;
  const failing = call((a, i) => a.ec2.modifyInstanceAttribute(i as never));
  const err = await execute(okAccount, [ok, failing]).catch((e: unknown) => e);
  t.type(err, StepCallError);
  t.type(err, CleanroomError, 'a cleanroom error');
  t.match(err, {
    code: 'INVALID_INSTANCE_ID',
    exitCode: 2,
    message: 'bad id',
    details: { instanceId: 'i-x', call: 'ec2:ModifyInstanceAttribute' },
  });
  t.same(
    (err as StepCallError).done.map((c) => c.call),
    ['ec2:DescribeInstances'],
  );
});

t.test('a failing call with a plain Error: code INTERNAL, exit 1; a missing placeholder likewise', async (t) => {
  const plain = {
    ec2: {
      describeInstances: async () => {
        throw new TypeError('boom');
      },
    },
  } as unknown as AwsAccount;
  t.match(await execute(plain, [call((a, i) => a.ec2.describeInstances(i))]).catch((e: unknown) => e), {
    code: 'INTERNAL',
    exitCode: 1,
    message: 'boom',
  });
  t.match(
    await execute(account, [call((a, i) => a.ec2.describeInstances(i), { InstanceIds: ['{{nope}}'] })]).catch(
      (e: unknown) => e,
    ),
    { code: 'INTERNAL', exitCode: 1, message: /needs nope/ },
  );
});
