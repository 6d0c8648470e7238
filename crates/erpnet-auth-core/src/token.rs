//! The access token a [`TokenSource`](crate::TokenSource) hands out.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

/// An access token: the secret value, its type, its expiry and its granted scopes.
///
/// Cloning is cheap (one reference count). The secret is kept in a
/// [`SecretString`], which is wiped from memory when the last clone is dropped,
/// and is never printed: `Debug` shows `[redacted]`.
///
/// ```
/// use std::time::Duration;
/// use erpnet_auth_core::AccessToken;
///
/// let token = AccessToken::new("enrt_0123")
///     .with_expires_in(Duration::from_secs(3600))
///     .with_scopes(["read", "update"]);
/// assert_eq!(token.token_type(), "Bearer");
/// assert!(token.has_scope("read"));
/// assert!(!format!("{token:?}").contains("enrt_0123"));
/// ```
#[derive(Clone)]
pub struct AccessToken(Arc<Inner>);

// Cache-line aligned: the reference count of a token shares its line with no
// other data, so threads cloning different copies of a cached token (see
// `cache.rs`) never contend through false sharing.
#[repr(align(64))]
struct Inner {
    secret: SecretString,
    token_type: String,
    expires_at: Option<Instant>,
    scopes: Vec<String>,
}

impl AccessToken {
    /// A bearer token with unknown expiry and no scope information.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(Arc::new(Inner {
            secret: SecretString::from(secret.into()),
            token_type: "Bearer".to_owned(),
            expires_at: None,
            scopes: Vec::new(),
        }))
    }

    fn edit(mut self, change: impl FnOnce(&mut Inner)) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            change(inner);
            return self;
        }
        let mut copy = self.copy_inner();
        change(&mut copy);
        Self(Arc::new(copy))
    }

    fn copy_inner(&self) -> Inner {
        Inner {
            secret: SecretString::from(self.0.secret.expose_secret().to_owned()),
            token_type: self.0.token_type.clone(),
            expires_at: self.0.expires_at,
            scopes: self.0.scopes.clone(),
        }
    }

    /// An equal token in its own allocation, so that threads cloning different
    /// copies do not contend on one reference count.
    pub(crate) fn duplicate(&self) -> Self {
        Self(Arc::new(self.copy_inner()))
    }

    /// Sets the token type; `bearer` in any case is normalised to `Bearer`.
    pub fn with_token_type(self, token_type: impl Into<String>) -> Self {
        let token_type = token_type.into();
        self.edit(|inner| {
            inner.token_type = if token_type.eq_ignore_ascii_case("bearer") {
                "Bearer".to_owned()
            } else {
                token_type
            }
        })
    }

    /// Sets the expiry to `lifetime` from now. A lifetime beyond what the
    /// clock can represent leaves the expiry unknown.
    pub fn with_expires_in(self, lifetime: Duration) -> Self {
        let at = Instant::now().checked_add(lifetime);
        self.edit(|inner| inner.expires_at = at)
    }

    /// Sets the expiry to an instant of tokio's clock.
    pub fn with_expires_at(self, at: Instant) -> Self {
        self.edit(|inner| inner.expires_at = Some(at))
    }

    /// Sets the granted scopes.
    pub fn with_scopes<I, S>(self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes = scopes.into_iter().map(Into::into).collect();
        self.edit(|inner| inner.scopes = scopes)
    }

    /// The secret value. Handle it with care: never log it.
    pub fn expose_secret(&self) -> &str {
        self.0.secret.expose_secret()
    }

    /// The token type, `Bearer` for every token ERP.net issues.
    pub fn token_type(&self) -> &str {
        &self.0.token_type
    }

    /// When the token expires, if known (tokio's clock).
    pub fn expires_at(&self) -> Option<Instant> {
        self.0.expires_at
    }

    /// How long the token remains valid, if its expiry is known; zero once expired.
    pub fn expires_in(&self) -> Option<Duration> {
        self.0
            .expires_at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Whether the token's known expiry has passed.
    pub fn is_expired(&self) -> bool {
        self.0.expires_at.is_some_and(|at| at <= Instant::now())
    }

    /// The granted scopes, as the token endpoint reported them (or as requested,
    /// when it did not say).
    pub fn scopes(&self) -> &[String] {
        &self.0.scopes
    }

    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.0.scopes.iter().any(|s| s == scope)
    }

    /// The value for an `Authorization` header (`Bearer <token>`), marked sensitive
    /// so that HTTP libraries leave it out of their logs.
    ///
    /// Fails only if the token contains characters that are not allowed in a
    /// header, which a well-behaved provider never issues.
    pub fn authorization_header(
        &self,
    ) -> Result<http::HeaderValue, http::header::InvalidHeaderValue> {
        let mut value =
            http::HeaderValue::try_from(format!("{} {}", self.token_type(), self.expose_secret()))?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// Whether both handles share one allocation (a cheap identity check).
    pub(crate) fn ptr_eq(&self, other: &AccessToken) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// A handle that does not keep the token (and its secret) alive.
    pub(crate) fn downgrade(&self) -> WeakToken {
        WeakToken(Arc::downgrade(&self.0))
    }
}

/// A weak handle on an [`AccessToken`]: once every strong handle is dropped the
/// secret is wiped, whatever weak handles remain.
pub(crate) struct WeakToken(Weak<Inner>);

impl WeakToken {
    /// A handle that never upgrades.
    pub(crate) const EMPTY: WeakToken = WeakToken(Weak::new());

    /// The token, if a strong handle still exists.
    #[inline]
    pub(crate) fn upgrade(&self) -> Option<AccessToken> {
        self.0.upgrade().map(AccessToken)
    }
}

/// Two tokens are equal when their secret values are equal.
impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        self.ptr_eq(other) || constant_time_eq(self.expose_secret(), other.expose_secret())
    }
}

impl Eq for AccessToken {}

/// Compares two secrets (tokens, `state` values, nonces) without an early exit
/// that would reveal where they differ. Only their lengths may leak.
///
/// ```
/// assert!(erpnet_auth_core::constant_time_eq("abc", "abc"));
/// assert!(!erpnet_auth_core::constant_time_eq("abc", "abd"));
/// ```
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"[redacted]")
            .field("token_type", &self.0.token_type)
            .field("expires_in", &self.expires_in())
            .field("scopes", &self.0.scopes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let token = AccessToken::new("super-secret-token-value").with_scopes(["read"]);
        let shown = format!("{token:?} {token:#?}");
        assert!(!shown.contains("super-secret-token-value"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn builders_edit_a_shared_token_without_touching_other_clones() {
        let token = AccessToken::new("abc");
        let clone = token.clone();
        let typed = token.with_token_type("bearer").with_scopes(["read"]);
        assert_eq!(typed.token_type(), "Bearer");
        assert!(clone.scopes().is_empty());
        assert_eq!(typed, clone, "same secret");
        assert!(!typed.ptr_eq(&clone));
    }

    #[test]
    fn header_is_sensitive() {
        let header = AccessToken::new("abc")
            .authorization_header()
            .expect("valid header");
        assert!(header.is_sensitive());
        assert_eq!(header, "Bearer abc");
        assert!(AccessToken::new("a\nb").authorization_header().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn expiry_follows_tokio_clock() {
        let token = AccessToken::new("abc").with_expires_in(Duration::from_secs(10));
        assert!(!token.is_expired());
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(token.is_expired());
        assert_eq!(token.expires_in(), Some(Duration::ZERO));
    }

    #[test]
    fn a_lifetime_beyond_the_clock_is_no_known_expiry_not_a_panic() {
        let token = AccessToken::new("abc").with_expires_in(Duration::MAX);
        assert_eq!(token.expires_at(), None);
        assert!(!token.is_expired());
    }
}
