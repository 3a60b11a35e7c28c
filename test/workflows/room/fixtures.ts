/** Room fixtures for tests against the local AWS. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { AwsAccount } from '../../../src/aws/ports.js';
import { roomStackName } from '../../../src/domain/case-id.js';
import { ROOT } from '../../harness/local-aws.js';

export const TEMPLATE = readFileSync(path.join(ROOT, 'templates/room.yaml'), 'utf8');
export const VAULT = 'cleanroom-evidence-123456789012-us-east-1';

/** The S3 managed prefix list of the region. */
export async function s3PrefixList(account: AwsAccount): Promise<string> {
  const r = await account.ec2.describeManagedPrefixLists({ Filters: [{ Name: 'prefix-list-name', Values: [`com.amazonaws.${account.region}.s3`] }] });
  return r.PrefixLists![0]!.PrefixListId!;
}

/** Create the room stack straight from the template with CreateStack (moto creates it at once); returns its outputs. */
export async function createRoomStack(account: AwsAccount, caseId: string, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const key = await account.kms.createKey({ Description: `case key ${caseId} (test)` });
  const params: Record<string, string> = {
    CaseId: caseId,
    AvailabilityZone: 'us-east-1a',
    VaultBucket: VAULT,
    CaseKeyArn: key.KeyMetadata!.Arn!,
    S3PrefixListId: await s3PrefixList(account),
    ...extra,
  };
  const { CloudFormationClient, CreateStackCommand, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
  const cfn = new CloudFormationClient({});
  await cfn.send(new CreateStackCommand({ StackName: roomStackName(caseId), TemplateBody: TEMPLATE, Capabilities: ['CAPABILITY_IAM'], Parameters: Object.entries(params).map(([ParameterKey, ParameterValue]) => ({ ParameterKey, ParameterValue })) }));
  const s = (await cfn.send(new DescribeStacksCommand({ StackName: roomStackName(caseId) }))).Stacks![0]!;
  return Object.fromEntries((s.Outputs ?? []).map((o) => [o.OutputKey!, o.OutputValue!]));
}
