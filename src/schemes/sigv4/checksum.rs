//! The `x-amz-checksum-*` algorithms: a body's checksum, sent in a header
//! or in an aws-chunked body's trailer, and checked against the body as it
//! streams.
//!
//! A checksum value is the standard, padded base64 of the checksum's bytes:
//! for the CRCs, the big-endian bytes of the CRC (4 for CRC32 and CRC32C,
//! 8 for CRC64NVME); for SHA-1 and SHA-256, the digest (20 and 32 bytes).
//! The CRCs are `crc-fast`'s (SIMD where the CPU has it), SHA-1 is
//! `sha1`'s, SHA-256 is the crate's [`BodyHasher`] (`sha2`, or `ring`
//! with that feature).

use std::fmt;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use crc_fast::{CrcAlgorithm, Digest as Crc};
use sha1::Digest as _;
use subtle::ConstantTimeEq as _;

use crate::{BodyHasher, ErrorCode};

/// The longest checksum, in bytes (SHA-256's).
const MAX_LEN: usize = 32;

/// The longest checksum value, in base64 characters (SHA-256's).
pub(crate) const MAX_BASE64_LEN: usize = 44;

/// A checksum algorithm of the `x-amz-checksum-*` family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChecksumAlgorithm {
    /// CRC-32/ISO-HDLC, zlib's.
    Crc32,
    /// CRC-32C (Castagnoli, iSCSI's).
    Crc32c,
    /// CRC-64/NVME.
    Crc64Nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl ChecksumAlgorithm {
    /// Every algorithm.
    pub(crate) const ALL: [Self; 5] = [
        Self::Crc32,
        Self::Crc32c,
        Self::Crc64Nvme,
        Self::Sha1,
        Self::Sha256,
    ];

    /// From a header or trailer name such as `x-amz-checksum-crc32`
    /// (ASCII case-insensitive).
    pub(crate) fn from_header_name(name: &[u8]) -> Option<Self> {
        Self::ALL.into_iter().find(|algorithm| {
            algorithm
                .header_name()
                .as_bytes()
                .eq_ignore_ascii_case(name)
        })
    }

    /// From `x-amz-sdk-checksum-algorithm`'s value such as `CRC32` or
    /// `CRC64NVME` (ASCII case-insensitive).
    pub(crate) fn from_sdk_name(name: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|algorithm| algorithm.sdk_name().as_bytes().eq_ignore_ascii_case(name))
    }

    /// The header (and trailer) name, lowercase: `x-amz-checksum-crc32c`, say.
    pub(crate) fn header_name(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The name in `x-amz-sdk-checksum-algorithm`, uppercase: `CRC64NVME`, say.
    pub(crate) fn sdk_name(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    /// The checksum's length in bytes.
    pub(crate) fn output_len(self) -> usize {
        match self {
            Self::Crc32 | Self::Crc32c => 4,
            Self::Crc64Nvme => 8,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    /// A checksum that has seen no bytes.
    pub(crate) fn hasher(self) -> Checksum {
        let state = match self {
            Self::Crc32 => State::Crc(Crc::new(CrcAlgorithm::Crc32IsoHdlc)),
            Self::Crc32c => State::Crc(Crc::new(CrcAlgorithm::Crc32Iscsi)),
            Self::Crc64Nvme => State::Crc(Crc::new(CrcAlgorithm::Crc64Nvme)),
            Self::Sha1 => State::Sha1(sha1::Sha1::new()),
            Self::Sha256 => State::Sha256(BodyHasher::new()),
        };
        Checksum {
            algorithm: self,
            state,
        }
    }

    /// Whether `value` is a well-formed value of this algorithm (standard,
    /// padded base64 of exactly [`output_len`](Self::output_len) bytes);
    /// [`ErrorCode::UnsupportedChecksum`] if not. For refusing a malformed
    /// `x-amz-checksum-*` header before the body is read.
    pub(crate) fn validate(self, value: &[u8]) -> Result<(), ErrorCode> {
        self.decode(value).map(|_| ())
    }

    /// The checksum bytes that `value` encodes (the first
    /// [`output_len`](Self::output_len) of the array).
    fn decode(self, value: &[u8]) -> Result<[u8; MAX_LEN], ErrorCode> {
        let len = self.output_len();
        // Checked first, so that the decoder's estimate fits `out`.
        if value.len() != len.div_ceil(3) * 4 {
            return Err(ErrorCode::UnsupportedChecksum);
        }
        let mut out = [0u8; MAX_LEN + 4];
        // The standard engine wants canonical padding and zero trailing bits.
        match STANDARD.decode_slice(value, &mut out) {
            Ok(decoded) if decoded == len => {
                let mut bytes = [0u8; MAX_LEN];
                bytes[..len].copy_from_slice(&out[..len]);
                Ok(bytes)
            }
            _ => Err(ErrorCode::UnsupportedChecksum),
        }
    }
}

impl fmt::Display for ChecksumAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sdk_name())
    }
}

/// A running checksum of one [`ChecksumAlgorithm`].
#[derive(Clone)]
pub(crate) struct Checksum {
    algorithm: ChecksumAlgorithm,
    state: State,
}

#[derive(Clone)]
enum State {
    Crc(Crc),
    Sha1(sha1::Sha1),
    Sha256(BodyHasher),
}

impl Checksum {
    /// The algorithm this checksum runs.
    #[cfg_attr(not(test), allow(dead_code))] // For explaining refusals.
    pub(crate) fn algorithm(&self) -> ChecksumAlgorithm {
        self.algorithm
    }

    /// Feeds the next bytes.
    pub(crate) fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Crc(crc) => crc.update(data),
            State::Sha1(sha1) => sha1.update(data),
            State::Sha256(sha256) => sha256.update(data),
        }
    }

    /// Compares the checksum of everything fed so far with `expected`,
    /// the base64 text as sent. A value that is not the standard, padded
    /// base64 of exactly the algorithm's length is
    /// [`ErrorCode::UnsupportedChecksum`]; a well-formed one that differs
    /// is [`ErrorCode::ChecksumMismatch`]. Compared in constant time.
    pub(crate) fn check(self, expected: &[u8]) -> Result<(), ErrorCode> {
        let len = self.algorithm.output_len();
        let expected = self.algorithm.decode(expected)?;
        let actual = self.finish();
        if bool::from(actual[..len].ct_eq(&expected[..len])) {
            Ok(())
        } else {
            Err(ErrorCode::ChecksumMismatch)
        }
    }

    /// The checksum of everything fed so far, in base64: for tests, and
    /// for a refusal that explains itself.
    #[cfg_attr(not(test), allow(dead_code))] // For explaining refusals.
    pub(crate) fn finish_base64(self) -> String {
        let len = self.algorithm.output_len();
        STANDARD.encode(&self.finish()[..len])
    }

    /// The checksum bytes (the first `output_len` of the array).
    fn finish(self) -> [u8; MAX_LEN] {
        let mut out = [0u8; MAX_LEN];
        match self.state {
            State::Crc(crc) => {
                let len = self.algorithm.output_len();
                // The CRC's big-endian bytes, as wide as the CRC.
                out[..len].copy_from_slice(&crc.finalize().to_be_bytes()[8 - len..]);
            }
            State::Sha1(sha1) => out[..20].copy_from_slice(&sha1.finalize()),
            State::Sha256(sha256) => out = *sha256.finish().as_bytes(),
        }
        out
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checksum({})", self.algorithm)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::{ChecksumAlgorithm as A, *};

    /// `tests/vectors/sigv4.json`, by the vector generator next to it.
    pub(in crate::schemes::sigv4) const VECTORS: &str =
        include_str!("../../../tests/vectors/sigv4.json");

    /// A body of the vectors: `{"hex": …}`, or a rule (`repeat`: `len`
    /// times `byte`; `affine`: byte `i` is `(mul * i + add) % 256`).
    pub(in crate::schemes::sigv4) fn vector_body(body: &serde_json::Value) -> Vec<u8> {
        let number = |name: &str| body[name].as_u64().unwrap();
        if let Some(hex) = body["hex"].as_str() {
            return from_hex(hex);
        }
        match body["rule"].as_str().unwrap() {
            "repeat" => vec![number("byte") as u8; number("len") as usize],
            "affine" => (0..number("len"))
                .map(|i| ((number("mul") * i + number("add")) % 256) as u8)
                .collect(),
            rule => panic!("unknown body rule {rule}"),
        }
    }

    pub(in crate::schemes::sigv4) fn from_hex(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn the_sigv4_json_checksum_vectors() {
        let cases: Vec<serde_json::Value> = serde_json::from_str(VECTORS).unwrap();
        let mut seen = 0;
        for case in cases.iter().filter(|case| case["kind"] == "checksum") {
            let body = vector_body(&case["body"]);
            for algorithm in A::ALL {
                let name = algorithm.sdk_name().to_ascii_lowercase();
                let expected = case["expected"][&name].as_str().unwrap();
                assert_eq!(of(algorithm, &body), expected, "{} {name}", case["name"]);
                let mut checksum = algorithm.hasher();
                for part in body.chunks(65_537) {
                    checksum.update(part);
                }
                assert_eq!(checksum.check(expected.as_bytes()), Ok(()));
                if let Some(hex) = case["expected_hex"][&name].as_str() {
                    assert_eq!(hex_of(algorithm, &body), hex);
                }
                seen += 1;
            }
        }
        assert!(seen >= 5 * 5, "{seen}");
    }

    fn of(algorithm: A, data: &[u8]) -> String {
        let mut checksum = algorithm.hasher();
        checksum.update(data);
        checksum.finish_base64()
    }

    fn hex_of(algorithm: A, data: &[u8]) -> String {
        let mut checksum = algorithm.hasher();
        checksum.update(data);
        let len = algorithm.output_len();
        checksum.finish()[..len]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn check_values() {
        // The CRC catalogue's check values, as big-endian bytes.
        assert_eq!(hex_of(A::Crc32, b"123456789"), "cbf43926");
        assert_eq!(hex_of(A::Crc32c, b"123456789"), "e3069283");
        assert_eq!(hex_of(A::Crc64Nvme, b"123456789"), "ae8b14860a799888");
        assert_eq!(
            hex_of(A::Sha1, b"abc"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex_of(A::Sha256, b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // The same in base64, as the headers carry them.
        assert_eq!(of(A::Crc32, b"123456789"), "y/Q5Jg==");
        assert_eq!(of(A::Crc32c, b"123456789"), "4waSgw==");
        assert_eq!(of(A::Crc64Nvme, b"123456789"), "rosUhgp5mIg=");
        // Of nothing (S3 documents CRC32's as `AAAAAA==`).
        assert_eq!(of(A::Crc32, b""), "AAAAAA==");
        assert_eq!(of(A::Crc32c, b""), "AAAAAA==");
        assert_eq!(of(A::Crc64Nvme, b""), "AAAAAAAAAAA=");
        assert_eq!(of(A::Sha1, b""), "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
        assert_eq!(
            of(A::Sha256, b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        // "Hello world": values other implementations print.
        assert_eq!(hex_of(A::Crc32, b"Hello world"), "8bd69e52");
        assert_eq!(hex_of(A::Crc32c, b"Hello world"), "72b51f78");
    }

    #[test]
    fn incremental_equals_one_shot() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 251) as u8).collect();
        for algorithm in A::ALL {
            let whole = of(algorithm, &data);
            for piece in [1, 3, 64, 1000, 4999] {
                let mut checksum = algorithm.hasher();
                for part in data.chunks(piece) {
                    checksum.update(part);
                }
                let copy = checksum.clone();
                assert_eq!(checksum.finish_base64(), whole, "{algorithm} {piece}");
                assert_eq!(copy.check(whole.as_bytes()), Ok(()), "{algorithm}");
            }
        }
    }

    #[test]
    fn names() {
        for algorithm in A::ALL {
            let header = algorithm.header_name();
            assert_eq!(header, header.to_ascii_lowercase());
            assert_eq!(A::from_header_name(header.as_bytes()), Some(algorithm));
            assert_eq!(
                A::from_header_name(header.to_ascii_uppercase().as_bytes()),
                Some(algorithm)
            );
            let sdk = algorithm.sdk_name();
            assert_eq!(A::from_sdk_name(sdk.as_bytes()), Some(algorithm));
            assert_eq!(
                A::from_sdk_name(sdk.to_ascii_lowercase().as_bytes()),
                Some(algorithm)
            );
            assert_eq!(algorithm.hasher().algorithm(), algorithm);
        }
        assert_eq!(
            A::from_header_name(b"X-Amz-Checksum-CRC64NVME"),
            Some(A::Crc64Nvme)
        );
        for unknown in [
            &b"x-amz-checksum-md5"[..],
            b"x-amz-checksum-",
            b"x-amz-checksum-crc32 ",
            b"x-amz-checksum-crc3",
            b"crc32",
            b"",
        ] {
            assert_eq!(A::from_header_name(unknown), None, "{unknown:?}");
        }
        for unknown in [&b"MD5"[..], b"CRC64", b"CRC32 ", b"SHA-256", b""] {
            assert_eq!(A::from_sdk_name(unknown), None, "{unknown:?}");
        }
    }

    #[test]
    fn mismatch_and_malformed_values() {
        for algorithm in A::ALL {
            let right = of(algorithm, b"data");
            let wrong = of(algorithm, b"Data");
            assert_eq!(algorithm.validate(right.as_bytes()), Ok(()));
            assert_eq!(
                {
                    let mut checksum = algorithm.hasher();
                    checksum.update(b"data");
                    checksum.check(wrong.as_bytes())
                },
                Err(ErrorCode::ChecksumMismatch),
                "{algorithm}"
            );
            let other_length = match algorithm {
                A::Sha256 => of(A::Sha1, b"data"),
                _ => of(A::Sha256, b"data"),
            };
            let unpadded = right.trim_end_matches('=').to_owned();
            let mut bad_char = right.clone().into_bytes();
            bad_char[0] = b'*';
            let url_safe = right.replace('/', "_").replace('+', "-");
            for malformed in [
                other_length.as_bytes(),
                unpadded.as_bytes(),
                bad_char.as_slice(),
                b"",
                format!("{right}=").as_bytes(),
                format!(" {right}").as_bytes(),
            ] {
                assert_eq!(
                    algorithm.validate(malformed),
                    Err(ErrorCode::UnsupportedChecksum),
                    "{algorithm} {malformed:?}"
                );
                assert_eq!(
                    algorithm.hasher().check(malformed),
                    Err(ErrorCode::UnsupportedChecksum),
                    "{algorithm} {malformed:?}"
                );
            }
            if url_safe != right {
                assert_eq!(
                    algorithm.validate(url_safe.as_bytes()),
                    Err(ErrorCode::UnsupportedChecksum)
                );
            }
        }
        // Padding with non-zero trailing bits is not canonical base64.
        assert_eq!(
            A::Crc32.validate(b"AAAAAB=="),
            Err(ErrorCode::UnsupportedChecksum)
        );
        assert_eq!(A::Crc32.validate(b"AAAAAA=="), Ok(()));
    }

    #[test]
    fn a_checksum_is_send_and_static() {
        fn send_static<T: Send + 'static>() {}
        send_static::<Checksum>();
    }
}
