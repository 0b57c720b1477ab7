"""The core signer: targets, headers, secrets, the environment, digests,
signed chunks and explain."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import re
import time
import unittest

from _support import KEY_ID, SECRET, SECRET_B64, unframe

from tower_hmac_client import (
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

AUTH = re.compile(
    r"HMAC-SHA256 Key=[A-Za-z0-9._~-]+, Time=(0|[1-9][0-9]*), Nonce=([A-Za-z0-9_-]{22}), "
    r"SignedHeaders=[a-z0-9;-]+, Signature=[A-Za-z0-9+/]{43}=\Z"
)


def lines(signed: Signed) -> list:
    return signed.string_to_sign.decode("latin-1").split("\n")


class Targets(unittest.TestCase):
    def test_split(self) -> None:
        cases = {
            "/v1/items?limit=10": (None, b"/v1/items", b"limit=10"),
            "/a%2fb/%2F?x=%c3%a9&y&=?z": (None, b"/a%2fb/%2F", b"x=%c3%a9&y&=?z"),
            "/x?": (None, b"/x", b""),
            "/x#frag": (None, b"/x", b""),
            "http://api.example.com:8443/v1/items?a=1": (b"api.example.com:8443", b"/v1/items", b"a=1"),
            "https://user:pw@Example.COM/p": (b"Example.COM", b"/p", b""),
            "http://h": (b"h", b"/", b""),
            "http://h?q=1": (b"h", b"/", b"q=1"),
            "http://[::1]:80/p": (b"[::1]:80", b"/p", b""),
            b"/bytes?too": (None, b"/bytes", b"too"),
        }
        for url, want in cases.items():
            with self.subTest(url):
                self.assertEqual(split_target(url), want)

    def test_refused(self) -> None:
        for url in ["v1/items", "", "http://", "/a b", "/caf\u00e9", "/x\n", "*"]:
            with self.subTest(url), self.assertRaises(ValueError):
                split_target(url)


class Signing(unittest.TestCase):
    def setUp(self) -> None:
        self.signer = Signer(KEY_ID, SECRET)

    def test_fresh_time_and_nonce(self) -> None:
        before = int(time.time())
        one = self.signer.prepare("GET", "http://h/x")
        two = self.signer.prepare("GET", "http://h/x")
        after = int(time.time())
        for signed in (one, two):
            m = AUTH.match(signed.authorization)
            self.assertIsNotNone(m, signed.authorization)
            self.assertTrue(before <= int(m.group(1)) <= after)
            self.assertEqual(base64.urlsafe_b64decode(signed.nonce + "=="), base64.urlsafe_b64decode(m.group(2) + "=="))
            self.assertEqual(len(base64.urlsafe_b64decode(signed.nonce + "==")), 16)
        self.assertNotEqual(one.nonce, two.nonce)
        self.assertNotEqual(one.signature, two.signature)

    def test_host_added_from_authority_only_when_missing(self) -> None:
        signed = self.signer.prepare("GET", "http://api.example.com:8443/x")
        self.assertEqual(signed.set_headers["Host"], "api.example.com:8443")
        self.assertIn(("Host", "api.example.com:8443"), signed.headers)
        self.assertIn("host:api.example.com:8443", lines(signed))

        signed = self.signer.prepare("GET", "http://other/x", {"HOST": "API.example.com"})
        self.assertNotIn("Host", signed.set_headers)
        self.assertIn("host:API.example.com", lines(signed))
        self.assertEqual([n for n, _ in signed.headers].count("HOST"), 1)

        with self.assertRaisesRegex(ValueError, "no Host header"):
            self.signer.prepare("GET", "/x")

    def test_signed_headers(self) -> None:
        signer = Signer(KEY_ID, SECRET, ["X-Idempotency-Key", "x-tag", "x-tag"])
        self.assertEqual(signer.extra_headers, ("x-idempotency-key", "x-tag"))
        signed = signer.prepare(
            "PUT",
            "/x",
            [("Host", "h"), ("X-Tag", " a\t"), ("Accept", "*/*"), ("x-tag", "b  c"), ("Content-Type", "text/plain")],
        )
        self.assertEqual(signed.signed_headers, "content-type;host;x-idempotency-key;x-tag")
        self.assertEqual(
            lines(signed)[8:13],
            ["content-type:text/plain", "host:h", "x-idempotency-key:", "x-tag:a,b  c", hashlib.sha256(b"").hexdigest()],
        )
        # No content-type: not signed.
        self.assertEqual(signer.prepare("GET", "/x", {"Host": "h"}).signed_headers, "host;x-idempotency-key;x-tag")

    def test_bad_config(self) -> None:
        for bad in ["", "a b", "x" * 65, "é", "a/b"]:
            with self.subTest(key_id=bad), self.assertRaises(SignerConfigError):
                Signer(bad, SECRET)
        with self.assertRaisesRegex(SignerConfigError, "15 bytes"):
            Signer(KEY_ID, SECRET[:15])
        with self.assertRaisesRegex(TypeError, "from_base64"):
            Signer(KEY_ID, SECRET_B64)  # type: ignore[arg-type]
        for extra in (["authorization"], ["a b"], ["x:y"], [f"x-{i}" for i in range(31)]):
            with self.subTest(extra=extra), self.assertRaises(SignerConfigError):
                Signer(KEY_ID, SECRET, extra)
        with self.assertRaises(TypeError):
            Signer(KEY_ID, SECRET, "x-tag")
        Signer(KEY_ID, SECRET[:16], [f"x-{i}" for i in range(30)])  # 32 names in all: allowed

    def test_bad_requests(self) -> None:
        signer = self.signer
        with self.assertRaisesRegex(ValueError, "CR, LF or NUL"):
            signer.prepare("GET", "/x", {"Host": "h", "X-A": "a\r\nInjected: 1"})
        with self.assertRaises(ValueError):
            signer.prepare("GET", "/x", {"Host": "h", "Bad Name": "a"})
        with self.assertRaises(ValueError):
            signer.prepare("G ET", "/x", {"Host": "h"})
        with self.assertRaises(TypeError):
            signer.prepare("POST", "/x", {"Host": "h"}, body="text")  # type: ignore[arg-type]
        with self.assertRaises(ValueError):
            signer.prepare("POST", "/x", {"Host": "h"}, body=b"a", chunked=True)
        with self.assertRaises(ValueError):
            signer.prepare("POST", "/x", {"Host": "h"}, digest=b"short")
        for t in (-1, 2**64, True, 1.5):
            with self.subTest(time=t), self.assertRaises(ValueError):
                signer.prepare("GET", "/x", {"Host": "h"}, time=t)  # type: ignore[arg-type]
        for n in ("short", "x" * 65, "has+plus/slash1234"):
            with self.subTest(nonce=n), self.assertRaises(ValueError):
                signer.prepare("GET", "/x", {"Host": "h"}, nonce=n)
        self.assertEqual(signer.prepare("GET", "/x", {"Host": "h"}, time=2**64 - 1).time, 2**64 - 1)

    def test_sign_shapes_and_replaced_headers(self) -> None:
        headers = {"Host": "h", "authorization": "Basic old", "content-digest": "sha-256=:old:", "X-HMAC-Body": "chunks"}
        out = self.signer.sign("POST", "/x", headers, b"body")
        self.assertIsInstance(out, dict)
        self.assertEqual(headers["authorization"], "Basic old", "the caller's headers are not changed")
        self.assertEqual(
            set(out), {"Host", "Content-Digest", "Authorization"}, "old signature headers are replaced, X-HMAC-Body dropped"
        )
        self.assertEqual(out["Content-Digest"], content_digest(hashlib.sha256(b"body").digest()))
        self.assertRegex(out["Authorization"], AUTH)

        pairs = self.signer.sign("GET", "http://h/x", [("X-Tag", "a"), ("X-Tag", "b")])
        self.assertIsInstance(pairs, list)
        self.assertEqual([n for n, _ in pairs], ["X-Tag", "X-Tag", "Host", "Content-Digest", "Authorization"])
        self.assertEqual(dict(pairs)["Content-Digest"], "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:")

        self.assertEqual(set(self.signer.sign("GET", "http://h/")), {"Host", "Content-Digest", "Authorization"})

    def test_digest_signs_like_the_body(self) -> None:
        body = b"x" * 1000
        a = self.signer.prepare("POST", "/u", {"Host": "h"}, body=body, time=5, nonce="n" * 16)
        b = self.signer.prepare("POST", "/u", {"Host": "h"}, digest=hashlib.sha256(body).digest(), time=5, nonce="n" * 16)
        self.assertEqual(a.authorization, b.authorization)
        self.assertEqual(a.content_digest, b.content_digest)
        c = self.signer.prepare("POST", "/u", {"Host": "h"}, body=body + b"!", time=5, nonce="n" * 16)
        self.assertNotEqual(a.signature, c.signature)

    def test_sign_file_hashes_from_the_position_and_rewinds(self) -> None:
        data = bytes(range(256)) * 5000
        f = io.BytesIO(data)
        f.seek(1000)
        out = self.signer.sign_file("PUT", "http://h/f", {}, f)
        self.assertEqual(f.tell(), 1000)
        self.assertEqual(out["Content-Digest"], content_digest(hashlib.sha256(data[1000:]).digest()))
        self.assertEqual(file_digest(f, block_size=7), (hashlib.sha256(data[1000:]).digest(), len(data) - 1000))
        self.assertTrue(is_seekable_file(f))
        self.assertFalse(is_seekable_file(iter([b"x"])))
        with self.assertRaises(TypeError):
            file_digest(io.StringIO("text"))

    def test_explain(self) -> None:
        seen: list = []
        signer = Signer(KEY_ID, SECRET, explain=seen.append)
        signed = signer.prepare("POST", "/v1/orders?a=1", {"Host": "h", "Content-Type": "text/plain"}, body=b"{}")
        self.assertEqual(seen, [signed])
        text = signed.explain()
        self.assertIn("11 lines", text)
        self.assertIn("as JSON: " + json.dumps(signed.string_to_sign.decode()), text)
        for number, line in enumerate(lines(signed), 1):
            self.assertRegex(text, rf"(?m)^ *{number}  .{{15}} {re.escape(line)}$")
        self.assertIn("Authorization: " + signed.authorization, text)
        self.assertIn("Content-Digest: " + str(signed.content_digest), text)
        chunked = signer.prepare("POST", "/x", {"Host": "h"}, chunked=True)
        self.assertIn("chunked body    STREAMING-HMAC-SHA256-CHUNKS", chunked.explain())
        self.assertIn("X-HMAC-Body: chunks", chunked.explain())

    def test_the_secret_does_not_show(self) -> None:
        signer = Signer(KEY_ID, SECRET)
        for text in (repr(signer), str(signer), repr(signer.prepare("GET", "http://h/"))):
            self.assertNotIn(SECRET_B64, text)
            self.assertNotIn(SECRET.hex(), text)


class Environment(unittest.TestCase):
    def test_from_env(self) -> None:
        env = {"TOWER_HMAC_KEY_ID": " 7\n", "TOWER_HMAC_SECRET": SECRET_B64 + "\n"}
        signer = Signer.from_env(environ=env)
        self.assertEqual(signer.key_id, "7")
        same = Signer("7", SECRET).prepare("GET", "http://h/", time=1, nonce="a" * 16)
        self.assertEqual(signer.prepare("GET", "http://h/", time=1, nonce="a" * 16).authorization, same.authorization)
        custom = Signer.from_env("K", "S", ["x-a"], environ={"K": "k", "S": SECRET_B64})
        self.assertEqual((custom.key_id, custom.extra_headers), ("k", ("x-a",)))

    def test_from_env_errors_name_the_variable(self) -> None:
        short = base64.b64encode(b"0123456789").decode()
        cases = [
            ({}, r"TOWER_HMAC_KEY_ID \(the key id\) is not set"),
            ({"TOWER_HMAC_KEY_ID": "7"}, r"TOWER_HMAC_SECRET \(the secret, standard base64\) is not set"),
            ({"TOWER_HMAC_KEY_ID": "7", "TOWER_HMAC_SECRET": "  "}, "TOWER_HMAC_SECRET .* is not set"),
            ({"TOWER_HMAC_KEY_ID": "no spaces", "TOWER_HMAC_SECRET": SECRET_B64}, "TOWER_HMAC_KEY_ID: key id 'no spaces'"),
            ({"TOWER_HMAC_KEY_ID": "7", "TOWER_HMAC_SECRET": SECRET_B64.rstrip("=")}, "TOWER_HMAC_SECRET is not standard base64 with padding"),
            ({"TOWER_HMAC_KEY_ID": "7", "TOWER_HMAC_SECRET": SECRET_B64.replace("A", "-")}, "TOWER_HMAC_SECRET is not standard base64"),
            ({"TOWER_HMAC_KEY_ID": "7", "TOWER_HMAC_SECRET": short}, "TOWER_HMAC_SECRET decodes to 10 bytes; a secret needs at least 16"),
        ]
        for env, message in cases:
            with self.subTest(env=env):
                with self.assertRaisesRegex(SignerConfigError, message) as caught:
                    Signer.from_env(environ=env)
                secret = env.get("TOWER_HMAC_SECRET", "").strip()
                if len(secret) > 4:
                    self.assertNotIn(secret, str(caught.exception), "the secret is never shown")


class ContentDigest(unittest.TestCase):
    def test_parse(self) -> None:
        d = hashlib.sha256(b"x").digest()
        b64 = base64.b64encode(d).decode()
        self.assertEqual(parse_content_digest(content_digest(d)), d)
        self.assertEqual(parse_content_digest(f"sha-512=:{base64.b64encode(bytes(64)).decode()}:, sha-256=:{b64}:"), d)
        self.assertIsNone(parse_content_digest("sha-512=:AAAA:"))
        for bad in (f"sha-256=:{b64}:, sha-256=:{b64}:", "sha-256=:AAAA:", "sha-256=:not base64!:", f"sha-256={b64}", "sha-256"):
            with self.subTest(bad), self.assertRaises(ValueError):
                parse_content_digest(bad)
        with self.assertRaises(ValueError):
            content_digest(b"short")


class Chunks(unittest.TestCase):
    def setUp(self) -> None:
        self.signer = Signer(KEY_ID, SECRET)

    def test_sign_chunked(self) -> None:
        pieces = [b"first", b"", "s\u00e9cond", bytearray(b"x" * 70000), memoryview(b"end")]
        headers, body = self.signer.sign_chunked("POST", "http://h/up", {"Content-Length": "9", "Content-Digest": "x"}, pieces)
        self.assertEqual(headers["X-HMAC-Body"], "chunks")
        self.assertNotIn("Content-Length", headers)
        self.assertNotIn("Content-Digest", headers)
        seed = AUTH.match(headers["Authorization"]) and headers["Authorization"].rsplit("Signature=", 1)[1]
        wire = b"".join(body)
        self.assertEqual(unframe(SECRET, seed, wire), b"first" + "s\u00e9cond".encode() + b"x" * 70000 + b"end")
        # One chunk per non-empty piece, then the last: 5 chunk headers.
        self.assertEqual(len(re.findall(rb"(?:^|\r\n)[0-9a-f]+;sig=", wire)), 5)
        self.assertIn(b"\r\n11170;sig=", wire, "sizes are lowercase hex")

    def test_empty_body_is_just_the_last_chunk(self) -> None:
        signed = self.signer.prepare("POST", "http://h/up", chunked=True)
        wire = b"".join(signed.frame([]))
        self.assertRegex(wire, rb"\A0;sig=[A-Za-z0-9+/]{43}=\r\n\r\n\Z")
        self.assertEqual(unframe(SECRET, signed.signature, wire), b"")

    def test_chunk_signer_misuse(self) -> None:
        signed = self.signer.prepare("POST", "http://h/up", chunked=True)
        cs = signed.chunk_signer()
        with self.assertRaises(ValueError):
            cs.chunk(b"")
        cs.chunk(b"a")
        cs.last()
        with self.assertRaises(ValueError):
            cs.chunk(b"b")
        with self.assertRaises(ValueError):
            cs.last()
        with self.assertRaises(ValueError):
            self.signer.prepare("POST", "http://h/up", body=b"").chunk_signer()

    def test_each_framing_starts_from_the_seed(self) -> None:
        signed = self.signer.prepare("POST", "http://h/up", chunked=True)
        self.assertEqual(b"".join(signed.frame([b"a", b"b"])), b"".join(signed.frame([b"a", b"b"])))
        self.assertIsInstance(signed.chunk_signer(), ChunkSigner)

    def test_async_framing(self) -> None:
        signed = self.signer.prepare("POST", "http://h/up", chunked=True)

        async def pieces():  # type: ignore[no-untyped-def]
            for piece in (b"one", b"", b"two"):
                yield piece

        async def run() -> bytes:
            return b"".join([c async for c in signed.aframe(pieces())])

        wire = asyncio.run(run())
        self.assertEqual(wire, b"".join(signed.frame([b"one", b"two"])))
        self.assertEqual(unframe(SECRET, signed.signature, wire), b"onetwo")


if __name__ == "__main__":
    unittest.main()
