"""The httpx adapter, with Client and AsyncClient: what is signed is what
httpx puts on the wire (checked by rebuilding the string-to-sign from the
request as a loopback server received it)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import unittest

from _support import KEY_ID, SECRET, CaptureServer, optional, verify

httpx = optional("httpx")

from tower_hmac_client import Signer, content_digest  # noqa: E402
from tower_hmac_client.httpx import HmacAuth  # noqa: E402


class Httpx(unittest.TestCase):
    def setUp(self) -> None:
        self.signed: list = []
        self.auth = HmacAuth(Signer(KEY_ID, SECRET, explain=self.signed.append))
        self.server = CaptureServer().__enter__()
        self.client = httpx.Client(base_url=self.server.url, auth=self.auth, timeout=10)

    def tearDown(self) -> None:
        self.client.close()
        self.server.__exit__()

    def received(self, response):  # type: ignore[no-untyped-def]
        self.assertEqual(response.status_code, 200)
        self.assertEqual(len(self.server.received), 1)
        return self.server.received.pop()

    def test_get_and_bodies_in_memory(self) -> None:
        got = self.received(self.client.get("/hello", params={"b": "2", "a": "1"}))
        self.assertEqual(verify(got, key_id=KEY_ID), b"")
        self.assertEqual(got.target, "/hello?b=2&a=1")
        got = self.received(self.client.post("/echo", content=b"\x00raw"))
        self.assertEqual(verify(got), b"\x00raw")
        got = self.received(self.client.post("/echo", json={"qty": 3}))
        self.assertEqual(verify(got), b'{"qty":3}')
        self.assertEqual(self.signed[-1].signed_headers, "content-type;host")
        got = self.received(self.client.post("/echo", data={"a": "1 2"}))
        self.assertEqual(verify(got), b"a=1+2")

    def test_raw_target_and_repeated_headers(self) -> None:
        seen: list = []
        auth = HmacAuth(Signer(KEY_ID, SECRET, ["x-tag"], explain=seen.append))
        response = self.client.send(
            self.client.build_request("PUT", "/any/a%2fb/%7e?q=%c3%a9&flag", headers=[("X-Tag", "a"), ("X-Tag", "b\tc")]),
            auth=auth,
        )
        got = self.received(response)
        verify(got)
        self.assertEqual(got.target, "/any/a%2fb/%7e?q=%c3%a9&flag", "httpx sends the target as given")
        self.assertIn(b"x-tag:a,b\tc", seen[0].string_to_sign.split(b"\n"))

    def test_file_is_hashed_first_then_streamed(self) -> None:
        data = os.urandom(2 * 1024 * 1024 + 5)
        with tempfile.TemporaryFile() as f:
            f.write(b"skip" + data)
            f.seek(4)
            got = self.received(self.client.put("/upload", content=f))
        self.assertEqual(verify(got), data)
        self.assertEqual(got.get("Content-Length"), [str(len(data))], "the length from the position on")
        self.assertEqual(got.get("Content-Digest"), [content_digest(hashlib.sha256(data).digest())])

    def test_generator_in_signed_chunks(self) -> None:
        pieces = [b"a", b"", os.urandom(70000), b"z"]
        got = self.received(self.client.post("/upload", content=iter(pieces)))
        self.assertEqual(verify(got), b"".join(pieces))
        self.assertTrue(got.te_chunked)
        self.assertEqual(got.get("X-HMAC-Body"), ["chunks"])
        self.assertEqual(got.body.count(b";sig="), 4)

    def test_multipart_in_signed_chunks(self) -> None:
        got = self.received(self.client.post("/upload", files={"f": ("n.txt", b"file body")}, data={"k": "v"}))
        self.assertEqual(got.get("Content-Length"), [], "the framed length differs")
        self.assertIn(b"file body", verify(got))

    def test_declared_digest_of_a_stream_is_used(self) -> None:
        data = b"known digest"
        got = self.received(
            self.client.post(
                "/upload",
                content=iter([data]),
                headers={"Content-Digest": content_digest(hashlib.sha256(data).digest())},
            )
        )
        self.assertEqual(verify(got), data)
        self.assertEqual(got.get("X-HMAC-Body"), [])

    def test_async_client(self) -> None:
        async def run() -> list:
            async def pieces():  # type: ignore[no-untyped-def]
                for n in (10, 0, 65536, 3):
                    yield os.urandom(n)

            async with httpx.AsyncClient(base_url=self.server.url, auth=self.auth, timeout=10) as client:
                out = [await client.get("/a")]
                out.append(await client.post("/b", content=b"in memory"))
                out.append(await client.post("/c", content=pieces()))
            return out

        responses = asyncio.run(run())
        self.assertEqual([r.status_code for r in responses], [200, 200, 200])
        got = self.server.received
        self.assertEqual([g.target for g in got], ["/a", "/b", "/c"])
        self.assertEqual(verify(got[0]), b"")
        self.assertEqual(verify(got[1]), b"in memory")
        self.assertEqual(len(verify(got[2])), 65549)
        self.assertEqual(got[2].get("X-HMAC-Body"), ["chunks"])

    def test_resigning_does_not_frame_twice(self) -> None:
        request = httpx.Request("POST", "http://h/x", content=iter([b"data"]))
        first = self.auth.sign(request)
        second = self.auth.sign(request)
        self.assertNotEqual(first.nonce, second.nonce)
        wire = b"".join(request.stream)
        self.assertEqual(wire.count(b";sig="), 2)
        self.assertIn(second.signature, request.headers["Authorization"])


if __name__ == "__main__":
    unittest.main()
