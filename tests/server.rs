//! End-to-end behaviour of `SignatureLayer` over real loopback connections.

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method};
use support::{
    app::{app_with, keys, Observed},
    now, request, send, send_signed, signed, signed_v1, signer, start, Framing, Proto, MATRIX,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_hmac::{
    BodyDigest, InMemoryNonceStore, KeyId, KeyStore, Nonce, Secret, SignatureLayer, Signer,
    StoreError, StoreFuture,
};

fn body_of(len: usize) -> Bytes {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[tokio::test]
async fn valid_requests_pass_on_h1_and_h2_with_length_and_chunked_bodies() {
    let (addr, observed) = start().await;
    for (proto, framing) in MATRIX {
        let body = body_of(100_000);
        let reply = send_signed(addr, proto, framing, Method::POST, "/upload", body).await;
        assert_eq!(reply.status, 200, "{proto:?} {framing:?}: {}", reply.text());
        assert_eq!(reply.text(), r#"{"bytes":100000}"#);
        let seen = observed.take();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].len, 100_000);
        assert_eq!(seen[0].verify, vec![Ok("7".to_owned())]);
        assert_eq!(
            seen[0].chunked,
            proto == Proto::H1 && framing == Framing::Chunked
        );

        let reply = send_signed(addr, proto, framing, Method::GET, "/hello", "").await;
        assert_eq!(reply.status, 200, "{proto:?} {framing:?}: {}", reply.text());
        assert_eq!(reply.text(), "hello, key 7");
        assert_eq!(observed.take()[0].verify, vec![Ok("7".to_owned())]);

        let body = Bytes::from_static(b"echo me, unchanged \x00\xff");
        let reply = send_signed(addr, proto, framing, Method::POST, "/echo", body.clone()).await;
        assert_eq!(reply.status, 200, "{proto:?} {framing:?}: {}", reply.text());
        assert_eq!(reply.body, body);
        assert_eq!(observed.take()[0].body, body);
    }
}

/// One change made to a signed request after signing.
type Tamper = fn(&mut http::Request<Bytes>);
type Sign = fn(http::Request<Bytes>) -> http::Request<Bytes>;

#[tokio::test]
async fn tampering_with_path_query_body_or_a_signed_header_is_rejected() {
    let (addr, observed) = start().await;
    for (proto, framing) in MATRIX {
        let original = || {
            let mut req = request(proto, addr, Method::POST, "/any/a?x=1", "payload");
            req.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            signed(req)
        };

        let tamperings: [(&str, Tamper); 5] = [
            ("path", |req| {
                *req.uri_mut() = req
                    .uri()
                    .to_string()
                    .replace("/any/a", "/any/b")
                    .parse()
                    .unwrap()
            }),
            ("query", |req| {
                *req.uri_mut() = req.uri().to_string().replace("x=1", "x=2").parse().unwrap()
            }),
            ("body", |req| {
                *req.body_mut() = Bytes::from_static(b"pAyload")
            }),
            ("signed header", |req| {
                req.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            }),
            ("method", |req| *req.method_mut() = Method::PUT),
        ];
        for (what, tamper) in tamperings {
            let mut req = original();
            tamper(&mut req);
            let reply = send(addr, proto, framing, req).await;
            assert_eq!(reply.code().as_deref(), Some("invalid_signature"), "{what}");
            reply.assert_problem(401, "invalid_signature");
        }
        // The digest is declared, so a changed head is refused before the
        // handler. A changed body reached it, and its verify() failed.
        let seen = observed.take();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].verify, vec![Err("invalid_signature".to_owned())]);

        // A v1 client's tampered requests all reach the handler, as before,
        // and every verify() fails.
        for (what, tamper) in tamperings {
            let mut req = request(proto, addr, Method::POST, "/any/a?x=1", "payload");
            req.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            let mut req = signed_v1(req);
            tamper(&mut req);
            let reply = send(addr, proto, framing, req).await;
            assert_eq!(reply.code().as_deref(), Some("invalid_signature"), "{what}");
        }
        let seen = observed.take();
        assert_eq!(seen.len(), 5);
        assert!(
            seen.iter()
                .all(|o| o.verify == vec![Err("invalid_signature".to_owned())]),
            "{seen:?}"
        );

        // And the untouched request still passes.
        let reply = send(addr, proto, framing, original()).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.text(), "POST /any/a?x=1");
        observed.take();
    }
}

#[tokio::test]
async fn a_replayed_request_is_rejected() {
    let (addr, observed) = start().await;
    for (proto, framing) in MATRIX {
        // Declared digest: the replay is refused before the handler runs.
        // A v1 client's replay can only be caught by verify(), as before.
        let signers: [(Sign, bool); 2] = [(signed, true), (signed_v1, false)];
        for (sign, early) in signers {
            let req = sign(request(proto, addr, Method::POST, "/upload", "once"));
            let replay = req.clone();
            assert_eq!(send(addr, proto, framing, req).await.status, 200);
            let reply = send(addr, proto, framing, replay).await;
            reply.assert_problem(401, "replayed_request");
            let seen = observed.take();
            if early {
                assert_eq!(seen.len(), 1, "the replay reached the handler: {seen:?}");
            } else {
                assert_eq!(seen[1].verify, vec![Err("replayed_request".to_owned())]);
            }
        }
    }
}

#[tokio::test]
async fn stale_and_future_times_are_rejected_before_the_handler_runs() {
    let (addr, observed) = start().await;
    for (proto, framing) in MATRIX {
        // One second past the 300 s skew either way. The future one has a
        // second more: the server reads its clock after this test does, and
        // a second boundary between the two would bring it back to 300.
        for time in [now() - 301, now() + 302, 0, u64::MAX] {
            let mut req = request(proto, addr, Method::POST, "/upload", "late");
            signer()
                .sign_at(&mut req, &BodyDigest::of(b"late"), time, Nonce::random())
                .unwrap();
            send(addr, proto, framing, req)
                .await
                .assert_problem(401, "stale_request");
        }
        // Within the skew either way is fine.
        for time in [now() - 250, now() + 250] {
            let mut req = request(proto, addr, Method::POST, "/upload", "ok");
            signer()
                .sign_at(&mut req, &BodyDigest::of(b"ok"), time, Nonce::random())
                .unwrap();
            assert_eq!(send(addr, proto, framing, req).await.status, 200);
        }
    }
    assert_eq!(
        observed.take().len(),
        8,
        "only the in-window requests reached the handler"
    );
}

#[tokio::test]
async fn a_handler_that_never_verifies_answers_500_not_its_own_response() {
    let (addr, observed) = start().await;
    for (proto, framing) in MATRIX {
        let reply = send_signed(addr, proto, framing, Method::POST, "/forget", "data").await;
        reply.assert_problem(500, "verification_skipped");
        assert!(!reply.text().contains("forgot"));
        let seen = observed.take();
        assert_eq!(seen[0].body, "data");
    }
}

#[tokio::test]
async fn a_failed_verify_answers_401_and_the_handler_response_never_leaves() {
    let (addr, observed) = start().await;
    for (proto, framing) in MATRIX {
        let mut req = signed(request(
            proto,
            addr,
            Method::POST,
            "/ignore-failure",
            "data",
        ));
        *req.body_mut() = Bytes::from_static(b"DATA");
        let reply = send(addr, proto, framing, req).await;
        reply.assert_problem(401, "invalid_signature");
        assert!(!reply.text().contains("handler's own"));
        assert_eq!(
            observed.take()[0].verify,
            vec![Err("invalid_signature".to_owned())]
        );
    }
}

#[tokio::test]
async fn verify_before_the_body_is_read_fails_and_can_be_retried() {
    let (addr, observed) = start().await;
    for (proto, framing) in MATRIX {
        let reply = send_signed(addr, proto, framing, Method::POST, "/early", "body first").await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.text(), "body first");
        let seen = observed.take();
        assert_eq!(
            seen[0].verify,
            vec![Err("verification_skipped".to_owned()), Ok("7".to_owned())]
        );
    }
}

#[tokio::test]
async fn a_refusal_before_verify_stands_for_genuine_requests_and_is_401_for_forgeries() {
    let (addr, observed) = start().await;
    for (proto, framing) in MATRIX {
        // The handler read the body and refused it without verifying.
        let mut forged = signed(request(
            proto,
            addr,
            Method::POST,
            "/reject-unverified",
            "{not json",
        ));
        *forged.body_mut() = Bytes::from_static(b"{forged");
        // A forgery cannot provoke a 500 (or an error log), nor see the handler's answer.
        // (Its head, digest declared, is genuine: the body fails at its end.)
        send(addr, proto, framing, forged)
            .await
            .assert_problem(401, "invalid_signature");
        let genuine = signed(request(
            proto,
            addr,
            Method::POST,
            "/reject-unverified",
            "{not json",
        ));
        let reply = send(addr, proto, framing, genuine).await;
        assert_eq!(reply.status, 422, "{}", reply.text());
        assert_eq!(reply.text(), "rejected before verify");
        assert_eq!(observed.take().len(), 2);

        // An extractor refused before the handler ran, leaving the body unread:
        // a v1 forgery is judged by reading the rest.
        let mut forged = signed_v1(request(proto, addr, Method::POST, "/needs-n?n=x", "body"));
        *forged.body_mut() = Bytes::from_static(b"BODY");
        send(addr, proto, framing, forged)
            .await
            .assert_problem(401, "invalid_signature");
        let genuine = signed(request(proto, addr, Method::POST, "/needs-n?n=x", "body"));
        let reply = send(addr, proto, framing, genuine).await;
        assert_eq!(reply.status, 400, "{}", reply.text());
        assert!(
            reply.code().is_none(),
            "axum's own rejection: {}",
            reply.text()
        );
        let reply = send_signed(addr, proto, framing, Method::POST, "/needs-n?n=5", "body").await;
        assert_eq!((reply.status.as_u16(), reply.text().as_str()), (200, "n=5"));
    }
    assert!(observed.take().is_empty());
}

#[tokio::test]
async fn a_handler_that_drops_the_body_unread_can_still_verify() {
    let (addr, observed) = start().await;
    for (proto, framing) in MATRIX {
        // /hello takes no body; the request still carries one. (POST: hyper's
        // HTTP/1.1 client sends no body at all with a length-less GET.)
        let reply = send_signed(
            addr,
            proto,
            framing,
            Method::POST,
            "/hello",
            "unexpected body",
        )
        .await;
        assert_eq!(reply.status, 200, "{proto:?} {framing:?}: {}", reply.text());
        let mut forged = signed(request(
            proto,
            addr,
            Method::POST,
            "/hello",
            "unexpected body",
        ));
        *forged.body_mut() = Bytes::from_static(b"unexpected BODY");
        send(addr, proto, framing, forged)
            .await
            .assert_problem(401, "invalid_signature");
        let seen = observed.take();
        assert_eq!(seen[0].verify, vec![Ok("7".to_owned())]);
        assert_eq!(seen[1].verify, vec![Err("invalid_signature".to_owned())]);
    }
}

#[tokio::test]
async fn the_query_body_boundary_shift_of_the_original_design_is_rejected() {
    let (addr, observed) = start().await;
    for (proto, framing) in MATRIX {
        let req = signed(request(proto, addr, Method::POST, "/any/x?a=1", "2"));
        let mut shifted = request(proto, addr, Method::POST, "/any/x?a=12", "");
        shifted.headers_mut().insert(
            header::AUTHORIZATION,
            req.headers()[header::AUTHORIZATION].clone(),
        );
        send(addr, proto, framing, shifted)
            .await
            .assert_problem(401, "invalid_signature");
        let reply = send(addr, proto, framing, req).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.text(), "POST /any/x?a=1");
        let mut seen = observed.take();
        assert_eq!(
            (
                seen[seen.len() - 1].body.as_ref(),
                seen[seen.len() - 1].verify.clone()
            ),
            (&b"2"[..], vec![Ok("7".to_owned())])
        );
        seen.pop();
        if framing == Framing::Length {
            // No body at all: judged, and refused, before the handler runs.
            assert!(seen.is_empty(), "{seen:?}");
        } else {
            // An empty chunked body can only be judged at its end.
            assert_eq!(
                (seen[0].body.as_ref(), seen[0].verify.clone()),
                (&b""[..], vec![Err("invalid_signature".to_owned())])
            );
        }
    }
}

#[tokio::test]
async fn percent_encoded_and_unusual_targets_are_signed_raw() {
    let (addr, observed) = start().await;
    let targets = [
        "/any/a%2Fb%20c",
        "/any/%E2%9C%93/%41",
        "/any/;,=@!$&'()*+:~",
        "/any/x?",
        "/any/x?a=%20&b=+&c=%2B&c=2",
        "/any/x?q=%ZZ&&=&x",
        "/any/x?just-a-flag",
        "/any/dots/../and/./slashes//",
    ];
    for (proto, framing) in MATRIX {
        for target in targets {
            let reply = send_signed(addr, proto, framing, Method::POST, target, target).await;
            assert_eq!(reply.status, 200, "{target}: {}", reply.text());
            // The handler saw the target exactly as sent.
            assert_eq!(reply.text(), format!("POST {target}"));
        }
        // Decoding and re-encoding is not the same request.
        let mut req = signed(request(proto, addr, Method::POST, "/any/a%2Fb", ""));
        *req.uri_mut() = req.uri().to_string().replace("%2F", "%2f").parse().unwrap();
        send(addr, proto, framing, req)
            .await
            .assert_problem(401, "invalid_signature");
    }
    observed.take();
}

fn valid_authorization() -> String {
    let mut req = http::Request::get("http://h/hello").body(()).unwrap();
    signer().sign(&mut req, b"").unwrap();
    req.headers()[header::AUTHORIZATION]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn missing_duplicate_and_malformed_authorization_headers_are_rejected() {
    let (addr, observed) = start().await;
    let valid = valid_authorization();
    let sig = valid.split("Signature=").nth(1).unwrap().to_owned();
    let t = now();
    let good = |rest: &str| format!("HMAC-SHA256 {rest}");
    let bad_values: Vec<(String, &str)> = vec![
        (String::new(), "empty"),
        ("Bearer abc.def".into(), "another scheme"),
        ("HMAC-SHA256".into(), "no parameters"),
        ("HMAC-SHA256 ".into(), "blank parameters"),
        ("HMAC-SHA1 ".to_owned() + &valid[12..], "wrong scheme"),
        (valid.replace("Key=7", "Key=7, Key=7"), "duplicate Key"),
        (valid.clone() + ", Extra=1", "unknown parameter"),
        (valid.clone() + ",", "trailing comma"),
        (valid.replace(&format!(", Signature={sig}"), ""), "missing Signature"),
        (valid.replace("Key=7", "Key="), "empty Key"),
        (valid.replace("Key=7", &format!("Key={}", "k".repeat(65))), "Key too long"),
        (valid.replace("Key=7", "Key=a/b"), "Key with a slash"),
        (valid.replace("Key=7", "Key = 7"), "spaces around ="),
        (valid.replace(&format!("Time={t}"), &format!("Time=0{t}")), "Time with leading zero"),
        (valid.replace(&format!("Time={t}"), &format!("Time=+{t}")), "Time with sign"),
        (valid.replace(&format!("Time={t}"), "Time=99999999999999999999999"), "Time overflows"),
        (valid.replace(&format!("Time={t}"), "Time=1.5"), "Time not an integer"),
        (good(&format!("Key=7, Time={t}, Nonce=short, SignedHeaders=host, Signature={sig}")), "Nonce too short"),
        (good(&format!("Key=7, Time={t}, Nonce={}, SignedHeaders=host, Signature={sig}", "n".repeat(65))), "Nonce too long"),
        (good(&format!("Key=7, Time={t}, Nonce=AAAAAAAAAAAAAAAAAAAAA+, SignedHeaders=host, Signature={sig}")), "Nonce not base64url"),
        (good(&format!("Key=7, Time={t}, Nonce=AAAAAAAAAAAAAAAAAAAAAA, SignedHeaders=host;content-type, Signature={sig}")), "SignedHeaders unsorted"),
        (good(&format!("Key=7, Time={t}, Nonce=AAAAAAAAAAAAAAAAAAAAAA, SignedHeaders=Host, Signature={sig}")), "SignedHeaders uppercase"),
        (good(&format!("Key=7, Time={t}, Nonce=AAAAAAAAAAAAAAAAAAAAAA, SignedHeaders=host;host, Signature={sig}")), "SignedHeaders duplicate"),
        (good(&format!("Key=7, Time={t}, Nonce=AAAAAAAAAAAAAAAAAAAAAA, SignedHeaders=a;;host, Signature={sig}")), "SignedHeaders empty name"),
        (good(&format!("Key=7, Time={t}, Nonce=AAAAAAAAAAAAAAAAAAAAAA, SignedHeaders=host, Signature={}", &sig[..43])), "Signature too short"),
        (good(&format!("Key=7, Time={t}, Nonce=AAAAAAAAAAAAAAAAAAAAAA, SignedHeaders=host, Signature={}", sig.replace('=', "A"))), "Signature unpadded"),
        (good(&format!("Key=7, Time={t}, Nonce=AAAAAAAAAAAAAAAAAAAAAA, SignedHeaders=host, Signature={}=", &sig[..42])), "Signature non-canonical"),
        (good(&format!("Key=7, Time={t}, Nonce=AAAAAAAAAAAAAAAAAAAAAA, SignedHeaders=host, Signature=*{}", &sig[1..])), "Signature not base64"),
        (valid.clone() + &", x=".repeat(500), "longer than 2048 bytes"),
    ];
    assert!(bad_values.len() >= 12);
    for (proto, framing) in [(Proto::H1, Framing::Length), (Proto::H2, Framing::Chunked)] {
        for (value, why) in &bad_values {
            let mut req = request(proto, addr, Method::GET, "/hello", "");
            req.headers_mut()
                .insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            let reply = send(addr, proto, framing, req).await;
            assert_eq!(reply.status, 401, "{why}: {}", reply.text());
            assert_eq!(
                reply.code().as_deref(),
                Some("malformed_authorization"),
                "{why}"
            );
        }
        // Non-ASCII bytes.
        let mut req = request(proto, addr, Method::GET, "/hello", "");
        req.headers_mut().insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(b"HMAC-SHA256 Key=\xe9").unwrap(),
        );
        send(addr, proto, framing, req)
            .await
            .assert_problem(401, "malformed_authorization");

        // Two headers, even two valid ones.
        let mut req = signed(request(proto, addr, Method::GET, "/hello", ""));
        let value = req.headers()[header::AUTHORIZATION].clone();
        req.headers_mut().append(header::AUTHORIZATION, value);
        send(addr, proto, framing, req)
            .await
            .assert_problem(401, "malformed_authorization");

        let req = request(proto, addr, Method::GET, "/hello", "");
        send(addr, proto, framing, req)
            .await
            .assert_problem(401, "missing_authorization");

        // Scheme and parameter names are case-insensitive, order is free.
        let mut req = request(proto, addr, Method::GET, "/hello", "");
        let auth = signer()
            .sign_at(&mut req, &BodyDigest::of(b""), now(), Nonce::random())
            .unwrap();
        let reordered = format!(
            "hmac-sha256 signature={}, SIGNEDHEADERS={},\tnonce={} ,time={},KEY={}",
            valid_signature_of(&auth),
            auth.signed_headers().as_str(),
            auth.nonce(),
            auth.time(),
            auth.key_id()
        );
        req.headers_mut().insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&reordered).unwrap(),
        );
        let reply = send(addr, proto, framing, req).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    // None of the malformed requests reached the handler.
    assert_eq!(observed.take().len(), 2);
}

fn valid_signature_of(auth: &tower_hmac::schemes::hmac_sha256::Authorization) -> String {
    auth.to_string()
        .split("Signature=")
        .nth(1)
        .unwrap()
        .to_owned()
}

/// Signs `req` (body `x`) with the test secret under `key_id`, which is
/// unknown or not that secret's id, and expects `invalid_signature`.
async fn refused_with_key(
    addr: std::net::SocketAddr,
    proto: Proto,
    framing: Framing,
    mut req: http::Request<Bytes>,
    key_id: &str,
    declare: bool,
) {
    Signer::new(key_id.parse().unwrap(), support::secret())
        .declare_digest(declare)
        .sign(&mut req, b"x")
        .unwrap();
    send(addr, proto, framing, req)
        .await
        .assert_problem(401, "invalid_signature");
}

#[tokio::test]
async fn unknown_keys_wrong_secrets_and_unsigned_required_headers_are_rejected() {
    let observed = Observed::default();
    let layer = SignatureLayer::new(keys()).require_signed_header(header::CONTENT_TYPE);
    let addr = support::serve(app_with(layer, observed.clone())).await;
    for (proto, framing) in MATRIX {
        let typed = |req: http::Request<Bytes>| {
            let mut req = req;
            req.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            req
        };
        // Unknown key, then the wrong secret: refused before the handler
        // when the digest is declared, at verify() for a v1 client.
        for declare in [true, false] {
            for key_id in ["9", "8"] {
                let req = typed(request(proto, addr, Method::POST, "/upload", "x"));
                refused_with_key(addr, proto, framing, req, key_id, declare).await;
            }
        }

        // No content-type, so the signer does not sign it.
        let req = signed(request(proto, addr, Method::POST, "/upload", "x"));
        send(addr, proto, framing, req)
            .await
            .assert_problem(401, "unsigned_header");

        let req = signed(typed(request(proto, addr, Method::POST, "/upload", "x")));
        assert_eq!(send(addr, proto, framing, req).await.status, 200);
    }
    let seen = observed.take();
    // The unsigned header and the early refusals never reached the handler.
    // The v1 unknown key did, and failed exactly like the wrong secret:
    // nothing tells the two apart.
    assert_eq!(seen.len(), 12, "{seen:?}");
    for per_combination in seen.chunks(3) {
        assert_eq!(
            per_combination[0].verify,
            vec![Err("invalid_signature".to_owned())]
        );
        assert_eq!(per_combination[1].verify, per_combination[0].verify);
        assert_eq!(per_combination[0].len, per_combination[1].len);
        assert_eq!(per_combination[2].verify, vec![Ok("7".to_owned())]);
    }
}

#[tokio::test]
async fn host_must_be_signed_by_default() {
    let (addr, observed) = start().await;
    let valid = valid_authorization();
    let without_host = valid.replace("SignedHeaders=host", "SignedHeaders=x-other");
    let mut req = request(Proto::H1, addr, Method::GET, "/hello", "");
    req.headers_mut().insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&without_host).unwrap(),
    );
    send(addr, Proto::H1, Framing::Length, req)
        .await
        .assert_problem(401, "unsigned_header");
    assert!(observed.take().is_empty());
}

#[tokio::test]
async fn a_client_that_disconnects_mid_body_gets_nothing_accepted() {
    let (addr, observed) = start().await;
    let body = body_of(200_000);
    let req = signed(request(
        Proto::H1,
        addr,
        Method::POST,
        "/upload",
        body.clone(),
    ));
    let mut head = format!(
        "POST /upload HTTP/1.1\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in req.headers() {
        head += &format!("{name}: {}\r\n", value.to_str().unwrap());
    }
    head += "\r\n";
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..50_000]).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(stream);

    let seen = observed.wait_for(1).await;
    assert_eq!(seen.len(), 1);
    assert!(seen[0].body_error, "{seen:?}");
    assert!(seen[0].len < 200_000);
    assert_eq!(seen[0].verify, vec![Err("body_incomplete".to_owned())]);

    // Chunked, cut off mid-stream, on a connection that stays open long enough to get an answer.
    let req = signed(request(
        Proto::H1,
        addr,
        Method::POST,
        "/upload",
        body.clone(),
    ));
    let mut head = "POST /upload HTTP/1.1\r\ntransfer-encoding: chunked\r\n".to_owned();
    for (name, value) in req.headers() {
        head += &format!("{name}: {}\r\n", value.to_str().unwrap());
    }
    head += "\r\n1000\r\n";
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..0x1000]).await.unwrap();
    stream.write_all(b"\r\nzz-not-hex\r\n").await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.contains("200 OK"), "{answer}");
    assert!(!answer.starts_with("HTTP/1.1 5"), "{answer}");
    let seen = observed.wait_for(1).await;
    assert_eq!(seen[0].verify, vec![Err("body_incomplete".to_owned())]);

    // The server is still fine.
    let reply = send_signed(addr, Proto::H1, Framing::Length, Method::GET, "/hello", "").await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn the_buffering_adapter_enforces_its_limit_and_verifies_before_the_handler() {
    let (addr, observed) = start().await;
    for (proto, framing) in MATRIX {
        let big = body_of(64 * 1024 + 1);
        let reply = send_signed(addr, proto, framing, Method::POST, "/echo", big).await;
        reply.assert_problem(413, "body_too_large");

        let exact = body_of(64 * 1024);
        let reply = send_signed(addr, proto, framing, Method::POST, "/echo", exact.clone()).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, exact);

        let mut forged = signed(request(proto, addr, Method::POST, "/echo", "genuine"));
        *forged.body_mut() = Bytes::from_static(b"forged!");
        send(addr, proto, framing, forged)
            .await
            .assert_problem(401, "invalid_signature");
    }
    // Only the four verified requests reached the echo handler.
    let seen = observed.take();
    assert_eq!(seen.len(), 4);
    assert!(seen.iter().all(|o| o.len == 64 * 1024));
}

#[tokio::test]
async fn verified_bytes_and_json_extractors_verify_before_parsing() {
    let (addr, observed) = start().await;
    for (proto, framing) in MATRIX {
        let reply = send_signed(addr, proto, framing, Method::POST, "/bytes", "raw").await;
        assert_eq!((reply.status.as_u16(), reply.text().as_str()), (200, "raw"));

        let reply = send_signed(addr, proto, framing, Method::POST, "/json", r#"{"a":1}"#).await;
        assert_eq!(
            (reply.status.as_u16(), reply.text().as_str()),
            (200, r#"{"got":{"a":1}}"#)
        );

        let mut forged = signed(request(proto, addr, Method::POST, "/json", r#"{"a":1}"#));
        *forged.body_mut() = Bytes::from_static(b"{broken");
        send(addr, proto, framing, forged)
            .await
            .assert_problem(401, "invalid_signature");

        // Genuine but not JSON: verified first, then axum's JSON rejection passes through.
        let reply = send_signed(addr, proto, framing, Method::POST, "/json", "{broken").await;
        assert!(
            reply.status.is_client_error() && reply.status != 401,
            "{:?} {}",
            reply.status,
            reply.text()
        );
    }
    assert_eq!(observed.take().len(), 4);
}

#[tokio::test]
async fn large_streamed_uploads_pass() {
    let (addr, observed) = start().await;
    let body = body_of(16 * 1024 * 1024);
    for proto in [Proto::H1, Proto::H2] {
        let reply = send_signed(
            addr,
            proto,
            Framing::Chunked,
            Method::POST,
            "/upload",
            body.clone(),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.text(), format!(r#"{{"bytes":{}}}"#, body.len()));
    }
    assert_eq!(observed.take().len(), 2);
}

#[tokio::test]
async fn a_full_nonce_store_fails_closed_with_503() {
    let observed = Observed::default();
    let layer = SignatureLayer::new(keys()).nonce_store(InMemoryNonceStore::with_capacity(1));
    let addr = support::serve(app_with(layer, observed.clone())).await;
    let first = signed(request(Proto::H1, addr, Method::GET, "/hello", ""));
    assert_eq!(
        send(addr, Proto::H1, Framing::Length, first.clone())
            .await
            .status,
        200
    );
    let second = signed(request(Proto::H1, addr, Method::GET, "/hello", ""));
    send(addr, Proto::H1, Framing::Length, second)
        .await
        .assert_problem(503, "replay_store_unavailable");
    // The full store still remembers what it holds.
    send(addr, Proto::H1, Framing::Length, first)
        .await
        .assert_problem(401, "replayed_request");
}

struct BrokenKeyStore;

impl KeyStore for BrokenKeyStore {
    fn lookup(&self, _: &KeyId) -> StoreFuture<Result<Option<Secret>, StoreError>> {
        StoreFuture::new(async {
            tokio::task::yield_now().await;
            Err(StoreError::new("database is down"))
        })
    }
}

#[tokio::test]
async fn a_key_store_error_is_503_not_unknown_key() {
    let observed = Observed::default();
    let addr = support::serve(app_with(
        SignatureLayer::new(BrokenKeyStore),
        observed.clone(),
    ))
    .await;
    let req = signed(request(Proto::H2, addr, Method::GET, "/hello", ""));
    send(addr, Proto::H2, Framing::Length, req)
        .await
        .assert_problem(503, "key_store_unavailable");
    assert!(observed.take().is_empty());
}

#[tokio::test]
async fn a_key_store_that_answers_later_verifies_like_one_that_answers_at_once() {
    let observed = Observed::default();
    let layer = SignatureLayer::new(support::app::SlowKeyStore(keys()));
    let addr = support::serve(app_with(layer, observed.clone())).await;
    for (proto, framing) in MATRIX {
        let body = body_of(70_000);
        let reply = send_signed(addr, proto, framing, Method::POST, "/upload", body).await;
        assert_eq!(reply.status, 200, "{proto:?} {framing:?}: {}", reply.text());
        assert_eq!(reply.text(), r#"{"bytes":70000}"#);
        let seen = observed.take();
        assert_eq!(seen[0].len, 70_000);
        assert_eq!(seen[0].verify, vec![Ok("7".to_owned())]);

        for declare in [true, false] {
            let req = request(proto, addr, Method::POST, "/upload", "x");
            refused_with_key(addr, proto, framing, req, "9", declare).await;
        }
        // Declared: refused against the decoy key before the handler. v1:
        // the handler ran against the decoy key, and its verify() failed.
        let seen = observed.take();
        assert_eq!(seen.len(), 1);
        assert!(
            matches!(seen[0].verify[..], [Err(_)]),
            "{:?}",
            seen[0].verify
        );
    }
}

#[tokio::test]
async fn replay_protection_can_be_turned_off() {
    let observed = Observed::default();
    let layer = SignatureLayer::new(keys()).without_replay_protection();
    let addr = support::serve(app_with(layer, observed.clone())).await;
    let req = signed(request(Proto::H1, addr, Method::GET, "/hello", ""));
    assert_eq!(
        send(addr, Proto::H1, Framing::Length, req.clone())
            .await
            .status,
        200
    );
    assert_eq!(
        send(addr, Proto::H1, Framing::Length, req).await.status,
        200
    );
}
