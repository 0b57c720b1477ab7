//! A test CA and a server certificate it issued, as PEM files: shared by
//! the TLS tests of the s3 example (`tests/s3.rs`, `tests/s3_clients.rs`).

use std::path::{Path, PathBuf};

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
