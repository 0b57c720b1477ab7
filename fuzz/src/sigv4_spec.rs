//! AWS Signature Version 4, a second time, for the SigV4 targets: written
//! from AWS's documentation ("Create a signed AWS API request", "Elements
//! of an AWS API request signature", "Authenticating requests: using query
//! parameters", "Signature calculations for the Authorization header:
//! transferring payload in multiple chunks" and its trailing-header
//! variant, "Checking object integrity") and from the crate's module docs
//! (`src/schemes/sigv4/mod.rs`, `chunked.rs`, `checksum.rs`) where those
//! choose among readings. HMAC-SHA256, SHA-256 and SHA-1 come from `ring`,
//! the CRCs are computed bit by bit from their polynomials, base64 is
//! [`crate::spec`]'s; nothing here calls into `tower_hmac`.
//!
//! What the docs choose, and this follows:
//! - the secret access key of a key is its secret's standard base64 text;
//! - the canonical URI is the path as sent for S3, and for other services
//!   the path with dot segments and empty segments removed, each segment
//!   encoded again; a path ending in `/.` or `/..` has two readings
//!   (`aws-sigv4`'s keeps a trailing slash, botocore's does not);
//! - the query is decoded (`+` as a space, a `%` not followed by two hex
//!   digits kept as it is), encoded again with `A-Za-z0-9-_.~` unreserved
//!   (upper-case escapes), and sorted by name, then value (the encoded
//!   bytes); a presigned URL leaves out `X-Amz-Signature`;
//! - the canonical headers are the `SignedHeaders` names in the order
//!   listed (AWS lists them sorted; the list is itself signed), each value
//!   trimmed, runs of spaces made one, repeated lines joined by `,`; a tab
//!   inside a value has two readings (kept, or folded like a space); `host`
//!   without a `Host` field is the authority without any `userinfo@`;
//! - the payload line is `x-amz-content-sha256` as sent, or without it the
//!   body's SHA-256 (header auth) or `UNSIGNED-PAYLOAD` (presigned URLs).

use ring::digest;

use crate::spec::{b64_decode, b64_encode, hex, hmac_sha256, sha256};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The SHA-256 of nothing, in hex.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
pub const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
pub const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
pub const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
/// The longest presigned URL lifetime: seven days.
pub const MAX_EXPIRES: u64 = 604_800;

// ---------------------------------------------------------------- hex, time

/// Hex of either case, exactly `out_len` bytes.
pub fn unhex(text: &[u8], out_len: usize) -> Option<Vec<u8>> {
    if text.len() != 2 * out_len {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// Exactly 64 lower-case hex digits (a chunk or trailer signature).
pub fn unhex_lower32(text: &[u8]) -> Option<[u8; 32]> {
    if !text
        .iter()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    {
        return None;
    }
    unhex(text, 32)?.try_into().ok()
}

fn days_in_month(year: u64, month: u64) -> u64 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if leap => 29,
        _ => 28,
    }
}

/// `yyyymmddThhmmssZ` (ISO 8601 basic, UTC) of a Unix time; years past
/// 9999 are not written.
pub fn amz_date(unix: u64) -> String {
    let (mut days, secs) = (unix / 86_400, unix % 86_400);
    let mut year = 1970;
    loop {
        let len = if days_in_month(year, 2) == 29 {
            366
        } else {
            365
        };
        if days < len {
            break;
        }
        days -= len;
        year += 1;
    }
    let mut month = 1;
    while days >= days_in_month(year, month) {
        days -= days_in_month(year, month);
        month += 1;
    }
    format!(
        "{year:04}{month:02}{:02}T{:02}{:02}{:02}Z",
        days + 1,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Unix seconds of `yyyymmddThhmmssZ` (a real UTC date, 1970 or later).
pub fn parse_amz_date(text: &[u8]) -> Option<u64> {
    let ok = text.len() == 16
        && text[8] == b'T'
        && text[15] == b'Z'
        && text[..8].iter().chain(&text[9..15]).all(u8::is_ascii_digit);
    if !ok {
        return None;
    }
    let n = |r: std::ops::Range<usize>| {
        text[r]
            .iter()
            .fold(0u64, |a, d| a * 10 + u64::from(d - b'0'))
    };
    let (year, month, day) = (n(0..4), n(4..6), n(6..8));
    let (h, m, s) = (n(9..11), n(11..13), n(13..15));
    if year < 1970
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || h > 23
        || m > 59
        || s > 59
    {
        return None;
    }
    let mut days = 0;
    for y in 1970..year {
        days += if days_in_month(y, 2) == 29 { 366 } else { 365 };
    }
    for mo in 1..month {
        days += days_in_month(year, mo);
    }
    Some((days + day - 1) * 86_400 + h * 3600 + m * 60 + s)
}

// ---------------------------------------------------------------- keys

/// The SigV4 signing key of a secret for a day, region and service:
/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret access key, date),
/// region), service), "aws4_request")`, the secret access key being the
/// secret's standard base64 text.
pub fn signing_key(secret: &[u8], date: &str, region: &str, service: &str) -> [u8; 32] {
    // Four HMACs per key and scope: kept (a few dozen at most) for speed.
    type Cache = std::collections::HashMap<(Vec<u8>, String, String, String), [u8; 32]>;
    thread_local! {
        static KEYS: std::cell::RefCell<Cache> = Default::default();
    }
    let id = (
        secret.to_vec(),
        date.to_string(),
        region.to_string(),
        service.to_string(),
    );
    if let Some(key) = KEYS.with(|keys| keys.borrow().get(&id).copied()) {
        return key;
    }
    let key = derive_signing_key(secret, date, region, service);
    KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        if keys.len() >= 64 {
            keys.clear();
        }
        keys.insert(id, key);
    });
    key
}

fn derive_signing_key(secret: &[u8], date: &str, region: &str, service: &str) -> [u8; 32] {
    let first = format!("AWS4{}", b64_encode(secret));
    let k_date = hmac_sha256(first.as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

pub fn scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/aws4_request")
}

// ---------------------------------------------------------------- the canonical request

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriMode {
    S3,
    Normalized,
}

/// Where the two most used signers read AWS's rules differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// `aws-sigv4`: `/a/b/.` is `/a/b/`; a tab in a value stays.
    AwsSigv4,
    /// botocore: `/a/b/.` is `/a/b`; a tab is whitespace, folded like spaces.
    Botocore,
}

/// A request as it came in: raw bytes.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a [u8],
    /// The path as sent (still percent-encoded).
    pub path: &'a [u8],
    /// The query as sent, without `?` (empty without one).
    pub query: &'a [u8],
    /// The target's authority, if it had one.
    pub authority: Option<&'a [u8]>,
    /// The field lines in order, names in lower case.
    pub headers: &'a [(Vec<u8>, Vec<u8>)],
}

impl Request<'_> {
    pub fn lines(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name.as_bytes())
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    /// The query's `name=value` pairs, raw (empty pairs skipped).
    pub fn query_pairs(&self) -> Vec<(&[u8], &[u8])> {
        self.query
            .split(|&b| b == b'&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.iter().position(|&b| b == b'=') {
                Some(at) => (&p[..at], &p[at + 1..]),
                None => (p, &b""[..]),
            })
            .collect()
    }
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// AWS's `UriEncode`: every byte but `A-Za-z0-9-_.~` as `%XX`, upper case.
pub fn uri_encode(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if unreserved(b) {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

/// Percent-decoding as a query is read: `+` is a space; a `%` without two
/// hex digits after it is kept as it is.
pub fn query_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                if let (Some(h), Some(l)) = (
                    bytes.get(i + 1).copied().and_then(digit),
                    bytes.get(i + 2).copied().and_then(digit),
                ) {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

pub fn canonical_uri(path: &[u8], mode: UriMode, reading: Reading) -> Vec<u8> {
    let path: &[u8] = if path.is_empty() { b"/" } else { path };
    match mode {
        UriMode::S3 => path.to_vec(),
        UriMode::Normalized => {
            let mut segments: Vec<&[u8]> = Vec::new();
            for segment in path.split(|&b| b == b'/') {
                match segment {
                    b"" | b"." => {}
                    b".." => {
                        segments.pop();
                    }
                    s => segments.push(s),
                }
            }
            let mut out = vec![b'/'];
            for (i, s) in segments.iter().enumerate() {
                if i > 0 {
                    out.push(b'/');
                }
                uri_encode(s, &mut out);
            }
            let dot_end = path.ends_with(b"/.") || path.ends_with(b"/..");
            let trailing = path.ends_with(b"/") || (reading == Reading::AwsSigv4 && dot_end);
            if trailing && !segments.is_empty() {
                out.push(b'/');
            }
            out
        }
    }
}

/// The canonical query string; `presigned` leaves out `X-Amz-Signature`.
pub fn canonical_query(request: &Request<'_>, presigned: bool) -> Vec<u8> {
    let again = |text: &[u8]| {
        let mut out = Vec::new();
        uri_encode(&query_decode(text), &mut out);
        out
    };
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = request
        .query_pairs()
        .into_iter()
        .map(|(n, v)| (again(n), again(v)))
        .filter(|(n, _)| !(presigned && n == b"X-Amz-Signature"))
        .collect();
    pairs.sort();
    let mut out = Vec::new();
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(n);
        out.push(b'=');
        out.extend_from_slice(v);
    }
    out
}

/// The authority without any `userinfo@`.
pub fn host_of(authority: &[u8]) -> &[u8] {
    match authority.iter().rposition(|&b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    }
}

/// One canonical header value: every line of `name`, each trimmed with its
/// inner runs of spaces made one, joined by `,`.
pub fn canonical_value(request: &Request<'_>, name: &[u8], reading: Reading) -> Vec<u8> {
    let lines: Vec<&[u8]> = request
        .headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_slice())
        .collect();
    if lines.is_empty() && name == b"host" {
        return request.authority.map(host_of).unwrap_or_default().to_vec();
    }
    let space = |b: u8| b == b' ' || (b == b'\t' && reading == Reading::Botocore);
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let trimmed = crate::spec::trim_sp_htab(line);
        let mut gap = false;
        for &b in trimmed {
            if space(b) {
                gap = true;
                continue;
            }
            if gap {
                out.push(b' ');
                gap = false;
            }
            out.push(b);
        }
    }
    out
}

/// The canonical request with `payload` as its last line.
pub fn canonical_request(
    request: &Request<'_>,
    signed_headers: &str,
    mode: UriMode,
    reading: Reading,
    presigned: bool,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = request.method.to_vec();
    out.push(b'\n');
    out.extend(canonical_uri(request.path, mode, reading));
    out.push(b'\n');
    out.extend(canonical_query(request, presigned));
    out.push(b'\n');
    for name in signed_headers.split(';') {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        out.extend(canonical_value(request, name.as_bytes(), reading));
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(signed_headers.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload);
    out
}

pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> Vec<u8> {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&sha256(canonical_request))
    )
    .into_bytes()
}

/// The readings in which this request may be signed: botocore's only
/// where it differs.
pub fn readings(request: &Request<'_>, signed_headers: &str, mode: UriMode) -> Vec<Reading> {
    let path_differs = mode == UriMode::Normalized
        && (request.path.ends_with(b"/.") || request.path.ends_with(b"/.."));
    let tab = signed_headers.split(';').any(|name| {
        request
            .lines(name)
            .iter()
            .any(|v| crate::spec::trim_sp_htab(v).contains(&b'\t'))
    });
    if path_differs || tab {
        vec![Reading::AwsSigv4, Reading::Botocore]
    } else {
        vec![Reading::AwsSigv4]
    }
}

/// Everything a signature is computed from, besides the request.
#[derive(Debug, Clone)]
pub struct Signing<'a> {
    pub secret: &'a [u8],
    pub amz_date: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub signed_headers: &'a str,
    pub mode: UriMode,
    pub presigned: bool,
}

impl Signing<'_> {
    pub fn key(&self) -> [u8; 32] {
        signing_key(self.secret, self.date, self.region, self.service)
    }

    pub fn scope(&self) -> String {
        scope(self.date, self.region, self.service)
    }

    /// The signature of the request in one reading, with `payload` as its last line.
    pub fn signature(&self, request: &Request<'_>, reading: Reading, payload: &[u8]) -> [u8; 32] {
        let canonical = canonical_request(
            request,
            self.signed_headers,
            self.mode,
            reading,
            self.presigned,
            payload,
        );
        hmac_sha256(
            &self.key(),
            &string_to_sign(self.amz_date, &self.scope(), &canonical),
        )
    }

    /// Whether `signature` signs the request in some reading.
    pub fn signs(&self, request: &Request<'_>, payload: &[u8], signature: &[u8; 32]) -> bool {
        readings(request, self.signed_headers, self.mode)
            .into_iter()
            .any(|r| self.signature(request, r, payload) == *signature)
    }
}

// ---------------------------------------------------------------- credentials

/// What a request's credentials say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: String,
    pub signature: [u8; 32],
    /// The signature in lower-case hex: the replay token.
    pub signature_hex: String,
    /// As AWS writes it: no more than that was needed to parse it.
    pub strict: bool,
}

fn credentials(credential: &[u8], signed: &[u8], signature: &[u8]) -> Option<Credentials> {
    let credential = std::str::from_utf8(credential).ok()?;
    let parts: Vec<&str> = credential.split('/').collect();
    let [key_id, date, region, service, "aws4_request"] = parts.as_slice() else {
        return None;
    };
    if key_id.is_empty() || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let signed_headers = std::str::from_utf8(signed).ok()?;
    let names: Vec<&str> = signed_headers.split(';').collect();
    if names.iter().any(|n| n.is_empty()) {
        return None;
    }
    let raw: [u8; 32] = unhex(signature, 32)?.try_into().ok()?;
    let token = |n: &&str| {
        n.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
    };
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    let strict = names.iter().all(token)
        && sorted == names
        && names.len() <= 64
        && signature.iter().all(|b| !b.is_ascii_uppercase())
        && [region, service].iter().all(|p| {
            !p.is_empty()
                && p.len() <= 64
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    Some(Credentials {
        key_id: key_id.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers: signed_headers.to_string(),
        signature: raw,
        signature_hex: hex(&raw),
        strict,
    })
}

/// `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`, read
/// leniently (the algorithm in any case, parameters in any order and case,
/// spaces and tabs around them, unknown ones ignored, the first of a
/// repeated one taken): whatever a server could read in it. `strict` says
/// whether it is in AWS's layout (`, ` or `,` between the three
/// parameters, each once, nothing else).
pub fn parse_authorization(value: &[u8]) -> Option<Credentials> {
    let word = ALGORITHM.len();
    if value.len() <= word || !value[..word].eq_ignore_ascii_case(ALGORITHM.as_bytes()) {
        return None;
    }
    let strict_start = value[..word] == *ALGORITHM.as_bytes() && value[word] == b' ';
    if value[word] != b' ' && value[word] != b'\t' {
        return None;
    }
    let (mut found, mut strict) = ([None, None, None], strict_start);
    for param in value[word + 1..].split(|&b| b == b',') {
        let trimmed = crate::spec::trim_sp_htab(param);
        strict &= !param.contains(&b'\t');
        let Some(eq) = trimmed.iter().position(|&b| b == b'=') else {
            strict = false;
            continue;
        };
        let (name, v) = (&trimmed[..eq], &trimmed[eq + 1..]);
        let slot = ["Credential", "SignedHeaders", "Signature"]
            .iter()
            .position(|n| n.as_bytes().eq_ignore_ascii_case(name));
        match slot {
            Some(at) => {
                strict &= ["Credential", "SignedHeaders", "Signature"][at].as_bytes() == name;
                if found[at].is_some() {
                    strict = false;
                } else {
                    found[at] = Some(v);
                }
            }
            None => strict = false,
        }
    }
    let [Some(c), Some(h), Some(s)] = found else {
        return None;
    };
    let mut credentials = credentials(c, h, s)?;
    credentials.strict &= strict;
    Some(credentials)
}

/// A presigned URL's credentials.
#[derive(Debug, Clone)]
pub struct Presigned {
    pub credentials: Credentials,
    pub amz_date: String,
    pub expires: u64,
}

/// Whether a request without `Authorization` carries presigned credentials:
/// an `X-Amz-Algorithm` or `X-Amz-Signature` parameter (names decoded, as
/// the canonical query reads them: `X-Amz-Signatur%65` is `X-Amz-Signature`).
pub fn is_presigned(request: &Request<'_>) -> bool {
    request.query_pairs().iter().any(|(n, _)| {
        let n = query_decode(n);
        n == b"X-Amz-Algorithm" || n == b"X-Amz-Signature"
    })
}

/// The `X-Amz-*` parameters of a presigned URL (names decoded, each once;
/// values percent-decoded).
pub fn parse_presigned(request: &Request<'_>) -> Option<Presigned> {
    const NAMES: [&str; 6] = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
    ];
    let mut found: [Option<Vec<u8>>; 6] = Default::default();
    for (name, value) in request.query_pairs() {
        let name = query_decode(name);
        if let Some(at) = NAMES.iter().position(|n| n.as_bytes() == name) {
            if found[at].is_some() {
                return None;
            }
            // Decoded as a URL's query is, `+` and all: any server reads a
            // `+` there as a space, and none of these values holds one.
            found[at] = Some(query_decode(value));
        }
    }
    let [Some(algorithm), Some(credential), Some(date), Some(expires), Some(signed), Some(signature)] =
        found
    else {
        return None;
    };
    if algorithm != ALGORITHM.as_bytes() {
        return None;
    }
    let expires_text = std::str::from_utf8(&expires).ok()?;
    let leading_zero = expires_text.len() > 1 && expires_text.starts_with('0');
    let expires: u64 = if !expires_text.is_empty()
        && expires_text.len() <= 19
        && expires_text.bytes().all(|b| b.is_ascii_digit())
    {
        expires_text.parse().ok()?
    } else {
        return None;
    };
    if !(1..=MAX_EXPIRES).contains(&expires) {
        return None;
    }
    let mut credentials = credentials(&credential, &signed, &signature)?;
    credentials.strict &= !leading_zero;
    Some(Presigned {
        credentials,
        amz_date: String::from_utf8(date).ok()?,
        expires,
    })
}

// ---------------------------------------------------------------- checksums

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl Checksum {
    pub const ALL: [Self; 5] = [
        Self::Crc32,
        Self::Crc32c,
        Self::Crc64Nvme,
        Self::Sha1,
        Self::Sha256,
    ];

    /// `x-amz-checksum-<name>`, the name in lower case.
    pub fn header(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// As `x-amz-sdk-checksum-algorithm` names it.
    pub fn sdk_name(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    pub fn of_header(name: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.header().as_bytes().eq_ignore_ascii_case(name))
    }

    pub fn of_sdk_name(name: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.sdk_name().as_bytes().eq_ignore_ascii_case(name))
    }

    /// The checksum's bytes (a CRC big-endian).
    pub fn compute(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Crc32 => crc32_reflected(0x04C1_1DB7, data).to_be_bytes().to_vec(),
            Self::Crc32c => crc32_reflected(0x1EDC_6F41, data).to_be_bytes().to_vec(),
            Self::Crc64Nvme => crc64_reflected(0xAD93_D235_94C9_3659, data)
                .to_be_bytes()
                .to_vec(),
            Self::Sha1 => digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, data)
                .as_ref()
                .to_vec(),
            Self::Sha256 => sha256(data).to_vec(),
        }
    }

    pub fn len(self) -> usize {
        match self {
            Self::Crc32 | Self::Crc32c => 4,
            Self::Crc64Nvme => 8,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    /// The value as sent: standard padded base64 of the checksum.
    pub fn value(self, data: &[u8]) -> String {
        b64_encode(&self.compute(data))
    }

    /// Whether `value` is a well-formed value (standard padded base64 of
    /// exactly the checksum's length).
    pub fn well_formed(self, value: &[u8]) -> bool {
        b64_decode(value).is_some_and(|v| v.len() == self.len())
    }

    pub fn matches(self, value: &[u8], data: &[u8]) -> bool {
        b64_decode(value).is_some_and(|v| v == self.compute(data))
    }
}

/// A reflected CRC-32 (init and final XOR all ones) of a normal-form polynomial.
fn crc32_reflected(poly: u32, data: &[u8]) -> u32 {
    let poly = poly.reverse_bits();
    let mut crc = u32::MAX;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                crc >> 1 ^ poly
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn crc64_reflected(poly: u64, data: &[u8]) -> u64 {
    let poly = poly.reverse_bits();
    let mut crc = u64::MAX;
    for &b in data {
        crc ^= u64::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                crc >> 1 ^ poly
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

// ---------------------------------------------------------------- aws-chunked

/// An aws-chunked body's mode, as `x-amz-content-sha256` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`.
    Signed,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`.
    SignedTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`.
    UnsignedTrailer,
}

impl Stream {
    pub fn literal(self) -> &'static str {
        match self {
            Self::Signed => STREAMING_SIGNED,
            Self::SignedTrailer => STREAMING_SIGNED_TRAILER,
            Self::UnsignedTrailer => STREAMING_UNSIGNED_TRAILER,
        }
    }

    pub fn signed(self) -> bool {
        self != Self::UnsignedTrailer
    }
}

/// What signs the chunks: the signing key, `X-Amz-Date`, the scope and the
/// request's own signature (the seed).
#[derive(Debug, Clone)]
pub struct ChunkKey {
    pub key: [u8; 32],
    pub amz_date: String,
    pub scope: String,
    pub seed: [u8; 32],
}

impl ChunkKey {
    /// `AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n<previous>\n<hash of "">\n<hash of data>`.
    pub fn chunk(&self, previous: &[u8; 32], data: &[u8]) -> [u8; 32] {
        let text = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{}",
            self.amz_date,
            self.scope,
            hex(previous),
            hex(&sha256(data))
        );
        hmac_sha256(&self.key, text.as_bytes())
    }

    /// `AWS4-HMAC-SHA256-TRAILER\n<date>\n<scope>\n<previous>\n<hash of the canonical trailer>`.
    pub fn trailer(&self, previous: &[u8; 32], canonical: &[u8]) -> [u8; 32] {
        let text = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            hex(previous),
            hex(&sha256(canonical))
        );
        hmac_sha256(&self.key, text.as_bytes())
    }
}

/// Encodes `chunks` (empty ones skipped) as an aws-chunked body, as the
/// SDKs write it; `trailer`, for the trailer modes, is the checksum line's
/// name and value as written.
pub fn encode(
    stream: Stream,
    key: &ChunkKey,
    chunks: &[&[u8]],
    trailer: Option<(&str, &str)>,
    uppercase: bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut previous = key.seed;
    let size = |n: usize| {
        if uppercase {
            format!("{n:X}")
        } else {
            format!("{n:x}")
        }
    };
    for chunk in chunks
        .iter()
        .filter(|c| !c.is_empty())
        .chain(std::iter::once(&&b""[..]))
    {
        out.extend_from_slice(size(chunk.len()).as_bytes());
        if stream.signed() {
            previous = key.chunk(&previous, chunk);
            out.extend_from_slice(b";chunk-signature=");
            out.extend_from_slice(hex(&previous).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if !chunk.is_empty() {
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
    }
    if stream != Stream::Signed {
        if let Some((name, value)) = trailer {
            out.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
            if stream.signed() {
                let canonical = format!("{}:{}\n", name.to_ascii_lowercase(), value.trim());
                let signature = key.trailer(&previous, canonical.as_bytes());
                out.extend_from_slice(
                    format!("x-amz-trailer-signature:{}\r\n", hex(&signature)).as_bytes(),
                );
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// What the body must satisfy besides its framing.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// The checksum `x-amz-trailer` announced.
    pub trailer: Option<Checksum>,
    /// An `x-amz-checksum-*` header: its algorithm and value.
    pub header_checksum: Option<(Checksum, Vec<u8>)>,
    /// `x-amz-decoded-content-length`.
    pub decoded_length: Option<u64>,
}

/// The verdict on an aws-chunked body, as the crate's codes name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Complete,
    Malformed,
    BadSignature,
    Incomplete,
    DecodedLengthMismatch,
    ChecksumMismatch,
    UnsupportedChecksum,
}

impl Verdict {
    pub fn code(self) -> Option<&'static str> {
        match self {
            Self::Complete => None,
            Self::Malformed => Some("malformed_chunked_body"),
            Self::BadSignature => Some("invalid_signature"),
            Self::Incomplete => Some("body_incomplete"),
            Self::DecodedLengthMismatch => Some("decoded_length_mismatch"),
            Self::ChecksumMismatch => Some("checksum_mismatch"),
            Self::UnsupportedChecksum => Some("unsupported_checksum"),
        }
    }
}

/// A body decoded: the verdict, the data before the point it stopped
/// (of chunks whose signature was checked, for a signed body), and the data
/// of the chunk it stopped in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub verdict: Verdict,
    pub data: Vec<u8>,
    pub pending: Vec<u8>,
}

/// The longest size line of a signed chunk, `\r\n` included: 16 hex
/// digits, `;chunk-signature=`, 64 hex digits. Of an unsigned one: 16 + 2.
/// The longest trailer line (the crate's buffer, its docs say: 256 bytes;
/// any line that can be accepted is 92 at most, the rest is room for
/// whitespace around the value).
const SIGNED_SIZE_LINE: usize = 16 + 17 + 64 + 2;
const UNSIGNED_SIZE_LINE: usize = 16 + 2;
const TRAILER_LINE: usize = 256;

/// Decodes an aws-chunked body as the crate's docs (and AWS's) describe it,
/// stopping at the first byte that cannot be accepted. `key` is `None`
/// for the unsigned mode.
pub fn decode(stream: Stream, key: Option<&ChunkKey>, rules: &Rules, wire: &[u8]) -> Decoded {
    let mut d = Decoder {
        stream,
        key,
        rules,
        wire,
        at: 0,
        previous: key.map(|k| k.seed).unwrap_or_default(),
        data: Vec::new(),
        pending: Vec::new(),
    };
    let verdict = match d.run() {
        Ok(()) => Verdict::Complete,
        Err(v) => v,
    };
    Decoded {
        verdict,
        data: d.data,
        pending: d.pending,
    }
}

struct Decoder<'a> {
    stream: Stream,
    key: Option<&'a ChunkKey>,
    rules: &'a Rules,
    wire: &'a [u8],
    at: usize,
    previous: [u8; 32],
    data: Vec<u8>,
    pending: Vec<u8>,
}

impl Decoder<'_> {
    /// The next line (without its `\r\n`), of at most `limit` bytes with it.
    fn line(&mut self, limit: usize) -> Result<Vec<u8>, Verdict> {
        let rest = &self.wire[self.at..];
        let window = &rest[..rest.len().min(limit)];
        let Some(lf) = window.iter().position(|&b| b == b'\n') else {
            return Err(if rest.len() >= limit {
                Verdict::Malformed
            } else {
                Verdict::Incomplete
            });
        };
        self.at += lf + 1;
        if lf == 0 || window[lf - 1] != b'\r' {
            return Err(Verdict::Malformed);
        }
        Ok(window[..lf - 1].to_vec())
    }

    fn size_line(&self, line: &[u8]) -> Result<(u64, [u8; 32]), Verdict> {
        let (size, signature) = if self.stream.signed() {
            let semi = line
                .iter()
                .position(|&b| b == b';')
                .ok_or(Verdict::Malformed)?;
            let ext = &line[semi..];
            let sig = ext
                .strip_prefix(b";chunk-signature=")
                .and_then(unhex_lower32)
                .ok_or(Verdict::Malformed)?;
            (&line[..semi], sig)
        } else {
            (line, [0; 32])
        };
        let ok = !size.is_empty()
            && size.len() <= 16
            && size.iter().all(u8::is_ascii_hexdigit)
            && (size == b"0" || size[0] != b'0');
        if !ok {
            return Err(Verdict::Malformed);
        }
        let n = size.iter().fold(0u64, |n, &c| {
            n << 4 | u64::from((c as char).to_digit(16).expect("hex"))
        });
        Ok((n, signature))
    }

    fn run(&mut self) -> Result<(), Verdict> {
        let limit = if self.stream.signed() {
            SIGNED_SIZE_LINE
        } else {
            UNSIGNED_SIZE_LINE
        };
        let mut decoded: u64 = 0;
        loop {
            let line = self.line(limit)?;
            let (size, signature) = self.size_line(&line)?;
            if size == 0 {
                self.final_chunk(&signature, decoded)?;
                break;
            }
            if let Some(declared) = self.rules.decoded_length {
                if size > declared - decoded {
                    return Err(Verdict::DecodedLengthMismatch);
                }
            }
            decoded = decoded.checked_add(size).ok_or(Verdict::Malformed)?;
            let rest = &self.wire[self.at..];
            if (rest.len() as u64) < size {
                self.pending = rest.to_vec();
                return Err(Verdict::Incomplete);
            }
            let chunk = &rest[..size as usize];
            self.at += size as usize;
            if let Some(key) = self.key {
                let expected = key.chunk(&self.previous, chunk);
                if expected != signature {
                    self.pending = chunk.to_vec();
                    return Err(Verdict::BadSignature);
                }
                self.previous = expected;
            }
            self.data.extend_from_slice(chunk);
            for &b in b"\r\n" {
                match self.wire.get(self.at) {
                    None => return Err(Verdict::Incomplete),
                    Some(&c) if c == b => self.at += 1,
                    Some(_) => return Err(Verdict::Malformed),
                }
            }
        }
        self.trailer()?;
        if self.at < self.wire.len() {
            return Err(Verdict::Malformed);
        }
        Ok(())
    }

    fn final_chunk(&mut self, signature: &[u8; 32], decoded: u64) -> Result<(), Verdict> {
        if let Some(key) = self.key {
            let expected = key.chunk(&self.previous, b"");
            if expected != *signature {
                return Err(Verdict::BadSignature);
            }
            self.previous = expected;
        }
        if self.rules.decoded_length.is_some_and(|n| n != decoded) {
            return Err(Verdict::DecodedLengthMismatch);
        }
        if let Some((checksum, value)) = &self.rules.header_checksum {
            if !checksum.matches(value, &self.data) {
                return Err(Verdict::ChecksumMismatch);
            }
        }
        Ok(())
    }

    fn trailer(&mut self) -> Result<(), Verdict> {
        let mut value: Option<Vec<u8>> = None;
        let mut signed = false;
        loop {
            let line = self.line(TRAILER_LINE)?;
            if line.is_empty() {
                break;
            }
            let colon = line
                .iter()
                .position(|&b| b == b':')
                .ok_or(Verdict::Malformed)?;
            let name = &line[..colon];
            let v = crate::spec::trim_sp_htab(&line[colon + 1..]);
            if name.eq_ignore_ascii_case(b"x-amz-trailer-signature") {
                let (Some(key), Some(announced), Some(sent), false) =
                    (self.key, self.rules.trailer, &value, signed)
                else {
                    return Err(Verdict::Malformed);
                };
                let theirs = unhex_lower32(v).ok_or(Verdict::Malformed)?;
                let mut canonical = announced.header().as_bytes().to_vec();
                canonical.push(b':');
                canonical.extend_from_slice(sent);
                canonical.push(b'\n');
                if key.trailer(&self.previous, &canonical) != theirs {
                    return Err(Verdict::BadSignature);
                }
                signed = true;
                continue;
            }
            if signed {
                return Err(Verdict::Malformed);
            }
            match Checksum::of_header(name) {
                Some(c) if Some(c) == self.rules.trailer && value.is_none() => {
                    if !c.well_formed(v) {
                        return Err(Verdict::UnsupportedChecksum);
                    }
                    value = Some(v.to_vec());
                }
                Some(_) => return Err(Verdict::Malformed),
                None => {
                    let prefix = b"x-amz-checksum-";
                    let checksum_like = name.len() > prefix.len()
                        && name[..prefix.len()].eq_ignore_ascii_case(prefix)
                        && name[prefix.len()..].iter().all(u8::is_ascii_alphanumeric);
                    return Err(if checksum_like {
                        Verdict::UnsupportedChecksum
                    } else {
                        Verdict::Malformed
                    });
                }
            }
        }
        if let Some(announced) = self.rules.trailer {
            let Some(sent) = value else {
                return Err(Verdict::Malformed);
            };
            if self.stream.signed() && !signed {
                return Err(Verdict::Malformed);
            }
            if !announced.matches(&sent, &self.data) {
                return Err(Verdict::ChecksumMismatch);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        for (text, unix) in [
            ("19700101T000000Z", 0),
            ("20130524T000000Z", 1_369_353_600),
            ("20240229T235959Z", 1_709_251_199),
            ("20261201T141253Z", 1_796_134_373),
        ] {
            assert_eq!(parse_amz_date(text.as_bytes()), Some(unix), "{text}");
            assert_eq!(amz_date(unix), text);
        }
        for bad in ["20230229T000000Z", "20130524T240000Z", "19691231T235959Z"] {
            assert_eq!(parse_amz_date(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn decoding_queries() {
        assert_eq!(query_decode(b"a+b%20c%7e%2"), b"a b c~%2");
        assert_eq!(query_decode(b"%zz%4"), b"%zz%4");
        assert_eq!(query_decode(b"%41%"), b"A%");
    }

    #[test]
    fn crc_check_values() {
        assert_eq!(crc32_reflected(0x04C1_1DB7, b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32_reflected(0x1EDC_6F41, b"123456789"), 0xE306_9283);
        assert_eq!(
            crc64_reflected(0xAD93_D235_94C9_3659, b"123456789"),
            0xAE8B_1486_0A79_9888
        );
    }
}
