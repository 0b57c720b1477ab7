//! SigV4 credentials, from an `Authorization` header or a presigned URL's query.

use std::fmt;

use percent_encoding::percent_decode_str;

use super::canonical::ALGORITHM;
use crate::KeyId;

/// The longest `Authorization` value or presigned query accepted, in bytes.
const MAX_LEN: usize = 8192;
/// The most signed headers accepted.
const MAX_SIGNED_HEADERS: usize = 64;
/// The longest presigned URL lifetime SigV4 allows: seven days.
pub(crate) const MAX_EXPIRES: u64 = 604_800;

/// Why credentials were refused as malformed (logged at debug, never answered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed(pub(crate) &'static str);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// What a request's SigV4 credentials say.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    pub(crate) key_id: KeyId,
    /// The scope's `yyyymmdd`.
    pub(crate) date: Box<str>,
    pub(crate) region: Box<str>,
    pub(crate) service: Box<str>,
    /// As listed: lowercase names joined by `;`.
    pub(crate) signed_headers: Box<str>,
    pub(crate) signature: [u8; 32],
}

impl Credentials {
    /// The credential scope, `<date>/<region>/<service>/aws4_request`.
    pub(crate) fn scope(&self) -> String {
        super::canonical::scope(&self.date, &self.region, &self.service)
    }

    /// Whether `name` (lowercase) is signed.
    pub(crate) fn signs(&self, name: &str) -> bool {
        self.signed_headers.split(';').any(|signed| signed == name)
    }
}

/// A presigned URL's credentials, with its own date and lifetime.
#[derive(Debug, Clone)]
pub(crate) struct Presigned {
    pub(crate) credentials: Credentials,
    /// `X-Amz-Date`, as sent.
    pub(crate) amz_date: Box<str>,
    /// `X-Amz-Expires`, in seconds.
    pub(crate) expires: u64,
}

/// Parses `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
pub(crate) fn parse_header(value: &[u8]) -> Result<Credentials, Malformed> {
    if value.len() > MAX_LEN {
        return Err(Malformed("Authorization is too long"));
    }
    let text = std::str::from_utf8(value).map_err(|_| Malformed("Authorization is not ASCII"))?;
    let rest = text
        .get(ALGORITHM.len()..)
        .filter(|_| text[..ALGORITHM.len()].eq_ignore_ascii_case(ALGORITHM))
        .and_then(|rest| rest.strip_prefix(' '))
        .ok_or(Malformed(
            "Authorization does not start with AWS4-HMAC-SHA256",
        ))?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for parameter in rest.split(',') {
        let (name, value) = parameter
            .trim_matches(' ')
            .split_once('=')
            .ok_or(Malformed("a parameter without '='"))?;
        let slot = match name {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return Err(Malformed("an unknown parameter")),
        };
        if slot.replace(value).is_some() {
            return Err(Malformed("a repeated parameter"));
        }
    }
    credentials(
        credential.ok_or(Malformed("no Credential"))?,
        signed_headers.ok_or(Malformed("no SignedHeaders"))?,
        signature.ok_or(Malformed("no Signature"))?,
    )
}

/// Whether the query carries presigned credentials (`X-Amz-Algorithm` or
/// `X-Amz-Signature`), so that a request without `Authorization` is this
/// scheme's to judge.
pub(crate) fn is_presigned(query: &str) -> bool {
    query.split('&').any(|pair| {
        let name = decoded_name(pair.split_once('=').map_or(pair, |(name, _)| name));
        name == "X-Amz-Algorithm" || name == "X-Amz-Signature"
    })
}

/// A query parameter's name as the canonical query reads it: decoded, so
/// that `X-Amz-Signatur%65` is `X-Amz-Signature` here as it is there.
fn decoded_name(name: &str) -> std::borrow::Cow<'_, str> {
    if name.contains(['%', '+']) {
        percent_decode_str(&name.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
            .into()
    } else {
        name.into()
    }
}

/// Whether the query is an AWS Signature Version 2 presigned URL
/// (`AWSAccessKeyId`, `Signature`, `Expires`), which the AWS CLI's
/// `s3 presign` makes unless told `signature_version = s3v4`.
pub(crate) fn is_presigned_v2(query: &str) -> bool {
    let has = |wanted: &str| {
        query
            .split('&')
            .any(|pair| pair.split_once('=').map_or(pair, |(name, _)| name) == wanted)
    };
    has("AWSAccessKeyId") && has("Signature")
}

/// Parses a presigned URL's `X-Amz-*` parameters.
pub(crate) fn parse_query(query: &str) -> Result<Presigned, Malformed> {
    if query.len() > MAX_LEN {
        return Err(Malformed("the query is too long"));
    }
    let mut found: [Option<String>; 6] = Default::default();
    const NAMES: [&str; 6] = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
    ];
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decoded_name(name);
        if let Some(at) = NAMES.iter().position(|known| *known == name) {
            let value = percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| Malformed("a parameter is not UTF-8"))?;
            if found[at].replace(value.into_owned()).is_some() {
                return Err(Malformed("a repeated X-Amz- parameter"));
            }
        }
    }
    let [algorithm, credential, amz_date, expires, signed_headers, signature] =
        found.map(|value| value.ok_or(Malformed("a presigned URL parameter is missing")));
    if algorithm? != ALGORITHM {
        return Err(Malformed("X-Amz-Algorithm is not AWS4-HMAC-SHA256"));
    }
    let expires = expires?;
    let expires = parse_decimal(&expires)
        .filter(|seconds| (1..=MAX_EXPIRES).contains(seconds))
        .ok_or(Malformed("X-Amz-Expires is not 1 to 604800 seconds"))?;
    Ok(Presigned {
        credentials: credentials(&credential?, &signed_headers?, &signature?)?,
        amz_date: amz_date?.into(),
        expires,
    })
}

fn credentials(
    credential: &str,
    signed_headers: &str,
    signature: &str,
) -> Result<Credentials, Malformed> {
    let mut parts = credential.split('/');
    let (Some(key_id), Some(date), Some(region), Some(service), Some("aws4_request"), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(Malformed(
            "Credential is not <key-id>/<date>/<region>/<service>/aws4_request",
        ));
    };
    let key_id = KeyId::new(key_id).map_err(|_| Malformed("the access key id is not a key id"))?;
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Malformed("the scope date is not yyyymmdd"));
    }
    let name_like = |part: &str| {
        !part.is_empty()
            && part.len() <= 64
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if !name_like(region) || !name_like(service) {
        return Err(Malformed("the scope region or service is malformed"));
    }
    let names = signed_headers.split(';');
    if signed_headers.is_empty()
        || names.clone().count() > MAX_SIGNED_HEADERS
        || !names.clone().all(|name| {
            !name.is_empty()
                && http::HeaderName::from_bytes(name.as_bytes())
                    .is_ok_and(|parsed| parsed.as_str() == name)
        })
    {
        return Err(Malformed(
            "SignedHeaders is not a list of lowercase header names",
        ));
    }
    let mut raw = [0u8; 32];
    if signature.len() != 64 || !decode_hex(signature.as_bytes(), &mut raw) {
        return Err(Malformed("Signature is not 64 hex digits"));
    }
    Ok(Credentials {
        key_id,
        date: date.into(),
        region: region.into(),
        service: service.into(),
        signed_headers: signed_headers.into(),
        signature: raw,
    })
}

/// Decodes hex (either case) into `out`, whose length it must fill exactly.
pub(crate) fn decode_hex(hex: &[u8], out: &mut [u8]) -> bool {
    crate::hex::decode(hex, out, crate::hex::Letters::EitherCase)
}

/// A decimal number of at most 19 digits, without sign or leading `+`.
pub(crate) fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Parses `yyyymmddThhmmssZ` into Unix seconds (by `humantime`'s strict
/// RFC 3339 parser, on the same fields rearranged).
pub(crate) fn parse_amz_date(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    if bytes.len() != 16
        || bytes[8] != b'T'
        || bytes[15] != b'Z'
        || !bytes[..8]
            .iter()
            .chain(&bytes[9..15])
            .all(u8::is_ascii_digit)
        // humantime reads a leap second, `60`, as `59`; AWS dates have none.
        || bytes[13..15] > b"59"[..]
    {
        return None;
    }
    let mut rfc3339 = *b"0000-00-00T00:00:00Z";
    for (to, from) in [
        (0, 0..4),
        (5, 4..6),
        (8, 6..8),
        (11, 9..11),
        (14, 11..13),
        (17, 13..15),
    ] {
        rfc3339[to..to + from.len()].copy_from_slice(&bytes[from]);
    }
    let time = humantime::parse_rfc3339(std::str::from_utf8(&rfc3339).ok()?).ok()?;
    time.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024";

    #[test]
    fn parses_what_the_sdks_send() {
        let header = format!(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-date, Signature={SIG}"
        );
        let credentials = parse_header(header.as_bytes()).unwrap();
        assert_eq!(credentials.key_id.as_str(), "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(credentials.scope(), "20130524/us-east-1/s3/aws4_request");
        assert!(credentials.signs("range") && !credentials.signs("rang"));
        assert_eq!(super::super::canonical::hex(&credentials.signature), SIG);
        // curl writes no space after the commas.
        let curl = header.replace(", ", ",");
        assert!(parse_header(curl.as_bytes()).is_ok());
    }

    #[test]
    fn refuses_malformed_values() {
        let good = format!(
            "Credential=7/20261201/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature={SIG}"
        );
        let cases = [
            String::new(),
            "AWS4-HMAC-SHA256".to_owned(),
            format!("AWS4-HMAC-SHA1 {good}"),
            format!("AWS4-HMAC-SHA256 {good}, Signature={SIG}"),
            format!("AWS4-HMAC-SHA256 {good}, Extra=1"),
            format!(
                "AWS4-HMAC-SHA256 {}",
                good.replace("Signature=", "Signature")
            ),
            format!(
                "AWS4-HMAC-SHA256 {}",
                good.replace("/aws4_request", "/aws5_request")
            ),
            format!("AWS4-HMAC-SHA256 {}", good.replace("/s3/", "/s3/x/")),
            format!("AWS4-HMAC-SHA256 {}", good.replace("20261201", "2026121")),
            format!(
                "AWS4-HMAC-SHA256 {}",
                good.replace("us-east-1", "US-EAST-1")
            ),
            format!("AWS4-HMAC-SHA256 {}", good.replace("7/", "bad key/")),
            format!("AWS4-HMAC-SHA256 {}", good.replace("7/", "/")),
            format!("AWS4-HMAC-SHA256 {}", good.replace("host;", "Host;")),
            format!("AWS4-HMAC-SHA256 {}", good.replace("host;", ";")),
            format!("AWS4-HMAC-SHA256 {}", good.replace(SIG, &SIG[..63])),
            format!(
                "AWS4-HMAC-SHA256 {}",
                good.replace(SIG, &SIG.replace('f', "g"))
            ),
            format!(
                "AWS4-HMAC-SHA256 {}",
                good.replace("SignedHeaders=host;x-amz-date, ", "")
            ),
            format!("AWS4-HMAC-SHA256 {}{}", good, " ".repeat(MAX_LEN)),
        ];
        for case in &cases[..] {
            assert!(parse_header(case.as_bytes()).is_err(), "{case}");
        }
    }

    #[test]
    fn parses_presigned_queries() {
        let query = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=7%2F20261201%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261201T120000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={SIG}&x=1"
        );
        assert!(is_presigned(&query));
        let presigned = parse_query(&query).unwrap();
        assert_eq!(presigned.expires, 3600);
        assert_eq!(&*presigned.amz_date, "20261201T120000Z");
        assert_eq!(presigned.credentials.key_id.as_str(), "7");
        for bad in [
            query.replace("3600", "604801"),
            query.replace("3600", "0"),
            query.replace("3600", "-1"),
            query.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"),
            query.replace("&X-Amz-SignedHeaders=host", ""),
            format!("{query}&X-Amz-Date=20261201T120000Z"),
            // F3: a second signature parameter under an encoded name.
            format!("{query}&X-Amz-Signatur%65=0"),
            format!("{query}&X%2DAmz-Signature=0"),
        ] {
            assert!(parse_query(&bad).is_err(), "{bad}");
        }
        assert!(!is_presigned("list-type=2&prefix=a"));
    }

    #[test]
    fn amz_dates() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20130524T000000Z"), Some(1_369_353_600));
        assert_eq!(parse_amz_date("20240229T235959Z"), Some(1_709_251_199));
        for bad in [
            "20230229T000000Z",
            "20130524T240000Z",
            "20130524 000000Z",
            "20130524T000000",
            "2013-05-24T00:00:00Z",
            "19691231T235959Z",
            "2013052T4000000Z",
            "20161231T235960Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }
}
