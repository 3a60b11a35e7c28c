// Fidelity patch patches/cfn_change_sets.py: a stack created or updated by executing a change set
// reports its template's outputs and takes the change set's template and parameters; an identical
// change set afterwards is a FAILED change set "didn't contain changes" — CreateChangeSet itself
// succeeds — as CloudFormation documents (CreateChangeSet, DescribeChangeSet, ExecuteChangeSet).
import t from 'tap';
import {
  CloudFormationClient,
  CreateChangeSetCommand,
  DescribeChangeSetCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
} from '@aws-sdk/client-cloudformation';
import { useLocalAws } from '../../local-aws/local-aws.js';

const template = (outputValue: string) => `
Parameters:
  Name: { Type: String }
Resources:
  Group:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: !Sub 'group \${Name}'
Outputs:
  GroupId: { Value: !GetAtt Group.GroupId }
  Static: { Value: ${outputValue} }
`;

t.test('outputs, template and parameters follow executed change sets', async (t) => {
  await useLocalAws(t);
  const cfn = new CloudFormationClient({});
  const outputs = async () =>
    Object.fromEntries(
      ((await cfn.send(new DescribeStacksCommand({ StackName: 'cs' }))).Stacks![0]!.Outputs ?? []).map((o) => [
        o.OutputKey,
        o.OutputValue,
      ]),
    );
  const changeSet = async (type: 'CREATE' | 'UPDATE', name: string, body: string, value: string) => {
    const cs = await cfn.send(
      new CreateChangeSetCommand({
        StackName: 'cs',
        ChangeSetName: name,
        ChangeSetType: type,
        TemplateBody: body,
        Parameters: [{ ParameterKey: 'Name', ParameterValue: value }],
      }),
    );
    return cfn.send(new DescribeChangeSetCommand({ ChangeSetName: cs.Id! }));
  };

  const created = await changeSet('CREATE', 'c1', template('one'), 'a');
  t.equal(created.Status, 'CREATE_COMPLETE');
  await cfn.send(new ExecuteChangeSetCommand({ ChangeSetName: created.ChangeSetId! }));
  const first = await outputs();
  t.match(first, { GroupId: /^sg-/, Static: 'one' }, 'a stack created by a change set has its outputs');

  const updated = await changeSet('UPDATE', 'u1', template('two'), 'a');
  await cfn.send(new ExecuteChangeSetCommand({ ChangeSetName: updated.ChangeSetId! }));
  t.equal((await outputs()).Static, 'two', 'an executed UPDATE change set updates the outputs');

  const same = await changeSet('UPDATE', 'u2', template('two'), 'a');
  t.equal(
    same.Status,
    'FAILED',
    'the same template and every parameter again: CreateChangeSet succeeds, the change set is empty',
  );
  t.match(same.StatusReason, /didn't contain changes/);

  const param = await changeSet('UPDATE', 'u3', template('two'), 'b');
  t.equal(param.Status, 'CREATE_COMPLETE', 'a new parameter value is a change');
  await cfn.send(new ExecuteChangeSetCommand({ ChangeSetName: param.ChangeSetId! }));
  const again = await changeSet('UPDATE', 'u4', template('two'), 'b');
  t.equal(again.Status, 'FAILED', 'the stack took the executed change set parameters');
});
