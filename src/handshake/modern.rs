//! The messages of the handshake and its modern form (CPython 3.12 and
//! later): a `{sha256}` challenge answered with a `{sha256}` HMAC-SHA256.

use super::{AuthKey, HandshakeError};
use crate::crypto::{Active, Backend as _};

/// The start of a challenge message.
pub(crate) const CHALLENGE: &[u8] = b"#CHALLENGE#";
/// The verdict on a right answer.
pub(crate) const WELCOME: &[u8] = b"#WELCOME#";
/// The verdict on a wrong one.
pub(crate) const FAILURE: &[u8] = b"#FAILURE#";
/// The digest prefix of a modern challenge and reply.
pub(crate) const SHA256_PREFIX: &[u8] = b"{sha256}";
/// Random bytes in a challenge, as CPython 3.12's `MESSAGE_LENGTH`.
pub(crate) const NONCE_LEN: usize = 40;
/// The length of a legacy challenge (after `#CHALLENGE#`), and of a legacy
/// reply: CPython 3.12's `_LEGACY_LENGTHS`. No modern message has either.
pub(crate) const LEGACY_CHALLENGE_LEN: usize = 20;
pub(crate) const LEGACY_REPLY_LEN: usize = 16;

/// What a challenge (after `#CHALLENGE#`) or a reply asks for, read as
/// CPython 3.12's `_get_digest_name_and_payload` reads it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Kind<'a> {
    /// The legacy length (20 or 16 bytes), no prefix: HMAC-MD5.
    Legacy,
    /// `{sha256}` and what follows it.
    Sha256(&'a [u8]),
}

pub(crate) fn classify(message: &[u8]) -> Result<Kind<'_>, HandshakeError> {
    if message.len() == LEGACY_CHALLENGE_LEN || message.len() == LEGACY_REPLY_LEN {
        return Ok(Kind::Legacy);
    }
    message
        .strip_prefix(SHA256_PREFIX)
        .map(Kind::Sha256)
        .ok_or(HandshakeError::UnsupportedDigest)
}

/// A fresh challenge, without `#CHALLENGE#`: `{sha256}` and 40 random bytes.
pub(crate) fn new_challenge() -> Result<Vec<u8>, HandshakeError> {
    let mut challenge = vec![0; SHA256_PREFIX.len() + NONCE_LEN];
    challenge[..SHA256_PREFIX.len()].copy_from_slice(SHA256_PREFIX);
    getrandom::fill(&mut challenge[SHA256_PREFIX.len()..])
        .map_err(|_| HandshakeError::RandomSource)?;
    Ok(challenge)
}

/// `HMAC-SHA256(key, message)`.
pub(crate) fn hmac_sha256(key: &AuthKey, message: &[u8]) -> [u8; 32] {
    Active::mac(&Active::key(key.bytes()), &[message])
}

/// The modern reply to `challenge` (everything after `#CHALLENGE#`, its
/// `{sha256}` included): `{sha256}` and the HMAC-SHA256 of the challenge.
pub(crate) fn reply(key: &AuthKey, challenge: &[u8]) -> Vec<u8> {
    [SHA256_PREFIX, &hmac_sha256(key, challenge)].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_as_cpython_does() {
        assert_eq!(classify(&[0; 20]).unwrap(), Kind::Legacy);
        assert_eq!(classify(&[0; 16]).unwrap(), Kind::Legacy);
        assert_eq!(classify(b"{sha256}abc").unwrap(), Kind::Sha256(b"abc"));
        // Exactly 20 bytes is legacy, whatever it says.
        assert_eq!(classify(b"{sha256}abcdefghijkl").unwrap(), Kind::Legacy);
        for other in [
            &b"{sha384}0123456789abcdef"[..],
            b"{md5}0123456789abcdefghij",
            b"no prefix at all, 30 bytes",
        ] {
            assert!(matches!(
                classify(other),
                Err(HandshakeError::UnsupportedDigest)
            ));
        }
    }

    #[test]
    fn challenges_are_fresh_and_prefixed() {
        let (a, b) = (new_challenge().unwrap(), new_challenge().unwrap());
        assert_eq!(a.len(), 48);
        assert!(a.starts_with(b"{sha256}"));
        assert_ne!(a, b);
    }

    #[test]
    fn reply_matches_python() {
        // hmac.new(b"k" * 32, b"{sha256}" + bytes(range(40)), "sha256").hexdigest()
        let key = AuthKey::new(vec![b'k'; 32]).unwrap();
        let challenge: Vec<u8> = [SHA256_PREFIX, &(0..40).collect::<Vec<u8>>()].concat();
        let reply = reply(&key, &challenge);
        assert_eq!(&reply[..8], b"{sha256}");
        assert_eq!(hex(&reply[8..]), PYTHON_SHA256);
    }

    pub(crate) fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    const PYTHON_SHA256: &str = "1bd26111965b1ba9eb8390dbbf5f302b3b0baec769b57a198f8f08e6b3d4d8f5";
}
