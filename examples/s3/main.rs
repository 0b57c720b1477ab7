//! A minimal S3-compatible object store guarded by the SigV4 scheme: the
//! AWS SDKs, the AWS CLI and presigned URLs are its clients.
//!
//! ```text
//! cargo run --release --features sigv4 --example s3 -- --listen 127.0.0.1:9000 --key 7=<base64> \
//!     [--region us-east-1] [--data DIR] [--tls-cert PEM --tls-key PEM]
//! ```
//! `--key ID=BASE64` may repeat: the access key id is `ID` and the secret
//! access key is the base64 text itself, so boto3 takes
//! `aws_access_key_id="7", aws_secret_access_key="<base64>"`. With no
//! `--key`, the demo key is used and printed. `--data` defaults to
//! `./s3-data`. With `--tls-cert` and `--tls-key` (PEM) it serves HTTPS.
//! It prints `listening on http(s)://ADDR` once bound (port 0 works).
//!
//! ```python
//! s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:9000", region_name="us-east-1",
//!                   aws_access_key_id="7", aws_secret_access_key="<base64>",
//!                   config=botocore.config.Config(s3={"addressing_style": "path"}))
//! ```
//!
//! Path-style only (`/<bucket>/<key>`). It does CreateBucket, DeleteBucket,
//! HeadBucket, GetBucketLocation, ListBuckets, ListObjectsV2 and
//! ListObjects (prefix, delimiter, max-keys, continuation), PutObject,
//! GetObject (one `Range` at most), HeadObject, DeleteObject, and multipart
//! uploads (create, upload part, complete, abort): enough for boto3's
//! `upload_fileobj` and `download_file`. Anything else (ACLs, versions,
//! tagging, copies...) is `501 NotImplemented`.
//!
//! Errors of S3's own are S3's XML (`NoSuchKey`, `NoSuchBucket`,
//! `BucketAlreadyOwnedByYou`, `NoSuchUpload`, `InvalidPart`, ...), which the
//! SDKs turn into their error codes. A request the layer refuses (a wrong
//! secret, a bad signature, a stale date) gets tower-hmac's
//! `application/problem+json` with its `code` instead, which boto3 reports
//! as a `ClientError` whose `Error.Code` is only the HTTP status (`"401"`).
//!
//! Every upload streams to a file under `DATA/tmp` and is moved into place
//! only after `verify()` succeeds. Over HTTP, boto3 signs the payload (its
//! SHA-256 in `x-amz-content-sha256`), and an unsigned one is refused
//! (`unsigned_payload_not_allowed`). Over HTTPS, boto3 leaves the body
//! unsigned (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`, with a CRC32 trailer the
//! layer checks), which is accepted there, and the stored object records
//! that its bytes were not authenticated. All keys share one namespace.
//!
//! SigV4 has no nonce: the layer takes the signature as the replay token,
//! so a request identical to one already accepted, signed within the same
//! second (`X-Amz-Date`), is refused `401 replayed_request`. The SDKs sign
//! each attempt anew; a client repeating a request on purpose (a second
//! `create_bucket` at once, say) meets it.
//!
//! It serves with the production settings of `support::ServeConfig`, but
//! 300 s per request (the layer's default `max_request_duration`): a large
//! single PutObject takes longer than 60 s on a slow link.

#[path = "../support/mod.rs"]
mod support;

mod app;
mod net;
mod store;
mod xml;

use std::{path::PathBuf, sync::Arc, time::Duration};

use tower_hmac::InMemoryKeys;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    let mut listen = "127.0.0.1:9000".to_owned();
    let mut keys = InMemoryKeys::new();
    let mut region = "us-east-1".to_owned();
    let mut data = PathBuf::from("s3-data");
    let (mut cert, mut key) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |what: &str| {
            args.next()
                .unwrap_or_else(|| exit(&format!("{arg} needs {what}")))
        };
        match arg.as_str() {
            "--listen" => listen = value("ADDR"),
            "--region" => region = value("REGION"),
            "--data" => data = value("DIR").into(),
            "--tls-cert" => cert = Some(PathBuf::from(value("PEM"))),
            "--tls-key" => key = Some(PathBuf::from(value("PEM"))),
            "--key" => {
                let (id, secret) =
                    support::parse_key(&value("ID=BASE64")).unwrap_or_else(|e| exit(&e));
                keys.insert(id, secret);
            }
            _ => exit(&format!("unexpected argument {arg:?}")),
        }
    }
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => {
            Some(net::tls_acceptor(&cert, &key).unwrap_or_else(|e| exit(&e)))
        }
        (None, None) => None,
        _ => exit("--tls-cert and --tls-key go together"),
    };
    if keys.is_empty() {
        let (id, secret) = support::demo_key();
        keys.insert(id, secret);
        println!(
            "no --key given: using the demo key {}={} (never use it for anything real)",
            support::DEMO_KEY_ID,
            support::DEMO_SECRET_B64
        );
    }
    let store = store::Store::open(&data)
        .unwrap_or_else(|e| exit(&format!("data directory {}: {e}", data.display())));
    let app = app::router(
        Arc::new(app::S3 {
            store,
            region: region.clone(),
        }),
        app::layer(keys, &region, tls.is_some()),
    );

    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|e| exit(&format!("cannot listen on {listen}: {e}")));
    let addr = listener
        .local_addr()
        .expect("a bound socket has an address");
    let config = support::ServeConfig {
        request_timeout: Duration::from_secs(300),
        ..Default::default()
    };
    match tls {
        Some(acceptor) => {
            println!("listening on https://{addr}");
            net::serve_tls(listener, acceptor, app, config).await;
        }
        None => {
            println!("listening on http://{addr}");
            support::serve_with(listener, app, config).await;
        }
    }
}

fn exit(message: &str) -> ! {
    eprintln!(
        "error: {message}\nusage: s3 [--listen ADDR] [--key ID=BASE64SECRET]... [--region REGION] \
         [--data DIR] [--tls-cert PEM --tls-key PEM]"
    );
    std::process::exit(2)
}
