// Helpers of scripts/demo-automation that are not cleanroom commands (the local AWS as the world
// around cleanroom): make instances with 1 GiB volumes, put a GuardDuty sample finding on the bus,
// wait for an execution to reach a state, stop one. Run with the local AWS's environment.
//   node scripts/demo-automation.mjs instances N           → ids, one per line
//   node scripts/demo-automation.mjs finding INSTANCE ID    → puts the finding
//   node scripts/demo-automation.mjs reached STATE [ARN]    → waits (≤ 5 min) until the latest response execution (or ARN) entered STATE; prints its ARN
//   node scripts/demo-automation.mjs stop ARN               → stops the execution
import { EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';

const region = process.env.AWS_REGION ?? 'us-east-1';
const [cmd, a, b] = process.argv.slice(2);
const RESPONSE = `arn:aws:states:${region}:123456789012:stateMachine:cleanroom-response`;

if (cmd === 'instances') {
  const ec2 = new EC2Client({ region });
  for (let i = 0; i < Number(a); i++) {
    const r = await ec2.send(
      new RunInstancesCommand({
        ImageId: 'ami-12c6146b',
        InstanceType: 't3.small',
        MinCount: 1,
        MaxCount: 1,
        Placement: { AvailabilityZone: `${region}a` },
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 1, DeleteOnTermination: true } }],
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'app', Value: 'web' }] }],
      }),
    );
    console.log(r.Instances[0].InstanceId);
  }
} else if (cmd === 'finding') {
  const ev = new EventBridgeClient({ region });
  await ev.send(
    new PutEventsCommand({
      Entries: [
        {
          Source: 'aws.guardduty',
          DetailType: 'GuardDuty Finding',
          Detail: JSON.stringify({
            schemaVersion: '2.0',
            accountId: '123456789012',
            region,
            id: b,
            type: 'UnauthorizedAccess:EC2/TorClient',
            severity: 8,
            title: `[SAMPLE] EC2 instance ${a} is communicating with Tor entry nodes`,
            resource: { resourceType: 'Instance', instanceDetails: { instanceId: a } },
            service: { additionalInfo: { sample: true } },
          }),
        },
      ],
    }),
  );
} else if (cmd === 'reached') {
  const sfn = new SFNClient({ region });
  const deadline = Date.now() + 300_000;
  for (;;) {
    let arn = b;
    if (!arn) {
      const { executions = [] } = await sfn.send(new ListExecutionsCommand({ stateMachineArn: RESPONSE }));
      arn = executions.sort((x, y) => y.startDate - x.startDate)[0]?.executionArn;
    }
    if (arn) {
      const { events = [] } = await sfn.send(new GetExecutionHistoryCommand({ executionArn: arn, maxResults: 1000 }));
      if (events.some((e) => e.stateEnteredEventDetails?.name === a)) {
        console.log(arn);
        break;
      }
      if (events.some((e) => /^Execution(Succeeded|Failed|Aborted|TimedOut)$/.test(e.type))) {
        console.error(`${arn} ended before ${a}`);
        process.exit(1);
      }
    }
    if (Date.now() > deadline) {
      console.error(`no execution reached ${a} within 5 minutes`);
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
} else if (cmd === 'stop') {
  await new SFNClient({ region }).send(new StopExecutionCommand({ executionArn: a, cause: 'demo: stopped at Attach' }));
} else {
  console.error('usage: demo-automation.mjs instances N | finding INSTANCE ID | reached STATE [ARN] | stop ARN');
  process.exit(2);
}
