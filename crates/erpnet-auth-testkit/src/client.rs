//! Applications (OAuth clients) that the mock knows: confidential trusted applications and
//! public native applications.

use std::fmt;
use std::time::Duration;

/// The client id registered when a mock starts without clients of its own.
///
/// It contains a `/`, as ERP.net client ids (trusted app ApplicationUris) often do, so every
/// test that uses it also exercises the form-urlencoding of HTTP Basic credentials.
pub const DEFAULT_CLIENT_ID: &str = "my.trusted.app/first";

/// The secret of [`DEFAULT_CLIENT_ID`].
pub const DEFAULT_CLIENT_SECRET: &str = "s3cr3t-value";

/// The system user name put into `client_system_user` unless [`Client::system_user`] says
/// otherwise.
pub const DEFAULT_SYSTEM_USER: &str = "api-user";

/// The id of the public native client registered when a mock starts without clients of its
/// own ([`Client::default_public_client`]).
pub const DEFAULT_PUBLIC_CLIENT_ID: &str = "my.native.app";

/// The redirect URI registered for [`DEFAULT_PUBLIC_CLIENT_ID`]: a loopback URI, so any port
/// matches it (RFC 8252 §7.3).
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// The post-logout redirect URI registered for [`DEFAULT_PUBLIC_CLIENT_ID`].
pub const DEFAULT_POST_LOGOUT_REDIRECT_URI: &str = "http://127.0.0.1/signed-out";

/// Refresh tokens of confidential clients live a month (30 days) at ERP.net.
const CONFIDENTIAL_REFRESH_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// Refresh tokens of public clients live 24 hours at ERP.net.
const PUBLIC_REFRESH_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The grant type of the authorization code flow.
pub(crate) const AUTHORIZATION_CODE: &str = "authorization_code";
/// The grant type of client credentials.
pub(crate) const CLIENT_CREDENTIALS: &str = "client_credentials";
/// The grant type of the device authorization grant (RFC 8628).
pub(crate) const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// What kind of access token a client gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum AccessTokenType {
    /// A JWT signed RS256 (`typ: at+jwt`): what ERP.net issues from its token endpoint.
    #[default]
    Jwt,
    /// An opaque reference token, `enrt_` followed by 64 hex characters, as ERP.net personal
    /// and service access tokens (PAT, SAT) are: only introspection can tell what it means.
    Reference,
}

/// An application registered with the mock: a confidential client (an ERP.net trusted
/// application, [`Client::new`]) or a public native client ([`Client::public`]).
///
/// `Debug` never prints the secret.
///
/// ```
/// use erpnet_auth_testkit::Client;
///
/// let client = Client::new("reports.example/nightly", "hunter2")
///     .scopes(["read"])
///     .system_user("reports");
/// assert_eq!(client.id(), "reports.example/nightly");
/// assert!(!format!("{client:?}").contains("hunter2"));
///
/// let app = Client::public("desktop.example")
///     .redirect_uri("http://127.0.0.1/callback")
///     .scopes(["openid", "offline_access", "read"]);
/// assert!(app.is_public());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Client {
    pub(crate) id: String,
    /// `None` for a public client and for one that authenticates only with its keys.
    pub(crate) secret: Option<String>,
    /// Public JWKs for `private_key_jwt` client assertions.
    pub(crate) keys: Vec<serde_json::Value>,
    pub(crate) scopes: Vec<String>,
    pub(crate) system_user: String,
    pub(crate) grant_types: Vec<String>,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) post_logout_redirect_uris: Vec<String>,
    pub(crate) backchannel_logout_uri: Option<String>,
    pub(crate) require_pkce: bool,
    pub(crate) access_token_type: AccessTokenType,
    pub(crate) refresh_token_lifetime: Duration,
}

impl Client {
    /// A confidential client with this id and secret, allowed the `client_credentials` grant
    /// and the scopes `read` and `update`, acting as the system user `api-user`. Refresh
    /// tokens, if it is given `offline_access` and the code flow, live 30 days.
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Client {
        Client {
            id: id.into(),
            secret: Some(secret.into()),
            keys: Vec::new(),
            scopes: vec!["read".to_owned(), "update".to_owned()],
            system_user: DEFAULT_SYSTEM_USER.to_owned(),
            grant_types: vec![CLIENT_CREDENTIALS.to_owned()],
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
            require_pkce: false,
            access_token_type: AccessTokenType::Jwt,
            refresh_token_lifetime: CONFIDENTIAL_REFRESH_LIFETIME,
        }
    }

    /// A public native client (no secret): allowed the `authorization_code` grant with PKCE
    /// `S256` (always required for public clients), the scopes `openid`, `profile`,
    /// `offline_access`, `read` and `update`, refresh tokens living 24 hours, and no redirect
    /// URI until [`redirect_uri`](Client::redirect_uri) adds one.
    pub fn public(id: impl Into<String>) -> Client {
        Client {
            secret: None,
            scopes: ["openid", "profile", "offline_access", "read", "update"]
                .into_iter()
                .map(str::to_owned)
                .collect(),
            grant_types: vec![AUTHORIZATION_CODE.to_owned()],
            require_pkce: true,
            refresh_token_lifetime: PUBLIC_REFRESH_LIFETIME,
            ..Client::new(id, String::new())
        }
    }

    /// A confidential client without a secret that authenticates with `private_key_jwt`
    /// (RFC 7523 §2.2): a JWT signed by the private half of `public_jwk` (see
    /// [`ClientKey`](crate::ClientKey)); otherwise like [`Client::new`].
    pub fn with_key(id: impl Into<String>, public_jwk: serde_json::Value) -> Client {
        Client {
            secret: None,
            ..Client::new(id, String::new())
        }
        .public_key(public_jwk)
    }

    /// Registers one more public key (a JWK with `kty` `RSA` or `EC` P-256 and a `kid`) for
    /// `private_key_jwt`. The mock then accepts a client assertion (`client_assertion_type`
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`) from this client at the
    /// token, introspection and revocation endpoints if it is signed by one of its keys
    /// (the key's type decides the algorithm: RS256 or ES256), its `iss` and `sub` are the
    /// client id, its `aud` is the token endpoint's URL or the issuer, it expires within five
    /// minutes, and its `jti` was not used before.
    pub fn public_key(mut self, jwk: serde_json::Value) -> Client {
        self.keys.push(jwk);
        self
    }

    /// The default client: [`DEFAULT_CLIENT_ID`] / [`DEFAULT_CLIENT_SECRET`], scopes `read` and
    /// `update`.
    pub fn default_client() -> Client {
        Client::new(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    }

    /// The default public client: [`DEFAULT_PUBLIC_CLIENT_ID`] with the redirect URI
    /// [`DEFAULT_REDIRECT_URI`] and the post-logout redirect URI
    /// [`DEFAULT_POST_LOGOUT_REDIRECT_URI`] (see [`Client::public`]), allowed the device
    /// authorization grant (RFC 8628) besides the code flow, as a command-line tool is.
    pub fn default_public_client() -> Client {
        Client::public(DEFAULT_PUBLIC_CLIENT_ID)
            .grant_types([AUTHORIZATION_CODE, DEVICE_CODE])
            .redirect_uri(DEFAULT_REDIRECT_URI)
            .post_logout_redirect_uri(DEFAULT_POST_LOGOUT_REDIRECT_URI)
    }

    /// Replaces the scopes this client may request. A client-credentials token request that
    /// omits `scope` gets all of them (except `openid`, `profile` and `offline_access`, which
    /// are never issued for client credentials). `offline_access` also lets the client use
    /// refresh tokens (IdentityServer's `AllowOfflineAccess`).
    pub fn scopes<I, S>(mut self, scopes: I) -> Client
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the name of the system user the client acts as (the `client_system_user` claim).
    pub fn system_user(mut self, name: impl Into<String>) -> Client {
        self.system_user = name.into();
        self
    }

    /// Replaces the grants this client may use: `client_credentials`, `authorization_code`
    /// and/or `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628). The
    /// `refresh_token` grant comes with the `offline_access` scope (see
    /// [`scopes`](Client::scopes)), whether or not it is listed here.
    pub fn grant_types<I, S>(mut self, grant_types: I) -> Client
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.grant_types = grant_types.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a redirect URI. An authorization request's `redirect_uri` must equal one exactly,
    /// except that for a public client a loopback URI (`http://127.0.0.1…` or
    /// `http://[::1]…`) matches a registered one on the same address whatever the port
    /// (RFC 8252 §7.3).
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Client {
        self.redirect_uris.push(uri.into());
        self
    }

    /// Adds a URI the end-session endpoint may redirect to after signing the user out.
    pub fn post_logout_redirect_uri(mut self, uri: impl Into<String>) -> Client {
        self.post_logout_redirect_uris.push(uri.into());
        self
    }

    /// Sets the back-channel logout URI (OpenID Connect Back-Channel Logout 1.0): when a
    /// user's session at the mock ends (the end-session endpoint, or
    /// [`MockIdentity::sign_out_user`](crate::MockIdentity::sign_out_user)), the mock POSTs a
    /// signed logout token (`typ: logout+jwt`, `sub`, `sid`, the logout event) to this URI of
    /// every client the session signed in to. Only `http://` URIs are served (the mock runs on
    /// loopback); any other is skipped.
    pub fn backchannel_logout_uri(mut self, uri: impl Into<String>) -> Client {
        self.backchannel_logout_uri = Some(uri.into());
        self
    }

    /// Whether a confidential client must use PKCE (default: no, but a `code_challenge` it
    /// sends is checked). Public clients always must, whatever this says.
    pub fn require_pkce(mut self, required: bool) -> Client {
        self.require_pkce = required;
        self
    }

    /// The kind of access token the token endpoint issues to this client (default
    /// [`AccessTokenType::Jwt`]).
    pub fn access_token_type(mut self, token_type: AccessTokenType) -> Client {
        self.access_token_type = token_type;
        self
    }

    /// How long the refresh tokens of one sign-in stay usable, counted from the sign-in
    /// (absolute expiration, IdentityServer's default; rotation does not extend it). Default
    /// 30 days for confidential clients, 24 hours for public ones. Only whole seconds count.
    pub fn refresh_token_lifetime(mut self, lifetime: Duration) -> Client {
        self.refresh_token_lifetime = lifetime;
        self
    }

    /// The client id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The client secret (empty for a public client).
    pub fn secret(&self) -> &str {
        self.secret.as_deref().unwrap_or_default()
    }

    /// The scopes this client may request.
    pub fn allowed_scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The name of the system user the client acts as.
    pub fn system_user_name(&self) -> &str {
        &self.system_user
    }

    /// Whether this is a public client (no secret, no key).
    pub fn is_public(&self) -> bool {
        self.secret.is_none() && self.keys.is_empty()
    }

    /// The registered redirect URIs.
    pub fn redirect_uris(&self) -> &[String] {
        &self.redirect_uris
    }

    pub(crate) fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|allowed| allowed == grant_type)
    }

    pub(crate) fn allows_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|allowed| allowed == scope)
    }

    pub(crate) fn pkce_required(&self) -> bool {
        self.require_pkce || self.is_public()
    }
}

impl Default for Client {
    fn default() -> Client {
        Client::default_client()
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = match (&self.secret, self.is_public()) {
            (_, true) => "none (public client)",
            (None, false) => "none (private_key_jwt)",
            (Some(_), false) => "[redacted]",
        };
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("secret", &secret)
            .field("keys", &self.keys)
            .field("scopes", &self.scopes)
            .field("system_user", &self.system_user)
            .field("grant_types", &self.grant_types)
            .field("redirect_uris", &self.redirect_uris)
            .field("post_logout_redirect_uris", &self.post_logout_redirect_uris)
            .field("backchannel_logout_uri", &self.backchannel_logout_uri)
            .field("require_pkce", &self.pkce_required())
            .field("access_token_type", &self.access_token_type)
            .field("refresh_token_lifetime", &self.refresh_token_lifetime)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_secret() {
        let printed = format!("{:?}", Client::default_client());
        assert!(printed.contains("[redacted]"));
        assert!(!printed.contains(DEFAULT_CLIENT_SECRET));
        assert!(printed.contains(DEFAULT_CLIENT_ID));
        let printed = format!("{:?}", Client::default_public_client());
        assert!(printed.contains("public client"));
        assert!(printed.contains(DEFAULT_REDIRECT_URI));
    }

    #[test]
    fn builder_sets_scopes_and_system_user() {
        let client = Client::new("a/b", "s")
            .scopes(["read"])
            .system_user("robot");
        assert_eq!(client.allowed_scopes(), ["read".to_owned()]);
        assert_eq!(client.system_user_name(), "robot");
        assert_eq!(client.secret(), "s");
        assert!(!client.is_public());
        assert!(client.allows_grant(CLIENT_CREDENTIALS));
        assert!(!client.allows_grant(AUTHORIZATION_CODE));
        assert!(!client.pkce_required());
    }

    #[test]
    fn public_clients_have_no_secret_and_always_need_pkce() {
        let client = Client::public("app").require_pkce(false);
        assert!(client.is_public());
        assert_eq!(client.secret(), "");
        assert!(client.pkce_required());
        assert!(client.allows_grant(AUTHORIZATION_CODE));
        assert!(!client.allows_grant(CLIENT_CREDENTIALS));
        assert!(client.allows_scope("offline_access"));
        assert_eq!(client.refresh_token_lifetime, PUBLIC_REFRESH_LIFETIME);
        assert_eq!(
            Client::default_public_client().redirect_uris(),
            [DEFAULT_REDIRECT_URI.to_owned()]
        );
    }
}
