//! Signing with the `aws-sigv4` crate the way S3 clients sign (header
//! auth, the path as sent, `x-amz-content-sha256`), for the SigV4
//! benchmarks: `benches/sigv4.rs` and `examples/sigv4_bench_server.rs`
//! both include this file.

use std::time::SystemTime;

use aws_sigv4::{
    http_request::{
        sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
        SigningSettings, UriPathNormalizationMode,
    },
    sign::v4,
};
use aws_smithy_runtime_api::client::identity::Identity;
use http::header;

/// The region and service the benchmarks sign for.
pub const REGION: &str = "us-east-1";
pub const SERVICE: &str = "s3";

/// Signs `request`'s head in place as `identity`; returns the signature,
/// the seed of an aws-chunked body's chain.
pub fn aws_sign<B>(
    request: &mut http::Request<B>,
    body: SignableBody<'_>,
    time: SystemTime,
    identity: &Identity,
) -> String {
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(REGION)
        .name(SERVICE)
        .time(time)
        .settings(settings)
        .build()
        .expect("signing parameters")
        .into();
    let uri = request.uri().to_string();
    let method = request.method().to_string();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter(|(name, _)| *name != header::HOST)
        .map(|(name, value)| {
            let value = value.to_str().expect("the benchmarks sign ASCII headers");
            (name.to_string(), value.to_owned())
        })
        .collect();
    let signable = SignableRequest::new(
        &method,
        uri,
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        body,
    )
    .expect("a signable request");
    let (instructions, signature) = sign(signable, &params).expect("a signature").into_parts();
    instructions.apply_to_request_http1x(request);
    signature
}
