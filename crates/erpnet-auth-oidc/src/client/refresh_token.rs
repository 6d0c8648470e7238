//! The refresh token grant (RFC 6749 §6), for providers that rotate refresh
//! tokens, as ERP.net does.
//!
//! ERP.net issues a new refresh token with every refresh and revokes the old
//! one; using an old one fails (`invalid_grant`) and may end the whole session.
//! So two refreshes must never run at once with the same refresh token, and
//! every new refresh token must be kept (and saved) before anything else.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use erpnet_auth_core::{AccessToken, ConfigError, Error, OAuthErrorCode, TokenSource};

use crate::client::config::{ClientConfig, EndpointKind};
use crate::scopes::Scopes;

/// Where an application keeps its refresh token between runs.
///
/// [`RefreshTokenGrant`] calls [`save`](Self::save) with every new refresh
/// token, before it hands out the access token that came with it. A failed save
/// is reported as [`Error::Persist`] and tried again on the next request; the
/// new token stays in memory meanwhile, so the session is not lost.
#[async_trait]
pub trait RefreshTokenStore: Send + Sync + 'static {
    /// Saves the newest refresh token. `refresh_token` is a secret: store it
    /// where only the user can read it, never log it.
    async fn save(&self, refresh_token: &SecretString) -> Result<(), Error>;
}

/// A [`RefreshTokenStore`] made from an async closure; see [`refresh_token_store_fn`].
pub struct FnRefreshTokenStore<F>(F);

/// Turns an async closure into a [`RefreshTokenStore`].
pub fn refresh_token_store_fn<F, Fut>(f: F) -> FnRefreshTokenStore<F>
where
    F: Fn(SecretString) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Error>> + Send,
{
    FnRefreshTokenStore(f)
}

#[async_trait]
impl<F, Fut> RefreshTokenStore for FnRefreshTokenStore<F>
where
    F: Fn(SecretString) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Error>> + Send,
{
    async fn save(&self, refresh_token: &SecretString) -> Result<(), Error> {
        (self.0)(SecretString::from(refresh_token.expose_secret().to_owned())).await
    }
}

impl<F> fmt::Debug for FnRefreshTokenStore<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnRefreshTokenStore")
    }
}

/// A [`TokenSource`] that obtains access tokens with a refresh token and keeps
/// the rotated refresh token each time.
///
/// Refreshes are serialised: whatever the number of callers (or caches) using
/// it, one refresh request at a time is made, always with the newest refresh
/// token. Wrap it in a [`CachedTokenSource`](erpnet_auth_core::CachedTokenSource) (seeded
/// with the sign-in's access token through
/// [`CacheBuilder::initial_token`](erpnet_auth_core::CacheBuilder::initial_token)) so that
/// the access token is reused until it is due.
///
/// `invalid_grant` ends the source: every later call fails with
/// [`Error::SignInAgain`] without contacting the provider. Transient failures
/// leave the refresh token as it was, so the cache keeps serving a still-valid
/// access token and retries with back-off.
///
/// ```no_run
/// # fn demo(sign_in: erpnet_auth_oidc::SignIn, discovery: &erpnet_auth_oidc::Discovery) -> Result<(), erpnet_auth_oidc::Error> {
/// use erpnet_auth_oidc::{CachedTokenSource, ClientAuthMethod, ClientConfig, RefreshTokenGrant};
///
/// let client = ClientConfig::builder(discovery, "my.native.app")
///     .auth_method(ClientAuthMethod::None) // a public client
///     .build()?;
/// let grant = RefreshTokenGrant::builder(client, sign_in.refresh_token.expect("offline_access"))
///     .build()?;
/// let tokens = CachedTokenSource::builder(grant)
///     .initial_token(sign_in.access_token)
///     .build();
/// # let _ = tokens; Ok(()) }
/// ```
pub struct RefreshTokenGrant {
    client: ClientConfig,
    scopes: Scopes,
    scope_param: String,
    resources: Vec<String>,
    store: Option<Arc<dyn RefreshTokenStore>>,
    state: tokio::sync::Mutex<State>,
}

struct State {
    refresh_token: SecretString,
    /// Set once the provider refused the refresh token for good.
    ended: Option<Error>,
    /// A refreshed access token whose new refresh token could not be saved yet.
    unsaved: Option<AccessToken>,
}

/// Configures a [`RefreshTokenGrant`].
pub struct RefreshTokenGrantBuilder {
    client: ClientConfig,
    refresh_token: SecretString,
    scopes: Scopes,
    resources: Vec<String>,
    store: Option<Arc<dyn RefreshTokenStore>>,
}

impl RefreshTokenGrant {
    /// Starts configuring the grant for `client` with the refresh token of a
    /// sign-in (or one loaded from the application's store).
    pub fn builder(client: ClientConfig, refresh_token: SecretString) -> RefreshTokenGrantBuilder {
        RefreshTokenGrantBuilder {
            client,
            refresh_token,
            scopes: Scopes::default(),
            resources: Vec::new(),
            store: None,
        }
    }

    /// The client.
    pub fn client(&self) -> &ClientConfig {
        &self.client
    }

    /// The newest refresh token (for an application that saves it itself).
    pub async fn refresh_token(&self) -> SecretString {
        SecretString::from(
            self.state
                .lock()
                .await
                .refresh_token
                .expose_secret()
                .to_owned(),
        )
    }

    async fn refresh(&self, state: &mut State) -> Result<AccessToken, Error> {
        let params = self.form(state.refresh_token.expose_secret());
        let result = self
            .client
            .request_token("refresh_token", &params, self.scopes.as_slice())
            .await;
        let response = match result {
            Ok(response) => response,
            Err(Error::OAuth {
                code: OAuthErrorCode::InvalidGrant,
                endpoint,
                description,
                ..
            }) => {
                let ended = Error::SignInAgain {
                    endpoint,
                    description,
                };
                tracing::warn!(error = %ended, "refresh token rejected; the source has ended");
                state.ended = Some(ended.clone());
                return Err(ended);
            }
            Err(error) => return Err(error),
        };
        // The old refresh token is now revoked: keep the new one before anything
        // else can fail. (A provider that does not rotate sends none.)
        if let Some(new) = response.refresh_token {
            state.refresh_token = new;
            state.unsaved = Some(response.access_token.clone());
            self.save(state).await?;
        }
        Ok(response.access_token)
    }

    /// The refresh request's form (RFC 6749 §6, RFC 8707 §2.2).
    fn form<'a>(&'a self, refresh_token: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        if !self.scope_param.is_empty() {
            form.push(("scope", &self.scope_param));
        }
        form.extend(self.resources.iter().map(|r| ("resource", r.as_str())));
        form
    }

    /// Saves the current refresh token; on success forgets the pending access
    /// token, which the caller hands out.
    async fn save(&self, state: &mut State) -> Result<(), Error> {
        if let Some(store) = &self.store
            && let Err(error) = store.save(&state.refresh_token).await
        {
            tracing::error!(%error, "the new refresh token could not be saved; kept in memory, will retry");
            return Err(Error::Persist(error.to_string()));
        }
        state.unsaved = None;
        Ok(())
    }
}

#[async_trait]
impl TokenSource for RefreshTokenGrant {
    async fn token(&self) -> Result<AccessToken, Error> {
        // Held across the request: one refresh at a time, always with the
        // newest refresh token.
        let mut state = self.state.lock().await;
        if let Some(ended) = &state.ended {
            return Err(ended.clone());
        }
        if let Some(pending) = state.unsaved.clone() {
            self.save(&mut state).await?;
            if !pending.is_expired() {
                return Ok(pending);
            }
        }
        self.refresh(&mut state).await
    }
}

impl RefreshTokenGrantBuilder {
    /// Adds scopes to ask for, fewer than were granted; see
    /// [Scopes](crate#scopes). With none (the default) the refreshed token
    /// has the scopes of the sign-in.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.add(scopes);
        self
    }

    /// An RFC 8707 `resource` indicator: the API the refreshed access token is
    /// for. May be repeated. Name the resource of the sign-in again: without
    /// one, some providers (oidc-provider among them) issue the refreshed
    /// token for their own userinfo endpoint instead of the API.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resources.push(resource.into());
        self
    }

    /// Where every new refresh token is saved.
    pub fn store(mut self, store: impl RefreshTokenStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Checks the configuration and builds the grant.
    pub fn build(self) -> Result<RefreshTokenGrant, ConfigError> {
        if self.refresh_token.expose_secret().is_empty() {
            return Err(ConfigError::invalid("the refresh token is empty"));
        }
        self.client.check_endpoint(EndpointKind::Token)?;
        Ok(RefreshTokenGrant {
            client: self.client,
            scope_param: self.scopes.joined(),
            scopes: self.scopes,
            resources: self.resources,
            store: self.store,
            state: tokio::sync::Mutex::new(State {
                refresh_token: self.refresh_token,
                ended: None,
                unsaved: None,
            }),
        })
    }
}

impl fmt::Debug for RefreshTokenGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenGrant")
            .field("client", &self.client)
            .field("scopes", &self.scopes.as_slice())
            .field("resources", &self.resources)
            .field("refresh_token", &"[redacted]")
            .finish()
    }
}

impl fmt::Debug for RefreshTokenGrantBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenGrantBuilder")
            .field("client", &self.client)
            .field("scopes", &self.scopes.as_slice())
            .field("refresh_token", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::config::Endpoints;
    use crate::client::token_endpoint::ClientAuthMethod;

    fn public_client() -> ClientConfig {
        let endpoint = url::Url::parse("https://id.example.com/token").expect("url");
        ClientConfig::builder(Endpoints::new().token(endpoint), "app")
            .auth_method(ClientAuthMethod::None)
            .build()
            .expect("client")
    }

    #[test]
    fn the_refresh_request_names_scopes_and_resources_when_set() {
        let plain = RefreshTokenGrant::builder(public_client(), SecretString::from("rt"))
            .build()
            .expect("grant");
        assert_eq!(
            plain.form("rt"),
            [("grant_type", "refresh_token"), ("refresh_token", "rt")]
        );
        let narrowed = RefreshTokenGrant::builder(public_client(), SecretString::from("rt"))
            .scopes(["read"])
            .scopes(["read profile"])
            .resource("https://api.example.com")
            .build()
            .expect("grant");
        assert_eq!(
            narrowed.form("rt2"),
            [
                ("grant_type", "refresh_token"),
                ("refresh_token", "rt2"),
                ("scope", "read profile"),
                ("resource", "https://api.example.com"),
            ]
        );
        assert!(!format!("{narrowed:?}").contains("rt2"));
        let err = RefreshTokenGrant::builder(public_client(), SecretString::from(""))
            .build()
            .expect_err("an empty refresh token");
        assert!(err.to_string().contains("empty"), "{err}");
    }
}
