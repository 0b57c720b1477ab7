"""The signer itself: string-to-sign, Authorization, Content-Digest, signed chunks.

Written from docs/PROTOCOL.md (sections 3, 4, 4.4 and 4.6), standard library
only; the ``BLAKE3-KEYED`` variant (section 9) needs PyPI's ``blake3``
(extra ``blake3``). Everything the string-to-sign is made of is handled as
bytes, exactly as it goes on the wire.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import time as _time
from typing import (
    IO,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
    overload,
)

SCHEME = "HMAC-SHA256"
#: The keyed BLAKE3 variant (§9); needs PyPI's ``blake3``.
BLAKE3_SCHEME = "BLAKE3-KEYED"
#: The ``derive_key`` context that makes the BLAKE3 key from the secret (§9.1).
BLAKE3_KEY_CONTEXT = "tower-hmac 2026-12-01 BLAKE3-KEYED request signing key"
#: The algorithms a :class:`Signer` can sign with, by scheme word.
ALGORITHMS = (SCHEME, BLAKE3_SCHEME)
#: The last line of the string-to-sign of a body sent in signed chunks (§4.6).
CHUNKED_BODY_LINE = "STREAMING-HMAC-SHA256-CHUNKS"
#: The first line of every chunk signature's input (§4.6).
CHUNK_SCHEME = "HMAC-SHA256-CHUNK"
#: The header that says a body is sent in signed chunks, and its value.
BODY_HEADER = "X-HMAC-Body"
BODY_HEADER_CHUNKS = "chunks"
#: SHA-256 of the empty body, in hex (§4.3).
EMPTY_SHA256_HEX = hashlib.sha256(b"").hexdigest()
#: The shortest secret the protocol allows (§2).
MIN_SECRET_BYTES = 16
#: At most this many names in SignedHeaders (§3.2).
MAX_SIGNED_HEADERS = 32
#: Environment variables read by :meth:`Signer.from_env` by default.
DEFAULT_KEY_ID_VAR = "TOWER_HMAC_KEY_ID"
DEFAULT_SECRET_VAR = "TOWER_HMAC_SECRET"

_KEY_ID = re.compile(rb"[A-Za-z0-9._~-]{1,64}\Z")
_NONCE = re.compile(rb"[A-Za-z0-9_-]{16,64}\Z")
_TOKEN = re.compile(rb"[a-z0-9!#$%&'*+.^_`|~-]+\Z")
_METHOD = re.compile(rb"[A-Za-z0-9!#$%&'*+.^_`|~-]+\Z")
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}\Z")

HeaderName = Union[str, bytes]
HeaderValue = Union[str, bytes]
HeaderPairs = Sequence[Tuple[HeaderName, HeaderValue]]
HeadersIn = Union[Mapping[HeaderName, HeaderValue], Iterable[Tuple[HeaderName, HeaderValue]]]
BytesLike = Union[bytes, bytearray, memoryview]

class SignerConfigError(ValueError):
    """The key id or secret given to a :class:`Signer` cannot be used."""


def _b(value: Union[str, bytes, bytearray, memoryview], what: str) -> bytes:
    """Header names, values and targets as wire bytes (``str`` as Latin-1, as
    Python's HTTP clients send header values)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"{what} {value!r} is not Latin-1 text; pass bytes") from None
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


def _text(value: bytes) -> str:
    return value.decode("latin-1")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class _Keyed:
    """What differs between the algorithms (§9.2): the scheme word, the MAC
    under the secret, the body hash and the names derived from them."""

    __slots__ = ("scheme", "member", "_hmac", "_key", "_blake3")

    def __init__(self, algorithm: str, secret: Optional[bytes] = None, hmac_state: "Optional[hmac.HMAC]" = None) -> None:
        if algorithm not in ALGORITHMS:
            raise SignerConfigError(f"unknown algorithm {algorithm!r}: one of {', '.join(ALGORITHMS)}")
        self.scheme = algorithm
        self._hmac = hmac_state
        self._key: Optional[bytes] = None
        self._blake3 = None
        if algorithm == SCHEME:
            self.member = "sha-256"
            if self._hmac is None:
                assert secret is not None
                # The secret is kept only as the keyed HMAC state, copied per use.
                self._hmac = hmac.new(secret, digestmod=hashlib.sha256)
        else:
            self.member = "blake3"
            self._blake3 = _import_blake3()
            assert secret is not None
            self._key = self._blake3.blake3(secret, derive_key_context=BLAKE3_KEY_CONTEXT).digest()

    def mac(self, data: bytes) -> bytes:
        if self._hmac is not None:
            mac = self._hmac.copy()
            mac.update(data)
            return mac.digest()
        return self._blake3.blake3(data, key=self._key).digest()

    def hasher(self):  # type: ignore[no-untyped-def]
        """A fresh hasher of the body digest (``update``, ``digest``, ``hexdigest``)."""
        return hashlib.sha256() if self._blake3 is None else self._blake3.blake3()

    def hash(self, data: BytesLike) -> bytes:
        hasher = self.hasher()
        hasher.update(data)
        return hasher.digest()

    @property
    def chunked_line(self) -> str:
        return f"STREAMING-{self.scheme}-CHUNKS"

    @property
    def chunk_label(self) -> str:
        return f"{self.scheme}-CHUNK"


def _import_blake3():  # type: ignore[no-untyped-def]
    try:
        import blake3  # type: ignore[import-not-found]
    except ImportError:
        raise SignerConfigError(
            "BLAKE3-KEYED needs PyPI's blake3: pip install 'tower-hmac-client[blake3]'"
        ) from None
    return blake3


def _member(algorithm: str) -> str:
    if algorithm == SCHEME:
        return "sha-256"
    if algorithm == BLAKE3_SCHEME:
        return "blake3"
    raise ValueError(f"unknown algorithm {algorithm!r}: one of {', '.join(ALGORITHMS)}")


def content_digest(digest: bytes, algorithm: str = SCHEME) -> str:
    """The ``Content-Digest`` value (RFC 9530, §4.4) declaring a SHA-256
    digest (a BLAKE3 one, member ``blake3``, for ``BLAKE3-KEYED``, §9.3)."""
    if len(digest) != 32:
        raise ValueError(f"a body digest is 32 bytes, not {len(digest)}")
    return f"{_member(algorithm)}=:{_b64(digest)}:"


def parse_content_digest(value: HeaderValue, algorithm: str = SCHEME) -> Optional[bytes]:
    """The 32-byte ``sha-256`` member of a ``Content-Digest`` value (the
    ``blake3`` member for ``BLAKE3-KEYED``), or ``None`` when it has none.
    A malformed or repeated member raises :class:`ValueError` (the server
    would answer ``malformed_content_digest``)."""
    wanted = _member(algorithm).encode("ascii")
    found: Optional[bytes] = None
    for member in _b(value, "Content-Digest").split(b","):
        name, eq, rest = member.strip(b" \t").partition(b"=")
        if name.strip() != wanted:
            continue
        rest = rest.strip(b" \t")
        if not eq or len(rest) < 2 or rest[:1] != b":" or rest[-1:] != b":":
            raise ValueError("Content-Digest: the sha-256 member is not a byte sequence")
        if found is not None:
            raise ValueError("Content-Digest: the sha-256 member is repeated")
        encoded = rest[1:-1]
        try:
            if not _BASE64.match(encoded):
                raise binascii.Error("not base64")
            decoded = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise ValueError("Content-Digest: the sha-256 member is not base64") from None
        if len(decoded) != 32:
            raise ValueError(f"Content-Digest: the sha-256 member is {len(decoded)} bytes, not 32")
        found = decoded
    return found


def file_digest(file: IO[bytes], block_size: int = 1 << 20, algorithm: str = SCHEME) -> Tuple[bytes, int]:
    """SHA-256 (BLAKE3 for ``BLAKE3-KEYED``) and length of a binary file
    from its current position to its end, read in blocks (never whole); the
    position is restored afterwards, so the file can then be sent. The file
    must be seekable."""
    start = file.tell()
    _member(algorithm)
    hasher = hashlib.sha256() if algorithm == SCHEME else _import_blake3().blake3()
    length = 0
    try:
        while True:
            block = file.read(block_size)
            if not block:
                break
            if not isinstance(block, (bytes, bytearray, memoryview)):
                raise TypeError("file_digest needs a file opened in binary mode")
            hasher.update(block)
            length += len(block)
    finally:
        file.seek(start)
    return hasher.digest(), length


def is_seekable_file(body: object) -> bool:
    """Whether ``body`` is a file object that :func:`file_digest` can hash and rewind."""
    if not hasattr(body, "read") or not hasattr(body, "seek") or not hasattr(body, "tell"):
        return False
    seekable = getattr(body, "seekable", None)
    try:
        if seekable is not None:
            return bool(seekable())
        body.tell()
        return True
    except (OSError, ValueError):
        return False


def split_target(url: Union[str, bytes]) -> Tuple[Optional[bytes], bytes, bytes]:
    """Splits what a request is sent to into (authority, path, query), all raw (§4.1).

    ``url`` is an absolute URL (``http://host:port/path?query``, whose
    authority then stands in for a missing ``Host``) or an origin-form
    target (``/path?query``). A fragment is dropped (it is never sent);
    ``userinfo@`` is not part of the authority that is signed.
    """
    raw = _b(url, "URL")
    raw = raw.split(b"#", 1)[0]
    authority: Optional[bytes] = None
    if raw.startswith(b"/"):
        target = raw
    else:
        scheme, sep, rest = raw.partition(b"://")
        if not sep or not scheme or not re.match(rb"[A-Za-z][A-Za-z0-9+.-]*\Z", scheme):
            raise ValueError(f"not an absolute URL or an origin-form target: {_text(raw)!r}")
        cut = len(rest)
        for mark in (b"/", b"?"):
            at = rest.find(mark)
            if at != -1:
                cut = min(cut, at)
        authority, target = rest[:cut], rest[cut:]
        authority = authority.rpartition(b"@")[2]
        if not authority:
            raise ValueError(f"URL without a host: {_text(raw)!r}")
    for byte in target:
        if byte <= 0x20 or byte >= 0x7F:
            raise ValueError(
                "the request target must be ASCII without spaces or control "
                f"characters (percent-encode it): {_text(target)!r}"
            )
    path, _, query = target.partition(b"?")
    return authority, (path or b"/"), query


class ChunkSigner:
    """Frames a body as signed chunks (§4.6), chaining each chunk's signature
    from the previous one, starting at the request's signature (the seed).

    One instance frames one body, once: :meth:`chunk` for each piece of
    data, then :meth:`last`. :meth:`frame` and :meth:`aframe` do both for an
    iterable of pieces.
    """

    __slots__ = ("_mac", "_previous", "_finished", "signatures")

    def __init__(self, mac: "Union[hmac.HMAC, _Keyed]", seed: str) -> None:
        # An HMAC-SHA256 state (the original API), or a signer's algorithm.
        self._mac = mac if isinstance(mac, _Keyed) else _Keyed(SCHEME, hmac_state=mac)
        self._previous = seed
        self._finished = False
        #: Every chunk signature made so far, the last chunk's included.
        self.signatures: List[str] = []

    @property
    def finished(self) -> bool:
        return self._finished

    def sign(self, data: BytesLike) -> str:
        """The next chunk signature, for a chunk holding ``data``."""
        if self._finished:
            raise ValueError("the last chunk was already signed")
        keyed = self._mac
        hasher = keyed.hasher()
        hasher.update(data)
        signature = _b64(
            keyed.mac(
                b"%s\n%s\n%s"
                % (
                    keyed.chunk_label.encode(),
                    self._previous.encode("ascii"),
                    hasher.hexdigest().encode(),
                )
            )
        )
        self._previous = signature
        self.signatures.append(signature)
        return signature

    def chunk(self, data: BytesLike) -> bytes:
        """One framed chunk: ``<size hex>;sig=<signature>\\r\\n<data>\\r\\n``.
        ``data`` must not be empty: a chunk of size 0 is the last chunk."""
        if not len(data):
            raise ValueError("an empty chunk would end the body; use last()")
        signature = self.sign(data)
        return b"%x;sig=%s\r\n%s\r\n" % (len(data), signature.encode("ascii"), bytes(data))

    def last(self) -> bytes:
        """The signed last chunk, ``0;sig=<signature>\\r\\n\\r\\n``; nothing may follow it."""
        signature = self.sign(b"")
        self._finished = True
        return b"0;sig=%s\r\n\r\n" % signature.encode("ascii")

    def frame(self, pieces: Iterable[Union[BytesLike, str]]) -> Iterator[bytes]:
        """Each non-empty piece as one chunk, then the last chunk. ``str``
        pieces are sent as UTF-8; empty pieces are skipped."""
        for piece in pieces:
            data = piece.encode("utf-8") if isinstance(piece, str) else piece
            if len(data):
                yield self.chunk(data)
        yield self.last()

    async def aframe(self, pieces: AsyncIterable[Union[BytesLike, str]]) -> AsyncIterator[bytes]:
        """:meth:`frame` for an asynchronous iterable."""
        async for piece in pieces:
            data = piece.encode("utf-8") if isinstance(piece, str) else piece
            if len(data):
                yield self.chunk(data)
        yield self.last()


_LINE_NAMES = ("scheme", "key id", "time", "nonce", "method", "path", "query", "signed headers")


class Signed:
    """One signature: what was signed, and the headers to send with it."""

    __slots__ = (
        "key_id",
        "time",
        "nonce",
        "signed_headers",
        "string_to_sign",
        "signature",
        "authorization",
        "content_digest",
        "chunked",
        "headers",
        "set_headers",
        "remove_headers",
        "_mac",
    )

    def __init__(
        self,
        *,
        key_id: str,
        time: int,
        nonce: str,
        signed_headers: str,
        string_to_sign: bytes,
        signature: str,
        content_digest: Optional[str],
        chunked: bool,
        headers: List[Tuple[str, str]],
        set_headers: Dict[str, str],
        remove_headers: Tuple[str, ...],
        mac: _Keyed,
    ) -> None:
        self.key_id = key_id
        self.time = time
        self.nonce = nonce
        self.signed_headers = signed_headers
        #: The exact bytes that were signed (lines joined by ``\n``, none after the last).
        self.string_to_sign = string_to_sign
        #: The ``Signature`` parameter (and, for signed chunks, the seed).
        self.signature = signature
        self.authorization = (
            f"{mac.scheme} Key={key_id}, Time={time}, Nonce={nonce}, "
            f"SignedHeaders={signed_headers}, Signature={signature}"
        )
        #: The ``Content-Digest`` value sent, or ``None`` for signed chunks.
        self.content_digest = content_digest
        self.chunked = chunked
        #: Every header line to send, in order: the request's own, with
        #: ``Host`` added if it was missing, and the signature's.
        self.headers = headers
        #: The headers the signature adds or replaces (names as sent).
        self.set_headers = set_headers
        #: Lowercase names of headers that must not be sent with this signature.
        self.remove_headers = remove_headers
        self._mac = mac

    def chunk_signer(self) -> ChunkSigner:
        """A fresh :class:`ChunkSigner` seeded with this signature (signed chunks only)."""
        if not self.chunked:
            raise ValueError("this signature is not for a body in signed chunks")
        return ChunkSigner(self._mac, self.signature)

    def frame(self, pieces: Iterable[Union[BytesLike, str]]) -> Iterator[bytes]:
        """The body to send for this signature: ``pieces`` in signed chunks."""
        return self.chunk_signer().frame(pieces)

    def aframe(self, pieces: AsyncIterable[Union[BytesLike, str]]) -> AsyncIterator[bytes]:
        """:meth:`frame` for an asynchronous iterable."""
        return self.chunk_signer().aframe(pieces)

    def explain(self) -> str:
        """The string-to-sign, line by line and as one JSON string, to diff
        with what a server built (its lines, §4, are the first thing to compare)."""
        lines = self.string_to_sign.split(b"\n")
        out = [f"string-to-sign ({len(lines)} lines, joined by \\n, none after the last):"]
        headers_end = 8 + len(self.signed_headers.split(";"))
        for number, line in enumerate(lines, 1):
            if number <= 8:
                what = _LINE_NAMES[number - 1]
            elif number <= headers_end:
                what = "header"
            else:
                what = "chunked body" if self.chunked else f"body {self._mac.member}"
            out.append(f"{number:>3}  {what:<15} {ascii(_text(line))[1:-1]}")
        out.append("as JSON: " + json.dumps(_text(self.string_to_sign)))
        out.append(f"Authorization: {self.authorization}")
        if self.content_digest is not None:
            out.append(f"Content-Digest: {self.content_digest}")
        if self.chunked:
            out.append(f"{BODY_HEADER}: {BODY_HEADER_CHUNKS}")
        return "\n".join(out)

    def __repr__(self) -> str:
        return (
            f"Signed(key_id={self.key_id!r}, time={self.time}, nonce={self.nonce!r}, "
            f"signed_headers={self.signed_headers!r}, chunked={self.chunked})"
        )


class Signer:
    """Signs requests with one key (docs/PROTOCOL.md).

    ``extra_headers`` are names signed besides ``host`` (always) and
    ``content-type`` (when the request has one), whether or not a request
    carries them (an absent one is signed empty, §3.3).

    ``explain``, if given, is called with every :class:`Signed` this signer
    makes, e.g. ``explain=lambda s: print(s.explain())``.

    ``algorithm`` is ``"HMAC-SHA256"`` (the default) or ``"BLAKE3-KEYED"``
    (§9, needs PyPI's ``blake3``; the server must accept that scheme).
    """

    __slots__ = ("_key_id", "_mac", "_extra", "_explain")

    def __init__(
        self,
        key_id: str,
        secret: BytesLike,
        extra_headers: Iterable[str] = (),
        *,
        explain: Optional[Callable[[Signed], object]] = None,
        algorithm: str = SCHEME,
    ) -> None:
        if not isinstance(key_id, str) or not _KEY_ID.match(key_id.encode("utf-8")):
            raise SignerConfigError(
                f"key id {key_id!r}: 1 to 64 characters from A-Z a-z 0-9 . _ ~ -"
            )
        if isinstance(secret, str):
            raise TypeError(
                "the secret is bytes (the decoded key), not text; "
                "for base64 text use Signer.from_base64"
            )
        if not isinstance(secret, (bytes, bytearray, memoryview)):
            raise TypeError(f"the secret must be bytes, not {type(secret).__name__}")
        if len(secret) < MIN_SECRET_BYTES:
            raise SignerConfigError(
                f"the secret is {len(secret)} bytes; at least {MIN_SECRET_BYTES} are needed "
                "(generate 32 random bytes)"
            )
        extra = set()
        if isinstance(extra_headers, (str, bytes)):
            raise TypeError("extra_headers is a list of header names, not one string")
        for name in extra_headers:
            lowered = _b(name, "header name").lower()
            if not _TOKEN.match(lowered):
                raise SignerConfigError(f"{name!r} is not a header name")
            if lowered == b"authorization":
                raise SignerConfigError("authorization cannot be signed")
            extra.add(lowered)
        if len(extra | {b"host", b"content-type"}) > MAX_SIGNED_HEADERS:
            raise SignerConfigError(f"at most {MAX_SIGNED_HEADERS} headers can be signed")
        self._key_id = key_id
        # The secret is kept only as the keyed state of the algorithm.
        self._mac = _Keyed(algorithm, bytes(secret))
        self._extra = frozenset(extra)
        self._explain = explain

    @classmethod
    def from_base64(
        cls,
        key_id: str,
        secret_base64: str,
        extra_headers: Iterable[str] = (),
        *,
        explain: Optional[Callable[[Signed], object]] = None,
        algorithm: str = SCHEME,
    ) -> "Signer":
        """A signer whose secret is given as standard base64 with padding (§2)."""
        return cls(
            key_id,
            _decode_secret(secret_base64, "the secret"),
            extra_headers,
            explain=explain,
            algorithm=algorithm,
        )

    @classmethod
    def from_env(
        cls,
        key_id_var: str = DEFAULT_KEY_ID_VAR,
        secret_var: str = DEFAULT_SECRET_VAR,
        extra_headers: Iterable[str] = (),
        *,
        environ: Optional[Mapping[str, str]] = None,
        explain: Optional[Callable[[Signed], object]] = None,
        algorithm: str = SCHEME,
    ) -> "Signer":
        """A signer from two environment variables: the key id, and the secret
        in standard base64 with padding. Raises :class:`SignerConfigError`
        naming the variable at fault (never showing the secret)."""
        env = os.environ if environ is None else environ
        key_id = (env.get(key_id_var) or "").strip()
        if not key_id:
            raise SignerConfigError(f"environment variable {key_id_var} (the key id) is not set")
        if not _KEY_ID.match(key_id.encode("utf-8")):
            raise SignerConfigError(
                f"environment variable {key_id_var}: key id {key_id!r} is not 1 to 64 "
                "characters from A-Z a-z 0-9 . _ ~ -"
            )
        secret_text = env.get(secret_var) or ""
        if not secret_text.strip():
            raise SignerConfigError(
                f"environment variable {secret_var} (the secret, standard base64) is not set"
            )
        secret = _decode_secret(secret_text, f"environment variable {secret_var}")
        return cls(key_id, secret, extra_headers, explain=explain, algorithm=algorithm)

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def algorithm(self) -> str:
        """The scheme word it signs: ``HMAC-SHA256`` or ``BLAKE3-KEYED``."""
        return self._mac.scheme

    @property
    def extra_headers(self) -> Tuple[str, ...]:
        return tuple(sorted(_text(n) for n in self._extra))

    def __repr__(self) -> str:
        algorithm = "" if self.algorithm == SCHEME else f", algorithm={self.algorithm!r}"
        return f"Signer(key_id={self._key_id!r}, extra_headers={list(self.extra_headers)!r}{algorithm})"

    # The three ways of signing, each returning the headers to send.

    @overload
    def sign(
        self,
        method: str,
        url: Union[str, bytes],
        headers: Optional[Mapping[HeaderName, HeaderValue]] = ...,
        body: BytesLike = ...,
    ) -> Dict[str, str]: ...

    @overload
    def sign(
        self, method: str, url: Union[str, bytes], headers: Iterable[Tuple[HeaderName, HeaderValue]], body: BytesLike = ...
    ) -> List[Tuple[str, str]]: ...

    def sign(
        self, method: str, url: Union[str, bytes], headers: Optional[HeadersIn] = None, body: BytesLike = b""
    ) -> Union[Dict[str, str], List[Tuple[str, str]]]:
        """Signs a request whose body is in memory; returns the headers to
        send (a new ``dict`` for a mapping, a list of pairs for pairs):
        the request's own, plus ``Host`` if missing, ``Content-Digest`` and
        ``Authorization``."""
        return _shape(headers, self.prepare(method, url, headers, body=body).headers)

    @overload
    def sign_file(
        self, method: str, url: Union[str, bytes], headers: Optional[Mapping[HeaderName, HeaderValue]], file: IO[bytes]
    ) -> Dict[str, str]: ...

    @overload
    def sign_file(
        self, method: str, url: Union[str, bytes], headers: Iterable[Tuple[HeaderName, HeaderValue]], file: IO[bytes]
    ) -> List[Tuple[str, str]]: ...

    def sign_file(
        self, method: str, url: Union[str, bytes], headers: Optional[HeadersIn], file: IO[bytes]
    ) -> Union[Dict[str, str], List[Tuple[str, str]]]:
        """Signs a request whose body is the rest of a seekable binary file:
        hashes it first (in blocks), rewinds it, and declares its digest, so
        the file can then be streamed as the body."""
        digest, _ = file_digest(file, algorithm=self.algorithm)
        return _shape(headers, self.prepare(method, url, headers, digest=digest).headers)

    @overload
    def sign_chunked(
        self,
        method: str,
        url: Union[str, bytes],
        headers: Optional[Mapping[HeaderName, HeaderValue]],
        pieces: Iterable[Union[BytesLike, str]],
    ) -> Tuple[Dict[str, str], Iterator[bytes]]: ...

    @overload
    def sign_chunked(
        self,
        method: str,
        url: Union[str, bytes],
        headers: Iterable[Tuple[HeaderName, HeaderValue]],
        pieces: Iterable[Union[BytesLike, str]],
    ) -> Tuple[List[Tuple[str, str]], Iterator[bytes]]: ...

    def sign_chunked(
        self,
        method: str,
        url: Union[str, bytes],
        headers: Optional[HeadersIn],
        pieces: Iterable[Union[BytesLike, str]],
    ) -> Tuple[Union[Dict[str, str], List[Tuple[str, str]]], Iterator[bytes]]:
        """Signs a request whose body's digest is not known in advance;
        returns ``(headers, body)`` where ``body`` yields ``pieces`` in signed
        chunks, one chunk per non-empty piece, then the last chunk (§4.6).
        The headers say ``X-HMAC-Body: chunks`` and carry no ``Content-Length``:
        send the body with ``Transfer-Encoding: chunked``."""
        signed = self.prepare(method, url, headers, chunked=True)
        return _shape(headers, signed.headers), signed.frame(pieces)

    def prepare(
        self,
        method: Union[str, bytes],
        url: Union[str, bytes],
        headers: Optional[HeadersIn] = None,
        *,
        body: Optional[BytesLike] = None,
        digest: Optional[bytes] = None,
        chunked: bool = False,
        time: Optional[int] = None,
        nonce: Optional[str] = None,
    ) -> Signed:
        """The signature of a request, with everything that went into it.

        The body is given as ``body`` (in memory), as ``digest`` (its SHA-256,
        or BLAKE3 for ``BLAKE3-KEYED``, 32 bytes, computed beforehand) or as ``chunked=True`` (sent later in
        signed chunks); with none of them it is empty. ``time`` and ``nonce``
        default to now and 16 fresh random bytes (base64url); fix them only
        to reproduce test vectors.
        """
        if sum((body is not None, digest is not None, chunked)) > 1:
            raise ValueError("give at most one of body, digest and chunked=True")
        if body is not None:
            if isinstance(body, str):
                raise TypeError("the body is bytes; encode text first (as it will be sent)")
            digest = self._mac.hash(body)
        elif digest is not None:
            if not isinstance(digest, bytes) or len(digest) != 32:
                raise ValueError("digest is the 32-byte digest of the body")
        elif not chunked:
            digest = self._mac.hash(b"")

        method_b = _b(method, "method")
        if not _METHOD.match(method_b):
            raise ValueError(f"not an HTTP method: {method!r}")
        authority, path, query = split_target(url)

        if time is None:
            time = int(_time.time())
        if not isinstance(time, int) or isinstance(time, bool) or not 0 <= time < 2**64:
            raise ValueError("time is whole seconds since the Unix epoch, 0 to 2^64-1")
        if nonce is None:
            nonce = base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode("ascii")
        elif not _NONCE.match(nonce.encode("utf-8")):
            raise ValueError("a nonce is 16 to 64 characters from A-Z a-z 0-9 _ -")

        pairs: List[Tuple[bytes, bytes]] = []
        for name, value in _pairs(headers):
            name_b = _b(name, "header name")
            value_b = _b(value, "header value")
            if not _TOKEN.match(name_b.lower()):
                raise ValueError(f"not a header name: {name!r}")
            if b"\r" in value_b or b"\n" in value_b or b"\0" in value_b:
                raise ValueError(f"header {_text(name_b)} contains CR, LF or NUL")
            pairs.append((name_b, value_b))

        set_headers: Dict[str, str] = {}
        if not any(n.lower() == b"host" for n, _ in pairs):
            if authority is None:
                raise ValueError("no Host header, and the URL has no authority to take it from")
            pairs.append((b"Host", authority))
            set_headers["Host"] = _text(authority)

        names = {b"host"} | set(self._extra)
        if any(n.lower() == b"content-type" for n, _ in pairs):
            names.add(b"content-type")
        ordered = sorted(names)
        signed_headers = b";".join(ordered)

        lines = [
            self._mac.scheme.encode(),
            self._key_id.encode("ascii"),
            str(time).encode("ascii"),
            nonce.encode("ascii"),
            method_b,
            path,
            query,
            signed_headers,
        ]
        for name in ordered:
            values = [v.strip(b" \t") for n, v in pairs if n.lower() == name]
            lines.append(name + b":" + b",".join(values))
        lines.append(self._mac.chunked_line.encode() if chunked else binascii.hexlify(digest or b""))
        string_to_sign = b"\n".join(lines)

        signature = _b64(self._mac.mac(string_to_sign))

        remove: Tuple[str, ...]
        if chunked:
            declared = None
            set_headers[BODY_HEADER] = BODY_HEADER_CHUNKS
            remove = ("authorization", "content-digest", "content-length", BODY_HEADER.lower())
        else:
            assert digest is not None
            declared = content_digest(digest, self._mac.scheme)
            set_headers["Content-Digest"] = declared
            remove = ("authorization", "content-digest", BODY_HEADER.lower())

        signed = Signed(
            key_id=self._key_id,
            time=time,
            nonce=nonce,
            signed_headers=_text(signed_headers),
            string_to_sign=string_to_sign,
            signature=signature,
            content_digest=declared,
            chunked=chunked,
            headers=[],
            set_headers=set_headers,
            remove_headers=remove,
            mac=self._mac,
        )
        set_headers["Authorization"] = signed.authorization
        signed.headers = [
            (_text(n), _text(v)) for n, v in pairs if _text(n.lower()) not in remove
        ] + [(n, v) for n, v in set_headers.items() if n != "Host"]
        if self._explain is not None:
            self._explain(signed)
        return signed


def _decode_secret(text: str, what: str) -> bytes:
    encoded = text.strip().encode("ascii", "replace")
    if not encoded or not _BASE64.match(encoded) or len(encoded) % 4:
        raise SignerConfigError(
            f"{what} is not standard base64 with padding (A-Z a-z 0-9 + /, '=' to a multiple of 4)"
        )
    try:
        secret = base64.b64decode(encoded, validate=True)
    except binascii.Error as error:
        raise SignerConfigError(f"{what} is not valid base64 ({error})") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise SignerConfigError(
            f"{what} decodes to {len(secret)} bytes; a secret needs at least {MIN_SECRET_BYTES}"
        )
    return secret


def _pairs(headers: Optional[HeadersIn]) -> List[Tuple[HeaderName, HeaderValue]]:
    if headers is None:
        return []
    multi = getattr(headers, "multi_items", None)  # httpx.Headers: repeated names kept apart
    if callable(multi):
        return list(multi())
    if isinstance(headers, Mapping):
        return list(headers.items())
    pairs = []
    for pair in headers:
        name, value = pair
        pairs.append((name, value))
    return pairs


def _shape(
    headers: Optional[HeadersIn], signed: List[Tuple[str, str]]
) -> Union[Dict[str, str], List[Tuple[str, str]]]:
    """The signed headers in the shape they were given: a dict for a mapping."""
    if headers is None or isinstance(headers, Mapping):
        return dict(signed)
    return signed
