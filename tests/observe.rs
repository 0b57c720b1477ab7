//! The per-request span and the outcome hook.

mod support;

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use http::{header, Method};
use support::{
    app::{app_with, keys, Observed},
    request, send, signed, Framing, Proto, SECRET_B64,
};
use tower_hmac::{
    observe::{Caller, OutcomeCounters},
    ErrorCode, SignatureLayer,
};
use tracing_subscriber::fmt::{format::FmtSpan, MakeWriter};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn every_request_has_a_span_with_key_and_outcome_and_the_hook_counts_them() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .finish();
    // The test runtime is single-threaded, so the server's tasks log here too.
    let _guard = tracing::subscriber::set_default(subscriber);

    let counters = Arc::new(OutcomeCounters::default());
    let recorder = counters.clone();
    let seen_keys = Arc::new(Mutex::new(Vec::new()));
    let seen = seen_keys.clone();
    let layer = SignatureLayer::new(keys()).on_outcome(move |caller, outcome| {
        let caller = match caller {
            Caller::Anonymous => "anonymous".to_owned(),
            Caller::Claimed(key_id) => format!("claimed {key_id}"),
            Caller::Authenticated(key_id) => format!("authenticated {key_id}"),
            other => format!("{other:?}"),
        };
        seen.lock().unwrap().push((caller, outcome.as_str()));
        recorder.record(outcome);
    });
    let addr = support::serve(app_with(layer, Observed::default())).await;

    let ok = signed(request(Proto::H1, addr, Method::GET, "/hello", ""));
    let signature = ok.headers()[header::AUTHORIZATION]
        .to_str()
        .unwrap()
        .split("Signature=")
        .nth(1)
        .unwrap()
        .to_owned();
    assert_eq!(
        send(addr, Proto::H1, Framing::Length, ok.clone())
            .await
            .status,
        200
    );
    send(addr, Proto::H1, Framing::Length, ok)
        .await
        .assert_problem(401, "replayed_request");
    let mut forged = signed(request(Proto::H1, addr, Method::POST, "/upload", "a"));
    *forged.body_mut() = Bytes::from_static(b"b");
    // The head is genuine (it declares the digest of "a"); the body is not.
    send(addr, Proto::H1, Framing::Length, forged)
        .await
        .assert_problem(401, "invalid_signature");
    let mut unknown = signed(request(Proto::H1, addr, Method::GET, "/hello", ""));
    let value = unknown.headers()[header::AUTHORIZATION]
        .to_str()
        .unwrap()
        .replace("Key=7,", "Key=nobody,");
    unknown
        .headers_mut()
        .insert(header::AUTHORIZATION, value.parse().unwrap());
    send(addr, Proto::H1, Framing::Length, unknown)
        .await
        .assert_problem(401, "invalid_signature");
    send(
        addr,
        Proto::H1,
        Framing::Length,
        request(Proto::H1, addr, Method::GET, "/hello", ""),
    )
    .await
    .assert_problem(401, "missing_authorization");
    let genuine_refusal = signed(request(
        Proto::H1,
        addr,
        Method::POST,
        "/reject-unverified",
        "x",
    ));
    assert_eq!(
        send(addr, Proto::H1, Framing::Length, genuine_refusal)
            .await
            .status,
        422
    );

    assert_eq!(counters.accepted(), 1);
    assert_eq!(counters.rejected(ErrorCode::ReplayedRequest), 1);
    assert_eq!(counters.rejected(ErrorCode::InvalidSignature), 2);
    assert_eq!(counters.rejected(ErrorCode::MissingAuthorization), 1);
    assert_eq!(counters.rejected(ErrorCode::StaleRequest), 0);
    let snapshot = counters.snapshot();
    assert_eq!(snapshot.len(), 2 + ErrorCode::ALL.len());
    assert!(
        snapshot.contains(&("unverified_client_error", 1)),
        "{snapshot:?}"
    );
    assert_eq!(
        *seen_keys.lock().unwrap(),
        vec![
            ("authenticated 7".to_owned(), "accepted"),
            // A replay proves nothing of who sends it.
            ("claimed 7".to_owned(), "replayed_request"),
            ("authenticated 7".to_owned(), "invalid_signature"),
            ("claimed nobody".to_owned(), "invalid_signature"),
            ("anonymous".to_owned(), "missing_authorization"),
            ("authenticated 7".to_owned(), "unverified_client_error"),
        ]
    );

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    for outcome in [
        "accepted",
        "replayed_request",
        "invalid_signature",
        "missing_authorization",
    ] {
        assert!(
            logs.contains(&format!("outcome=\"{outcome}\""))
                || logs.contains(&format!("outcome={outcome}")),
            "no span closed with {outcome}:\n{logs}"
        );
    }
    assert!(
        logs.contains("key_id=\"7\"") || logs.contains("key_id=7"),
        "{logs}"
    );
    assert!(!logs.contains(SECRET_B64), "the secret was logged");
    assert!(
        !logs.contains(&signature) && !logs.contains(&signature[..20]),
        "a signature was logged"
    );
}
