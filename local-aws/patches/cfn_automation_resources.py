"""CloudFormation creates (and deletes) the resources of an automation stack as AWS does: a state
machine from `Definition` / `DefinitionString` / `DefinitionS3Location` with
`DefinitionSubstitutions`, rules whose pattern is JSON text, SNS subscriptions and Lambda
event-invoke configs.

AWS (CloudFormation User Guide, resource reference):
- AWS::StepFunctions::StateMachine: the definition is `Definition` (an object), `DefinitionString`
  or `DefinitionS3Location` ({Bucket, Key, Version}: "The name of the S3 bucket where the state
  machine definition JSON or YAML file is stored"); `DefinitionSubstitutions` "A map (string to
  string) that specifies the mappings for placeholder variables in the state machine definition.
  This enables the customer to inject values obtained at runtime, for example from intrinsic
  functions, in the state machine definition. Variables can be template parameter names, resource
  logical IDs, resource attributes, or a variable in a key-value map." — each `${key}` replaced.
  The state machine then runs its executions (StartExecution) like one made by CreateStateMachine.
- AWS::Events::Rule `EventPattern` (type Json): an object, or JSON text (as `!Sub` produces).
- AWS::SNS::Subscription (TopicArn, Protocol, Endpoint, FilterPolicy, RawMessageDelivery): Ref is
  the subscription ARN.
- AWS::Lambda::EventInvokeConfig (FunctionName, Qualifier, MaximumRetryAttempts,
  MaximumEventAgeInSeconds, DestinationConfig).

moto 5.2.1: a state machine made by CloudFormation reads only `DefinitionString` (no `Definition`,
no `DefinitionS3Location`, no substitutions) and is put in the backend that does not run
executions, so with the Step Functions interpreter on (the launcher turns it on) the API cannot
see it at all (ListStateMachines empty, StartExecution: StateMachineDoesNotExist). A rule whose
EventPattern is JSON text stores it JSON-encoded twice: the rule is created, but from then on every
ListStackResources, DescribeRule and PutEvents that meets it fails with HTTP 500 (and an updated
rule's pattern is encoded once more each time). The other two types are skipped silently (no
physical id; a Ref to them resolves to nothing).

This patch: the state machine is created in (and deleted from) the backend the API uses, from
whichever definition property is given, with the substitutions applied (string values as given;
numbers and booleans as JSON text); a rule's EventPattern given as JSON text is parsed first; the
two other types are created through moto's own Subscribe / PutFunctionEventInvokeConfig.

Gaps: LoggingConfiguration, TracingConfiguration and StateMachineType are accepted and ignored;
`DefinitionS3Location.Version` is ignored (the current object is read). Security Hub custom actions
are not here: CloudFormation has no resource type for them (AWS::SecurityHub::ActionTarget does
not exist; they are made with CreateActionTarget) and moto has no CreateActionTarget.

Tested by test/local-aws/fidelity-cfn-automation-resources.test.ts.
"""
import json
from typing import Any

_TYPES: list = []


def _definition(properties: dict, account_id: str, region_name: str) -> str:
    if "Definition" in properties:
        text = json.dumps(properties["Definition"])
    elif "DefinitionS3Location" in properties:
        from moto.s3.models import s3_backends
        from moto.utilities.utils import get_partition

        loc = properties["DefinitionS3Location"]
        key = s3_backends[account_id][get_partition(region_name)].get_object(loc["Bucket"], loc["Key"])
        if key is None:
            raise ValueError(f"DefinitionS3Location s3://{loc['Bucket']}/{loc['Key']} does not exist")
        text = key.value.decode("utf-8")
    else:
        text = properties.get("DefinitionString", "")
    for name, value in (properties.get("DefinitionSubstitutions") or {}).items():
        replacement = value if isinstance(value, str) else json.dumps(value)
        text = text.replace("${" + name + "}", replacement)
    return text


def _sfn_backend(account_id: str, region_name: str):  # type: ignore[no-untyped-def]
    from moto.stepfunctions.responses import get_backend

    return get_backend(account_id, region_name)


def _patch_state_machine() -> None:
    from moto.stepfunctions.models import StateMachine, cfn_to_api_tags

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # type: ignore[no-untyped-def]
        properties = cloudformation_json["Properties"]
        name = properties.get("StateMachineName", resource_name)
        tags = cfn_to_api_tags(properties.get("Tags", []))
        return _sfn_backend(account_id, region_name).create_state_machine(
            name, _definition(properties, account_id, region_name), properties.get("RoleArn", ""), tags=tags
        )

    def delete(cls, resource_name, cloudformation_json, account_id, region_name):  # type: ignore[no-untyped-def]
        _sfn_backend(account_id, region_name).delete_state_machine(resource_name)

    def update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):  # type: ignore[no-untyped-def]
        properties = cloudformation_json.get("Properties", {})
        name = properties.get("StateMachineName", original_resource.name)
        if name != original_resource.name:
            new_resource = create(cls, name, cloudformation_json, account_id, region_name)
            delete(cls, original_resource.arn, cloudformation_json, account_id, region_name)
            return new_resource
        return _sfn_backend(account_id, region_name).update_state_machine(
            original_resource.arn,
            definition=_definition(properties, account_id, region_name),
            role_arn=properties.get("RoleArn"),
        )

    StateMachine.create_from_cloudformation_json = classmethod(create)  # type: ignore[assignment,method-assign]
    StateMachine.delete_from_cloudformation_json = classmethod(delete)  # type: ignore[assignment,method-assign]
    StateMachine.update_from_cloudformation_json = classmethod(update)  # type: ignore[assignment,method-assign]


def _patch_rule() -> None:
    from moto.events.models import Rule

    create = Rule.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_rule(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # type: ignore[no-untyped-def]
        properties = cloudformation_json.get("Properties", {})
        if isinstance(properties.get("EventPattern"), str):  # JSON text (e.g. from !Sub): the pattern it holds
            properties["EventPattern"] = json.loads(properties["EventPattern"])
        return create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    Rule.create_from_cloudformation_json = classmethod(create_rule)  # type: ignore[assignment,method-assign]


def _new_types() -> None:
    from moto.core.common_models import CloudFormationModel

    class SnsSubscription(CloudFormationModel):
        def __init__(self, arn: str):
            self.arn = arn

        @property
        def physical_resource_id(self) -> str:
            return self.arn

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SNS::Subscription"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # type: ignore[no-untyped-def]
            from moto.sns.models import sns_backends

            p = cloudformation_json["Properties"]
            topic_arn = p["TopicArn"]
            backend = sns_backends[account_id][topic_arn.split(":")[3]]
            sub = backend.subscribe(topic_arn, p.get("Endpoint", ""), p["Protocol"])
            for attr in ("FilterPolicy", "RawMessageDelivery", "RedrivePolicy", "FilterPolicyScope"):
                if attr in p:
                    value = p[attr]
                    value = json.dumps(value) if isinstance(value, dict) else str(value).lower() if isinstance(value, bool) else value
                    backend.set_subscription_attributes(sub.arn, attr, value)
            return cls(sub.arn)

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):  # type: ignore[no-untyped-def]
            from moto.sns.models import sns_backends

            sns_backends[account_id][resource_name.split(":")[3]].unsubscribe(resource_name)

    class LambdaEventInvokeConfig(CloudFormationModel):
        def __init__(self, function_name: str, physical_id: str):
            self.function_name = function_name
            self.physical_id = physical_id

        @property
        def physical_resource_id(self) -> str:
            return self.physical_id

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::Lambda::EventInvokeConfig"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # type: ignore[no-untyped-def]
            from moto.awslambda.models import lambda_backends

            p = cloudformation_json["Properties"]
            config = {k: p[k] for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig") if k in p}
            lambda_backends[account_id][region_name].put_function_event_invoke_config(p["FunctionName"], config)
            return cls(p["FunctionName"], f"{p['FunctionName']}|{p.get('Qualifier', '$LATEST')}")

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):  # type: ignore[no-untyped-def]
            from moto.awslambda.models import lambda_backends

            try:
                lambda_backends[account_id][region_name].delete_function_event_invoke_config(resource_name.split("|")[0])
            except Exception:  # the function went first
                pass

    # CloudFormationModel.__subclasses__() holds weak references: keep the classes alive.
    _TYPES.extend([SnsSubscription, LambdaEventInvokeConfig])


def apply() -> None:
    import sys

    from moto.stepfunctions.models import StateMachine

    if getattr(StateMachine, "_cleanroom_patched", False):
        return
    StateMachine._cleanroom_patched = True  # type: ignore[attr-defined]
    _patch_state_machine()
    _patch_rule()
    _new_types()
    parsing = sys.modules.get("moto.cloudformation.parsing")  # (its type map is cached on first use)
    if parsing is not None:
        parsing.get_model_map.cache_clear()
