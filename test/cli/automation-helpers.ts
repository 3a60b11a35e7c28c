/**
 * What the automation end-to-end tests share: the automation deployed through the real CLI
 * (`vault init`, `automation deploy`), instances with 1 GiB volumes, a GuardDuty sample finding put
 * on the bus, and the executions it starts.
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { Test } from 'tap';
import type { LocalAws } from '../../local-aws/local-aws.js';
import { cli } from '../custody/helpers.js';
import { instanceWithVolumes } from '../workflows/acquire/fixtures.js';

export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';

export interface Deployed {
  responseArn: string;
  fleetArn: string;
  topicArn: string;
  sfn: SFNClient;
  ec2: EC2Client;
  events: EventBridgeClient;
}

/**
 * `vault init` and `automation deploy` through the CLI (PollSeconds 1: the Wait states are short;
 * ReadOnlyCheckSeconds 2: the local AWS's SSM never answers with output, so the attach step's
 * read-only check would otherwise wait out the default 60 s for an answer that cannot come).
 */
export async function deploy(aws: LocalAws, t: Test, policy: 'auto' | 'approve' | 'never' = 'auto'): Promise<Deployed> {
  const init = await cli(aws, ['vault', 'init', '--json']);
  t.equal(init.code, 0, init.stderr);
  const d = await cli(aws, [
    'automation',
    'deploy',
    '--isolation-policy',
    policy,
    '--poll-seconds',
    '1',
    '--readonly-check-seconds',
    '2',
    '--min-severity',
    '5',
    '--json',
  ]);
  t.equal(d.code, 0, d.stderr);
  const doc = d.json();
  const env = { region: REGION, endpoint: aws.endpoint };
  return {
    responseArn: doc.outputs.ResponseStateMachineArn,
    fleetArn: doc.outputs.FleetStateMachineArn,
    topicArn: doc.outputs.TopicArn,
    sfn: new SFNClient(env),
    ec2: new EC2Client(env),
    events: new EventBridgeClient(env),
  };
}

/** An instance with a 1 GiB root volume, in us-east-1a. */
export async function instance(d: Deployed): Promise<string> {
  return (await instanceWithVolumes(d.ec2, 'us-east-1a', [], 1)).instanceId;
}

/** A GuardDuty finding on an instance, as EventBridge delivers GuardDuty's own (sample) findings. */
export async function sendFinding(d: Deployed, instanceId: string, findingId: string, severity = 8): Promise<void> {
  const r = await d.events.send(
    new PutEventsCommand({
      Entries: [
        {
          Source: 'aws.guardduty',
          DetailType: 'GuardDuty Finding',
          Resources: [],
          Detail: JSON.stringify({
            schemaVersion: '2.0',
            accountId: ACCOUNT,
            region: REGION,
            id: findingId,
            type: 'UnauthorizedAccess:EC2/TorClient',
            severity,
            title: `[SAMPLE] EC2 instance ${instanceId} is communicating with Tor entry nodes`,
            resource: { resourceType: 'Instance', instanceDetails: { instanceId } },
            service: { additionalInfo: { sample: true } },
          }),
        },
      ],
    }),
  );
  if (r.FailedEntryCount) throw new Error(`PutEvents failed: ${JSON.stringify(r.Entries)}`);
}
