"""Every shared test vector (tests/vectors/*.json, PROTOCOL §8 and §4.6) is
reproduced exactly, through the public API."""

from __future__ import annotations

import asyncio
import base64
import unittest

from _support import load_vectors, unframe

from tower_hmac_client import Signer


def _extra(vector: dict) -> list:
    # §8: the non-host, non-content-type names are the signer's extra headers.
    return [n for n in vector["signed_headers"].split(";") if n not in ("host", "content-type")]


def _has_host(vector: dict) -> bool:
    return any(name.lower() == "host" for name, _ in vector["headers"])


class Vectors(unittest.TestCase):
    def test_every_vector(self) -> None:
        vectors = load_vectors("vectors.json")
        self.assertEqual(len({v["name"] for v in vectors}), len(vectors), "duplicate names")
        for v in vectors:
            with self.subTest(v["name"]):
                signer = Signer.from_base64(v["key_id"], v["secret_base64"], _extra(v))
                body = base64.b64decode(v["body_base64"])
                signed = signer.prepare(
                    v["method"], v["uri"], v["headers"], body=body, time=v["time"], nonce=v["nonce"]
                )
                self.assertEqual(signed.string_to_sign.decode("latin-1"), v["string_to_sign"])
                self.assertEqual(signed.signed_headers, v["signed_headers"])
                self.assertEqual(signed.signature, v["signature"])
                self.assertEqual(signed.authorization, v["authorization"])
                self.assertEqual(signed.content_digest, v["content_digest"])
                self.assertFalse(signed.chunked)

                # The headers to send: the request's own, Host added only
                # when it had none (from the URI's authority), and the two
                # the signature adds.
                sent = signed.headers
                self.assertEqual(sent[: len(v["headers"])], [tuple(h) for h in v["headers"]])
                added = sent[len(v["headers"]) :]
                if not _has_host(v):
                    self.assertEqual(added[0][0], "Host")
                    self.assertIn("host:" + added[0][1], v["string_to_sign"].split("\n"))
                    added = added[1:]
                self.assertEqual(
                    added, [("Content-Digest", v["content_digest"]), ("Authorization", v["authorization"])]
                )

    def test_every_chunked_vector(self) -> None:
        vectors = load_vectors("chunked.json")
        for v in vectors:
            with self.subTest(v["name"]):
                signer = Signer.from_base64(v["key_id"], v["secret_base64"], _extra(v))
                signed = signer.prepare(
                    v["method"], v["uri"], v["headers"], chunked=True, time=v["time"], nonce=v["nonce"]
                )
                self.assertEqual(signed.string_to_sign.decode("latin-1"), v["string_to_sign"])
                self.assertEqual(signed.signed_headers, v["signed_headers"])
                self.assertEqual(signed.signature, v["signature"])
                self.assertEqual(signed.authorization, v["authorization"])
                self.assertIsNone(signed.content_digest)
                self.assertEqual(
                    dict(signed.headers)["X-HMAC-Body"], "chunks", "signed chunks are announced"
                )
                self.assertNotIn("Content-Digest", dict(signed.headers))

                chunks = [base64.b64decode(c) for c in v["chunks_base64"]]
                wire = base64.b64decode(v["wire_body_base64"])

                chunk_signer = signed.chunk_signer()
                self.assertEqual(b"".join(chunk_signer.frame(chunks)), wire)
                self.assertEqual(chunk_signer.signatures, v["chunk_signatures"])
                self.assertTrue(chunk_signer.finished)

                # The same through the async framing, and chunk by chunk.
                async def collect() -> bytes:
                    async def pieces():  # type: ignore[no-untyped-def]
                        for c in chunks:
                            yield c

                    return b"".join([part async for part in signed.aframe(pieces())])

                self.assertEqual(asyncio.run(collect()), wire)
                by_hand = signed.chunk_signer()
                self.assertEqual(b"".join(by_hand.chunk(c) for c in chunks) + by_hand.last(), wire)

                # The vector is consistent with the spec's chain as this
                # test states it, independently of the signer.
                self.assertEqual(
                    unframe(base64.b64decode(v["secret_base64"]), v["signature"], wire), b"".join(chunks)
                )


class Blake3Vectors(unittest.TestCase):
    """tests/vectors/blake3.json (PROTOCOL §9): the BLAKE3-KEYED variant."""

    def setUp(self) -> None:
        import json

        from _support import optional, vectors_dir

        optional("blake3")
        with open(vectors_dir() / "blake3.json", encoding="utf-8") as f:
            self.vectors = json.load(f)

    def test_every_request_vector(self) -> None:
        from tower_hmac_client import BLAKE3_KEY_CONTEXT, parse_content_digest

        self.assertEqual(self.vectors["key_context"], BLAKE3_KEY_CONTEXT)
        for v in self.vectors["requests"]:
            with self.subTest(v["name"]):
                signer = Signer.from_base64(
                    v["key_id"], v["secret_base64"], _extra(v), algorithm="BLAKE3-KEYED"
                )
                self.assertEqual(signer.algorithm, "BLAKE3-KEYED")
                body = base64.b64decode(v["body_base64"])
                signed = signer.prepare(
                    v["method"], v["uri"], v["headers"], body=body, time=v["time"], nonce=v["nonce"]
                )
                self.assertEqual(signed.string_to_sign.decode("latin-1"), v["string_to_sign"])
                self.assertEqual(signed.signature, v["signature"])
                self.assertEqual(signed.authorization, v["authorization"])
                self.assertEqual(signed.content_digest, v["content_digest"])
                digest = parse_content_digest(v["content_digest"], "BLAKE3-KEYED")
                self.assertEqual(digest.hex(), v["body_blake3_hex"])
                # The member of the other algorithm is not this one.
                self.assertIsNone(parse_content_digest(v["content_digest"]))
                # Signing the digest gives the same signature as the body.
                again = signer.prepare(
                    v["method"], v["uri"], v["headers"], digest=digest, time=v["time"], nonce=v["nonce"]
                )
                self.assertEqual(again.authorization, v["authorization"])

    def test_every_chunked_vector(self) -> None:
        for v in self.vectors["chunked"]:
            with self.subTest(v["name"]):
                signer = Signer.from_base64(v["key_id"], v["secret_base64"], algorithm="BLAKE3-KEYED")
                signed = signer.prepare(
                    v["method"], v["uri"], v["headers"], chunked=True, time=v["time"], nonce=v["nonce"]
                )
                self.assertEqual(signed.string_to_sign.decode("latin-1"), v["string_to_sign"])
                self.assertEqual(signed.authorization, v["authorization"])
                chunks = [base64.b64decode(c) for c in v["chunks_base64"]]
                chunk_signer = signed.chunk_signer()
                self.assertEqual(
                    b"".join(chunk_signer.frame(chunks)), base64.b64decode(v["wire_body_base64"])
                )
                self.assertEqual(chunk_signer.signatures, v["chunk_signatures"])

    def test_an_unknown_algorithm_is_refused(self) -> None:
        from tower_hmac_client import SignerConfigError

        with self.assertRaises(SignerConfigError):
            Signer("7", b"s" * 32, algorithm="HMAC-SHA512")


if __name__ == "__main__":
    unittest.main()
