use http::HeaderValue;

use super::{
    chunked::{ChunkedCheck, X_HMAC_BODY},
    Algorithm, Authorization, CanonicalRequest, CHUNKED_HEADER, SCHEME,
};
use crate::{
    schemes::{Authentication, BodyCheck, Claim, Explanation, Head, Replay, Scheme},
    BodyDigest, BodyHasher, ErrorCode, KeyId, Secret,
};

/// The native `HMAC-SHA256` scheme (`docs/PROTOCOL.md`), which every
/// [`SignatureLayer`](crate::SignatureLayer) accepts unless told otherwise.
///
/// Before the handler runs it checks the header's form, the clock skew and
/// the required signed headers; then, with the key, the signature itself
/// when the request has no body or declares its digest in `Content-Digest`.
/// Any other request is judged when its body ends.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct HmacSha256;

impl Scheme for HmacSha256 {
    fn name(&self) -> &'static str {
        SCHEME
    }

    fn claim(
        &self,
        authorization: &HeaderValue,
        head: &Head<'_>,
    ) -> Result<Box<dyn Claim>, ErrorCode> {
        claim(Algorithm::HmacSha256, authorization, head)
    }
}

/// [`Scheme::claim`] for the scheme of `algorithm`: every scheme in the
/// native canonical form claims its requests here.
pub(crate) fn claim(
    algorithm: Algorithm,
    authorization: &HeaderValue,
    head: &Head<'_>,
) -> Result<Box<dyn Claim>, ErrorCode> {
    let auth = Authorization::from_header_as(algorithm, authorization).map_err(|error| {
        tracing::debug!(%error, "tower-hmac: malformed Authorization header");
        ErrorCode::MalformedAuthorization
    })?;
    if head.now.abs_diff(auth.time()) > head.policy.max_clock_skew {
        tracing::debug!(key_id = %auth.key_id(), time = auth.time(), "tower-hmac: request time outside the allowed skew");
        return Err(ErrorCode::StaleRequest);
    }
    if let Some(missing) = head
        .policy
        .required_headers
        .iter()
        .find(|name| !auth.signed_headers().contains(name))
    {
        tracing::debug!(key_id = %auth.key_id(), header = %missing, "tower-hmac: required header is not signed");
        return Err(ErrorCode::UnsignedHeader);
    }
    let chunked = match head.headers.get(X_HMAC_BODY) {
        None => false,
        Some(value)
            if value
                .as_bytes()
                .eq_ignore_ascii_case(CHUNKED_HEADER.1.as_bytes()) =>
        {
            true
        }
        Some(_) => {
            tracing::debug!(key_id = %auth.key_id(), "tower-hmac: unknown X-HMAC-Body value");
            return Err(ErrorCode::MalformedChunkedBody);
        }
    };
    // Without a body the digest is that of nothing, whatever is declared.
    let declared = if head.bodiless {
        None
    } else {
        BodyDigest::declared_for(head.headers, algorithm).map_err(|error| {
            tracing::debug!(key_id = %auth.key_id(), %error, "tower-hmac: malformed Content-Digest");
            ErrorCode::MalformedContentDigest
        })?
    };
    let canonical = auth.canonical_request(head.method, head.uri, head.headers);
    Ok(Box::new(Native {
        auth,
        canonical,
        declared,
        chunked,
        max_skew: head.policy.max_clock_skew,
    }))
}

/// A parsed request in the native form (`HMAC-SHA256`, `BLAKE3-KEYED`), waiting for its key.
struct Native {
    auth: Authorization,
    canonical: CanonicalRequest,
    declared: Option<BodyDigest>,
    /// Sent in signed chunks (`X-HMAC-Body: chunks`); takes precedence over `declared`.
    chunked: bool,
    /// The clock skew allowed: the replay window.
    max_skew: u64,
}

impl Claim for Native {
    fn key_id(&self) -> &KeyId {
        self.auth.key_id()
    }

    fn replay(&self) -> Replay<'_> {
        Replay::new(self.auth.nonce(), self.auth.time(), self.max_skew)
    }

    fn explain(&self, bodiless: bool) -> Explanation {
        // The string-to-sign as the server checks it up front; a body judged
        // at its end is explained by its check instead.
        let text = if self.chunked {
            self.canonical.chunked_string_to_sign()
        } else if bodiless {
            self.canonical
                .string_to_sign(&self.canonical.algorithm().empty_digest())
        } else if let Some(declared) = &self.declared {
            self.canonical.string_to_sign(declared)
        } else {
            return Explanation::new();
        };
        let mut explanation = vec![(
            "string_to_sign",
            String::from_utf8_lossy(&text).into_owned(),
        )];
        if let (Some(declared), false, false) = (&self.declared, bodiless, self.chunked) {
            explanation.push(("declared_digest", declared.to_hex()));
        }
        explanation
    }

    fn authenticate(self: Box<Self>, secret: &Secret, bodiless: bool) -> Authentication {
        let signature = self.auth.signature();
        let algorithm = self.auth.algorithm();
        if self.chunked {
            if !self.canonical.verify_chunked(secret, signature) {
                return Authentication::Refused(ErrorCode::InvalidSignature);
            }
            // Without a body, the last chunk that signs the end is missing:
            // the body was cut off on the way.
            if bodiless {
                return Authentication::Refused(ErrorCode::BodyIncomplete);
            }
            return Authentication::Authenticated(Box::new(ChunkedCheck::new(
                algorithm,
                secret.clone(),
                *signature,
            )));
        }
        if bodiless {
            // Nothing to wait for: whatever was declared, the body is empty.
            return if self
                .canonical
                .verify(secret, &algorithm.empty_digest(), signature)
            {
                Authentication::Authenticated(<dyn BodyCheck>::none())
            } else {
                Authentication::Refused(ErrorCode::InvalidSignature)
            };
        }
        match self.declared {
            Some(declared) if self.canonical.verify(secret, &declared, signature) => {
                Authentication::Authenticated(Box::new(DeclaredDigest {
                    hasher: BodyHasher::for_algorithm(algorithm),
                    declared,
                    canonical: self.canonical,
                }))
            }
            Some(_) => Authentication::Refused(ErrorCode::InvalidSignature),
            None => Authentication::Deferred(Box::new(SignedDigest {
                hasher: BodyHasher::for_algorithm(algorithm),
                secret: secret.clone(),
                signature: *signature,
                canonical: self.canonical,
            })),
        }
    }
}

/// The body must hash to the digest that the signature covered up front.
struct DeclaredDigest {
    hasher: BodyHasher,
    declared: BodyDigest,
    // For explaining a refusal only.
    canonical: CanonicalRequest,
}

impl BodyCheck for DeclaredDigest {
    fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    fn explain(&self) -> Explanation {
        let text = self.canonical.string_to_sign(&self.declared);
        vec![
            (
                "string_to_sign",
                String::from_utf8_lossy(&text).into_owned(),
            ),
            ("declared_digest", self.declared.to_hex()),
            ("received_digest", self.hasher.clone().finish().to_hex()),
        ]
    }

    fn finish(self: Box<Self>) -> Result<(), ErrorCode> {
        // A body other than the one declared is a body the signature does not cover.
        if self.hasher.finish() == self.declared {
            Ok(())
        } else {
            Err(ErrorCode::InvalidSignature)
        }
    }
}

/// The signature covers the body's digest, known only at its end.
struct SignedDigest {
    hasher: BodyHasher,
    secret: Secret,
    signature: [u8; 32],
    canonical: CanonicalRequest,
}

impl BodyCheck for SignedDigest {
    fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    fn explain(&self) -> Explanation {
        let received = self.hasher.clone().finish();
        let text = self.canonical.string_to_sign(&received);
        vec![
            (
                "string_to_sign",
                String::from_utf8_lossy(&text).into_owned(),
            ),
            ("received_digest", received.to_hex()),
        ]
    }

    fn finish(self: Box<Self>) -> Result<(), ErrorCode> {
        let digest = self.hasher.finish();
        if self
            .canonical
            .verify(&self.secret, &digest, &self.signature)
        {
            Ok(())
        } else {
            Err(ErrorCode::InvalidSignature)
        }
    }
}
