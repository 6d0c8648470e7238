//! What this crate keeps in a tower-sessions session (server-side; the cookie holds only the
//! session id): the sign-in attempts on their way, and which sign-in the session holds.
//! Tokens are not here but in the [`SignInStore`](crate::SignInStore), so that an
//! application writing its own data into the session can never write back a stale refresh
//! token.

use std::fmt;

use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use url::Url;

use crate::error::WebError;

/// The key of this crate's state in the session.
const SESSION_KEY: &str = "erpnet_auth";
/// At most this many sign-ins may be on their way in one session (several tabs); the oldest
/// goes first.
const MAX_PENDING: usize = 5;
/// A sign-in attempt older than this is forgotten (the provider's codes live 5 minutes).
const PENDING_LIFETIME_SECS: i64 = 900;

/// This crate's part of a session.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct SessionState {
    #[serde(default)]
    pub(crate) pending: Vec<PendingSignIn>,
    #[serde(default)]
    pub(crate) signed_in: Option<SignedInRef>,
}

/// A sign-in on its way to the provider and back: the secrets of its authorization request,
/// and where to go afterwards.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct PendingSignIn {
    pub(crate) state: String,
    pub(crate) nonce: String,
    pub(crate) code_verifier: String,
    pub(crate) redirect_uri: Url,
    #[serde(default)]
    pub(crate) resources: Vec<String>,
    /// A same-site path (and query) to return to.
    pub(crate) return_to: String,
    pub(crate) started_at: i64,
}

/// The sign-in a session holds: the key of its record in the store, and the session's CSRF
/// token for the sign-out form.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct SignedInRef {
    pub(crate) key: String,
    pub(crate) csrf: String,
}

impl SessionState {
    pub(crate) async fn load(session: &Session) -> Result<SessionState, WebError> {
        Ok(session
            .get::<SessionState>(SESSION_KEY)
            .await
            .map_err(WebError::session)?
            .unwrap_or_default())
    }

    pub(crate) async fn save(&self, session: &Session) -> Result<(), WebError> {
        session
            .insert(SESSION_KEY, self)
            .await
            .map_err(WebError::session)
    }

    /// Adds a sign-in attempt, forgetting stale and surplus ones.
    pub(crate) fn push_pending(&mut self, pending: PendingSignIn, now: i64) {
        self.pending
            .retain(|p| now.saturating_sub(p.started_at) < PENDING_LIFETIME_SECS);
        while self.pending.len() >= MAX_PENDING {
            self.pending.remove(0);
        }
        self.pending.push(pending);
    }

    /// Takes the attempt whose `state` this is (compared in constant time).
    pub(crate) fn take_pending(&mut self, state: &str, now: i64) -> Option<PendingSignIn> {
        let index = self.pending.iter().position(|p| {
            erpnet_auth_core::constant_time_eq(&p.state, state)
                && now.saturating_sub(p.started_at) < PENDING_LIFETIME_SECS
        })?;
        Some(self.pending.remove(index))
    }
}

impl fmt::Debug for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionState")
            .field("pending", &self.pending.len())
            .field("signed_in", &self.signed_in.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(state: &str, started_at: i64) -> PendingSignIn {
        PendingSignIn {
            state: state.to_owned(),
            nonce: "n".to_owned(),
            code_verifier: "v".to_owned(),
            redirect_uri: Url::parse("http://127.0.0.1/callback").expect("url"),
            resources: Vec::new(),
            return_to: "/".to_owned(),
            started_at,
        }
    }

    #[test]
    fn pending_sign_ins_are_bounded_in_number_and_age() {
        let mut state = SessionState::default();
        for i in 0..7 {
            state.push_pending(pending(&format!("s{i}"), 1000), 1000);
        }
        assert_eq!(state.pending.len(), MAX_PENDING);
        assert!(
            state.take_pending("s0", 1000).is_none(),
            "the oldest went first"
        );
        assert!(state.take_pending("s6", 1000).is_some());
        assert!(state.take_pending("s6", 1000).is_none(), "taken once");
        assert!(
            state
                .take_pending("s5", 1000 + PENDING_LIFETIME_SECS)
                .is_none(),
            "stale"
        );
        state.push_pending(pending("new", 5000), 5000);
        assert_eq!(state.pending.len(), 1, "stale attempts dropped");
        assert!(!format!("{state:?}").contains("new"));
    }
}
