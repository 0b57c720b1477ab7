//! Observability: the per-request `tracing` span and outcome counters,
//! exported in the Prometheus text format on an unguarded `/metrics`.
//!
//! ```text
//! cargo run --example metrics
//! ```
//! It starts the guarded app, sends a few good and bad requests, and prints
//! what `/metrics` then reports.

mod support;

use std::sync::Arc;

use axum::{extract::State, routing::get, Router};
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tower_hmac::{observe::OutcomeCounters, InMemoryKeys, SignatureLayer, Signer};

async fn metrics(State(counters): State<Arc<OutcomeCounters>>) -> String {
    let mut text = String::from(
        "# HELP hmac_requests_total Signed requests by outcome.\n# TYPE hmac_requests_total counter\n",
    );
    for (outcome, count) in counters.snapshot() {
        text += &format!("hmac_requests_total{{outcome=\"{outcome}\"}} {count}\n");
    }
    text
}

#[tokio::main]
async fn main() {
    // Each request's span closes with its fields: key_id and outcome.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .init();

    let (key_id, secret) = support::demo_key();
    let counters = Arc::new(OutcomeCounters::default());
    let recorder = counters.clone();
    let guarded = Router::new()
        .route(
            "/hello",
            get(|verifier: tower_hmac::Verifier| async move {
                verifier.verify().await.map(|v| v.respond("hello"))
            }),
        )
        .route_layer(
            SignatureLayer::new(InMemoryKeys::new().with_key(key_id.clone(), secret.clone()))
                .on_outcome(move |_caller, outcome| recorder.record(outcome)),
        );
    let app = guarded.merge(
        Router::new()
            .route("/metrics", get(metrics))
            .with_state(counters),
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(support::serve(listener, app));

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let signer = Signer::new(key_id, secret);
    let hello = || {
        Request::get(format!("http://{addr}/hello"))
            .body(Bytes::new())
            .unwrap()
    };
    let mut good = hello();
    signer.sign(&mut good, b"").unwrap();
    let replay = good.clone();
    for request in [good, replay, hello()] {
        let _ = client.request(request.map(Full::new)).await.unwrap();
    }

    let response = client
        .request(
            Request::get(format!("http://{addr}/metrics"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    println!("\nGET /metrics\n{}", String::from_utf8_lossy(&body));
}
