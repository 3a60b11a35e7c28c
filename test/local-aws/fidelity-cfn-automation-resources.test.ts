// Fidelity patch patches/cfn_automation_resources.py: CloudFormation creates a state machine from
// DefinitionS3Location (or Definition) with DefinitionSubstitutions, where the Step Functions API sees
// and runs it; SNS subscriptions, Lambda event-invoke configs and Security Hub custom actions are
// created (the custom action's Ref is its ARN); deleting the stack deletes them.
import t from 'tap';
import {
  CloudFormationClient,
  CreateStackCommand,
  DeleteStackCommand,
  DescribeStacksCommand,
  ListStackResourcesCommand,
} from '@aws-sdk/client-cloudformation';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  DescribeStateMachineCommand,
  ListStateMachinesCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { ListSubscriptionsByTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { waitForExecution, waitForExecutions } from '../harness/step-functions.js';

const ASL = {
  StartAt: 'Say',
  States: {
    Say: {
      Type: 'Pass',
      Result: { topic: '${TopicArn}', poll: '${PollSeconds}', bucket: '${VaultBucket}' },
      End: true,
    },
  },
};

const TEMPLATE = `
Parameters:
  VaultBucket: { Type: String }
  PollSeconds: { Type: Number, Default: 30 }
  MinSeverity: { Type: Number, Default: 7 }
Resources:
  Topic: { Type: AWS::SNS::Topic, Properties: { TopicName: cleanroom-responders } }
  Responder:
    Type: AWS::SNS::Subscription
    Properties: { TopicArn: !Ref Topic, Protocol: email, Endpoint: responders@example.com }
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: '2012-10-17'
        Statement: [{ Effect: Allow, Principal: { Service: states.amazonaws.com }, Action: sts:AssumeRole }]
  Response:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      StateMachineName: cleanroom-response
      StateMachineType: STANDARD
      RoleArn: !GetAtt Role.Arn
      DefinitionS3Location: { Bucket: !Ref VaultBucket, Key: automation/code/abc/response.asl.json }
      DefinitionSubstitutions:
        TopicArn: !Ref Topic
        PollSeconds: !Ref PollSeconds
        VaultBucket: !Ref VaultBucket
  Inline:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      StateMachineName: cleanroom-inline
      RoleArn: !GetAtt Role.Arn
      Definition: { StartAt: P, States: { P: { Type: Pass, Result: { greeting: '\${Greeting}' }, End: true } } }
      DefinitionSubstitutions: { Greeting: hello }
  # The pattern as JSON text (a number parameter goes in unquoted only this way).
  GuardDutyRule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: !Sub '{"source": ["aws.guardduty"], "detail": {"severity": [{"numeric": [">=", \${MinSeverity}]}]}}'
      Targets: [{ Id: response, Arn: !Ref Response, RoleArn: !GetAtt Role.Arn }]
Outputs:
  Response: { Value: !Ref Response }
`;

t.test(
  'an automation stack: state machines from S3 and inline definitions, substitutions, a rule with a JSON-text pattern, a subscription',
  async (t) => {
    await useLocalAws(t);
    const s3 = new S3Client({});
    const cfn = new CloudFormationClient({});
    const sfn = new SFNClient({});
    await s3.send(new CreateBucketCommand({ Bucket: 'vault' }));
    await s3.send(
      new PutObjectCommand({
        Bucket: 'vault',
        Key: 'automation/code/abc/response.asl.json',
        Body: JSON.stringify(ASL),
      }),
    );
    const { StackId } = await cfn.send(
      new CreateStackCommand({
        StackName: 'cleanroom-automation',
        TemplateBody: TEMPLATE,
        Parameters: [{ ParameterKey: 'VaultBucket', ParameterValue: 'vault' }],
      }),
    );
    const stack = (await cfn.send(new DescribeStacksCommand({ StackName: StackId }))).Stacks![0]!;
    t.equal(stack.StackStatus, 'CREATE_COMPLETE');
    const out = Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
    t.equal(out.Response, 'arn:aws:states:us-east-1:123456789012:stateMachine:cleanroom-response');
    const resources = (await cfn.send(new ListStackResourcesCommand({ StackName: StackId }))).StackResourceSummaries;
    t.equal(resources?.length, 6, 'every resource listed (and none of them breaks the listing)');

    const listed = (await sfn.send(new ListStateMachinesCommand({}))).stateMachines ?? [];
    t.same(listed.map((m) => m.name).sort(), ['cleanroom-inline', 'cleanroom-response'], 'the API sees both');
    const def = JSON.parse(
      (await sfn.send(new DescribeStateMachineCommand({ stateMachineArn: out.Response }))).definition!,
    );
    t.same(def.States.Say.Result, {
      topic: 'arn:aws:sns:us-east-1:123456789012:cleanroom-responders',
      poll: '30',
      bucket: 'vault',
    });

    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: out.Response }));
    const done = await waitForExecution(sfn, executionArn!);
    t.equal(done.status, 'SUCCEEDED', 'and runs it');
    t.same(JSON.parse(done.output!), def.States.Say.Result);
    const eb = new EventBridgeClient({});
    const finding = (severity: number) => ({
      Source: 'aws.guardduty',
      DetailType: 'GuardDuty Finding',
      Detail: JSON.stringify({ severity }),
    });
    await eb.send(new PutEventsCommand({ Entries: [finding(5), finding(7.5)] }));
    const started = await waitForExecutions(sfn, out.Response!, { count: 2 });
    t.equal(started.length, 2, 'the rule started one execution: 7.5 >= MinSeverity 7, 5 is not');
    const inline = listed.find((m) => m.name === 'cleanroom-inline')!.stateMachineArn!;
    const second = await sfn.send(new StartExecutionCommand({ stateMachineArn: inline }));
    t.same(
      JSON.parse((await waitForExecution(sfn, second.executionArn!)).output!),
      { greeting: 'hello' },
      'an inline Definition, substituted',
    );

    const subs = await new SNSClient({}).send(
      new ListSubscriptionsByTopicCommand({ TopicArn: def.States.Say.Result.topic }),
    );
    t.same(
      subs.Subscriptions?.map((s) => [s.Protocol, s.Endpoint]),
      [['email', 'responders@example.com']],
      'the subscription exists',
    );

    await cfn.send(new DeleteStackCommand({ StackName: StackId }));
    t.equal(
      (await cfn.send(new DescribeStacksCommand({ StackName: StackId }))).Stacks![0]!.StackStatus,
      'DELETE_COMPLETE',
    );
    t.same((await sfn.send(new ListStateMachinesCommand({}))).stateMachines, [], 'the state machines are gone');
  },
);
