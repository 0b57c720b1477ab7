use http::{
    header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, DATE, HOST, USER_AGENT},
    HeaderMap, HeaderName, Method, Uri,
};

use super::Algorithm;
use crate::{schemes::host_of, BodyDigest, KeyId, Nonce, Secret, SignedHeaders};

/// The string-to-sign of one request, minus its last line (the body digest).
///
/// Both the signer and the verifier build it here, and only here. The body
/// digest is added last so that the server can build everything else before
/// the body has streamed through.
///
/// ```
/// use http::{HeaderMap, Method, Uri};
/// use tower_hmac::{schemes::hmac_sha256::CanonicalRequest, BodyDigest, SignedHeaders};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("host", "api.example.com".parse().unwrap());
/// let canonical = CanonicalRequest::new(
///     &"7".parse().unwrap(),
///     1_700_000_000,
///     &"AAAAAAAAAAAAAAAAAAAAAA".parse().unwrap(),
///     &SignedHeaders::new([http::header::HOST]),
///     &Method::POST,
///     &"/x?a=1".parse::<Uri>().unwrap(),
///     &headers,
/// );
/// let text = canonical.string_to_sign(&BodyDigest::of(b"2"));
/// assert_eq!(
///     String::from_utf8(text).unwrap(),
///     "HMAC-SHA256\n7\n1700000000\nAAAAAAAAAAAAAAAAAAAAAA\nPOST\n/x\na=1\nhost\n\
///      host:api.example.com\n\
///      d4735e3a265e16eee03f59718b9b5d03019c07d8b6c51f90da3a666eec13ab35",
/// );
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CanonicalRequest {
    // Every line but the body digest, each followed by '\n'.
    prefix: Vec<u8>,
    algorithm: Algorithm,
}

impl CanonicalRequest {
    /// Builds the `HMAC-SHA256` string-to-sign for a request, up to the body digest.
    ///
    /// `host` takes the `Host` header, or the URI authority (without any
    /// `userinfo@`) when there is no `Host` header (HTTP/2). Any other signed header takes all its field
    /// lines, each trimmed, joined with `,`; an absent header is an empty value.
    pub fn new(
        key_id: &KeyId,
        time: u64,
        nonce: &Nonce,
        signed_headers: &SignedHeaders,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Self {
        Self::build(
            Algorithm::HmacSha256,
            key_id,
            time,
            nonce,
            signed_headers,
            method,
            uri,
            headers,
        )
    }

    /// [`new`](Self::new) under any algorithm: only the first line, the
    /// scheme word, and the MAC differ.
    #[allow(clippy::too_many_arguments)] // The fields of the string-to-sign.
    pub(crate) fn build(
        algorithm: Algorithm,
        key_id: &KeyId,
        time: u64,
        nonce: &Nonce,
        signed_headers: &SignedHeaders,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Self {
        let path = match uri.path() {
            "" => "/",
            path => path,
        };
        let mut time_text = itoa::Buffer::new();
        let lines: [&[u8]; 8] = [
            algorithm.scheme_word().as_bytes(),
            key_id.as_bytes(),
            time_text.format(time).as_bytes(),
            nonce.as_bytes(),
            method.as_str().as_bytes(),
            path.as_bytes(),
            uri.query().unwrap_or("").as_bytes(),
            signed_headers.as_bytes(),
        ];
        let mut prefix = Vec::with_capacity(256);
        for line in lines {
            prefix.extend_from_slice(line);
            prefix.push(b'\n');
        }
        // Each header line straight into the buffer, no allocation per line.
        for name in signed_headers.names() {
            prefix.extend_from_slice(name);
            prefix.push(b':');
            let values = match common_header(name) {
                Some(known) => headers.get_all(known),
                // Signed names are lowercase tokens, so each is a valid header name.
                None => headers.get_all(std::str::from_utf8(name).unwrap_or_default()),
            };
            let mut values = values.iter();
            match values.next() {
                Some(first) => {
                    prefix.extend_from_slice(first.as_bytes().trim_ascii());
                    for value in values {
                        prefix.push(b',');
                        prefix.extend_from_slice(value.as_bytes().trim_ascii());
                    }
                }
                None if name == HOST.as_str().as_bytes() => {
                    if let Some(authority) = uri.authority() {
                        prefix.extend_from_slice(host_of(authority).as_bytes());
                    }
                }
                None => {}
            }
            prefix.push(b'\n');
        }
        Self { prefix, algorithm }
    }

    /// The algorithm this request is signed with (its first line).
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The whole string-to-sign, given the body's digest.
    pub fn string_to_sign(&self, body: &BodyDigest) -> Vec<u8> {
        self.text(&body.hex_bytes())
    }

    /// The whole string-to-sign of a body sent in signed chunks (PROTOCOL
    /// §4.6): its last line is [`CHUNKED_BODY`](super::CHUNKED_BODY)
    /// (under another algorithm, its [`chunked_body`](Algorithm::chunked_body)).
    pub fn chunked_string_to_sign(&self) -> Vec<u8> {
        self.text(self.algorithm.chunked_body().as_bytes())
    }

    fn text(&self, last_line: &[u8]) -> Vec<u8> {
        let mut text = Vec::with_capacity(self.prefix.len() + last_line.len());
        text.extend_from_slice(&self.prefix);
        text.extend_from_slice(last_line);
        text
    }

    /// `HMAC-SHA256(secret, string-to-sign)` (under `BLAKE3-KEYED`, keyed
    /// BLAKE3 with the key derived from `secret`), computed without building
    /// the string. The digest's hex is the last line whatever its algorithm;
    /// [`verify`](Self::verify) refuses one of another algorithm.
    pub fn signature(&self, secret: &Secret, body: &BodyDigest) -> [u8; 32] {
        self.algorithm
            .mac(secret, &[&self.prefix, &body.hex_bytes()])
    }

    /// The signature of a body sent in signed chunks: the seed of its chain.
    pub fn chunked_signature(&self, secret: &Secret) -> [u8; 32] {
        self.algorithm.mac(
            secret,
            &[&self.prefix, self.algorithm.chunked_body().as_bytes()],
        )
    }

    /// Whether `signature` is the signature of this request with `secret`,
    /// compared in constant time. For verifying outside the tower layer.
    /// False for a body digest of another algorithm than the request's.
    pub fn verify(&self, secret: &Secret, body: &BodyDigest, signature: &[u8; 32]) -> bool {
        body.algorithm() == self.algorithm
            && signatures_equal(&self.signature(secret, body), signature)
    }

    /// Whether `signature` is this request's [`chunked_signature`](Self::chunked_signature).
    pub fn verify_chunked(&self, secret: &Secret, signature: &[u8; 32]) -> bool {
        signatures_equal(&self.chunked_signature(secret), signature)
    }
}

/// Two MACs compared in constant time.
pub(crate) fn signatures_equal(ours: &[u8; 32], theirs: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq as _;
    // Compared as four words: the same constant-time guarantee as byte
    // by byte, with an eighth of `subtle`'s optimization barriers.
    let words = |bytes: &[u8; 32]| -> [u64; 4] {
        std::array::from_fn(|i| {
            u64::from_ne_bytes(bytes[8 * i..8 * i + 8].try_into().expect("8 bytes"))
        })
    };
    words(ours).ct_eq(&words(theirs)).into()
}

/// The names most often signed, matched without `http`'s general name
/// parser: a lookup by a known `HeaderName` skips it.
fn common_header(name: &[u8]) -> Option<HeaderName> {
    Some(match name {
        b"host" => HOST,
        b"content-type" => CONTENT_TYPE,
        b"content-length" => CONTENT_LENGTH,
        b"user-agent" => USER_AGENT,
        b"accept" => ACCEPT,
        b"date" => DATE,
        _ => return None,
    })
}

impl std::fmt::Debug for CanonicalRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CanonicalRequest")
            .field("prefix", &String::from_utf8_lossy(&self.prefix))
            .finish()
    }
}
