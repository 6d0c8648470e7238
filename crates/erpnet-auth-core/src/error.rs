//! The one error type of this crate.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Everything that can go wrong while discovering a provider or obtaining a token.
///
/// Every message names the endpoint involved and what went wrong. No variant ever
/// carries a secret: client secrets, access tokens and refresh tokens are never part
/// of an error, its `Display` or its `Debug` output.
///
/// Errors are cheap to clone, because one failed refresh is handed to every caller
/// that waited on it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request could not be sent or its answer not read (connection refused,
    /// DNS failure, connection reset, TLS failure). Transient.
    #[error("{endpoint}: request failed: {message}")]
    Transport {
        /// The URL that was called (without query).
        endpoint: String,
        /// What the HTTP client reported.
        message: String,
        /// The underlying error of the HTTP client.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },

    /// No complete answer arrived within the configured time-out. Transient.
    #[error("{endpoint}: no answer within {after:?}")]
    Timeout {
        /// The URL that was called (without query).
        endpoint: String,
        /// The time-out that elapsed.
        after: Duration,
    },

    /// The server answered with an HTTP status that is neither success nor an OAuth
    /// error document. Transient for 408, 429 and 5xx.
    #[error("{endpoint}: unexpected HTTP status {status}{}", retry_hint(*.status))]
    Status {
        /// The URL that was called (without query).
        endpoint: String,
        /// The HTTP status code.
        status: u16,
        /// The wait the server asked for in `Retry-After` (seconds or an HTTP-date),
        /// if it sent one: see [`Error::retry_after`].
        retry_after: Option<Duration>,
    },

    /// The authorization server refused the request with an RFC 6749 §5.2 error.
    #[error("{endpoint}: {code}{}", describe(.description.as_deref()))]
    OAuth {
        /// The token endpoint.
        endpoint: String,
        /// The `error` code, such as `invalid_client`.
        code: OAuthErrorCode,
        /// The `error_description`, if the server sent one.
        description: Option<String>,
        /// The `error_uri`, if the server sent one.
        uri: Option<String>,
        /// The HTTP status the error came with.
        status: u16,
        /// The wait the server asked for in `Retry-After`, if it sent one (with
        /// `slow_down` or `temporarily_unavailable`, say).
        retry_after: Option<Duration>,
    },

    /// The answer could not be understood: malformed JSON, a missing or invalid
    /// field, a wrong content type, or a document that contradicts the request.
    #[error("{endpoint}: invalid response: {reason}")]
    InvalidResponse {
        /// The URL that was called (without query).
        endpoint: String,
        /// What was wrong with it.
        reason: String,
    },

    /// The answer was larger than the configured cap and was not read further.
    #[error("{endpoint}: response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The URL that was called (without query).
        endpoint: String,
        /// The cap in bytes.
        limit: usize,
    },

    /// The server answered with a redirect; redirects are never followed for
    /// discovery, token, JWKS, introspection or revocation requests.
    #[error("{endpoint}: redirected (HTTP {status}); configure the final URL instead")]
    Redirect {
        /// The URL that was called (without query).
        endpoint: String,
        /// The 3xx status.
        status: u16,
    },

    /// The discovery document names another issuer than the one configured.
    #[error("{endpoint}: issuer mismatch: expected `{expected}`, the document says `{found}`")]
    IssuerMismatch {
        /// The discovery URL.
        endpoint: String,
        /// The configured issuer.
        expected: String,
        /// The issuer in the document.
        found: String,
    },

    /// A URL is not allowed: plain `http` to a host that is not a loopback address,
    /// or a URL that cannot be used as an endpoint at all.
    #[error("refusing to use `{url}`: {reason}")]
    InsecureUrl {
        /// The URL (without query).
        url: String,
        /// Why it was refused.
        reason: String,
    },

    /// The configuration is invalid: what [`ConfigError`] says, met at run time
    /// (for example a provider that lacks an endpoint a feature needs) or passed
    /// on with `?` from a builder.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// The refresh token was rejected (`invalid_grant`: expired, revoked or
    /// already used); the user must sign in again. Permanent for this source.
    #[error("{endpoint}: the refresh token was rejected{}; sign in again", describe(.description.as_deref()))]
    SignInAgain {
        /// The token endpoint.
        endpoint: String,
        /// The server's `error_description`, if any.
        description: Option<String>,
    },

    /// A new refresh token could not be saved by the application's store. The
    /// token is kept in memory and saving is tried again on the next request.
    #[error("the new refresh token could not be saved: {0}")]
    Persist(String),

    /// The token source handed out a token that had already expired, such as a
    /// provider's answer with `expires_in: 0` (or less).
    /// [`CachedTokenSource`](crate::CachedTokenSource) never stores nor hands out
    /// such a token: it is a provider fault, retried after a back-off, since
    /// asking again at once would make one token request per call (at ERP.net,
    /// each opening a licensed session). Transient.
    #[error(
        "the token source returned a token that had already expired (a lifetime of zero or \
         less): a provider fault, retried after a back-off"
    )]
    ExpiredOnArrival,

    /// A failure reported by a [`TokenSource`](crate::TokenSource) written outside
    /// this crate.
    #[error("{message}")]
    Source {
        /// What went wrong, as the source describes it.
        message: String,
        /// Whether trying again later may succeed.
        transient: bool,
    },
}

impl Error {
    /// Whether trying the same request again later may succeed: time-outs,
    /// connection failures, HTTP 408, 429 and 5xx, malformed answers (often a proxy
    /// error page) and the OAuth codes `temporarily_unavailable` and `slow_down`.
    ///
    /// Permanent errors such as `invalid_client`, `invalid_scope`,
    /// `unauthorized_client` or `invalid_grant` need a change of configuration or a
    /// new sign-in; retrying them only burdens the provider.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport { .. }
            | Error::Timeout { .. }
            | Error::InvalidResponse { .. }
            | Error::ExpiredOnArrival
            | Error::Persist(_) => true,
            Error::Status { status, .. } => status_is_transient(*status),
            Error::OAuth { code, .. } => code.is_transient(),
            Error::Source { transient, .. } => *transient,
            Error::BodyTooLarge { .. }
            | Error::Redirect { .. }
            | Error::IssuerMismatch { .. }
            | Error::InsecureUrl { .. }
            | Error::Config(_)
            | Error::SignInAgain { .. } => false,
        }
    }

    /// The wait the server asked for with `Retry-After` (RFC 9110 §10.2.3), in
    /// seconds or as an HTTP-date, when it sent one with an error status: a `429`
    /// or `503` from a token endpoint, say. [`CachedTokenSource`](crate::CachedTokenSource)
    /// waits that long before its next attempt instead of its own back-off.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Status { retry_after, .. } | Error::OAuth { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The OAuth error code, when the authorization server sent one.
    pub fn oauth_code(&self) -> Option<&OAuthErrorCode> {
        match self {
            Error::OAuth { code, .. } => Some(code),
            _ => None,
        }
    }

    /// An error for a custom [`TokenSource`](crate::TokenSource).
    ///
    /// `message` must not contain secrets.
    pub fn source_failed(message: impl Into<String>, transient: bool) -> Self {
        Error::Source {
            message: message.into(),
            transient,
        }
    }
}

/// Whether an HTTP status says "try again later": 408, 429 and 5xx.
pub fn status_is_transient(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

/// A configuration that cannot work, found when it is built (`build()` of a
/// grant, validator or adapter) or when it is first used.
///
/// Separate from [`Error`], which is what can go wrong at run time; `?` turns
/// one into the other ([`Error::Config`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting is missing or has a value that cannot work, such as an empty
    /// client id, no scopes, or an unknown ERP.net instance name.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// A URL that would carry secrets without protection: plain `http` to a
    /// host that is not a loopback address, or not an `http(s)` URL at all.
    #[error("refusing to use `{url}`: {reason}")]
    InsecureUrl {
        /// The URL (without query or user information).
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The HTTP client could not be built (for example no TLS backend could be
    /// initialised). Never replaced by a client with another policy.
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
}

impl ConfigError {
    /// A missing or invalid setting; `message` says which and what to do.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}

fn retry_hint(status: u16) -> &'static str {
    if status_is_transient(status) {
        " (will retry)"
    } else {
        ""
    }
}

fn describe(description: Option<&str>) -> String {
    description.map(|d| format!(": {d}")).unwrap_or_default()
}

/// An RFC 6749 §5.2 error code, as sent in the `error` field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OAuthErrorCode {
    /// `invalid_request`: a parameter is missing, repeated or malformed.
    InvalidRequest,
    /// `invalid_client`: unknown client, wrong secret or wrong authentication method.
    InvalidClient,
    /// `invalid_grant`: the code, refresh token or credentials are invalid, expired
    /// or revoked. For a refresh token this means: sign in again.
    InvalidGrant,
    /// `unauthorized_client`: the client may not use this grant type.
    UnauthorizedClient,
    /// `unsupported_grant_type`: the server does not support this grant type.
    UnsupportedGrantType,
    /// `invalid_scope`: a requested scope is unknown or not allowed for the client.
    InvalidScope,
    /// `invalid_target` (RFC 8707): a requested `resource` is unknown or not
    /// allowed for the client.
    InvalidTarget,
    /// `temporarily_unavailable` (transient).
    TemporarilyUnavailable,
    /// `slow_down` (transient).
    SlowDown,
    /// Any other code, such as ERP.net's `invalid_redirect_uri`.
    Other(String),
}

impl OAuthErrorCode {
    /// Parses the `error` field of an error response.
    pub fn parse(code: &str) -> Self {
        match code {
            "invalid_request" => Self::InvalidRequest,
            "invalid_client" => Self::InvalidClient,
            "invalid_grant" => Self::InvalidGrant,
            "unauthorized_client" => Self::UnauthorizedClient,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "invalid_scope" => Self::InvalidScope,
            "invalid_target" => Self::InvalidTarget,
            "temporarily_unavailable" => Self::TemporarilyUnavailable,
            "slow_down" => Self::SlowDown,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The code as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::SlowDown => "slow_down",
            Self::Other(code) => code,
        }
    }

    /// Whether the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::TemporarilyUnavailable | Self::SlowDown)
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
