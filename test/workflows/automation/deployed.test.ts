// deployedAutomation: what run, status, approve and reject get when the automation stack is missing or unusable: one
// error, AUTOMATION_NOT_DEPLOYED (exit 2), naming the deploy command; and the outputs when it is up.
import t from 'tap';
import { deployedAutomation } from '../../../src/workflows/automation/deployed.js';
import { awsError } from '../../fakes/ports.js';

const account = (status?: string, outputs: Record<string, string> = {}) => ({
  region: 'eu-west-1',
  cfn: {
    describeStacks: async ({ StackName }: { StackName?: string }) => {
      if (!status)
        throw awsError(
          'cloudformation',
          'DescribeStacks',
          'ValidationError',
          `Stack with id ${StackName} does not exist`,
        );
      return {
        Stacks: [
          {
            StackName,
            StackId: `arn:aws:cloudformation:eu-west-1:123456789012:stack/${StackName}/1`,
            StackStatus: status,
            CreationTime: new Date(0),
            Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
          },
        ],
        $metadata: {},
      };
    },
  },
});

const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:cleanroom-response';
const FLEET = 'arn:aws:states:eu-west-1:123456789012:stateMachine:cleanroom-fleet';

t.test('no stack: AUTOMATION_NOT_DEPLOYED, exit 2, naming the deploy command', async (t) => {
  await t.rejects(deployedAutomation(account() as never), {
    code: 'AUTOMATION_NOT_DEPLOYED',
    exitCode: 2,
    message: /cleanroom automation deploy`/,
  });
  await t.rejects(deployedAutomation(account() as never, 'ir-automation'), {
    message: /cleanroom automation deploy --stack-name ir-automation/,
  });
});

t.test('a stack that rolled back is not usable', async (t) => {
  await t.rejects(deployedAutomation(account('ROLLBACK_COMPLETE', { ResponseStateMachineArn: ARN }) as never), {
    code: 'AUTOMATION_NOT_DEPLOYED',
    message: /ROLLBACK_COMPLETE/,
  });
});

t.test('a complete stack without its state machines is not usable', async (t) => {
  await t.rejects(deployedAutomation(account('CREATE_COMPLETE', { ResponseStateMachineArn: ARN }) as never), {
    code: 'AUTOMATION_NOT_DEPLOYED',
    exitCode: 2,
    message: /without its state machines' outputs.*FleetStateMachineArn/,
  });
});

t.test('a deployed stack: its state machines and outputs', async (t) => {
  const r = await deployedAutomation(
    account('UPDATE_COMPLETE', { ResponseStateMachineArn: ARN, FleetStateMachineArn: FLEET }) as never,
  );
  t.equal(r.responseStateMachineArn, ARN);
  t.equal(r.fleetStateMachineArn, FLEET);
  t.equal(r.outputs['ResponseStateMachineArn'], ARN);
  t.equal(r.stackName, 'cleanroom-automation');
  t.equal(r.stackStatus, 'UPDATE_COMPLETE');
});
