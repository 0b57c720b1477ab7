//! The legacy form (CPython 3.11 and earlier): a 20-byte challenge without a
//! prefix, answered with a raw 16-byte HMAC-MD5.
//!
//! HMAC-MD5 is still unforgeable without the key as far as is publicly
//! known, but it is the weaker construction and MD5 is broken as a hash, so
//! this form is compiled only with the `handshake-legacy` feature and used
//! only after [`Handshake::allow_legacy`](super::Handshake::allow_legacy).

use hmac::{Hmac, KeyInit as _, Mac as _};
use md5::Md5;

use super::AuthKey;

/// `HMAC-MD5(key, message)`: the whole legacy reply.
pub(crate) fn hmac_md5(key: &AuthKey, message: &[u8]) -> [u8; 16] {
    let mut mac = Hmac::<Md5>::new_from_slice(key.bytes()).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python() {
        // hmac.new(b"k" * 32, bytes(range(20)), "md5").hexdigest()
        let key = AuthKey::new(vec![b'k'; 32]).unwrap();
        let mac = hmac_md5(&key, &(0..20).collect::<Vec<u8>>());
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "7393d4ff47bf7d9218167543637b610f");
    }
}
