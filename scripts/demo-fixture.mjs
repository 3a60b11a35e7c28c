// Builds the demo's "compromised" workload in a source account of the local AWS (account
// 111111111111, reached by assuming a role there, as a responder would): a web instance with what
// `cleanroom isolate` has to undo —
//   - two network interfaces in two subnets, each with its own security group (web, management);
//   - an instance profile whose role gives the instance credentials;
//   - membership of an Auto Scaling group (which also runs a neighbour instance of its own);
//   - registrations in two load balancer target groups (by instance id, and by private IP);
//   - shutdown behaviour `terminate` and a root volume deleted on termination;
// and an encrypted data volume besides the root volume, for `acquire`.
// The endpoint and credentials come from the environment (scripts/local-aws/start).
// Prints {instanceId, sourceRoleArn, ...what it made} as one JSON line.
import * as ec2 from '@aws-sdk/client-ec2';
import * as asg from '@aws-sdk/client-auto-scaling';
import * as elb from '@aws-sdk/client-elastic-load-balancing-v2';
import * as iam from '@aws-sdk/client-iam';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';

const sourceRoleArn = 'arn:aws:iam::111111111111:role/IncidentResponder';
const cfg = {
  credentials: fromTemporaryCredentials({ params: { RoleArn: sourceRoleArn, RoleSessionName: 'demo-fixture' } }),
};
const c = {
  ec2: new ec2.EC2Client(cfg),
  asg: new asg.AutoScalingClient(cfg),
  elb: new elb.ElasticLoadBalancingV2Client(cfg),
  iam: new iam.IAMClient(cfg),
};
const az = 'us-east-1a';

const vpcId = (await c.ec2.send(new ec2.CreateVpcCommand({ CidrBlock: '10.7.0.0/16' }))).Vpc.VpcId;
const webSubnet = (
  await c.ec2.send(new ec2.CreateSubnetCommand({ VpcId: vpcId, CidrBlock: '10.7.1.0/24', AvailabilityZone: az }))
).Subnet.SubnetId;
const mgmtSubnet = (
  await c.ec2.send(new ec2.CreateSubnetCommand({ VpcId: vpcId, CidrBlock: '10.7.2.0/24', AvailabilityZone: az }))
).Subnet.SubnetId;
const webGroup = (
  await c.ec2.send(new ec2.CreateSecurityGroupCommand({ GroupName: 'web', Description: 'web server', VpcId: vpcId }))
).GroupId;
const mgmtGroup = (
  await c.ec2.send(
    new ec2.CreateSecurityGroupCommand({ GroupName: 'management', Description: 'management network', VpcId: vpcId }),
  )
).GroupId;
await c.ec2.send(
  new ec2.AuthorizeSecurityGroupIngressCommand({
    GroupId: webGroup,
    IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
  }),
);
await c.ec2.send(
  new ec2.AuthorizeSecurityGroupIngressCommand({
    GroupId: mgmtGroup,
    IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] }],
  }),
);
const imageId = (
  await c.ec2.send(
    new ec2.RegisterImageCommand({
      Name: 'web-server',
      RootDeviceName: '/dev/xvda',
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8 } }],
    }),
  )
).ImageId;

// The instance's credentials: a role in an instance profile.
const roleName = 'web-server';
const profileName = 'web-server';
await c.iam.send(
  new iam.CreateRoleCommand({
    RoleName: roleName,
    AssumeRolePolicyDocument: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
    }),
  }),
);
await c.iam.send(new iam.CreateInstanceProfileCommand({ InstanceProfileName: profileName }));
await c.iam.send(new iam.AddRoleToInstanceProfileCommand({ InstanceProfileName: profileName, RoleName: roleName }));

// The Auto Scaling group the instance belongs to (it runs one instance of its own as well).
const asgName = 'web';
await c.ec2.send(
  new ec2.CreateLaunchTemplateCommand({
    LaunchTemplateName: 'web',
    LaunchTemplateData: { ImageId: imageId, InstanceType: 't3.small', SecurityGroupIds: [webGroup] },
  }),
);
await c.asg.send(
  new asg.CreateAutoScalingGroupCommand({
    AutoScalingGroupName: asgName,
    LaunchTemplate: { LaunchTemplateName: 'web', Version: '$Latest' },
    MinSize: 1,
    MaxSize: 4,
    DesiredCapacity: 1,
    VPCZoneIdentifier: webSubnet,
  }),
);

const inst = (
  await c.ec2.send(
    new ec2.RunInstancesCommand({
      ImageId: imageId,
      InstanceType: 't3.small',
      MinCount: 1,
      MaxCount: 1,
      SubnetId: webSubnet,
      SecurityGroupIds: [webGroup],
      IamInstanceProfile: { Name: profileName },
      InstanceInitiatedShutdownBehavior: 'terminate',
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8, DeleteOnTermination: true } }],
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'web-01 (compromised)' }] }],
    }),
  )
).Instances[0];
const instanceId = inst.InstanceId;
const mgmtEni = (
  await c.ec2.send(
    new ec2.CreateNetworkInterfaceCommand({
      SubnetId: mgmtSubnet,
      Groups: [mgmtGroup],
      Description: 'web-01 management interface',
    }),
  )
).NetworkInterface.NetworkInterfaceId;
await c.ec2.send(
  new ec2.AttachNetworkInterfaceCommand({ NetworkInterfaceId: mgmtEni, InstanceId: instanceId, DeviceIndex: 1 }),
);
const dataVolume = (
  await c.ec2.send(
    new ec2.CreateVolumeCommand({
      AvailabilityZone: az,
      Size: 20,
      Encrypted: true,
      TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'Name', Value: 'web-01 data' }] }],
    }),
  )
).VolumeId;
await c.ec2.send(new ec2.AttachVolumeCommand({ VolumeId: dataVolume, InstanceId: instanceId, Device: '/dev/sdf' }));
await c.asg.send(new asg.AttachInstancesCommand({ AutoScalingGroupName: asgName, InstanceIds: [instanceId] }));

// Behind a load balancer: registered by instance id in one target group, by private IP in another.
const privateIp = inst.PrivateIpAddress;
const targetGroupArn = (
  await c.elb.send(
    new elb.CreateTargetGroupCommand({ Name: 'web', Protocol: 'HTTP', Port: 80, VpcId: vpcId, TargetType: 'instance' }),
  )
).TargetGroups[0].TargetGroupArn;
await c.elb.send(
  new elb.RegisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: [{ Id: instanceId, Port: 8080 }] }),
);
const ipTargetGroupArn = (
  await c.elb.send(
    new elb.CreateTargetGroupCommand({ Name: 'web-ip', Protocol: 'HTTP', Port: 80, VpcId: vpcId, TargetType: 'ip' }),
  )
).TargetGroups[0].TargetGroupArn;
await c.elb.send(
  new elb.RegisterTargetsCommand({ TargetGroupArn: ipTargetGroupArn, Targets: [{ Id: privateIp, Port: 80 }] }),
);

process.stdout.write(
  `${JSON.stringify({ instanceId, sourceRoleArn, vpcId, interfaces: 2, instanceProfile: profileName, autoScalingGroup: asgName, targetGroups: [targetGroupArn, ipTargetGroupArn], dataVolume })}\n`,
);
