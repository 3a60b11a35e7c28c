"""The Step Functions interpreter's own AWS calls reach this server over TLS, in the state machine's account.

AWS (Step Functions Developer Guide, "Integrating services with Step Functions", "Reading input
from S3 with ItemReader", "Call Lambda", "Call Amazon SNS", "Start a new AWS Step Functions state
machine execution"): a Task's service integration (`arn:aws:states:::lambda:invoke`, a Lambda
function ARN, `arn:aws:states:::sns:publish`, `arn:aws:states:::states:startExecution(.sync:2)`,
`aws-sdk:*`) and a Distributed Map's ItemReader / ResultWriter (`arn:aws:states:::s3:getObject`)
call the service on behalf of the execution, in the state machine's account and Region.

moto 5.2.1's interpreter (moto/stepfunctions/parser/asl/utils/boto_client.py `boto_client_for`)
makes those calls with boto3 to `http://localhost:<MOTO_PORT>` with the keys "ak"/"sk". This
server speaks only TLS (local-aws/moto_launcher.py), so every such call fails (a Lambda task ends
in States.TaskFailed, an ItemReader in States.ItemReaderFailed).

This patch points `boto_client_for` at `https://127.0.0.1:<MOTO_PORT>`, trusting the local test CA
(CLEANROOM_TEST_CA_CERT, set by the launcher), and — when the state machine's role is known —
signs with credentials of an STS AssumeRole of that role (as Step Functions acts as its role), so
the call runs in the role's account. It is rebound in every interpreter module that imported it.

Gaps: the role's permissions are not evaluated (moto does not enforce IAM); no retries of the
internal calls (moto sets max_attempts 0).

Tested by test/local-aws/fidelity-sfn-lambda-events.test.ts.
"""
import os
import sys
from typing import Any


def _client(region: str, service: str, state_credentials: Any = None):  # type: ignore[no-untyped-def]
    import boto3
    from botocore.config import Config
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    keys = {"aws_access_key_id": "ak", "aws_secret_access_key": "sk"}
    role_arn = getattr(state_credentials, "role_arn", None)
    if role_arn:
        try:
            from moto.sts.models import sts_backends
            from moto.utilities.utils import get_partition

            account = role_arn.split(":")[4]
            role = sts_backends[account][get_partition(region)].assume_role(
                region_name=region,
                role_session_name="states",
                role_arn=role_arn,
                policy=None,
                duration=3600,
                external_id=None,
            )
            keys = {
                "aws_access_key_id": role.access_key_id,
                "aws_secret_access_key": role.secret_access_key,
                "aws_session_token": role.session_token,
            }
        except Exception:
            pass
    ca = os.environ.get("CLEANROOM_TEST_CA_CERT")
    return boto3.client(
        region_name=region,
        service_name=service,
        endpoint_url=f"https://127.0.0.1:{moto_server_port()}",
        verify=ca if ca else False,
        config=Config(
            parameter_validation=False,
            retries={"max_attempts": 0, "total_max_attempts": 1},
            connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            # Path-style: the endpoint is an IP address (bucket subdomains cannot resolve).
            s3={"addressing_style": "path"},
        ),
        **keys,
    )


def apply() -> None:
    import moto.stepfunctions.parser.asl.utils.boto_client as boto_client

    if getattr(boto_client.boto_client_for, "_cleanroom_patched", False):
        return
    original = boto_client.boto_client_for
    _client._cleanroom_patched = True  # type: ignore[attr-defined]
    boto_client.boto_client_for = _client
    # Modules that imported it by name before this patch; those imported later read the patched one.
    for mod in list(sys.modules.values()):
        if getattr(mod, "boto_client_for", None) is original:
            mod.boto_client_for = _client  # type: ignore[attr-defined]
