/**
 * Shared by the `case close` CLI tests: a fully acquired case (vault, room up, a cross-account
 * acquisition of an instance with two volumes, attached to the forensic instance), and what a
 * user looks at after a close — the room stack, the working volumes, the evidence snapshots and
 * their tags, the case key and the temporary sharing key, the custody record.
 */
import { DescribeSnapshotsCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeKeyCommand, KMSClient, ListKeysCommand, ListResourceTagsCommand } from '@aws-sdk/client-kms';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { LocalAws } from '../harness/local-aws.js';
import { SOURCE_ROLE, ec2In, instanceWithVolumes } from '../workflows/acquire/fixtures.js';
import { custodyEvents, runCli } from './acquire-helpers.js';

export const SRC = ['--source-role-arn', SOURCE_ROLE];

/** vault init (once per local AWS) → room up → acquire two volumes, attached. Returns the acquire document. */
export async function acquiredCase(aws: LocalAws, caseId: string, env: NodeJS.ProcessEnv = aws.env(), dataSizes: number[] = [4]) {
  const up = await runCli(env, ['room', 'up', '--case', caseId, '--json']);
  if (up.code !== 0) throw new Error(`room up: ${up.stderr}`);
  const fx = await instanceWithVolumes(ec2In(aws.endpoint, { roleArn: SOURCE_ROLE }), 'us-east-1b', dataSizes, 4);
  const acq = await runCli(env, ['acquire', '--case', caseId, '--instance', fx.instanceId, ...SRC, '--readonly-check-seconds', '0', '--json']);
  if (acq.code !== 0) throw new Error(`acquire: ${acq.stderr}`);
  return { room: up.json(), evidence: acq.json().evidence as Array<{ evidenceId: string; forensicSnapshotId: string; volumeId: string; state: string }> };
}

/** What the case has in AWS now, as a user would check it. */
export async function closeState(aws: LocalAws, caseId: string) {
  const ec2 = ec2In(aws.endpoint);
  const cfn = new CloudFormationClient({ region: 'us-east-1', endpoint: aws.endpoint });
  let stack = 'none';
  try {
    const s = (await cfn.send(new DescribeStacksCommand({ StackName: `cleanroom-${caseId}` }))).Stacks?.[0];
    stack = s?.StackStatus ?? 'none';
  } catch {
    stack = 'none';
  }
  if (stack === 'DELETE_COMPLETE') stack = 'none';
  const vols = (await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'tag:cleanroom:case', Values: [caseId] }] }))).Volumes ?? [];
  const snaps = (await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: [{ Name: 'tag:cleanroom:case', Values: [caseId] }] }))).Snapshots ?? [];
  const tag = (tags: Array<{ Key?: string; Value?: string }> | undefined, k: string) => tags?.find((x) => x.Key === k)?.Value;
  const keys = async (kms: KMSClient) => {
    const out: string[] = [];
    for (const k of (await kms.send(new ListKeysCommand({}))).Keys ?? []) {
      const tags = (await kms.send(new ListResourceTagsCommand({ KeyId: k.KeyId! }))).Tags ?? [];
      if (!tags.some((x) => x.TagKey === 'cleanroom:case' && x.TagValue === caseId)) continue;
      const role = tags.find((x) => x.TagKey === 'cleanroom:role')?.TagValue ?? 'none';
      out.push(`${role} ${(await kms.send(new DescribeKeyCommand({ KeyId: k.KeyId! }))).KeyMetadata!.KeyState}`);
    }
    return out.sort();
  };
  const forensicKms = new KMSClient({ region: 'us-east-1', endpoint: aws.endpoint });
  const sourceKms = new KMSClient({ region: 'us-east-1', endpoint: aws.endpoint, credentials: fromTemporaryCredentials({ params: { RoleArn: SOURCE_ROLE, RoleSessionName: 'check' }, clientConfig: { region: 'us-east-1', endpoint: aws.endpoint } }) });
  return {
    stack,
    workingVolumes: vols.map((v) => `${v.State}${v.Attachments?.length ? ' attached' : ''}${tag(v.Tags, 'cleanroom:written') ? ' written' : ''}`).sort(),
    snapshots: snaps.map((s) => `${tag(s.Tags, 'cleanroom:role')}${tag(s.Tags, 'cleanroom:retained') === 'true' ? ' retained' : ''}`).sort(),
    forensicKeys: await keys(forensicKms),
    sourceKeys: await keys(sourceKms),
  };
}

/** The case's custody events (the idempotency keys say which step each is). */
export async function closeEvents(caseId: string) {
  return custodyEvents(caseId);
}

export { runCli };
