"""Lambda Invoke of a nodejs* function runs the function's deployed code, in a Node.js process.

AWS (Lambda Developer Guide, "Building Lambda functions with Node.js", "Lambda execution
environment", "Invoke"): Invoke runs the function's handler (`Handler` = "<file>.<export>" in the
deployment package) with the event and a context object (functionName, invokedFunctionArn,
awsRequestId, getRemainingTimeInMillis, ...), in an environment holding the function's
`Environment.Variables` plus the reserved variables (AWS_REGION, AWS_LAMBDA_FUNCTION_NAME, ...,
and the execution role's temporary credentials AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
AWS_SESSION_TOKEN). RequestResponse answers the handler's result as JSON; a thrown error answers
HTTP 200 with `X-Amz-Function-Error: Unhandled` and the payload `{"errorType": err.name,
"errorMessage", "trace"}` (Step Functions matches `errorType` in Retry/Catch `ErrorEquals`); a run
longer than `Timeout` is stopped ("Task timed out after N seconds", errorType `Sandbox.Timedout`).
`Event` invocations (and SNS deliveries to a Lambda subscription) are queued and answered 202 at
once. Invocations run concurrently.

moto 5.2.1 runs Lambda code only in Docker (not available here: every invocation fails with
"error running docker") and, with Docker off, echoes a canned response; a thrown error is reported
as `Handled`.

This patch: for a function whose Runtime starts with "nodejs" (others keep moto's behaviour), the
code zip moto kept at CreateFunction / UpdateFunctionCode (from S3Bucket/S3Key or ZipFile — also
when CloudFormation created it) is unpacked once into `<state dir>/lambda/code/<CodeSha256 hex>/`
and each invocation runs `node local-aws/lambda_runner.mjs` (the Node binary in
CLEANROOM_LAMBDA_NODE, the harness passes its own Node 24) in its own process. Its environment:
the function's variables, then the reserved ones — AWS_REGION/AWS_DEFAULT_REGION, the
AWS_LAMBDA_* names, temporary credentials from STS AssumeRole of the function's role (session name
= function name, so GetCallerIdentity answers `assumed-role/<role>/<function>` as in AWS), and, for
the local AWS only, AWS_ENDPOINT_URL (this server's https URL) and NODE_EXTRA_CA_CERTS (the test CA
the harness trusts). The process's stdout and stderr go to
`<state dir>/lambda/logs/<function>/<request id>.log` (and to CloudWatch Logs as moto does). Timeout
is honoured (the process is killed). Invocation type Event, and SNS's delivery to a subscribed
function, run in a background thread.

Gaps: no reuse of a warm environment between invocations (every invocation is a cold start, so
module-level state does not carry over), no memory limit, no layers, no /tmp isolation, the
Node version is the harness's (24) whatever nodejsNN.x the function names, no response streaming,
no asynchronous retries or destinations for Event invocations.

Tested by test/local-aws/fidelity-sfn-lambda-events.test.ts.
"""
import base64
import io
import json
import os
import subprocess
import tempfile
import threading
import time
import uuid
import zipfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER = os.path.join(HERE, "lambda_runner.mjs")
_unpack_lock = threading.Lock()


def state_dir() -> str:
    d = os.environ.get("CLEANROOM_LOCAL_AWS_STATE_DIR")
    if not d:
        d = tempfile.mkdtemp(prefix="cleanroom-local-aws-")
        os.environ["CLEANROOM_LOCAL_AWS_STATE_DIR"] = d
    return d


def node_binary() -> str:
    explicit = os.environ.get("CLEANROOM_LAMBDA_NODE")
    if explicit:
        return explicit
    bundled = os.path.join(os.path.dirname(HERE), "node_modules", ".bin", "node")
    return bundled if os.path.exists(bundled) else "node"


def _task_root(fn) -> str:  # type: ignore[no-untyped-def]
    sha_hex = base64.b64decode(fn.code_sha_256).hex()
    root = os.path.join(state_dir(), "lambda", "code", sha_hex)
    with _unpack_lock:
        if not os.path.isdir(root):
            tmp = root + ".tmp-" + uuid.uuid4().hex
            os.makedirs(tmp)
            with zipfile.ZipFile(io.BytesIO(fn.code_bytes)) as z:
                z.extractall(tmp)
            os.rename(tmp, root)
    return root


def _credentials(fn) -> dict:  # type: ignore[no-untyped-def]
    try:
        from moto.sts.models import sts_backends
        from moto.utilities.utils import get_partition

        role = sts_backends[fn.account_id][get_partition(fn.region)].assume_role(
            region_name=fn.region,
            role_session_name=fn.function_name,
            role_arn=fn.role,
            policy=None,
            duration=max(900, int(fn.timeout) + 60),
            external_id=None,
        )
        return {
            "AWS_ACCESS_KEY_ID": role.access_key_id,
            "AWS_SECRET_ACCESS_KEY": role.secret_access_key,
            "AWS_SESSION_TOKEN": role.session_token,
        }
    except Exception:  # a role moto cannot assume: the default account's test keys
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def run_node(fn, event_text: str) -> tuple[dict, str]:  # type: ignore[no-untyped-def]
    """Run one invocation; return (outcome, request id). Outcome: {"ok", "result"} or an error payload."""
    request_id = str(uuid.uuid4())
    timeout = float(fn.timeout or 3)
    root = _task_root(fn)
    log_dir = os.path.join(state_dir(), "lambda", "logs", fn.function_name)
    os.makedirs(log_dir, exist_ok=True)
    log_path = os.path.join(log_dir, f"{request_id}.log")
    result_path = os.path.join(state_dir(), "lambda", f"result-{request_id}.json")
    port = os.environ.get("MOTO_PORT", "5000")
    now = time.gmtime()
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    env.update({k: str(v) for k, v in (fn.environment_vars or {}).items()})
    env.update(_credentials(fn))
    env.update(
        {
            "AWS_REGION": fn.region,
            "AWS_DEFAULT_REGION": fn.region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time}",
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": fn.logs_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d", now) + f"/[$LATEST]{request_id.replace('-', '')}",
            "LAMBDA_TASK_ROOT": root,
            "_HANDLER": fn.handler,
            "TZ": ":UTC",
            # The local AWS only: where "AWS" is, and the CA its TLS certificate is signed by.
            "AWS_ENDPOINT_URL": f"https://127.0.0.1:{port}",
            "NODE_EXTRA_CA_CERTS": os.environ.get("CLEANROOM_TEST_CA_CERT", ""),
            "LAMBDA_RUNNER_DEADLINE_MS": str(int(time.time() * 1000 + timeout * 1000)),
        }
    )
    with open(log_path, "wb") as log:
        log.write(f"START RequestId: {request_id} Version: $LATEST\n".encode())
        log.flush()
        proc = subprocess.Popen(
            [node_binary(), RUNNER, root, fn.handler, result_path, fn.function_arn, request_id],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=log,
            cwd=root,
            env=env,
        )
        timed_out = False
        try:
            proc.communicate(event_text.encode("utf-8"), timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.kill()
            proc.wait()
        log.write(f"END RequestId: {request_id}\n".encode())
    try:  # CloudWatch Logs, as moto does for its Docker runs
        fn.logs_backend.ensure_log_group(fn.logs_group_name)
        with open(log_path, encoding="utf-8", errors="replace") as f:
            fn.save_logs(f.read())
    except Exception:
        pass
    if timed_out:
        outcome = {
            "ok": False,
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
        }
    elif os.path.exists(result_path):
        with open(result_path, encoding="utf-8") as f:
            outcome = json.load(f)
        os.remove(result_path)
    else:
        outcome = {
            "ok": False,
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status {proc.returncode}",
        }
    return outcome, request_id


_async = threading.local()


def apply() -> None:
    from moto.awslambda.models import LambdaBackend, LambdaFunction

    if getattr(LambdaFunction.invoke, "_cleanroom_patched", False):
        return
    original = LambdaFunction.invoke

    def invoke(self, body, request_headers, response_headers):  # type: ignore[no-untyped-def]
        if not str(self.run_time or "").startswith("nodejs") or not getattr(self, "code_bytes", b""):
            return original(self, body, request_headers, response_headers)
        event_text = body if isinstance(body, str) and body else "{}"
        if isinstance(body, bytes):
            event_text = body.decode("utf-8") or "{}"
        inv_type = request_headers.get("x-amz-invocation-type", "RequestResponse")
        if inv_type == "Event" or getattr(_async, "on", False):
            threading.Thread(target=run_node, args=(self, event_text), daemon=True).start()
            return b""
        if inv_type == "DryRun":
            return b""
        outcome, request_id = run_node(self, event_text)
        response_headers["x-amz-executed-version"] = "$LATEST"
        response_headers["x-amz-request-id"] = request_id
        if outcome.get("ok"):
            return json.dumps(outcome.get("result")).encode("utf-8")
        response_headers["x-amz-function-error"] = "Unhandled"
        payload = {k: v for k, v in outcome.items() if k in ("errorType", "errorMessage", "trace")}
        return json.dumps(payload).encode("utf-8")

    invoke._cleanroom_patched = True  # type: ignore[attr-defined]
    LambdaFunction.invoke = invoke  # type: ignore[method-assign]

    # SNS delivers to a Lambda subscription asynchronously (moto: a RequestResponse invoke inside
    # Publish, which would hold a state machine's sns:publish until the function returns).
    send_sns_message = LambdaBackend.send_sns_message

    def send_sns_message_async(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        _async.on = True
        try:
            return send_sns_message(self, *args, **kwargs)
        finally:
            _async.on = False

    LambdaBackend.send_sns_message = send_sns_message_async  # type: ignore[method-assign]
