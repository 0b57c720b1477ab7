//! The legacy scheme of the Go middleware **schnellburger** (feature
//! `schnellburger`; its HMAC-MD5 with `schnellburger-md5`), so that its Go
//! clients (its `RoundTripper`) keep working, unchanged, while they move to
//! the native scheme.
//!
//! **It is weak, and stays off unless you add it.** It has no time and no
//! nonce: **replays go unchecked**, for ever. It signs no header (not even
//! `Host`), and the query/body boundary is not in what it signs. Accept it
//! only for the clients you are migrating, only over TLS, and replace them
//! with the native scheme ([`hmac_sha256`](super::hmac_sha256)), which has
//! none of these faults.
//!
//! ```
//! use tower_hmac::{schemes::schnellburger::{Hash, Schnellburger}, InMemoryKeys, Secret, SignatureLayer};
//!
//! // Key index 7 of the Go clients is key id "7".
//! let keys = InMemoryKeys::new().with_key("7".parse().unwrap(), Secret::new(vec![7; 32]).unwrap());
//! // schnellburger's clients on the same routes as the native ones.
//! let layer = SignatureLayer::new(keys).scheme(Schnellburger::new(Hash::Sha256));
//! ```
//!
//! # The wire format
//! - **`Authorization`**: standard base64 (padded, no scheme word) of the
//!   key index followed by the raw HMAC. The key index is a big-endian
//!   unsigned integer of 0, 1, 2, 4 or 8 bytes, its length what the
//!   decoded value has beyond the hash's output (16 bytes for MD5, 32 for
//!   SHA-256); none means index 0. The Go client always writes 8 bytes.
//!   A value with a space in it is never this scheme's (no base64 has one),
//!   so it cannot be mistaken for a native or SigV4 value, whatever order
//!   the schemes are added in.
//! - **What is signed**, concatenated with no separator: the method; the
//!   request path, percent-*decoded* (Go's `URL.Path`; `/` when empty); if
//!   the raw query is not empty, `?` and the raw query; and the body, for
//!   every method but `GET`, `DELETE` and `HEAD`.
//! - **Keys**: the key index is the key id, in decimal (index 7 is key id
//!   `7`), so the same [`KeyStore`](crate::KeyStore) serves every scheme.
//!   A key must be at least [`Secret::MIN_LEN`](crate::Secret::MIN_LEN)
//!   (16) bytes: rotate shorter schnellburger keys first.
//!
//! # What the server does
//! - A request whose method signs no body, or that has no body, is judged
//!   before the handler runs. A body is hashed as it streams to the
//!   handler (never buffered) and judged at its end, like a native request
//!   without `Content-Digest`: the handler reads it, then calls
//!   [`verify()`](crate::Verifier::verify), and the response guard answers
//!   for a handler that does not. Under
//!   [`require_early_authentication`](crate::SignatureLayer::require_early_authentication)
//!   every request with a body is refused.
//! - A `GET`, `DELETE` or `HEAD` body is not signed, so it must be empty:
//!   its first byte fails the handler's read and the request (schnellburger
//!   passed it on unchecked; its Go client signs every body it sends, so no
//!   such request of the client ever passed schnellburger either).
//! - An unknown key index is answered exactly like a wrong MAC, through the
//!   same code path (with a random key where schnellburger used an empty one).
//! - The MAC is compared in constant time.
//! - `require_signed_header` cannot be met, since nothing is signed but the
//!   target and the body: `host` (always required) is waived for this
//!   scheme, any other required header refuses every request of it.
//!
//! # Refusals
//! Every refusal is a problem+json body, as for the other schemes, with the
//! status and the `X-Schnellburger-Error-Code` header that schnellburger's
//! clients know (its text/plain body, `X-Schnellburger-Doc` and
//! `X-Schnellburger-Algo` are not sent):
//!
//! | `X-Schnellburger-Error-Code` | status | `code` | when |
//! |---|---|---|---|
//! | `0` | 403 | `missing_authorization` | an empty `Authorization`; with [`answer_missing_authorization`](Schnellburger::answer_missing_authorization), none at all |
//! | `1` | 403 | `malformed_authorization` | not standard padded base64 |
//! | `2` | 403 | `malformed_authorization` | shorter than the hash's output |
//! | `3` | 403 | `malformed_authorization` | a key index of 3, 5, 6, 7 or more than 8 bytes |
//! | `5` | 403 | `invalid_signature`, or any other code the layer answers 401 | not authentic: a wrong MAC, an unknown key index, a changed request, a body on a `GET`; also `unverified_request`, `early_authentication_required`, `unsigned_header`, and with the known-request cache `replayed_request` and `stale_request` |
//! | `6` | 500 | `key_store_unavailable` | the key store failed: the **server's** fault, never the client's |
//!
//! Code 4 (signature wrong size) is never sent: schnellburger could not
//! reach it either. The layer's other refusals (`body_incomplete` 400,
//! `body_too_large` 413, `host_mismatch` and `malformed_target` 400, `verification_skipped` 500,
//! `replay_store_unavailable` 503) keep their status and carry no code. A
//! request without `Authorization` is the layer's, not this scheme's
//! (401 `missing_authorization`, with the other schemes' challenge), unless
//! [`answer_missing_authorization`](Schnellburger::answer_missing_authorization);
//! so is one with two `Authorization` headers (401 `malformed_authorization`;
//! schnellburger read the first).
//!
//! # What it cannot protect
//! - **Replays go unchecked.** Nothing in a request says when it was made,
//!   and nothing makes it unique: a request captured once is accepted any
//!   number of times, for as long as its key lives. The nonce store is not
//!   used (unless [`refuse_repeats_within`](Schnellburger::refuse_repeats_within)).
//! - **Nothing but the method, target and body is signed**: no header, not
//!   `Host` nor `Content-Type`. A request for one host is accepted by every
//!   service that holds the same key.
//! - **Boundaries are not signed.** `POST /x?a=1` with body `2` and
//!   `POST /x?a=12` with no body sign the same bytes (`POST/x?a=12`), so
//!   each passes with the other's MAC: undetectable by design. Likewise a
//!   path decoded into a `?` (`/a%3Fb` against `/a?b`), and any two
//!   spellings of one decoded path (`/a%2Fb` against `/a/b`, which your
//!   router may send to different handlers).
//! - MD5, when chosen, is broken as a hash; HMAC-MD5 is not known to be
//!   forgeable, but it is the weaker construction.
//!
//! # A known-request cache
//! [`refuse_repeats_within`](Schnellburger::refuse_repeats_within) keeps the
//! MAC of every accepted request, per key, in the layer's nonce store for a
//! window, and refuses an identical request within it (`replayed_request`,
//! 403, code 5). It stops a replay sent within the window, not one sent
//! after it, and it refuses a client's own identical requests too (a `GET`
//! polled every minute): turn it on only where two identical requests in
//! the window are never both genuine.

mod scheme;
mod wire;

use std::time::Duration;

use http::HeaderName;

/// The hash of the HMAC, chosen by the deployment, as in schnellburger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Hash {
    /// HMAC-SHA256: 32-byte MACs.
    Sha256,
    /// HMAC-MD5 (feature `schnellburger-md5`): 16-byte MACs. What
    /// schnellburger's docs and tests use.
    #[cfg(feature = "schnellburger-md5")]
    Md5,
}

impl Hash {
    /// The length of its MAC, in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            #[cfg(feature = "schnellburger-md5")]
            Self::Md5 => 16,
        }
    }
}

/// schnellburger's scheme. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Schnellburger {
    hash: Hash,
    answer_missing: bool,
    /// The window of the known-request cache, in seconds.
    repeats: Option<u64>,
}

impl Schnellburger {
    /// Its name, which no `Authorization` value opens with and no
    /// `WWW-Authenticate` announces.
    pub const NAME: &'static str = "schnellburger";

    /// The header of its refusals that carries schnellburger's error code.
    pub const ERROR_CODE_HEADER: HeaderName = HeaderName::from_static("x-schnellburger-error-code");

    /// Accepts schnellburger's requests signed with HMAC over `hash`.
    pub fn new(hash: Hash) -> Self {
        Self {
            hash,
            answer_missing: false,
            repeats: None,
        }
    }

    /// The hash it verifies.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// Answers a request without `Authorization` (and without another
    /// scheme's credentials) as schnellburger did: 403 with code `0`,
    /// instead of the layer's 401 `missing_authorization` with the other
    /// schemes' challenge. Off by default: turn it on where schnellburger's
    /// clients are the ones to tell.
    pub fn answer_missing_authorization(mut self, answer: bool) -> Self {
        self.answer_missing = answer;
        self
    }

    /// The known-request cache (off by default): refuses a request identical
    /// to one accepted with the same key within `window` (whole seconds).
    /// It uses the layer's nonce store, and does nothing under
    /// [`without_replay_protection`](crate::SignatureLayer::without_replay_protection).
    /// A replay after the window still passes, and a client's own identical
    /// requests within it are refused: see the [module docs](self#a-known-request-cache).
    /// A request that takes longer than the window and
    /// [`max_request_duration`](crate::SignatureLayer::max_request_duration)
    /// to reach `verify()` is refused `stale_request`.
    pub fn refuse_repeats_within(mut self, window: Duration) -> Self {
        let seconds = window.as_secs() + u64::from(window.subsec_nanos() > 0);
        self.repeats = Some(seconds.max(1));
        self
    }
}
