//! What the tests of the s3 example share (`tests/s3.rs`,
//! `tests/s3_clients.rs`): the endpoint started in-process, and a test CA
//! with a server certificate it issued, as PEM files. The including crate
//! has the example's modules (`app`, `net`, `store`, `support`) and the
//! key and region constants at its root.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use tokio::net::TcpListener;
use tower_hmac::{InMemoryKeys, Secret};

use base64::{engine::general_purpose::STANDARD, Engine as _};

/// A CA, and a certificate it issued for `localhost` and 127.0.0.1, as
/// PEM files in `dir`: the CA's, the server's chain, and the server's key.
pub fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose,
    };

    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "tower-hmac test CA");
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();

    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, &ca).unwrap();

    let paths = (
        dir.join("ca.pem"),
        dir.join("chain.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, pem("CERTIFICATE", ca.der())).unwrap();
    let chain = pem("CERTIFICATE", cert.der()) + &pem("CERTIFICATE", ca.der());
    std::fs::write(&paths.1, chain).unwrap();
    std::fs::write(&paths.2, pem("PRIVATE KEY", &key.serialize_der())).unwrap();
    paths
}

fn pem(label: &str, der: &[u8]) -> String {
    let base64 = STANDARD.encode(der);
    let lines: Vec<&str> = base64
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// Serves the S3 app with its data in `data`; over TLS when given a
/// certificate chain and key (PEM files). Returns its endpoint URL.
pub async fn start(data: &Path, tls: Option<(&Path, &Path)>) -> String {
    let keys = InMemoryKeys::new().with_key(
        crate::KEY_ID.parse().unwrap(),
        Secret::from_base64(crate::SECRET_B64).unwrap(),
    );
    let s3 = crate::app::S3 {
        store: crate::store::Store::open(data).unwrap(),
        region: crate::REGION.to_owned(),
    };
    let app = crate::app::router(
        Arc::new(s3),
        crate::app::layer(keys, crate::REGION, tls.is_some()),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Production settings, with room for a loaded CI machine: this test is
    // about what boto3 and the layer agree on, not about timeouts.
    let config = crate::support::ServeConfig {
        body_timeout: Duration::from_secs(120),
        request_timeout: Duration::from_secs(600),
        ..crate::support::ServeConfig::default()
    };
    match tls {
        Some((cert, key)) => {
            let acceptor = crate::net::tls_acceptor(cert, key).unwrap();
            tokio::spawn(crate::net::serve_tls(listener, acceptor, app, config));
            format!("https://{addr}")
        }
        None => {
            tokio::spawn(crate::support::serve_with(listener, app, config));
            format!("http://{addr}")
        }
    }
}
