"""Test-only, not an AWS API: make the next N requests that match a pattern fail as AWS fails them.

What AWS does that this stands in for: any AWS call may fail transiently — an S3 `500 InternalError`
("We encountered an internal error. Please try again."), a `503 SlowDown`, EC2's
`RequestLimitExceeded` — and the SDK's retries may all fail too, so that the error reaches the
caller in the middle of its work (S3 error responses: Amazon S3 API Reference, "Error responses";
EC2: "Error codes for the Amazon EC2 API"). moto never fails that way, so the code paths that must
survive it (a Lambda step that throws halfway, retried by the state machine's Retry) cannot be
exercised against it unaided.

This patch adds one control endpoint to the local AWS, answered before moto sees the request:

    POST /moto-api/cleanroom/faults   {"method": "PUT", "path": "regex", "target": "Action or X-Amz-Target",
                                        "bodyContains": "text", "count": N, "status": 500,
                                        "code": "InternalError", "message": "..."}
        arms a fault (every field but count optional; all given must match a request) → {"id": ...}
    GET  /moto-api/cleanroom/faults   → {"faults": [{... , "id", "remaining", "fired"}]}
    DELETE /moto-api/cleanroom/faults → disarms every fault

A request that matches an armed fault with calls remaining is answered with `status` and an error
body in the protocol of the request (JSON `{"__type", "message"}` when it has an X-Amz-Target
header; EC2's `<Response><Errors><Error>` for a query request with Action=; S3's `<Error>` otherwise)
and nothing else happens: moto never sees it, as when AWS fails a request before acting on it.
Faults are matched in the order armed; each counts down and then stops matching.

Used by test/cli/automation-retry.test.ts (local-aws/local-aws.ts `armFault`); docs/local-aws.md.
"""
import json
import re
import threading
import uuid
from io import BytesIO
from xml.sax.saxutils import escape

PATH = "/moto-api/cleanroom/faults"
_lock = threading.Lock()
_faults: list = []


def _read_body(environ) -> bytes:  # type: ignore[no-untyped-def]
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= 0:
        return b""
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = BytesIO(body)
    return body


def _target(environ, body: bytes) -> str:  # type: ignore[no-untyped-def]
    t = environ.get("HTTP_X_AMZ_TARGET")
    if t:
        return t.split(".")[-1]
    for text in (body, environ.get("QUERY_STRING", "").encode()):
        m = re.search(rb"(?:^|&)Action=([A-Za-z0-9]+)", text)
        if m:
            return m.group(1).decode()
    return ""


def _matches(f: dict, environ, body: bytes) -> bool:  # type: ignore[no-untyped-def]
    if f["remaining"] <= 0:
        return False
    if f.get("method") and environ.get("REQUEST_METHOD") != f["method"]:
        return False
    if f.get("path") and not re.search(f["path"], environ.get("PATH_INFO", "")):
        return False
    if f.get("target") and _target(environ, body) != f["target"]:
        return False
    if f.get("bodyContains") and f["bodyContains"].encode() not in body:
        return False
    return True


def _error(environ, f: dict, body_text: bytes, start_response):  # type: ignore[no-untyped-def]
    code = f.get("code", "InternalError")
    message = f.get("message", "We encountered an internal error. Please try again.")
    request_id = str(uuid.uuid4())
    status = int(f.get("status", 500))
    if environ.get("HTTP_X_AMZ_TARGET"):
        ctype, body = "application/x-amz-json-1.1", json.dumps({"__type": code, "message": message})
    elif re.search(rb"(?:^|&)Action=", body_text):
        ctype = "text/xml"
        body = (
            f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
    else:
        ctype = "application/xml"
        body = (
            f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message><RequestId>{request_id}</RequestId></Error>"
        )
    data = body.encode()
    start_response(
        f"{status} Injected",
        [("Content-Type", ctype), ("Content-Length", str(len(data))), ("x-amz-request-id", request_id)],
    )
    return [data]


def _control(environ, start_response):  # type: ignore[no-untyped-def]
    method = environ.get("REQUEST_METHOD")
    status, out = "200 OK", {}
    with _lock:
        if method == "POST":
            try:
                spec = json.loads(_read_body(environ) or b"{}")
                count = int(spec.get("count", 1))
                if spec.get("path"):
                    re.compile(spec["path"])
            except (ValueError, TypeError, re.error) as e:
                status, out = "400 Bad Request", {"message": f"bad fault: {e}"}
            else:
                f = {**spec, "id": str(uuid.uuid4()), "count": count, "remaining": count, "fired": 0}
                _faults.append(f)
                out = {"id": f["id"]}
        elif method == "DELETE":
            _faults.clear()
        else:
            out = {"faults": [dict(f) for f in _faults]}
    data = json.dumps(out).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def apply() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    if getattr(DomainDispatcherApplication.__call__, "_cleanroom_faults", False):
        return
    original = DomainDispatcherApplication.__call__

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        if environ.get("PATH_INFO") == PATH:
            return _control(environ, start_response)
        if _faults:  # only then is the body read (and put back) to be matched
            body = _read_body(environ)
            with _lock:
                hit = next((f for f in _faults if _matches(f, environ, body)), None)
                if hit is not None:
                    hit["remaining"] -= 1
                    hit["fired"] += 1
            if hit is not None:
                return _error(environ, hit, body, start_response)
        return original(self, environ, start_response)

    __call__._cleanroom_faults = True  # type: ignore[attr-defined]
    DomainDispatcherApplication.__call__ = __call__  # type: ignore[method-assign]
