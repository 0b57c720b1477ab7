//! A second implementation of `docs/PROTOCOL.md`, written from the document
//! and not from the crate: the `Authorization` grammar (§3), the
//! string-to-sign (§4), `Content-Digest` (§4.4), signed chunks (§4.6), the
//! key file and key list formats (README "Deploying"), and the handshake's
//! framing; each under both algorithms of §9.2 ([`Alg`]). HMAC-SHA256 and
//! SHA-256 come from `ring`, the BLAKE3 primitives (hash, keyed hash, key
//! derivation) from the `blake3` crate, base64 from the small codec below;
//! nothing here calls into `tower_hmac`.
//!
//! The fuzz targets hold the crate to agree with this, so a bug has to be
//! made twice, the same way, to go unnoticed.

use ring::{digest, hmac};

// ---------------------------------------------------------------- crypto

/// `HMAC-SHA256(secret, message)`.
pub fn hmac_sha256(secret: &[u8], message: &[u8]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hmac::sign(&key, message)
        .as_ref()
        .try_into()
        .expect("32 bytes")
}

/// `SHA-256(data)`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    digest::digest(&digest::SHA256, data)
        .as_ref()
        .try_into()
        .expect("32 bytes")
}

/// The two algorithms of the native protocol: every row of §9.2's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    HmacSha256,
    Blake3Keyed,
}

impl Alg {
    pub const ALL: [Self; 2] = [Self::HmacSha256, Self::Blake3Keyed];

    /// The scheme word (one of [`SCHEMES`]).
    pub fn word(self) -> &'static str {
        match self {
            Self::HmacSha256 => SCHEMES[0],
            Self::Blake3Keyed => SCHEMES[1],
        }
    }

    /// The algorithm of a scheme word as [`Auth::scheme`] holds it.
    pub fn of_word(word: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|alg| alg.word() == word)
            .expect("one of SCHEMES")
    }

    /// The MAC of `message` under the shared `secret`: HMAC-SHA256, or
    /// keyed BLAKE3 under the key §9.1 derives from the secret.
    pub fn mac(self, secret: &[u8], message: &[u8]) -> [u8; 32] {
        match self {
            Self::HmacSha256 => hmac_sha256(secret, message),
            Self::Blake3Keyed => {
                let key = blake3::derive_key(
                    "tower-hmac 2026-12-01 BLAKE3-KEYED request signing key",
                    secret,
                );
                *blake3::keyed_hash(&key, message).as_bytes()
            }
        }
    }

    /// The body digest: SHA-256, or unkeyed BLAKE3.
    pub fn digest(self, data: &[u8]) -> [u8; 32] {
        match self {
            Self::HmacSha256 => sha256(data),
            Self::Blake3Keyed => *blake3::hash(data).as_bytes(),
        }
    }

    /// The string-to-sign's last line for a body in signed chunks (§4.6).
    pub fn chunked_last_line(self) -> &'static [u8] {
        match self {
            Self::HmacSha256 => b"STREAMING-HMAC-SHA256-CHUNKS",
            Self::Blake3Keyed => b"STREAMING-BLAKE3-KEYED-CHUNKS",
        }
    }

    /// The first line of a chunk's signed text (§4.6), its newline included.
    fn chunk_label(self) -> &'static [u8] {
        match self {
            Self::HmacSha256 => b"HMAC-SHA256-CHUNK\n",
            Self::Blake3Keyed => b"BLAKE3-KEYED-CHUNK\n",
        }
    }

    /// The `Content-Digest` member that declares the body's digest (§4.4, §9.3).
    pub fn digest_member(self) -> &'static [u8] {
        match self {
            Self::HmacSha256 => b"sha-256",
            Self::Blake3Keyed => b"blake3",
        }
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

// ---------------------------------------------------------------- base64 (RFC 4648 §4, padded)

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_value(c: u8) -> Option<u32> {
    B64.iter().position(|&x| x == c).map(|v| v as u32)
}

/// Standard base64 with padding.
pub fn b64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let n = group.len();
        let bits = group
            .iter()
            .chain(std::iter::repeat(&0))
            .take(3)
            .fold(0u32, |acc, &b| acc << 8 | u32::from(b));
        for i in 0..4 {
            if i <= n {
                out.push(B64[((bits >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Strict standard base64 with padding: length a multiple of 4, padding only
/// at the end, and the unused low bits of the last character zero (the
/// canonical encoding, as any standard encoder produces).
pub fn b64_decode(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let groups = text.len() / 4;
    for (index, quad) in text.chunks(4).enumerate() {
        let last = index + 1 == groups;
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut bits = 0u32;
        for &c in &quad[..4 - pad] {
            bits = bits << 6 | b64_value(c)?;
        }
        bits <<= 6 * pad as u32;
        let bytes = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
        let keep = 3 - pad;
        // Canonical: the bits past the kept bytes are zero.
        if bytes[keep..].iter().any(|&b| b != 0) {
            return None;
        }
        out.extend_from_slice(&bytes[..keep]);
    }
    Some(out)
}

// ---------------------------------------------------------------- names (§2, §3.1)

pub fn is_key_id(s: &[u8]) -> bool {
    (1..=64).contains(&s.len())
        && s.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'~' | b'-'))
}

pub fn is_nonce(s: &[u8]) -> bool {
    (16..=64).contains(&s.len())
        && s.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
}

fn is_field_name(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter().all(|&c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || matches!(
                    c,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// `SignedHeaders`: 1 to 32 lowercase tokens joined by `;`, strictly increasing.
pub fn parse_signed_headers(s: &[u8]) -> Option<Vec<String>> {
    let names: Vec<&[u8]> = s.split(|&c| c == b';').collect();
    if names.len() > 32 || !names.iter().all(|n| is_field_name(n)) {
        return None;
    }
    if names.windows(2).any(|w| w[0] >= w[1]) {
        return None;
    }
    Some(
        names
            .iter()
            .map(|n| String::from_utf8(n.to_vec()).expect("ASCII"))
            .collect(),
    )
}

/// `unix-time = "0" / ( %x31-39 *DIGIT )`, at most `u64::MAX`.
pub fn parse_time(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) || (s.len() > 1 && s[0] == b'0') {
        return None;
    }
    let mut value: u64 = 0;
    for &d in s {
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(value)
}

/// A `Signature`: 44 characters of canonical padded standard base64 of 32 bytes.
pub fn parse_signature(s: &[u8]) -> Option<[u8; 32]> {
    if s.len() != 44 || s[43] != b'=' || s[..43].contains(&b'=') {
        return None;
    }
    b64_decode(s)?.try_into().ok()
}

// ---------------------------------------------------------------- Authorization (§3)

/// The scheme words of the native grammar: `HMAC-SHA256`, and
/// `BLAKE3-KEYED` (§9), whose headers differ in that word alone.
pub const SCHEMES: [&str; 2] = ["HMAC-SHA256", "BLAKE3-KEYED"];

/// The five parameters of a well-formed header, and its scheme word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// As §3.1 writes it (one of [`SCHEMES`]), whatever its case as sent.
    pub scheme: &'static str,
    pub key_id: String,
    pub time: u64,
    pub nonce: String,
    pub signed_headers: Vec<String>,
    pub signature: [u8; 32],
}

impl Auth {
    /// The canonical form (§3.1) that clients MUST send.
    pub fn canonical(&self) -> String {
        format!(
            "{} Key={}, Time={}, Nonce={}, SignedHeaders={}, Signature={}",
            self.scheme,
            self.key_id,
            self.time,
            self.nonce,
            self.signed_headers.join(";"),
            b64_encode(&self.signature)
        )
    }
}

/// §3.1: the grammar plus its additional rules, and the documented leniency
/// (the scheme ends at the first space; spaces and tabs around items are
/// allowed).
/// §3.1: a value of at most 2048 bytes whose canonical form is at most
/// 2048 bytes too (a compact header must print back to one that parses).
pub fn parse_authorization(value: &[u8]) -> Option<Auth> {
    parse_authorization_as(SCHEMES[0], value)
}

/// [`parse_authorization`] under whichever of [`SCHEMES`] the value names.
pub fn parse_authorization_any(value: &[u8]) -> Option<Auth> {
    SCHEMES
        .iter()
        .find_map(|scheme| parse_authorization_as(scheme, value))
}

/// [`parse_authorization`] for the scheme word `scheme`.
pub fn parse_authorization_as(scheme: &'static str, value: &[u8]) -> Option<Auth> {
    let auth = parse_authorization_fields(scheme, value)?;
    (auth.canonical().len() <= 2048).then_some(auth)
}

fn parse_authorization_fields(scheme_word: &'static str, value: &[u8]) -> Option<Auth> {
    if value.len() > 2048 {
        return None;
    }
    if !value
        .iter()
        .all(|&c| c == b' ' || c == b'\t' || (0x21..=0x7e).contains(&c))
    {
        return None;
    }
    let space = value.iter().position(|&c| c == b' ')?;
    let (scheme, params) = (&value[..space], &value[space + 1..]);
    if !scheme.eq_ignore_ascii_case(scheme_word.as_bytes()) {
        return None;
    }
    let (mut key_id, mut time, mut nonce, mut names, mut signature) =
        (None, None, None, None, None);
    for item in params.split(|&c| c == b',') {
        let item = trim_sp_htab(item);
        let equals = item.iter().position(|&c| c == b'=')?;
        let (name, value) = (&item[..equals], &item[equals + 1..]);
        fn once<T>(slot: &mut Option<T>, value: Option<T>) -> Option<()> {
            if slot.is_some() {
                return None;
            }
            *slot = Some(value?);
            Some(())
        }
        if name.eq_ignore_ascii_case(b"Key") {
            once(
                &mut key_id,
                is_key_id(value).then(|| String::from_utf8(value.to_vec()).expect("ASCII")),
            )?;
        } else if name.eq_ignore_ascii_case(b"Time") {
            once(&mut time, parse_time(value))?;
        } else if name.eq_ignore_ascii_case(b"Nonce") {
            once(
                &mut nonce,
                is_nonce(value).then(|| String::from_utf8(value.to_vec()).expect("ASCII")),
            )?;
        } else if name.eq_ignore_ascii_case(b"SignedHeaders") {
            once(&mut names, parse_signed_headers(value))?;
        } else if name.eq_ignore_ascii_case(b"Signature") {
            once(&mut signature, parse_signature(value))?;
        } else {
            return None;
        }
    }
    Some(Auth {
        scheme: scheme_word,
        key_id: key_id?,
        time: time?,
        nonce: nonce?,
        signed_headers: names?,
        signature: signature?,
    })
}

pub fn trim_sp_htab(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

// ---------------------------------------------------------------- string-to-sign (§4)

/// What of a request the string-to-sign is made of, as it was sent.
pub struct Head<'a> {
    pub method: &'a [u8],
    /// The request target: origin form (`/p?q`), or absolute form.
    pub target: &'a [u8],
    /// Field lines in order, names as sent.
    pub headers: &'a [(Vec<u8>, Vec<u8>)],
}

/// Splits a target into (authority, path-and-query): origin form (`/p?q`)
/// and `*` have no authority; absolute form (`http://host/p?q`) has one; any
/// other target is authority form (`host:port`), whose path is empty.
fn split_absolute(target: &[u8]) -> (Option<&[u8]>, &[u8]) {
    if target.is_empty() || target.starts_with(b"/") || target == b"*" {
        return (None, target);
    }
    let Some(at) = find(target, b"://") else {
        return (Some(target), b"");
    };
    let rest = &target[at + 3..];
    let end = rest
        .iter()
        .position(|&c| c == b'/' || c == b'?')
        .unwrap_or(rest.len());
    (Some(&rest[..end]), &rest[end..])
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The authority's host (and port), without any `userinfo@`: what §6.1
/// compares, and what a `Host` header may carry.
pub fn authority_host(authority: &[u8]) -> &[u8] {
    match authority.iter().rposition(|&c| c == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    }
}

/// Whether the target is in authority form (`host:port`), which §6.1 step 3
/// allows `CONNECT` alone.
pub fn is_authority_form(target: &[u8]) -> bool {
    let (authority, path_and_query) = split_absolute(target);
    authority.is_some() && path_and_query.is_empty() && find(target, b"://").is_none()
}

/// The URI authority, if the target is in absolute or authority form.
pub fn authority(target: &[u8]) -> Option<&[u8]> {
    split_absolute(target).0
}

/// §4.2: all field lines of `name`, each trimmed of spaces and tabs, joined by `,`.
pub fn header_value(head: &Head<'_>, name: &str) -> Option<Vec<u8>> {
    let mut lines = head
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| trim_sp_htab(v))
        .peekable();
    lines.peek()?;
    Some(lines.collect::<Vec<_>>().join(&b","[..]))
}

/// The string-to-sign (§4), with `last_line` as its last line: the body's
/// digest in hex, or [`Alg::chunked_last_line`]. Its first line is the
/// header's scheme word (§9.2).
pub fn string_to_sign(auth: &Auth, head: &Head<'_>, last_line: &[u8]) -> Vec<u8> {
    let (authority, path_and_query) = split_absolute(head.target);
    let (path, query) = match path_and_query.iter().position(|&c| c == b'?') {
        Some(q) => (&path_and_query[..q], &path_and_query[q + 1..]),
        None => (path_and_query, &b""[..]),
    };
    let path = if path.is_empty() { &b"/"[..] } else { path };
    let mut lines: Vec<Vec<u8>> = vec![
        auth.scheme.as_bytes().to_vec(),
        auth.key_id.as_bytes().to_vec(),
        auth.time.to_string().into_bytes(),
        auth.nonce.as_bytes().to_vec(),
        head.method.to_vec(),
        path.to_vec(),
        query.to_vec(),
        auth.signed_headers.join(";").into_bytes(),
    ];
    for name in &auth.signed_headers {
        let value = match header_value(head, name) {
            Some(value) => value,
            None if name == "host" => authority.map(authority_host).unwrap_or_default().to_vec(),
            None => Vec::new(),
        };
        let mut line = name.as_bytes().to_vec();
        line.push(b':');
        line.extend_from_slice(&value);
        lines.push(line);
    }
    lines.push(last_line.to_vec());
    lines.join(&b"\n"[..])
}

// ---------------------------------------------------------------- Content-Digest (§4.4)

/// What a request's `Content-Digest` lines declare, read as RFC 9530 reads
/// them (a dictionary, possibly split over several field lines, of
/// `name=:base64:` members, each maybe with `;parameters`), with §4.4's
/// rules: other members are ignored, the algorithm's member (`sha-256`, or
/// `blake3` under §9.3) must be the base64 of 32 bytes and appear once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Declared {
    None,
    /// The digest the algorithm's member declares.
    Digest([u8; 32]),
    /// Not a dictionary of byte sequences.
    Syntax,
    /// The member twice.
    Repeated,
    /// A member that is not 32 bytes of base64.
    WrongLength,
}

/// What the lines declare for `HMAC-SHA256` (the `sha-256` member).
pub fn declared_digest(lines: &[&[u8]]) -> Declared {
    declared_digest_as(Alg::HmacSha256, lines)
}

/// What the lines declare for `alg`: only its member counts.
pub fn declared_digest_as(alg: Alg, lines: &[&[u8]]) -> Declared {
    let mut found = None;
    for line in lines {
        if !line
            .iter()
            .all(|&c| c == b'\t' || (0x20..=0x7e).contains(&c))
        {
            return Declared::Syntax;
        }
        for member in line.split(|&c| c == b',') {
            let member = trim_sp_htab(member);
            let Some(equals) = member.iter().position(|&c| c == b'=') else {
                return Declared::Syntax;
            };
            let (name, value) = (&member[..equals], &member[equals + 1..]);
            let value = value.split(|&c| c == b';').next().unwrap_or_default();
            if value.len() < 2 || value[0] != b':' || value[value.len() - 1] != b':' {
                return Declared::Syntax;
            }
            if name != alg.digest_member() {
                continue;
            }
            if found.is_some() {
                return Declared::Repeated;
            }
            match b64_decode(&value[1..value.len() - 1]).map(<[u8; 32]>::try_from) {
                Some(Ok(digest)) => found = Some(digest),
                _ => return Declared::WrongLength,
            }
        }
    }
    found.map_or(Declared::None, Declared::Digest)
}

// ---------------------------------------------------------------- signed chunks (§4.6)

/// One chunk's signature, chained from the previous one (the seed first).
pub fn chunk_signature(alg: Alg, secret: &[u8], previous: &[u8; 32], data: &[u8]) -> [u8; 32] {
    let mut message = alg.chunk_label().to_vec();
    message.extend_from_slice(b64_encode(previous).as_bytes());
    message.push(b'\n');
    message.extend_from_slice(hex(&alg.digest(data)).as_bytes());
    alg.mac(secret, &message)
}

/// The framed body of `chunks`, the last (empty) chunk included.
pub fn encode_chunks(alg: Alg, secret: &[u8], seed: &[u8; 32], chunks: &[&[u8]]) -> Vec<u8> {
    let mut previous = *seed;
    let mut out = Vec::new();
    for chunk in chunks.iter().copied().chain([&b""[..]]) {
        previous = chunk_signature(alg, secret, &previous, chunk);
        out.extend_from_slice(format!("{:x};sig=", chunk.len()).as_bytes());
        out.extend_from_slice(b64_encode(&previous).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// How a framed body decodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The data of every chunk whose signature matched, in order.
    pub verified: Vec<u8>,
    /// The data of the chunk being read when decoding stopped (unchecked).
    pub pending: Vec<u8>,
    pub verdict: ChunkVerdict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkVerdict {
    /// Every chunk and the end are signed; nothing follows.
    Complete,
    /// A chunk's signature does not match.
    BadSignature,
    /// Broken framing.
    Malformed,
    /// The body ended before its last chunk.
    Incomplete,
}

/// The longest header line: 16 hex digits, `;sig=`, 44 characters and CRLF.
const MAX_LINE: usize = 16 + 5 + 44 + 2;

/// Decodes a whole framed body, in order, stopping at the first fault as a
/// streaming reader would (a fault is found when the byte that shows it
/// arrives: a header line when its CRLF arrives or when it grows past the
/// longest possible one; a chunk's signature when its last data byte has
/// arrived).
pub fn decode_chunks(alg: Alg, secret: &[u8], seed: &[u8; 32], wire: &[u8]) -> Decoded {
    let mut out = Decoded {
        verified: Vec::new(),
        pending: Vec::new(),
        verdict: ChunkVerdict::Incomplete,
    };
    let mut previous = *seed;
    let mut at = 0;
    loop {
        // Header line.
        let line_end = wire[at..].windows(2).position(|w| w == b"\r\n");
        let limit = MAX_LINE - 2;
        let Some(len) = line_end.filter(|&len| len <= limit) else {
            // No CRLF within the longest line: broken once a byte past it
            // has arrived, otherwise the body ended inside a header line.
            out.verdict = if wire.len() - at > MAX_LINE {
                ChunkVerdict::Malformed
            } else {
                ChunkVerdict::Incomplete
            };
            return out;
        };
        let line = &wire[at..at + len];
        at += len + 2;
        let Some((size, signature)) = parse_chunk_header(line) else {
            out.verdict = ChunkVerdict::Malformed;
            return out;
        };
        let available = (wire.len() - at) as u64;
        if available < size {
            out.pending = wire[at..].to_vec();
            out.verdict = ChunkVerdict::Incomplete;
            return out;
        }
        let data = &wire[at..at + size as usize];
        at += size as usize;
        let expected = chunk_signature(alg, secret, &previous, data);
        if expected != signature {
            out.pending = data.to_vec();
            out.verdict = ChunkVerdict::BadSignature;
            return out;
        }
        previous = expected;
        out.verified.extend_from_slice(data);
        // CRLF after the data.
        for &want in b"\r\n" {
            match wire.get(at) {
                None => {
                    out.verdict = ChunkVerdict::Incomplete;
                    return out;
                }
                Some(&c) if c != want => {
                    out.verdict = ChunkVerdict::Malformed;
                    return out;
                }
                Some(_) => at += 1,
            }
        }
        if size == 0 {
            out.verdict = if at == wire.len() {
                ChunkVerdict::Complete
            } else {
                ChunkVerdict::Malformed
            };
            return out;
        }
    }
}

/// `<size>;sig=<signature>`: lowercase hex without leading zeros (`0` alone
/// for the last chunk), at most 16 digits; 44 characters of base64.
fn parse_chunk_header(line: &[u8]) -> Option<(u64, [u8; 32])> {
    let at = find(line, b";sig=")?;
    let (size, signature) = (&line[..at], &line[at + 5..]);
    if size.is_empty()
        || size.len() > 16
        || !size
            .iter()
            .all(|&c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        || (size.len() > 1 && size[0] == b'0')
    {
        return None;
    }
    let size = u64::from_str_radix(std::str::from_utf8(size).ok()?, 16).ok()?;
    Some((size, parse_signature(signature)?))
}

// ---------------------------------------------------------------- handshake framing

/// One message as `multiprocessing.connection` frames it: a 4-byte
/// big-endian signed length (`-1`: an 8-byte unsigned one follows), then
/// the payload.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = if payload.len() > 0x7fff_ffff {
        let mut header = (-1i32).to_be_bytes().to_vec();
        header.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        header
    } else {
        (payload.len() as i32).to_be_bytes().to_vec()
    };
    out.extend_from_slice(payload);
    out
}

/// What reading messages of at most `max` bytes from `wire` gives, then EOF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameEnd {
    /// EOF between two messages.
    Closed,
    /// EOF inside a header or a payload.
    Truncated,
    /// A negative length other than -1.
    InvalidLength(i32),
    /// A length over `max`.
    TooLarge(u64),
}

pub fn read_frames(wire: &[u8], max: usize) -> (Vec<Vec<u8>>, FrameEnd) {
    let mut messages = Vec::new();
    let mut at = 0;
    loop {
        if at == wire.len() {
            return (messages, FrameEnd::Closed);
        }
        let Some(short) = wire.get(at..at + 4) else {
            return (messages, FrameEnd::Truncated);
        };
        let short = i32::from_be_bytes(short.try_into().expect("4 bytes"));
        at += 4;
        let len = match short {
            -1 => {
                let Some(long) = wire.get(at..at + 8) else {
                    return (messages, FrameEnd::Truncated);
                };
                at += 8;
                u64::from_be_bytes(long.try_into().expect("8 bytes"))
            }
            n if n < 0 => return (messages, FrameEnd::InvalidLength(n)),
            n => n as u64,
        };
        if len > max as u64 {
            return (messages, FrameEnd::TooLarge(len));
        }
        let len = len as usize;
        let Some(payload) = wire.get(at..at + len) else {
            return (messages, FrameEnd::Truncated);
        };
        messages.push(payload.to_vec());
        at += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worked_example_of_section_5() {
        let auth = parse_authorization(
            b"HMAC-SHA256 Key=client-1, Time=1700000060, Nonce=EBESExQVFhcYGRobHB0eHw, \
              SignedHeaders=content-type;host, Signature=aiAZdynPQDU5JeNgNxlpviv7+asj2ewosxUUwUXqKmY=",
        )
        .unwrap();
        let headers = vec![
            (b"Host".to_vec(), b"api.example.com".to_vec()),
            (b"Content-Type".to_vec(), b"application/json".to_vec()),
            (b"User-Agent".to_vec(), b"example-client/1.0".to_vec()),
        ];
        let head = Head {
            method: b"POST",
            target: b"/v1/orders",
            headers: &headers,
        };
        let body = br#"{"item":"widget","qty":3}"#;
        let text = string_to_sign(&auth, &head, hex(&sha256(body)).as_bytes());
        let secret: Vec<u8> = (0..32).collect();
        assert_eq!(hmac_sha256(&secret, &text), auth.signature);
        assert_eq!(
            b64_encode(&sha256(body)),
            "aamXAuwsR0BS8/0VqrfkY+A8fY+W76PyPuXeW2AtTGU="
        );
    }

    #[test]
    fn base64_round_trips_and_is_strict() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(b64_decode(b64_encode(&bytes).as_bytes()).unwrap(), bytes);
        }
        assert!(b64_decode(b"QQ==").is_some());
        assert!(b64_decode(b"QR==").is_none());
        assert!(b64_decode(b"QQ=").is_none());
        assert!(b64_decode(b"Q===").is_none());
    }

    #[test]
    fn chunks_decode() {
        let secret = [7u8; 32];
        let seed = [1u8; 32];
        for alg in Alg::ALL {
            let wire = encode_chunks(alg, &secret, &seed, &[b"one", b"two"]);
            let decoded = decode_chunks(alg, &secret, &seed, &wire);
            assert_eq!(decoded.verdict, ChunkVerdict::Complete);
            assert_eq!(decoded.verified, b"onetwo");
            let decoded = decode_chunks(alg, &secret, &seed, &wire[..wire.len() - 1]);
            assert_eq!(decoded.verdict, ChunkVerdict::Incomplete);
            // A chain of one algorithm is not one of the other.
            let other = Alg::ALL.into_iter().find(|&a| a != alg).unwrap();
            let decoded = decode_chunks(other, &secret, &seed, &wire);
            assert_eq!(decoded.verdict, ChunkVerdict::BadSignature);
        }
    }
}
