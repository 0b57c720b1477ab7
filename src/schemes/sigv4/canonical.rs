//! The canonical request, the string-to-sign and the signing key of SigV4:
//! the one place that builds them.
//!
//! The rules are AWS's ("Create a signed AWS API request"), as the AWS SDKs
//! apply them; where the documentation and the SDKs differ, the SDKs win,
//! since they are the clients:
//! - the canonical URI is the path exactly as sent for S3, and for every
//!   other service the path with dot segments and empty segments removed,
//!   each segment percent-encoded again (botocore and `aws-sigv4` both
//!   encode the path they sent a second time);
//! - the canonical query is every parameter decoded (`+` as a space, as
//!   `aws-sigv4` reads it), encoded again with AWS's unreserved set
//!   (`A-Za-z0-9-_.~`), and sorted by name, then value;
//! - each signed header is `name:value`, its values trimmed, runs of spaces
//!   made one, and several values joined by `,`; the bytes as sent (UTF-8
//!   stays UTF-8).

use http::{HeaderMap, Method, Uri};
use percent_encoding::{percent_decode, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest as _, Sha256};

use crate::Secret;

/// The algorithm word of header auth, presigned URLs and the string-to-sign.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// What AWS leaves unencoded: `A-Za-z0-9-_.~`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The unreserved set, and `/`: for a whole path.
const PATH: &AsciiSet = &UNRESERVED.remove(b'/');

/// How a service's canonical URI is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriMode {
    /// S3's rule: the path exactly as sent (encoded once by the client,
    /// never normalised: `a/../b` and `a//b` are object keys).
    S3,
    /// Every other service's: dot segments and empty segments removed, and
    /// each segment percent-encoded a second time.
    Normalized,
}

/// The credential scope, `<yyyymmdd>/<region>/<service>/aws4_request`.
pub(crate) fn scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/aws4_request")
}

/// The signing key of `secret` for one day, region and service:
/// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret access key, date), region), service), "aws4_request")`,
/// where the secret access key is the secret's standard base64 text. Kept
/// with the secret, so that it is derived once a day, not per request.
pub(crate) fn signing_key(secret: &Secret, date: &str, region: &str, service: &str) -> Secret {
    // The scope's parts, joined by `\n`: no other scheme's label has that shape.
    let mut label = [0u8; 160];
    let mut len = 0;
    for part in [date, region, service] {
        let bytes = part.as_bytes();
        let end = (len + bytes.len()).min(label.len());
        label[len..end].copy_from_slice(&bytes[..end - len]);
        len = (end + 1).min(label.len());
    }
    secret.derived(&label[..len], |secret| {
        use base64::{engine::general_purpose::STANDARD, Engine as _};
        use hmac::{Hmac, KeyInit, Mac};
        let access_key = zeroize::Zeroizing::new(STANDARD.encode(secret.expose()));
        let mut first = zeroize::Zeroizing::new(Vec::with_capacity(4 + access_key.len()));
        first.extend_from_slice(b"AWS4");
        first.extend_from_slice(access_key.as_bytes());
        let step = |key: &[u8], data: &str| -> [u8; 32] {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
            mac.update(data.as_bytes());
            mac.finalize().into_bytes().into()
        };
        let date_key = zeroize::Zeroizing::new(step(&first, date));
        let region_key = zeroize::Zeroizing::new(step(&*date_key, region));
        let service_key = zeroize::Zeroizing::new(step(&*region_key, service));
        step(&*service_key, "aws4_request")
    })
}

/// A canonical request but for its last line, the payload hash (which may
/// only be known once the body has been read).
#[derive(Debug, Clone)]
pub(crate) struct CanonicalRequest {
    /// Every line before the payload hash, each ending in `\n`. Bytes, not
    /// text: header values are signed as the bytes sent.
    head: Vec<u8>,
    /// The same request as botocore reads it, where that reading differs
    /// (see [`Reading`]): a signature over either is accepted.
    botocore: Option<Vec<u8>>,
}

/// Where the two most used signers read AWS's rules differently, on
/// requests no SDK builds itself (a path ending in a dot segment, a tab
/// inside a header value). Both readings are accepted: each is a canonical
/// form of the same request, signed by the key holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// `aws-sigv4` (and RFC 3986): `/a/b/.` is `/a/b/`; a tab stays a tab.
    AwsSigv4,
    /// botocore: `/a/b/.` is `/a/b`; a tab is whitespace, folded like spaces.
    Botocore,
}

/// What the canonical request is built from, besides the head of the request.
pub(crate) struct Canonicalize<'a> {
    pub(crate) mode: UriMode,
    /// The signed header names, lowercase, as `SignedHeaders` lists them.
    pub(crate) signed_headers: &'a str,
    /// A query parameter to leave out (a presigned URL's `X-Amz-Signature`).
    pub(crate) skip_parameter: Option<&'a str>,
}

impl CanonicalRequest {
    pub(crate) fn new(
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        how: &Canonicalize<'_>,
    ) -> Self {
        let head = Self::head(method, uri, headers, how, Reading::AwsSigv4);
        let path = uri.path();
        let differs = (how.mode == UriMode::Normalized
            && (path.ends_with("/.") || path.ends_with("/..")))
            || how.signed_headers.split(';').any(|name| {
                headers
                    .get_all(name)
                    .iter()
                    .any(|value| value.as_bytes().contains(&b'\t'))
            });
        let botocore = differs.then(|| Self::head(method, uri, headers, how, Reading::Botocore));
        Self { head, botocore }
    }

    fn head(
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        how: &Canonicalize<'_>,
        reading: Reading,
    ) -> Vec<u8> {
        let mut text = String::with_capacity(256);
        text.push_str(method.as_str());
        text.push('\n');
        canonical_uri(uri.path(), how.mode, reading, &mut text);
        text.push('\n');
        canonical_query(uri.query().unwrap_or(""), how.skip_parameter, &mut text);
        text.push('\n');
        let mut head = text.into_bytes();
        for name in how.signed_headers.split(';') {
            head.extend_from_slice(name.as_bytes());
            head.push(b':');
            canonical_header_value(name, uri, headers, reading, &mut head);
            head.push(b'\n');
        }
        head.push(b'\n');
        head.extend_from_slice(how.signed_headers.as_bytes());
        head.push(b'\n');
        head
    }

    /// The whole canonical request, with `payload` (a hex digest, or a
    /// literal such as `UNSIGNED-PAYLOAD`) as its last line.
    pub(crate) fn text(&self, payload: &str) -> String {
        let mut text = String::from_utf8_lossy(&self.head).into_owned();
        text.push_str(payload);
        text
    }

    /// The string-to-sign for this request with `payload` as its payload hash.
    pub(crate) fn string_to_sign(&self, amz_date: &str, scope: &str, payload: &str) -> String {
        string_to_sign_of(&self.head, amz_date, scope, payload)
    }

    /// The signature of this request with `payload` as its payload hash.
    #[cfg(test)]
    pub(crate) fn signature(
        &self,
        key: &Secret,
        amz_date: &str,
        scope: &str,
        payload: &str,
    ) -> [u8; 32] {
        key.mac(&[self.string_to_sign(amz_date, scope, payload).as_bytes()])
    }

    /// Whether `signature` signs this request, with `payload` as its
    /// payload hash, in either reading. Compared in constant time.
    pub(crate) fn is_signed_by(
        &self,
        signature: &[u8; 32],
        key: &Secret,
        amz_date: &str,
        scope: &str,
        payload: &str,
    ) -> bool {
        use subtle::ConstantTimeEq as _;
        let signed = |head: &[u8]| -> bool {
            let mut hasher = Sha256::new();
            hasher.update(head);
            hasher.update(payload.as_bytes());
            let canonical_hex = hex_array(&hasher.finalize().into());
            // The string-to-sign, fed in parts: nothing is built.
            let expected = key.mac(&[
                ALGORITHM.as_bytes(),
                b"\n",
                amz_date.as_bytes(),
                b"\n",
                scope.as_bytes(),
                b"\n",
                &canonical_hex,
            ]);
            expected.ct_eq(signature).into()
        };
        signed(&self.head) || self.botocore.as_deref().is_some_and(signed)
    }
}

/// The string-to-sign of the canonical request `head` + `payload`.
fn string_to_sign_of(head: &[u8], amz_date: &str, scope: &str, payload: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(head);
    hasher.update(payload.as_bytes());
    string_to_sign(amz_date, scope, &hasher.finalize().into())
}

/// `AWS4-HMAC-SHA256\n<amz-date>\n<scope>\n<hex SHA-256 of the canonical request>`.
fn string_to_sign(amz_date: &str, scope: &str, canonical_sha256: &[u8; 32]) -> String {
    let mut text = String::with_capacity(ALGORITHM.len() + amz_date.len() + scope.len() + 67);
    text.push_str(ALGORITHM);
    text.push('\n');
    text.push_str(amz_date);
    text.push('\n');
    text.push_str(scope);
    text.push('\n');
    text.push_str(std::str::from_utf8(&hex_array(canonical_sha256)).expect("hex is ASCII"));
    text
}

/// Lowercase hex of a SHA-256 or signature, on the stack (the crate's one
/// hex encoder, `BodyDigest`'s).
pub(crate) fn hex_array(bytes: &[u8; 32]) -> [u8; 64] {
    crate::BodyDigest::from_bytes(*bytes).hex_bytes()
}

/// Lowercase hex of a SHA-256 or signature, as text.
pub(crate) fn hex(bytes: &[u8; 32]) -> String {
    crate::BodyDigest::from_bytes(*bytes).to_hex()
}

/// The canonical URI of `path` (as sent, still percent-encoded).
fn canonical_uri(path: &str, mode: UriMode, reading: Reading, out: &mut String) {
    let path = if path.is_empty() { "/" } else { path };
    match mode {
        UriMode::S3 => out.push_str(path),
        UriMode::Normalized => {
            // RFC 3986 §5.2.4, and runs of `/` made one, as `aws-sigv4` and botocore do.
            let mut segments: Vec<&str> = Vec::new();
            for segment in path.split('/') {
                match segment {
                    "" | "." => {}
                    ".." => {
                        segments.pop();
                    }
                    segment => segments.push(segment),
                }
            }
            out.push('/');
            for (i, segment) in segments.iter().enumerate() {
                if i > 0 {
                    out.push('/');
                }
                out.extend(utf8_percent_encode(segment, PATH));
            }
            // RFC 3986 §5.2.4: a path ending in a slash or a dot segment keeps its slash.
            let ends = match reading {
                Reading::AwsSigv4 => &["/", "/.", "/..", "/./", "/../"][..],
                Reading::Botocore => &["/"][..],
            };
            let trailing = ends.iter().any(|end| path.ends_with(end));
            if trailing && !segments.is_empty() {
                out.push('/');
            }
        }
    }
}

/// The canonical query string of `query` (as sent).
fn canonical_query(query: &str, skip: Option<&str>, out: &mut String) {
    let mut parameters: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (reencode(name), reencode(value))
        })
        .filter(|(name, _)| skip != Some(name.as_str()))
        .collect();
    parameters.sort_unstable();
    for (i, (name, value)) in parameters.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
}

/// Decodes `text` as a query is (`+` is a space, as `aws-sigv4` reads it)
/// and encodes it with AWS's unreserved set.
fn reencode(text: &str) -> String {
    let decoded: Vec<u8> = if text.contains('+') {
        percent_decode(text.replace('+', " ").as_bytes()).collect()
    } else {
        percent_decode(text.as_bytes()).collect()
    };
    let mut out = String::with_capacity(decoded.len());
    out.extend(percent_encoding::percent_encode(&decoded, UNRESERVED));
    out
}

/// The values of header `name` as sent: trimmed, runs of spaces made one
/// (AWS's "trimall"; tabs inside a value stay, as `aws-sigv4` keeps them),
/// joined by `,`. `host` falls back to the URI's authority (HTTP/2's `:authority`).
fn canonical_header_value(
    name: &str,
    uri: &Uri,
    headers: &HeaderMap,
    reading: Reading,
    out: &mut Vec<u8>,
) {
    let mut values = headers.get_all(name).iter().peekable();
    if values.peek().is_none() && name == "host" {
        if let Some(authority) = uri.authority() {
            out.extend_from_slice(crate::schemes::host_of(authority).as_bytes());
        }
        return;
    }
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let mut space = false;
        for &byte in value.as_bytes().trim_ascii() {
            if byte == b' ' || (byte == b'\t' && reading == Reading::Botocore) {
                space = true;
                continue;
            }
            if space {
                out.push(b' ');
                space = false;
            }
            out.push(byte);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn uri(mode: UriMode, path: &str) -> String {
        let mut out = String::new();
        canonical_uri(path, mode, Reading::AwsSigv4, &mut out);
        out
    }

    fn query(q: &str) -> String {
        let mut out = String::new();
        canonical_query(q, Some("X-Amz-Signature"), &mut out);
        out
    }

    #[test]
    fn uri_modes() {
        assert_eq!(uri(UriMode::S3, ""), "/");
        assert_eq!(uri(UriMode::S3, "/b/a%20b/../c//d"), "/b/a%20b/../c//d");
        assert_eq!(uri(UriMode::Normalized, "/a%20b/../c//d/./e/"), "/c/d/e/");
        assert_eq!(uri(UriMode::Normalized, "/a%20b/c%2Fd"), "/a%2520b/c%252Fd");
        assert_eq!(uri(UriMode::Normalized, "/.."), "/");
        assert_eq!(uri(UriMode::Normalized, "/a/b/."), "/a/b/");
        assert_eq!(uri(UriMode::Normalized, "/a/b/.."), "/a/");
        assert_eq!(uri(UriMode::Normalized, "/a/b/../"), "/a/");
        assert_eq!(uri(UriMode::Normalized, "/"), "/");
    }

    #[test]
    fn query_is_reencoded_and_sorted() {
        assert_eq!(query(""), "");
        assert_eq!(query("b=2&a=1&a=0"), "a=0&a=1&b=2");
        assert_eq!(query("x&y="), "x=&y=");
        assert_eq!(query("k=a+b%20c%7e~%2B"), "k=a%20b%20c~~%2B");
        assert_eq!(query("X-Amz-Signature=abc&z=1"), "z=1");
        assert_eq!(query("p=%2f%2F/"), "p=%2F%2F%2F");
    }

    #[test]
    fn header_values_are_trimmed_and_joined() {
        let mut headers = HeaderMap::new();
        headers.append("x-amz-meta-a", "  one   two ".parse().unwrap());
        headers.append("x-amz-meta-a", "three".parse().unwrap());
        headers.append(
            "x-amz-meta-b",
            HeaderValue::from_bytes(b"caf\xc3\xa9 \ta").unwrap(),
        );
        let value = |name: &str, uri: &Uri, headers: &HeaderMap| {
            let mut out = Vec::new();
            canonical_header_value(name, uri, headers, Reading::AwsSigv4, &mut out);
            out
        };
        let root = Uri::from_static("/");
        assert_eq!(value("x-amz-meta-a", &root, &headers), b"one two,three");
        // UTF-8 is signed as the bytes sent; a tab is not a space.
        assert_eq!(
            value("x-amz-meta-b", &root, &headers),
            "café \ta".as_bytes()
        );
        let uri = Uri::from_static("http://example.com:8080/x");
        assert_eq!(value("host", &uri, &HeaderMap::new()), b"example.com:8080");
    }

    /// A path ending in a dot segment and a tab in a header value have two
    /// readings: a signature over either is accepted, over neither refused.
    #[test]
    fn both_readings_are_accepted_where_the_signers_differ() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "h".parse().unwrap());
        headers.insert("x-amz-meta-t", HeaderValue::from_static("a\tb"));
        let how = Canonicalize {
            mode: UriMode::Normalized,
            signed_headers: "host;x-amz-meta-t",
            skip_parameter: None,
        };
        let uri = Uri::from_static("/x/a/.");
        let request = CanonicalRequest::new(&Method::GET, &uri, &headers, &how);
        let key = Secret::new(vec![9; 32]).unwrap();
        let sign = |head: &str| {
            let mut text = head.to_owned();
            text.push_str("UNSIGNED-PAYLOAD");
            let digest: [u8; 32] = Sha256::digest(text.as_bytes()).into();
            key.mac(&[string_to_sign("d", "s", &digest).as_bytes()])
        };
        let aws = "GET\n/x/a/\n\nhost:h\nx-amz-meta-t:a\tb\n\nhost;x-amz-meta-t\n";
        let botocore = "GET\n/x/a\n\nhost:h\nx-amz-meta-t:a b\n\nhost;x-amz-meta-t\n";
        let mixed = "GET\n/x/a\n\nhost:h\nx-amz-meta-t:a\tb\n\nhost;x-amz-meta-t\n";
        for (head, accepted) in [(aws, true), (botocore, true), (mixed, false)] {
            let signature = sign(head);
            assert_eq!(
                request.is_signed_by(&signature, &key, "d", "s", "UNSIGNED-PAYLOAD"),
                accepted,
                "{head:?}"
            );
        }
    }

    /// AWS's documented example: GET /test.txt of examplebucket, with a Range header.
    #[test]
    fn aws_get_object_example() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "examplebucket.s3.amazonaws.com".parse().unwrap());
        headers.insert("range", "bytes=0-9".parse().unwrap());
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        headers.insert("x-amz-content-sha256", empty.parse().unwrap());
        headers.insert("x-amz-date", "20130524T000000Z".parse().unwrap());
        let how = Canonicalize {
            mode: UriMode::S3,
            signed_headers: "host;range;x-amz-content-sha256;x-amz-date",
            skip_parameter: None,
        };
        let request =
            CanonicalRequest::new(&Method::GET, &Uri::from_static("/test.txt"), &headers, &how);
        let scope = scope("20130524", "us-east-1", "s3");
        // The secret access key is the secret's base64 text; AWS's example key is one.
        let secret = Secret::from_base64("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").unwrap();
        let key = signing_key(&secret, "20130524", "us-east-1", "s3");
        assert_eq!(
            hex(&request.signature(&key, "20130524T000000Z", &scope, empty)),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }
}
