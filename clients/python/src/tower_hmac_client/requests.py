"""``requests`` authentication that signs every request (extra ``requests``).

::

    import requests
    from tower_hmac_client import Signer
    from tower_hmac_client.requests import HmacAuth

    auth = HmacAuth(Signer.from_env())
    requests.post("http://127.0.0.1:3000/echo", json={"a": 1}, auth=auth)

Bodies in memory (``data=b"..."``, ``json=``, forms, ``files=``) are
hashed and their digest declared in ``Content-Digest``. A seekable binary
file (``data=open(path, "rb")``) is hashed first, in blocks, then rewound
and streamed. Any other stream (a generator, a pipe) is sent in signed
chunks: one chunk per piece it yields (per ``chunk_size`` read of a pipe).
A stream whose ``Content-Digest`` header is already set is signed with
that digest and sent as it is.

requests applies an ``auth`` once per prepared request: a redirect is
followed with the first signature, which the server refuses (another
target, and a spent nonce). Sign the new request instead
(``allow_redirects=False``).
"""

from __future__ import annotations

from typing import Iterable, Union

import requests
import requests.auth

from ._signer import (
    BytesLike,
    Signed,
    Signer,
    file_digest,
    is_seekable_file,
    parse_content_digest,
)

__all__ = ["HmacAuth"]


class HmacAuth(requests.auth.AuthBase):
    """Signs each request with ``signer`` as requests prepares it."""

    def __init__(self, signer: Signer, *, chunk_size: int = 64 * 1024) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self.signer = signer
        self.chunk_size = chunk_size

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        method = r.method or "GET"
        url = r.url or ""
        body = r.body
        headers = r.headers

        # What requests sends as the target is `path_url`; the authority
        # (for a missing Host) comes from the prepared URL.
        target = url.split("#", 1)[0]

        if body is None or isinstance(body, (bytes, bytearray, memoryview)):
            signed = self.signer.prepare(method, target, headers.items(), body=bytes(body or b""))
        elif isinstance(body, str):
            data = body.encode("utf-8")  # what urllib3 2 sends for text
            r.body = data
            if "Content-Length" in headers:
                headers["Content-Length"] = str(len(data))
            signed = self.signer.prepare(method, target, headers.items(), body=data)
        elif headers.get("Content-Digest") and parse_content_digest(
            headers["Content-Digest"], self.signer.algorithm
        ):
            digest = parse_content_digest(headers["Content-Digest"], self.signer.algorithm)
            signed = self.signer.prepare(method, target, headers.items(), digest=digest)
        elif is_seekable_file(body):
            digest, length = file_digest(body, algorithm=self.signer.algorithm)
            if "Content-Length" in headers:
                headers["Content-Length"] = str(length)
            signed = self.signer.prepare(method, target, headers.items(), digest=digest)
        else:
            pieces: Iterable[Union[BytesLike, str]]
            if hasattr(body, "read"):
                reader = body
                pieces = iter(lambda: reader.read(self.chunk_size), b"")
            else:
                pieces = body
            signed = self.signer.prepare(method, target, headers.items(), chunked=True)
            r.body = signed.frame(pieces)
            headers["Transfer-Encoding"] = "chunked"

        _apply(headers, signed)
        return r


def _apply(headers: "requests.structures.CaseInsensitiveDict[str]", signed: Signed) -> None:
    for name in signed.remove_headers:
        headers.pop(name, None)
    for name, value in signed.set_headers.items():
        headers[name] = value
