"""Runs boto3 against the S3 example (examples/s3) and prints one JSON line
per operation: what was sent and what came back. It judges nothing itself:
tests/s3.rs starts the server, runs this, holds the expectations and checks
what the server stored.

    S3_KEY_ID=7 S3_SECRET=<base64> python3 s3_boto3.py ENDPOINT REGION BUCKET [CA_PEM]

The client is configured with the endpoint, the credentials, the region and
path-style addressing only (and, over https, the CA to trust): everything
else, payload signing and checksums included, is boto3's default. Three
others differ in one setting each: a wrong secret, `signature_version="s3v4"`
for presigning, and payload signing off.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import platform
import random
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, Optional, Tuple

MIB = 1024 * 1024
BIG = 256 * MIB
MID = 3 * MIB
TIMEOUT = 120.0
results = 0


def emit(record: Dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def fatal(message: str) -> None:
    emit({"kind": "fatal", "message": message})
    sys.exit(2)


try:
    import boto3
    import botocore
    import s3transfer
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials
    from botocore.exceptions import ClientError
except ImportError as error:
    fatal(f"{error}")


class Pattern:
    """`size` bytes from a seeded generator, made 1 MiB at a time as they
    are read and hashed on the way: a non-seekable stream of any size in
    little memory, reproducible from its seed."""

    def __init__(self, seed: int, size: int) -> None:
        self._random = random.Random(seed)
        self._left = size
        self._buffer = b""
        self.sha256 = hashlib.sha256()

    def read(self, amount: int = -1) -> bytes:
        if amount is None or amount < 0:
            amount = self._left + len(self._buffer)
        while len(self._buffer) < amount and self._left > 0:
            block = self._random.randbytes(min(MIB, self._left))
            self._left -= len(block)
            self.sha256.update(block)
            self._buffer += block
        data, self._buffer = self._buffer[:amount], self._buffer[amount:]
        return data


def pattern(seed: int, size: int) -> bytes:
    return Pattern(seed, size).read()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def capture_problem(response_dict: Dict[str, Any], customized_response_dict: Dict[str, Any], **_: Any) -> None:
    """Keeps a problem+json refusal (the layer's, not S3's XML) as
    `ClientError.response["Problem"]`: botocore reports only its status."""
    headers = response_dict.get("headers", {})
    if response_dict.get("status_code", 200) >= 300 and headers.get("content-type") == "application/problem+json":
        try:
            customized_response_dict["Problem"] = json.loads(response_dict["body"])
        except (TypeError, ValueError):
            pass


def client(endpoint: str, region: str, key_id: str, secret: str, ca: Optional[str]) -> Any:
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}),
        verify=ca if ca else None,
    )
    s3.meta.events.register("before-parse.s3", capture_problem)
    return s3


def result(case: str, run: Callable[[], Tuple[Optional[int], Dict[str, Any]]]) -> None:
    """Runs one operation and emits its record: the HTTP status, the error
    code (S3's, or the problem's), and what `run` observed."""
    global results
    record: Dict[str, Any] = {"kind": "result", "case": case, "status": None, "code": None, "problem": None, "error": None}
    started = time.monotonic()
    try:
        status, facts = run()
        record["status"] = status
        record["problem"] = facts.pop("problem", None)
        record["facts"] = facts
    except ClientError as error:
        response = error.response
        record["status"] = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        record["code"] = response.get("Error", {}).get("Code")
        record["problem"] = response.get("Problem", {}).get("code")
        record["message"] = str(error)
    except Exception as error:  # reported, judged by the Rust side
        record["error"] = f"{type(error).__name__}: {error}"
    record["seconds"] = round(time.monotonic() - started, 3)
    results += 1
    emit(record)


def next_second() -> None:
    """Waits for the clock's next second. SigV4 has no nonce: the layer
    takes the signature as the replay token, and a request identical to an
    earlier one in every signed part, `X-Amz-Date` (whole seconds)
    included, is refused `401 replayed_request`. Repeating one on purpose
    must wait for the next second."""
    time.sleep(1.0 - time.time() % 1.0 + 0.01)


def status(response: Dict[str, Any]) -> int:
    return response["ResponseMetadata"]["HTTPStatusCode"]


def fetch(url: str, ca: Optional[str]) -> Tuple[int, Dict[str, Any]]:
    """GETs `url` with urllib (no SDK): status, digest of the body and the problem code, if any."""
    context = ssl.create_default_context(cafile=ca) if ca else None
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT, context=context) as response:
            body = response.read()
            return response.status, {"sha256": sha256(body), "len": len(body)}
    except urllib.error.HTTPError as error:
        body = error.read()
        facts: Dict[str, Any] = {"len": len(body)}
        if error.headers.get("content-type") == "application/problem+json":
            facts["problem"] = json.loads(body).get("code")
        return error.code, facts


def tampered_put(endpoint: str, region: str, key_id: str, secret: str, ca: Optional[str], path: str, signed: bytes, sent: bytes) -> Tuple[int, Dict[str, Any]]:
    """A PUT signed by botocore's own signer over `signed` (its SHA-256 in
    `x-amz-content-sha256`), which then sends `sent` instead: the head is
    genuine, the body is not."""
    url = endpoint + path
    request = AWSRequest(method="PUT", url=url, data=signed, headers={"X-Amz-Content-SHA256": sha256(signed)})
    S3SigV4Auth(Credentials(key_id, secret), "s3", region).add_auth(request)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.netloc, timeout=TIMEOUT, context=ssl.create_default_context(cafile=ca)
        )
    else:
        connection = http.client.HTTPConnection(parts.netloc, timeout=TIMEOUT)
    headers = dict(request.headers.items())
    headers["Host"] = parts.netloc
    connection.request("PUT", parts.path, body=sent, headers=headers)
    response = connection.getresponse()
    body = response.read()
    facts: Dict[str, Any] = {}
    if response.getheader("content-type") == "application/problem+json":
        facts["problem"] = json.loads(body).get("code")
    connection.close()
    return response.status, facts


def main() -> None:
    if len(sys.argv) not in (4, 5):
        fatal("usage: s3_boto3.py ENDPOINT REGION BUCKET [CA_PEM]")
    endpoint, region, bucket = sys.argv[1:4]
    ca = sys.argv[4] if len(sys.argv) == 5 else None
    key_id, secret = os.environ.get("S3_KEY_ID"), os.environ.get("S3_SECRET")
    if not key_id or not secret:
        fatal("S3_KEY_ID and S3_SECRET must be set")
    emit(
        {
            "kind": "env",
            "versions": f"python {platform.python_version()}, boto3 {boto3.__version__}, "
            f"botocore {botocore.__version__}, s3transfer {s3transfer.__version__}",
        }
    )
    s3 = client(endpoint, region, key_id, secret, ca)
    forger = client(endpoint, region, key_id, secret[::-1], ca)

    small = b"hello from boto3\n"
    mid = pattern(3, MID)
    # A space, a plus, a non-ASCII letter, and characters S3 URLs must escape.
    mid_key = "dir/sub/three mib+\u00e9?&=#%.bin"
    # A dot-segment and an empty segment: only a name, never a path on the server.
    odd_key = "odd/../..//x"

    def create_bucket() -> Tuple[int, Dict[str, Any]]:
        kwargs: Dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        return status(s3.create_bucket(**kwargs)), {}

    result("create-bucket", create_bucket)
    next_second()
    result("create-bucket-again", create_bucket)

    def put(key: str, body: bytes, **kwargs: Any) -> Callable[[], Tuple[int, Dict[str, Any]]]:
        def run() -> Tuple[int, Dict[str, Any]]:
            response = s3.put_object(Bucket=bucket, Key=key, Body=body, **kwargs)
            return status(response), {"etag": response["ETag"], "sha256": sha256(body), "len": len(body)}

        return run

    result("put-small", put("small.txt", small, ContentType="text/plain", Metadata={"color": "blue"}))
    result("put-3mib", put(mid_key, mid))
    result("put-odd-key", put(odd_key, b"odd"))

    def get(key: str, bucket: str = bucket) -> Callable[[], Tuple[int, Dict[str, Any]]]:
        def run() -> Tuple[int, Dict[str, Any]]:
            response = s3.get_object(Bucket=bucket, Key=key)
            digest, length = hashlib.sha256(), 0
            for chunk in response["Body"].iter_chunks(MIB):
                digest.update(chunk)
                length += len(chunk)
            return status(response), {
                "sha256": digest.hexdigest(),
                "len": length,
                "etag": response["ETag"],
                "content_type": response.get("ContentType"),
                "metadata": response.get("Metadata"),
            }

        return run

    result("get-small", get("small.txt"))
    result("get-3mib", get(mid_key))
    result("get-odd-key", get(odd_key))

    def head() -> Tuple[int, Dict[str, Any]]:
        response = s3.head_object(Bucket=bucket, Key=mid_key)
        return status(response), {
            "len": response["ContentLength"],
            "etag": response["ETag"],
            "last_modified": response["LastModified"].isoformat(),
        }

    result("head-3mib", head)

    def list_v2(**kwargs: Any) -> Callable[[], Tuple[int, Dict[str, Any]]]:
        def run() -> Tuple[int, Dict[str, Any]]:
            response = s3.list_objects_v2(Bucket=bucket, **kwargs)
            return status(response), {
                "keys": [o["Key"] for o in response.get("Contents", [])],
                "etags": [o["ETag"] for o in response.get("Contents", [])],
                "sizes": [o["Size"] for o in response.get("Contents", [])],
                "prefixes": [p["Prefix"] for p in response.get("CommonPrefixes", [])],
                "truncated": response["IsTruncated"],
            }

        return run

    result("list-prefix", list_v2(Prefix="dir/"))
    result("list-delimiter", list_v2(Delimiter="/"))

    def list_pages() -> Tuple[int, Dict[str, Any]]:
        keys, pages = [], 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 1}):
            pages += 1
            keys += [o["Key"] for o in page.get("Contents", [])]
        return 200, {"keys": keys, "pages": pages}

    result("list-pages", list_pages)

    def list_v1() -> Tuple[int, Dict[str, Any]]:
        response = s3.list_objects(Bucket=bucket, Prefix="dir/")
        return status(response), {"keys": [o["Key"] for o in response.get("Contents", [])]}

    result("list-v1", list_v1)

    def list_buckets() -> Tuple[int, Dict[str, Any]]:
        response = s3.list_buckets()
        return status(response), {"buckets": [b["Name"] for b in response["Buckets"]]}

    result("list-buckets", list_buckets)

    def get_range() -> Tuple[int, Dict[str, Any]]:
        response = s3.get_object(Bucket=bucket, Key=mid_key, Range="bytes=1000-1999")
        body = response["Body"].read()
        return status(response), {
            "sha256": sha256(body),
            "sent_sha256": sha256(mid[1000:2000]),
            "content_range": response.get("ContentRange"),
        }

    result("get-range", get_range)

    def delete() -> Tuple[int, Dict[str, Any]]:
        return status(s3.delete_object(Bucket=bucket, Key="small.txt")), {}

    result("delete-small", delete)
    next_second()  # the same GET as get-small's
    result("get-deleted", get("small.txt"))
    result("get-no-bucket", get("small.txt", bucket="no-such-bucket"))

    def upload_big() -> Tuple[int, Dict[str, Any]]:
        source = Pattern(256, BIG)
        s3.upload_fileobj(source, bucket, "big.bin")
        response = s3.head_object(Bucket=bucket, Key="big.bin")
        return status(response), {"sha256": source.sha256.hexdigest(), "len": response["ContentLength"], "etag": response["ETag"]}

    result("upload-256mib", upload_big)
    result("get-256mib", get("big.bin"))

    upload: Dict[str, str] = {}

    def multipart_wrong_etag() -> Tuple[int, Dict[str, Any]]:
        upload["id"] = s3.create_multipart_upload(Bucket=bucket, Key="aborted.bin")["UploadId"]
        s3.upload_part(Bucket=bucket, Key="aborted.bin", UploadId=upload["id"], PartNumber=1, Body=b"part")
        parts = {"Parts": [{"PartNumber": 1, "ETag": '"0123456789abcdef0123456789abcdef"'}]}
        response = s3.complete_multipart_upload(Bucket=bucket, Key="aborted.bin", UploadId=upload["id"], MultipartUpload=parts)
        return status(response), {}

    result("complete-wrong-etag", multipart_wrong_etag)

    def abort() -> Tuple[int, Dict[str, Any]]:
        return status(s3.abort_multipart_upload(Bucket=bucket, Key="aborted.bin", UploadId=upload.get("id", "none"))), {}

    result("abort", abort)

    def part_after_abort() -> Tuple[int, Dict[str, Any]]:
        response = s3.upload_part(Bucket=bucket, Key="aborted.bin", UploadId=upload.get("id", "none"), PartNumber=2, Body=b"late")
        return status(response), {}

    result("part-after-abort", part_after_abort)

    presigner = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
        verify=ca if ca else None,
    )
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": mid_key}, ExpiresIn=300)
    result("presigned-get", lambda: fetch(url, ca))
    # The same signature on another object.
    other = urllib.parse.urlsplit(url)._replace(path=f"/{bucket}/big.bin").geturl()
    result("presigned-tampered", lambda: fetch(other, ca))

    def wrong_secret() -> Tuple[int, Dict[str, Any]]:
        return status(forger.put_object(Bucket=bucket, Key="forged.txt", Body=b"forged")), {}

    result("wrong-secret", wrong_secret)

    # Payload signing off: UNSIGNED-PAYLOAD over HTTP, the SDK's default streaming form over HTTPS.
    unsigned = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path", "payload_signing_enabled": False}),
        verify=ca if ca else None,
    )
    unsigned.meta.events.register("before-parse.s3", capture_problem)

    def put_unsigned() -> Tuple[int, Dict[str, Any]]:
        response = unsigned.put_object(Bucket=bucket, Key="unsigned.txt", Body=b"unsigned")
        return status(response), {"etag": response["ETag"]}

    result("put-unsigned", put_unsigned)

    def delete_unsigned() -> Tuple[int, Dict[str, Any]]:
        return status(s3.delete_object(Bucket=bucket, Key="unsigned.txt")), {}

    result("delete-unsigned", delete_unsigned)

    signed = pattern(7, MID)
    sent = bytearray(signed)
    sent[MID // 2] ^= 1
    result(
        "tamper-body",
        lambda: tampered_put(endpoint, region, key_id, secret, ca, f"/{bucket}/tampered.bin", signed, bytes(sent)),
    )

    result("list-after", list_v2())
    emit({"kind": "done", "results": results})


if __name__ == "__main__":
    main()
