"""CopyObject into a bucket with Object Lock needs no Content-MD5 or checksum header.

AWS behaviour restored (documented):
- The Content-MD5 / x-amz-sdk-checksum-algorithm requirement is for requests that upload an
  object's bytes: "The Content-MD5 or x-amz-sdk-checksum-algorithm header is required for any
  request to upload an object with a retention period configured using Amazon S3 Object Lock"
  (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html, the same on
  https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPart.html).
- CopyObject carries no body: its request syntax has no Content-MD5 header, and it takes the
  Object Lock headers (x-amz-object-lock-mode, x-amz-object-lock-retain-until-date) and
  x-amz-checksum-algorithm, with which S3 computes the copy's checksum itself
  (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html). Copying objects into an
  Object Lock bucket is how S3 Batch Operations and `aws s3 cp s3://… s3://…` place locked copies
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-copy-object.html).

moto 5.2.1 (moto/s3/responses.py `_key_response_put`) applies the upload check to every PUT of a
key, copies included, so a CopyObject into a bucket with default retention, or with lock headers,
fails MissingUploadObjectWithObjectLockHeaders (the SDK sends no x-amz-sdk-checksum-algorithm for
CopyObject, which has no body to checksum).

Scope of this patch: a PUT with x-amz-copy-source that is not UploadPartCopy is passed through
moto's check as if it carried the header; uploads (PutObject, UploadPart) are checked as before.
"""


def apply():
    from werkzeug.datastructures import Headers
    from moto.s3.responses import S3Response

    original = S3Response._key_response_put

    def _key_response_put(self, query, key_name):  # type: ignore[no-untyped-def]
        is_copy = "x-amz-copy-source" in self.headers and not (query.get("uploadId") and query.get("partNumber"))
        if is_copy and not self.headers.get("Content-Md5") and not self.headers.get("x-amz-sdk-checksum-algorithm"):
            # Only moto's upload check reads this header on the copy path (put_object is not reached).
            headers = Headers(list(self.headers.items()))
            headers["x-amz-sdk-checksum-algorithm"] = "SHA256"
            self.headers = headers
        return original(self, query, key_name)

    _key_response_put._cleanroom_patched = True  # type: ignore[attr-defined]
    S3Response._key_response_put = _key_response_put  # type: ignore[method-assign]
