use std::fmt;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use http::{HeaderMap, HeaderValue, Method, Uri};

use super::{Algorithm, CanonicalRequest, SCHEME};
use crate::{names::charset, KeyId, Nonce, SignedHeaders};

/// The longest `Authorization` value accepted, in bytes.
pub const MAX_AUTHORIZATION_LEN: usize = 2048;

/// The most names a `SignedHeaders` list may hold.
pub const MAX_SIGNED_HEADERS: usize = 32;

const SIGNATURE_B64_LEN: usize = 44;

/// A parsed `Authorization: HMAC-SHA256 ...` header (or, with
/// [`parse_as`](Self::parse_as), that of another [`Algorithm`]'s scheme:
/// `BLAKE3-KEYED ...`).
///
/// ```
/// use tower_hmac::schemes::hmac_sha256::Authorization;
///
/// let header = concat!(
///     "HMAC-SHA256 Key=7, Time=1700000000, Nonce=AAAAAAAAAAAAAAAAAAAAAA, ",
///     "SignedHeaders=host, Signature=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
/// );
/// let auth = Authorization::parse(header).unwrap();
/// assert_eq!(auth.key_id().as_str(), "7");
/// assert_eq!(auth.time(), 1_700_000_000);
/// assert_eq!(auth.to_string(), header);
/// ```
// No `PartialEq`: comparing signatures must be constant-time, and nothing needs it.
#[derive(Clone)]
pub struct Authorization {
    algorithm: Algorithm,
    key_id: KeyId,
    time: u64,
    nonce: Nonce,
    signed_headers: SignedHeaders,
    signature: [u8; 32],
}

/// Why an `Authorization` value was rejected. Every variant is answered with
/// the `malformed_authorization` problem code; the variant is for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// Longer than [`MAX_AUTHORIZATION_LEN`], as sent or in its canonical form.
    TooLong,
    /// Holds bytes outside visible ASCII.
    NotAscii,
    /// Does not start with `HMAC-SHA256 ` (or the word of the algorithm asked for).
    WrongScheme,
    /// A parameter is not of the form `name=value`, or the list has an empty item.
    Syntax,
    /// A parameter name is not one of the five defined ones.
    UnknownParameter,
    /// A parameter appears more than once.
    DuplicateParameter(&'static str),
    /// A parameter is absent.
    MissingParameter(&'static str),
    /// `Key` is not 1–64 characters from `A-Za-z0-9._~-`.
    InvalidKeyId,
    /// `Time` is not a canonical decimal `u64`.
    InvalidTime,
    /// `Nonce` is not 16–64 base64url characters.
    InvalidNonce,
    /// `SignedHeaders` is not a sorted, duplicate-free list of lowercase names.
    InvalidSignedHeaders,
    /// `Signature` is not the padded standard base64 of 32 bytes.
    InvalidSignature,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong => write!(f, "longer than {MAX_AUTHORIZATION_LEN} bytes"),
            Self::NotAscii => f.write_str("not visible ASCII"),
            Self::WrongScheme => write!(
                f,
                "scheme word is not the expected one ({SCHEME}, or the algorithm asked for)"
            ),
            Self::Syntax => f.write_str("parameters are not a comma-separated list of name=value"),
            Self::UnknownParameter => f.write_str("unknown parameter"),
            Self::DuplicateParameter(name) => write!(f, "parameter {name} appears more than once"),
            Self::MissingParameter(name) => write!(f, "parameter {name} is missing"),
            Self::InvalidKeyId => f.write_str("Key is not 1-64 characters from A-Za-z0-9._~-"),
            Self::InvalidTime => f.write_str("Time is not Unix seconds in canonical decimal"),
            Self::InvalidNonce => f.write_str("Nonce is not 16-64 base64url characters"),
            Self::InvalidSignedHeaders => f.write_str(
                "SignedHeaders is not a sorted, duplicate-free, ;-separated list of lowercase names",
            ),
            Self::InvalidSignature => {
                f.write_str("Signature is not padded standard base64 of 32 bytes")
            }
        }
    }
}

impl std::error::Error for ParseError {}

impl Authorization {
    pub(crate) fn new(
        algorithm: Algorithm,
        key_id: KeyId,
        time: u64,
        nonce: Nonce,
        signed_headers: SignedHeaders,
        signature: [u8; 32],
    ) -> Self {
        Self {
            algorithm,
            key_id,
            time,
            nonce,
            signed_headers,
            signature,
        }
    }

    /// Parses a header value. Scheme and parameter names match
    /// case-insensitively; parameters may come in any order, each exactly once.
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        Self::parse_bytes(Algorithm::HmacSha256, value.as_bytes())
    }

    /// Parses the header as it arrived on the wire.
    pub fn from_header(value: &HeaderValue) -> Result<Self, ParseError> {
        Self::parse_bytes(Algorithm::HmacSha256, value.as_bytes())
    }

    /// Parses a header value of `algorithm`'s scheme, as [`parse`](Self::parse)
    /// parses `HMAC-SHA256`'s: the same grammar under another scheme word.
    ///
    /// ```
    /// use tower_hmac::{schemes::hmac_sha256::Authorization, Algorithm};
    ///
    /// let header = concat!(
    ///     "HMAC-SHA256 Key=7, Time=1700000000, Nonce=AAAAAAAAAAAAAAAAAAAAAA, ",
    ///     "SignedHeaders=host, Signature=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    /// );
    /// let auth = Authorization::parse_as(Algorithm::HmacSha256, header).unwrap();
    /// assert_eq!(auth.algorithm(), Algorithm::HmacSha256);
    /// ```
    pub fn parse_as(algorithm: Algorithm, value: &str) -> Result<Self, ParseError> {
        Self::parse_bytes(algorithm, value.as_bytes())
    }

    /// [`parse_as`](Self::parse_as) for the header as it arrived on the wire.
    pub fn from_header_as(algorithm: Algorithm, value: &HeaderValue) -> Result<Self, ParseError> {
        Self::parse_bytes(algorithm, value.as_bytes())
    }

    /// The header of whichever algorithm's scheme word it opens with.
    pub(crate) fn from_header_any(value: &HeaderValue) -> Result<Self, ParseError> {
        let algorithm =
            Algorithm::of_authorization(value.as_bytes()).ok_or(ParseError::WrongScheme)?;
        Self::from_header_as(algorithm, value)
    }

    fn parse_bytes(algorithm: Algorithm, value: &[u8]) -> Result<Self, ParseError> {
        if value.len() > MAX_AUTHORIZATION_LEN {
            return Err(ParseError::TooLong);
        }
        if let Some(auth) = Self::parse_canonical_form(algorithm, value) {
            return Ok(auth);
        }
        if !is_visible_ascii(value) {
            return Err(ParseError::NotAscii);
        }
        let value = std::str::from_utf8(value).map_err(|_| ParseError::NotAscii)?;
        let auth = Self::parse_general(algorithm, value)?;
        // A compact header (`,` without spaces) may be under the limit while
        // its canonical form is not; refuse it, so that every header this
        // accepts prints back to one it accepts.
        if auth.canonical_len() > MAX_AUTHORIZATION_LEN {
            return Err(ParseError::TooLong);
        }
        Ok(auth)
    }

    /// The length of the canonical form ([`to_string`](ToString::to_string)).
    fn canonical_len(&self) -> usize {
        let fixed = " Key=, Time=, Nonce=, SignedHeaders=, Signature=".len();
        self.algorithm.scheme_word().len()
            + fixed
            + self.key_id.as_str().len()
            + itoa::Buffer::new().format(self.time).len()
            + self.nonce.as_str().len()
            + self.signed_headers.as_str().len()
            + SIGNATURE_B64_LEN
    }

    /// The exact form every conforming client sends, parsed front to back
    /// with no bookkeeping. Whatever this accepts, the general parser accepts
    /// with the same result; anything else falls through to it, which also
    /// names the error.
    fn parse_canonical_form(algorithm: Algorithm, value: &[u8]) -> Option<Self> {
        let rest = value
            .strip_prefix(algorithm.scheme_word().as_bytes())?
            .strip_prefix(b" Key=")?;
        let (key_id, rest) = field(rest, charset::KEY_ID)?;
        let (time, rest) = field(rest.strip_prefix(b", Time=")?, charset::DIGIT)?;
        let (nonce, rest) = field(rest.strip_prefix(b", Nonce=")?, charset::NONCE)?;
        let (names, rest) = field(
            rest.strip_prefix(b", SignedHeaders=")?,
            charset::NAME | charset::SEMICOLON,
        )?;
        let signature = rest.strip_prefix(b", Signature=")?;
        Some(Self {
            algorithm,
            key_id: KeyId::from_key_id_chars(key_id)?,
            time: parse_time(time).ok()?,
            nonce: Nonce::from_nonce_chars(nonce)?,
            signed_headers: SignedHeaders::from_name_chars(names, MAX_SIGNED_HEADERS)?,
            signature: parse_signature(signature).ok()?,
        })
    }

    fn parse_general(algorithm: Algorithm, value: &str) -> Result<Self, ParseError> {
        let (scheme, params) = value.split_once(' ').ok_or(ParseError::WrongScheme)?;
        if !scheme.eq_ignore_ascii_case(algorithm.scheme_word()) {
            return Err(ParseError::WrongScheme);
        }

        let mut key_id = None;
        let mut time = None;
        let mut nonce = None;
        let mut signed_headers = None;
        let mut signature = None;

        // Every byte is ASCII from here on, so any byte offset is a char boundary.
        // (Byte loops rather than `split(',')`/`split_once('=')`: the items are
        // short, and the generic searchers cost more than the scan.)
        let mut rest = Some(params);
        while let Some(list) = rest {
            let (item, tail) = match list.bytes().position(|b| b == b',') {
                Some(comma) => (&list[..comma], Some(&list[comma + 1..])),
                None => (list, None),
            };
            rest = tail;
            let item = trim_blanks(item);
            let equals = item
                .bytes()
                .position(|b| b == b'=')
                .ok_or(ParseError::Syntax)?;
            let (name, value) = (&item[..equals], &item[equals + 1..]);
            // Dispatch on the length first: one comparison instead of up to five.
            match name.len() {
                0 => return Err(ParseError::Syntax),
                3 if name.eq_ignore_ascii_case("Key") => {
                    set_once(&mut key_id, "Key", || {
                        KeyId::new(value).map_err(|_| ParseError::InvalidKeyId)
                    })?;
                }
                4 if name.eq_ignore_ascii_case("Time") => {
                    set_once(&mut time, "Time", || parse_time(value.as_bytes()))?;
                }
                5 if name.eq_ignore_ascii_case("Nonce") => {
                    set_once(&mut nonce, "Nonce", || {
                        Nonce::new(value).map_err(|_| ParseError::InvalidNonce)
                    })?;
                }
                13 if name.eq_ignore_ascii_case("SignedHeaders") => {
                    set_once(&mut signed_headers, "SignedHeaders", || {
                        parse_signed_headers(value.as_bytes())
                    })?;
                }
                9 if name.eq_ignore_ascii_case("Signature") => {
                    set_once(&mut signature, "Signature", || {
                        parse_signature(value.as_bytes())
                    })?;
                }
                _ => return Err(ParseError::UnknownParameter),
            }
        }

        Ok(Self {
            algorithm,
            key_id: key_id.ok_or(ParseError::MissingParameter("Key"))?,
            time: time.ok_or(ParseError::MissingParameter("Time"))?,
            nonce: nonce.ok_or(ParseError::MissingParameter("Nonce"))?,
            signed_headers: signed_headers.ok_or(ParseError::MissingParameter("SignedHeaders"))?,
            signature: signature.ok_or(ParseError::MissingParameter("Signature"))?,
        })
    }

    /// The algorithm, as the scheme word names it.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The key id.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The signing time, in Unix seconds.
    pub fn time(&self) -> u64 {
        self.time
    }

    /// The nonce.
    pub fn nonce(&self) -> &Nonce {
        &self.nonce
    }

    /// The names of the signed headers.
    pub fn signed_headers(&self) -> &SignedHeaders {
        &self.signed_headers
    }

    /// The raw 32-byte signature.
    pub fn signature(&self) -> &[u8; 32] {
        &self.signature
    }

    /// The string-to-sign (up to the body digest) for the request this header came with.
    pub fn canonical_request(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> CanonicalRequest {
        CanonicalRequest::build(
            self.algorithm,
            &self.key_id,
            self.time,
            &self.nonce,
            &self.signed_headers,
            method,
            uri,
            headers,
        )
    }

    /// The header value, ready to send.
    pub fn to_header_value(&self) -> HeaderValue {
        HeaderValue::try_from(self.to_string()).expect("every part is visible ASCII")
    }
}

/// Only visible ASCII, spaces and tabs. Checked without early exit, so that
/// the loop vectorizes; a header value is at most 2 KiB.
fn is_visible_ascii(bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |ok, &b| {
        ok & ((b == b'\t') | (b' '..=b'~').contains(&b))
    })
}

/// `s` without leading and trailing spaces and tabs.
fn trim_blanks(s: &str) -> &str {
    let blank = |b: u8| b == b' ' || b == b'\t';
    let start = s.bytes().position(|b| !blank(b)).unwrap_or(s.len());
    let end = s
        .bytes()
        .rposition(|b| !blank(b))
        .map_or(start, |last| last + 1);
    &s[start..end]
}

fn set_once<T>(
    slot: &mut Option<T>,
    name: &'static str,
    parse: impl FnOnce() -> Result<T, ParseError>,
) -> Result<(), ParseError> {
    if slot.is_some() {
        return Err(ParseError::DuplicateParameter(name));
    }
    *slot = Some(parse()?);
    Ok(())
}

/// The bytes before the first `,`, if all are in `class`, and the rest
/// from the `,` on. (No class holds `,`, so this is the leading span.)
fn field(bytes: &[u8], class: u8) -> Option<(&[u8], &[u8])> {
    let (field, rest) = bytes.split_at(charset::find(bytes, b',')?);
    charset::all_in(field, class).then_some((field, rest))
}

fn parse_signed_headers(value: &[u8]) -> Result<SignedHeaders, ParseError> {
    SignedHeaders::parse_canonical(value, MAX_SIGNED_HEADERS)
        .ok_or(ParseError::InvalidSignedHeaders)
}

/// Canonical decimal: digits only, no leading zero (but `0`), at most `u64::MAX`.
fn parse_time(value: &[u8]) -> Result<u64, ParseError> {
    let canonical = !value.is_empty()
        && charset::all_in(value, charset::DIGIT)
        && (value == b"0" || value[0] != b'0');
    if !canonical {
        return Err(ParseError::InvalidTime);
    }
    // Up to 19 digits cannot overflow: eight at a time after the leading ones.
    if value.len() <= 19 {
        let (head, tail) = value.split_at(value.len() % 8);
        let head = head
            .iter()
            .fold(0, |time, &digit| time * 10 + u64::from(digit - b'0'));
        return Ok(tail.chunks_exact(8).fold(head, |time, eight| {
            time * 100_000_000 + eight_digits(eight.try_into().expect("8 bytes"))
        }));
    }
    value.iter().try_fold(0u64, |time, &digit| {
        time.checked_mul(10)
            .and_then(|time| time.checked_add(u64::from(digit - b'0')))
            .ok_or(ParseError::InvalidTime)
    })
}

/// The value of eight ASCII digits, combined in pairs, then fours, then the
/// whole, with three multiplications in place of eight.
fn eight_digits(digits: [u8; 8]) -> u64 {
    // Little-endian: the first (most significant) digit is the lowest byte.
    let x = u64::from_le_bytes(digits) - u64::from_ne_bytes([b'0'; 8]);
    let x = (x & 0x000f_000f_000f_000f) * 10 + ((x >> 8) & 0x000f_000f_000f_000f);
    let x = (x & 0x0000_00ff_0000_00ff) * 100 + ((x >> 16) & 0x0000_00ff_0000_00ff);
    (x & 0x0000_0000_0000_ffff) * 10_000 + ((x >> 32) & 0x0000_0000_0000_ffff)
}

fn parse_signature(value: &[u8]) -> Result<[u8; 32], ParseError> {
    // Exactly 43 characters and one `=`: 32 bytes in canonical padded base64.
    // Decoded here rather than by `base64`'s general engine, which spends
    // longer sizing and dispatching than decoding 44 characters takes.
    let Some((chars, [b'='])) = value.split_at_checked(SIGNATURE_B64_LEN - 1) else {
        return Err(ParseError::InvalidSignature);
    };
    let sextet = |c: u8| u32::from(BASE64_VALUES[usize::from(c)]);
    let mut signature = [0u8; 32];
    // Each value is below 64, or 0xFF for a byte outside the alphabet.
    let mut seen = 0;
    for (quad, out) in chars.chunks_exact(4).zip(signature.chunks_exact_mut(3)) {
        let bits = quad.iter().fold(0, |bits, &c| {
            seen |= sextet(c);
            bits << 6 | sextet(c)
        });
        out.copy_from_slice(&bits.to_be_bytes()[1..]);
    }
    // The last three characters carry 16 bits and two that must be zero.
    let bits = chars[40..].iter().fold(0, |bits, &c| {
        seen |= sextet(c);
        bits << 6 | sextet(c)
    });
    if seen >= 64 || bits & 0b11 != 0 {
        return Err(ParseError::InvalidSignature);
    }
    signature[30..].copy_from_slice(&(bits >> 2).to_be_bytes()[2..]);
    Ok(signature)
}

/// The value of each character of standard base64; 0xFF for any other byte.
static BASE64_VALUES: [u8; 256] = {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut table = [0xFF; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

impl fmt::Display for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} Key={}, Time={}, Nonce={}, SignedHeaders={}, Signature={}",
            self.algorithm.scheme_word(),
            self.key_id,
            self.time,
            self.nonce,
            self.signed_headers.as_str(),
            STANDARD.encode(self.signature)
        )
    }
}

impl fmt::Debug for Authorization {
    // The signature is not a secret, but a full one in logs helps nobody and
    // can help an attacker replay; show a short prefix only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let signature = STANDARD.encode(self.signature);
        f.debug_struct("Authorization")
            .field("algorithm", &self.algorithm)
            .field("key_id", &self.key_id)
            .field("time", &self.time)
            .field("nonce", &self.nonce)
            .field("signed_headers", &self.signed_headers)
            .field("signature", &format_args!("{}…", &signature[..6]))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the fast path must agree on with the general parser.
    fn fields(auth: &Authorization) -> (String, u64, String, String, [u8; 32]) {
        (
            auth.key_id.to_string(),
            auth.time,
            auth.nonce.to_string(),
            auth.signed_headers.as_str().to_owned(),
            auth.signature,
        )
    }

    /// xorshift64: deterministic, so a failure reproduces.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn signatures_decode_exactly_as_the_base64_crate_decodes_them() {
        let strict = |value: &[u8]| {
            let mut buf = [0u8; 33];
            match STANDARD.decode_slice(value, &mut buf) {
                Ok(32) if value.len() == SIGNATURE_B64_LEN => Some(buf[..32].to_vec()),
                _ => None,
            }
        };
        let mut state = 0x5eed_u64;
        for round in 0..200 {
            let bytes: [u8; 32] = std::array::from_fn(|_| next(&mut state) as u8);
            let valid = STANDARD.encode(bytes).into_bytes();
            assert_eq!(parse_signature(&valid), Ok(bytes));
            // Every byte value at every position of one valid encoding, then
            // random mutations of the others.
            let positions: Vec<usize> = if round == 0 {
                (0..SIGNATURE_B64_LEN).collect()
            } else {
                vec![next(&mut state) as usize % SIGNATURE_B64_LEN]
            };
            for position in positions {
                for b in 0..=255u8 {
                    let mut value = valid.clone();
                    value[position] = b;
                    assert_eq!(
                        parse_signature(&value).ok().map(|s| s.to_vec()),
                        strict(&value),
                        "{}",
                        String::from_utf8_lossy(&value)
                    );
                }
            }
        }
        for value in [&b""[..], b"=", &[b'A'; 43], &[b'A'; 45], &[b'='; 44]] {
            assert_eq!(
                parse_signature(value).ok().map(|s| s.to_vec()),
                strict(value)
            );
        }
    }

    #[test]
    fn times_parse_as_the_standard_library_parses_them() {
        let mut state = 0x71e_u64;
        let mut values: Vec<String> = (0..=20)
            .flat_map(|digits| {
                let all_nines = "9".repeat(digits);
                let power = format!("1{}", "0".repeat(digits));
                [all_nines, power]
            })
            .collect();
        values.extend((0..2000).map(|_| (next(&mut state) >> (next(&mut state) % 64)).to_string()));
        values.extend(
            [
                "18446744073709551615",
                "18446744073709551616",
                "99999999999999999999",
            ]
            .map(String::from),
        );
        for value in values {
            let expected = value
                .parse::<u64>()
                .ok()
                .filter(|_| value.len() == 1 || !value.starts_with('0'));
            assert_eq!(parse_time(value.as_bytes()).ok(), expected, "{value}");
        }
        for bad in [
            "",
            "01",
            "1a",
            "12345678x",
            "123456789012345678a",
            "-1",
            "+1",
            "1 ",
        ] {
            assert_eq!(
                parse_time(bad.as_bytes()),
                Err(ParseError::InvalidTime),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_fast_path_accepts_nothing_the_general_parser_would_not() {
        // Per field: the usual value first, then edge cases, valid or not.
        let key_ids: [&str; 6] = [
            "7",
            "k1",
            "key.2024-01_x~y",
            &"a".repeat(64),
            &"a".repeat(65),
            "",
        ];
        let times: [&str; 5] = [
            "1700000000",
            "0",
            "18446744073709551615",
            "0123",
            "18446744073709551616",
        ];
        let nonces: [&str; 5] = [
            "AbCdEfGhIjKlMnOpQrStUv",
            "AbCdEfGhIjKlMnOp",
            &"n".repeat(64),
            "AbCdEfGhIjKlMnO",
            &"n".repeat(65),
        ];
        let thirty_two = (0..32).map(|i| format!("x-{i:02}")).collect::<Vec<_>>();
        let thirty_three = (0..33).map(|i| format!("x-{i:02}")).collect::<Vec<_>>();
        let names: [&str; 8] = [
            "accept;host;user-agent",
            "host",
            "content-type;host;x-a;x-b;x-c;x-d;x-e;x-f;x-g;x-h;x-i;x-j;x-k",
            &thirty_two.join(";"),
            &thirty_three.join(";"),
            "host;accept",
            "host;host",
            "Host",
        ];
        let good_signature = STANDARD.encode([7u8; 32]);
        // The same 32 bytes, but with the unused low bits of the last character set.
        let loose_signature = format!("{}B=", &good_signature[..42]);
        let signatures: [&str; 3] = [&good_signature, &loose_signature, &good_signature[..43]];
        let layouts = [
            "HMAC-SHA256 Key={k}, Time={t}, Nonce={n}, SignedHeaders={h}, Signature={s}",
            "hmac-sha256 key={k}, time={t}, nonce={n}, signedheaders={h}, signature={s}",
            "HMAC-SHA256 Time={t}, Key={k}, Nonce={n}, SignedHeaders={h}, Signature={s}",
            "HMAC-SHA256  Key={k},Time={t},\tNonce={n}, SignedHeaders={h} , Signature={s}",
            "HMAC-SHA256 Key={k}, Time={t}, Nonce={n}, SignedHeaders={h}, Signature={s}, Key={k}",
        ];
        // The usual value three times in four, an edge case otherwise.
        let pick = |state: &mut u64, len: usize| -> usize {
            if !next(state).is_multiple_of(4) {
                0
            } else {
                (next(state) % len as u64) as usize
            }
        };
        let bytes: &[u8] = b" ,;=\t-_.~09AZaz+/\x80\x7f";
        let mut state = 0x9e37_79b9_7f4a_7c15;
        let (mut fast_accepted, mut refused) = (0, 0);
        for round in 0..20_000 {
            let header = layouts[pick(&mut state, layouts.len())]
                .replace("{k}", key_ids[pick(&mut state, key_ids.len())])
                .replace("{t}", times[pick(&mut state, times.len())])
                .replace("{n}", nonces[pick(&mut state, nonces.len())])
                .replace("{h}", names[pick(&mut state, names.len())])
                .replace("{s}", signatures[pick(&mut state, signatures.len())]);
            let mut header = header.into_bytes();
            // Leave some intact; mutate the rest at one to three places.
            for _ in 0..(round % 4) {
                let at = (next(&mut state) % header.len() as u64) as usize;
                let byte = bytes[(next(&mut state) % bytes.len() as u64) as usize];
                match next(&mut state) % 3 {
                    0 => header[at] = byte,
                    1 => header.insert(at, byte),
                    _ => {
                        header.remove(at);
                    }
                }
            }
            let general = std::str::from_utf8(&header)
                .ok()
                .filter(|text| is_visible_ascii(text.as_bytes()))
                .map(|text| Authorization::parse_general(Algorithm::HmacSha256, text));
            if let Some(fast) = Authorization::parse_canonical_form(Algorithm::HmacSha256, &header)
            {
                fast_accepted += 1;
                let general = general.clone().and_then(Result::ok).unwrap_or_else(|| {
                    panic!("fast path accepted {:?}", String::from_utf8_lossy(&header))
                });
                assert_eq!(fields(&fast), fields(&general));
            }
            // And the public entry point agrees with the general parser on errors.
            let public = Authorization::parse_bytes(Algorithm::HmacSha256, &header)
                .map(|auth| fields(&auth));
            refused += usize::from(public.is_err());
            match general {
                Some(general) => assert_eq!(public, general.map(|auth| fields(&auth))),
                None => assert_eq!(public.unwrap_err(), ParseError::NotAscii),
            }
        }
        assert!(fast_accepted > 2_000, "{fast_accepted}");
        assert!(refused > 2_000, "{refused}");
    }
}
