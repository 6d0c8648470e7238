//! One user's sign-in as the [`SignInStore`](crate::SignInStore) keeps it: their claims and
//! tokens, serialized as JSON. It never leaves the server.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use erpnet_auth_core::AccessToken;

use crate::store::StoreError;

/// Claims of an ID token that say how it was issued, not who signed in: left out of the
/// user's claims.
const PROTOCOL_CLAIMS: [&str; 9] = [
    "iss", "aud", "exp", "iat", "nbf", "nonce", "at_hash", "c_hash", "azp",
];

/// A sign-in: who, their tokens, and how many times they were refreshed.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct SignInRecord {
    /// `sub` of the ID token.
    pub(crate) subject: String,
    /// `sid` of the ID token: the provider's session.
    pub(crate) session_id: Option<String>,
    /// The user's claims: the ID token's, with userinfo's over them.
    pub(crate) claims: Map<String, Value>,
    pub(crate) access_token: String,
    /// When the access token expires, seconds since the Unix epoch (a wall-clock time, shared
    /// by every replica); `None` if the provider did not say.
    pub(crate) access_expires_at: Option<i64>,
    pub(crate) scopes: Vec<String>,
    pub(crate) refresh_token: Option<String>,
    /// The raw ID token, for `id_token_hint` at sign-out.
    pub(crate) id_token: Option<String>,
    /// Incremented by every refresh: a request that saw generation `n` due and finds `n + 1`
    /// knows that another request refreshed in the meantime.
    pub(crate) generation: u64,
    /// When the sign-in ends whatever happens, seconds since the Unix epoch.
    pub(crate) expires_at: i64,
}

impl SignInRecord {
    pub(crate) fn to_secret(&self) -> Result<SecretString, StoreError> {
        serde_json::to_string(self)
            .map(SecretString::from)
            .map_err(|e| StoreError(format!("a sign-in could not be serialized: {e}")))
    }

    pub(crate) fn from_secret(value: &SecretString) -> Result<SignInRecord, StoreError> {
        serde_json::from_str(value.expose_secret())
            .map_err(|_| StoreError("a stored sign-in could not be read".into()))
    }

    /// The user's claims from the validated ID token's, protocol claims left out.
    pub(crate) fn user_claims(id_token_claims: &Map<String, Value>) -> Map<String, Value> {
        id_token_claims
            .iter()
            .filter(|(name, _)| !PROTOCOL_CLAIMS.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    }

    /// Whether the access token should be refreshed now: within `margin` of its expiry.
    pub(crate) fn is_due(&self, now: i64, margin: Duration) -> bool {
        let margin = i64::try_from(margin.as_secs()).unwrap_or(i64::MAX);
        self.access_expires_at
            .is_some_and(|at| now >= at.saturating_sub(margin))
    }

    /// Whether the access token has expired.
    pub(crate) fn is_expired(&self, now: i64) -> bool {
        self.access_expires_at.is_some_and(|at| now >= at)
    }

    /// The access token, with its expiry on tokio's clock.
    pub(crate) fn access_token(&self) -> AccessToken {
        let token = AccessToken::new(self.access_token.clone()).with_scopes(self.scopes.clone());
        match self.access_expires_at {
            Some(at) => {
                let left = u64::try_from(at.saturating_sub(unix_now())).unwrap_or(0);
                token.with_expires_in(Duration::from_secs(left))
            }
            None => token,
        }
    }

    /// This sign-in with a refreshed access token and the refresh token that came with it (a
    /// provider that does not rotate sends none, and the old one stays).
    pub(crate) fn refreshed(
        &self,
        access: &AccessToken,
        refresh_token: Option<SecretString>,
    ) -> Self {
        let now = unix_now();
        SignInRecord {
            access_token: access.expose_secret().to_owned(),
            access_expires_at: access
                .expires_in()
                .map(|left| now.saturating_add(i64::try_from(left.as_secs()).unwrap_or(i64::MAX))),
            scopes: if access.scopes().is_empty() {
                self.scopes.clone()
            } else {
                access.scopes().to_vec()
            },
            refresh_token: refresh_token
                .map(|token| token.expose_secret().to_owned())
                .or_else(|| self.refresh_token.clone()),
            generation: self.generation.wrapping_add(1),
            ..self.clone()
        }
    }
}

impl fmt::Debug for SignInRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignInRecord")
            .field("subject", &self.subject)
            .field("access_expires_at", &self.access_expires_at)
            .field("generation", &self.generation)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Seconds since the Unix epoch, by the wall clock (the clock every replica shares).
pub(crate) fn unix_now() -> i64 {
    unix_seconds(SystemTime::now())
}

/// `time` as seconds since the Unix epoch.
pub(crate) fn unix_seconds(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
    })
}
