"""Fidelity patch: Session Manager's control plane (StartSession, TerminateSession,
ResumeSession, DescribeSessions), which moto 5.2.1 does not have at all (an unknown action).

What AWS documents
------------------
- Systems Manager API Reference, StartSession
  (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_StartSession.html):
  Target (an instance id), DocumentName (default SSM-SessionManagerRunShell), Parameters, Reason;
  returns SessionId, TokenValue and StreamUrl
  (`wss://ssmmessages.<region>.amazonaws.com/v1/data-channel/<session-id>?role=publish_subscribe`).
  Errors: TargetNotConnected ("the specified target instance for the session isn't fully
  configured for use with Session Manager", e.g. not running), InvalidDocument ("The specified SSM
  document doesn't exist" / is not a Session document).
- The session id is the caller's name and a random suffix, e.g. `Erik-07a16060613c408b5` (AWS CLI
  reference, `aws ssm start-session`, example output); for an assumed role the name is its role
  session name. IAM policies rely on that prefix (`session/${aws:username}-*`, Session Manager user
  guide, "Allow a user to end only sessions they started").
- TerminateSession (API_TerminateSession.html): "Permanently ends a session"; returns SessionId.
  ResumeSession (API_ResumeSession.html): returns SessionId, TokenValue, StreamUrl.
- DescribeSessions (API_DescribeSessions.html): State `Active` or `History` (required); Filters
  with keys InvokedAfter, InvokedBefore, Target, Owner, Status, SessionId; each Session has
  SessionId, Target, Status (Connected | Connecting | Disconnected | Terminated | Terminating |
  Failed), StartDate, EndDate, DocumentName, Owner (the caller's ARN), Reason, MaxSessionDuration.

What moto 5.2.1 does instead
----------------------------
Nothing: the actions are not implemented (docs/local-aws.md, "Session Manager").

What this patch adds, and nothing else
--------------------------------------
A Session document made by CloudFormation (AWS::SSM::Document, `Content` given as an object, as
the room template does) keeps its content as JSON text, as AWS stores and returns it (GetDocument
`Content` is a string: API_GetDocument.html); moto 5.2.1 keeps the parsed object and answers
GetDocument with it (not a string), so nothing can read the document back.

The control plane only: StartSession checks that the target is an instance of the account and
Region that exists and is `running` (else TargetNotConnected) and that the document exists and is
of type Session (else InvalidDocument); it keeps the session `Connected` until TerminateSession
(then `Terminated`, with an EndDate, listed under History). No data channel: the StreamUrl answers
nothing, no SSM agent runs, so no transcript is ever written by the local AWS — a test that needs
one plays the agent itself (test/harness/fake-session-manager-plugin).
"""
import datetime
import secrets

from moto.core.responses import ActionResult
from moto.ssm.exceptions import InvalidDocument, SSMException, ValidationException
from moto.ssm.responses import SimpleSystemManagerResponse

_ACTIVE = {"Connected", "Connecting", "Disconnected", "Terminating"}


class TargetNotConnected(SSMException):
    def __init__(self, target: str):
        super().__init__("TargetNotConnected", f"{target} is not connected.")


class DoesNotExist(SSMException):
    def __init__(self, message: str):
        super().__init__("DoesNotExistException", message)


def _sessions(response):  # type: ignore[no-untyped-def]
    backend = response.ssm_backend
    if not hasattr(backend, "_cleanroom_sessions"):
        backend._cleanroom_sessions = {}
    return backend._cleanroom_sessions


def _caller(response):  # type: ignore[no-untyped-def]
    """(prefix of the session id, the caller's ARN): the user name or role session name."""
    from moto.sts.models import sts_backends

    sts = sts_backends[response.current_account][response.partition]
    _, arn, _ = sts.get_caller_identity(response.get_access_key(), response.region)
    return arn.rsplit("/", 1)[-1], arn


def _stream(response, session_id):  # type: ignore[no-untyped-def]
    return f"wss://ssmmessages.{response.region}.amazonaws.com/v1/data-channel/{session_id}?role=publish_subscribe"


def _running_instance(response, target):  # type: ignore[no-untyped-def]
    from moto.ec2.models import ec2_backends

    ec2 = ec2_backends[response.current_account][response.region]
    for reservation in ec2.reservations.values():
        for instance in reservation.instances:
            if instance.id == target:
                return instance if instance.state == "running" else None
    return None


def start_session(self):  # type: ignore[no-untyped-def]
    target = self._get_param("Target")
    name = self._get_param("DocumentName") or "SSM-SessionManagerRunShell"
    reason = self._get_param("Reason")
    if not target:
        raise ValidationException("1 validation error detected: Value null at 'target' failed to satisfy constraint: Member must not be null")
    if _running_instance(self, target) is None:
        raise TargetNotConnected(target)
    documents = self.ssm_backend._documents.get(name)
    if documents is None:
        raise InvalidDocument(f"Document with name {name} does not exist.")
    document = documents.get_default_version()
    if document.document_type != "Session":
        raise InvalidDocument(f"{name} is not a Session document (DocumentType {document.document_type}).")
    prefix, owner = _caller(self)
    session_id = f"{prefix}-{secrets.token_hex(9)[:17]}"
    _sessions(self)[session_id] = {
        "SessionId": session_id,
        "Target": target,
        "Status": "Connected",
        "StartDate": datetime.datetime.now(datetime.timezone.utc),
        "DocumentName": name,
        "Owner": owner,
        **({"Reason": reason} if reason else {}),
    }
    return ActionResult({"SessionId": session_id, "TokenValue": secrets.token_urlsafe(48), "StreamUrl": _stream(self, session_id)})


def terminate_session(self):  # type: ignore[no-untyped-def]
    session_id = self._get_param("SessionId")
    s = _sessions(self).get(session_id)
    if s is None:
        raise DoesNotExist(f"Session with id {session_id} does not exist.")
    if s["Status"] in _ACTIVE:
        s["Status"] = "Terminated"
        s["EndDate"] = datetime.datetime.now(datetime.timezone.utc)
    return ActionResult({"SessionId": session_id})


def resume_session(self):  # type: ignore[no-untyped-def]
    session_id = self._get_param("SessionId")
    s = _sessions(self).get(session_id)
    if s is None or s["Status"] not in _ACTIVE:
        raise DoesNotExist(f"Session with id {session_id} does not exist or is not active.")
    return ActionResult({"SessionId": session_id, "TokenValue": secrets.token_urlsafe(48), "StreamUrl": _stream(self, session_id)})


def _as_time(value):  # type: ignore[no-untyped-def]
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def describe_sessions(self):  # type: ignore[no-untyped-def]
    state = self._get_param("State")
    if state not in ("Active", "History"):
        raise ValidationException(f"1 validation error detected: Value '{state}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [Active, History]")
    found = [s for s in _sessions(self).values() if (s["Status"] in _ACTIVE) == (state == "Active")]
    for f in self._get_param("Filters") or []:
        key, value = f.get("key") or f.get("Key"), f.get("value") or f.get("Value")
        if key == "InvokedAfter":
            found = [s for s in found if s["StartDate"] >= _as_time(value)]
        elif key == "InvokedBefore":
            found = [s for s in found if s["StartDate"] <= _as_time(value)]
        elif key in ("Target", "Owner", "Status", "SessionId"):
            found = [s for s in found if s.get(key) == value]
        else:
            raise ValidationException(f"Invalid filter key {key}")
    found.sort(key=lambda s: s["StartDate"], reverse=True)
    return ActionResult({"Sessions": found})


def _json_content_from_cloudformation():  # type: ignore[no-untyped-def]
    import json

    from moto.ssm.models import Document

    original = Document.create_from_cloudformation_json.__func__

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # type: ignore[no-untyped-def]
        props = cloudformation_json.get("Properties", {})
        if isinstance(props.get("Content"), dict) and (props.get("DocumentFormat") or "JSON") == "JSON":
            cloudformation_json = {**cloudformation_json, "Properties": {**props, "Content": json.dumps(props["Content"])}}
        return original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    Document.create_from_cloudformation_json = classmethod(create)  # type: ignore[assignment,method-assign]


def apply() -> None:
    if getattr(SimpleSystemManagerResponse, "_cleanroom_sessions_patched", False):
        return
    _json_content_from_cloudformation()
    SimpleSystemManagerResponse.start_session = start_session  # type: ignore[attr-defined]
    SimpleSystemManagerResponse.terminate_session = terminate_session  # type: ignore[attr-defined]
    SimpleSystemManagerResponse.resume_session = resume_session  # type: ignore[attr-defined]
    SimpleSystemManagerResponse.describe_sessions = describe_sessions  # type: ignore[attr-defined]
    SimpleSystemManagerResponse._cleanroom_sessions_patched = True  # type: ignore[attr-defined]
