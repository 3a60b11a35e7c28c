"""A VPC endpoint created by CloudFormation reports its policy as a JSON document.

AWS: AWS::EC2::VPCEndpoint `PolicyDocument` is of type Json; "For CloudFormation templates in
YAML, you can provide the policy in JSON or YAML format. CloudFormation converts YAML to JSON before
calling the API to create or modify the VPC endpoint" (CloudFormation User Guide,
AWS::EC2::VPCEndpoint, PolicyDocument). DescribeVpcEndpoints then returns `PolicyDocument` as that
JSON string (EC2 API Reference, VpcEndpoint.policyDocument).

moto 5.2.1 passes the parsed template object through as it is, so DescribeVpcEndpoints returns
Python's repr of a dict (single quotes) — not JSON, which no client can parse. This patch serialises
a non-string PolicyDocument with json.dumps before moto creates the endpoint, as CloudFormation does.

Tested by test/local-aws/fidelity-cfn-vpc-endpoint-policy.test.ts.
"""
import json


def apply() -> None:
    from moto.ec2.models.vpcs import VPCEndPoint

    original = VPCEndPoint.create_from_cloudformation_json.__func__  # classmethod's function
    if getattr(original, "_cleanroom_patched", False):
        return

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # type: ignore[no-untyped-def]
        props = cloudformation_json.get("Properties") or {}
        doc = props.get("PolicyDocument")
        if doc is not None and not isinstance(doc, str):
            cloudformation_json = {**cloudformation_json, "Properties": {**props, "PolicyDocument": json.dumps(doc)}}
        return original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    create_from_cloudformation_json._cleanroom_patched = True  # type: ignore[attr-defined]
    VPCEndPoint.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[method-assign,assignment]
