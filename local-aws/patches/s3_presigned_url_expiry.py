"""Presigned S3 URLs expire, as on AWS.

AWS behaviour restored (documented): a presigned URL is valid for X-Amz-Expires seconds from
X-Amz-Date; a request made with it later is refused with HTTP 403, error code AccessDenied and
the message "Request has expired" (Amazon S3 User Guide, "Sharing objects with presigned URLs":
"If you try to use a presigned URL after it expires, Amazon S3 returns an AccessDenied error";
Amazon S3 API Reference, "Authenticating Requests: Using Query Parameters (AWS Signature Version
4)": X-Amz-Expires "provides the time period, in seconds, for which the generated presigned URL is
valid"). moto 5.2.1 does not look at either parameter: an expired URL works forever.

Scope of this patch: an object request (moto's `S3Response.key_response`) whose query carries
X-Amz-Date and X-Amz-Expires, made after their sum, is answered 403 AccessDenied "Request has
expired" as AWS's body writes it (with X-Amz-Expires, Expires and ServerTime). Nothing else
changes: moto still verifies no signature.

Tested by test/local-aws/fidelity-s3-presigned-url-expiry.test.ts.
"""
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse


def expired_answer(full_url, now=None):  # type: ignore[no-untyped-def]
    """The 403 answer for an expired presigned URL, or None while it is valid (or not presigned)."""
    query = parse_qs(urlparse(full_url).query)
    date = (query.get("X-Amz-Date") or [None])[0]
    expires = (query.get("X-Amz-Expires") or [None])[0]
    if not date or not expires:
        return None
    try:
        signed = datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        until = signed + timedelta(seconds=int(expires))
    except ValueError:
        return None
    now = now or datetime.now(timezone.utc)
    if now <= until:
        return None
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<Error><Code>AccessDenied</Code><Message>Request has expired</Message>"
        f"<X-Amz-Expires>{int(expires)}</X-Amz-Expires>"
        f"<Expires>{until.strftime(fmt)}</Expires><ServerTime>{now.strftime(fmt)}</ServerTime>"
        "<RequestId>0000000000000000</RequestId><HostId>cleanroom-local-aws</HostId></Error>"
    )
    return 403, {"content-type": "application/xml"}, body.encode("utf-8")


def apply() -> None:
    from moto.s3.responses import S3Response

    original = S3Response.key_response
    if getattr(original, "_cleanroom_patched", False):
        return

    def key_response(self, request, full_url, headers):  # type: ignore[no-untyped-def]
        answer = expired_answer(full_url)
        if answer is not None:
            return answer
        return original(self, request, full_url, headers)

    key_response._cleanroom_patched = True  # type: ignore[attr-defined]
    S3Response.key_response = key_response  # type: ignore[method-assign]
