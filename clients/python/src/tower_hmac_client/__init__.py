"""Sign HTTP requests for a tower-hmac server: the ``HMAC-SHA256`` protocol
of docs/PROTOCOL.md, with declared digests (``Content-Digest``) and signed
chunks for bodies whose digest is not known in advance, and its keyed
BLAKE3 variant ``BLAKE3-KEYED`` (§9; ``Signer(..., algorithm="BLAKE3-KEYED")``,
extra ``blake3``).

The core (:class:`Signer`) needs only the standard library. Adapters:
``tower_hmac_client.requests.HmacAuth`` (extra ``requests``) and
``tower_hmac_client.httpx.HmacAuth`` (extra ``httpx``).
"""

from ._signer import (
    ALGORITHMS,
    BLAKE3_KEY_CONTEXT,
    BLAKE3_SCHEME,
    BODY_HEADER,
    BODY_HEADER_CHUNKS,
    CHUNKED_BODY_LINE,
    DEFAULT_KEY_ID_VAR,
    DEFAULT_SECRET_VAR,
    EMPTY_SHA256_HEX,
    ChunkSigner,
    Signed,
    Signer,
    SignerConfigError,
    content_digest,
    file_digest,
    is_seekable_file,
    parse_content_digest,
    split_target,
)

__version__ = "0.1.0"

__all__ = [
    "ALGORITHMS",
    "BLAKE3_KEY_CONTEXT",
    "BLAKE3_SCHEME",
    "BODY_HEADER",
    "BODY_HEADER_CHUNKS",
    "CHUNKED_BODY_LINE",
    "DEFAULT_KEY_ID_VAR",
    "DEFAULT_SECRET_VAR",
    "EMPTY_SHA256_HEX",
    "ChunkSigner",
    "Signed",
    "Signer",
    "SignerConfigError",
    "content_digest",
    "file_digest",
    "is_seekable_file",
    "parse_content_digest",
    "split_target",
]
