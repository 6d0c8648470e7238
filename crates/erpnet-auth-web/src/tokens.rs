//! [`UserTokens`]: the signed-in user's access token as a [`TokenSource`], to call ERP.net as
//! the user (with `BearerAuth` or `AddBearerLayer`).

use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use erpnet_auth_core::sync::lock;
use erpnet_auth_core::{AccessToken, Error, TokenSource};

use crate::config::WebSignIn;

/// The access token of one signed-in user, refreshed with their rotating refresh token when
/// it is due: one refresh per sign-in however many requests need it at once, across every
/// replica that shares the store. Get it from [`SignedIn::tokens`](crate::SignedIn::tokens),
/// or extract it directly (`UserTokens` is an axum extractor, answered like
/// [`SignedIn`](crate::SignedIn) when nobody is signed in).
///
/// [`token`](TokenSource::token) fails with [`Error::SignInAgain`] once the sign-in has ended
/// (signed out elsewhere, or the provider refused the refresh token): send the user to the
/// sign-in route. A transient failure of a refresh hands out the current token while it is
/// still valid. [`report_rejected`](TokenSource::report_rejected) after a 401 makes the next
/// call refresh.
#[derive(Clone)]
pub struct UserTokens {
    web: WebSignIn,
    key: Arc<str>,
    rejected: Arc<Mutex<Option<AccessToken>>>,
}

impl UserTokens {
    pub(crate) fn new(web: WebSignIn, key: &str) -> UserTokens {
        UserTokens {
            web,
            key: Arc::from(key),
            rejected: Arc::default(),
        }
    }
}

#[async_trait]
impl TokenSource for UserTokens {
    async fn token(&self) -> Result<AccessToken, Error> {
        let rejected = lock(&self.rejected).clone();
        self.web.access_token(&self.key, rejected.as_ref()).await
    }

    fn report_rejected(&self, token: &AccessToken) {
        *lock(&self.rejected) = Some(token.clone());
    }
}

impl fmt::Debug for UserTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserTokens").finish_non_exhaustive()
    }
}
