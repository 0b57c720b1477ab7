//! Which bytes each part of the `Authorization` header may hold, as one
//! lookup table, and the word-at-a-time search that finds where a part ends.

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

/// Whether every byte of `bytes` is in `class`. No early exit: a branch per
/// byte costs more than finishing the short scan.
pub(crate) fn all_in(bytes: &[u8], class: u8) -> bool {
    bytes
        .iter()
        .fold(true, |ok, &b| ok & (CLASSES[usize::from(b)] & class != 0))
}

/// The index of the first `needle` in `bytes`, looked for eight bytes at a time.
pub(crate) fn find(bytes: &[u8], needle: u8) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut words = bytes.chunks_exact(8);
    let mut start = 0;
    for word in words.by_ref() {
        let x = u64::from_le_bytes(word.try_into().expect("8 bytes")) ^ (ONES * u64::from(needle));
        // The lowest set high bit marks the first zero byte of `x`, exactly:
        // borrows only carry towards higher bytes.
        let zeros = x.wrapping_sub(ONES) & !x & HIGHS;
        if zeros != 0 {
            return Some(start + zeros.trailing_zeros() as usize / 8);
        }
        start += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|i| start + i)
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

    #[test]
    fn find_matches_position_at_every_offset_and_length() {
        for len in 0..40 {
            for at in 0..=len {
                // Neighbours one above and one below the needle, to trip a
                // carry or borrow that leaks between bytes.
                let mut bytes: Vec<u8> = (0..len).map(|i| [b'+', b'-'][i % 2]).collect();
                if at < len {
                    bytes[at] = b',';
                    bytes.extend_from_slice(b",,");
                }
                let expected = bytes.iter().position(|&b| b == b',');
                assert_eq!(find(&bytes, b','), expected, "{len} {at}");
            }
        }
        for needle in 0..=255u8 {
            let bytes: Vec<u8> = (0..=255u8).rev().collect();
            assert_eq!(find(&bytes, needle), Some(usize::from(255 - needle)));
        }
    }
}
