// The room's isolation invariants, checked on templates/room.yaml itself (the local AWS drops
// several of these properties, see docs/local-aws.md). Each check is also run on
// a mutated copy of the template that breaks it, to prove the check can fail.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { yamlParse } from 'yaml-cfn';
import { ROOT } from '../../local-aws/local-aws.js';
import { CASE_ID_PATTERN as CONTRACT_CASE_ID_PATTERN } from '../../src/domain/case-id.js';
import {
  CASE_ID_PATTERN,
  ROOM_CHECKS,
  checkRoomTemplate,
  type CheckContext,
  type Template,
} from './room-invariants.js';

const TEMPLATE_PATH = path.join(ROOT, 'templates/room.yaml');
const original: Template = yamlParse(readFileSync(TEMPLATE_PATH, 'utf8'));

/**
 * Which resource types CloudFormation can tag, and through which property: from the resource
 * schemas cfn-lint ships (the CloudFormation registry's `tagging` section), so a newly added
 * resource type is held to the tagging rule without anyone updating a list here.
 */
function cfnTagProperties(): Map<string, string> {
  execFileSync('bash', [path.join(ROOT, 'scripts/setup-venv')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const py = [
    'import json',
    'from cfnlint.schema import PROVIDER_SCHEMA_MANAGER as P',
    'out = {}',
    "for t in P.get_resource_types('us-east-1'):",
    "    tg = P.get_resource_schema('us-east-1', t).schema.get('tagging') or {}",
    "    if tg.get('taggable'):",
    "        out[t] = (tg.get('tagProperty') or '/properties/Tags').split('/')[-1]",
    'print(json.dumps(out))',
  ].join('\n');
  const out = execFileSync(path.join(ROOT, '.venv/bin/python'), ['-c', py], {
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  return new Map(Object.entries(JSON.parse(out) as Record<string, string>));
}

const ctx: CheckContext = { tagProperty: cfnTagProperties() };

/** A deep copy of the template with one change applied. */
function mutated(change: (doc: Template & { Resources: Record<string, any> }) => void): Template {
  const doc = structuredClone(original) as Template & { Resources: Record<string, any> };
  change(doc);
  return doc;
}

const R = (doc: Template) => doc.Resources as Record<string, any>;
/** The S3 endpoint's statements with a toolkit (HasToolkit) or without. */
const S3Policy = (doc: Template, toolkit: boolean): Record<string, any>[] =>
  R(doc).S3Endpoint.Properties.PolicyDocument.Statement['Fn::If'][toolkit ? 1 : 2];
const tags = (role: string) => [
  { Key: 'cleanroom:case', Value: { Ref: 'CaseId' } },
  { Key: 'cleanroom:role', Value: role },
];

t.test('the tag data from cfn-lint knows the room resource types', async (t) => {
  // Guards the tags check itself: if the schema lookup broke, every resource would look untaggable.
  for (const type of [
    'AWS::EC2::VPC',
    'AWS::EC2::Subnet',
    'AWS::EC2::SecurityGroup',
    'AWS::EC2::Instance',
    'AWS::Logs::LogGroup',
    'AWS::IAM::Role',
    'AWS::EC2::VPCEndpoint',
    'AWS::EC2::FlowLog',
    'AWS::EC2::NetworkAcl',
  ]) {
    t.equal(ctx.tagProperty.get(type), 'Tags', `${type} is taggable through Tags`);
  }
  t.notOk(ctx.tagProperty.has('AWS::EC2::SubnetRouteTableAssociation'), 'associations are not taggable');
});

t.test('the template uses the contract case id pattern', async (t) => {
  t.equal(CASE_ID_PATTERN, CONTRACT_CASE_ID_PATTERN.source);
});

t.test('templates/room.yaml holds every room invariant', async (t) => {
  for (const check of ROOM_CHECKS) {
    t.test(`${check.id}: ${check.title}`, async (t) => {
      t.same(check.run(original, ctx), [], 'no findings');
    });
  }
});

/** Each mutation breaks one invariant; the named check must report it on the named resource. */
const MUTATIONS: { name: string; check: string; resource: string | RegExp; change: Parameters<typeof mutated>[0] }[] = [
  // no-way-out
  {
    name: 'an internet gateway attached to the VPC',
    check: 'no-way-out',
    resource: 'Igw',
    change: (d) => {
      R(d).Igw = { Type: 'AWS::EC2::InternetGateway', Properties: { Tags: tags('igw') } };
      R(d).IgwAttach = {
        Type: 'AWS::EC2::VPCGatewayAttachment',
        Properties: { VpcId: { Ref: 'Vpc' }, InternetGatewayId: { Ref: 'Igw' } },
      };
    },
  },
  {
    name: 'a NAT gateway',
    check: 'no-way-out',
    resource: 'Nat',
    change: (d) =>
      void (R(d).Nat = {
        Type: 'AWS::EC2::NatGateway',
        Properties: { SubnetId: { Ref: 'Subnet' }, ConnectivityType: 'private' },
      }),
  },
  {
    name: 'an egress-only internet gateway',
    check: 'no-way-out',
    resource: 'Eigw',
    change: (d) =>
      void (R(d).Eigw = { Type: 'AWS::EC2::EgressOnlyInternetGateway', Properties: { VpcId: { Ref: 'Vpc' } } }),
  },
  {
    name: 'a VPC peering connection',
    check: 'no-way-out',
    resource: 'Peer',
    change: (d) =>
      void (R(d).Peer = {
        Type: 'AWS::EC2::VPCPeeringConnection',
        Properties: { VpcId: { Ref: 'Vpc' }, PeerVpcId: 'vpc-0123456789abcdef0' },
      }),
  },
  {
    name: 'a transit gateway attachment',
    check: 'no-way-out',
    resource: 'Tgw',
    change: (d) =>
      void (R(d).Tgw = {
        Type: 'AWS::EC2::TransitGatewayVpcAttachment',
        Properties: { VpcId: { Ref: 'Vpc' }, SubnetIds: [{ Ref: 'Subnet' }], TransitGatewayId: 'tgw-0123' },
      }),
  },
  {
    name: 'an Elastic IP',
    check: 'no-way-out',
    resource: 'Eip',
    change: (d) => void (R(d).Eip = { Type: 'AWS::EC2::EIP', Properties: { InstanceId: { Ref: 'ForensicInstance' } } }),
  },
  {
    name: 'a KMS key inside the stack',
    check: 'no-way-out',
    resource: 'Key',
    change: (d) => void (R(d).Key = { Type: 'AWS::KMS::Key', Properties: {} }),
  },
  // no-route-out
  {
    name: 'a 0.0.0.0/0 route',
    check: 'no-route-out',
    resource: 'DefaultRoute',
    change: (d) =>
      void (R(d).DefaultRoute = {
        Type: 'AWS::EC2::Route',
        Properties: { RouteTableId: { Ref: 'RouteTable' }, DestinationCidrBlock: '0.0.0.0/0', GatewayId: 'igw-0123' },
      }),
  },
  {
    name: 'a ::/0 route',
    check: 'no-route-out',
    resource: 'DefaultRoute6',
    change: (d) =>
      void (R(d).DefaultRoute6 = {
        Type: 'AWS::EC2::Route',
        Properties: {
          RouteTableId: { Ref: 'RouteTable' },
          DestinationIpv6CidrBlock: '::/0',
          EgressOnlyInternetGatewayId: 'eigw-0123',
        },
      }),
  },
  {
    name: 'any other route',
    check: 'no-route-out',
    resource: 'PeerRoute',
    change: (d) =>
      void (R(d).PeerRoute = {
        Type: 'AWS::EC2::Route',
        Properties: {
          RouteTableId: { Ref: 'RouteTable' },
          DestinationCidrBlock: '10.0.0.0/8',
          VpcPeeringConnectionId: 'pcx-0123',
        },
      }),
  },
  {
    name: 'the subnet not associated with its route table',
    check: 'no-route-out',
    resource: 'RouteTable',
    change: (d) => void delete R(d).SubnetRouteTableAssociation,
  },
  // private-subnet
  {
    name: 'MapPublicIpOnLaunch true',
    check: 'private-subnet',
    resource: 'Subnet',
    change: (d) => void (R(d).Subnet.Properties.MapPublicIpOnLaunch = true),
  },
  {
    name: 'MapPublicIpOnLaunch left to the default',
    check: 'private-subnet',
    resource: 'Subnet',
    change: (d) => void delete R(d).Subnet.Properties.MapPublicIpOnLaunch,
  },
  {
    name: 'a second subnet',
    check: 'private-subnet',
    resource: 'Subnet',
    change: (d) => void (R(d).Subnet2 = structuredClone(R(d).Subnet)),
  },
  // endpoints
  {
    name: 'no KMS endpoint',
    check: 'endpoints',
    resource: 'kms-endpoint',
    change: (d) => void delete R(d).KmsEndpoint,
  },
  {
    name: 'SSM endpoint without private DNS',
    check: 'endpoints',
    resource: 'SsmEndpoint',
    change: (d) => void (R(d).SsmEndpoint.Properties.PrivateDnsEnabled = false),
  },
  {
    name: 'SSM messages endpoint behind the forensics group',
    check: 'endpoints',
    resource: 'SsmMessagesEndpoint',
    change: (d) =>
      void (R(d).SsmMessagesEndpoint.Properties.SecurityGroupIds = [
        { 'Fn::GetAtt': ['ForensicsSecurityGroup', 'GroupId'] },
      ]),
  },
  {
    name: 'S3 endpoint not on the route table',
    check: 'endpoints',
    resource: 'S3Endpoint',
    change: (d) => void (R(d).S3Endpoint.Properties.RouteTableIds = []),
  },
  {
    name: 'VPC without DNS hostnames',
    check: 'endpoints',
    resource: 'Vpc',
    change: (d) => void (R(d).Vpc.Properties.EnableDnsHostnames = false),
  },
  // s3-endpoint-policy
  {
    name: 'S3 endpoint policy on every bucket',
    check: 's3-endpoint-policy',
    resource: 'S3Endpoint',
    change: (d) => void (S3Policy(d, false)[0]!.Resource = '*'),
  },
  {
    name: 'S3 endpoint policy on another bucket',
    check: 's3-endpoint-policy',
    resource: 'S3Endpoint',
    change: (d) =>
      void S3Policy(d, true)[0]!.Resource.push({
        'Fn::Sub': 'arn:${AWS::Partition}:s3:::attacker-bucket/*',
      }),
  },
  {
    name: 'S3 endpoint without a policy',
    check: 's3-endpoint-policy',
    resource: 'S3Endpoint',
    change: (d) => void delete R(d).S3Endpoint.Properties.PolicyDocument,
  },
  {
    name: 'S3 endpoint policy allowing s3:*',
    check: 's3-endpoint-policy',
    resource: 'S3Endpoint',
    change: (d) => void (S3Policy(d, false)[0]!.Action = 's3:*'),
  },
  {
    name: 'S3 endpoint reaching the AL2023 repositories without a toolkit',
    check: 's3-endpoint-policy',
    resource: 'S3Endpoint',
    change: (d) => void S3Policy(d, false).push(S3Policy(d, true)[1]!),
  },
  {
    name: 'S3 endpoint writing to the AL2023 repositories',
    check: 's3-endpoint-policy',
    resource: 'S3Endpoint',
    change: (d) => void (S3Policy(d, true)[1]!.Action = ['s3:GetObject', 's3:PutObject']),
  },
  {
    name: 'S3 endpoint reading every AL2023 repository bucket (a wildcard)',
    check: 's3-endpoint-policy',
    resource: 'S3Endpoint',
    change: (d) => void (S3Policy(d, true)[1]!.Resource = { 'Fn::Sub': 'arn:${AWS::Partition}:s3:::al2023-repos-*/*' }),
  },
  {
    name: 'S3 endpoint repository access on another condition than HasToolkit',
    check: 's3-endpoint-policy',
    resource: 'S3Endpoint',
    change: (d) => void (R(d).S3Endpoint.Properties.PolicyDocument.Statement['Fn::If'][0] = 'UseAmiId'),
  },
  // endpoint-sg
  {
    name: 'endpoint group open to 0.0.0.0/0 on 443',
    check: 'endpoint-sg',
    resource: 'EndpointSecurityGroup',
    change: (d) =>
      void R(d).EndpointSecurityGroup.Properties.SecurityGroupIngress.push({
        IpProtocol: 'tcp',
        FromPort: 443,
        ToPort: 443,
        CidrIp: '0.0.0.0/0',
      }),
  },
  {
    name: 'endpoint group accepting SSH from the access group',
    check: 'endpoint-sg',
    resource: 'EndpointSecurityGroup',
    change: (d) => void (R(d).EndpointSecurityGroup.Properties.SecurityGroupIngress[0].FromPort = 22),
  },
  {
    name: 'a standalone ingress rule on the endpoint group',
    check: 'endpoint-sg',
    resource: 'ExtraIngress',
    change: (d) =>
      void (R(d).ExtraIngress = {
        Type: 'AWS::EC2::SecurityGroupIngress',
        Properties: {
          GroupId: { 'Fn::GetAtt': ['EndpointSecurityGroup', 'GroupId'] },
          IpProtocol: 'tcp',
          FromPort: 443,
          ToPort: 443,
          CidrIp: '10.0.0.0/8',
        },
      }),
  },
  {
    name: 'endpoint group without the egress placeholder (allow-all)',
    check: 'endpoint-sg',
    resource: 'EndpointSecurityGroup',
    change: (d) => void delete R(d).EndpointSecurityGroup.Properties.SecurityGroupEgress,
  },
  // forensics-sg
  {
    name: 'an ingress rule on the forensics group',
    check: 'forensics-sg',
    resource: 'ForensicsSecurityGroup',
    change: (d) =>
      void (R(d).ForensicsSecurityGroup.Properties.SecurityGroupIngress = [
        { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, CidrIp: '10.0.0.0/8' },
      ]),
  },
  {
    name: 'a standalone ingress rule on the forensics group',
    check: 'forensics-sg',
    resource: 'SshIn',
    change: (d) =>
      void (R(d).SshIn = {
        Type: 'AWS::EC2::SecurityGroupIngress',
        Properties: {
          GroupId: { 'Fn::GetAtt': ['ForensicsSecurityGroup', 'GroupId'] },
          IpProtocol: 'tcp',
          FromPort: 22,
          ToPort: 22,
          SourceSecurityGroupId: { 'Fn::GetAtt': ['AccessSecurityGroup', 'GroupId'] },
        },
      }),
  },
  {
    name: 'the forensics group without egress rules (CloudFormation adds allow-all)',
    check: 'forensics-sg',
    resource: 'ForensicsSecurityGroup',
    change: (d) => void delete R(d).ForensicsSecurityGroup.Properties.SecurityGroupEgress,
  },
  {
    name: 'allow-all egress on the forensics group',
    check: 'forensics-sg',
    resource: 'ForensicsSecurityGroup',
    change: (d) =>
      void (R(d).ForensicsSecurityGroup.Properties.SecurityGroupEgress = [{ IpProtocol: '-1', CidrIp: '0.0.0.0/0' }]),
  },
  {
    name: 'a standalone egress rule on the forensics group',
    check: 'forensics-sg',
    resource: 'ForensicsSecurityGroup',
    change: (d) =>
      void (R(d).HttpsOut = {
        Type: 'AWS::EC2::SecurityGroupEgress',
        Properties: {
          GroupId: { 'Fn::GetAtt': ['ForensicsSecurityGroup', 'GroupId'] },
          IpProtocol: 'tcp',
          FromPort: 443,
          ToPort: 443,
          CidrIp: '0.0.0.0/0',
        },
      }),
  },
  // access-sg
  {
    name: 'access group egress to 0.0.0.0/0',
    check: 'access-sg',
    resource: 'AccessSecurityGroup',
    change: (d) =>
      void R(d).AccessSecurityGroup.Properties.SecurityGroupEgress.push({
        IpProtocol: 'tcp',
        FromPort: 443,
        ToPort: 443,
        CidrIp: '0.0.0.0/0',
      }),
  },
  {
    name: 'access group with ingress',
    check: 'access-sg',
    resource: 'AccessSecurityGroup',
    change: (d) =>
      void (R(d).AccessSecurityGroup.Properties.SecurityGroupIngress = [
        { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, CidrIp: '10.0.0.0/8' },
      ]),
  },
  {
    name: 'access group without the path to the endpoints',
    check: 'access-sg',
    resource: 'AccessSecurityGroup',
    change: (d) => void delete R(d).AccessToEndpointsEgress,
  },
  // instance-network
  {
    name: 'the instance without the forensics group',
    check: 'instance-network',
    resource: 'ForensicInstance',
    change: (d) => void R(d).ForensicInstance.Properties.SecurityGroupIds.shift(),
  },
  {
    name: 'the launch template with an extra group',
    check: 'instance-network',
    resource: 'LaunchTemplate',
    change: (d) => void R(d).LaunchTemplate.Properties.LaunchTemplateData.SecurityGroupIds.push('sg-0123'),
  },
  {
    name: 'a public IP on the launch template network interface',
    check: 'instance-network',
    resource: 'LaunchTemplate',
    change: (d) =>
      void (R(d).LaunchTemplate.Properties.LaunchTemplateData.NetworkInterfaces = [
        { DeviceIndex: 0, AssociatePublicIpAddress: true },
      ]),
  },
  {
    name: 'an instance network interface that does not refuse a public IP',
    check: 'instance-network',
    resource: 'ForensicInstance',
    change: (d) =>
      void (R(d).ForensicInstance.Properties.NetworkInterfaces = [{ DeviceIndex: '0', SubnetId: { Ref: 'Subnet' } }]),
  },
  // nacl
  {
    name: 'a NACL entry allowing all inbound traffic',
    check: 'nacl',
    resource: 'AllowAllIn',
    change: (d) =>
      void (R(d).AllowAllIn = {
        Type: 'AWS::EC2::NetworkAclEntry',
        Properties: {
          NetworkAclId: { Ref: 'NetworkAcl' },
          RuleNumber: 50,
          Egress: false,
          Protocol: -1,
          RuleAction: 'allow',
          CidrBlock: '0.0.0.0/0',
        },
      }),
  },
  {
    name: 'a NACL allowing SSH out',
    check: 'nacl',
    resource: 'NaclEgressHttps',
    change: (d) => void (R(d).NaclEgressHttps.Properties.PortRange = { From: 22, To: 443 }),
  },
  {
    name: 'no explicit outbound deny-all',
    check: 'nacl',
    resource: 'NetworkAcl',
    change: (d) => void delete R(d).NaclEgressDenyAll,
  },
  {
    name: 'an allow numbered after the deny-all',
    check: 'nacl',
    resource: 'NaclIngressReturnTraffic',
    change: (d) => void (R(d).NaclIngressReturnTraffic.Properties.RuleNumber = 32500),
  },
  {
    name: 'the NACL not associated with the subnet',
    check: 'nacl',
    resource: 'NetworkAcl',
    change: (d) => void delete R(d).SubnetNetworkAclAssociation,
  },
  // flow-logs
  {
    name: 'flow logs of rejected traffic only',
    check: 'flow-logs',
    resource: 'FlowLog',
    change: (d) => void (R(d).FlowLog.Properties.TrafficType = 'REJECT'),
  },
  {
    name: 'flow-log group without the case key',
    check: 'flow-logs',
    resource: 'FlowLogGroup',
    change: (d) => void delete R(d).FlowLogGroup.Properties.KmsKeyId,
  },
  {
    name: 'flow-log group without retention',
    check: 'flow-logs',
    resource: 'FlowLogGroup',
    change: (d) => void delete R(d).FlowLogGroup.Properties.RetentionInDays,
  },
  { name: 'no flow log', check: 'flow-logs', resource: 'FlowLog', change: (d) => void delete R(d).FlowLog },
  // imds
  {
    name: 'IMDSv1 allowed in the launch template',
    check: 'imds',
    resource: 'LaunchTemplate',
    change: (d) => void (R(d).LaunchTemplate.Properties.LaunchTemplateData.MetadataOptions.HttpTokens = 'optional'),
  },
  {
    name: 'hop limit 2 in the launch template',
    check: 'imds',
    resource: 'LaunchTemplate',
    change: (d) => void (R(d).LaunchTemplate.Properties.LaunchTemplateData.MetadataOptions.HttpPutResponseHopLimit = 2),
  },
  {
    name: 'no metadata options in the launch template',
    check: 'imds',
    resource: 'LaunchTemplate',
    change: (d) => void delete R(d).LaunchTemplate.Properties.LaunchTemplateData.MetadataOptions,
  },
  {
    name: 'IMDSv1 allowed on the instance (overrides the template)',
    check: 'imds',
    resource: 'ForensicInstance',
    change: (d) => void (R(d).ForensicInstance.Properties.MetadataOptions.HttpTokens = 'optional'),
  },
  // root-volume
  {
    name: 'an unencrypted root volume in the launch template',
    check: 'root-volume',
    resource: 'LaunchTemplate',
    change: (d) =>
      void (R(d).LaunchTemplate.Properties.LaunchTemplateData.BlockDeviceMappings[0].Ebs.Encrypted = false),
  },
  {
    name: 'the instance root volume under the default key',
    check: 'root-volume',
    resource: 'ForensicInstance',
    change: (d) => void delete R(d).ForensicInstance.Properties.BlockDeviceMappings[0].Ebs.KmsKeyId,
  },
  {
    name: 'no block device mapping on the instance',
    check: 'root-volume',
    resource: 'ForensicInstance',
    change: (d) => void delete R(d).ForensicInstance.Properties.BlockDeviceMappings,
  },
  // instance-profile
  {
    name: 'reading every case',
    check: 'instance-profile',
    resource: 'InstanceRole',
    change: (d) =>
      void (R(d).InstanceRole.Properties.Policies[0].PolicyDocument.Statement[1].Resource = {
        'Fn::Sub': 'arn:${AWS::Partition}:s3:::${VaultBucket}/*',
      }),
  },
  {
    name: 'writing outside the case prefix',
    check: 'instance-profile',
    resource: 'InstanceRole',
    change: (d) =>
      void (R(d).InstanceRole.Properties.Policies[0].PolicyDocument.Statement[0].Resource = {
        'Fn::Sub': 'arn:${AWS::Partition}:s3:::${VaultBucket}/cases/*',
      }),
  },
  {
    name: 'deleting objects',
    check: 'instance-profile',
    resource: 'InstanceRole',
    change: (d) =>
      void (R(d).InstanceRole.Properties.Policies[0].PolicyDocument.Statement[0].Action = [
        's3:PutObject',
        's3:DeleteObject',
      ]),
  },
  {
    name: 'listing the whole vault',
    check: 'instance-profile',
    resource: 'InstanceRole',
    change: (d) => void delete R(d).InstanceRole.Properties.Policies[0].PolicyDocument.Statement[2].Condition,
  },
  {
    name: 'kms:* on every key',
    check: 'instance-profile',
    resource: 'InstanceRole',
    change: (d) =>
      void R(d).InstanceRole.Properties.Policies[0].PolicyDocument.Statement.push({
        Effect: 'Allow',
        Action: 'kms:*',
        Resource: '*',
      }),
  },
  {
    name: 'an administrator managed policy',
    check: 'instance-profile',
    resource: 'InstanceRole',
    change: (d) =>
      void R(d).InstanceRole.Properties.ManagedPolicyArns.push('arn:aws:iam::aws:policy/AdministratorAccess'),
  },
  {
    name: 'no SSM core policy',
    check: 'instance-profile',
    resource: 'InstanceRole',
    change: (d) => void (R(d).InstanceRole.Properties.ManagedPolicyArns = []),
  },
  {
    name: 'the instance without the profile',
    check: 'instance-profile',
    resource: 'ForensicInstance',
    change: (d) => void delete R(d).ForensicInstance.Properties.IamInstanceProfile,
  },
  // instance-depends-on
  {
    name: 'the instance not waiting for the KMS endpoint',
    check: 'instance-depends-on',
    resource: 'ForensicInstance',
    change: (d) =>
      void (R(d).ForensicInstance.DependsOn = R(d).ForensicInstance.DependsOn.filter(
        (x: string) => x !== 'KmsEndpoint',
      )),
  },
  // user-data
  {
    name: 'user data that does not run install.sh',
    check: 'user-data',
    resource: 'LaunchTemplate',
    change: (d) => {
      const ud = R(d).LaunchTemplate.Properties.LaunchTemplateData.UserData['Fn::Base64'];
      ud['Fn::Sub'] = (ud['Fn::Sub'] as string).replaceAll('install.sh', 'setup.sh');
    },
  },
  {
    name: 'user data fetching from outside the case',
    check: 'user-data',
    resource: 'LaunchTemplate',
    change: (d) => {
      const ud = R(d).LaunchTemplate.Properties.LaunchTemplateData.UserData['Fn::Base64'];
      ud['Fn::Sub'] = (ud['Fn::Sub'] as string).replace('cases/${CaseId}/tools/guest/', 'tools/');
    },
  },
  // tags
  {
    name: 'the subnet without the case tag',
    check: 'tags',
    resource: 'Subnet',
    change: (d) =>
      void (R(d).Subnet.Properties.Tags = R(d).Subnet.Properties.Tags.filter(
        (x: { Key: string }) => x.Key !== 'cleanroom:case',
      )),
  },
  {
    name: 'a literal case tag instead of the parameter',
    check: 'tags',
    resource: 'Vpc',
    change: (d) => void (R(d).Vpc.Properties.Tags[0].Value = 'IR-1'),
  },
  {
    name: 'a new taggable resource without tags',
    check: 'tags',
    resource: 'ExtraGroup',
    change: (d) =>
      void (R(d).ExtraGroup = {
        Type: 'AWS::EC2::SecurityGroup',
        Properties: { GroupDescription: 'x', VpcId: { Ref: 'Vpc' } },
      }),
  },
  {
    name: 'the launch template not tagging volumes',
    check: 'tags',
    resource: 'LaunchTemplate (volume)',
    change: (d) => void R(d).LaunchTemplate.Properties.LaunchTemplateData.TagSpecifications.splice(1, 1),
  },
  {
    name: 'the flow-log role without a role tag',
    check: 'tags',
    resource: 'FlowLogRole',
    change: (d) => void R(d).FlowLogRole.Properties.Tags.pop(),
  },
  // parameters
  {
    name: 'a looser case id pattern',
    check: 'parameters',
    resource: 'CaseId',
    change: (d) => void (d.Parameters!.CaseId!.AllowedPattern = '.*'),
  },
  {
    name: 'no S3 prefix list parameter',
    check: 'parameters',
    resource: 'S3PrefixListId',
    change: (d) => void delete d.Parameters!.S3PrefixListId,
  },
  {
    name: 'an AmiId that takes anything',
    check: 'parameters',
    resource: 'AmiId',
    change: (d) => void delete d.Parameters!.AmiId!.AllowedPattern,
  },
  {
    name: 'no vault key parameter',
    check: 'parameters',
    resource: 'VaultKeyArn',
    change: (d) => void delete d.Parameters!.VaultKeyArn,
  },
  // image
  {
    name: 'the instance ignoring --ami',
    check: 'image',
    resource: 'ForensicInstance',
    change: (d) => void (R(d).ForensicInstance.Properties.ImageId = { Ref: 'ImageId' }),
  },
  {
    name: 'the launch template ignoring the SSM parameter',
    check: 'image',
    resource: 'LaunchTemplate',
    change: (d) => void (R(d).LaunchTemplate.Properties.LaunchTemplateData.ImageId = { Ref: 'AmiId' }),
  },
  {
    name: 'no UseAmiId condition',
    check: 'image',
    resource: 'UseAmiId',
    change: (d) => void delete (d as { Conditions?: Record<string, unknown> }).Conditions!.UseAmiId,
  },
  // instance-profile (the vault key)
  {
    name: 'the vault key usable outside S3',
    check: 'instance-profile',
    resource: 'InstanceRole',
    change: (d) =>
      void delete R(d).InstanceRole.Properties.Policies[0].PolicyDocument.Statement.find(
        (s: { Sid?: string }) => s.Sid === 'DecryptGuestTools',
      ).Condition.StringEquals,
  },
  {
    name: 'the vault key for every object of the vault',
    check: 'instance-profile',
    resource: 'InstanceRole',
    change: (d) =>
      void (R(d).InstanceRole.Properties.Policies[0].PolicyDocument.Statement.find(
        (s: { Sid?: string }) => s.Sid === 'DecryptGuestTools',
      ).Condition.StringLike['kms:EncryptionContext:aws:s3:arn'] = [
        { 'Fn::Sub': 'arn:${AWS::Partition}:s3:::${VaultBucket}/*' },
      ]),
  },
  {
    name: 'generating data keys under the vault key',
    check: 'instance-profile',
    resource: 'InstanceRole',
    change: (d) =>
      void (R(d).InstanceRole.Properties.Policies[0].PolicyDocument.Statement.find(
        (s: { Sid?: string }) => s.Sid === 'DecryptGuestTools',
      ).Action = ['kms:Decrypt', 'kms:GenerateDataKey']),
  },
  // outputs
  {
    name: 'no InstanceId output',
    check: 'outputs',
    resource: 'InstanceId',
    change: (d) => void delete d.Outputs!.InstanceId,
  },
  {
    name: 'VpcId naming the subnet',
    check: 'outputs',
    resource: 'VpcId',
    change: (d) => void (d.Outputs!.VpcId!.Value = { Ref: 'Subnet' }),
  },
];

t.test('each check reports the mutation that breaks it', async (t) => {
  const covered = new Set(MUTATIONS.map((m) => m.check));
  t.same(
    ROOM_CHECKS.map((c) => c.id).filter((id) => !covered.has(id)),
    [],
    'every check has at least one mutation that makes it fail',
  );
  for (const m of MUTATIONS) {
    t.test(`${m.check}: ${m.name}`, async (t) => {
      const check = ROOM_CHECKS.find((c) => c.id === m.check);
      t.ok(check, `check ${m.check} exists`);
      const found = check!.run(mutated(m.change), ctx);
      const hit = found.filter((f) =>
        typeof m.resource === 'string' ? f.resource === m.resource : m.resource.test(f.resource),
      );
      t.ok(hit.length, `finding on ${m.resource}`, { found });
      t.ok(
        hit.every((f) => f.check === m.check && f.message.length > 20),
        'findings name the check and say what to fix',
      );
    });
  }
});

t.test('checkRoomTemplate runs every check', async (t) => {
  t.same(checkRoomTemplate(original, ctx), []);
  const broken = mutated((d) => {
    R(d).Subnet.Properties.MapPublicIpOnLaunch = true;
    R(d).LaunchTemplate.Properties.LaunchTemplateData.MetadataOptions.HttpTokens = 'optional';
  });
  t.same([...new Set(checkRoomTemplate(broken, ctx).map((f) => f.check))].sort(), ['imds', 'private-subnet']);
});
