//! [`WebSignIn`], the configured sign-in of one web app at one provider, and its builder.
//! Every call into the protocol crate's flow builders is in [`WebSignInBuilder::build`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use erpnet_auth_core::ConfigError;
use erpnet_auth_core::origin::is_secure_origin;
use erpnet_auth_oidc::{AuthorizationCodeFlow, ClientAuthMethod, ClientConfig, Revocation};

use crate::backend::SessionBackend;
use crate::inflight::Refresher;
use crate::store::SignInStore;

/// How long a sign-in lasts by default, from the moment the user signs in.
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// How long before its expiry an access token is refreshed by default.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// The sign-in of one web app at one provider: the routes' configuration, the sessions and
/// the store of the signed-in users' tokens. Cheap to clone; every clone is the same.
///
/// Build one with [`WebSignIn::builder`]; mount [`routes`](WebSignIn::routes), wrap the app
/// in [`layer`](WebSignIn::layer), and protect pages with
/// [`require_sign_in`](WebSignIn::require_sign_in).
#[derive(Clone)]
pub struct WebSignIn {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) flow: AuthorizationCodeFlow,
    pub(crate) revocation: Option<Revocation>,
    pub(crate) public_url: Url,
    pub(crate) paths: Paths,
    pub(crate) redirect_uri: Url,
    pub(crate) post_logout_redirect_uri: Url,
    pub(crate) store: Arc<dyn SignInStore>,
    pub(crate) sessions: SessionBackend,
    pub(crate) secure_cookie: bool,
    pub(crate) session_lifetime: Duration,
    pub(crate) refresh_margin: Duration,
    pub(crate) resources: Vec<String>,
    pub(crate) refresher: Refresher,
}

/// The paths of the routes, as the app's router sees them.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    pub(crate) login: String,
    pub(crate) callback: String,
    pub(crate) logout: String,
    pub(crate) backchannel_logout: String,
    pub(crate) after_logout: String,
}

/// Configures a [`WebSignIn`].
pub struct WebSignInBuilder {
    client: ClientConfig,
    scopes: Vec<String>,
    resources: Vec<String>,
    public_url: String,
    paths: Paths,
    backend: Option<(SessionBackend, Arc<dyn SignInStore>)>,
    sign_in_store: Option<Arc<dyn SignInStore>>,
    session_lifetime: Duration,
    refresh_margin: Duration,
}

impl WebSignIn {
    /// Starts configuring sign-in for a confidential `client` (its secret, authentication
    /// method and HTTP client; built from a fetched [`Discovery`](erpnet_auth_oidc::Discovery),
    /// as every sign-in flow is) for an app whose public address is `public_url` (what the
    /// browser sees, such as `https://app.example.com` or `http://127.0.0.1:8080`; the
    /// redirect URIs are made from it).
    ///
    /// Defaults: routes `/login`, `/callback`, `/logout`, `/backchannel-logout`, back to `/`
    /// after sign-out; scope `openid` (add `offline_access` for a refresh token, `profile`
    /// for the user's name, and the API scopes with [`scopes`](WebSignInBuilder::scopes));
    /// sessions and sign-ins in this process's memory; a sign-in lasts
    /// [`DEFAULT_SESSION_LIFETIME`].
    pub fn builder(client: ClientConfig, public_url: impl Into<String>) -> WebSignInBuilder {
        WebSignInBuilder {
            client,
            scopes: Vec::new(),
            resources: Vec::new(),
            public_url: public_url.into(),
            paths: Paths {
                login: "/login".into(),
                callback: "/callback".into(),
                logout: "/logout".into(),
                backchannel_logout: "/backchannel-logout".into(),
                after_logout: "/".into(),
            },
            backend: None,
            sign_in_store: None,
            session_lifetime: DEFAULT_SESSION_LIFETIME,
            refresh_margin: DEFAULT_REFRESH_MARGIN,
        }
    }

    /// The redirect URI to register at the provider: the public URL and the callback path.
    pub fn redirect_uri(&self) -> &Url {
        &self.inner.redirect_uri
    }

    /// The post-logout redirect URI to register at the provider.
    pub fn post_logout_redirect_uri(&self) -> &Url {
        &self.inner.post_logout_redirect_uri
    }

    /// The back-channel logout URI to register at the provider.
    pub fn backchannel_logout_uri(&self) -> Url {
        self.public(&self.inner.paths.backchannel_logout)
    }

    /// The sign-in flow, for anything this crate does not cover.
    pub fn flow(&self) -> &AuthorizationCodeFlow {
        &self.inner.flow
    }

    /// The URL the browser sees for a path of the app's router.
    pub(crate) fn public(&self, path: &str) -> Url {
        let mut url = self.inner.public_url.clone();
        let prefix = url.path().trim_end_matches('/').to_owned();
        let (path, query) = match path.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path, None),
        };
        url.set_path(&format!("{prefix}{path}"));
        url.set_query(query);
        url
    }

    /// The path (with the public URL's prefix) the browser sees for a path of the router.
    pub(crate) fn public_path(&self, path: &str) -> String {
        let prefix = self.inner.public_url.path().trim_end_matches('/');
        format!("{prefix}{path}")
    }
}

impl WebSignInBuilder {
    /// Adds scopes to request, as every builder of erpnet-auth does (see the
    /// [rules](erpnet_auth_oidc#scopes)); `openid` is always included. Add `offline_access`
    /// for a refresh token (without one, the user signs in again when the access token
    /// expires), `profile` for the user's name, and the API scopes (`read`, `update`) to call
    /// ERP.net as the user.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// An RFC 8707 `resource` indicator: the API the user's access token is for, named in
    /// the authorization request, the code exchange and every refresh. ERP.net needs none;
    /// some providers (oidc-provider) issue tokens for their own userinfo endpoint without
    /// one. May be repeated.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resources.push(resource.into());
        self
    }

    /// The path of the sign-in route (default `/login`).
    pub fn login_path(mut self, path: impl Into<String>) -> Self {
        self.paths.login = path.into();
        self
    }

    /// The path of the callback route (default `/callback`): the redirect URI is the public
    /// URL and this path.
    pub fn callback_path(mut self, path: impl Into<String>) -> Self {
        self.paths.callback = path.into();
        self
    }

    /// The path of the sign-out route (default `/logout`).
    pub fn logout_path(mut self, path: impl Into<String>) -> Self {
        self.paths.logout = path.into();
        self
    }

    /// The path of the back-channel logout route (default `/backchannel-logout`).
    pub fn backchannel_logout_path(mut self, path: impl Into<String>) -> Self {
        self.paths.backchannel_logout = path.into();
        self
    }

    /// Where the browser lands after signing out (default `/`): the post-logout redirect URI
    /// is the public URL and this path.
    pub fn after_logout_path(mut self, path: impl Into<String>) -> Self {
        self.paths.after_logout = path.into();
        self
    }

    /// Keeps sessions and sign-ins in Redis, for an app that runs several replicas: every
    /// replica configured with the same Redis shares the sessions, and a session's tokens are
    /// refreshed once, by one replica, under a Redis lock.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn redis(mut self, redis: &crate::redis::Redis) -> Self {
        self.backend = Some(SessionBackend::redis(redis));
        self
    }

    /// Keeps sign-ins in a store of your own (sessions stay where they are). For several
    /// replicas, the sessions must be shared too: use `redis` (feature `redis`) for both.
    pub fn sign_in_store(mut self, store: impl SignInStore) -> Self {
        self.sign_in_store = Some(Arc::new(store));
        self
    }

    /// How long a sign-in lasts, from the moment the user signs in (default
    /// [`DEFAULT_SESSION_LIFETIME`]): the session cookie, the session and the user's tokens
    /// end then, or earlier if the provider refuses the refresh token.
    pub fn session_lifetime(mut self, lifetime: Duration) -> Self {
        self.session_lifetime = lifetime;
        self
    }

    /// How long before it expires an access token is refreshed (default
    /// [`DEFAULT_REFRESH_MARGIN`]).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Checks the configuration and builds the sign-in.
    ///
    /// The public URL must be `https`, or `http` to a loopback address; the session cookie
    /// is `Secure` except on loopback.
    pub fn build(self) -> Result<WebSignIn, ConfigError> {
        let public_url = Url::parse(self.public_url.trim_end_matches('/'))
            .map_err(|e| ConfigError::invalid(format!("the public URL is invalid: {e}")))?;
        let host = public_url.host_str().unwrap_or_default();
        if !is_secure_origin(public_url.scheme(), host) {
            return Err(ConfigError::invalid(format!(
                "the public URL `{public_url}` must be https (http only on a loopback address)"
            )));
        }
        if public_url.query().is_some() || public_url.fragment().is_some() {
            return Err(ConfigError::invalid(
                "the public URL must have no query or fragment",
            ));
        }
        for path in [
            &self.paths.login,
            &self.paths.callback,
            &self.paths.logout,
            &self.paths.backchannel_logout,
            &self.paths.after_logout,
        ] {
            if !path.starts_with('/') || path.starts_with("//") {
                return Err(ConfigError::invalid(format!(
                    "the route path `{path}` must start with one `/`"
                )));
            }
        }
        if self.session_lifetime.is_zero() {
            return Err(ConfigError::invalid("the session lifetime is zero"));
        }
        if self.client.auth_method() == ClientAuthMethod::None {
            return Err(ConfigError::invalid(
                "a web app is a confidential client: give its ClientConfig a client secret",
            ));
        }
        let flow = AuthorizationCodeFlow::builder(self.client)
            .scopes(self.scopes)
            .build()?;
        let revocation = match flow.discovery().revocation_endpoint() {
            Some(_) => Some(flow.revocation()?),
            None => None,
        };
        // Plain http is only allowed to loopback (checked above): Secure everywhere else.
        let secure_cookie = public_url.scheme() == "https";
        let (sessions, store) = self.backend.unwrap_or_else(SessionBackend::memory);
        let store = self.sign_in_store.unwrap_or(store);
        let mut web = WebSignIn {
            inner: Arc::new(Inner {
                flow,
                revocation,
                redirect_uri: public_url.clone(),
                post_logout_redirect_uri: public_url.clone(),
                public_url,
                paths: self.paths,
                store,
                sessions,
                secure_cookie,
                session_lifetime: self.session_lifetime,
                refresh_margin: self.refresh_margin,
                resources: self.resources,
                refresher: Refresher::default(),
            }),
        };
        let redirect_uri = web.public(&web.inner.paths.callback);
        let post_logout_redirect_uri = web.public(&web.inner.paths.after_logout);
        if let Some(inner) = Arc::get_mut(&mut web.inner) {
            inner.redirect_uri = redirect_uri;
            inner.post_logout_redirect_uri = post_logout_redirect_uri;
        }
        Ok(web)
    }
}

impl fmt::Debug for WebSignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSignIn")
            .field("flow", &self.inner.flow)
            .field("redirect_uri", &self.inner.redirect_uri.as_str())
            .field("sessions", &self.inner.sessions)
            .field("secure_cookie", &self.inner.secure_cookie)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for WebSignInBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSignInBuilder")
            .field("client", &self.client)
            .field("public_url", &self.public_url)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}
