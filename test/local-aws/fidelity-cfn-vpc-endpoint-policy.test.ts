// Fidelity patch patches/cfn_vpc_endpoint_policy_json.py: a VPC endpoint created by CloudFormation
// from a YAML PolicyDocument reports that policy as JSON in DescribeVpcEndpoints, as CloudFormation
// converts YAML to JSON before calling the API (AWS::EC2::VPCEndpoint, PolicyDocument).
import t from 'tap';
import { CloudFormationClient, CreateStackCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { EC2Client, DescribeVpcEndpointsCommand } from '@aws-sdk/client-ec2';
import { useLocalAws } from '../../local-aws/local-aws.js';

const TEMPLATE = `
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties: { CidrBlock: 10.9.0.0/24 }
  Rt:
    Type: AWS::EC2::RouteTable
    Properties: { VpcId: !Ref Vpc }
  S3:
    Type: AWS::EC2::VPCEndpoint
    Properties:
      VpcId: !Ref Vpc
      ServiceName: !Sub 'com.amazonaws.\${AWS::Region}.s3'
      RouteTableIds: [!Ref Rt]
      PolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Effect: Allow
            Principal: '*'
            Action: ['s3:GetObject']
            Resource: 'arn:aws:s3:::only-this-bucket/*'
Outputs:
  Endpoint: { Value: !Ref S3 }
`;

t.test('the endpoint policy of a CloudFormation VPC endpoint is JSON', async (t) => {
  await useLocalAws(t);
  const cfn = new CloudFormationClient({});
  await cfn.send(new CreateStackCommand({ StackName: 'ep', TemplateBody: TEMPLATE }));
  const id = (await cfn.send(new DescribeStacksCommand({ StackName: 'ep' }))).Stacks![0]!.Outputs!.find(
    (o) => o.OutputKey === 'Endpoint',
  )!.OutputValue!;
  const ep = (await new EC2Client({}).send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [id] })))
    .VpcEndpoints![0]!;
  t.same(JSON.parse(ep.PolicyDocument!), {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Principal: '*', Action: ['s3:GetObject'], Resource: 'arn:aws:s3:::only-this-bucket/*' },
    ],
  });
});
