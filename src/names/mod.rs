//! The names every scheme shares: key ids, nonces and signed-header lists.

use std::{fmt, str::FromStr};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use http::HeaderName;

pub(crate) mod charset;

/// A key identifier: 1 to 64 characters from `A-Za-z0-9._~-`.
///
/// ```
/// use tower_hmac::KeyId;
///
/// let id: KeyId = "7".parse().unwrap();
/// assert_eq!(id.as_str(), "7");
/// assert!("bad key".parse::<KeyId>().is_err());
/// ```
// Held inline (no allocation per request); the length bound makes that cheap.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyId(Inline<{ KeyId::MAX_LEN }>);

/// The error returned when a string is not a valid [`KeyId`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidKeyId(());

impl fmt::Display for InvalidKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key id is 1 to 64 characters from A-Za-z0-9._~-")
    }
}

impl std::error::Error for InvalidKeyId {}

impl KeyId {
    /// The longest key id accepted, in bytes.
    pub const MAX_LEN: usize = 64;

    /// Parses a key id.
    pub fn new(id: &str) -> Result<Self, InvalidKeyId> {
        id.parse()
    }

    /// The key id as a string.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// A key id from bytes that [`charset::KEY_ID`] holds, if the length fits.
    pub(crate) fn from_key_id_chars(id: &[u8]) -> Option<Self> {
        debug_assert!(charset::all_in(id, charset::KEY_ID));
        if id.is_empty() {
            return None;
        }
        Inline::from_ascii(id).map(Self)
    }
}

impl FromStr for KeyId {
    type Err = InvalidKeyId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let id = s.as_bytes();
        charset::all_in(id, charset::KEY_ID)
            .then(|| Self::from_key_id_chars(id))
            .flatten()
            .ok_or(InvalidKeyId(()))
    }
}

impl std::hash::Hash for KeyId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for KeyId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KeyId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A request nonce: 16 to 64 characters from the base64url alphabet `A-Za-z0-9_-`.
///
/// [`Nonce::random`] makes one from 16 random bytes, which is what the
/// [`Signer`](crate::Signer) does for every request.
#[derive(Clone, PartialEq, Eq)]
pub struct Nonce(Inline<{ Nonce::MAX_LEN }>);

/// The error returned when a string is not a valid [`Nonce`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidNonce(());

impl fmt::Display for InvalidNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a nonce is 16 to 64 characters from A-Za-z0-9_-")
    }
}

impl std::error::Error for InvalidNonce {}

impl Nonce {
    /// The shortest nonce accepted, in characters.
    pub const MIN_LEN: usize = 16;
    /// The longest nonce accepted, in characters.
    pub const MAX_LEN: usize = 64;

    /// A fresh nonce made from 16 bytes of operating-system randomness.
    ///
    /// # Panics
    ///
    /// Panics if the operating system has no randomness to give, which is
    /// not a state a signer can safely carry on from.
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        let mut text = [0u8; 22];
        let written = URL_SAFE_NO_PAD
            .encode_slice(bytes, &mut text)
            .expect("16 bytes encode to 22 characters");
        Self(Inline::from_ascii(&text[..written]).expect("22 characters fit"))
    }

    /// Parses a nonce.
    pub fn new(nonce: &str) -> Result<Self, InvalidNonce> {
        nonce.parse()
    }

    /// The nonce as a string.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// A nonce from bytes that [`charset::NONCE`] holds, if the length fits.
    pub(crate) fn from_nonce_chars(nonce: &[u8]) -> Option<Self> {
        debug_assert!(charset::all_in(nonce, charset::NONCE));
        if nonce.len() < Self::MIN_LEN {
            return None;
        }
        Inline::from_ascii(nonce).map(Self)
    }
}

impl FromStr for Nonce {
    type Err = InvalidNonce;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let nonce = s.as_bytes();
        charset::all_in(nonce, charset::NONCE)
            .then(|| Self::from_nonce_chars(nonce))
            .flatten()
            .ok_or(InvalidNonce(()))
    }
}

impl std::hash::Hash for Nonce {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// The `SignedHeaders` list: lowercase header names, sorted, without duplicates.
///
/// Held as its wire form (`host;user-agent`), inline when short, so parsing
/// a header allocates nothing for a typical request.
#[derive(Clone)]
pub struct SignedHeaders(Joined);

impl PartialEq for SignedHeaders {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for SignedHeaders {}

#[derive(Clone)]
enum Joined {
    Inline(Inline<{ SignedHeaders::INLINE_LEN }>),
    Heap(Box<str>),
}

impl SignedHeaders {
    /// Long enough for `accept;content-type;host;user-agent`; longer lists go to the heap.
    const INLINE_LEN: usize = 46;

    /// Builds the list from any names: they are sorted and deduplicated.
    ///
    /// ```
    /// use http::header::{CONTENT_TYPE, HOST};
    /// use tower_hmac::SignedHeaders;
    ///
    /// let names = SignedHeaders::new([HOST, CONTENT_TYPE, HOST]);
    /// assert_eq!(names.as_str(), "content-type;host");
    /// ```
    pub fn new(names: impl IntoIterator<Item = HeaderName>) -> Self {
        let mut names: Vec<HeaderName> = names.into_iter().collect();
        names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        names.dedup();
        let joined = names
            .iter()
            .map(HeaderName::as_str)
            .collect::<Vec<_>>()
            .join(";");
        Self::from_joined(joined.as_bytes())
    }

    /// Parses the wire form, which must already be canonical: lowercase,
    /// sorted, no duplicates, no empty names, at most `max_names` of them.
    pub(crate) fn parse_canonical(value: &[u8], max_names: usize) -> Option<Self> {
        if !charset::all_in(value, charset::NAME | charset::SEMICOLON) {
            return None;
        }
        Self::from_name_chars(value, max_names)
    }

    /// [`parse_canonical`](Self::parse_canonical) for bytes already known
    /// to be names and semicolons only.
    pub(crate) fn from_name_chars(value: &[u8], max_names: usize) -> Option<Self> {
        debug_assert!(charset::all_in(value, charset::NAME | charset::SEMICOLON));
        let mut previous: Option<&[u8]> = None;
        let mut count = 0;
        for name in value.split(|&b| b == b';') {
            count += 1;
            if name.is_empty() || count > max_names || previous.is_some_and(|p| !before(p, name)) {
                return None;
            }
            previous = Some(name);
        }
        Some(Self::from_joined(value))
    }

    fn from_joined(joined: &[u8]) -> Self {
        Self(match Inline::from_ascii(joined) {
            Some(inline) => Joined::Inline(inline),
            None => Joined::Heap(String::from_utf8_lossy(joined).into()),
        })
    }

    /// The names, in signing order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        // Names are ASCII, so the conversion never fails.
        self.names()
            .map(|name| std::str::from_utf8(name).unwrap_or_default())
    }

    /// Whether `name` is in the list.
    pub fn contains(&self, name: &HeaderName) -> bool {
        self.names().any(|n| n == name.as_str().as_bytes())
    }

    /// How many names the list holds.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.as_str().is_empty()
    }

    /// The wire form: the names joined by `;`.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Joined::Inline(inline) => inline.as_str(),
            Joined::Heap(heap) => heap,
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Joined::Inline(inline) => inline.as_bytes(),
            Joined::Heap(heap) => heap.as_bytes(),
        }
    }

    /// The names as bytes, in signing order.
    pub(crate) fn names(&self) -> impl Iterator<Item = &[u8]> {
        self.as_bytes()
            .split(|&b| b == b';')
            .filter(|name| !name.is_empty())
    }
}

impl fmt::Debug for SignedHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Whether `a` sorts strictly before `b`. Names usually differ in their
/// first byte, where this loop ends; `<` on slices calls `memcmp`.
fn before(a: &[u8], b: &[u8]) -> bool {
    match a.iter().zip(b).find(|(x, y)| x != y) {
        Some((x, y)) => x < y,
        None => a.len() < b.len(),
    }
}

/// An ASCII string of at most `N` bytes, stored in place.
///
/// Bytes past `len` are always zero, so the derived equality is the
/// equality of the strings.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Inline<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> Inline<N> {
    /// `s`, if it fits; the caller has checked that it is ASCII.
    fn from_ascii(s: &[u8]) -> Option<Self> {
        let len = u8::try_from(s.len())
            .ok()
            .filter(|&len| usize::from(len) <= N)?;
        let mut bytes = [0; N];
        bytes[..s.len()].copy_from_slice(s);
        Some(Self { len, bytes })
    }

    fn as_str(&self) -> &str {
        // Only ASCII ever gets in, so this cannot fail.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn before_orders_as_slices_do() {
        let names: [&[u8]; 9] = [
            b"", b"a", b"ab", b"abc", b"abd", b"b", b"host", b"hosts", b"x-a",
        ];
        for a in names {
            for b in names {
                assert_eq!(super::before(a, b), a < b, "{a:?} {b:?}");
            }
        }
    }
}
