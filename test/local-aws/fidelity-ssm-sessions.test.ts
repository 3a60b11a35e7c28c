/**
 * The fidelity patch `patches/ssm_sessions.py`: Session Manager's control plane (StartSession,
 * TerminateSession, ResumeSession, DescribeSessions — SSM API Reference), which moto 5.2.1 lacks.
 * The data channel is not emulated: the StreamUrl is returned and nothing answers at it.
 */
import t from 'tap';
import * as ec2 from '@aws-sdk/client-ec2';
import * as ssm from '@aws-sdk/client-ssm';
import * as cfn from '@aws-sdk/client-cloudformation';
import { useLocalAws } from '../../local-aws/local-aws.js';

const sessionDoc = (type: 'Session' | 'Command') =>
  JSON.stringify(
    type === 'Session'
      ? { schemaVersion: '1.0', description: 'd', sessionType: 'Standard_Stream', inputs: { s3BucketName: 'b' } }
      : {
          schemaVersion: '2.2',
          description: 'd',
          mainSteps: [{ action: 'aws:runShellScript', name: 'x', inputs: { runCommand: ['true'] } }],
        },
  );

t.test('StartSession checks target and document; the session lives until TerminateSession', async (t) => {
  await useLocalAws(t);
  const e = new ec2.EC2Client({ maxAttempts: 1 });
  const s = new ssm.SSMClient({ maxAttempts: 1 });
  const image = (
    await e.send(
      new ec2.RegisterImageCommand({
        Name: 'img',
        RootDeviceName: '/dev/xvda',
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8 } }],
      }),
    )
  ).ImageId!;
  const run = async () =>
    (await e.send(new ec2.RunInstancesCommand({ ImageId: image, MinCount: 1, MaxCount: 1 }))).Instances![0]!
      .InstanceId!;
  const [instance, stopped] = [await run(), await run()];
  await e.send(new ec2.StopInstancesCommand({ InstanceIds: [stopped] }));
  await s.send(
    new ssm.CreateDocumentCommand({ Name: 'room-shell', DocumentType: 'Session', Content: sessionDoc('Session') }),
  );
  await s.send(
    new ssm.CreateDocumentCommand({ Name: 'a-command', DocumentType: 'Command', Content: sessionDoc('Command') }),
  );

  const started = await s.send(
    new ssm.StartSessionCommand({ Target: instance, DocumentName: 'room-shell', Reason: 'case IR-1' }),
  );
  t.match(started.SessionId, /^[^-]+-[0-9a-f]{17}$/, 'the session id is the caller name and a random suffix');
  t.ok(started.TokenValue, 'a token');
  t.equal(
    started.StreamUrl,
    `wss://ssmmessages.us-east-1.amazonaws.com/v1/data-channel/${started.SessionId}?role=publish_subscribe`,
  );

  await t.rejects(s.send(new ssm.StartSessionCommand({ Target: 'i-0000000000000000f', DocumentName: 'room-shell' })), {
    name: 'TargetNotConnected',
  });
  await t.rejects(s.send(new ssm.StartSessionCommand({ Target: stopped, DocumentName: 'room-shell' })), {
    name: 'TargetNotConnected',
  });
  await t.rejects(s.send(new ssm.StartSessionCommand({ Target: instance, DocumentName: 'missing' })), {
    name: 'InvalidDocument',
  });
  await t.rejects(s.send(new ssm.StartSessionCommand({ Target: instance, DocumentName: 'a-command' })), {
    name: 'InvalidDocument',
  });

  const active = await s.send(new ssm.DescribeSessionsCommand({ State: 'Active' }));
  t.equal(active.Sessions?.length, 1);
  t.match(active.Sessions![0], {
    SessionId: started.SessionId,
    Target: instance,
    Status: 'Connected',
    DocumentName: 'room-shell',
    Reason: 'case IR-1',
    Owner: /^arn:aws:(sts|iam)::123456789012:/,
  });
  t.ok(active.Sessions![0]!.StartDate instanceof Date);
  t.same((await s.send(new ssm.DescribeSessionsCommand({ State: 'History' }))).Sessions, []);

  const resumed = await s.send(new ssm.ResumeSessionCommand({ SessionId: started.SessionId! }));
  t.equal(resumed.SessionId, started.SessionId);

  t.equal(
    (await s.send(new ssm.TerminateSessionCommand({ SessionId: started.SessionId! }))).SessionId,
    started.SessionId,
  );
  t.equal(
    (await s.send(new ssm.TerminateSessionCommand({ SessionId: started.SessionId! }))).SessionId,
    started.SessionId,
    'terminating again is harmless',
  );
  const history = await s.send(
    new ssm.DescribeSessionsCommand({ State: 'History', Filters: [{ key: 'Target', value: instance }] }),
  );
  t.equal(history.Sessions?.length, 1);
  t.equal(history.Sessions![0]!.Status, 'Terminated');
  t.ok(history.Sessions![0]!.EndDate instanceof Date, 'an end date');
  t.same((await s.send(new ssm.DescribeSessionsCommand({ State: 'Active' }))).Sessions, []);
  t.same(
    (
      await s.send(
        new ssm.DescribeSessionsCommand({
          State: 'History',
          Filters: [{ key: 'Target', value: 'i-0000000000000000f' }],
        }),
      )
    ).Sessions,
    [],
    'filters apply',
  );
  await t.rejects(s.send(new ssm.TerminateSessionCommand({ SessionId: 'nobody-00000000000000000' })), {
    name: 'DoesNotExistException',
  });
});

t.test('a Session document CloudFormation made reads back as JSON text, as AWS returns it', async (t) => {
  await useLocalAws(t);
  const c = new cfn.CloudFormationClient({ maxAttempts: 1 });
  const s = new ssm.SSMClient({ maxAttempts: 1 });
  const content = {
    schemaVersion: '1.0',
    description: 'd',
    sessionType: 'Standard_Stream',
    inputs: { s3BucketName: 'vault', s3EncryptionEnabled: true },
  };
  await c.send(
    new cfn.CreateStackCommand({
      StackName: 'docs',
      TemplateBody: JSON.stringify({
        Resources: {
          Shell: {
            Type: 'AWS::SSM::Document',
            Properties: { Name: 'x-shell', DocumentType: 'Session', DocumentFormat: 'JSON', Content: content },
          },
        },
      }),
    }),
  );
  const d = await s.send(new ssm.GetDocumentCommand({ Name: 'x-shell' }));
  t.equal(typeof d.Content, 'string');
  t.same(JSON.parse(d.Content!), content);
  t.equal(d.DocumentType, 'Session');
});
