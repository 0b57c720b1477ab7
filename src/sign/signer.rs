use std::fmt;

use http::{
    header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST},
    HeaderName, HeaderValue, Request,
};

use super::ChunkedBody;

use crate::{
    clock::unix_now,
    schemes::{
        hmac_sha256::{
            Authorization, CanonicalRequest, CHUNKED_HEADER, MAX_AUTHORIZATION_LEN,
            MAX_SIGNED_HEADERS,
        },
        host_of,
    },
    Algorithm, BodyDigest, BodyHasher, KeyId, Nonce, Secret, SignedHeaders,
};

/// The header that declares the body's digest (RFC 9530).
const CONTENT_DIGEST: HeaderName = HeaderName::from_static("content-digest");

/// Signs requests with one key.
///
/// It signs `host` always (writing a `Host` header from the URI authority
/// when the request has none, so that what is signed is what is sent),
/// `content-type` when present, and every header added with
/// [`sign_header`](Self::sign_header), present or not: an absent header is
/// signed as an empty value, so nobody can add it on the way.
///
/// Every request also gets a `Content-Digest` header declaring the body's
/// SHA-256 (of nothing, for an empty one), so that the server authenticates it before its handler
/// runs (PROTOCOL §4.3). The signature is the same as without it, so a
/// server that ignores the header accepts it too.
///
/// It signs `HMAC-SHA256` unless told another [`Algorithm`] with
/// [`algorithm`](Self::algorithm) (`BLAKE3-KEYED`, feature `blake3`).
///
/// ```
/// use http::Request;
/// use tower_hmac::{Secret, Signer};
///
/// let signer = Signer::new("7".parse().unwrap(), Secret::new(vec![7; 32]).unwrap());
/// let body = br#"{"hello":"world"}"#;
/// let mut request = Request::post("http://127.0.0.1:3000/echo")
///     .header("content-type", "application/json")
///     .body(body.to_vec())
///     .unwrap();
/// signer.sign(&mut request, body).unwrap();
/// assert!(request.headers()["authorization"].to_str().unwrap().starts_with("HMAC-SHA256 Key=7,"));
/// assert_eq!(request.headers()["host"], "127.0.0.1:3000");
/// ```
#[derive(Clone)]
pub struct Signer {
    key_id: KeyId,
    secret: Secret,
    extra_headers: Vec<HeaderName>,
    declare_digest: bool,
    algorithm: Algorithm,
}

/// Why a request could not be signed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignError {
    /// The request has neither a `Host` header nor a URI authority.
    NoHost,
    /// The body is larger than a [`SigningLayer`](super::SigningLayer)
    /// buffers to hash; send it with a precomputed [`BodyDigest`] instead.
    BodyTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// More than [`MAX_SIGNED_HEADERS`] headers to sign, or an
    /// `Authorization` value longer than [`MAX_AUTHORIZATION_LEN`]: the
    /// server would refuse it.
    TooLarge,
    /// A streamed body whose digest is not known: give it a
    /// [`BodyDigest`] or send it in signed chunks.
    UnknownDigest,
    /// The [`BodyDigest`] given is of another algorithm than the signer's
    /// (a SHA-256 for a `BLAKE3-KEYED` signer, say): hash the body with
    /// [`Signer::body_hasher`].
    DigestAlgorithm {
        /// The signer's algorithm.
        expected: Algorithm,
        /// The digest's.
        found: Algorithm,
    },
    /// [`sign_header`](Signer::sign_header) named `authorization`, whose
    /// value the signature itself replaces: such a request could never verify.
    SignsAuthorization,
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoHost => {
                f.write_str("the request has no Host header and no authority in its URI")
            }
            Self::BodyTooLarge { limit } => write!(
                f,
                "the body is over the {limit}-byte buffering limit; put a BodyDigest in the \
                 request extensions to stream it"
            ),
            Self::TooLarge => write!(
                f,
                "more than {MAX_SIGNED_HEADERS} signed headers, or an Authorization value over \
                 {MAX_AUTHORIZATION_LEN} bytes"
            ),
            Self::UnknownDigest => f.write_str(
                "a streamed body needs its BodyDigest (in the request's extensions) or signed chunks",
            ),
            Self::DigestAlgorithm { expected, found } => write!(
                f,
                "the body digest is {}'s, the signer signs {}: hash the body with Signer::body_hasher",
                found.scheme_word(),
                expected.scheme_word()
            ),
            Self::SignsAuthorization => {
                f.write_str("the authorization header cannot be signed: the signature replaces it")
            }
        }
    }
}

impl std::error::Error for SignError {}

impl Signer {
    /// A signer for `key_id` with `secret`.
    pub fn new(key_id: KeyId, secret: Secret) -> Self {
        Self {
            key_id,
            secret,
            extra_headers: Vec::new(),
            declare_digest: true,
            algorithm: Algorithm::HmacSha256,
        }
    }

    /// Signs with `algorithm` (`HMAC-SHA256` by default): its scheme word,
    /// its MAC, its body digest. The server must accept that algorithm's
    /// scheme; nothing is negotiated.
    ///
    /// ```
    /// use tower_hmac::{Algorithm, Secret, Signer};
    ///
    /// let signer = Signer::new("7".parse().unwrap(), Secret::new(vec![7; 32]).unwrap())
    ///     .algorithm(Algorithm::HmacSha256);
    /// assert_eq!(signer.signing_algorithm(), Algorithm::HmacSha256);
    /// ```
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// The algorithm this signer signs with.
    pub fn signing_algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// A hasher of this signer's body digest, for a body hashed before it is
    /// streamed ([`sign_with_digest`](Self::sign_with_digest)).
    ///
    /// ```
    /// use tower_hmac::{Secret, Signer};
    ///
    /// let signer = Signer::new("7".parse().unwrap(), Secret::new(vec![7; 32]).unwrap());
    /// let mut hasher = signer.body_hasher();
    /// hasher.update(b"a file, hashed in pieces");
    /// let mut request = http::Request::put("http://127.0.0.1:3000/f").body(()).unwrap();
    /// signer.sign_with_digest(&mut request, &hasher.finish()).unwrap();
    /// ```
    pub fn body_hasher(&self) -> BodyHasher {
        BodyHasher::for_algorithm(self.algorithm)
    }

    /// The digest of `body` under this signer's algorithm.
    pub(crate) fn digest_of(&self, body: &[u8]) -> BodyDigest {
        BodyDigest::for_algorithm(self.algorithm, body)
    }

    /// Whether to send `Content-Digest` with bodies (on by default). Off,
    /// requests are exactly protocol v1: a server can then judge them only
    /// once their body has arrived.
    pub fn declare_digest(mut self, declare: bool) -> Self {
        self.declare_digest = declare;
        self
    }

    /// Also signs `name`, whether or not the request carries it. Signing
    /// `authorization` makes every `sign` call fail with
    /// [`SignError::SignsAuthorization`].
    pub fn sign_header(mut self, name: HeaderName) -> Self {
        if !self.extra_headers.contains(&name) {
            self.extra_headers.push(name);
        }
        self
    }

    /// The key id this signer signs with.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// Signs a request whose body is `body`, with the current time and a fresh nonce.
    pub fn sign<B>(&self, request: &mut Request<B>, body: &[u8]) -> Result<(), SignError> {
        self.sign_with_digest(request, &self.digest_of(body))
    }

    /// Signs a request whose body digest was computed beforehand (with a
    /// [`BodyHasher`] over a file, say, from [`body_hasher`](Self::body_hasher)),
    /// so the body can then be streamed. A digest of another algorithm than
    /// the signer's is refused ([`SignError::DigestAlgorithm`]).
    pub fn sign_with_digest<B>(
        &self,
        request: &mut Request<B>,
        body: &BodyDigest,
    ) -> Result<(), SignError> {
        self.sign_at(request, body, unix_now(), Nonce::random())
            .map(drop)
    }

    /// Signs with an explicit time and nonce, and returns the header it set.
    /// For test vectors and replays in tests; real requests want
    /// [`sign`](Self::sign) or [`sign_with_digest`](Self::sign_with_digest).
    pub fn sign_at<B>(
        &self,
        request: &mut Request<B>,
        body: &BodyDigest,
        time: u64,
        nonce: Nonce,
    ) -> Result<Authorization, SignError> {
        let authorization = self.sign_head(request, Some(body), time, nonce)?;
        // Unsigned by name: the signature covers the digest through its last line.
        // Empty bodies too: one sent chunked has a body to wait for.
        if self.declare_digest {
            request
                .headers_mut()
                .insert(CONTENT_DIGEST, body.to_content_digest());
        }
        Ok(authorization)
    }

    /// The string-to-sign of a request signed with a body of digest `body`
    /// (its `Authorization` header read back), to diff against the one a
    /// server shows when it explains a refusal
    /// ([`SignatureLayer::explain_refusals`](crate::SignatureLayer::explain_refusals)).
    /// `None` if the request carries no `HMAC-SHA256` `Authorization` (or
    /// one of another [`Algorithm`]'s scheme, `BLAKE3-KEYED`).
    ///
    /// ```
    /// use tower_hmac::{BodyDigest, Secret, Signer};
    ///
    /// let signer = Signer::new("7".parse().unwrap(), Secret::new(vec![7; 32]).unwrap());
    /// let mut request = http::Request::get("http://127.0.0.1:3000/hello").body(()).unwrap();
    /// signer.sign(&mut request, b"").unwrap();
    /// let text = Signer::string_to_sign(&request, &BodyDigest::EMPTY).unwrap();
    /// assert!(text.starts_with("HMAC-SHA256\n7\n"));
    /// ```
    pub fn string_to_sign<B>(request: &Request<B>, body: &BodyDigest) -> Option<String> {
        let auth = Authorization::from_header_any(request.headers().get(AUTHORIZATION)?).ok()?;
        let canonical = auth.canonical_request(request.method(), request.uri(), request.headers());
        String::from_utf8(canonical.string_to_sign(body)).ok()
    }

    /// Signs a request whose body is streamed in signed chunks (PROTOCOL
    /// §4.6), for a body whose digest cannot be known before it is sent (a
    /// generated stream, a pipe). The server authenticates the request before
    /// its handler runs, and each chunk as it arrives; each data frame of the
    /// body becomes one chunk, sent without copying.
    ///
    /// It sets `X-HMAC-Body: chunks` and removes `Content-Length` (the
    /// length on the wire is not the body's).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body_util::{BodyExt, Full};
    /// use tower_hmac::{Secret, Signer};
    ///
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// let signer = Signer::new("7".parse()?, Secret::new(vec![7; 32])?);
    /// let request = http::Request::post("http://127.0.0.1:3000/upload")
    ///     .body(Full::new(Bytes::from("a stream")))?;
    /// let request = signer.sign_chunked(request)?;
    /// let wire = request.into_body().collect().await?.to_bytes();
    /// assert!(wire.starts_with(b"8;sig="));
    /// assert!(wire.ends_with(b"\r\n\r\n"));
    /// # Ok(()) }
    /// ```
    pub fn sign_chunked<B>(
        &self,
        request: Request<B>,
    ) -> Result<Request<ChunkedBody<B>>, SignError> {
        self.sign_chunked_at(request, unix_now(), Nonce::random())
    }

    /// [`sign_chunked`](Self::sign_chunked) with an explicit time and nonce, for test vectors.
    pub fn sign_chunked_at<B>(
        &self,
        mut request: Request<B>,
        time: u64,
        nonce: Nonce,
    ) -> Result<Request<ChunkedBody<B>>, SignError> {
        let headers = request.headers_mut();
        headers.remove(CONTENT_LENGTH);
        headers.insert(
            HeaderName::from_static(CHUNKED_HEADER.0),
            HeaderValue::from_static(CHUNKED_HEADER.1),
        );
        let authorization = self.sign_head(&mut request, None, time, nonce)?;
        let seed = *authorization.signature();
        let secret = self.secret.clone();
        let algorithm = self.algorithm;
        Ok(request.map(|body| ChunkedBody::new(body, algorithm, secret, seed)))
    }

    /// Writes `Host` if needed and `Authorization`: over the body's digest,
    /// or (`None`) for a body sent in signed chunks.
    fn sign_head<B>(
        &self,
        request: &mut Request<B>,
        body: Option<&BodyDigest>,
        time: u64,
        nonce: Nonce,
    ) -> Result<Authorization, SignError> {
        if self.extra_headers.contains(&AUTHORIZATION) {
            return Err(SignError::SignsAuthorization);
        }
        if let Some(digest) = body.filter(|digest| digest.algorithm() != self.algorithm) {
            return Err(SignError::DigestAlgorithm {
                expected: self.algorithm,
                found: digest.algorithm(),
            });
        }
        if !request.headers().contains_key(HOST) {
            let authority = request.uri().authority().ok_or(SignError::NoHost)?;
            let host = HeaderValue::from_str(host_of(authority)).map_err(|_| SignError::NoHost)?;
            request.headers_mut().insert(HOST, host);
        }
        let headers = request.headers();
        let content_type = headers.contains_key(CONTENT_TYPE).then_some(CONTENT_TYPE);
        let signed_headers = SignedHeaders::new(
            [HOST]
                .into_iter()
                .chain(content_type)
                .chain(self.extra_headers.iter().cloned()),
        );
        if signed_headers.len() > MAX_SIGNED_HEADERS {
            return Err(SignError::TooLarge);
        }
        let canonical = CanonicalRequest::build(
            self.algorithm,
            &self.key_id,
            time,
            &nonce,
            &signed_headers,
            request.method(),
            request.uri(),
            headers,
        );
        let signature = match body {
            Some(digest) => canonical.signature(&self.secret, digest),
            None => canonical.chunked_signature(&self.secret),
        };
        let authorization = Authorization::new(
            self.algorithm,
            self.key_id.clone(),
            time,
            nonce,
            signed_headers,
            signature,
        );
        let value = authorization.to_header_value();
        if value.len() > MAX_AUTHORIZATION_LEN {
            return Err(SignError::TooLarge);
        }
        request.headers_mut().insert(AUTHORIZATION, value);
        Ok(authorization)
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .field("secret", &self.secret)
            .field("extra_headers", &self.extra_headers)
            .field("declare_digest", &self.declare_digest)
            .field("algorithm", &self.algorithm)
            .finish()
    }
}
