"""Evaluate the Condition block of S3 bucket policies, as AWS does, for object requests.

AWS behaviour restored (documented):
- Bucket policies are evaluated with their conditions; a Deny statement applies only when its
  conditions hold. "Enforce encryption of data in transit" denies with
  `"Bool": {"aws:SecureTransport": "false"}` — requests over TLS are not affected:
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html
- Requiring SSE-KMS uploads with `s3:x-amz-server-side-encryption` (Null / StringNotEquals):
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/specifying-kms-encryption.html
- Condition operators, `...IfExists`, `Null`, and a missing key making negated operators true:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
- Several values for one key are ORed, several keys and operators ANDed:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html
- A multipart upload asks for its encryption once, in CreateMultipartUpload; UploadPart takes no
  SSE-KMS header ("you specify the encryption when you initiate the upload"):
  https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPart.html and
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html. The parts and the
  completion of an upload started with SSE-KMS are therefore not refused by the "Requiring SSE-KMS"
  policy (writers that only ever use multipart uploads, such as Hadoop S3A, are documented with it).
- The bucket policy is checked for the request's IAM action: `PUT ?retention` is
  `s3:PutObjectRetention` (also `?legal-hold`, `?tagging`, `?acl`: their own actions), and
  CreateMultipartUpload / CompleteMultipartUpload (`POST ?uploads`, `POST ?uploadId`) are
  `s3:PutObject` (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html,
  and the Permissions section of each API page). moto names the action after the HTTP method only
  (`s3:PutObject` for every PUT, `s3:PostObject` for every POST).

moto 5.2.1 (moto/iam/access_control.py IAMPolicyStatement, moto/iam/policy_conditions.py) evaluates
only `StringEquals`, never passes request values to bucket policies, and returns DENIED for any
statement — Allow or Deny — whose conditions it finds unmet; so any Deny statement with a
condition denies every object request, over TLS or not (docs/local-aws.md, "Bucket policy").

- `NotResource`: the statement applies to every resource except those it names
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notresource.html).

Scope of this patch: `FakeBucket.get_permission` (the check moto makes for object requests and
DeleteObjects) evaluates the bucket policy with a request context holding `aws:SecureTransport`,
`s3:x-amz-server-side-encryption` and `s3:x-amz-server-side-encryption-aws-kms-key-id`, taken from
the request being served — for a request naming an `uploadId` (UploadPart, CompleteMultipartUpload),
from the CreateMultipartUpload of that upload. Principals are handled as moto handles them (only "*" / {"AWS": "*"}
statements apply). Operators outside the documented list below are treated as matching, as moto
did, so the patch never turns a deny into an allow it cannot justify. Nothing else changes.
"""
import fnmatch
import threading
from urllib.parse import parse_qs, urlparse

_current = threading.local()
# upload id -> (x-amz-server-side-encryption, kms key id) its CreateMultipartUpload asked for
_uploads = {}

_SUPPORTED = {
    "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
    "StringLike", "StringNotLike", "Bool", "Null",
}


_SUBRESOURCE_ACTIONS = {
    "retention": "s3:PutObjectRetention",
    "legal-hold": "s3:PutObjectLegalHold",
    "tagging": "s3:PutObjectTagging",
    "acl": "s3:PutObjectAcl",
}


def _request_action(action, query):
    """The IAM action of an object request, from moto's method-derived one and the query."""
    if action == "s3:PutObject":
        for sub, real in _SUBRESOURCE_ACTIONS.items():
            if sub in query:
                return real
    if action == "s3:PostObject" and ("uploads" in query or "uploadId" in query):
        return "s3:PutObject"
    return action


def _context(request, full_url):
    headers = {k.lower(): v for k, v in dict(request.headers).items()}
    scheme = getattr(request, "scheme", None) or (full_url.split(":", 1)[0] if full_url else "http")
    ctx = {"aws:securetransport": "true" if str(scheme).lower() == "https" else "false"}
    if "x-amz-server-side-encryption" in headers:
        ctx["s3:x-amz-server-side-encryption"] = headers["x-amz-server-side-encryption"]
    if "x-amz-server-side-encryption-aws-kms-key-id" in headers:
        ctx["s3:x-amz-server-side-encryption-aws-kms-key-id"] = headers["x-amz-server-side-encryption-aws-kms-key-id"]
    query = parse_qs(urlparse(full_url or "").query, keep_blank_values=True)
    ctx["__query__"] = query
    upload = (query.get("uploadId") or [None])[0]
    if upload in _uploads and "s3:x-amz-server-side-encryption" not in ctx:
        sse, kms_key = _uploads[upload]
        if sse:
            ctx["s3:x-amz-server-side-encryption"] = sse
        if kms_key:
            ctx["s3:x-amz-server-side-encryption-aws-kms-key-id"] = kms_key
    return ctx


def _as_list(x):
    if x is None:
        return []
    return x if isinstance(x, list) else [x]


def _match_one(op, expected, actual):
    if op in ("StringEquals", "StringNotEquals", "Bool"):
        return actual == expected if op != "Bool" else actual.lower() == str(expected).lower()
    if op in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return actual.lower() == str(expected).lower()
    if op in ("StringLike", "StringNotLike"):
        return fnmatch.fnmatchcase(actual, str(expected))
    return False


def _condition_holds(op_full, key, expected_values, ctx):
    if_exists = op_full.endswith("IfExists")
    op = op_full[: -len("IfExists")] if if_exists else op_full
    if op not in _SUPPORTED:
        return True
    values = [str(v) for v in _as_list(expected_values)]
    present = key.lower() in ctx
    if op == "Null":
        want_absent = any(v.lower() == "true" for v in values)
        return (not present) if want_absent else present
    if not present:
        # ...IfExists and negated operators match a missing key; the others do not.
        return if_exists or op.startswith("StringNot")
    actual = ctx[key.lower()]
    hit = any(_match_one(op, v, actual) for v in values)
    return not hit if op.startswith("StringNot") else hit


def _conditions_hold(conditions, ctx):
    for op, block in (conditions or {}).items():
        for key, expected in block.items():
            if not _condition_holds(op, key, expected, ctx):
                return False
    return True


def _matches(patterns, value):
    return any(fnmatch.fnmatchcase(value.lower(), str(p).lower()) for p in _as_list(patterns))


def _everyone(principal):
    if principal == "*":
        return True
    return isinstance(principal, dict) and "*" in _as_list(principal.get("AWS"))


def apply():
    import json
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket, FakeMultipart
    from moto.s3.responses import S3Response

    init_multipart = FakeMultipart.__init__

    def remember_encryption(self, *a, **kw):
        init_multipart(self, *a, **kw)
        _uploads[self.id] = (self.sse_encryption, getattr(self, "kms_key_id", None))

    FakeMultipart.__init__ = remember_encryption


    def get_permission(self, action, resource):
        if self.policy is None:
            return PermissionResult.NEUTRAL
        doc = json.loads(self.policy.decode())
        ctx = getattr(_current, "ctx", None) or {}
        action = _request_action(action, ctx.get("__query__") or {})
        result = PermissionResult.NEUTRAL
        for st in _as_list(doc.get("Statement")):
            if "NotAction" in st:
                if _matches(st["NotAction"], action):
                    continue
            elif not _matches(st.get("Action"), action):
                continue
            if "NotResource" in st:
                if _matches(st["NotResource"], resource):
                    continue
            elif not _matches(st.get("Resource"), resource):
                continue
            if not _everyone(st.get("Principal")):
                continue
            if not _conditions_hold(st.get("Condition"), ctx):
                continue
            if st.get("Effect") == "Deny":
                return PermissionResult.DENIED
            result = PermissionResult.PERMITTED
        return result

    FakeBucket.get_permission = get_permission

    def with_context(fn):
        def wrapped(self, request, full_url, headers, *a, **kw):
            _current.ctx = _context(request, full_url)
            try:
                return fn(self, request, full_url, headers, *a, **kw)
            finally:
                _current.ctx = None

        return wrapped

    S3Response.key_response = with_context(S3Response.key_response)
    S3Response.bucket_response = with_context(S3Response.bucket_response)
