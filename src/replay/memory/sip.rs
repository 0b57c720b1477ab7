//! SipHash-2-4 (Aumasson and Bernstein), with its 64- and 128-bit outputs:
//! the keyed hash that turns a key id and nonce into a fixed-size entry.
//!
//! Written out here because `std` offers only an unspecified 64-bit hasher
//! and the 128-bit output needs no more than a few lines more. The
//! `siphasher` crate has both outputs, but not [`SipKey::key_and_entry`]'s
//! single pass that gives the key's tag and the entry's hash together (two
//! hashes there, on every insert); the reference vectors below pin this one.

/// A SipHash-2-4 key.
#[derive(Clone, Copy)]
pub(super) struct SipKey {
    k0: u64,
    k1: u64,
}

impl SipKey {
    /// A key from the operating system's random source.
    pub(super) fn random() -> Self {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        Self::from_bytes(bytes)
    }

    /// The key whose bytes are `bytes`, as the reference implementation reads them.
    pub(super) fn from_bytes(bytes: [u8; 16]) -> Self {
        let (k0, k1) = bytes.split_at(8);
        Self {
            k0: u64::from_le_bytes(k0.try_into().expect("8 bytes")),
            k1: u64::from_le_bytes(k1.try_into().expect("8 bytes")),
        }
    }

    /// SipHash-2-4 of `message`, 64-bit output.
    pub(super) fn hash64(self, message: &[u8]) -> u64 {
        let mut state = State::new(self, 0);
        state.absorb(message, message.len());
        state.v2 ^= 0xff;
        state.rounds(4);
        state.fold()
    }

    /// SipHash-2-4 of `message`, 128-bit output (the reference's two
    /// little-endian halves, first and second).
    #[cfg(test)]
    pub(super) fn hash128(self, message: &[u8]) -> (u64, u64) {
        let mut state = State::new(self, 0xee);
        state.absorb(message, message.len());
        state.finish128()
    }

    /// In one pass over the message `[key.len()] key [zeros to a multiple
    /// of 8 bytes] nonce`: its SipHash-2-4-128, and a 64-bit tag of its
    /// first part alone (the state after the key's blocks, finished as a
    /// 64-bit SipHash is), which names the key.
    ///
    /// `key` and `nonce` are at most 64 bytes each.
    pub(super) fn key_and_entry(self, key: &[u8], nonce: &[u8]) -> (u64, u64, u64) {
        let mut message = [0u8; 72 + 64];
        message[0] = key.len() as u8;
        message[1..=key.len()].copy_from_slice(key);
        let prefix = (1 + key.len()).next_multiple_of(8);
        message[prefix..prefix + nonce.len()].copy_from_slice(nonce);
        let total = prefix + nonce.len();

        let mut state = State::new(self, 0xee);
        for block in message[..prefix].chunks_exact(8) {
            state.compress(u64::from_le_bytes(block.try_into().expect("8 bytes")));
        }
        let mut tag = State { ..state };
        tag.v2 ^= 0xff;
        tag.rounds(4);
        state.absorb(&message[prefix..total], total);
        let (h0, h1) = state.finish128();
        (tag.fold(), h0, h1)
    }
}

struct State {
    v0: u64,
    v1: u64,
    v2: u64,
    v3: u64,
}

impl State {
    fn new(key: SipKey, tweak: u64) -> Self {
        Self {
            v0: key.k0 ^ 0x736f_6d65_7073_6575,
            v1: key.k1 ^ 0x646f_7261_6e64_6f6d ^ tweak,
            v2: key.k0 ^ 0x6c79_6765_6e65_7261,
            v3: key.k1 ^ 0x7465_6462_7974_6573,
        }
    }

    #[inline(always)]
    fn round(&mut self) {
        self.v0 = self.v0.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(13) ^ self.v0;
        self.v0 = self.v0.rotate_left(32);
        self.v2 = self.v2.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(16) ^ self.v2;
        self.v0 = self.v0.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(21) ^ self.v0;
        self.v2 = self.v2.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(17) ^ self.v2;
        self.v2 = self.v2.rotate_left(32);
    }

    #[inline(always)]
    fn rounds(&mut self, n: usize) {
        for _ in 0..n {
            self.round();
        }
    }

    #[inline(always)]
    fn compress(&mut self, m: u64) {
        self.v3 ^= m;
        self.rounds(2);
        self.v0 ^= m;
    }

    /// Every block of `rest`, the last one with `total`, the length of
    /// the whole message of which `rest` is the end.
    fn absorb(&mut self, rest: &[u8], total: usize) {
        let mut blocks = rest.chunks_exact(8);
        for block in &mut blocks {
            self.compress(u64::from_le_bytes(block.try_into().expect("8 bytes")));
        }
        let tail = blocks.remainder();
        let mut last = [0u8; 8];
        last[..tail.len()].copy_from_slice(tail);
        last[7] = total as u8;
        self.compress(u64::from_le_bytes(last));
    }

    fn finish128(mut self) -> (u64, u64) {
        self.v2 ^= 0xee;
        self.rounds(4);
        let first = self.fold();
        self.v1 ^= 0xdd;
        self.rounds(4);
        (first, self.fold())
    }

    fn fold(&self) -> u64 {
        self.v0 ^ self.v1 ^ self.v2 ^ self.v3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference implementation's vectors (`vectors.h`): key 00..0f,
    /// message 00..(n-1).
    fn reference(n: usize) -> Vec<u8> {
        (0..n as u8).collect()
    }

    fn key() -> SipKey {
        SipKey::from_bytes(std::array::from_fn(|i| i as u8))
    }

    #[test]
    fn matches_the_reference_64_bit_vectors() {
        for (n, expected) in [
            (0, "310e0edd47db6f72"),
            (7, "37d1018bf50002ab"),
            (8, "6224939a79f5f593"),
            (15, "e545be4961ca29a1"),
            (63, "724506eb4c328a95"),
        ] {
            let out = key().hash64(&reference(n)).to_le_bytes();
            assert_eq!(hex(&out), expected, "length {n}");
        }
    }

    #[test]
    fn matches_the_reference_128_bit_vectors() {
        for (n, expected) in [
            (0, "a3817f04ba25a8e66df67214c7550293"),
            (7, "a1f1ebbed8dbc153c0b84aa61ff08239"),
            (8, "3b62a9ba6258f5610f83e264f31497b4"),
            (15, "5493e99933b0a8117e08ec0f97cfc3d9"),
            (63, "5150d1772f50834a503e069a973fbd7c"),
        ] {
            let (a, b) = key().hash128(&reference(n));
            let mut out = a.to_le_bytes().to_vec();
            out.extend_from_slice(&b.to_le_bytes());
            assert_eq!(hex(&out), expected, "length {n}");
        }
    }

    #[test]
    fn one_pass_is_the_hash_of_the_padded_message_and_a_tag_of_the_key() {
        let key = SipKey::random();
        let mut tags = std::collections::HashSet::new();
        for id in ["7", "client-a", "abcdefg", "abcdefgh", &"k".repeat(64)] {
            let (tag, h0, h1) = key.key_and_entry(id.as_bytes(), b"AAAAAAAAAAAAAAAAAAAAAA");
            let mut padded = vec![id.len() as u8];
            padded.extend_from_slice(id.as_bytes());
            padded.resize(padded.len().next_multiple_of(8), 0);
            padded.extend_from_slice(b"AAAAAAAAAAAAAAAAAAAAAA");
            assert_eq!(key.hash128(&padded), (h0, h1), "{id}");
            let (same_tag, other0, _) = key.key_and_entry(id.as_bytes(), &[b'B'; 64]);
            assert_eq!(tag, same_tag, "the tag is the key's alone");
            assert_ne!(h0, other0);
            assert!(tags.insert(tag));
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
