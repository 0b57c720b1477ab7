//! The SigV4 scheme on the seam: its claim, and the checks of its bodies.

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::{
    authorization::{self, decode_hex, parse_amz_date, parse_decimal, Credentials, Malformed},
    canonical::{hex, hex_array, signing_key, CanonicalRequest, Canonicalize, ALGORITHM},
    checksum::{Checksum, ChecksumAlgorithm},
    chunked::{AwsChunked, ChunkSigning},
    SigV4,
};
use crate::{
    schemes::{
        opens_with_word, Authentication, BodyCheck, Claim, Explanation, Head, Replay, Scheme,
    },
    BodyDigest, BodyHasher, ErrorCode, KeyId, Nonce, Secret,
};

/// The word of AWS Signature Version 2's `Authorization` values.
const SIGV2: &str = "AWS";

/// `x-amz-content-sha256`'s literal values.
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
const X_AMZ_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-amz-content-sha256");
const X_AMZ_TRAILER: HeaderName = HeaderName::from_static("x-amz-trailer");
const X_AMZ_DECODED_LENGTH: HeaderName = HeaderName::from_static("x-amz-decoded-content-length");
const X_AMZ_SDK_CHECKSUM: HeaderName = HeaderName::from_static("x-amz-sdk-checksum-algorithm");

/// How the body is covered, as `x-amz-content-sha256` (or its absence) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payload {
    /// The body's SHA-256, declared up front.
    Declared([u8; 32]),
    /// No header: the canonical request ends in the body's SHA-256, known at its end.
    Computed,
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
    /// aws-chunked, each chunk signed; with a signed trailer or without.
    StreamingSigned { trailer: bool },
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked, with a checksum trailer.
    StreamingUnsigned,
}

impl Payload {
    fn of(value: Option<&HeaderValue>) -> Result<Self, Malformed> {
        let Some(value) = value else {
            return Ok(Self::Computed);
        };
        Ok(match value.as_bytes() {
            b if b == UNSIGNED_PAYLOAD.as_bytes() => Self::Unsigned,
            b if b == STREAMING_SIGNED.as_bytes() => Self::StreamingSigned { trailer: false },
            b if b == STREAMING_SIGNED_TRAILER.as_bytes() => {
                Self::StreamingSigned { trailer: true }
            }
            b if b == STREAMING_UNSIGNED_TRAILER.as_bytes() => Self::StreamingUnsigned,
            hex => {
                let mut digest = [0u8; 32];
                if !decode_hex(hex, &mut digest) {
                    return Err(Malformed(
                        "x-amz-content-sha256 is neither a SHA-256 nor a known mode",
                    ));
                }
                Self::Declared(digest)
            }
        })
    }

    /// Whether the signature leaves the body out.
    fn unsigned(self) -> bool {
        matches!(self, Self::Unsigned | Self::StreamingUnsigned)
    }

    fn streaming(self) -> bool {
        matches!(self, Self::StreamingSigned { .. } | Self::StreamingUnsigned)
    }
}

impl Scheme for SigV4 {
    fn name(&self) -> &'static str {
        ALGORITHM
    }

    /// `AWS4-HMAC-SHA256 …`, and Signature Version 2's `AWS <key>:<sig>`,
    /// to answer it with what to do instead.
    fn claims(&self, authorization: &HeaderValue) -> bool {
        let value = authorization.as_bytes();
        opens_with_word(value, ALGORITHM) || opens_with_word(value, SIGV2)
    }

    fn claim(
        &self,
        authorization: &HeaderValue,
        head: &Head<'_>,
    ) -> Result<Box<dyn Claim>, ErrorCode> {
        if opens_with_word(authorization.as_bytes(), SIGV2) {
            tracing::debug!("tower-hmac: AWS Signature Version 2");
            return Err(ErrorCode::UnsupportedSignatureVersion);
        }
        let credentials =
            authorization::parse_header(authorization.as_bytes()).map_err(|error| {
                tracing::debug!(%error, "tower-hmac: malformed SigV4 Authorization header");
                ErrorCode::MalformedAuthorization
            })?;
        let amz_date = one_header(head.headers, &X_AMZ_DATE)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| {
                tracing::debug!(key_id = %credentials.key_id, "tower-hmac: no single X-Amz-Date");
                ErrorCode::MalformedAuthorization
            })?;
        let signed_at = self.check_time(&credentials, amz_date, head.now)?;
        // A read may be repeated only where the server said so.
        let window = if self.allow_repeated_reads
            && head.bodiless
            && matches!(*head.method, Method::GET | Method::HEAD)
        {
            Window::Repeatable(signed_at)
        } else {
            Window::Skew(signed_at)
        };
        self.claim_with(head, credentials, amz_date, window, None)
    }

    fn claim_elsewhere(&self, head: &Head<'_>) -> Option<Result<Box<dyn Claim>, ErrorCode>> {
        let query = head.uri.query()?;
        if !authorization::is_presigned(query) {
            return authorization::is_presigned_v2(query).then(|| {
                tracing::debug!("tower-hmac: AWS Signature Version 2 presigned URL");
                Err(ErrorCode::UnsupportedSignatureVersion)
            });
        }
        Some(self.claim_presigned(head, query))
    }
}

/// The time window a request is accepted in.
#[derive(Debug, Clone, Copy)]
enum Window {
    /// Header auth of a bodiless GET or HEAD, where repeated reads are
    /// allowed: within the clock skew of its time, any number of times.
    Repeatable(u64),
    /// Header auth: within the clock skew of its time, once.
    Skew(u64),
    /// A presigned URL: from its time until it expires, any number of times.
    Presigned { signed_at: u64, until: u64 },
}

impl SigV4 {
    /// Checks `amz_date` against the scope and the clock; its Unix time.
    fn check_time(
        &self,
        credentials: &Credentials,
        amz_date: &str,
        now: u64,
    ) -> Result<u64, ErrorCode> {
        let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
            tracing::debug!(key_id = %credentials.key_id, "tower-hmac: X-Amz-Date is not yyyymmddThhmmssZ");
            ErrorCode::MalformedAuthorization
        })?;
        self.check_scope(credentials, amz_date)?;
        if now.abs_diff(signed_at) > self.max_clock_skew {
            tracing::debug!(key_id = %credentials.key_id, signed_at, "tower-hmac: X-Amz-Date outside the allowed skew");
            return Err(ErrorCode::StaleRequest);
        }
        Ok(signed_at)
    }

    fn check_scope(&self, credentials: &Credentials, amz_date: &str) -> Result<(), ErrorCode> {
        let accepted = amz_date.as_bytes()[..8] == *credentials.date.as_bytes()
            && *credentials.service == *self.service
            && self.regions().any(|region| *region == *credentials.region);
        if !accepted {
            tracing::debug!(key_id = %credentials.key_id, scope = %credentials.scope(), "tower-hmac: credential scope not accepted");
            return Err(ErrorCode::InvalidCredentialScope);
        }
        Ok(())
    }

    fn claim_presigned(&self, head: &Head<'_>, query: &str) -> Result<Box<dyn Claim>, ErrorCode> {
        let presigned = authorization::parse_query(query).map_err(|error| {
            tracing::debug!(%error, "tower-hmac: malformed presigned URL");
            ErrorCode::MalformedAuthorization
        })?;
        if !self.allow_presigned_urls {
            tracing::debug!(key_id = %presigned.credentials.key_id, "tower-hmac: presigned URLs are not allowed");
            return Err(ErrorCode::PresignedUrlNotAllowed);
        }
        let credentials = presigned.credentials;
        let signed_at =
            parse_amz_date(&presigned.amz_date).ok_or(ErrorCode::MalformedAuthorization)?;
        self.check_scope(&credentials, &presigned.amz_date)?;
        let until = signed_at.saturating_add(presigned.expires);
        // Dated in the future beyond the skew, or expired.
        if head.now.saturating_add(self.max_clock_skew) < signed_at || head.now > until {
            tracing::debug!(key_id = %credentials.key_id, signed_at, until, "tower-hmac: presigned URL not valid now");
            return Err(ErrorCode::StaleRequest);
        }
        let window = Window::Presigned { signed_at, until };
        self.claim_with(
            head,
            credentials,
            &presigned.amz_date,
            window,
            Some("X-Amz-Signature"),
        )
    }

    /// The checks both forms share, and the claim.
    fn claim_with(
        &self,
        head: &Head<'_>,
        credentials: Credentials,
        amz_date: &str,
        window: Window,
        skip_parameter: Option<&str>,
    ) -> Result<Box<dyn Claim>, ErrorCode> {
        let key_id = &credentials.key_id;
        let unsigned_header = head
            .policy
            .required_headers
            .iter()
            .map(HeaderName::as_str)
            .chain(["host"])
            .find(|name| !credentials.signs(name))
            .or_else(|| {
                head.headers
                    .keys()
                    .map(HeaderName::as_str)
                    .find(|name| name.starts_with("x-amz-") && !credentials.signs(name))
            });
        if let Some(name) = unsigned_header {
            tracing::debug!(%key_id, header = name, "tower-hmac: header must be signed");
            return Err(ErrorCode::UnsignedHeader);
        }
        let content_sha256 = at_most_one(head.headers, &X_AMZ_CONTENT_SHA256).map_err(|()| {
            tracing::debug!(%key_id, "tower-hmac: more than one x-amz-content-sha256");
            ErrorCode::MalformedAuthorization
        })?;
        let payload = match (Payload::of(content_sha256), window) {
            (Err(error), _) => {
                tracing::debug!(%key_id, %error, "tower-hmac: malformed x-amz-content-sha256");
                return Err(ErrorCode::MalformedAuthorization);
            }
            // A presigned URL signs no body unless it names the body's hash.
            (Ok(Payload::Computed), Window::Presigned { .. }) => Payload::Unsigned,
            (Ok(payload), _) => payload,
        };
        if payload.unsigned() && !head.bodiless && !self.allow_unsigned_payload {
            tracing::debug!(%key_id, "tower-hmac: unsigned payload not allowed");
            return Err(ErrorCode::UnsignedPayloadNotAllowed);
        }
        let body = BodyRules::of(head.headers, payload)?;
        let canonical = CanonicalRequest::new(
            head.method,
            head.uri,
            head.headers,
            &Canonicalize {
                mode: self.uri_mode,
                signed_headers: &credentials.signed_headers,
                skip_parameter,
            },
        );
        let signature_hex = hex_array(&credentials.signature);
        let nonce = std::str::from_utf8(&signature_hex)
            .ok()
            .and_then(|hex| Nonce::new(hex).ok())
            .ok_or(ErrorCode::MalformedAuthorization)?;
        let payload_line = content_sha256
            .and_then(|value| value.to_str().ok())
            .map(Box::<str>::from);
        Ok(Box::new(SigV4Claim {
            scope: credentials.scope(),
            credentials,
            amz_date: amz_date.into(),
            window,
            max_skew: self.max_clock_skew,
            nonce,
            canonical,
            payload,
            payload_line,
            body,
        }))
    }
}

/// What the body must satisfy besides the signature: its checksum, its
/// trailer and its decoded length.
#[derive(Debug, Clone, Default)]
struct BodyRules {
    /// An `x-amz-checksum-*` header: the algorithm and the value as sent.
    checksum: Option<(ChecksumAlgorithm, Box<[u8]>)>,
    /// The checksum `x-amz-trailer` announces.
    trailer: Option<ChecksumAlgorithm>,
    /// `x-amz-decoded-content-length`.
    decoded_length: Option<u64>,
}

impl BodyRules {
    fn of(headers: &HeaderMap, payload: Payload) -> Result<Self, ErrorCode> {
        let mut rules = Self::default();
        if let Some(value) = at_most_one(headers, &X_AMZ_SDK_CHECKSUM)
            .map_err(|()| ErrorCode::UnsupportedChecksum)?
        {
            if ChecksumAlgorithm::from_sdk_name(value.as_bytes()).is_none() {
                tracing::debug!("tower-hmac: unknown x-amz-sdk-checksum-algorithm");
                return Err(ErrorCode::UnsupportedChecksum);
            }
        }
        // One pass over the headers, not a lookup per algorithm.
        for (name, value) in headers {
            let Some(algorithm) = name
                .as_str()
                .strip_prefix("x-amz-checksum-")
                .and_then(|_| ChecksumAlgorithm::from_header_name(name.as_str().as_bytes()))
            else {
                continue;
            };
            if rules.checksum.is_some() {
                tracing::debug!("tower-hmac: more than one x-amz-checksum header");
                return Err(ErrorCode::UnsupportedChecksum);
            }
            // A malformed value is refused before the body is read.
            algorithm.validate(value.as_bytes())?;
            rules.checksum = Some((algorithm, value.as_bytes().into()));
        }
        let repeated = |name: &HeaderName| {
            at_most_one(headers, name).map_err(|()| {
                tracing::debug!(header = %name, "tower-hmac: repeated header");
                ErrorCode::MalformedChunkedBody
            })
        };
        if let Some(value) = repeated(&X_AMZ_TRAILER)? {
            if !matches!(
                payload,
                Payload::StreamingSigned { trailer: true } | Payload::StreamingUnsigned
            ) {
                tracing::debug!("tower-hmac: x-amz-trailer without a trailer payload mode");
                return Err(ErrorCode::MalformedChunkedBody);
            }
            rules.trailer = Some(
                ChecksumAlgorithm::from_header_name(value.as_bytes()).ok_or_else(|| {
                    tracing::debug!("tower-hmac: x-amz-trailer names no known checksum");
                    ErrorCode::UnsupportedChecksum
                })?,
            );
        } else if matches!(payload, Payload::StreamingUnsigned) {
            // Without its trailer checksum an unsigned stream has nothing at all checking it.
            tracing::debug!("tower-hmac: STREAMING-UNSIGNED-PAYLOAD-TRAILER without x-amz-trailer");
            return Err(ErrorCode::MalformedChunkedBody);
        }
        if payload.streaming() {
            if let Some(value) = repeated(&X_AMZ_DECODED_LENGTH)? {
                let length = value.to_str().ok().and_then(parse_decimal).ok_or_else(|| {
                    tracing::debug!("tower-hmac: malformed x-amz-decoded-content-length");
                    ErrorCode::MalformedChunkedBody
                })?;
                rules.decoded_length = Some(length);
            }
        }
        Ok(rules)
    }
}

/// The one value of header `name`, if it has exactly one.
fn one_header<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h HeaderValue> {
    at_most_one(headers, name).ok().flatten()
}

/// The value of header `name`, if any; `Err` if it is repeated.
fn at_most_one<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'h HeaderValue>, ()> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    match values.next() {
        None => Ok(first),
        Some(_) => Err(()),
    }
}

/// A parsed SigV4 request, waiting for its key.
struct SigV4Claim {
    credentials: Credentials,
    scope: String,
    amz_date: Box<str>,
    window: Window,
    max_skew: u64,
    /// The signature, as the replay token.
    nonce: Nonce,
    canonical: CanonicalRequest,
    payload: Payload,
    /// `x-amz-content-sha256` as sent: the canonical request's last line.
    payload_line: Option<Box<str>>,
    body: BodyRules,
}

/// The SHA-256 of nothing, in hex.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

impl SigV4Claim {
    /// The payload line known before the body: `None` when it is the body's own hash.
    fn payload_line(&self, bodiless: bool) -> Option<&str> {
        match (&self.payload_line, self.window) {
            (Some(line), _) => Some(line),
            (None, Window::Presigned { .. }) => Some(UNSIGNED_PAYLOAD),
            (None, Window::Skew(_) | Window::Repeatable(_)) if bodiless => Some(EMPTY_SHA256),
            (None, Window::Skew(_) | Window::Repeatable(_)) => None,
        }
    }
}

impl Claim for SigV4Claim {
    fn key_id(&self) -> &KeyId {
        &self.credentials.key_id
    }

    fn replay(&self) -> Replay<'_> {
        match self.window {
            Window::Skew(signed_at) => Replay::new(&self.nonce, signed_at, self.max_skew),
            Window::Repeatable(signed_at) => Replay::reusable(
                signed_at,
                signed_at.saturating_sub(self.max_skew),
                signed_at.saturating_add(self.max_skew),
            ),
            Window::Presigned { signed_at, until } => {
                Replay::reusable(signed_at, signed_at.saturating_sub(self.max_skew), until)
            }
        }
    }

    fn explain(&self, bodiless: bool) -> Explanation {
        let Some(payload) = self.payload_line(bodiless) else {
            return Explanation::new();
        };
        vec![
            ("canonical_request", self.canonical.text(payload)),
            (
                "string_to_sign",
                self.canonical
                    .string_to_sign(&self.amz_date, &self.scope, payload),
            ),
        ]
    }

    fn authenticate(self: Box<Self>, secret: &Secret, bodiless: bool) -> Authentication {
        let credentials = &self.credentials;
        let key = signing_key(
            secret,
            &credentials.date,
            &credentials.region,
            &credentials.service,
        );
        let Some(payload_line) = self.payload_line(bodiless) else {
            // The signature covers the body's hash: judged at its end.
            return Authentication::Deferred(Box::new(ComputedPayload {
                hasher: BodyHasher::new(),
                checksum: self.body.checksum.clone().map(|(a, v)| (a.hasher(), v)),
                key,
                amz_date: self.amz_date.clone(),
                scope: self.scope.clone(),
                signature: credentials.signature,
                canonical: self.canonical,
            }));
        };
        if !self.canonical.is_signed_by(
            &credentials.signature,
            &key,
            &self.amz_date,
            &self.scope,
            payload_line,
        ) {
            return Authentication::Refused(ErrorCode::InvalidSignature);
        }
        let checksum = self
            .body
            .checksum
            .clone()
            .map(|(algorithm, value)| (algorithm.hasher(), value));
        if bodiless {
            return match self.payload {
                // The last chunk, which signs the end, never came.
                Payload::StreamingSigned { .. } | Payload::StreamingUnsigned => {
                    Authentication::Refused(ErrorCode::BodyIncomplete)
                }
                Payload::Declared(digest) if digest != *BodyDigest::EMPTY.as_bytes() => {
                    Authentication::Refused(ErrorCode::BodyIncomplete)
                }
                _ => match checksum.map(|(hasher, value)| hasher.check(&value)) {
                    Some(Err(code)) => Authentication::Refused(code),
                    _ => Authentication::Authenticated(<dyn BodyCheck>::none()),
                },
            };
        }
        let check: Box<dyn BodyCheck> = match self.payload {
            Payload::Declared(digest) => Box::new(PayloadCheck {
                digest: Some((BodyHasher::new(), digest)),
                checksum,
            }),
            Payload::Unsigned | Payload::Computed => Box::new(PayloadCheck {
                digest: None,
                checksum,
            }),
            Payload::StreamingSigned { .. } => Box::new(AwsChunked::new(
                ChunkSigning::Signed {
                    key,
                    amz_date: self.amz_date.clone(),
                    scope: self.scope.clone().into(),
                    seed: credentials.signature,
                },
                self.body.trailer,
                self.body.checksum.clone(),
                self.body.decoded_length,
            )),
            Payload::StreamingUnsigned => Box::new(AwsChunked::new(
                ChunkSigning::Unsigned,
                self.body.trailer,
                self.body.checksum.clone(),
                self.body.decoded_length,
            )),
        };
        Authentication::Authenticated(check)
    }
}

/// A body whose hash was declared up front, or that the signature leaves
/// out (`UNSIGNED-PAYLOAD`); either may carry a checksum header too.
struct PayloadCheck {
    /// The running hash and the declared one; `None` for an unsigned body.
    digest: Option<(BodyHasher, [u8; 32])>,
    checksum: Option<(Checksum, Box<[u8]>)>,
}

impl BodyCheck for PayloadCheck {
    fn update(&mut self, data: &[u8]) {
        if let Some((hasher, _)) = &mut self.digest {
            hasher.update(data);
        }
        if let Some((checksum, _)) = &mut self.checksum {
            checksum.update(data);
        }
    }

    fn authenticates_body(&self) -> bool {
        self.digest.is_some()
    }

    fn explain(&self) -> Explanation {
        let mut explanation = Explanation::new();
        if let Some((hasher, declared)) = &self.digest {
            explanation.push(("declared_digest", hex(declared)));
            explanation.push(("received_digest", hasher.clone().finish().to_hex()));
        }
        explanation
    }

    fn finish(self: Box<Self>) -> Result<(), ErrorCode> {
        if let Some((hasher, declared)) = self.digest {
            // Not the body that was signed.
            if hasher.finish().as_bytes() != &declared {
                return Err(ErrorCode::InvalidSignature);
            }
        }
        match self.checksum {
            Some((checksum, value)) => checksum.check(&value),
            None => Ok(()),
        }
    }
}

/// No `x-amz-content-sha256`: the signature covers the body's hash, so it
/// can only be checked at the body's end.
struct ComputedPayload {
    hasher: BodyHasher,
    checksum: Option<(Checksum, Box<[u8]>)>,
    key: Secret,
    amz_date: Box<str>,
    scope: String,
    signature: [u8; 32],
    canonical: CanonicalRequest,
}

impl BodyCheck for ComputedPayload {
    fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        if let Some((checksum, _)) = &mut self.checksum {
            checksum.update(data);
        }
    }

    fn explain(&self) -> Explanation {
        let received = self.hasher.clone().finish().to_hex();
        vec![
            ("canonical_request", self.canonical.text(&received)),
            (
                "string_to_sign",
                self.canonical
                    .string_to_sign(&self.amz_date, &self.scope, &received),
            ),
            ("received_digest", received),
        ]
    }

    fn finish(self: Box<Self>) -> Result<(), ErrorCode> {
        let received = self.hasher.finish().to_hex();
        if !self.canonical.is_signed_by(
            &self.signature,
            &self.key,
            &self.amz_date,
            &self.scope,
            &received,
        ) {
            return Err(ErrorCode::InvalidSignature);
        }
        match self.checksum {
            Some((checksum, value)) => checksum.check(&value),
            None => Ok(()),
        }
    }
}
