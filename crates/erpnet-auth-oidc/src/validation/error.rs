//! [`ValidationError`]: why a token was refused. Every part of validation (the
//! JWS, the key set, the claims, ID tokens) imports it from here.

use erpnet_auth_core::Error;

/// Why a token was refused.
///
/// Messages are short and safe to show to the caller (they go into
/// `WWW-Authenticate: … error_description`): they never contain the token, and
/// name a claim but not what a valid value would be.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The token is longer than the configured maximum.
    #[error("token too long")]
    TooLong,
    /// Not a well-formed compact JWS.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// `alg: none`, never accepted.
    #[error("unsigned tokens are not accepted")]
    NoneAlgorithm,
    /// A symmetric algorithm (`HS*`), never accepted.
    #[error("symmetric algorithms are not accepted")]
    SymmetricAlgorithm,
    /// An algorithm outside the configured allowlist.
    #[error("algorithm not allowed")]
    AlgorithmNotAllowed,
    /// A `typ` other than the accepted ones (an ID token, for example).
    #[error("wrong token type")]
    WrongType,
    /// An ID token (it carries a `nonce`) presented as an access token.
    #[error("an ID token is not an access token")]
    IdToken,
    /// `crit` names header parameters this library does not implement.
    #[error("unsupported critical header parameter")]
    CriticalHeader,
    /// No key in the provider's key set has the token's `kid`.
    #[error("unknown signing key")]
    UnknownKey,
    /// The key with the token's `kid` cannot verify the token's algorithm.
    #[error("signing key does not match the algorithm")]
    KeyMismatch,
    /// The signature does not verify.
    #[error("invalid signature")]
    BadSignature,
    /// The claims are not a JSON object, or a claim has the wrong type.
    #[error("malformed claims: {0}")]
    MalformedClaims(&'static str),
    /// A required claim is missing.
    #[error("missing claim `{0}`")]
    MissingClaim(&'static str),
    /// `iss` is not the configured issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` names none of the configured audiences.
    #[error("wrong audience")]
    WrongAudience,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` is in the future.
    #[error("token issued in the future")]
    IssuedInFuture,
    /// The ID token's `nonce` is not the one sent with this sign-in (a replayed
    /// or injected ID token).
    #[error("wrong nonce")]
    WrongNonce,
    /// The ID token's `at_hash` does not match the access token issued with it.
    #[error("at_hash does not match the access token")]
    WrongAccessTokenHash,
    /// A required scope is missing (HTTP 403, not 401).
    #[error("insufficient scope")]
    InsufficientScope {
        /// The scopes that were required.
        required: Vec<String>,
    },
    /// The provider's signing keys could not be loaded, so no token can be
    /// checked (HTTP 503: the token may well be valid).
    #[error("signing keys unavailable")]
    KeysUnavailable(#[source] Error),
}

impl ValidationError {
    /// Whether the failure lies with the server's access to its keys rather
    /// than with the token: answer 503, not 401.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, ValidationError::KeysUnavailable(_))
    }
}
