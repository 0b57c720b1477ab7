//! The guarded app over TLS: signing for integrity and authenticity, TLS for
//! confidentiality.
//!
//! ```text
//! cargo run --example tls
//! ```
//! Generates a self-signed certificate for `localhost` at start-up (rcgen),
//! serves the guarded application of the other examples over rustls
//! (HTTP/2 or HTTP/1.1 by ALPN) on a free loopback port, then sends signed
//! requests to it through a rustls-backed hyper client that trusts exactly
//! that certificate, and prints what came back.

mod support;

use std::{net::SocketAddr, sync::Arc};

use axum::Router;
use bytes::Bytes;
use http::{header, Request, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use rustls::{
    crypto::ring,
    pki_types::{PrivatePkcs8KeyDer, ServerName},
    ClientConfig, RootCertStore, ServerConfig,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tower_hmac::{InMemoryKeys, Signer};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // A certificate for this run only; a real server loads its own.
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    let cert = generated.cert.der().clone();
    let key = PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());

    let provider = Arc::new(ring::default_provider());
    let mut server_config = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key.into())?;
    server_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

    let (key_id, secret) = support::demo_key();
    let app = support::router(InMemoryKeys::new().with_key(key_id.clone(), secret.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve_tls(
        listener,
        TlsAcceptor::from(Arc::new(server_config)),
        app,
    ));
    println!(
        "serving the guarded app on https://localhost:{}",
        addr.port()
    );

    // The client trusts the generated certificate, and nothing else.
    let mut roots = RootCertStore::empty();
    roots.add(cert)?;
    let mut client_config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    client_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let connector = TlsConnector::from(Arc::new(client_config));
    let signer = Signer::new(key_id, secret);
    let url = format!("https://localhost:{}", addr.port());

    let body = Bytes::from_static(b"sent over TLS, signed");
    let mut request = Request::post(format!("{url}/echo"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(body.clone())?;
    signer.sign(&mut request, &body)?;
    println!(
        "\n> POST /echo, signed: {}",
        request.headers()[header::AUTHORIZATION].to_str()?
    );
    send(&connector, addr, request).await?;

    let mut request = Request::get(format!("{url}/hello")).body(Bytes::new())?;
    signer.sign(&mut request, b"")?;
    println!("\n> GET /hello, signed");
    send(&connector, addr, request).await?;

    // TLS protects the bytes on the wire; the signature protects the request
    // itself, from whoever holds the key: change the body after signing and
    // the server refuses it, TLS or not.
    let mut request = Request::post(format!("{url}/echo")).body(body.clone())?;
    signer.sign(&mut request, &body)?;
    let tampered = request.map(|_| Bytes::from_static(b"changed after signing"));
    println!("\n> POST /echo, body changed after signing");
    send(&connector, addr, tampered).await?;
    Ok(())
}

/// Accepts TLS connections and serves `app` on each, with HTTP/2 or HTTP/1.1.
async fn serve_tls(listener: TcpListener, acceptor: TlsAcceptor, app: Router) {
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
}

/// Sends one request over a fresh TLS connection (HTTP/2 if the server
/// agrees, HTTP/1.1 otherwise) and prints the response.
async fn send(
    connector: &TlsConnector,
    addr: SocketAddr,
    request: Request<Bytes>,
) -> Result<(), Error> {
    let tcp = TcpStream::connect(addr).await?;
    let tls = connector
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let mut request = request.map(Full::new);
    let response = if h2 {
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        *request.version_mut() = Version::HTTP_2;
        sender.send_request(request).await?
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        // HTTP/1.1 sends the path; the signer has already set Host.
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()?;
        *request.uri_mut() = path;
        sender.send_request(request).await?
    };
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    println!("< {:?} {}", parts.version, parts.status);
    println!("{}", String::from_utf8_lossy(&body).trim_end());
    Ok(())
}
