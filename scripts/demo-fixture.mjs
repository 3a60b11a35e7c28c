// Builds the demo's "compromised" workload in a source account of the local AWS: a VPC, a web
// instance with a data volume, in account 111111111111 (reached by assuming a role there, as a
// responder would). Prints {instanceId, sourceRoleArn} as JSON.
import { EC2Client, CreateVpcCommand, CreateSubnetCommand, RunInstancesCommand, CreateVolumeCommand, AttachVolumeCommand, CreateSecurityGroupCommand, AuthorizeSecurityGroupIngressCommand } from '@aws-sdk/client-ec2';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';

const sourceRoleArn = 'arn:aws:iam::111111111111:role/IncidentResponder';
const ec2 = new EC2Client({ credentials: fromTemporaryCredentials({ params: { RoleArn: sourceRoleArn, RoleSessionName: 'demo-fixture' } }) });
const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.7.0.0/16' }))).Vpc;
const subnet = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc.VpcId, CidrBlock: '10.7.1.0/24', AvailabilityZone: 'us-east-1a' }))).Subnet;
const sg = await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'web', Description: 'web server', VpcId: vpc.VpcId }));
await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
const inst = (
  await ec2.send(
    new RunInstancesCommand({
      ImageId: 'ami-12c6146b',
      InstanceType: 't3.small',
      MinCount: 1,
      MaxCount: 1,
      SubnetId: subnet.SubnetId,
      SecurityGroupIds: [sg.GroupId],
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8, DeleteOnTermination: true } }],
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'web-01 (compromised)' }] }],
    }),
  )
).Instances[0];
const data = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: 20, Encrypted: true }));
await ec2.send(new AttachVolumeCommand({ VolumeId: data.VolumeId, InstanceId: inst.InstanceId, Device: '/dev/sdf' }));
process.stdout.write(JSON.stringify({ instanceId: inst.InstanceId, sourceRoleArn }) + '\n');
