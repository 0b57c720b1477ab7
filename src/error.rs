//! Problem codes and the `application/problem+json` responses built from them.

use std::fmt;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

/// Why a request was refused. Each code is the `code` member of an
/// [RFC 9457](https://www.rfc-editor.org/rfc/rfc9457) `application/problem+json` body.
///
/// | code | status | meaning |
/// |---|---|---|
/// | `missing_authorization` | 401 | no `Authorization` header |
/// | `malformed_authorization` | 401 | more than one `Authorization` header, another scheme, or a parameter missing, repeated, unknown or malformed |
/// | `invalid_signature` | 401 | the signature does not match, the key id is unknown (the two are not told apart), or the body does not match the digest it declared |
/// | `stale_request` | 401 | `Time` is outside the allowed clock skew, or the request was verified too late |
/// | `replayed_request` | 401 | the nonce was already used with this key |
/// | `unsigned_header` | 401 | a header the server requires to be signed is not in `SignedHeaders` |
/// | `unverified_request` | 401 | the handler answered, without `verify()`, a request that could not be authenticated before its body ended |
/// | `early_authentication_required` | 401 | the layer requires early authentication, and this request's body could only be judged at its end |
/// | `invalid_credential_scope` | 401 | a SigV4 credential scope whose date differs from `X-Amz-Date`, or whose region or service this server does not accept |
/// | `unsigned_payload_not_allowed` | 401 | a SigV4 request whose body the signature does not cover (`UNSIGNED-PAYLOAD`, `STREAMING-UNSIGNED-PAYLOAD-TRAILER`), where `SigV4::allow_unsigned_payload` (feature `sigv4`) is off |
/// | `unsupported_signature_version` | 401 | AWS Signature Version 2 (`Authorization: AWS …`, or a query with `AWSAccessKeyId` and `Signature`), where SigV4 is accepted: sign with SigV4 |
/// | `presigned_url_not_allowed` | 401 | a SigV4 presigned URL, where `SigV4::allow_presigned_urls` is off |
/// | `host_mismatch` | 400 | the `Host` header and the URI authority (HTTP/2 `:authority`) name different hosts |
/// | `malformed_target` | 400 | the request target is in authority form (`GET host:port`), which only `CONNECT` may use: its empty path signs as `/` but is routed as no path at all |
/// | `malformed_content_digest` | 400 | a `Content-Digest` header whose `sha-256` member (`blake3` for `BLAKE3-KEYED`) is malformed or repeated |
/// | `malformed_chunked_body` | 400 | a body sent in signed chunks (`X-HMAC-Body: chunks`) whose framing is broken |
/// | `checksum_mismatch` | 400 | the body does not match its `x-amz-checksum-*` header or trailer |
/// | `unsupported_checksum` | 400 | an `x-amz-checksum-*` algorithm, or `x-amz-sdk-checksum-algorithm` value, this server does not know, or a malformed checksum value |
/// | `decoded_length_mismatch` | 400 | an aws-chunked body whose data is not `x-amz-decoded-content-length` bytes long |
/// | `body_incomplete` | 400 | the request body ended early or failed to arrive |
/// | `body_too_large` | 413 | a buffering adapter's limit, or [`max_unread_body`](crate::SignatureLayer::max_unread_body), was exceeded |
/// | `verification_skipped` | 500 | the handler answered without a successful `verify()` (a server bug) |
/// | `key_store_unavailable` | 503 | the key store returned an error |
/// | `replay_store_unavailable` | 503 | the nonce store returned an error or is full |
///
/// Every 401 from the layer carries a `WWW-Authenticate` challenge naming
/// the scheme(s) it accepts (`HMAC-SHA256` by default). A scheme may answer
/// the refusals of the requests it judged with another status of the same
/// class and header fields of its own ([`Scheme::refusal`](crate::schemes::Scheme::refusal));
/// the `code` is the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// No `Authorization` header.
    MissingAuthorization,
    /// The `Authorization` header is not exactly one well-formed `HMAC-SHA256` value.
    MalformedAuthorization,
    /// The signature does not match, or the key id is unknown.
    InvalidSignature,
    /// The request's time is outside the allowed window.
    StaleRequest,
    /// The nonce was already used with this key.
    ReplayedRequest,
    /// A header the server requires to be signed is not signed.
    UnsignedHeader,
    /// The handler answered without `verify()` while the body of a request
    /// that could only be authenticated at its end was still streaming.
    UnverifiedRequest,
    /// Early authentication is required, and this request cannot be
    /// authenticated before its body (a body without `Content-Digest`).
    EarlyAuthenticationRequired,
    /// A SigV4 credential scope's date, region or service is not accepted.
    InvalidCredentialScope,
    /// A SigV4 request leaves its body unsigned, and the server does not allow it.
    UnsignedPayloadNotAllowed,
    /// AWS Signature Version 2, which no scheme here verifies.
    UnsupportedSignatureVersion,
    /// A SigV4 presigned URL, and the server does not allow them.
    PresignedUrlNotAllowed,
    /// The `Host` header and the URI authority disagree.
    HostMismatch,
    /// The request target is in authority form, and the method is not `CONNECT`.
    MalformedTarget,
    /// The `sha-256` member of `Content-Digest` is malformed or repeated.
    MalformedContentDigest,
    /// A body sent in signed chunks is not framed as PROTOCOL §4.6 says.
    MalformedChunkedBody,
    /// The body does not match its `x-amz-checksum-*` value.
    ChecksumMismatch,
    /// A checksum algorithm this server does not know, or a malformed checksum.
    UnsupportedChecksum,
    /// An aws-chunked body's length differs from `x-amz-decoded-content-length`.
    DecodedLengthMismatch,
    /// The body ended early or failed to arrive.
    BodyIncomplete,
    /// The body is larger than the buffering limit.
    BodyTooLarge,
    /// The handler answered without a successful `verify()`.
    VerificationSkipped,
    /// The key store could not answer.
    KeyStoreUnavailable,
    /// The nonce store could not answer, or is full.
    ReplayStoreUnavailable,
}

impl ErrorCode {
    /// Every code, in the order of the table above.
    pub const ALL: [ErrorCode; 24] = [
        Self::MissingAuthorization,
        Self::MalformedAuthorization,
        Self::InvalidSignature,
        Self::StaleRequest,
        Self::ReplayedRequest,
        Self::UnsignedHeader,
        Self::UnverifiedRequest,
        Self::EarlyAuthenticationRequired,
        Self::InvalidCredentialScope,
        Self::UnsignedPayloadNotAllowed,
        Self::UnsupportedSignatureVersion,
        Self::PresignedUrlNotAllowed,
        Self::HostMismatch,
        Self::MalformedTarget,
        Self::MalformedContentDigest,
        Self::MalformedChunkedBody,
        Self::ChecksumMismatch,
        Self::UnsupportedChecksum,
        Self::DecodedLengthMismatch,
        Self::BodyIncomplete,
        Self::BodyTooLarge,
        Self::VerificationSkipped,
        Self::KeyStoreUnavailable,
        Self::ReplayStoreUnavailable,
    ];

    /// The `code` member of the problem body, e.g. `invalid_signature`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingAuthorization => "missing_authorization",
            Self::MalformedAuthorization => "malformed_authorization",
            Self::InvalidSignature => "invalid_signature",
            Self::StaleRequest => "stale_request",
            Self::ReplayedRequest => "replayed_request",
            Self::UnsignedHeader => "unsigned_header",
            Self::UnverifiedRequest => "unverified_request",
            Self::EarlyAuthenticationRequired => "early_authentication_required",
            Self::HostMismatch => "host_mismatch",
            Self::MalformedTarget => "malformed_target",
            Self::MalformedContentDigest => "malformed_content_digest",
            Self::MalformedChunkedBody => "malformed_chunked_body",
            Self::InvalidCredentialScope => "invalid_credential_scope",
            Self::UnsignedPayloadNotAllowed => "unsigned_payload_not_allowed",
            Self::UnsupportedSignatureVersion => "unsupported_signature_version",
            Self::PresignedUrlNotAllowed => "presigned_url_not_allowed",
            Self::ChecksumMismatch => "checksum_mismatch",
            Self::UnsupportedChecksum => "unsupported_checksum",
            Self::DecodedLengthMismatch => "decoded_length_mismatch",
            Self::BodyIncomplete => "body_incomplete",
            Self::BodyTooLarge => "body_too_large",
            Self::VerificationSkipped => "verification_skipped",
            Self::KeyStoreUnavailable => "key_store_unavailable",
            Self::ReplayStoreUnavailable => "replay_store_unavailable",
        }
    }

    /// The HTTP status this code is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::MissingAuthorization
            | Self::MalformedAuthorization
            | Self::InvalidSignature
            | Self::StaleRequest
            | Self::ReplayedRequest
            | Self::UnsignedHeader
            | Self::UnverifiedRequest
            | Self::EarlyAuthenticationRequired
            | Self::InvalidCredentialScope
            | Self::UnsignedPayloadNotAllowed
            | Self::UnsupportedSignatureVersion
            | Self::PresignedUrlNotAllowed => StatusCode::UNAUTHORIZED,
            Self::HostMismatch
            | Self::MalformedTarget
            | Self::MalformedContentDigest
            | Self::MalformedChunkedBody
            | Self::ChecksumMismatch
            | Self::UnsupportedChecksum
            | Self::DecodedLengthMismatch
            | Self::BodyIncomplete => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::VerificationSkipped => StatusCode::INTERNAL_SERVER_ERROR,
            Self::KeyStoreUnavailable | Self::ReplayStoreUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// The human-readable `detail` member. It never says more than the code.
    pub fn detail(self) -> &'static str {
        match self {
            Self::MissingAuthorization => "The request has no Authorization header.",
            Self::MalformedAuthorization => {
                "The Authorization header is not exactly one well-formed value of an accepted scheme."
            }
            Self::InvalidSignature => "The signature does not match the request.",
            Self::StaleRequest => "The request time is outside the allowed window.",
            Self::ReplayedRequest => "This nonce has already been used.",
            Self::UnsignedHeader => "A header that must be signed is not in SignedHeaders.",
            Self::UnverifiedRequest => {
                "The server answered before the request could be authenticated."
            }
            Self::EarlyAuthenticationRequired => {
                "This endpoint authenticates requests before their body: declare the body's digest in Content-Digest, or send it in signed chunks."
            }
            Self::HostMismatch => {
                "The Host header and the request's authority name different hosts."
            }
            Self::MalformedTarget => {
                "The request target is in authority form (host:port), which only CONNECT may use."
            }
            Self::MalformedContentDigest => "The sha-256 member of Content-Digest is malformed.",
            Self::InvalidCredentialScope => {
                "The credential scope's date, region or service is not accepted here."
            }
            Self::UnsignedPayloadNotAllowed => {
                "This server requires the signature to cover the body (the server's opt-in is SigV4::allow_unsigned_payload)."
            }
            Self::UnsupportedSignatureVersion => {
                "AWS Signature Version 2 is not supported: sign with Signature Version 4 (the AWS CLI: aws configure set default.s3.signature_version s3v4)."
            }
            Self::PresignedUrlNotAllowed => {
                "This server does not accept presigned URLs (the server's opt-in is SigV4::allow_presigned_urls)."
            }
            Self::ChecksumMismatch => "The request body does not match its checksum.",
            Self::UnsupportedChecksum => {
                "The checksum algorithm is not supported, or the checksum is malformed."
            }
            Self::DecodedLengthMismatch => {
                "The decoded body length differs from x-amz-decoded-content-length."
            }
            Self::MalformedChunkedBody => {
                "The request body is not framed as signed chunks should be."
            }
            Self::BodyIncomplete => "The request body ended before it was complete.",
            Self::BodyTooLarge => "The request body is larger than this endpoint accepts.",
            Self::VerificationSkipped => "The server did not verify this request.",
            Self::KeyStoreUnavailable => "The key store is unavailable; try again later.",
            Self::ReplayStoreUnavailable => "The replay store is unavailable; try again later.",
        }
    }

    /// The full problem response, without a `WWW-Authenticate` challenge
    /// (the layer adds the one of the schemes it accepts).
    pub fn to_response(self) -> Response<Bytes> {
        self.explained(&[])
    }

    /// The problem response with an `explanation` object of these members, if any.
    pub(crate) fn explained(self, explanation: &[(&'static str, String)]) -> Response<Bytes> {
        self.problem(self.status(), explanation)
    }

    /// [`explained`](Self::explained), answered with `status` (the one a
    /// scheme chose for its clients; the body's `status` and `title` follow).
    pub(crate) fn problem(
        self,
        status: StatusCode,
        explanation: &[(&'static str, String)],
    ) -> Response<Bytes> {
        let mut body = serde_json::json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "code": self.as_str(),
            "detail": self.detail(),
        });
        if !explanation.is_empty() {
            let members = explanation
                .iter()
                .map(|(name, value)| ((*name).to_owned(), serde_json::Value::from(value.as_str())))
                .collect();
            body["explanation"] = serde_json::Value::Object(members);
        }
        let mut response = Response::new(Bytes::from(body.to_string()));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for ErrorCode {
    fn into_response(self) -> axum::response::Response {
        self.to_response().map(axum::body::Body::from)
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    /// Every code has its row, with its status, in each table of codes:
    /// this module's, the README's and PROTOCOL.md's.
    #[test]
    fn every_code_is_in_every_table_with_its_status() {
        let tables = [
            ("src/error.rs", include_str!("error.rs")),
            ("README.md", include_str!("../README.md")),
            ("docs/PROTOCOL.md", include_str!("../docs/PROTOCOL.md")),
        ];
        // PROTOCOL.md specifies the native protocol, which never answers these.
        let sigv4_only = [
            ErrorCode::InvalidCredentialScope,
            ErrorCode::UnsignedPayloadNotAllowed,
            ErrorCode::UnsupportedSignatureVersion,
            ErrorCode::PresignedUrlNotAllowed,
            ErrorCode::ChecksumMismatch,
            ErrorCode::UnsupportedChecksum,
            ErrorCode::DecodedLengthMismatch,
        ];
        for (file, text) in tables {
            for code in ErrorCode::ALL {
                if file == "docs/PROTOCOL.md" && sigv4_only.contains(&code) {
                    continue;
                }
                let row = format!("| `{}` | {} |", code.as_str(), code.status().as_u16());
                assert!(text.contains(&row), "{file} has no row {row}");
            }
        }
    }
}
