"""``httpx`` authentication that signs every request (extra ``httpx``), for
``httpx.Client`` and ``httpx.AsyncClient`` alike.

::

    import httpx
    from tower_hmac_client import Signer
    from tower_hmac_client.httpx import HmacAuth

    with httpx.Client(auth=HmacAuth(Signer.from_env())) as client:
        client.post("http://127.0.0.1:3000/echo", json={"a": 1})

Bodies in memory (``content=b"..."``, ``json=``, ``data=``) are hashed and
their digest declared in ``Content-Digest``. A seekable binary file passed
as ``content=`` to a ``Client`` is hashed first, in blocks, then rewound and
streamed. Any other stream (a generator, an async generator, multipart
uploads) is sent in signed chunks, one chunk per piece it yields. A stream
whose ``Content-Digest`` header is already set is signed with that digest
and sent as it is.

The flow does no network I/O, so the same ``HmacAuth`` serves both
clients. Redirects are signed afresh (httpx runs the flow again).
"""

from __future__ import annotations

from typing import AsyncIterator, Generator, Iterator, Optional, Union

import httpx

from ._signer import Signed, Signer, file_digest, is_seekable_file, parse_content_digest

__all__ = ["HmacAuth"]

_Stream = Union[httpx.SyncByteStream, httpx.AsyncByteStream]


class HmacAuth(httpx.Auth):
    """Signs each request with ``signer`` just before it is sent."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign(request)
        yield request

    def sign(self, request: httpx.Request) -> Signed:
        """Signs ``request`` in place (headers, and the stream for signed chunks)."""
        method = request.method
        target = request.url.raw_path  # exactly what goes on the request line / :path
        headers = request.headers.raw
        stream = request.stream
        if isinstance(stream, _Chunks):  # signed before (a redirect): sign the data anew
            stream = stream.inner

        content: Optional[bytes]
        try:
            content = request.content
        except httpx.RequestNotRead:
            content = None

        if content is not None:
            signed = self.signer.prepare(method, target, headers, body=content)
        elif request.headers.get("Content-Digest") and parse_content_digest(
            request.headers["Content-Digest"], self.signer.algorithm
        ):
            digest = parse_content_digest(request.headers["Content-Digest"], self.signer.algorithm)
            signed = self.signer.prepare(method, target, headers, digest=digest)
        elif _sync_only(stream) and is_seekable_file(getattr(stream, "_stream", None)):
            # httpx keeps the file it streams as `_stream`; a Client reads it
            # from its current position, so hash from there and rewind.
            digest, length = file_digest(  # type: ignore[union-attr]
                stream._stream, algorithm=self.signer.algorithm  # type: ignore[union-attr]
            )
            if "Content-Length" in request.headers:
                request.headers["Content-Length"] = str(length)
            signed = self.signer.prepare(method, target, headers, digest=digest)
        else:
            signed = self.signer.prepare(method, target, headers, chunked=True)
            request.stream = _chunks(stream, signed)
            request.headers["Transfer-Encoding"] = "chunked"

        for name in signed.remove_headers:
            request.headers.pop(name, None)
        for name, value in signed.set_headers.items():
            request.headers[name] = value
        return signed


def _sync_only(stream: object) -> bool:
    return isinstance(stream, httpx.SyncByteStream) and not isinstance(stream, httpx.AsyncByteStream)


class _Chunks:
    """Marks a stream already framed into signed chunks."""

    inner: _Stream
    signed: Signed


class _SyncChunks(_Chunks, httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, signed: Signed) -> None:
        self.inner = inner
        self.signed = signed

    def __iter__(self) -> Iterator[bytes]:
        return self.signed.frame(self.inner)  # type: ignore[arg-type]

    def close(self) -> None:
        self.inner.close()  # type: ignore[union-attr]


class _AsyncChunks(_Chunks, httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, signed: Signed) -> None:
        self.inner = inner
        self.signed = signed

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.signed.aframe(self.inner):  # type: ignore[arg-type]
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()  # type: ignore[union-attr]


class _BothChunks(_SyncChunks, _AsyncChunks):
    def __init__(self, inner: _Stream, signed: Signed) -> None:
        self.inner = inner
        self.signed = signed


def _chunks(stream: _Stream, signed: Signed) -> _Stream:
    sync = isinstance(stream, httpx.SyncByteStream)
    asynchronous = isinstance(stream, httpx.AsyncByteStream)
    if sync and asynchronous:
        return _BothChunks(stream, signed)
    if asynchronous:
        return _AsyncChunks(stream, signed)  # type: ignore[arg-type]
    return _SyncChunks(stream, signed)  # type: ignore[arg-type]
