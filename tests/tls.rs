//! Signed requests over TLS: a guarded axum app served by rustls on a
//! loopback port, with a certificate made by rcgen for this run, and a
//! rustls-backed hyper client that trusts only that certificate. Both
//! HTTP/2 and HTTP/1.1 (chosen by ALPN).

use std::{net::SocketAddr, sync::Arc};

use axum::{body::Body, routing::post, Json, Router};
use bytes::Bytes;
use http::{header, Method, Request, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use rustls::{
    crypto::{ring, CryptoProvider},
    pki_types::{CertificateDer, PrivatePkcs8KeyDer, ServerName},
    ClientConfig, RootCertStore, ServerConfig,
};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tower_hmac::{
    InMemoryKeys, Secret, SignatureLayer, Signer, VerifiedResponse, Verifier, VerifyError,
};

const SECRET_B64: &str = "dG93ZXItaG1hYy10ZXN0LXNlY3JldC0zMi1ieXRlcyE=";
const H2: &[u8] = b"h2";
const H1: &[u8] = b"http/1.1";

fn signer() -> Signer {
    Signer::new(
        "7".parse().unwrap(),
        Secret::from_base64(SECRET_B64).unwrap(),
    )
}

/// Reads the whole body, verifies, and says what it saw.
async fn echo(
    verifier: Verifier,
    method: Method,
    uri: Uri,
    version: Version,
    body: Body,
) -> Result<VerifiedResponse, VerifyError> {
    // A broken body is reported by verify().
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let verified = verifier.verify().await?;
    let key = verified.key_id().to_string();
    Ok(verified.respond(Json(json!({
        "key": key,
        "method": method.as_str(),
        "path": uri.path(),
        "version": format!("{version:?}"),
        "body": String::from_utf8_lossy(&body),
    }))))
}

struct Tls {
    addr: SocketAddr,
    cert: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

/// The guarded app over rustls on 127.0.0.1:0, with a fresh certificate for `localhost`.
async fn serve() -> Tls {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = generated.cert.der().clone();
    let key = PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
    let provider = Arc::new(ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key.into())
        .unwrap();
    config.alpn_protocols = vec![H2.to_vec(), H1.to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));

    let keys = InMemoryKeys::new().with_key(
        "7".parse().unwrap(),
        Secret::from_base64(SECRET_B64).unwrap(),
    );
    let app = Router::new()
        .route("/echo", post(echo))
        .route_layer(SignatureLayer::new(keys));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                    .await;
            });
        }
    });
    Tls {
        addr,
        cert,
        provider,
    }
}

impl Tls {
    fn connector(&self, trusted: bool, alpn: &[u8]) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        if trusted {
            roots.add(self.cert.clone()).unwrap();
        }
        let mut config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        TlsConnector::from(Arc::new(config))
    }

    /// A POST to `/echo` addressed as `alpn`'s protocol expects.
    fn request(&self, alpn: &[u8], body: &'static [u8]) -> Request<Bytes> {
        let authority = format!("localhost:{}", self.addr.port());
        let builder = if alpn == H2 {
            Request::post(format!("https://{authority}/echo")).version(Version::HTTP_2)
        } else {
            Request::post("/echo").header(header::HOST, authority)
        };
        builder
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Bytes::from_static(body))
            .unwrap()
    }

    /// Sends over a fresh TLS connection that negotiated `alpn`.
    async fn send(&self, alpn: &[u8], request: Request<Bytes>) -> (StatusCode, Bytes) {
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let tls = self.connector(true, alpn).connect(name, tcp).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn));
        let request = request.map(Full::new);
        let response = if alpn == H2 {
            let (mut sender, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                    .await
                    .unwrap();
            tokio::spawn(conn);
            sender.send_request(request).await.unwrap()
        } else {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .unwrap();
            tokio::spawn(conn);
            sender.send_request(request).await.unwrap()
        };
        let status = response.status();
        (
            status,
            response.into_body().collect().await.unwrap().to_bytes(),
        )
    }
}

fn code(body: &[u8]) -> String {
    let problem: Value = serde_json::from_slice(body).unwrap();
    problem["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_signed_request_over_tls() {
    let tls = serve().await;
    for (alpn, version) in [(H2, "HTTP/2.0"), (H1, "HTTP/1.1")] {
        let mut request = tls.request(alpn, b"confidential and authentic");
        signer()
            .sign(&mut request, b"confidential and authentic")
            .unwrap();
        let (status, body) = tls.send(alpn, request).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let seen: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            seen,
            json!({
                "key": "7",
                "method": "POST",
                "path": "/echo",
                "version": version,
                "body": "confidential and authentic",
            })
        );
    }
}

#[tokio::test]
async fn tampered_and_unsigned_requests_over_tls_are_refused() {
    let tls = serve().await;
    for alpn in [H2, H1] {
        // TLS is intact end to end; the request was changed after signing.
        let mut request = tls.request(alpn, b"pay 10 to alice");
        signer().sign(&mut request, b"pay 10 to alice").unwrap();
        let tampered = request.map(|_| Bytes::from_static(b"pay 99 to mallory"));
        let (status, body) = tls.send(alpn, tampered).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(code(&body), "invalid_signature");

        let (status, body) = tls.send(alpn, tls.request(alpn, b"no signature")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(code(&body), "missing_authorization");
    }
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_certificate_gets_nowhere() {
    let tls = serve().await;
    let tcp = TcpStream::connect(tls.addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let error = tls
        .connector(false, H2)
        .connect(name, tcp)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("certificate"), "{error}");
}
