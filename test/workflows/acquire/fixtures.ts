/**
 * Fixtures for acquisition against the local AWS: a "compromised" instance with volumes in a source
 * account (reached by assuming a role there, as a responder would), and a forensic instance in the
 * forensic account. Built with the SDK straight against moto (not through the fault proxy), so the
 * proxy's counts and faults concern only the code under test.
 */
import {
  EC2Client,
  RunInstancesCommand,
  CreateVolumeCommand,
  AttachVolumeCommand,
  DescribeInstancesCommand,
} from '@aws-sdk/client-ec2';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';

export const SOURCE_ACCOUNT = '111111111111';
export const SOURCE_ROLE = `arn:aws:iam::${SOURCE_ACCOUNT}:role/IncidentResponder`;
export const FORENSIC_ACCOUNT = '123456789012';

export function ec2In(endpoint: string, opts: { roleArn?: string; region?: string } = {}): EC2Client {
  const region = opts.region ?? 'us-east-1';
  return new EC2Client({
    region,
    endpoint,
    ...(opts.roleArn
      ? {
          credentials: fromTemporaryCredentials({
            params: { RoleArn: opts.roleArn, RoleSessionName: 'fixture' },
            clientConfig: { region, endpoint },
          }),
        }
      : {}),
  });
}

/** An instance with a root volume and data volumes of the given sizes (GiB); returns its ids. */
export async function instanceWithVolumes(
  ec2: EC2Client,
  az: string,
  dataSizes: number[],
  rootSize = 1,
): Promise<{ instanceId: string; volumeIds: string[] }> {
  const inst = (
    await ec2.send(
      new RunInstancesCommand({
        ImageId: 'ami-12c6146b',
        InstanceType: 't3.small',
        MinCount: 1,
        MaxCount: 1,
        Placement: { AvailabilityZone: az },
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: rootSize, DeleteOnTermination: true } }],
      }),
    )
  ).Instances![0]!;
  for (const [i, size] of dataSizes.entries()) {
    const v = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: az, Size: size, Encrypted: true }));
    await ec2.send(
      new AttachVolumeCommand({
        VolumeId: v.VolumeId!,
        InstanceId: inst.InstanceId!,
        Device: `/dev/sd${String.fromCharCode(102 + i)}`,
      }),
    );
  }
  const d = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [inst.InstanceId!] }))).Reservations![0]!
    .Instances![0]!;
  return { instanceId: inst.InstanceId!, volumeIds: (d.BlockDeviceMappings ?? []).map((m) => m.Ebs!.VolumeId!) };
}
