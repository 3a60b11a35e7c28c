// The room template brought up in the local AWS (moto 5.2.1): CreateStack with the template body
// and real parameter values reaches CREATE_COMPLETE, and the outputs name resources that exist.
//
// What this does NOT prove: moto drops several of the template's security properties (see
// docs/local-aws.md, table "What moto 5.2.1 does NOT reproduce"): SecurityGroupEgress on
// AWS::EC2::SecurityGroup (moto adds allow-all egress), the NetworkAcl / NetworkAclEntry /
// SubnetNetworkAclAssociation / standalone SecurityGroupEgress resources (skipped), and on
// AWS::EC2::Instance the LaunchTemplate, MetadataOptions and SecurityGroupIds (ignored);
// ManagedPolicyArns on AWS::IAM::Role (ignored). Those properties are proved on the template
// itself (room-template.test.ts, room-lint.test.ts), not on what moto builds.
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  CloudFormationClient,
  CreateStackCommand,
  DescribeStacksCommand,
  type Stack,
} from '@aws-sdk/client-cloudformation';
import {
  EC2Client,
  DescribeInstancesCommand,
  DescribeManagedPrefixListsCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcEndpointsCommand,
  DescribeVpcsCommand,
  DescribeLaunchTemplatesCommand,
  DescribeFlowLogsCommand,
  DescribeNetworkAclsCommand,
  DescribeVolumesCommand,
} from '@aws-sdk/client-ec2';
import { KMSClient, CreateKeyCommand } from '@aws-sdk/client-kms';
import { CloudWatchLogsClient, DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { IAMClient, GetInstanceProfileCommand } from '@aws-sdk/client-iam';
import { ROOT, useLocalAws } from '../../local-aws/local-aws.js';
import { roomStackName } from '../../src/domain/case-id.js';
import { TAG_CASE } from '../../src/domain/tags.js';
import { REQUIRED_OUTPUTS } from './room-invariants.js';
import { waitFor } from '../../src/domain/waiter.js';

const TEMPLATE = readFileSync(path.join(ROOT, 'templates/room.yaml'), 'utf8');
const CASE = 'IR-2026-0142';

t.test('the room stack reaches CREATE_COMPLETE in the local AWS and its outputs name real resources', async (t) => {
  await useLocalAws(t);
  const cfn = new CloudFormationClient({});
  const ec2 = new EC2Client({});
  const kms = new KMSClient({});
  const logs = new CloudWatchLogsClient({});
  const iam = new IAMClient({});

  const key = await kms.send(new CreateKeyCommand({ Description: `case key for ${CASE} (test)` }));
  const caseKeyArn = key.KeyMetadata!.Arn!;
  const vaultKeyArn = (await kms.send(new CreateKeyCommand({ Description: 'vault key (test)' }))).KeyMetadata!.Arn!;
  // moto seeds the AWS-managed prefix list com.amazonaws.<region>.s3, as AWS does.
  const pls = await ec2.send(
    new DescribeManagedPrefixListsCommand({
      Filters: [{ Name: 'prefix-list-name', Values: ['com.amazonaws.us-east-1.s3'] }],
    }),
  );
  const s3PrefixListId = pls.PrefixLists?.[0]?.PrefixListId;
  t.match(s3PrefixListId, /^pl-/, 'the S3 prefix list is found the way the workflow finds it');

  const stackName = roomStackName(CASE);
  await cfn.send(
    new CreateStackCommand({
      StackName: stackName,
      TemplateBody: TEMPLATE,
      Capabilities: ['CAPABILITY_IAM'],
      Parameters: [
        { ParameterKey: 'CaseId', ParameterValue: CASE },
        { ParameterKey: 'AvailabilityZone', ParameterValue: 'us-east-1a' },
        { ParameterKey: 'VaultBucket', ParameterValue: 'cleanroom-evidence-123456789012-us-east-1' },
        { ParameterKey: 'CaseKeyArn', ParameterValue: caseKeyArn },
        { ParameterKey: 'VaultKeyArn', ParameterValue: vaultKeyArn },
        { ParameterKey: 'S3PrefixListId', ParameterValue: s3PrefixListId! },
      ],
    }),
  );
  // moto creates the stack synchronously; the waiter is what the workflow does against AWS.
  const stack = await waitFor<Stack>(
    async () => {
      const s = (await cfn.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks![0]!;
      if (s.StackStatus === 'CREATE_COMPLETE') return { state: 'done', value: s };
      if (!s.StackStatus?.endsWith('IN_PROGRESS'))
        return { state: 'failed', error: new Error(`stack ${stackName} is ${s.StackStatus}: ${s.StackStatusReason}`) };
      return { state: 'pending', detail: s.StackStatus };
    },
    { description: `stack ${stackName}`, budgetMs: 60_000, intervalMs: 200 },
  );
  t.equal(stack.StackStatus, 'CREATE_COMPLETE');
  const out: Record<string, string> = Object.fromEntries(
    (stack.Outputs ?? []).map((o) => [o.OutputKey!, o.OutputValue!]),
  );

  // moto skips AWS::EC2::NetworkAcl and drops the output that refers to it (docs/local-aws.md,
  // "CFN NetworkAcl ... skipped"); every other output must be there.
  const expected = Object.keys(REQUIRED_OUTPUTS).filter((k) => k !== 'NetworkAclId');
  t.same(
    expected.filter((k) => !out[k]),
    [],
    'every output room up reports resolves',
  );
  if (out.NetworkAclId) {
    const acl = await ec2.send(new DescribeNetworkAclsCommand({ NetworkAclIds: [out.NetworkAclId] }));
    t.equal(acl.NetworkAcls?.[0]?.VpcId, out.VpcId, 'the network ACL is in the room VPC');
  }

  const vpc = (await ec2.send(new DescribeVpcsCommand({ VpcIds: [out.VpcId!] }))).Vpcs?.[0];
  t.equal(vpc?.CidrBlock, '10.42.0.0/24', 'the VPC exists with the default range');
  t.same(tagValue(vpc?.Tags, TAG_CASE), CASE, 'the VPC carries the case tag');

  const subnet = (await ec2.send(new DescribeSubnetsCommand({ SubnetIds: [out.SubnetId!] }))).Subnets?.[0];
  t.equal(subnet?.VpcId, out.VpcId, 'the subnet is in the room VPC');
  t.equal(subnet?.AvailabilityZone, out.AvailabilityZone);
  t.equal(subnet?.AvailabilityZone, 'us-east-1a');
  t.equal(subnet?.MapPublicIpOnLaunch, false, 'the subnet assigns no public addresses');

  const instance = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [out.InstanceId!] }))).Reservations?.[0]
    ?.Instances?.[0];
  t.equal(instance?.SubnetId, out.SubnetId, 'the forensic instance is in the room subnet');
  t.equal(instance?.VpcId, out.VpcId);
  t.notOk(instance?.PublicIpAddress, 'the instance has no public address');
  t.equal(tagValue(instance?.Tags, TAG_CASE), CASE, 'the instance carries the case tag');
  t.match(
    instance?.IamInstanceProfile?.Arn,
    new RegExp(`instance-profile/${out.InstanceProfileName}$`),
    'the instance uses the room instance profile',
  );
  // moto ignores SecurityGroupIds on AWS::EC2::Instance (docs/local-aws.md, "CFN Instance"), so the
  // instance's groups are not checked here; the template checks prove them.
  const rootVolumeId = instance?.BlockDeviceMappings?.find((b) => b.DeviceName === '/dev/xvda')?.Ebs?.VolumeId;
  t.ok(rootVolumeId, 'the instance has its /dev/xvda root volume');
  const root = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [rootVolumeId!] }))).Volumes?.[0];
  t.equal(root?.Encrypted, true, 'the root volume is encrypted');

  const groups =
    (
      await ec2.send(
        new DescribeSecurityGroupsCommand({
          GroupIds: [out.ForensicsSecurityGroupId!, out.AccessSecurityGroupId!, out.EndpointSecurityGroupId!],
        }),
      )
    ).SecurityGroups ?? [];
  t.equal(groups.length, 3, 'the three security groups exist');
  t.ok(
    groups.every((g) => g.VpcId === out.VpcId),
    'in the room VPC',
  );
  const forensics = groups.find((g) => g.GroupId === out.ForensicsSecurityGroupId);
  t.same(forensics?.IpPermissions ?? [], [], 'the forensics group has no ingress');
  // Its egress is NOT checked: moto ignores SecurityGroupEgress and adds allow-all (docs/local-aws.md,
  // "CFN SecurityGroup"); the forensics-sg template check proves the placeholder-only egress.

  const routes = (await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [out.RouteTableId!] })))
    .RouteTables?.[0];
  t.equal(routes?.VpcId, out.VpcId, 'the route table is in the room VPC');
  // Its association with the subnet is not checked here: moto 5.2.1 records a CloudFormation
  // SubnetRouteTableAssociation apart from the route table, so DescribeRouteTables lists no
  // association (not yet in docs/local-aws.md's table; reported). The no-route-out template check
  // proves the association.
  const open = (routes?.Routes ?? []).filter(
    (r) => r.DestinationCidrBlock === '0.0.0.0/0' || r.DestinationIpv6CidrBlock === '::/0',
  );
  t.same(open, [], 'no default route');
  t.ok(
    (routes?.Routes ?? []).every(
      (r) => r.GatewayId === 'local' || r.GatewayId?.startsWith('vpce-') || r.DestinationPrefixListId,
    ),
    'only the local route and S3 endpoint routes',
  );

  const endpoints =
    (await ec2.send(new DescribeVpcEndpointsCommand({ Filters: [{ Name: 'vpc-id', Values: [out.VpcId!] }] })))
      .VpcEndpoints ?? [];
  t.same(
    endpoints.map((e) => `${e.ServiceName}:${e.VpcEndpointType}`).sort(),
    ['ec2messages', 'kms', 's3', 'ssm', 'ssmmessages'].map(
      (s) => `com.amazonaws.us-east-1.${s}:${s === 's3' ? 'Gateway' : 'Interface'}`,
    ),
    'the five VPC endpoints exist',
  );
  t.ok(
    endpoints.filter((e) => e.VpcEndpointType === 'Interface').every((e) => e.PrivateDnsEnabled === true),
    'interface endpoints have private DNS',
  );

  const group = (await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: out.FlowLogGroupName! })))
    .logGroups?.[0];
  t.equal(group?.logGroupName, out.FlowLogGroupName, 'the flow-log group exists');
  t.match(
    group?.logGroupName,
    new RegExp(`^/cleanroom/${CASE}/`),
    'under /cleanroom/, which the case key policy lets CloudWatch Logs use',
  );
  // Its KmsKeyId is not checked here: moto 5.2.1 drops KmsKeyId of a CloudFormation
  // AWS::Logs::LogGroup (it reads the API's `kmsKeyId` spelling; not yet in docs/local-aws.md's
  // table; reported). The flow-logs template check proves the encryption.
  t.equal(group?.retentionInDays, 365);
  const flowLogs =
    (await ec2.send(new DescribeFlowLogsCommand({ Filter: [{ Name: 'resource-id', Values: [out.VpcId!] }] })))
      .FlowLogs ?? [];
  t.same(
    flowLogs.map((f) => [f.TrafficType, f.LogGroupName]),
    [['ALL', out.FlowLogGroupName]],
    'one flow log of ALL traffic into the group',
  );

  const profile = (await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: out.InstanceProfileName! })))
    .InstanceProfile;
  t.same(
    profile?.Roles?.map((r) => r.Arn),
    [out.InstanceRoleArn],
    'the profile holds the instance role',
  );

  const lt = (await ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: [out.LaunchTemplateId!] })))
    .LaunchTemplates?.[0];
  t.equal(lt?.LaunchTemplateId, out.LaunchTemplateId, 'the launch template exists');
});

function tagValue(tags: { Key?: string; Value?: string }[] | undefined, key: string): string | undefined {
  return tags?.find((x) => x.Key === key)?.Value;
}
