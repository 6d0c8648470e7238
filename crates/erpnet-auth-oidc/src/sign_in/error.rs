//! [`SignInError`]: what can go wrong while a user signs in.

use std::time::Duration;

use erpnet_auth_core::{Error, OAuthErrorCode};

use crate::validation::error::ValidationError;

/// Why a sign-in failed: the provider's answer on the redirect, the callback
/// itself, the ID token, or the token request behind it.
///
/// No variant carries a secret (codes, `state`, nonces and tokens are never
/// part of the message).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SignInError {
    /// The code exchange (or another request to the provider) failed.
    #[error(transparent)]
    Token(#[from] Error),

    /// The authorization server redirected back with an error (the user
    /// refused, the request was invalid, …).
    #[error("sign-in failed: {code}{}", describe(.description.as_deref()))]
    Authorization {
        /// The `error` parameter, such as `access_denied`.
        code: String,
        /// The `error_description` parameter, if any.
        description: Option<String>,
        /// The `error_uri` parameter, if any.
        uri: Option<String>,
    },

    /// The `state` of the authorization response does not belong to this
    /// sign-in attempt (a forged or stale callback).
    #[error("sign-in failed: the callback's `state` does not match this sign-in attempt")]
    StateMismatch,

    /// The RFC 9207 `iss` parameter of the authorization response is missing or
    /// names another issuer (a mix-up attack, or a misconfigured provider).
    #[error("sign-in failed: the callback's `iss` is `{}`, expected `{expected}`", .found.as_deref().unwrap_or("(missing)"))]
    IssuerParameter {
        /// The configured issuer.
        expected: String,
        /// What the callback said.
        found: Option<String>,
    },

    /// The callback could not be used: no `code`, a malformed request, or a
    /// second callback.
    #[error("sign-in failed: {0}")]
    Callback(String),

    /// Nobody completed the sign-in within the time allowed.
    #[error("sign-in timed out after {0:?}")]
    Timeout(Duration),

    /// The user refused a device authorization (RFC 8628 `access_denied`).
    #[error("sign-in failed: the user refused the device authorization")]
    AccessDenied,

    /// The device authorization expired before the user completed it
    /// (RFC 8628 `expired_token`, or its `expires_in` passed): start again.
    #[error("sign-in failed: the device code expired before the user entered it")]
    Expired,

    /// The userinfo endpoint answered about another user than the ID token's
    /// subject (OpenID Connect Core §5.3.2): the access token is someone
    /// else's, substituted or mixed up.
    #[error("the userinfo endpoint {endpoint} answered about another user than the ID token's")]
    UserInfoSubject {
        /// The userinfo endpoint.
        endpoint: String,
    },

    /// The ID token did not validate.
    #[error("invalid ID token from {endpoint}: {source}")]
    IdToken {
        /// The token endpoint that issued it.
        endpoint: String,
        /// Why it was refused.
        #[source]
        source: Box<ValidationError>,
    },
}

impl SignInError {
    /// Whether trying again later may succeed: only a transient failure of a
    /// request to the provider ([`Error::is_transient`]). Everything else needs
    /// a new sign-in attempt.
    pub fn is_transient(&self) -> bool {
        match self {
            SignInError::Token(error) => error.is_transient(),
            _ => false,
        }
    }

    /// The OAuth error code of the token endpoint's refusal, if that is what
    /// failed.
    pub fn oauth_code(&self) -> Option<&OAuthErrorCode> {
        match self {
            SignInError::Token(error) => error.oauth_code(),
            _ => None,
        }
    }
}

fn describe(description: Option<&str>) -> String {
    description.map(|d| format!(": {d}")).unwrap_or_default()
}
