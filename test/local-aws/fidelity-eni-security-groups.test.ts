/**
 * The fidelity patch `patches/eni_security_groups.py`: security groups belong to network
 * interfaces, and an instance's groups are its primary interface's (EC2 User Guide, "Change
 * security groups for your Amazon EC2 instance"; ModifyNetworkInterfaceAttribute API reference).
 * Unpatched moto 5.2.1 reports the instance's launch groups on every attached interface, merged
 * with the interface's own, whatever ModifyNetworkInterfaceAttribute did.
 */
import t from 'tap';
import * as ec2 from '@aws-sdk/client-ec2';
import { useLocalAws } from '../../local-aws/local-aws.js';

t.test("each interface reports its own groups; the instance reports its primary interface's", async (t) => {
  await useLocalAws(t);
  const c = new ec2.EC2Client({ maxAttempts: 1 });
  const vpc = (await c.send(new ec2.CreateVpcCommand({ CidrBlock: '10.30.0.0/16' }))).Vpc!.VpcId!;
  const subnet = (
    await c.send(new ec2.CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.30.1.0/24', AvailabilityZone: 'us-east-1a' }))
  ).Subnet!.SubnetId!;
  const group = async (name: string) =>
    (await c.send(new ec2.CreateSecurityGroupCommand({ GroupName: name, Description: name, VpcId: vpc }))).GroupId!;
  const [app, mgmt, other] = [await group('app'), await group('mgmt'), await group('other')];
  const image = (
    await c.send(
      new ec2.RegisterImageCommand({
        Name: 'img',
        RootDeviceName: '/dev/xvda',
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8 } }],
      }),
    )
  ).ImageId!;
  const id = (
    await c.send(
      new ec2.RunInstancesCommand({
        ImageId: image,
        MinCount: 1,
        MaxCount: 1,
        SubnetId: subnet,
        SecurityGroupIds: [app],
      }),
    )
  ).Instances![0]!.InstanceId!;
  const second = (await c.send(new ec2.CreateNetworkInterfaceCommand({ SubnetId: subnet, Groups: [mgmt] })))
    .NetworkInterface!.NetworkInterfaceId!;
  await c.send(new ec2.AttachNetworkInterfaceCommand({ NetworkInterfaceId: second, InstanceId: id, DeviceIndex: 1 }));
  const look = async () => {
    const i = (await c.send(new ec2.DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!;
    const enis = Object.fromEntries(
      i.NetworkInterfaces!.map((n) => [n.Attachment!.DeviceIndex, n.Groups!.map((g) => g.GroupId).sort()]),
    );
    return { instance: i.SecurityGroups!.map((g) => g.GroupId).sort(), primary: enis[0], secondary: enis[1] };
  };
  const primary = (
    await c.send(new ec2.DescribeInstancesCommand({ InstanceIds: [id] }))
  ).Reservations![0]!.Instances![0]!.NetworkInterfaces!.find((n) => n.Attachment!.DeviceIndex === 0)!
    .NetworkInterfaceId!;

  t.same(
    await look(),
    { instance: [app], primary: [app], secondary: [mgmt] },
    'the attached interface keeps only its own group',
  );

  await c.send(new ec2.ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: primary, Groups: [other] }));
  t.same(
    await look(),
    { instance: [other], primary: [other], secondary: [mgmt] },
    "changing the primary interface changes the instance's groups",
  );

  await c.send(new ec2.ModifyInstanceAttributeCommand({ InstanceId: id, Groups: [app] }));
  t.same(
    await look(),
    { instance: [app], primary: [app], secondary: [mgmt] },
    "changing the instance's groups changes the primary interface only",
  );

  // The trap of docs/local-aws.md (ModifyInstanceAttribute) is still there (the patch does not hide it): the
  // structured shutdown-behaviour form is not applied and wipes the instance's groups.
  await c.send(
    new ec2.ModifyInstanceAttributeCommand({
      InstanceId: id,
      InstanceInitiatedShutdownBehavior: { Value: 'terminate' },
    }),
  );
  t.same(await look(), { instance: [], primary: [], secondary: [mgmt] });
  const b = await c.send(
    new ec2.DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: 'instanceInitiatedShutdownBehavior' }),
  );
  t.equal(b.InstanceInitiatedShutdownBehavior?.Value, 'stop', 'not applied');
});
