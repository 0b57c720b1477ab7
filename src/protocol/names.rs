use std::{fmt, str::FromStr};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use http::HeaderName;

/// A key identifier: 1 to 64 characters from `A-Za-z0-9._~-`.
///
/// ```
/// use tower_hmac::KeyId;
///
/// let id: KeyId = "7".parse().unwrap();
/// assert_eq!(id.as_str(), "7");
/// assert!("bad key".parse::<KeyId>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(Box<str>);

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
        &self.0
    }

    pub(crate) fn is_valid(id: &[u8]) -> bool {
        (1..=Self::MAX_LEN).contains(&id.len())
            && id
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
    }
}

impl FromStr for KeyId {
    type Err = InvalidKeyId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if Self::is_valid(s.as_bytes()) {
            Ok(Self(s.into()))
        } else {
            Err(InvalidKeyId(()))
        }
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// A request nonce: 16 to 64 characters from the base64url alphabet `A-Za-z0-9_-`.
///
/// [`Nonce::random`] makes one from 16 random bytes, which is what the
/// [`Signer`](crate::Signer) does for every request.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Nonce(Box<str>);

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
        Self(URL_SAFE_NO_PAD.encode(bytes).into())
    }

    /// Parses a nonce.
    pub fn new(nonce: &str) -> Result<Self, InvalidNonce> {
        nonce.parse()
    }

    /// The nonce as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn is_valid(nonce: &[u8]) -> bool {
        (Self::MIN_LEN..=Self::MAX_LEN).contains(&nonce.len())
            && nonce
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
    }
}

impl FromStr for Nonce {
    type Err = InvalidNonce;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if Self::is_valid(s.as_bytes()) {
            Ok(Self(s.into()))
        } else {
            Err(InvalidNonce(()))
        }
    }
}

impl fmt::Display for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// The `SignedHeaders` list: lowercase header names, sorted, without duplicates.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    names: Vec<HeaderName>,
    joined: Box<str>,
}

impl SignedHeaders {
    /// Builds the list from any names: they are sorted and deduplicated.
    ///
    /// ```
    /// use http::header::{CONTENT_TYPE, HOST};
    /// use tower_hmac::protocol::SignedHeaders;
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
            .join(";")
            .into();
        Self { names, joined }
    }

    /// Parses the wire form, which must already be canonical: lowercase,
    /// sorted, no duplicates, no empty names.
    pub(crate) fn parse_canonical(value: &str) -> Option<Self> {
        let mut names = Vec::new();
        for name in value.split(';') {
            let valid = !name.is_empty()
                && name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
                });
            if !valid {
                return None;
            }
            if names
                .last()
                .is_some_and(|last: &HeaderName| last.as_str() >= name)
            {
                return None;
            }
            names.push(HeaderName::from_bytes(name.as_bytes()).ok()?);
        }
        Some(Self {
            names,
            joined: value.into(),
        })
    }

    /// The names, in signing order.
    pub fn iter(&self) -> impl Iterator<Item = &HeaderName> {
        self.names.iter()
    }

    /// Whether `name` is in the list.
    pub fn contains(&self, name: &HeaderName) -> bool {
        self.names
            .binary_search_by(|n| n.as_str().cmp(name.as_str()))
            .is_ok()
    }

    /// How many names the list holds.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The wire form: the names joined by `;`.
    pub fn as_str(&self) -> &str {
        &self.joined
    }
}

impl fmt::Debug for SignedHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.joined, f)
    }
}
