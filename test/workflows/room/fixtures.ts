/** Room fixtures for tests against the local AWS. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { AwsAccount } from '../../../src/aws/ports.js';
import { roomStackName } from '../../../src/domain/case-id.js';
import { ROOT } from '../../../local-aws/local-aws.js';
import type { RoomLive } from '../../../src/workflows/room/audit.js';

export const TEMPLATE = readFileSync(path.join(ROOT, 'templates/room.yaml'), 'utf8');
export const VAULT = 'cleanroom-evidence-123456789012-us-east-1';

/** The S3 managed prefix list of the region. */
export async function s3PrefixList(account: AwsAccount): Promise<string> {
  const r = await account.ec2.describeManagedPrefixLists({
    Filters: [{ Name: 'prefix-list-name', Values: [`com.amazonaws.${account.region}.s3`] }],
  });
  return r.PrefixLists![0]!.PrefixListId!;
}

/** Create the room stack straight from the template with CreateStack (moto creates it at once); returns its outputs. */
export async function createRoomStack(
  account: AwsAccount,
  caseId: string,
  extra: Record<string, string> = {},
): Promise<Record<string, string>> {
  const key = await account.kms.createKey({ Description: `case key ${caseId} (test)` });
  const params: Record<string, string> = {
    CaseId: caseId,
    AvailabilityZone: 'us-east-1a',
    VaultBucket: VAULT,
    CaseKeyArn: key.KeyMetadata!.Arn!,
    VaultKeyArn: (await account.kms.createKey({ Description: 'vault key (test)' })).KeyMetadata!.Arn!,
    S3PrefixListId: await s3PrefixList(account),
    ...extra,
  };
  const { CloudFormationClient, CreateStackCommand, DescribeStacksCommand } = await import(
    '@aws-sdk/client-cloudformation'
  );
  const cfn = new CloudFormationClient({});
  await cfn.send(
    new CreateStackCommand({
      StackName: roomStackName(caseId),
      TemplateBody: TEMPLATE,
      Capabilities: ['CAPABILITY_IAM'],
      Parameters: Object.entries(params).map(([ParameterKey, ParameterValue]) => ({ ParameterKey, ParameterValue })),
    }),
  );
  const s = (await cfn.send(new DescribeStacksCommand({ StackName: roomStackName(caseId) }))).Stacks![0]!;
  return Object.fromEntries((s.Outputs ?? []).map((o) => [o.OutputKey!, o.OutputValue!]));
}

/**
 * A compliant room built straight through the EC2 API (no CloudFormation): what the template
 * declares, as AWS would build it. Returns the stack the audit reads (outputs and parameters
 * naming these resources) and the ids.
 */
export async function buildCompliantRoom(account: AwsAccount, caseId: string) {
  const ec2m = await import('@aws-sdk/client-ec2');
  const ec2 = new ec2m.EC2Client({});
  const tags = (role: string, type: string) => [
    {
      ResourceType: type as never,
      Tags: [
        { Key: 'cleanroom:case', Value: caseId },
        { Key: 'cleanroom:role', Value: role },
      ],
    },
  ];
  const az = 'us-east-1a';
  const vpcId = (
    await ec2.send(new ec2m.CreateVpcCommand({ CidrBlock: '10.42.0.0/24', TagSpecifications: tags('vpc', 'vpc') }))
  ).Vpc!.VpcId!;
  const subnetId = (
    await ec2.send(
      new ec2m.CreateSubnetCommand({
        VpcId: vpcId,
        CidrBlock: '10.42.0.0/24',
        AvailabilityZone: az,
        TagSpecifications: tags('subnet', 'subnet'),
      }),
    )
  ).Subnet!.SubnetId!;
  const routeTableId = (await ec2.send(new ec2m.CreateRouteTableCommand({ VpcId: vpcId }))).RouteTable!.RouteTableId!;
  await ec2.send(new ec2m.AssociateRouteTableCommand({ RouteTableId: routeTableId, SubnetId: subnetId }));
  const pl = await s3PrefixList(account);

  const group = async (name: string) => {
    const id = (
      await ec2.send(
        new ec2m.CreateSecurityGroupCommand({ GroupName: `${caseId}-${name}`, Description: name, VpcId: vpcId }),
      )
    ).GroupId!;
    const rules =
      (await ec2.send(new ec2m.DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [id] }] })))
        .SecurityGroupRules ?? [];
    const egress = rules.filter((r) => r.IsEgress).map((r) => r.SecurityGroupRuleId!);
    if (egress.length)
      await ec2.send(new ec2m.RevokeSecurityGroupEgressCommand({ GroupId: id, SecurityGroupRuleIds: egress }));
    return id;
  };
  const forensics = await group('forensics');
  const access = await group('access');
  const endpoint = await group('endpoint');
  await ec2.send(
    new ec2m.AuthorizeSecurityGroupEgressCommand({
      GroupId: access,
      IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, PrefixListIds: [{ PrefixListId: pl }] }],
    }),
  );
  await ec2.send(
    new ec2m.AuthorizeSecurityGroupEgressCommand({
      GroupId: access,
      IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, UserIdGroupPairs: [{ GroupId: endpoint }] }],
    }),
  );
  await ec2.send(
    new ec2m.AuthorizeSecurityGroupIngressCommand({
      GroupId: endpoint,
      IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, UserIdGroupPairs: [{ GroupId: access }] }],
    }),
  );

  const policy = JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: '*',
        Action: ['s3:GetObject', 's3:PutObject', 's3:ListBucket'],
        Resource: [`arn:aws:s3:::${VAULT}`, `arn:aws:s3:::${VAULT}/*`],
      },
    ],
  });
  const s3Endpoint = (
    await ec2.send(
      new ec2m.CreateVpcEndpointCommand({
        VpcId: vpcId,
        VpcEndpointType: 'Gateway',
        ServiceName: 'com.amazonaws.us-east-1.s3',
        RouteTableIds: [routeTableId],
        PolicyDocument: policy,
      }),
    )
  ).VpcEndpoint!.VpcEndpointId!;
  const interfaceEndpoints: Record<string, string> = {};
  for (const s of ['ssm', 'ssmmessages', 'ec2messages', 'kms']) {
    interfaceEndpoints[s] = (
      await ec2.send(
        new ec2m.CreateVpcEndpointCommand({
          VpcId: vpcId,
          VpcEndpointType: 'Interface',
          ServiceName: `com.amazonaws.us-east-1.${s}`,
          SubnetIds: [subnetId],
          SecurityGroupIds: [endpoint],
          PrivateDnsEnabled: true,
        }),
      )
    ).VpcEndpoint!.VpcEndpointId!;
  }

  const aclId = (await ec2.send(new ec2m.CreateNetworkAclCommand({ VpcId: vpcId }))).NetworkAcl!.NetworkAclId!;
  const entry = (
    RuleNumber: number,
    Egress: boolean,
    RuleAction: 'allow' | 'deny',
    Protocol: string,
    PortRange?: { From: number; To: number },
  ) =>
    ec2.send(
      new ec2m.CreateNetworkAclEntryCommand({
        NetworkAclId: aclId,
        RuleNumber,
        Egress,
        RuleAction,
        Protocol,
        CidrBlock: '0.0.0.0/0',
        ...(PortRange ? { PortRange } : {}),
      }),
    );
  await entry(100, true, 'allow', '6', { From: 443, To: 443 });
  await entry(100, false, 'allow', '6', { From: 1024, To: 65535 });
  await entry(32000, true, 'deny', '-1');
  await entry(32000, false, 'deny', '-1');
  const acls =
    (await ec2.send(new ec2m.DescribeNetworkAclsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] })))
      .NetworkAcls ?? [];
  const assoc = acls.flatMap((a) => a.Associations ?? []).find((a) => a.SubnetId === subnetId)!;
  await ec2.send(
    new ec2m.ReplaceNetworkAclAssociationCommand({
      AssociationId: assoc.NetworkAclAssociationId!,
      NetworkAclId: aclId,
    }),
  );

  const flowLogGroupName = `/cleanroom/${caseId}/vpc-flow-logs/test`;
  const logs = await import('@aws-sdk/client-cloudwatch-logs');
  await new logs.CloudWatchLogsClient({}).send(new logs.CreateLogGroupCommand({ logGroupName: flowLogGroupName }));
  const trust = JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: 'vpc-flow-logs.amazonaws.com' }, Action: 'sts:AssumeRole' }],
  });
  const flowRole = (await account.iam.createRole({ RoleName: `${caseId}-flow-logs`, AssumeRolePolicyDocument: trust }))
    .Role!.Arn!;
  await ec2.send(
    new ec2m.CreateFlowLogsCommand({
      ResourceIds: [vpcId],
      ResourceType: 'VPC',
      TrafficType: 'ALL',
      LogDestinationType: 'cloud-watch-logs',
      LogGroupName: flowLogGroupName,
      DeliverLogsPermissionArn: flowRole,
    }),
  );

  const instanceId = (
    await ec2.send(
      new ec2m.RunInstancesCommand({
        ImageId: 'ami-0123456789abcdef0',
        InstanceType: 'm5.large',
        MinCount: 1,
        MaxCount: 1,
        SubnetId: subnetId,
        SecurityGroupIds: [forensics, access],
        MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled' },
        BlockDeviceMappings: [
          {
            DeviceName: '/dev/xvda',
            Ebs: { VolumeSize: 30, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true },
          },
        ],
        TagSpecifications: tags('forensic-instance', 'instance'),
      }),
    )
  ).Instances![0]!.InstanceId!;

  // The analysts' session documents, as the template declares them.
  const ssmm = await import('@aws-sdk/client-ssm');
  const ssm = new ssmm.SSMClient({});
  const caseKeyArn = (await account.kms.createKey({ Description: `case key ${caseId} (test)` })).KeyMetadata!.Arn!;
  const sessionDocs = roomSessionDocuments(caseId, caseKeyArn);
  for (const [name, content] of Object.entries(sessionDocs))
    await ssm.send(
      new ssmm.CreateDocumentCommand({ Name: name, DocumentType: 'Session', Content: JSON.stringify(content) }),
    );
  const [shellDocumentName, portForwardDocumentName] = Object.keys(sessionDocs) as [string, string];

  const stack: import('../../../src/resources/stacks.js').RoomStack = {
    stackName: roomStackName(caseId),
    stackId: `arn:aws:cloudformation:us-east-1:123456789012:stack/${roomStackName(caseId)}/test`,
    status: 'CREATE_COMPLETE',
    parameters: {
      CaseId: caseId,
      AvailabilityZone: az,
      VaultBucket: VAULT,
      S3PrefixListId: pl,
      CaseKeyArn: caseKeyArn,
    },
    outputs: {
      VpcId: vpcId,
      SubnetId: subnetId,
      AvailabilityZone: az,
      InstanceId: instanceId,
      ForensicsSecurityGroupId: forensics,
      AccessSecurityGroupId: access,
      EndpointSecurityGroupId: endpoint,
      NetworkAclId: aclId,
      RouteTableId: routeTableId,
      FlowLogGroupName: flowLogGroupName,
      ShellDocumentName: shellDocumentName,
      PortForwardDocumentName: portForwardDocumentName,
    },
    tags: { 'cleanroom:case': caseId },
  };
  return {
    ec2,
    ec2m,
    ssm,
    ssmm,
    caseKeyArn,
    shellDocumentName,
    portForwardDocumentName,
    stack,
    vpcId,
    subnetId,
    routeTableId,
    forensics,
    access,
    endpoint,
    s3Endpoint,
    interfaceEndpoints,
    aclId,
    defaultAclId: acls.find((a) => a.IsDefault)!.NetworkAclId!,
    instanceId,
    pl,
  };
}

/** The two Session documents of templates/room.yaml for a case (name → content). */
export function roomSessionDocuments(caseId: string, caseKeyArn: string): Record<string, Record<string, unknown>> {
  return {
    [`cleanroom-${caseId}-shell`]: {
      schemaVersion: '1.0',
      description: `cleanroom ${caseId}: analyst shell`,
      sessionType: 'Standard_Stream',
      inputs: {
        s3BucketName: VAULT,
        s3KeyPrefix: `cases/${caseId}/sessions/`,
        s3EncryptionEnabled: true,
        kmsKeyId: caseKeyArn,
        runAsEnabled: false,
        idleSessionTimeout: '20',
      },
    },
    [`cleanroom-${caseId}-port-forward`]: {
      schemaVersion: '1.0',
      description: `cleanroom ${caseId}: port forwarding`,
      sessionType: 'Port',
      parameters: { portNumber: { type: 'String' }, localPortNumber: { type: 'String', default: '0' } },
      properties: {
        portNumber: '{{ portNumber }}',
        type: 'LocalPortForwarding',
        localPortNumber: '{{ localPortNumber }}',
      },
    },
  };
}

export const unread = { ok: false as const, error: 'AccessDenied' };

/** A room none of whose parts could be read (each audit check judges it from what it needs). */
export function unreadableRoom(): RoomLive {
  return {
    region: 'us-east-1',
    stack: {
      stackName: 'cleanroom-case-IR-1',
      stackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/cleanroom-case-IR-1/x',
      status: 'CREATE_COMPLETE',
      parameters: {},
      outputs: {},
      tags: {},
    },
    info: {
      case: 'IR-1',
      stackName: 'cleanroom-case-IR-1',
      stackStatus: 'CREATE_COMPLETE',
      shellDocumentName: 'cleanroom-IR-1-shell',
      portForwardDocumentName: 'cleanroom-IR-1-port-forward',
    },
    subnet: unread,
    instance: unread,
    internetGateways: unread,
    natGateways: unread,
    egressOnlyGateways: unread,
    peerings: unread,
    transitAttachments: unread,
    vpnGateways: unread,
    carrierGateways: unread,
    routeTables: unread,
    endpoints: unread,
    networkInterfaces: unread,
    volumes: unread,
    networkAcls: unread,
    flowLogs: unread,
    rules: unread,
    shellDocument: unread,
    portForwardDocument: unread,
  };
}
