//! The two halves of the handshake, as CPython's `deliver_challenge` and
//! `answer_challenge`.

use subtle::ConstantTimeEq as _;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    frame::{MAX_HANDSHAKE_MESSAGE, MIN_CHALLENGE_LEN},
    modern::{self, Kind, CHALLENGE, FAILURE, LEGACY_REPLY_LEN, WELCOME},
    AuthKey, Connection, Form, HandshakeError,
};

/// What both halves need.
pub(crate) struct Exchange<'a> {
    pub(crate) key: &'a AuthKey,
    pub(crate) legacy: bool,
}

impl Exchange<'_> {
    /// Sends a challenge, checks the reply in constant time, sends the
    /// verdict. Returns whether the peer answered in the legacy form.
    pub(crate) async fn deliver<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        conn: &mut Connection<S>,
    ) -> Result<Form, HandshakeError> {
        let challenge = modern::new_challenge()?;
        conn.send_bytes(&[CHALLENGE, &challenge].concat()).await?;
        let reply = conn.recv_limited(MAX_HANDSHAKE_MESSAGE).await?;
        match self.check(&challenge, &reply) {
            Ok(form) => {
                conn.send_bytes(WELCOME).await?;
                Ok(form)
            }
            Err(e) => {
                // Best effort, as CPython: the error that matters is `e`.
                let _ = conn.send_bytes(FAILURE).await;
                Err(e)
            }
        }
    }

    fn check(&self, challenge: &[u8], reply: &[u8]) -> Result<Form, HandshakeError> {
        let (expected, got, form) = match modern::classify(reply)? {
            Kind::Sha256(mac) => (
                modern::hmac_sha256(self.key, challenge).to_vec(),
                mac,
                Form::Modern,
            ),
            // A 20-byte reply is neither form: CPython reads it as a wrong-sized MD5.
            Kind::Legacy if reply.len() != LEGACY_REPLY_LEN => {
                return Err(HandshakeError::WrongDigest)
            }
            // A legacy peer answers even a modern challenge, whole, with HMAC-MD5.
            Kind::Legacy => (self.legacy_mac(challenge)?.to_vec(), reply, Form::Legacy),
        };
        if expected.len() == got.len() && bool::from(expected.ct_eq(got)) {
            Ok(form)
        } else {
            Err(HandshakeError::WrongDigest)
        }
    }

    /// Receives a challenge, answers it, reads the verdict. Returns whether
    /// the challenge was in the legacy form.
    pub(crate) async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        conn: &mut Connection<S>,
    ) -> Result<Form, HandshakeError> {
        let message = conn.recv_limited(MAX_HANDSHAKE_MESSAGE).await?;
        let challenge = message
            .strip_prefix(CHALLENGE)
            .ok_or(HandshakeError::NotAChallenge)?;
        if challenge.len() < MIN_CHALLENGE_LEN {
            return Err(HandshakeError::ChallengeTooShort {
                len: challenge.len(),
            });
        }
        let (reply, form) = match modern::classify(challenge)? {
            Kind::Sha256(_) => (modern::reply(self.key, challenge), Form::Modern),
            Kind::Legacy => (self.legacy_mac(challenge)?.to_vec(), Form::Legacy),
        };
        conn.send_bytes(&reply).await?;
        match conn.recv_limited(MAX_HANDSHAKE_MESSAGE).await?.as_slice() {
            WELCOME => Ok(form),
            FAILURE => Err(HandshakeError::Rejected),
            _ => Err(HandshakeError::UnexpectedVerdict),
        }
    }

    #[cfg(feature = "handshake-legacy")]
    fn legacy_mac(&self, message: &[u8]) -> Result<[u8; 16], HandshakeError> {
        if self.legacy {
            Ok(super::legacy::hmac_md5(self.key, message))
        } else {
            Err(HandshakeError::LegacyPeer)
        }
    }

    #[cfg(not(feature = "handshake-legacy"))]
    fn legacy_mac(&self, _message: &[u8]) -> Result<[u8; 16], HandshakeError> {
        let _ = self.legacy;
        Err(HandshakeError::LegacyPeer)
    }
}
