"""EventBridge rules deliver to Step Functions state machines, SNS topics and Lambda functions.

AWS:
- EventBridge User Guide, "Event bus targets": a rule's target may be a Step Functions state
  machine (EventBridge calls StartExecution with the target's RoleArn; "the event is passed as the
  input of the execution"), an SNS topic (the event is published as the message) or a Lambda
  function (invoked asynchronously). The target receives the event as EventBridge delivers it —
  `{"version", "id", "detail-type", "source", "account", "time" (ISO 8601, e.g.
  "2025-01-01T00:00:00Z"), "region", "resources", "detail"}` — or what the target's `Input`
  (constant JSON), `InputPath` (a JSONPath into the event) or `InputTransformer` makes of it. A
  delivery that fails goes to the target's DeadLetterConfig queue when it has one; PutEvents still
  succeeds.

moto 5.2.1 (moto/events/models.py Rule.send_to_targets) raises NotImplementedError for a state
machine, SNS or Lambda target (PutEvents answers HTTP 500), and its default target input drops
`account` and gives `time` as epoch seconds.

This patch: those three target kinds are delivered (StartExecution in the state machine's account
and Region, SNS Publish with the event as the message, Lambda Invoke of type Event), with the
AWS-shaped event, or the target's Input / InputPath / InputTransformer of it; a failure goes to the
target's DeadLetterConfig SQS queue; the other targets keep moto's delivery.

Gaps: no retry policy (a failed delivery goes straight to the dead-letter queue), the target's
RoleArn is not assumed or checked, delivery is synchronous within PutEvents (AWS: asynchronous,
usually within a second — tests poll the execution either way).

Tested by test/local-aws/fidelity-sfn-lambda-events.test.ts.
"""
import copy
import json
import logging
from typing import Any

LOG = logging.getLogger(__name__)


def _aws_event(event: dict) -> dict:
    from moto.core.utils import iso_8601_datetime_without_milliseconds, utcfromtimestamp

    t = event.get("time")
    if isinstance(t, (int, float)) or (isinstance(t, str) and t.replace(".", "", 1).isdigit()):
        t = iso_8601_datetime_without_milliseconds(utcfromtimestamp(float(t)))
    return {
        "version": event.get("version", "0"),
        "id": event.get("id"),
        "detail-type": event.get("detail-type"),
        "source": event.get("source"),
        "account": event.get("account"),
        "time": t,
        "region": event.get("region"),
        "resources": event.get("resources", []),
        "detail": event.get("detail", {}),
    }


def _target_input(target: dict, event: dict, original: dict) -> str:
    if "Input" in target:
        return target["Input"]
    if "InputPath" in target:
        from jsonpath_ng.ext import parse

        matches = parse(target["InputPath"]).find(event)
        return json.dumps(matches[0].value if matches else None)
    transformer = target.get("InputTransformer")
    if transformer:
        from moto.events.utils import EventTemplateParser

        out = EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event={**event, "ingestion-time": original.get("ingestion-time")},
        )
        return json.dumps(out)
    return json.dumps(event)


def _deliver(target: dict, arn: Any, payload: str) -> None:
    if arn.service == "states":
        from moto.stepfunctions.responses import get_backend

        get_backend(arn.account, arn.region).start_execution(target["Arn"], None, payload)
    elif arn.service == "sns":
        from moto.sns.models import sns_backends

        sns_backends[arn.account][arn.region].publish(message=payload, arn=target["Arn"])
    elif arn.service == "lambda":
        from moto.awslambda.models import lambda_backends

        fn = lambda_backends[arn.account][arn.region].get_function(target["Arn"])
        fn.invoke(payload, {"x-amz-invocation-type": "Event"}, {})


def _dead_letter(target: dict, payload: str, error: Exception) -> None:
    dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
    LOG.warning("EventBridge delivery to %s failed: %s", target.get("Arn"), error)
    if not dlq:
        return
    from moto.sqs import sqs_backends
    from moto.utilities.arns import parse_arn

    q = parse_arn(dlq)
    sqs_backends[q.account][q.region].send_message(queue_name=q.resource_id, message_body=payload)


def apply() -> None:
    from moto.events.models import Rule
    from moto.utilities.arns import parse_arn

    if getattr(Rule.send_to_targets, "_cleanroom_patched", False):
        return
    original = Rule.send_to_targets

    def send_to_targets(self, original_event, transform_input=True):  # type: ignore[no-untyped-def]
        if not self.event_pattern.matches_event(original_event):
            return
        ours = [t for t in self.targets if parse_arn(t["Arn"]).service in ("states", "sns", "lambda")]
        if len(ours) < len(self.targets):
            rest = copy.copy(self)
            rest.targets = [t for t in self.targets if t not in ours]
            original(rest, original_event, transform_input)
        event = _aws_event(original_event)
        for target in ours:
            payload = _target_input(target, event, original_event) if transform_input else json.dumps(event)
            try:
                _deliver(target, parse_arn(target["Arn"]), payload)
            except Exception as e:  # AWS: PutEvents succeeds; the event goes to the DLQ
                _dead_letter(target, payload, e)

    send_to_targets._cleanroom_patched = True  # type: ignore[attr-defined]
    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]

