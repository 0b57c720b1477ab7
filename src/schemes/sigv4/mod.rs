//! AWS Signature Version 4 (feature `sigv4`): the AWS SDKs, the AWS CLI
//! and `curl --aws-sigv4` as ready-made clients.
//!
//! ```
//! use tower_hmac::{schemes::sigv4::SigV4, InMemoryKeys, SignatureLayer};
//!
//! let keys = InMemoryKeys::new();
//! // Accepts SigV4 for S3 in us-east-1, next to the native scheme.
//! let layer = SignatureLayer::new(keys).scheme(SigV4::new("s3").region("us-east-1"));
//! ```
//!
//! # Keys
//! A key of the [`KeyStore`](crate::KeyStore) serves both schemes: its key
//! id is the **access key id**, and the **secret access key** is the
//! secret's standard base64 text. `--key 7=c2l4dGVlbi1ieXRlcy1sb25nLXNlY3JldA==`
//! in the examples is access key id `7` with that base64 text as its secret
//! access key; AWS-style secrets such as
//! `wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY` are base64 text already, so
//! [`Secret::from_base64`](crate::Secret::from_base64) takes them as they
//! are. The signing key, derived per day, region and service, is kept with
//! the secret (four scopes at most), so it is derived once a day, not per
//! request, and goes when the key is rotated out.
//!
//! # What is verified
//! Header auth (`Authorization: AWS4-HMAC-SHA256 Credential=…`) with
//! `X-Amz-Date`, before the handler runs:
//! - the credential scope: its date must be `X-Amz-Date`'s, its region one
//!   of [`region`](SigV4::region)'s, its service [`new`](SigV4::new)'s
//!   (else `invalid_credential_scope`);
//! - the clock: `X-Amz-Date` within [`max_clock_skew`](SigV4::max_clock_skew)
//!   (15 minutes by default, as AWS) of the server's clock;
//! - `host` (HTTP/2: `:authority`) and every `x-amz-*` header the request
//!   carries must be signed (else `unsigned_header`);
//! - the canonical request and the signature. The canonical URI is, for
//!   S3, the path exactly as sent (encoded once by the client, never
//!   normalised), and for every other service the path with dot and empty
//!   segments removed, each segment encoded a second time: what botocore
//!   and `aws-sigv4` sign. The query is decoded (`+` as a space), encoded
//!   again with AWS's unreserved set and sorted; header values are
//!   trimmed, runs of spaces made one, repeated headers joined by `,`, and
//!   signed as the bytes sent. Where botocore and `aws-sigv4` read the rules
//!   differently, on requests no SDK builds itself (a path ending in `/.`
//!   or `/..`, a tab inside a header value), a signature over either
//!   reading is accepted.
//!
//! The body, by `x-amz-content-sha256`:
//! - **a hex SHA-256**: the caller is authenticated before the handler
//!   runs; the body is hashed as it streams and must match at its end;
//! - **no such header** (what botocore sends to services other than S3):
//!   the canonical request ends in the body's SHA-256, so the request is
//!   judged when its body ends, like a native request without
//!   `Content-Digest` (refused up front under
//!   [`require_early_authentication`](crate::SignatureLayer::require_early_authentication));
//! - **`STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`**: aws-chunked, each
//!   chunk signed, chained from the request's signature, the final empty
//!   chunk and the trailer (`x-amz-trailer`, checksum and
//!   `x-amz-trailer-signature`) included. The handler reads the decoded
//!   object bytes, as slices of the received frames. A chunk's signature is
//!   checked as its last byte passes, so **at most one chunk** (as large as
//!   the client made it: 64 KiB for most SDKs) of unverified data is in the
//!   handler's hands at any time; when a signature fails, the body's next
//!   read fails and the request is answered `401 invalid_signature`.
//!   `x-amz-decoded-content-length`, when sent, must match the decoded length;
//! - **`UNSIGNED-PAYLOAD`** and **`STREAMING-UNSIGNED-PAYLOAD-TRAILER`**:
//!   the caller is authenticated, the body is not. Refused
//!   (`unsigned_payload_not_allowed`) unless
//!   [`allow_unsigned_payload`](SigV4::allow_unsigned_payload); then
//!   [`Verified::body_authenticated`](crate::Verified::body_authenticated)
//!   is false. A bodiless request (a GET) is never refused for it: there is
//!   no body to leave out.
//! - **checksums**: an `x-amz-checksum-*` header or trailer (CRC32, CRC32C,
//!   CRC64NVME, SHA-1, SHA-256) is checked against the body as it streams
//!   (`checksum_mismatch`).
//!
//! # Presigned URLs
//! Off by default; [`allow_presigned_urls`](SigV4::allow_presigned_urls)
//! accepts `X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`,
//! `X-Amz-Expires` (at most 604800 s), `X-Amz-SignedHeaders` and
//! `X-Amz-Signature` in the query. A presigned URL is valid from its
//! `X-Amz-Date` (less the clock skew) until `X-Amz-Date + X-Amz-Expires`,
//! **and may be used any number of times in that window**: that is what
//! presigning is for, so its signature is not recorded as a nonce. Keep
//! lifetimes short. `X-Amz-Security-Token` is signed like any parameter
//! and not otherwise checked.
//!
//! # Replay
//! SigV4 has no nonce. The replay token is the **signature**: a header-auth
//! request is accepted once per key id within its window, which is
//! `X-Amz-Date` ± the clock skew, so the nonce store keeps it for as long.
//! Two requests identical in every signed part and signed within the same
//! second have the same signature: the second is refused
//! `replayed_request`. A replay is refused before the handler runs when
//! the request is authenticated up front (no body, a hex payload hash,
//! aws-chunked); one whose body's hash is only in the canonical request
//! reaches the handler and fails at `verify()`, as its first sending would
//! have had to. The AWS SDKs sign every attempt anew, and a retry
//! usually lands in a later second; one that does not, within the same
//! second, is refused as a replay, which an SDK treats as a client error
//! and does not retry. Replay protection is the layer's, shared with the
//! native scheme, and turned off only by
//! [`without_replay_protection`](crate::SignatureLayer::without_replay_protection),
//! or for bodiless reads only by
//! [`allow_repeated_reads`](SigV4::allow_repeated_reads), which clients that
//! repeat identical reads within a second (aws-sdk-rust) need.
//!
//! # Signature Version 2
//! Not verified. `Authorization: AWS <key>:<signature>` and SigV2 presigned
//! URLs (`AWSAccessKeyId`, `Signature`, `Expires`: what `aws s3 presign`
//! makes unless `s3.signature_version` is `s3v4`) are refused with
//! `unsupported_signature_version`, which says how to sign with SigV4.
//!
//! # What curl gets wrong
//! curl's `--aws-sigv4` (7.75 and later) signs header auth, but Debian's
//! curl 7.88.1 signs the query as written rather than canonical (a query
//! not in sorted order, or with lowercase escapes, fails); signs an upload
//! with `-T` as the hash of an empty body unless `x-amz-content-sha256` is
//! given with `-H`; and signs the path once, S3's rule, so a path with
//! escapes or dot segments fails for any other service. See the README.

mod authorization;
mod canonical;
mod checksum;
mod chunked;
mod scheme;

use std::time::Duration;

pub use canonical::UriMode;

/// The AWS Signature Version 4 scheme, `AWS4-HMAC-SHA256`. See the
/// [module docs](self).
#[derive(Debug, Clone)]
pub struct SigV4 {
    service: Box<str>,
    regions: Vec<Box<str>>,
    uri_mode: UriMode,
    max_clock_skew: u64,
    allow_unsigned_payload: bool,
    allow_presigned_urls: bool,
    allow_repeated_reads: bool,
}

impl SigV4 {
    /// The default [`max_clock_skew`](Self::max_clock_skew): 15 minutes, as AWS.
    pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

    /// The region accepted when none is named: `us-east-1`.
    pub const DEFAULT_REGION: &'static str = "us-east-1";

    /// Accepts requests signed for `service` (the scope's service, e.g.
    /// `s3`, or any name of yours), in [`DEFAULT_REGION`](Self::DEFAULT_REGION)
    /// until [`region`](Self::region) names others. `s3` applies S3's
    /// canonical-URI rule, any other name the rule of the other services
    /// (see [`UriMode`]; [`uri_mode`](Self::uri_mode) overrides it).
    pub fn new(service: &str) -> Self {
        Self {
            uri_mode: if service == "s3" {
                UriMode::S3
            } else {
                UriMode::Normalized
            },
            service: service.into(),
            regions: Vec::new(),
            max_clock_skew: Self::DEFAULT_MAX_CLOCK_SKEW.as_secs(),
            allow_unsigned_payload: false,
            allow_presigned_urls: false,
            allow_repeated_reads: false,
        }
    }

    /// Also accepts `region` in the credential scope (the first call
    /// replaces the default, `us-east-1`).
    pub fn region(mut self, region: &str) -> Self {
        self.regions.push(region.into());
        self
    }

    /// Overrides the canonical-URI rule that the service name chose.
    pub fn uri_mode(mut self, mode: UriMode) -> Self {
        self.uri_mode = mode;
        self
    }

    /// How far `X-Amz-Date` may be from the server's clock (15 minutes by
    /// default). It is also how long a signature is remembered against replay.
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        self.max_clock_skew = skew.as_secs();
        self
    }

    /// Accepts bodies the signature does not cover (`UNSIGNED-PAYLOAD`,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`), which is what the AWS SDKs
    /// send for uploads over HTTPS by default. Off by default: such a body
    /// could have been changed on the way by anyone who can change the
    /// bytes (TLS is what stops that). A checksum sent with it is still
    /// checked, and `Verified::body_authenticated` says false.
    pub fn allow_unsigned_payload(mut self, allow: bool) -> Self {
        self.allow_unsigned_payload = allow;
        self
    }

    /// Accepts presigned URLs (off by default). Each may be used any
    /// number of times until it expires: see the [module docs](self#presigned-urls).
    pub fn allow_presigned_urls(mut self, allow: bool) -> Self {
        self.allow_presigned_urls = allow;
        self
    }

    /// Lets a bodiless `GET` or `HEAD` with header auth be sent again within
    /// its window (off by default). SigV4 has no nonce, so identical reads
    /// signed in the same second have one signature, and without this the
    /// second is refused `replayed_request`: aws-sdk-rust, which does not
    /// sign its per-call headers, sends such pairs (a `GetObject` repeated
    /// after a `DeleteObject`, a listing polled twice). With it, anyone who
    /// captured such a read can send it again until its `X-Amz-Date` is 15
    /// minutes off: they learn the resource's state now, not only what the
    /// captured response said. Requests with a body, and every other
    /// method, are still accepted once.
    pub fn allow_repeated_reads(mut self, allow: bool) -> Self {
        self.allow_repeated_reads = allow;
        self
    }

    fn regions(&self) -> impl Iterator<Item = &str> {
        let fallback = self.regions.is_empty().then_some(Self::DEFAULT_REGION);
        self.regions.iter().map(|region| &**region).chain(fallback)
    }
}

#[cfg(test)]
mod vectors;
