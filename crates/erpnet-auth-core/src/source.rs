//! The [`TokenSource`] trait: where access tokens come from.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Error;
use crate::token::AccessToken;

/// Anything that can produce an access token.
///
/// This is the extension point of erpnet-auth. The grants implement it
/// ([`StaticToken`] here; `ClientCredentials` and `RefreshTokenGrant` in
/// `erpnet-auth-oidc`), the
/// adapters consume it, and [`CachedTokenSource`](crate::CachedTokenSource)
/// wraps any implementation with a lock-free cache and single-flight refresh.
///
/// It is object safe: hold an `Arc<dyn TokenSource>` to mix sources at run time.
///
/// A source of your own takes a few lines:
///
/// ```
/// use async_trait::async_trait;
/// use erpnet_auth_core::{AccessToken, Error, TokenSource};
///
/// struct FromVault;
///
/// #[async_trait]
/// impl TokenSource for FromVault {
///     async fn token(&self) -> Result<AccessToken, Error> {
///         let value = std::env::var("API_TOKEN")
///             .map_err(|_| Error::source_failed("API_TOKEN is not set", false))?;
///         Ok(AccessToken::new(value))
///     }
/// }
/// ```
#[async_trait]
pub trait TokenSource: Send + Sync + 'static {
    /// Returns a token to use now. May wait on the network.
    async fn token(&self) -> Result<AccessToken, Error>;

    /// Returns a token that is known to be usable right now, without waiting and
    /// without allocating, or `None` when the caller must call
    /// [`token`](Self::token).
    ///
    /// Adapters call this first on their hot path. The default returns `None`.
    fn cached_token(&self) -> Option<AccessToken> {
        None
    }

    /// Tells the source that a resource server rejected `token` (HTTP 401), so it
    /// should not hand that token out again. The default does nothing.
    fn report_rejected(&self, token: &AccessToken) {
        let _ = token;
    }
}

#[async_trait]
impl<T: TokenSource + ?Sized> TokenSource for Arc<T> {
    async fn token(&self) -> Result<AccessToken, Error> {
        (**self).token().await
    }
    fn cached_token(&self) -> Option<AccessToken> {
        (**self).cached_token()
    }
    fn report_rejected(&self, token: &AccessToken) {
        (**self).report_rejected(token)
    }
}

#[async_trait]
impl<T: TokenSource + ?Sized> TokenSource for Box<T> {
    async fn token(&self) -> Result<AccessToken, Error> {
        (**self).token().await
    }
    fn cached_token(&self) -> Option<AccessToken> {
        (**self).cached_token()
    }
    fn report_rejected(&self, token: &AccessToken) {
        (**self).report_rejected(token)
    }
}

/// A [`TokenSource`] made from an async closure; see [`token_source_fn`].
pub struct FnTokenSource<F>(F);

/// Turns an async closure into a [`TokenSource`].
///
/// ```
/// use erpnet_auth_core::{AccessToken, TokenSource, token_source_fn};
///
/// let source = token_source_fn(|| async { Ok(AccessToken::new("from-a-closure")) });
/// # let _ = source;
/// ```
pub fn token_source_fn<F, Fut>(f: F) -> FnTokenSource<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<AccessToken, Error>> + Send,
{
    FnTokenSource(f)
}

#[async_trait]
impl<F, Fut> TokenSource for FnTokenSource<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<AccessToken, Error>> + Send,
{
    async fn token(&self) -> Result<AccessToken, Error> {
        (self.0)().await
    }
}

impl<F> fmt::Debug for FnTokenSource<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnTokenSource")
    }
}

/// A token issued elsewhere: an ERP.net personal or system access token
/// (PAT/SAT, `enrt_…`), or any pre-issued bearer token.
///
/// It is never refreshed. If an expiry is given, the token is refused once it has
/// passed, with a permanent error that says to issue a new one.
///
/// ```
/// use erpnet_auth_core::StaticToken;
///
/// let pat = StaticToken::new(std::env::var("ERPNET_PAT").unwrap_or_default());
/// # let _ = pat;
/// ```
#[derive(Debug, Clone)]
pub struct StaticToken {
    token: AccessToken,
}

impl StaticToken {
    /// A bearer token with no known expiry.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: AccessToken::new(token),
        }
    }

    /// Uses a fully described token (expiry, scopes).
    pub fn from_token(token: AccessToken) -> Self {
        Self { token }
    }

    /// Whether the token looks like an ERP.net reference access token (PAT or
    /// SAT): `enrt_` followed by 64 hexadecimal characters.
    pub fn is_erpnet_reference_token(&self) -> bool {
        is_erpnet_reference_token(self.token.expose_secret())
    }
}

/// Whether `token` has the shape of an ERP.net reference access token (PAT or
/// SAT): `enrt_` followed by 64 hexadecimal characters.
pub fn is_erpnet_reference_token(token: &str) -> bool {
    token
        .strip_prefix("enrt_")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[async_trait]
impl TokenSource for StaticToken {
    async fn token(&self) -> Result<AccessToken, Error> {
        if self.token.is_expired() {
            return Err(Error::source_failed(
                "the static access token has expired; issue a new one",
                false,
            ));
        }
        Ok(self.token.clone())
    }

    fn cached_token(&self) -> Option<AccessToken> {
        (!self.token.is_expired()).then(|| self.token.clone())
    }

    fn report_rejected(&self, _token: &AccessToken) {
        tracing::warn!(
            "a resource server rejected the static access token; it may have been revoked or have expired"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn recognises_reference_tokens() {
        let hex = "0123456789abcdef".repeat(4);
        assert!(is_erpnet_reference_token(&format!("enrt_{hex}")));
        assert!(!is_erpnet_reference_token(&format!("enrt_{}", &hex[1..])));
        assert!(!is_erpnet_reference_token("eyJhbGciOi.x.y"));
        assert!(StaticToken::new(format!("enrt_{hex}")).is_erpnet_reference_token());
    }

    #[tokio::test(start_paused = true)]
    async fn static_token_is_refused_after_its_expiry() {
        let source = StaticToken::from_token(
            AccessToken::new("pat").with_expires_in(Duration::from_secs(60)),
        );
        assert_eq!(source.token().await.expect("valid").expose_secret(), "pat");
        assert!(source.cached_token().is_some());
        tokio::time::advance(Duration::from_secs(61)).await;
        let err = source.token().await.expect_err("expired");
        assert!(!err.is_transient());
        assert!(source.cached_token().is_none());
    }

    #[tokio::test]
    async fn arc_dyn_box_and_closures_are_sources() {
        let closure = token_source_fn(|| async { Ok(AccessToken::new("c")) });
        let dynamic: Arc<dyn TokenSource> = Arc::new(closure);
        let boxed: Box<dyn TokenSource> = Box::new(dynamic.clone());
        assert_eq!(boxed.token().await.expect("token").expose_secret(), "c");
        assert!(boxed.cached_token().is_none());
    }
}
