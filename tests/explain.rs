//! `SignatureLayer::explain_refusals`: an `invalid_signature` says what the
//! server checked, so a client can diff it against what it signed, and
//! never anything secret.

mod support;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use bytes::Bytes;
use http::{header, Method};
use support::{
    app::{app_with, keys, Observed},
    request, send, signed, signed_v1, Framing, Proto, MATRIX,
};
use tower_hmac::{schemes::hmac_sha256::Authorization, BodyDigest, SignatureLayer};

fn explanation(reply: &support::Reply) -> serde_json::Value {
    let body: serde_json::Value = serde_json::from_str(&reply.text()).unwrap();
    assert_eq!(body["code"], "invalid_signature", "{body}");
    body["explanation"].clone()
}

/// The signature the server would have expected for `text`: must never be shown.
fn expected_signature(text: &str) -> String {
    use hmac::{KeyInit as _, Mac as _};
    let key = STANDARD.decode(support::SECRET_B64).unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(text.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn assert_nothing_secret(reply: &support::Reply, server_text: &str) {
    let text = reply.text();
    assert!(
        !text.contains(support::SECRET_B64),
        "the secret leaked: {text}"
    );
    assert!(
        !text.contains(&expected_signature(server_text)),
        "the expected signature leaked: {text}"
    );
}

#[tokio::test]
async fn a_refused_signature_explains_what_the_server_checked() {
    let layer = SignatureLayer::new(keys()).explain_refusals(true);
    let addr = support::serve(app_with(layer, Observed::default())).await;
    for (proto, framing) in MATRIX {
        // A proxy rewrote the path: the string-to-sign shows the path the server saw.
        let mut req = signed(request(proto, addr, Method::GET, "/any/hello?a=1", ""));
        let rewritten = req.uri().to_string().replace("/hello", "/%68ello");
        *req.uri_mut() = rewritten.parse().unwrap();
        let reply = send(addr, proto, framing, req).await;
        reply.assert_problem(401, "invalid_signature");
        let explained = explanation(&reply);
        assert_eq!(explained["key_id"], "7");
        let text = explained["string_to_sign"].as_str().unwrap().to_owned();
        assert!(text.contains("\nGET\n/any/%68ello\na=1\n"), "{text}");
        assert!(text.ends_with(&BodyDigest::EMPTY.to_hex()), "{text}");
        assert_nothing_secret(&reply, &text);

        // A body changed after signing, digest declared: both digests.
        let mut req = signed(request(proto, addr, Method::POST, "/upload", "as signed"));
        *req.body_mut() = Bytes::from_static(b"compressed?");
        let reply = send(addr, proto, framing, req).await;
        reply.assert_problem(401, "invalid_signature");
        let explained = explanation(&reply);
        assert_eq!(
            explained["declared_digest"],
            BodyDigest::of(b"as signed").to_hex()
        );
        assert_eq!(
            explained["received_digest"],
            BodyDigest::of(b"compressed?").to_hex()
        );
        let text = explained["string_to_sign"].as_str().unwrap().to_owned();
        assert_nothing_secret(&reply, &text);

        // A v1 request, judged at its end: the string-to-sign with the digest received.
        let mut req = signed_v1(request(proto, addr, Method::POST, "/upload", "v1"));
        *req.body_mut() = Bytes::from_static(b"v2");
        let reply = send(addr, proto, framing, req).await;
        reply.assert_problem(401, "invalid_signature");
        let explained = explanation(&reply);
        let text = explained["string_to_sign"].as_str().unwrap().to_owned();
        assert!(text.ends_with(&BodyDigest::of(b"v2").to_hex()), "{text}");
        assert_eq!(explained["received_digest"], BodyDigest::of(b"v2").to_hex());
        assert_nothing_secret(&reply, &text);

        // A signed header changed on the way: the value the server signed is shown.
        let mut req = request(proto, addr, Method::GET, "/hello", "");
        req.headers_mut()
            .insert("x-tenant", "blue".parse().unwrap());
        let mut req = {
            let mut req = req;
            support::signer()
                .sign_header(http::HeaderName::from_static("x-tenant"))
                .sign(&mut req, b"")
                .unwrap();
            req
        };
        req.headers_mut().insert("x-tenant", "red".parse().unwrap());
        let reply = send(addr, proto, framing, req).await;
        let text = explanation(&reply)["string_to_sign"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(text.contains("\nx-tenant:red\n"), "{text}");
    }
}

#[tokio::test]
async fn the_explanation_matches_what_a_correct_client_would_have_signed() {
    let layer = SignatureLayer::new(keys()).explain_refusals(true);
    let addr = support::serve(app_with(layer, Observed::default())).await;
    let genuine = signed(request(Proto::H1, addr, Method::GET, "/hello?x=1", ""));
    let auth = Authorization::from_header(&genuine.headers()[header::AUTHORIZATION]).unwrap();
    let client_text = auth.canonical_request(genuine.method(), genuine.uri(), genuine.headers());
    let client_text = String::from_utf8(client_text.string_to_sign(&BodyDigest::EMPTY)).unwrap();
    // Same request, forged signature: the server's string-to-sign is the client's.
    let mut forged = genuine.clone();
    let value = genuine.headers()[header::AUTHORIZATION].to_str().unwrap();
    let (head, _) = value.split_once("Signature=").unwrap();
    let forged_value = format!("{head}Signature=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    forged
        .headers_mut()
        .insert(header::AUTHORIZATION, forged_value.parse().unwrap());
    let reply = send(addr, Proto::H1, Framing::Length, forged).await;
    assert_eq!(explanation(&reply)["string_to_sign"], client_text.as_str());
    // The real signature appears nowhere in the refusal.
    assert!(!reply
        .text()
        .contains(auth.to_string().split("Signature=").nth(1).unwrap()));
}

#[tokio::test]
async fn refusals_are_not_explained_by_default_and_other_codes_never_are() {
    let addr = support::serve(app_with(SignatureLayer::new(keys()), Observed::default())).await;
    let mut req = signed(request(Proto::H1, addr, Method::POST, "/upload", "a"));
    *req.body_mut() = Bytes::from_static(b"b");
    let reply = send(addr, Proto::H1, Framing::Length, req).await;
    reply.assert_problem(401, "invalid_signature");
    assert!(!reply.text().contains("explanation"), "{}", reply.text());

    let layer = SignatureLayer::new(keys()).explain_refusals(true);
    let addr = support::serve(app_with(layer, Observed::default())).await;
    let req = signed(request(Proto::H1, addr, Method::GET, "/hello", ""));
    send(addr, Proto::H1, Framing::Length, req.clone()).await;
    let reply = send(addr, Proto::H1, Framing::Length, req).await;
    reply.assert_problem(401, "replayed_request");
    assert!(!reply.text().contains("explanation"), "{}", reply.text());
}
