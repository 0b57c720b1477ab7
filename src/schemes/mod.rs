//! The seam between the verifier core and the signing schemes.
//!
//! The core ([`verify`](crate::verify)) streams the body, runs the key and
//! nonce stores, the drain, the response guard and the outcome hook for
//! every scheme alike. A [`Scheme`] supplies only what depends on the wire
//! format:
//!
//! 1. [`Scheme::claim`]: parse the request head, and check what needs no key
//!    (format, clock, required signed headers);
//! 2. [`Claim::key_id`] and [`Claim::replay`]: the key to look up, and the
//!    token that makes a replay detectable;
//! 3. [`Claim::authenticate`]: with the key's [`Secret`], authenticate the
//!    caller before the handler runs when the head allows it, and hand back
//!    the [`BodyCheck`] that judges the body as it streams;
//! 4. [`Scheme::name`]: the `Authorization` scheme word it answers to, and
//!    the `WWW-Authenticate` challenge on its 401s ([`Scheme::claims`] and
//!    [`Scheme::challenge`] say otherwise for a scheme without a word);
//! 5. [`Scheme::refusal`], optionally: the status and header fields its
//!    clients expect on a refusal (the body stays the problem+json one).
//!
//! One [`SignatureLayer`](crate::SignatureLayer) can accept several schemes
//! at once (see [`SignatureLayer::scheme`](crate::SignatureLayer::scheme)):
//! each request goes to the first scheme that [claims](Scheme::claims) its
//! `Authorization` value, by default the one its first word names.
//!
//! The schemes that ship:
//! - [`hmac_sha256`]: the native `HMAC-SHA256` scheme (`docs/PROTOCOL.md`);
//! - `blake3_keyed` (feature `blake3`): `BLAKE3-KEYED`, the native scheme's
//!   canonical form with keyed BLAKE3 as the MAC and BLAKE3 as the body
//!   digest, several times SHA-256's speed on large bodies;
//! - `sigv4` (feature `sigv4`): AWS Signature Version 4, `AWS4-HMAC-SHA256`,
//!   with header auth, presigned URLs, aws-chunked streams and checksums;
//! - `schnellburger` (feature `schnellburger`, MD5 with `schnellburger-md5`):
//!   the legacy scheme of the Go middleware of that name, for migrating its
//!   clients. **Weak**: no time, no nonce, no signed headers.

#[cfg(feature = "blake3")]
pub mod blake3_keyed;
pub mod hmac_sha256;
#[cfg(feature = "schnellburger")]
pub mod schnellburger;
#[cfg(feature = "sigv4")]
pub mod sigv4;

use std::{collections::VecDeque, sync::Arc};

use bytes::Bytes;

use http::{uri::Authority, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};

use crate::{ErrorCode, KeyId, Nonce, Secret};

/// A request-signing scheme. See the [module docs](self).
pub trait Scheme: Send + Sync + 'static {
    /// The word that opens its `Authorization` value, e.g. `HMAC-SHA256`;
    /// matched ASCII case-insensitively. Also its `WWW-Authenticate`
    /// challenge, unless [`challenge`](Self::challenge) says otherwise. A
    /// layer keeps one scheme per name.
    fn name(&self) -> &'static str;

    /// Whether `authorization`, the request's one `Authorization` value, is
    /// this scheme's. By default: it opens with [`name`](Self::name)
    /// followed by a space. The layer asks its schemes in the order they
    /// were added (the native one first); the first to say yes judges the
    /// request. A scheme whose values open with no word must claim none
    /// that opens with one (`WORD ` followed by anything).
    fn claims(&self, authorization: &HeaderValue) -> bool {
        opens_with_word(authorization.as_bytes(), self.name())
    }

    /// The `WWW-Authenticate` challenge on its 401s, and its part of the
    /// layer's challenge on a 401 no scheme judged: by default its
    /// [`name`](Self::name). `None` for a scheme with no word to announce;
    /// its own 401s then carry the layer's challenge.
    fn challenge(&self) -> Option<&'static str> {
        Some(self.name())
    }

    /// Parses `authorization` (the request's one `Authorization` value,
    /// which this scheme [claims](Self::claims)) and the rest of the head,
    /// and makes every check that needs no key. An error is answered at
    /// once, before the body is read.
    fn claim(
        &self,
        authorization: &HeaderValue,
        head: &Head<'_>,
    ) -> Result<Box<dyn Claim>, ErrorCode>;

    /// For a request without `Authorization`: its credentials carried
    /// elsewhere (a presigned URL's query, say), parsed and checked as
    /// [`claim`](Self::claim) does. `None` when the request carries none of
    /// this scheme's; the first scheme to answer `Some` judges the request.
    ///
    /// `Some(Err(ErrorCode::MissingAuthorization))` judges a request that
    /// carries no credentials at all, so that its refusal is shaped by this
    /// scheme's [`refusal`](Self::refusal); any other scheme's `Some` goes first.
    fn claim_elsewhere(&self, _head: &Head<'_>) -> Option<Result<Box<dyn Claim>, ErrorCode>> {
        None
    }

    /// Shapes the refusal, with `code`, of a request this scheme judged:
    /// `refusal` holds the status (`code.status()`) and no header fields;
    /// set what this scheme's clients expect. The body stays the
    /// problem+json of `code`, with the status set here; a 401 carries the
    /// [`challenge`](Self::challenge). `authorization` is the request's
    /// `Authorization` value, if it had one, for a scheme whose clients
    /// expect finer reasons than the codes give. By default nothing changes.
    ///
    /// The status stays in its class: a 4xx (the client's doing) may become
    /// another 4xx, a 5xx (the server's) another 5xx; any other change is
    /// ignored. `Content-Type` and `Content-Length` cannot be set.
    fn refusal(
        &self,
        _code: ErrorCode,
        _authorization: Option<&HeaderValue>,
        _refusal: &mut Refusal,
    ) {
    }
}

/// Whether `value` opens with `word` (ASCII case-insensitively) and a space.
pub(crate) fn opens_with_word(value: &[u8], word: &str) -> bool {
    let word = word.as_bytes();
    value.get(word.len()) == Some(&b' ') && {
        let opening = &value[..word.len()];
        // Clients write the name as specified; other cases still match.
        opening == word || opening.eq_ignore_ascii_case(word)
    }
}

/// How a refusal goes out, as [`Scheme::refusal`] shapes it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Refusal {
    /// The response status.
    pub status: StatusCode,
    /// Header fields to add to the response (replacing any of the same name).
    pub headers: HeaderMap,
}

impl Refusal {
    /// The unshaped refusal with `code`.
    pub(crate) fn of(code: ErrorCode) -> Self {
        Self {
            status: code.status(),
            headers: HeaderMap::new(),
        }
    }
}

/// What a scheme sees of a request before its body.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Head<'a> {
    /// The method.
    pub method: &'a Method,
    /// The request target as the client sent it (before any router stripped a prefix).
    pub uri: &'a Uri,
    /// The header fields.
    pub headers: &'a HeaderMap,
    /// The server's clock, in Unix seconds.
    pub now: u64,
    /// The layer's settings that every scheme applies.
    pub policy: &'a Policy,
    /// Whether the request has no body at all (as [`Claim::authenticate`] is told too).
    pub bodiless: bool,
}

/// The settings of a [`SignatureLayer`](crate::SignatureLayer) that a
/// scheme applies in [`Scheme::claim`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Policy {
    /// How far a request's signing time may be from the server's clock, in seconds.
    pub max_clock_skew: u64,
    /// Headers that must be signed.
    pub required_headers: Vec<HeaderName>,
}

/// One request's parsed credentials, before its key is known.
pub trait Claim: Send + Sync + 'static {
    /// The key id the request claims; the core looks it up.
    fn key_id(&self) -> &KeyId;

    /// What makes a replay of this request detectable.
    fn replay(&self) -> Replay<'_>;

    /// Checks the request with `secret` as far as its head allows.
    ///
    /// `bodiless` is true when the request has no body at all. For an
    /// unknown key id the core passes a random decoy secret, so that an
    /// unknown key takes the same path, and time, as a wrong signature.
    fn authenticate(self: Box<Self>, secret: &Secret, bodiless: bool) -> Authentication;

    /// What the server checks the signature against, for a refusal that
    /// explains itself ([`SignatureLayer::explain_refusals`](crate::SignatureLayer::explain_refusals)):
    /// the string-to-sign it builds, say. Never the secret, never the
    /// expected signature. Called only when explaining is on.
    fn explain(&self, _bodiless: bool) -> Explanation {
        Explanation::new()
    }
}

/// Named facts about a refused request, added to its problem body when
/// [`SignatureLayer::explain_refusals`](crate::SignatureLayer::explain_refusals)
/// is on. Nothing secret may go in.
pub type Explanation = Vec<(&'static str, String)>;

/// The replay token of a request, and the time window it is valid in.
///
/// A request with a nonce is accepted once per key id within its window;
/// one without ([`Replay::reusable`]) may be sent again until its window
/// closes.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Replay<'a> {
    /// The request's nonce (for a scheme without one, something as unique,
    /// such as its signature); `None` for a request that is reusable by design.
    pub nonce: Option<&'a Nonce>,
    /// When the request was signed, in Unix seconds.
    pub signed_at: u64,
    /// The earliest server time, in Unix seconds, at which the request is accepted.
    pub valid_from: u64,
    /// The latest server time, in Unix seconds, at which the request is
    /// accepted; `verify()` may follow up to
    /// [`max_request_duration`](crate::SignatureLayer::max_request_duration) later.
    pub valid_until: u64,
}

impl<'a> Replay<'a> {
    /// The token of a request signed at `signed_at` with `nonce`, accepted
    /// while the server's clock is within `max_skew` seconds of `signed_at`.
    pub fn new(nonce: &'a Nonce, signed_at: u64, max_skew: u64) -> Self {
        Self {
            nonce: Some(nonce),
            signed_at,
            valid_from: signed_at.saturating_sub(max_skew),
            valid_until: signed_at.saturating_add(max_skew),
        }
    }

    /// A request that may be sent any number of times from `valid_from`
    /// to `valid_until` (a presigned URL): nothing is recorded. With
    /// `0, u64::MAX`, at any time: the token of a scheme with neither time
    /// nor nonce, whose replays go unchecked.
    pub fn reusable(signed_at: u64, valid_from: u64, valid_until: u64) -> Self {
        Self {
            nonce: None,
            signed_at,
            valid_from,
            valid_until,
        }
    }
}

/// The answer of [`Claim::authenticate`].
#[non_exhaustive]
pub enum Authentication {
    /// The caller holds the key: the handler may run. The body, if any, is
    /// still judged by the check as it streams.
    Authenticated(Box<dyn BodyCheck>),
    /// The caller can only be judged once the whole body has been seen
    /// (a signature over a body digest that was not declared): the check's
    /// [`finish`](BodyCheck::finish) decides.
    Deferred(Box<dyn BodyCheck>),
    /// Refused before the body, with this code.
    Refused(ErrorCode),
}

/// Judges a request body as it streams to the handler.
pub trait BodyCheck: Send + 'static {
    /// The next bytes of the body, in order.
    fn update(&mut self, data: &[u8]);

    /// The body has ended: whether it is the body that was signed.
    fn finish(self: Box<Self>) -> Result<(), ErrorCode>;

    /// What [`finish`](Self::finish) is about to compare (the body's
    /// digest as received, say), for a refusal that explains itself. Called
    /// just before `finish`, only when explaining is on.
    fn explain(&self) -> Explanation {
        Explanation::new()
    }

    /// Whether the body on the wire is framed by the scheme (signed
    /// chunks, say), so that the handler reads [`decode`](Self::decode)'s
    /// output instead of the received bytes. Its length then differs from
    /// the transport's, and the body reports no size hint.
    fn decodes(&self) -> bool {
        false
    }

    /// Whether passing [`finish`](Self::finish) proves the body is the one
    /// the key holder signed. False for a body the signature leaves out
    /// (SigV4's `UNSIGNED-PAYLOAD`), which a checksum at most protects from
    /// accidents; [`Verified::body_authenticated`](crate::Verified::body_authenticated) reports it.
    fn authenticates_body(&self) -> bool {
        true
    }

    /// For a decoding check: takes the next received bytes and pushes the
    /// body bytes they carry onto `out`, as slices of `data` (no copies).
    /// An error fails the request with that code; the handler's body read
    /// fails too.
    fn decode(&mut self, data: Bytes, out: &mut VecDeque<Bytes>) -> Result<(), ErrorCode> {
        self.update(&data);
        out.push_back(data);
        Ok(())
    }
}

/// The [`BodyCheck`] of a request without a body.
pub(crate) struct NoBody;

impl BodyCheck for NoBody {
    fn update(&mut self, _data: &[u8]) {}

    fn finish(self: Box<Self>) -> Result<(), ErrorCode> {
        Ok(())
    }
}

impl dyn BodyCheck {
    /// The check of a bodiless request (a zero-sized box: no allocation).
    pub fn none() -> Box<dyn BodyCheck> {
        Box::new(NoBody)
    }
}

/// The schemes a layer accepts when none is named: the native one.
pub(crate) fn default_schemes() -> Vec<Arc<dyn Scheme>> {
    vec![Arc::new(hmac_sha256::HmacSha256)]
}

/// The `host[:port]` part of an authority: any `userinfo@` is not part of the host.
pub(crate) fn host_of(authority: &Authority) -> &str {
    let authority = authority.as_str();
    authority
        .rfind('@')
        .map_or(authority, |at| &authority[at + 1..])
}
