// The live audit against the local AWS, on rooms built straight through the EC2 API: a compliant
// room passes every check; each way of breaking it — built for real, resource by resource — is
// caught by its check, by name, and by that check alone. Unit cases cover what the API cannot
// build here: a read that fails must fail its checks, never pass them.
import t from 'tap';
import { openAccount } from '../../../src/aws/account.js';
import type { AwsAccount } from '../../../src/aws/ports.js';
import { auditStack, evaluateRoom, collectRoom, auditOk } from '../../../src/workflows/room/audit.js';
import { useLocalAws } from '../../../local-aws/local-aws.js';
import { buildCompliantRoom, roomSessionDocuments } from './fixtures.js';

type Room = Awaited<ReturnType<typeof buildCompliantRoom>>;

let n = 0;
async function failing(
  account: AwsAccount,
  room: Room,
): Promise<{ critical: string[]; warnings: string[]; ok: boolean; strictOk: boolean; detail: Record<string, string> }> {
  const a = await auditStack(account, room.stack.parameters['CaseId']!, room.stack);
  const strict = auditOk(a.checks, { strict: true });
  return {
    critical: a.checks.filter((c) => !c.ok && c.severity === 'critical').map((c) => c.id),
    warnings: a.checks.filter((c) => !c.ok && c.severity === 'warning').map((c) => c.id),
    ok: a.ok,
    strictOk: strict,
    detail: Object.fromEntries(a.checks.map((c) => [c.id, c.detail])),
  };
}

t.test('live audit on rooms built through the EC2 API', async (t) => {
  await useLocalAws(t);
  const account = await openAccount({});
  const fresh = () => buildCompliantRoom(account, `IR-audit-${++n}`);

  t.test('a compliant room passes every check, strict too', async (t) => {
    const room = await fresh();
    const r = await failing(account, room);
    t.same(r.critical, []);
    t.same(r.warnings, []);
    t.ok(r.ok && r.strictOk);
    t.match(r.detail['instance.imdsv2'], /IMDSv2 required, hop limit 1/);
  });

  // Each case: what to break, and the one check that must catch it.
  const cases: Array<{
    name: string;
    check: string;
    severity?: 'warning';
    also?: string[];
    detail?: RegExp;
    breakIt: (r: Room) => Promise<unknown>;
  }> = [
    {
      name: 'an internet gateway attached',
      check: 'vpc.no-internet-gateway',
      detail: /igw-/,
      breakIt: async (r) => {
        const igw = (await r.ec2.send(new r.ec2m.CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!;
        await r.ec2.send(new r.ec2m.AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: r.vpcId }));
      },
    },
    {
      name: 'a 0.0.0.0/0 route (to a network interface in the room)',
      check: 'routes.no-route-out',
      detail: /0\.0\.0\.0\/0 → eni-/,
      breakIt: async (r) => {
        const eni = (
          await r.ec2.send(new r.ec2m.CreateNetworkInterfaceCommand({ SubnetId: r.subnetId, Groups: [r.forensics] }))
        ).NetworkInterface!.NetworkInterfaceId!;
        await r.ec2.send(
          new r.ec2m.CreateRouteCommand({
            RouteTableId: r.routeTableId,
            DestinationCidrBlock: '0.0.0.0/0',
            NetworkInterfaceId: eni,
          }),
        );
      },
    },
    {
      name: 'a ::/0 route through an egress-only internet gateway',
      check: 'routes.no-route-out',
      also: ['vpc.no-egress-only-internet-gateway'],
      detail: /::\/0 → eigw-/,
      breakIt: async (r) => {
        const eigw = (await r.ec2.send(new r.ec2m.CreateEgressOnlyInternetGatewayCommand({ VpcId: r.vpcId })))
          .EgressOnlyInternetGateway!.EgressOnlyInternetGatewayId!;
        await r.ec2.send(
          new r.ec2m.CreateRouteCommand({
            RouteTableId: r.routeTableId,
            DestinationIpv6CidrBlock: '::/0',
            EgressOnlyInternetGatewayId: eigw,
          }),
        );
      },
    },
    {
      name: 'a route to a gateway endpoint that is not the S3 one (DynamoDB)',
      check: 'routes.no-route-out',
      detail: /vpce-/,
      breakIt: (r) =>
        r.ec2.send(
          new r.ec2m.CreateVpcEndpointCommand({
            VpcId: r.vpcId,
            VpcEndpointType: 'Gateway',
            ServiceName: 'com.amazonaws.us-east-1.dynamodb',
            RouteTableIds: [r.routeTableId],
          }),
        ),
    },
    {
      name: 'a NAT gateway',
      check: 'vpc.no-nat-gateway',
      detail: /nat-/,
      breakIt: (r) =>
        r.ec2.send(new r.ec2m.CreateNatGatewayCommand({ SubnetId: r.subnetId, ConnectivityType: 'private' })),
    },
    {
      name: 'a VPC peering connection',
      check: 'vpc.no-peering-connection',
      detail: /pcx-/,
      breakIt: async (r) => {
        const other = (await r.ec2.send(new r.ec2m.CreateVpcCommand({ CidrBlock: '10.99.0.0/24' }))).Vpc!.VpcId!;
        await r.ec2.send(new r.ec2m.CreateVpcPeeringConnectionCommand({ VpcId: r.vpcId, PeerVpcId: other }));
      },
    },
    {
      name: 'a transit gateway attachment',
      check: 'vpc.no-transit-gateway-attachment',
      detail: /tgw-attach-/,
      breakIt: async (r) => {
        const tgw = (await r.ec2.send(new r.ec2m.CreateTransitGatewayCommand({}))).TransitGateway!.TransitGatewayId!;
        await r.ec2.send(
          new r.ec2m.CreateTransitGatewayVpcAttachmentCommand({
            TransitGatewayId: tgw,
            VpcId: r.vpcId,
            SubnetIds: [r.subnetId],
          }),
        );
      },
    },
    {
      name: 'a VPN gateway attached',
      check: 'vpc.no-vpn-gateway',
      detail: /vgw-/,
      breakIt: async (r) => {
        const vgw = (await r.ec2.send(new r.ec2m.CreateVpnGatewayCommand({ Type: 'ipsec.1' }))).VpnGateway!
          .VpnGatewayId!;
        await r.ec2.send(new r.ec2m.AttachVpnGatewayCommand({ VpnGatewayId: vgw, VpcId: r.vpcId }));
      },
    },
    {
      name: 'a carrier gateway',
      check: 'vpc.no-carrier-gateway',
      detail: /cagw-/,
      breakIt: (r) => r.ec2.send(new r.ec2m.CreateCarrierGatewayCommand({ VpcId: r.vpcId })),
    },
    {
      name: 'an egress rule on the forensics group',
      check: 'forensics-sg.no-egress',
      detail: /egress tcp 443 to 0\.0\.0\.0\/0 \(sgr-/,
      breakIt: (r) =>
        r.ec2.send(
          new r.ec2m.AuthorizeSecurityGroupEgressCommand({
            GroupId: r.forensics,
            IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
          }),
        ),
    },
    {
      name: 'an IPv6 ingress rule on the forensics group',
      check: 'forensics-sg.no-ingress',
      detail: /ingress tcp 22 from ::\/0/,
      breakIt: (r) =>
        r.ec2.send(
          new r.ec2m.AuthorizeSecurityGroupIngressCommand({
            GroupId: r.forensics,
            IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, Ipv6Ranges: [{ CidrIpv6: '::/0' }] }],
          }),
        ),
    },
    {
      name: 'allow-all egress on the access group',
      check: 'access-sg.endpoints-only',
      detail: /egress all traffic to 0\.0\.0\.0\/0/,
      breakIt: (r) =>
        r.ec2.send(
          new r.ec2m.AuthorizeSecurityGroupEgressCommand({
            GroupId: r.access,
            IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
          }),
        ),
    },
    {
      name: 'the endpoint group open to the world on 443',
      check: 'endpoint-sg.room-only',
      detail: /ingress tcp 443 from 0\.0\.0\.0\/0/,
      breakIt: (r) =>
        r.ec2.send(
          new r.ec2m.AuthorizeSecurityGroupIngressCommand({
            GroupId: r.endpoint,
            IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
          }),
        ),
    },
    {
      name: 'IMDSv1 allowed',
      check: 'instance.imdsv2',
      detail: /HttpTokens is optional/,
      breakIt: (r) =>
        r.ec2.send(
          new r.ec2m.ModifyInstanceMetadataOptionsCommand({ InstanceId: r.instanceId, HttpTokens: 'optional' }),
        ),
    },
    {
      name: 'hop limit 2',
      check: 'instance.imdsv2',
      detail: /hop limit is 2/,
      breakIt: (r) =>
        r.ec2.send(
          new r.ec2m.ModifyInstanceMetadataOptionsCommand({ InstanceId: r.instanceId, HttpPutResponseHopLimit: 2 }),
        ),
    },
    {
      name: 'a public IP on the instance',
      check: 'network.no-public-address',
      breakIt: async (r) => {
        const eip = (await r.ec2.send(new r.ec2m.AllocateAddressCommand({ Domain: 'vpc' }))).AllocationId!;
        await r.ec2.send(new r.ec2m.AssociateAddressCommand({ AllocationId: eip, InstanceId: r.instanceId }));
      },
    },
    {
      name: 'the subnet handing out public IPs',
      check: 'subnet.no-public-ip-on-launch',
      breakIt: (r) =>
        r.ec2.send(
          new r.ec2m.ModifySubnetAttributeCommand({ SubnetId: r.subnetId, MapPublicIpOnLaunch: { Value: true } }),
        ),
    },
    {
      name: 'the instance in a third group',
      check: 'instance.security-groups',
      breakIt: async (r) => {
        const extra = (
          await r.ec2.send(
            new r.ec2m.CreateSecurityGroupCommand({
              GroupName: `extra-${r.instanceId}`,
              Description: 'x',
              VpcId: r.vpcId,
            }),
          )
        ).GroupId!;
        const inst = (await r.ec2.send(new r.ec2m.DescribeInstancesCommand({ InstanceIds: [r.instanceId] })))
          .Reservations![0]!.Instances![0]!;
        await r.ec2.send(
          new r.ec2m.ModifyNetworkInterfaceAttributeCommand({
            NetworkInterfaceId: inst.NetworkInterfaces![0]!.NetworkInterfaceId!,
            Groups: [r.forensics, r.access, extra],
          }),
        );
      },
    },
    {
      name: 'an unencrypted volume attached',
      check: 'instance.volumes-encrypted',
      breakIt: async (r) => {
        const v = (
          await r.ec2.send(
            new r.ec2m.CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: 1, Encrypted: false }),
          )
        ).VolumeId!;
        await r.ec2.send(new r.ec2m.AttachVolumeCommand({ VolumeId: v, InstanceId: r.instanceId, Device: '/dev/sdf' }));
      },
    },
    {
      name: 'the KMS endpoint missing',
      check: 'endpoints.present',
      detail: /no kms interface endpoint/,
      breakIt: (r) =>
        r.ec2.send(new r.ec2m.DeleteVpcEndpointsCommand({ VpcEndpointIds: [r.interfaceEndpoints['kms']!] })),
    },
    {
      name: 'the S3 endpoint open to every bucket',
      check: 'endpoints.s3-vault-only',
      detail: /Resource "\*"/,
      breakIt: (r) =>
        r.ec2.send(
          new r.ec2m.ModifyVpcEndpointCommand({
            VpcEndpointId: r.s3Endpoint,
            PolicyDocument: JSON.stringify({
              Version: '2012-10-17',
              Statement: [{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: '*' }],
            }),
          }),
        ),
    },
    {
      name: 'the subnet back on the default network ACL (a warning)',
      check: 'nacl.restrictive',
      severity: 'warning',
      detail: /default network ACL/,
      breakIt: async (r) => {
        const acls =
          (
            await r.ec2.send(
              new r.ec2m.DescribeNetworkAclsCommand({ Filters: [{ Name: 'vpc-id', Values: [r.vpcId] }] }),
            )
          ).NetworkAcls ?? [];
        const assoc = acls.flatMap((a) => a.Associations ?? []).find((a) => a.SubnetId === r.subnetId)!;
        await r.ec2.send(
          new r.ec2m.ReplaceNetworkAclAssociationCommand({
            AssociationId: assoc.NetworkAclAssociationId!,
            NetworkAclId: r.defaultAclId,
          }),
        );
      },
    },
    {
      name: 'a network ACL allowing all traffic out (a warning)',
      check: 'nacl.restrictive',
      severity: 'warning',
      detail: /rule 50 allows all outbound/,
      breakIt: (r) =>
        r.ec2.send(
          new r.ec2m.CreateNetworkAclEntryCommand({
            NetworkAclId: r.aclId,
            RuleNumber: 50,
            Egress: true,
            RuleAction: 'allow',
            Protocol: '-1',
            CidrBlock: '0.0.0.0/0',
          }),
        ),
    },
    {
      name: 'no flow log (a warning)',
      check: 'flow-logs.active',
      severity: 'warning',
      breakIt: async (r) => {
        const fl =
          (
            await r.ec2.send(
              new r.ec2m.DescribeFlowLogsCommand({ Filter: [{ Name: 'resource-id', Values: [r.vpcId] }] }),
            )
          ).FlowLogs ?? [];
        await r.ec2.send(new r.ec2m.DeleteFlowLogsCommand({ FlowLogIds: fl.map((f) => f.FlowLogId!) }));
      },
    },
    {
      name: 'a flow log that cannot deliver (a warning)',
      check: 'flow-logs.active',
      severity: 'warning',
      detail: /Access error/,
      breakIt: async (r) => {
        const fl =
          (
            await r.ec2.send(
              new r.ec2m.DescribeFlowLogsCommand({ Filter: [{ Name: 'resource-id', Values: [r.vpcId] }] }),
            )
          ).FlowLogs ?? [];
        await r.ec2.send(new r.ec2m.DeleteFlowLogsCommand({ FlowLogIds: fl.map((f) => f.FlowLogId!) }));
        // A delivery role that does not exist: the flow log is there, its delivery fails.
        await r.ec2.send(
          new r.ec2m.CreateFlowLogsCommand({
            ResourceIds: [r.vpcId],
            ResourceType: 'VPC',
            TrafficType: 'ALL',
            LogDestinationType: 'cloud-watch-logs',
            LogGroupName: '/x',
            DeliverLogsPermissionArn: 'arn:aws:iam::123456789012:role/missing',
          }),
        );
      },
    },
  ];

  // The analysts' way in (room shell): a session document changed in the account (a new default
  // version, as UpdateDocument + UpdateDocumentDefaultVersion would leave it) is caught.
  const replaceDocument = async (r: Room, name: string, content: Record<string, unknown>) => {
    await r.ssm.send(new r.ssmm.DeleteDocumentCommand({ Name: name }));
    await r.ssm.send(
      new r.ssmm.CreateDocumentCommand({ Name: name, DocumentType: 'Session', Content: JSON.stringify(content) }),
    );
  };
  const shellOf = (r: Room) => roomSessionDocuments(r.stack.parameters['CaseId']!, r.caseKeyArn)[r.shellDocumentName]!;
  cases.push(
    {
      name: 'session transcripts sent to another bucket',
      check: 'sessions.logging-to-vault',
      detail: /transcripts go to "elsewhere", not the vault/,
      breakIt: (r) =>
        replaceDocument(r, r.shellDocumentName, {
          ...shellOf(r),
          inputs: { ...(shellOf(r)['inputs'] as object), s3BucketName: 'elsewhere' },
        }),
    },
    {
      name: 'session transcripts unencrypted, the stream under another key',
      check: 'sessions.logging-to-vault',
      detail: /s3EncryptionEnabled is off; the session stream is encrypted with "alias\/aws\/ssm"/,
      breakIt: (r) =>
        replaceDocument(r, r.shellDocumentName, {
          ...shellOf(r),
          inputs: { ...(shellOf(r)['inputs'] as object), s3EncryptionEnabled: false, kmsKeyId: 'alias/aws/ssm' },
        }),
    },
    {
      name: 'the shell document gone',
      check: 'sessions.logging-to-vault',
      detail: /could not be checked|does not exist/,
      breakIt: (r) => r.ssm.send(new r.ssmm.DeleteDocumentCommand({ Name: r.shellDocumentName })),
    },
    {
      name: 'the port-forward document turned into a shell, or forwarding to another host',
      check: 'sessions.documents-only',
      detail: /session type Standard_Stream: only a Port session runs no shell.*another host/,
      breakIt: (r) =>
        replaceDocument(r, r.portForwardDocumentName, {
          schemaVersion: '1.0',
          sessionType: 'Standard_Stream',
          parameters: { host: { type: 'String' } },
          inputs: {},
        }),
    },
  );

  for (const c of cases) {
    t.test(`${c.name} → ${c.check}`, async (t) => {
      const room = await fresh();
      await c.breakIt(room);
      const r = await failing(account, room);
      if (c.severity === 'warning') {
        t.same(r.critical, [], 'no critical finding');
        t.same(r.warnings, [c.check], `caught as the warning ${c.check}`);
        t.equal(r.ok, true, 'a warning does not fail the audit…');
        t.equal(r.strictOk, false, '…except with --strict');
      } else {
        t.same(
          r.critical.sort(),
          [c.check, ...(c.also ?? [])].sort(),
          `caught by ${c.check}${c.also ? ` (and ${c.also.join(', ')})` : ''}, nothing else`,
        );
        t.same(r.warnings, []);
        t.equal(r.ok, false, 'the audit fails');
      }
      if (c.detail) t.match(r.detail[c.check], c.detail, 'the detail names it');
    });
  }

  t.test('a read that fails fails the checks that need it (never passes them)', async (t) => {
    const room = await fresh();
    const live = await collectRoom(account, room.stack.parameters['CaseId']!, room.stack);
    const broken = {
      ...live,
      routeTables: { ok: false as const, error: 'AccessDenied: ec2:DescribeRouteTables' },
      instance: { ok: false as const, error: 'throttled' },
      shellDocument: { ok: false as const, error: 'AccessDenied: ssm:GetDocument' },
    };
    const checks = evaluateRoom(broken);
    const failed = checks
      .filter((c) => !c.ok)
      .map((c) => c.id)
      .sort();
    t.same(failed, [
      'instance.imdsv2',
      'instance.security-groups',
      'network.no-public-address',
      'routes.no-route-out',
      'sessions.logging-to-vault',
    ]);
    t.match(
      checks.find((c) => c.id === 'routes.no-route-out')!.detail,
      /could not be checked: reading route tables failed: AccessDenied/,
    );
  });

  t.test('a room built before recorded sessions: the session checks warn, the room still passes', async (t) => {
    const room = await fresh();
    const { ShellDocumentName: _s, PortForwardDocumentName: _p, ...older } = room.stack.outputs;
    const a = await auditStack(account, room.stack.parameters['CaseId']!, { ...room.stack, outputs: older });
    const sessions = a.checks.filter((c) => c.id.startsWith('sessions.'));
    t.same(
      sessions.map((c) => [c.id, c.ok, c.severity]),
      [
        ['sessions.logging-to-vault', false, 'warning'],
        ['sessions.documents-only', false, 'warning'],
      ],
    );
    t.match(sessions[0]!.detail, /built before recorded sessions.*room shell. refuses it/);
    t.equal(a.ok, true, 'its evidence isolation is not in question: the audit passes');
  });

  t.test('a stack that reports no outputs (ROLLBACK_COMPLETE) fails, with the reason', async (t) => {
    const room = await fresh();
    const stack = { ...room.stack, status: 'ROLLBACK_COMPLETE', outputs: {} };
    const a = await auditStack(account, 'IR-x', stack);
    t.equal(a.ok, false);
    t.match(a.checks.find((c) => c.id === 'stack.complete')!.detail, /ROLLBACK_COMPLETE/);
    t.match(a.checks.find((c) => c.id === 'vpc.no-internet-gateway')!.detail, /reports no VpcId output/);
    t.ok(
      a.checks.filter((c) => c.severity === 'critical').every((c) => !c.ok),
      'no critical check passes without the room',
    );
  });
});
