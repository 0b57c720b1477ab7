//! schnellburger's `Authorization` value and what it signs.

use base64::{
    alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
    Engine as _,
};
use http::{Method, Uri};

/// Go's `base64.StdEncoding`: the standard alphabet, padding required, and
/// (not being `Strict`) set bits after the last character allowed.
const GO_STD_ENCODING: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// The longest MAC of a supported hash.
pub(super) const MAX_MAC: usize = 32;

/// A well-formed value: the key index and the MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Credentials {
    pub(super) index: u64,
    pub(super) mac: Tag,
}

/// A MAC as sent, of the hash's length.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Tag {
    bytes: [u8; MAX_MAC],
    len: u8,
}

impl Tag {
    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Lowercase hex, for the known-request cache.
    pub(super) fn to_hex(&self) -> String {
        self.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Why a value is not well-formed, as schnellburger's error code says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Malformed {
    /// 1: not standard base64.
    InvalidHeader = 1,
    /// 2: shorter than the hash's output.
    TooShort = 2,
    /// 3: a key index of a length other than 0, 1, 2, 4 or 8 bytes.
    IndexLength = 3,
}

/// Parses a (non-empty) `Authorization` value for a hash of `mac_len` bytes.
pub(super) fn parse(value: &[u8], mac_len: usize) -> Result<Credentials, Malformed> {
    debug_assert!(mac_len <= MAX_MAC);
    let decoded = GO_STD_ENCODING
        .decode(value)
        .map_err(|_| Malformed::InvalidHeader)?;
    let index_len = decoded
        .len()
        .checked_sub(mac_len)
        .ok_or(Malformed::TooShort)?;
    if !matches!(index_len, 0 | 1 | 2 | 4 | 8) {
        return Err(Malformed::IndexLength);
    }
    let (index, mac) = decoded.split_at(index_len);
    let index = index
        .iter()
        .fold(0u64, |index, &byte| (index << 8) | u64::from(byte));
    let mut tag = Tag {
        bytes: [0; MAX_MAC],
        len: u8::try_from(mac_len).expect("a MAC is short"),
    };
    tag.bytes[..mac_len].copy_from_slice(mac);
    Ok(Credentials { index, mac: tag })
}

/// Whether the body of a request with `method` is signed: for every method
/// but `GET`, `DELETE` and `HEAD`, as written (methods are case-sensitive).
pub(super) fn signs_body(method: &Method) -> bool {
    !matches!(method.as_str(), "GET" | "DELETE" | "HEAD")
}

/// What is signed before the body: the method, the percent-decoded path
/// (`/` when empty) and, for a non-empty query, `?` and the raw query.
/// `None` for a path with a broken escape, which Go's server refuses
/// before any handler (no schnellburger client can have signed it).
pub(super) fn signed_prefix(method: &Method, uri: &Uri) -> Option<Vec<u8>> {
    let path = uri.path();
    let query = uri.query().filter(|query| !query.is_empty());
    let mut prefix = Vec::with_capacity(
        method.as_str().len() + path.len().max(1) + query.map_or(0, |q| q.len() + 1),
    );
    prefix.extend_from_slice(method.as_str().as_bytes());
    let start = prefix.len();
    percent_decode(path.as_bytes(), &mut prefix)?;
    if prefix.len() == start {
        prefix.push(b'/');
    }
    if let Some(query) = query {
        prefix.push(b'?');
        prefix.extend_from_slice(query.as_bytes());
    }
    Some(prefix)
}

/// Go's `url.PathUnescape` into `out`: every `%XX` becomes its byte (`%2F`
/// too), `+` stays; a `%` not followed by two hex digits is an error.
fn percent_decode(mut input: &[u8], out: &mut Vec<u8>) -> Option<()> {
    while let Some(at) = input.iter().position(|&b| b == b'%') {
        out.extend_from_slice(&input[..at]);
        let escape = input.get(at + 1..at + 3)?;
        out.push((hex_digit(escape[0])? << 4) | hex_digit(escape[1])?);
        input = &input[at + 3..];
    }
    out.extend_from_slice(input);
    Some(())
}

fn hex_digit(c: u8) -> Option<u8> {
    crate::hex::digit(c, crate::hex::Letters::EitherCase)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn value(index: &[u8], mac: &[u8]) -> Vec<u8> {
        STANDARD.encode([index, mac].concat()).into_bytes()
    }

    #[test]
    fn every_index_length_parses_big_endian() {
        let mac = [0xab; 16];
        for (index, want) in [
            (&[][..], 0),
            (&[7][..], 7),
            (&[1, 2][..], 0x0102),
            (&[1, 2, 3, 4][..], 0x0102_0304),
            (&[1, 2, 3, 4, 5, 6, 7, 8][..], 0x0102_0304_0506_0708),
            (&[0xff; 8][..], u64::MAX),
        ] {
            let credentials = parse(&value(index, &mac), 16).unwrap();
            assert_eq!(credentials.index, want);
            assert_eq!(credentials.mac.as_bytes(), mac);
        }
    }

    #[test]
    fn malformed_values_get_schnellburger_s_codes() {
        let mac = [1u8; 32];
        for len in [3, 5, 6, 7, 9, 16] {
            assert_eq!(
                parse(&value(&vec![0; len], &mac), 32),
                Err(Malformed::IndexLength),
                "{len}"
            );
        }
        assert_eq!(parse(&value(&[], &mac[..31]), 32), Err(Malformed::TooShort));
        assert_eq!(parse(b"AA==", 16), Err(Malformed::TooShort));
        for bad in [
            &b"not base64!"[..],
            b"AAA",
            b"AA=",
            b"AA==AA==",
            b"-_-_",
            b"\xff",
        ] {
            assert_eq!(parse(bad, 16), Err(Malformed::InvalidHeader), "{bad:?}");
        }
        // Set bits after the last character: accepted, as by Go's StdEncoding.
        assert_eq!(
            parse(b"AB==", 1).map(|c| c.mac.as_bytes().to_vec()),
            Ok(vec![0])
        );
    }

    #[test]
    fn the_prefix_is_go_s_url_path_and_raw_query() {
        let prefix = |method: &str, target: &str| {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            signed_prefix(&method, &target.parse().unwrap()).map(String::from_utf8)
        };
        let cases = [
            ("GET", "/", "GET/"),
            ("GET", "/a%2Fb%20c+d?x=%2F&y", "GET/a/b c+d?x=%2F&y"),
            ("POST", "/x?", "POST/x"),
            ("GET", "http://example.com", "GET/"),
            ("GET", "http://example.com?q=1", "GET/?q=1"),
            ("PUT", "/%7e%7E", "PUT/~~"),
            ("OPTIONS", "*", "OPTIONS*"),
        ];
        for (method, target, want) in cases {
            assert_eq!(prefix(method, target), Some(Ok(want.into())), "{target}");
        }
        for broken in ["/%", "/%4", "/%zz", "/a%g0"] {
            assert_eq!(prefix("GET", broken), None, "{broken}");
        }
        // Decoded bytes need not be UTF-8.
        let method = Method::GET;
        assert_eq!(
            signed_prefix(&method, &"/%FF".parse().unwrap()),
            Some(b"GET/\xff".to_vec())
        );
    }

    #[test]
    fn only_get_delete_and_head_leave_the_body_out() {
        for (method, signed) in [
            ("GET", false),
            ("DELETE", false),
            ("HEAD", false),
            ("POST", true),
            ("PUT", true),
            ("PATCH", true),
            ("OPTIONS", true),
            ("get", true),
        ] {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            assert_eq!(signs_body(&method), signed, "{method}");
        }
    }
}
