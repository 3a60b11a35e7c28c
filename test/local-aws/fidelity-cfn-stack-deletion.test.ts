// Fidelity patch patches/cfn_stack_deletion.py: DeleteStack deletes the stack's route tables and
// VPC endpoints (so its VPC goes too), and a deletion that fails leaves the stack in DELETE_FAILED
// with the reason, as CloudFormation documents (DeleteStack; "Stack status codes").
import t from 'tap';
import {
  CloudFormationClient,
  CreateStackCommand,
  DeleteStackCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
} from '@aws-sdk/client-cloudformation';
import {
  CreateSubnetCommand,
  DescribeRouteTablesCommand,
  DescribeVpcEndpointsCommand,
  DescribeVpcsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { useLocalAws } from '../../local-aws/local-aws.js';

const TEMPLATE = `
Resources:
  Vpc: { Type: AWS::EC2::VPC, Properties: { CidrBlock: 10.7.0.0/24 } }
  Subnet: { Type: AWS::EC2::Subnet, Properties: { VpcId: !Ref Vpc, CidrBlock: 10.7.0.0/25 } }
  Rt: { Type: AWS::EC2::RouteTable, Properties: { VpcId: !Ref Vpc } }
  Assoc: { Type: AWS::EC2::SubnetRouteTableAssociation, Properties: { SubnetId: !Ref Subnet, RouteTableId: !Ref Rt } }
  S3: { Type: AWS::EC2::VPCEndpoint, Properties: { VpcId: !Ref Vpc, ServiceName: !Sub 'com.amazonaws.\${AWS::Region}.s3', RouteTableIds: [!Ref Rt] } }
Outputs:
  VpcId: { Value: !Ref Vpc }
`;

t.test('a stack with a route table and a VPC endpoint deletes completely', async (t) => {
  await useLocalAws(t);
  const cfn = new CloudFormationClient({});
  const ec2 = new EC2Client({});
  const { StackId } = await cfn.send(new CreateStackCommand({ StackName: 'net', TemplateBody: TEMPLATE }));
  const vpcId = (await cfn.send(new DescribeStacksCommand({ StackName: 'net' }))).Stacks![0]!.Outputs![0]!.OutputValue!;
  await cfn.send(new DeleteStackCommand({ StackName: 'net' }));
  t.equal(
    (await cfn.send(new DescribeStacksCommand({ StackName: StackId }))).Stacks![0]!.StackStatus,
    'DELETE_COMPLETE',
  );
  t.same(
    (await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }))).Vpcs,
    [],
    'the VPC is gone',
  );
  t.same(
    (await ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }))).RouteTables,
    [],
    'and its route tables',
  );
  t.same(
    (await ec2.send(new DescribeVpcEndpointsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }))).VpcEndpoints,
    [],
    'and its endpoint',
  );
});

t.test('a resource that will not delete: DELETE_FAILED, the stack stays, the event names the reason', async (t) => {
  await useLocalAws(t);
  const cfn = new CloudFormationClient({});
  const ec2 = new EC2Client({});
  const { StackId } = await cfn.send(new CreateStackCommand({ StackName: 'stuck', TemplateBody: TEMPLATE }));
  const vpcId = (await cfn.send(new DescribeStacksCommand({ StackName: 'stuck' }))).Stacks![0]!.Outputs![0]!
    .OutputValue!;
  // A subnet made outside the stack keeps its VPC from being deleted.
  await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: '10.7.0.128/25' }));
  await cfn.send(new DeleteStackCommand({ StackName: 'stuck' }));
  const s = (await cfn.send(new DescribeStacksCommand({ StackName: 'stuck' }))).Stacks![0]!;
  t.equal(s.StackId, StackId);
  t.equal(s.StackStatus, 'DELETE_FAILED');
  const ev = (await cfn.send(new DescribeStackEventsCommand({ StackName: StackId }))).StackEvents ?? [];
  t.match(ev.find((e) => e.ResourceStatus === 'DELETE_FAILED')?.ResourceStatusReason, /has dependencies/);
});
