//! The schnellburger scheme on the seam: its claim, its body checks and its refusals.

use bytes::Bytes;
use hmac::{Hmac, KeyInit as _, Mac as _};
use http::{header::HOST, HeaderValue, StatusCode};
use sha2::Sha256;
use std::collections::VecDeque;

use super::{
    wire::{self, Tag},
    Hash, Schnellburger,
};
use crate::{
    schemes::{Authentication, BodyCheck, Claim, Explanation, Head, Refusal, Replay, Scheme},
    ErrorCode, KeyId, Nonce, Secret,
};

impl Scheme for Schnellburger {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    /// A value without a space (or tab): base64 has none, and every value
    /// of a scheme with a word has one.
    fn claims(&self, authorization: &HeaderValue) -> bool {
        !authorization
            .as_bytes()
            .iter()
            .any(|&b| b == b' ' || b == b'\t')
    }

    fn challenge(&self) -> Option<&'static str> {
        None
    }

    fn claim(
        &self,
        authorization: &HeaderValue,
        head: &Head<'_>,
    ) -> Result<Box<dyn Claim>, ErrorCode> {
        let value = authorization.as_bytes();
        if value.is_empty() {
            tracing::debug!("tower-hmac: empty schnellburger Authorization");
            return Err(ErrorCode::MissingAuthorization);
        }
        let credentials = wire::parse(value, self.hash.output_len()).map_err(|malformed| {
            tracing::debug!(
                ?malformed,
                "tower-hmac: malformed schnellburger Authorization"
            );
            ErrorCode::MalformedAuthorization
        })?;
        let key_id = KeyId::new(itoa::Buffer::new().format(credentials.index))
            .expect("a decimal number is a key id");
        // Nothing but the target and the body is signed: `host` is waived,
        // any other required header cannot be met.
        if let Some(name) = head
            .policy
            .required_headers
            .iter()
            .find(|name| **name != HOST)
        {
            tracing::debug!(%key_id, header = %name, "tower-hmac: schnellburger signs no header");
            return Err(ErrorCode::UnsignedHeader);
        }
        let prefix = wire::signed_prefix(head.method, head.uri).ok_or_else(|| {
            tracing::debug!(%key_id, "tower-hmac: a path with a broken percent-escape");
            ErrorCode::InvalidSignature
        })?;
        let nonce = match self.repeats {
            Some(window) => Some((
                Nonce::new(&credentials.mac.to_hex()).expect("hex of 16 or 32 bytes is a nonce"),
                window,
            )),
            None => None,
        };
        Ok(Box::new(SchnellburgerClaim {
            key_id,
            mac: credentials.mac,
            hash: self.hash,
            prefix,
            signs_body: wire::signs_body(head.method),
            now: head.now,
            nonce,
        }))
    }

    fn claim_elsewhere(&self, _head: &Head<'_>) -> Option<Result<Box<dyn Claim>, ErrorCode>> {
        self.answer_missing
            .then_some(Err(ErrorCode::MissingAuthorization))
    }

    fn refusal(&self, code: ErrorCode, authorization: Option<&HeaderValue>, refusal: &mut Refusal) {
        let (status, number) = match code {
            ErrorCode::MissingAuthorization => (StatusCode::FORBIDDEN, "0"),
            ErrorCode::MalformedAuthorization => {
                let malformed = authorization
                    .and_then(|value| wire::parse(value.as_bytes(), self.hash.output_len()).err());
                let number = match malformed {
                    Some(wire::Malformed::TooShort) => "2",
                    Some(wire::Malformed::IndexLength) => "3",
                    Some(wire::Malformed::InvalidHeader) | None => "1",
                };
                (StatusCode::FORBIDDEN, number)
            }
            // The key store's fault, not the client's.
            ErrorCode::KeyStoreUnavailable => (StatusCode::INTERNAL_SERVER_ERROR, "6"),
            // Not shown to be authentic, for whatever reason.
            code if code.status() == StatusCode::UNAUTHORIZED => (StatusCode::FORBIDDEN, "5"),
            _ => return,
        };
        refusal.status = status;
        refusal
            .headers
            .insert(Self::ERROR_CODE_HEADER, HeaderValue::from_static(number));
    }
}

/// A parsed schnellburger request, waiting for its key.
struct SchnellburgerClaim {
    key_id: KeyId,
    mac: Tag,
    hash: Hash,
    /// The method, decoded path and query: what is signed before the body.
    prefix: Vec<u8>,
    signs_body: bool,
    now: u64,
    /// For the known-request cache: the MAC, and the window in seconds.
    nonce: Option<(Nonce, u64)>,
}

impl Claim for SchnellburgerClaim {
    fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    fn replay(&self) -> Replay<'_> {
        match &self.nonce {
            Some((nonce, window)) => Replay::new(nonce, self.now, *window),
            // No time, no nonce: replays go unchecked.
            None => Replay::reusable(self.now, 0, u64::MAX),
        }
    }

    fn explain(&self, _bodiless: bool) -> Explanation {
        let body = if self.signs_body {
            "then the body"
        } else {
            "no body (its method signs none)"
        };
        vec![
            (
                "signed_prefix",
                String::from_utf8_lossy(&self.prefix).into_owned(),
            ),
            ("signed_body", body.to_owned()),
        ]
    }

    fn authenticate(self: Box<Self>, secret: &Secret, bodiless: bool) -> Authentication {
        let mut mac = Mac::new(self.hash, secret.expose());
        mac.update(&self.prefix);
        if self.signs_body && !bodiless {
            return Authentication::Deferred(Box::new(SignedBody {
                mac,
                expected: self.mac,
                received: 0,
            }));
        }
        if !mac.verify(&self.mac) {
            return Authentication::Refused(ErrorCode::InvalidSignature);
        }
        if bodiless {
            Authentication::Authenticated(<dyn BodyCheck>::none())
        } else {
            Authentication::Authenticated(Box::new(UnsignedBody { nonempty: false }))
        }
    }
}

/// HMAC over the deployment's hash, keyed with the raw secret.
enum Mac {
    Sha256(Hmac<Sha256>),
    #[cfg(feature = "schnellburger-md5")]
    Md5(Hmac<md5::Md5>),
}

impl Mac {
    fn new(hash: Hash, key: &[u8]) -> Self {
        const ANY: &str = "HMAC takes keys of any length";
        match hash {
            Hash::Sha256 => Self::Sha256(Hmac::new_from_slice(key).expect(ANY)),
            #[cfg(feature = "schnellburger-md5")]
            Hash::Md5 => Self::Md5(Hmac::new_from_slice(key).expect(ANY)),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha256(mac) => mac.update(data),
            #[cfg(feature = "schnellburger-md5")]
            Self::Md5(mac) => mac.update(data),
        }
    }

    /// Whether the MAC is `expected`, compared in constant time.
    fn verify(self, expected: &Tag) -> bool {
        let expected = expected.as_bytes();
        match self {
            Self::Sha256(mac) => mac.verify_slice(expected).is_ok(),
            #[cfg(feature = "schnellburger-md5")]
            Self::Md5(mac) => mac.verify_slice(expected).is_ok(),
        }
    }
}

/// A signed body: hashed as it streams, judged at its end.
struct SignedBody {
    mac: Mac,
    expected: Tag,
    received: u64,
}

impl BodyCheck for SignedBody {
    fn update(&mut self, data: &[u8]) {
        self.mac.update(data);
        self.received += data.len() as u64;
    }

    fn explain(&self) -> Explanation {
        vec![("received_body_length", self.received.to_string())]
    }

    fn finish(self: Box<Self>) -> Result<(), ErrorCode> {
        if self.mac.verify(&self.expected) {
            Ok(())
        } else {
            Err(ErrorCode::InvalidSignature)
        }
    }
}

/// The body of a `GET`, `DELETE` or `HEAD`, which the MAC leaves out: it
/// must be empty. Its first byte fails the read, so the handler never
/// holds a byte nobody signed.
struct UnsignedBody {
    nonempty: bool,
}

impl BodyCheck for UnsignedBody {
    fn update(&mut self, data: &[u8]) {
        self.nonempty |= !data.is_empty();
    }

    fn decodes(&self) -> bool {
        true
    }

    fn decode(&mut self, data: Bytes, _out: &mut VecDeque<Bytes>) -> Result<(), ErrorCode> {
        self.update(&data);
        if self.nonempty {
            Err(ErrorCode::InvalidSignature)
        } else {
            Ok(())
        }
    }

    fn explain(&self) -> Explanation {
        vec![(
            "unsigned_body",
            "a GET, DELETE or HEAD body is not signed, and must be empty".to_owned(),
        )]
    }

    fn finish(self: Box<Self>) -> Result<(), ErrorCode> {
        if self.nonempty {
            Err(ErrorCode::InvalidSignature)
        } else {
            Ok(())
        }
    }
}
