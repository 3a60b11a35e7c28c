// Builds the demo's "compromised" workload in a source account of the local AWS (account
// 111111111111, reached by assuming a role there, as a responder would): a web instance with what
// `cleanroom isolate` has to undo —
//   - two network interfaces in two subnets, each with its own security group (web, management);
//   - an instance profile whose role gives the instance credentials;
//   - membership of an Auto Scaling group (which also runs a neighbour instance of its own);
//   - registrations in two load balancer target groups (by instance id, and by private IP) and
//     with a Classic Load Balancer;
//   - shutdown behaviour `terminate` and a root volume deleted on termination;
// and an encrypted data volume besides the root volume, for `acquire`. Besides it, web-02: a second
// web server (web group, the same profile, target group `web`, the Classic Load Balancer) that the
// investigation clears — the demo isolates it and gives it back with `isolate release`.
// Both volumes hold real disk content: the ext4 images of scripts/fixture-images.mjs (a web shell,
// the access log of its upload and use, cron persistence; the application's data), written as
// snapshots through the EBS direct APIs (StartSnapshot, PutSnapshotBlock with each block's SHA-256,
// CompleteSnapshot) — the root snapshot behind the instance's image, the data volume created from the
// other. Each image's SHA-256 padded to the volume size (what `sha256sum` of the attached device
// gives) is computed independently of cleanroom, so the demo can hold acquisition hashes against it.
// The endpoint and credentials come from the environment (scripts/local-aws/start).
// Prints {instanceId, sourceRoleArn, ...what it made, images: [{name, device, sourceVolumeId,
// snapshotId, sha256}]} as one JSON line.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import * as ec2 from '@aws-sdk/client-ec2';
import * as asg from '@aws-sdk/client-auto-scaling';
import * as ebs from '@aws-sdk/client-ebs';
import * as elb from '@aws-sdk/client-elastic-load-balancing-v2';
import * as clb from '@aws-sdk/client-elastic-load-balancing';
import * as iam from '@aws-sdk/client-iam';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { fixtureImages } from './fixture-images.mjs';

const sourceRoleArn = 'arn:aws:iam::111111111111:role/IncidentResponder';
const cfg = {
  credentials: fromTemporaryCredentials({ params: { RoleArn: sourceRoleArn, RoleSessionName: 'demo-fixture' } }),
};
const c = {
  ec2: new ec2.EC2Client(cfg),
  asg: new asg.AutoScalingClient(cfg),
  elb: new elb.ElasticLoadBalancingV2Client(cfg),
  clb: new clb.ElasticLoadBalancingClient(cfg),
  iam: new iam.IAMClient(cfg),
  ebs: new ebs.EBSClient(cfg),
};
const az = 'us-east-1a';

/** EBS direct's block size: PutSnapshotBlock writes whole 512 KiB blocks. */
const BLOCK = 524288;

/**
 * A snapshot holding `image` (a disk image file), written through the EBS direct APIs as a backup
 * tool would: every block that is not all zeros, with its SHA-256; blocks left out read as zeros.
 */
async function snapshotOf(image) {
  const { SnapshotId } = await c.ebs.send(
    new ebs.StartSnapshotCommand({
      VolumeSize: image.volumeGiB,
      Description: `web-01 ${image.name} volume`,
      Tags: [{ Key: 'Name', Value: `web-01 ${image.name}` }],
      Timeout: 60,
    }),
  );
  const file = await open(image.path);
  const blocks = [];
  try {
    for (let index = 0; index * BLOCK < image.imageBytes; index++) {
      const data = Buffer.alloc(BLOCK); // the image's last block, if short, is zero-padded as on the device
      await file.read(data, 0, BLOCK, index * BLOCK);
      if (data.some((b) => b !== 0)) blocks.push({ index, data });
    }
  } finally {
    await file.close();
  }
  for (let i = 0; i < blocks.length; i += 8)
    await Promise.all(
      blocks.slice(i, i + 8).map(({ index, data }) =>
        c.ebs.send(
          new ebs.PutSnapshotBlockCommand({
            SnapshotId,
            BlockIndex: index,
            BlockData: data,
            DataLength: BLOCK,
            Checksum: createHash('sha256').update(data).digest('base64'),
            ChecksumAlgorithm: 'SHA256',
          }),
        ),
      ),
    );
  await c.ebs.send(new ebs.CompleteSnapshotCommand({ SnapshotId, ChangedBlocksCount: blocks.length }));
  await ec2.waitUntilSnapshotCompleted({ client: c.ec2, maxWaitTime: 600 }, { SnapshotIds: [SnapshotId] });
  return SnapshotId;
}

const [rootImage, dataImage] = await fixtureImages();
const rootSnapshot = await snapshotOf(rootImage);
const dataSnapshot = await snapshotOf(dataImage);

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
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: rootSnapshot, VolumeSize: 1 } }],
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
      // The image's root snapshot named again: moto 5.2.1 builds the root volume from these mappings
      // alone, not from the image's (AWS merges them; naming the same snapshot is valid there too).
      BlockDeviceMappings: [
        { DeviceName: '/dev/xvda', Ebs: { SnapshotId: rootSnapshot, VolumeSize: 1, DeleteOnTermination: true } },
      ],
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
      SnapshotId: dataSnapshot,
      Size: 1,
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

// The Classic Load Balancer in front of the web servers, and web-02, the one the investigation clears.
await c.clb.send(
  new clb.CreateLoadBalancerCommand({
    LoadBalancerName: 'web-classic',
    Listeners: [{ Protocol: 'HTTP', LoadBalancerPort: 80, InstanceProtocol: 'HTTP', InstancePort: 8080 }],
    Subnets: [webSubnet],
    SecurityGroups: [webGroup],
  }),
);
const clearedInstanceId = (
  await c.ec2.send(
    new ec2.RunInstancesCommand({
      ImageId: imageId,
      InstanceType: 't3.small',
      MinCount: 1,
      MaxCount: 1,
      SubnetId: webSubnet,
      SecurityGroupIds: [webGroup],
      IamInstanceProfile: { Name: profileName },
      BlockDeviceMappings: [
        { DeviceName: '/dev/xvda', Ebs: { SnapshotId: rootSnapshot, VolumeSize: 1, DeleteOnTermination: true } },
      ],
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'web-02 (cleared)' }] }],
    }),
  )
).Instances[0].InstanceId;
await c.elb.send(
  new elb.RegisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: [{ Id: clearedInstanceId, Port: 8080 }] }),
);
await c.clb.send(
  new clb.RegisterInstancesWithLoadBalancerCommand({
    LoadBalancerName: 'web-classic',
    Instances: [{ InstanceId: instanceId }, { InstanceId: clearedInstanceId }],
  }),
);

const rootVolume = (
  await c.ec2.send(
    new ec2.DescribeVolumesCommand({
      Filters: [
        { Name: 'attachment.instance-id', Values: [instanceId] },
        { Name: 'attachment.device', Values: ['/dev/xvda'] },
      ],
    }),
  )
).Volumes[0].VolumeId;

// What each source volume holds, hashed independently of cleanroom (scripts/fixture-images.mjs).
const images = [
  [rootImage, rootVolume, rootSnapshot],
  [dataImage, dataVolume, dataSnapshot],
].map(([image, sourceVolumeId, snapshotId]) => ({
  name: image.name,
  device: image.device,
  sourceVolumeId,
  snapshotId,
  sha256: image.deviceSha256,
}));
process.stdout.write(
  `${JSON.stringify({ instanceId, sourceRoleArn, vpcId, interfaces: 2, instanceProfile: profileName, autoScalingGroup: asgName, targetGroups: [targetGroupArn, ipTargetGroupArn], classicLoadBalancer: 'web-classic', clearedInstanceId, dataVolume, images })}\n`,
);
