//! The one error type of this crate.

/// Why [`BearerAuth`](crate::BearerAuth) or [`SessionPacing`](crate::SessionPacing) did not
/// send a request.
///
/// It reaches the caller inside [`reqwest_middleware::Error::Middleware`];
/// [`Error::downcast`] gets it back out. No variant ever carries a secret: the
/// client secret and access tokens are never part of an error, its `Display` or
/// its `Debug` output.
///
/// ```
/// use erpnet_auth_reqwest::Error;
///
/// fn explain(error: &reqwest_middleware::Error) -> String {
///     match Error::downcast(error) {
///         Some(auth) if auth.is_transient() => format!("no token yet, try again later: {auth}"),
///         Some(auth) => format!("fix the configuration: {auth}"),
///         None => format!("the request failed: {error}"),
///     }
/// }
/// # let _ = explain;
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No access token could be obtained from the token source, so the request
    /// was not sent. Transient or permanent as the source error is.
    #[error("no access token for {origin}, so the request was not sent: {source}")]
    Token {
        /// The origin the request was for (`https://host[:port]`).
        origin: String,
        /// What the token source reported: endpoint, reason, whether transient.
        /// (Boxed: it is large, and errors travel on the cold path.)
        #[source]
        source: Box<erpnet_auth_core::Error>,
    },

    /// A value given to [`allow_origin`](crate::BearerAuth::allow_origin) is not
    /// an origin (`https://host[:port]`).
    #[error("BearerAuth: `{origin}` is not an origin: {reason}")]
    InvalidOrigin {
        /// The value as given.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },

    /// An allowed origin uses plain `http` to a host that is not a loopback
    /// address: tokens would travel unencrypted.
    #[error(
        "BearerAuth: refusing to send tokens to `{origin}`: plain http is allowed only to \
         loopback addresses; use https"
    )]
    InsecureOrigin {
        /// The origin.
        origin: String,
    },

    /// No origin was allowed, so no request would ever get a token.
    #[error(
        "BearerAuth allows no origin, so it would never attach a token: call \
         allow_origin(\"https://…\") with the origin of the API"
    )]
    NoOriginAllowed,

    /// The token source handed out a token with characters that are not allowed
    /// in an HTTP header, so the request was not sent.
    #[error(
        "the access token for {origin} contains characters not allowed in an HTTP header, \
         so the request was not sent"
    )]
    InvalidTokenValue {
        /// The origin the request was for.
        origin: String,
    },

    /// [`SessionPacing`](crate::SessionPacing) gave the request no turn (its session's
    /// queue was full, or the turn would have come after the queue's time-out), so it was
    /// not sent. Transient.
    #[error(transparent)]
    Pacing(#[from] erpnet_auth_core::pacing::PacingError),
}

impl Error {
    /// Whether the same request may succeed later: when the token source
    /// failed transiently (time-out, refused connection, HTTP 429 or 5xx from the
    /// token endpoint), or the pacing gave it no turn. Configuration errors and
    /// permanent token errors such as `invalid_client` need a change before
    /// anything can succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Token { source, .. } => source.is_transient(),
            Error::Pacing(error) => error.is_transient(),
            Error::InvalidOrigin { .. }
            | Error::InsecureOrigin { .. }
            | Error::NoOriginAllowed
            | Error::InvalidTokenValue { .. } => false,
        }
    }

    /// The token source's error, when that is why the request was not sent.
    pub fn token_error(&self) -> Option<&erpnet_auth_core::Error> {
        match self {
            Error::Token { source, .. } => Some(source),
            _ => None,
        }
    }

    /// This crate's error inside a `reqwest_middleware::Error`, if it holds one.
    pub fn downcast(error: &reqwest_middleware::Error) -> Option<&Error> {
        match error {
            reqwest_middleware::Error::Middleware(inner) => inner.downcast_ref(),
            reqwest_middleware::Error::Reqwest(_) => None,
        }
    }
}

impl From<Error> for reqwest_middleware::Error {
    fn from(error: Error) -> Self {
        reqwest_middleware::Error::middleware(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_a_middleware_error() {
        let error = Error::Token {
            origin: "https://demo.my.erp.net".to_owned(),
            source: Box::new(erpnet_auth_core::Error::source_failed(
                "provider down",
                true,
            )),
        };
        let wrapped = reqwest_middleware::Error::from(error);
        let found = Error::downcast(&wrapped).expect("our error");
        assert!(found.is_transient());
        assert!(found.token_error().is_some());
        assert!(wrapped.to_string().contains("provider down"), "{wrapped}");
        assert!(!Error::NoOriginAllowed.is_transient());
    }
}
