"""Make S3 conditional writes atomic: `If-None-Match: *` and `If-Match` on PutObject are checked
and the object written as one step, as AWS does.

AWS behaviour restored (documented):
- "If multiple conditional writes occur for the same object name, the first write operation to
  finish succeeds. Amazon S3 then fails subsequent writes with a 412 Precondition Failed response."
  and, for writes in flight at once, "a 409 Conflict response" (ConditionalRequestConflict):
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
- PutObject `If-None-Match`: "Uploads the object only if the object key name does not already
  exist in the bucket specified. Otherwise, Amazon S3 returns a 412 Precondition Failed error.";
  `If-Match`: "Uploads the object only if the ETag (entity tag) value provided during the WRITE
  operation matches the ETag of the object in S3":
  https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html

moto 5.2.1 (moto/s3/responses.py S3Response.put_object) checks the condition with
`backend.get_object`, then goes on to build and store the key: on its threaded server two requests
for the same key can both pass the check before either stores, and both succeed — two versions of
one key, which a custody chain relying on `If-None-Match: *` (docs/custody.md) would show as a fork
that AWS cannot produce.

Scope of this patch: `S3Response.put_object` runs under a lock per (bucket, key) — every PUT of
that key, conditional or not, so a plain PUT cannot slip between a conditional PUT's check and its
write. PUTs of different keys still run in parallel. Nothing else changes (a conditional write
waiting for another is answered 412 when the other stored the key, not 409: AWS allows either).
"""
import threading

_guard = threading.Lock()
_locks: dict = {}


def _lock_for(bucket: str, key: str) -> threading.Lock:
    with _guard:
        lock = _locks.get((bucket, key))
        if lock is None:
            lock = _locks[(bucket, key)] = threading.Lock()
        return lock


def apply() -> None:
    from moto.s3.responses import S3Response

    original = S3Response.put_object

    def put_object(self):  # type: ignore[no-untyped-def]
        with _lock_for(self.bucket_name, self.parse_key_name()):
            return original(self)

    S3Response.put_object = put_object  # type: ignore[method-assign]
