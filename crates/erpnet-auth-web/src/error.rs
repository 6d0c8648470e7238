//! [`WebError`]: what can go wrong in the sign-in routes, the layer and the extractors, and
//! the answer each failure gets.

use axum::response::{IntoResponse, Response};
use http::StatusCode;

use erpnet_auth_oidc::SignInError;

use crate::pages;
use crate::store::StoreError;

/// Why a sign-in route, [`RequireSignIn`](crate::RequireSignIn) or an extractor could not do
/// its work. No variant carries a secret: codes, tokens, session ids and CSRF tokens are
/// never part of a message.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// The sign-in failed: the provider refused, the callback did not belong to a sign-in
    /// of this browser, the code exchange or the ID token failed.
    #[error(transparent)]
    SignIn(#[from] SignInError),

    /// The store of sign-ins failed (503: the session is kept).
    #[error(transparent)]
    Store(#[from] StoreError),

    /// The session could not be read or written (503).
    #[error("the session store failed: {0}")]
    Session(String),

    /// A sign-out form without this session's CSRF token (403).
    #[error("the sign-out request does not carry this session's CSRF token")]
    Csrf,

    /// Something that should never fail did (the random number generator) (500).
    #[error("{0}")]
    Internal(String),
}

impl WebError {
    pub(crate) fn session(error: tower_sessions::session::Error) -> WebError {
        WebError::Session(error.to_string())
    }

    /// Whether trying again later may succeed: a store that could not be reached, a
    /// transient failure of the provider.
    pub fn is_transient(&self) -> bool {
        match self {
            WebError::SignIn(error) => error.is_transient(),
            WebError::Store(_) | WebError::Session(_) => true,
            WebError::Csrf | WebError::Internal(_) => false,
        }
    }

    /// The HTTP status this failure answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::SignIn(SignInError::Authorization { .. }) => StatusCode::FORBIDDEN,
            WebError::SignIn(error) if error.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            WebError::SignIn(_) => StatusCode::BAD_REQUEST,
            WebError::Store(_) | WebError::Session(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for WebError {
    /// A small HTML page naming the failure (escaped), never a secret.
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "sign-in failure");
        } else {
            tracing::warn!(error = %self, "sign-in refused");
        }
        let title = match &self {
            WebError::SignIn(SignInError::Authorization { .. }) => "Sign-in cancelled",
            WebError::SignIn(_) => "Sign-in failed",
            WebError::Csrf => "Sign-out refused",
            _ => "Service unavailable",
        };
        pages::message(status, title, &self.to_string())
    }
}
