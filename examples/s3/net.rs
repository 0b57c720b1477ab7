//! Serving over TLS with the production settings of `support::ServeConfig`
//! (`support::serve_with` serves plain TCP only).

use std::{
    path::Path,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use axum::Router;
use http::StatusCode;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
    service::TowerToHyperService,
};
use rustls::{
    crypto::ring,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    ServerConfig,
};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::{limit::ConcurrencyLimitLayer, ServiceBuilder, ServiceExt as _};
use tower_http::timeout::TimeoutLayer;

use crate::support::{with_body_timeout, ServeConfig};

/// A TLS acceptor for the certificate chain in `cert` and the private key
/// in `key` (PEM files), offering HTTP/2 and HTTP/1.1 by ALPN.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| format!("TLS: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `app` over TLS on `listener` until the process ends, as
/// `support::serve_with` does over TCP: the same layers and hyper settings,
/// the handshake bounded like a request head, and connections closed once
/// idle for `config.idle_timeout`.
pub async fn serve_tls(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    config: ServeConfig,
) {
    let service = ServiceBuilder::new()
        .layer(ConcurrencyLimitLayer::new(config.max_concurrent_requests))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .map_request(with_body_timeout(config.body_timeout))
        .service(app);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(config.idle_timeout / 2)
        .keep_alive_timeout(config.header_read_timeout);
    let builder = Arc::new(builder);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            // Out of file descriptors, say: wait rather than spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, builder, service, config) = (
            acceptor.clone(),
            builder.clone(),
            service.clone(),
            config.clone(),
        );
        tokio::spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(config.header_read_timeout, acceptor.accept(tcp)).await
            else {
                return;
            };
            let idle = Arc::new(Idle {
                in_flight: AtomicUsize::new(0),
                since: Mutex::new(Instant::now()),
            });
            let tracked = idle.clone();
            let service = tower::service_fn(move |request| {
                let busy = Busy::new(tracked.clone());
                let response = service.clone().oneshot(request);
                async move {
                    let _busy = busy;
                    response.await
                }
            });
            let connection =
                builder.serve_connection(TokioIo::new(tls), TowerToHyperService::new(service));
            tokio::pin!(connection);
            loop {
                let idle_for = idle.idle_for();
                if idle_for >= config.idle_timeout {
                    break;
                }
                tokio::select! {
                    _ = connection.as_mut() => return,
                    _ = tokio::time::sleep(config.idle_timeout - idle_for) => {}
                }
            }
            // Idle: let what is in flight finish, then close, in bounded time.
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(config.request_timeout, connection).await;
        });
    }
}

/// When one connection last had a request in flight.
struct Idle {
    in_flight: AtomicUsize,
    since: Mutex<Instant>,
}

impl Idle {
    fn idle_for(&self) -> Duration {
        let since = self.since.lock().unwrap_or_else(|p| p.into_inner());
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            Duration::ZERO
        } else {
            since.elapsed()
        }
    }
}

/// One request in flight; finished when dropped (answered, failed or cancelled).
struct Busy(Arc<Idle>);

impl Busy {
    fn new(idle: Arc<Idle>) -> Self {
        idle.in_flight.fetch_add(1, Ordering::SeqCst);
        Self(idle)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut since = self.0.since.lock().unwrap_or_else(|p| p.into_inner());
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        *since = Instant::now();
    }
}
