//! The device authorizations (RFC 8628) the mock has handed out, and the decisions tests
//! make on them. Aged by the Tokio clock, so a paused test clock controls them.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::jwt::{self, SignIn};
use crate::keys::random_hex;
use crate::user::User;

/// Where a device authorization stands.
#[derive(Debug, Clone)]
pub(crate) enum Status {
    Pending,
    Approved(Box<SignIn>),
    Denied,
    Redeemed,
}

/// One device authorization.
#[derive(Debug)]
pub(crate) struct Authorization {
    pub(crate) client_id: String,
    pub(crate) user_code: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires_at: Instant,
    pub(crate) interval: Duration,
    pub(crate) last_poll: Option<Instant>,
    pub(crate) status: Status,
}

/// The device authorizations by device code.
#[derive(Debug, Default)]
pub(crate) struct DeviceCodes {
    pub(crate) by_device_code: HashMap<String, Authorization>,
}

impl DeviceCodes {
    /// Approves (signs `user` in) or denies the pending authorization with `user_code`;
    /// `false` when there is none.
    pub(crate) fn decide(&mut self, user_code: &str, user: Option<User>) -> bool {
        let now = Instant::now();
        let Some(authorization) = self.by_device_code.values_mut().find(|a| {
            a.user_code == user_code && matches!(a.status, Status::Pending) && now < a.expires_at
        }) else {
            return false;
        };
        authorization.status = match user {
            Some(user) => Status::Approved(Box::new(SignIn {
                user,
                sid: random_hex(16),
                auth_time: jwt::now(),
            })),
            None => Status::Denied,
        };
        true
    }

    /// The user codes waiting for a decision, in no particular order.
    pub(crate) fn pending_user_codes(&self) -> Vec<String> {
        let now = Instant::now();
        self.by_device_code
            .values()
            .filter(|a| matches!(a.status, Status::Pending) && now < a.expires_at)
            .map(|a| a.user_code.clone())
            .collect()
    }
}
