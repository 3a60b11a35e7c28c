/**
 * A compromised instance in the source account of the local AWS (account 111111111111, reached by
 * assuming a role there, as cleanroom does): two network interfaces in two subnets with their own
 * groups, an instance profile whose role has credentials out, an Auto Scaling group and two load
 * balancer target groups (by instance id, and by private IP) and a Classic Load Balancer, a root volume deleted on termination
 * and a data volume, shutdown behaviour `terminate`. Built with the SDK directly, pointed at moto
 * itself (never through a fault proxy a test puts in front of the product).
 */
import * as ec2 from '@aws-sdk/client-ec2';
import * as asg from '@aws-sdk/client-auto-scaling';
import * as elb from '@aws-sdk/client-elastic-load-balancing-v2';
import * as clb from '@aws-sdk/client-elastic-load-balancing';
import * as iam from '@aws-sdk/client-iam';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';

export const SOURCE_ACCOUNT = '111111111111';
export const SOURCE_ROLE = `arn:aws:iam::${SOURCE_ACCOUNT}:role/cleanroom-responder`;

export interface Clients {
  ec2: ec2.EC2Client;
  asg: asg.AutoScalingClient;
  elb: elb.ElasticLoadBalancingV2Client;
  clb: clb.ElasticLoadBalancingClient;
  iam: iam.IAMClient;
}

/** SDK clients in the source account (moto's endpoint, never the proxy). */
export function sourceClients(endpoint: string, region = 'us-east-1'): Clients {
  const credentials = fromTemporaryCredentials({
    params: { RoleArn: SOURCE_ROLE, RoleSessionName: 'fixture' },
    clientConfig: { region, endpoint },
  });
  const cfg = { region, endpoint, credentials, maxAttempts: 1 };
  return {
    ec2: new ec2.EC2Client(cfg),
    asg: new asg.AutoScalingClient(cfg),
    elb: new elb.ElasticLoadBalancingV2Client(cfg),
    clb: new clb.ElasticLoadBalancingClient(cfg),
    iam: new iam.IAMClient(cfg),
  };
}

export interface Compromised {
  instanceId: string;
  vpcId: string;
  subnetA: string;
  subnetB: string;
  appGroup: string;
  mgmtGroup: string;
  primaryEni: string;
  secondaryEni: string;
  rootVolume: string;
  dataVolume: string;
  profileName: string;
  profileArn: string;
  roleName: string;
  asgName: string;
  targetGroupArn: string;
  ipTargetGroupArn: string;
  /** The Classic Load Balancer that lists the instance. */
  classicLbName: string;
  privateIp: string;
  imageId: string;
  /** Instances the Auto Scaling group launched itself (neighbours in subnet A). */
  asgInstances: string[];
}

let n = 0;

export async function compromisedInstance(
  c: Clients,
  opts: { minSize?: number; desired?: number } = {},
): Promise<Compromised> {
  const tag = `${process.pid}-${++n}`;
  const vpc = (await c.ec2.send(new ec2.CreateVpcCommand({ CidrBlock: '10.20.0.0/16' }))).Vpc!.VpcId!;
  const subnetA = (
    await c.ec2.send(
      new ec2.CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.20.1.0/24', AvailabilityZone: 'us-east-1a' }),
    )
  ).Subnet!.SubnetId!;
  const subnetB = (
    await c.ec2.send(
      new ec2.CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.20.2.0/24', AvailabilityZone: 'us-east-1a' }),
    )
  ).Subnet!.SubnetId!;
  const appGroup = (
    await c.ec2.send(
      new ec2.CreateSecurityGroupCommand({ GroupName: `app-${tag}`, Description: 'web app', VpcId: vpc }),
    )
  ).GroupId!;
  const mgmtGroup = (
    await c.ec2.send(
      new ec2.CreateSecurityGroupCommand({ GroupName: `mgmt-${tag}`, Description: 'management', VpcId: vpc }),
    )
  ).GroupId!;
  await c.ec2.send(
    new ec2.AuthorizeSecurityGroupIngressCommand({
      GroupId: appGroup,
      IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
    }),
  );
  const imageId = (
    await c.ec2.send(
      new ec2.RegisterImageCommand({
        Name: `web-${tag}`,
        RootDeviceName: '/dev/xvda',
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8 } }],
      }),
    )
  ).ImageId!;

  const roleName = `web-${tag}`;
  const profileName = `web-profile-${tag}`;
  await c.iam.send(
    new iam.CreateRoleCommand({
      RoleName: roleName,
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
      }),
    }),
  );
  const profileArn = (await c.iam.send(new iam.CreateInstanceProfileCommand({ InstanceProfileName: profileName })))
    .InstanceProfile!.Arn!;
  await c.iam.send(new iam.AddRoleToInstanceProfileCommand({ InstanceProfileName: profileName, RoleName: roleName }));

  // The Auto Scaling group (its own instances live in subnet A too).
  const asgName = `web-asg-${tag}`;
  await c.ec2.send(
    new ec2.CreateLaunchTemplateCommand({
      LaunchTemplateName: `web-${tag}`,
      LaunchTemplateData: { ImageId: imageId, InstanceType: 't3.micro', SecurityGroupIds: [appGroup] },
    }),
  );
  await c.asg.send(
    new asg.CreateAutoScalingGroupCommand({
      AutoScalingGroupName: asgName,
      LaunchTemplate: { LaunchTemplateName: `web-${tag}`, Version: '$Latest' },
      MinSize: opts.minSize ?? 1,
      MaxSize: 4,
      DesiredCapacity: opts.desired ?? 1,
      VPCZoneIdentifier: subnetA,
    }),
  );

  const run = await c.ec2.send(
    new ec2.RunInstancesCommand({
      ImageId: imageId,
      MinCount: 1,
      MaxCount: 1,
      InstanceType: 't3.micro',
      SubnetId: subnetA,
      SecurityGroupIds: [appGroup],
      IamInstanceProfile: { Name: profileName },
      InstanceInitiatedShutdownBehavior: 'terminate',
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8, DeleteOnTermination: true } }],
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'web-1' }] }],
    }),
  );
  const inst = run.Instances![0]!;
  const instanceId = inst.InstanceId!;
  const secondaryEni = (
    await c.ec2.send(
      new ec2.CreateNetworkInterfaceCommand({
        SubnetId: subnetB,
        Groups: [mgmtGroup],
        Description: 'management interface',
      }),
    )
  ).NetworkInterface!.NetworkInterfaceId!;
  await c.ec2.send(
    new ec2.AttachNetworkInterfaceCommand({ NetworkInterfaceId: secondaryEni, InstanceId: instanceId, DeviceIndex: 1 }),
  );
  const dataVolume = (await c.ec2.send(new ec2.CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: 1 })))
    .VolumeId!;
  await c.ec2.send(new ec2.AttachVolumeCommand({ VolumeId: dataVolume, InstanceId: instanceId, Device: '/dev/sdf' }));
  await c.asg.send(new asg.AttachInstancesCommand({ AutoScalingGroupName: asgName, InstanceIds: [instanceId] }));
  if (opts.desired !== undefined) {
    // Attaching raised the desired capacity by one: put it back where the test wants it.
    await c.asg.send(
      new asg.UpdateAutoScalingGroupCommand({
        AutoScalingGroupName: asgName,
        DesiredCapacity: opts.desired,
        MinSize: opts.minSize ?? 1,
      }),
    );
  }

  const targetGroupArn = (
    await c.elb.send(
      new elb.CreateTargetGroupCommand({
        Name: `web-${tag}`.slice(0, 32),
        Protocol: 'HTTP',
        Port: 80,
        VpcId: vpc,
        TargetType: 'instance',
      }),
    )
  ).TargetGroups![0]!.TargetGroupArn!;
  await c.elb.send(
    new elb.RegisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: [{ Id: instanceId, Port: 8080 }] }),
  );
  const ipTargetGroupArn = (
    await c.elb.send(
      new elb.CreateTargetGroupCommand({
        Name: `web-ip-${tag}`.slice(0, 32),
        Protocol: 'HTTP',
        Port: 80,
        VpcId: vpc,
        TargetType: 'ip',
      }),
    )
  ).TargetGroups![0]!.TargetGroupArn!;
  const d = (await c.ec2.send(new ec2.DescribeInstancesCommand({ InstanceIds: [instanceId] }))).Reservations![0]!
    .Instances![0]!;
  const privateIp = d.PrivateIpAddress!;
  await c.elb.send(
    new elb.RegisterTargetsCommand({ TargetGroupArn: ipTargetGroupArn, Targets: [{ Id: privateIp, Port: 80 }] }),
  );

  const classicLbName = `web-clb-${tag}`.slice(0, 32);
  await c.clb.send(
    new clb.CreateLoadBalancerCommand({
      LoadBalancerName: classicLbName,
      Listeners: [{ Protocol: 'HTTP', LoadBalancerPort: 80, InstanceProtocol: 'HTTP', InstancePort: 8080 }],
      Subnets: [subnetA],
      SecurityGroups: [appGroup],
    }),
  );
  await c.clb.send(
    new clb.RegisterInstancesWithLoadBalancerCommand({
      LoadBalancerName: classicLbName,
      Instances: [{ InstanceId: instanceId }],
    }),
  );

  const primaryEni = d.NetworkInterfaces!.find((x) => x.Attachment?.DeviceIndex === 0)!.NetworkInterfaceId!;
  const rootVolume = d.BlockDeviceMappings!.find((m) => m.DeviceName === '/dev/xvda')!.Ebs!.VolumeId!;
  const g = (await c.asg.send(new asg.DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [asgName] })))
    .AutoScalingGroups![0]!;
  return {
    instanceId,
    vpcId: vpc,
    subnetA,
    subnetB,
    appGroup,
    mgmtGroup,
    primaryEni,
    secondaryEni,
    rootVolume,
    dataVolume,
    profileName,
    profileArn,
    roleName,
    asgName,
    targetGroupArn,
    ipTargetGroupArn,
    classicLbName,
    privateIp,
    imageId,
    asgInstances: (g.Instances ?? []).map((i) => i.InstanceId!).filter((id) => id !== instanceId),
  };
}

/** Security groups per interface of an instance, as DescribeNetworkInterfaces reports them. */
export async function groupsByInterface(c: Clients, eniIds: string[]): Promise<Record<string, string[]>> {
  const r = await c.ec2.send(new ec2.DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: eniIds }));
  return Object.fromEntries(
    (r.NetworkInterfaces ?? []).map((x) => [x.NetworkInterfaceId!, (x.Groups ?? []).map((g) => g.GroupId!).sort()]),
  );
}

export async function shutdownBehavior(c: Clients, instanceId: string): Promise<string | undefined> {
  return (
    await c.ec2.send(
      new ec2.DescribeInstanceAttributeCommand({
        InstanceId: instanceId,
        Attribute: 'instanceInitiatedShutdownBehavior',
      }),
    )
  ).InstanceInitiatedShutdownBehavior?.Value;
}
