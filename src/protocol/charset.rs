//! Which bytes each part of the `Authorization` header may hold, as one
//! lookup table, so that a part is delimited and validated in a single scan.

/// `A-Za-z0-9._~-`: a key id.
pub(crate) const KEY_ID: u8 = 1;
/// `A-Za-z0-9_-`: a nonce (the base64url alphabet).
pub(crate) const NONCE: u8 = 1 << 1;
/// A lowercase RFC 9110 token character: a header name in `SignedHeaders`.
pub(crate) const NAME: u8 = 1 << 2;
/// `;`, between the names of `SignedHeaders`.
pub(crate) const SEMICOLON: u8 = 1 << 3;
/// `0-9`.
pub(crate) const DIGIT: u8 = 1 << 4;

static CLASSES: [u8; 256] = classes();

const fn classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let digit = c.is_ascii_digit();
        let alnum = c.is_ascii_alphanumeric();
        let mut class = 0;
        if alnum || matches!(c, b'.' | b'_' | b'~' | b'-') {
            class |= KEY_ID;
        }
        if alnum || matches!(c, b'_' | b'-') {
            class |= NONCE;
        }
        if c.is_ascii_lowercase()
            || digit
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
        {
            class |= NAME;
        }
        if c == b';' {
            class |= SEMICOLON;
        }
        if digit {
            class |= DIGIT;
        }
        table[b] = class;
        b += 1;
    }
    table
}

/// How many leading bytes of `bytes` are in `class`.
pub(crate) fn span(bytes: &[u8], class: u8) -> usize {
    bytes
        .iter()
        .position(|&b| CLASSES[usize::from(b)] & class == 0)
        .unwrap_or(bytes.len())
}

/// Whether every byte of `bytes` is in `class`.
pub(crate) fn all_in(bytes: &[u8], class: u8) -> bool {
    span(bytes, class) == bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_match_the_grammar() {
        for b in 0..=255u8 {
            let key = b.is_ascii_alphanumeric() || b"._~-".contains(&b);
            let nonce = b.is_ascii_alphanumeric() || b"_-".contains(&b);
            let name =
                b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(all_in(&[b], KEY_ID), key, "{b}");
            assert_eq!(all_in(&[b], NONCE), nonce, "{b}");
            assert_eq!(all_in(&[b], NAME), name, "{b}");
            assert_eq!(all_in(&[b], SEMICOLON), b == b';', "{b}");
            assert_eq!(all_in(&[b], DIGIT), b.is_ascii_digit(), "{b}");
        }
    }
}
