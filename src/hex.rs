//! Hex decoding, for the schemes that carry hex on the wire (SigV4's
//! signatures, schnellburger's percent-escapes). Encoding lives with
//! [`BodyDigest`](crate::BodyDigest), whose digests are the hex we write.

/// Which letters a hex field may use.
#[derive(Clone, Copy)]
pub(crate) enum Letters {
    /// `a`–`f` only, for fields specified as lowercase (aws-chunked
    /// signatures).
    Lower,
    /// `a`–`f` or `A`–`F`.
    EitherCase,
}

/// The value of one hex digit.
pub(crate) fn digit(byte: u8, letters: Letters) -> Option<u8> {
    match (byte, letters) {
        (b'0'..=b'9', _) => Some(byte - b'0'),
        (b'a'..=b'f', _) => Some(byte - b'a' + 10),
        (b'A'..=b'F', Letters::EitherCase) => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Decodes `hex` into `out`, which it must fill exactly: `false` for a
/// wrong length or any byte that is not a hex digit of `letters`.
pub(crate) fn decode(hex: &[u8], out: &mut [u8], letters: Letters) -> bool {
    if hex.len() != out.len() * 2 {
        return false;
    }
    for (pair, byte) in hex.chunks_exact(2).zip(out.iter_mut()) {
        match (digit(pair[0], letters), digit(pair[1], letters)) {
            (Some(high), Some(low)) => *byte = high << 4 | low,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_exactly_and_by_case() {
        let mut out = [0u8; 2];
        assert!(decode(b"0aFf", &mut out, Letters::EitherCase));
        assert_eq!(out, [0x0a, 0xff]);
        assert!(!decode(b"0aFf", &mut out, Letters::Lower));
        assert!(decode(b"0aff", &mut out, Letters::Lower));
        assert_eq!(out, [0x0a, 0xff]);
        assert!(!decode(b"0af", &mut out, Letters::EitherCase));
        assert!(!decode(b"0aff00", &mut out, Letters::EitherCase));
        assert!(!decode(b"0g00", &mut out, Letters::EitherCase));
        assert!(!decode(b" 0ff", &mut out, Letters::EitherCase));
        assert_eq!(digit(b'G', Letters::EitherCase), None);
        assert_eq!(digit(b'F', Letters::EitherCase), Some(15));
        assert_eq!(digit(b'F', Letters::Lower), None);
    }
}
