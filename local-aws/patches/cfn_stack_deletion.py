"""DeleteStack deletes the stack's route tables and VPC endpoints, and a deletion that fails leaves
the stack in DELETE_FAILED instead of making it disappear.

AWS (CloudFormation API Reference, DeleteStack): "Deletes a specified stack. Once the call
completes successfully, stack deletion starts." Every resource of the stack is deleted unless its
DeletionPolicy says Retain (User Guide, "DeletionPolicy attribute"); when a resource cannot be
deleted the stack ends in DELETE_FAILED ("Unsuccessful deletion of one or more stacks", User
Guide, "Stack status codes") and DescribeStacks still returns it, with the resource's
DELETE_FAILED event and reason.

moto 5.2.1 (1) has no CloudFormation deletion for AWS::EC2::RouteTable and AWS::EC2::VPCEndpoint
(both silently kept), so the stack's VPC always has dependencies and cannot be deleted; and (2)
when a resource fails to delete, answers DeleteStack with that error (HTTP 400) after removing the
stack from its list, so the stack is neither there nor DELETE_COMPLETE. This patch gives the two
resource types their deletion (moto's own DeleteRouteTable / DeleteVpcEndpoints) and turns a
failed deletion into DELETE_FAILED: the stack is kept, with a DELETE_FAILED event naming the reason.

Tested by test/local-aws/fidelity-cfn-stack-deletion.test.ts.
"""


def apply() -> None:
    from moto.cloudformation.models import CloudFormationBackend
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.route_tables import RouteTable
    from moto.ec2.models.vpcs import VPCEndPoint

    if getattr(CloudFormationBackend.delete_stack, "_cleanroom_patched", False):
        return

    def delete_route_table(cls, resource_name, cloudformation_json, account_id, region_name):  # type: ignore[no-untyped-def]
        backend = ec2_backends[account_id][region_name]
        if resource_name in backend.route_tables:
            backend.delete_route_table(resource_name)

    def delete_vpc_endpoint(cls, resource_name, cloudformation_json, account_id, region_name):  # type: ignore[no-untyped-def]
        backend = ec2_backends[account_id][region_name]
        endpoint = backend.vpc_end_points.get(resource_name)
        if endpoint is not None:
            # VpcEndpointType defaults to Gateway (AWS::EC2::VPCEndpoint); moto keeps None.
            endpoint.vpc_endpoint_type = endpoint.vpc_endpoint_type or "Gateway"
            # Its routes go with a route table the stack deleted first.
            endpoint.route_table_ids = [r for r in (endpoint.route_table_ids or []) if r in backend.route_tables]
            backend.delete_vpc_endpoints([resource_name])
            backend.vpc_end_points.pop(resource_name, None)

    RouteTable.delete_from_cloudformation_json = classmethod(delete_route_table)  # type: ignore[assignment,method-assign]
    VPCEndPoint.delete_from_cloudformation_json = classmethod(delete_vpc_endpoint)  # type: ignore[assignment,method-assign]

    original = CloudFormationBackend.delete_stack

    def delete_stack(self, name_or_stack_id):  # type: ignore[no-untyped-def]
        stack = self.stacks.get(name_or_stack_id) or next((s for s in self.stacks.values() if s.name == name_or_stack_id), None)
        try:
            original(self, name_or_stack_id)
        except Exception as e:  # a resource that would not delete
            if stack is None:
                raise
            self.stacks[stack.stack_id] = stack
            stack.status = "DELETE_FAILED"
            stack._add_stack_event("DELETE_FAILED", resource_status_reason=str(getattr(e, "message", None) or e))

    delete_stack._cleanroom_patched = True  # type: ignore[attr-defined]
    CloudFormationBackend.delete_stack = delete_stack  # type: ignore[method-assign]
