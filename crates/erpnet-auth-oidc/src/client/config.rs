//! [`ClientConfig`]: who the client is and where its provider is, built once
//! and shared by every grant, by introspection and by revocation.

use std::fmt;
use std::sync::Arc;

use secrecy::SecretString;
use url::Url;

use erpnet_auth_core::{ConfigError, Error};

#[cfg(feature = "private-key-jwt")]
use crate::client::private_key_jwt::{AssertionAudience, ClientSigningKey};
use crate::client::token_endpoint::{
    ClientAuth, ClientAuthMethod, TokenResponse, parse_token_response,
};
use crate::discovery::{Authority, Discovery, DiscoveryCache};
use crate::http::{HttpClient, HttpResponse, check_url, endpoint_name};

/// Where the provider is: what a [`ClientConfig`] learns its endpoints from.
///
/// Every variant converts with `From`, so [`ClientConfig::builder`] takes an
/// [`Authority`], a [`DiscoveryCache`], a fetched [`Discovery`] or
/// [`Endpoints`] as they are.
#[derive(Debug, Clone)]
#[non_exhaustive]
// Built once per configuration and moved into it: its size costs nothing, and
// boxing `Endpoints` would make every caller write `Box::new`.
#[allow(clippy::large_enum_variant)]
pub enum Provider {
    /// The authority whose discovery document names the endpoints. The
    /// document is fetched on first use, once for every grant built from the
    /// configuration, with the configuration's HTTP client.
    Authority(Authority),
    /// A discovery cache you already have, shared with a `JwtValidator`
    /// (`JwtValidator::builder_for_discovery`) for example. Its HTTP client is
    /// the configuration's default.
    Discovery(DiscoveryCache),
    /// A discovery document already fetched. Sign-in needs this one: it
    /// builds authorization URLs without waiting on the network.
    Document(Arc<Discovery>),
    /// Endpoint URLs you give yourself, without discovery.
    Endpoints(Endpoints),
}

impl From<Authority> for Provider {
    fn from(authority: Authority) -> Self {
        Self::Authority(authority)
    }
}

impl From<DiscoveryCache> for Provider {
    fn from(cache: DiscoveryCache) -> Self {
        Self::Discovery(cache)
    }
}

impl From<Arc<Discovery>> for Provider {
    fn from(discovery: Arc<Discovery>) -> Self {
        Self::Document(discovery)
    }
}

impl From<Discovery> for Provider {
    fn from(discovery: Discovery) -> Self {
        Self::Document(Arc::new(discovery))
    }
}

impl From<&Discovery> for Provider {
    fn from(discovery: &Discovery) -> Self {
        Self::Document(Arc::new(discovery.clone()))
    }
}

impl From<Endpoints> for Provider {
    fn from(endpoints: Endpoints) -> Self {
        Self::Endpoints(endpoints)
    }
}

/// A provider's endpoints given by URL, for a provider without discovery or
/// to override it. Each must be `https` (or `http` to a loopback address);
/// [`ClientConfigBuilder::build`] checks them. Give the ones the client uses:
/// a grant needs `token`, an `Introspector` `introspection`, a
/// [`Revocation`](crate::Revocation) `revocation`.
///
/// ```
/// use erpnet_auth_oidc::{Endpoints, Url};
///
/// let endpoints = Endpoints::new()
///     .token(Url::parse("https://id.example.com/oauth2/token").expect("url"))
///     .revocation(Url::parse("https://id.example.com/oauth2/revoke").expect("url"));
/// # let _ = endpoints;
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    token: Option<Url>,
    introspection: Option<Url>,
    revocation: Option<Url>,
    device_authorization: Option<Url>,
}

impl Endpoints {
    /// No endpoint yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The token endpoint (RFC 6749 §3.2).
    pub fn token(mut self, url: Url) -> Self {
        self.token = Some(url);
        self
    }

    /// The introspection endpoint (RFC 7662).
    pub fn introspection(mut self, url: Url) -> Self {
        self.introspection = Some(url);
        self
    }

    /// The revocation endpoint (RFC 7009).
    pub fn revocation(mut self, url: Url) -> Self {
        self.revocation = Some(url);
        self
    }

    /// The device authorization endpoint (RFC 8628).
    pub fn device_authorization(mut self, url: Url) -> Self {
        self.device_authorization = Some(url);
        self
    }

    fn get(&self, kind: EndpointKind) -> Option<&Url> {
        match kind {
            EndpointKind::Token => self.token.as_ref(),
            EndpointKind::Introspection => self.introspection.as_ref(),
            EndpointKind::Revocation => self.revocation.as_ref(),
            EndpointKind::DeviceAuthorization => self.device_authorization.as_ref(),
        }
    }
}

impl fmt::Debug for Endpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoints")
            .field("token", &self.token.as_ref().map(Url::as_str))
            .field(
                "introspection",
                &self.introspection.as_ref().map(Url::as_str),
            )
            .field("revocation", &self.revocation.as_ref().map(Url::as_str))
            .field(
                "device_authorization",
                &self.device_authorization.as_ref().map(Url::as_str),
            )
            .finish()
    }
}

/// The endpoints a client calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndpointKind {
    Token,
    Introspection,
    Revocation,
    DeviceAuthorization,
}

impl EndpointKind {
    const ALL: [EndpointKind; 4] = [
        Self::Token,
        Self::Introspection,
        Self::Revocation,
        Self::DeviceAuthorization,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Introspection => "introspection",
            Self::Revocation => "revocation",
            Self::DeviceAuthorization => "device_authorization",
        }
    }

    fn in_document(self, discovery: &Discovery) -> Result<Url, ConfigError> {
        let url = match self {
            Self::Token => Some(discovery.token_endpoint()),
            Self::Introspection => discovery.introspection_endpoint(),
            Self::Revocation => discovery.revocation_endpoint(),
            Self::DeviceAuthorization => {
                discovery.metadata().device_authorization_endpoint.as_ref()
            }
        };
        url.cloned().ok_or_else(|| {
            ConfigError::invalid(format!(
                "the discovery document of {} names no {} endpoint",
                discovery.issuer(),
                self.name()
            ))
        })
    }

    fn in_endpoints(self, endpoints: &Endpoints) -> Result<Url, ConfigError> {
        endpoints.get(self).cloned().ok_or_else(|| {
            ConfigError::invalid(format!(
                "no {0} endpoint configured: add it with Endpoints::{0}(…)",
                self.name()
            ))
        })
    }
}

/// Where the endpoints come from, once built: an authority has become a
/// discovery cache. (Endpoints boxed: three URLs outweigh the pointers.)
enum Source {
    Discovery(DiscoveryCache),
    Document(Arc<Discovery>),
    Endpoints(Box<Endpoints>),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Discovery(cache) => write!(f, "discovered from {}", cache.authority()),
            Self::Document(discovery) => write!(f, "discovered from {}", discovery.issuer()),
            Self::Endpoints(endpoints) => endpoints.fmt(f),
        }
    }
}

/// One client of one provider: where the provider is, the client id, the
/// secret, how the client authenticates and the [`HttpClient`]. Built once,
/// it is what every grant ([`ClientCredentials`](crate::ClientCredentials),
/// [`RefreshTokenGrant`](crate::RefreshTokenGrant),
/// `AuthorizationCodeFlow`), the `Introspector` and
/// [`Revocation`](crate::Revocation) are built from, so they all authenticate
/// the same way and share one discovery document and one connection pool.
///
/// Cheap to clone; clones share everything. The secret is kept in a
/// [`SecretString`] and never printed.
///
/// ```no_run
/// # async fn demo() -> Result<(), erpnet_auth_oidc::Error> {
/// use erpnet_auth_oidc::{Authority, ClientAuthMethod, ClientConfig, ClientCredentials, Revocation};
///
/// let client = ClientConfig::builder(Authority::parse("myinstance")?, "my.trusted.app/first")
///     .client_secret(std::env::var("ERPNET_CLIENT_SECRET").unwrap_or_default())
///     .auth_method(ClientAuthMethod::ClientSecretBasic)
///     .build()?;
/// let grant = ClientCredentials::builder(client.clone())
///     .scopes(["read", "update"])
///     .build()?;
/// let revocation = Revocation::new(client)?; // same credentials, same provider
/// # let _ = (grant, revocation); Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientConfig {
    inner: Arc<Inner>,
}

struct Inner {
    source: Source,
    auth: ClientAuth,
    http: HttpClient,
}

/// Configures a [`ClientConfig`].
pub struct ClientConfigBuilder {
    provider: Provider,
    client_id: String,
    secret: Option<SecretString>,
    method: ClientAuthMethod,
    http: Option<HttpClient>,
    #[cfg(feature = "private-key-jwt")]
    key: Option<ClientSigningKey>,
    #[cfg(feature = "private-key-jwt")]
    audience: AssertionAudience,
}

impl ClientConfig {
    /// Starts configuring client `client_id` of `provider`: an
    /// [`Authority`], a [`DiscoveryCache`], a fetched [`Discovery`] or
    /// [`Endpoints`]. For ERP.net the client id is the trusted application's
    /// ApplicationUri, such as `my.trusted.app/first`.
    pub fn builder(
        provider: impl Into<Provider>,
        client_id: impl Into<String>,
    ) -> ClientConfigBuilder {
        ClientConfigBuilder {
            provider: provider.into(),
            client_id: client_id.into(),
            secret: None,
            method: ClientAuthMethod::default(),
            http: None,
            #[cfg(feature = "private-key-jwt")]
            key: None,
            #[cfg(feature = "private-key-jwt")]
            audience: AssertionAudience::default(),
        }
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.inner.auth.client_id
    }

    /// How the client authenticates.
    pub fn auth_method(&self) -> ClientAuthMethod {
        self.inner.auth.method
    }

    /// The HTTP client of every call the client makes.
    pub fn http(&self) -> &HttpClient {
        &self.inner.http
    }

    /// The discovery document, when the configuration was built from a fetched
    /// one ([`Provider::Document`]).
    pub fn discovery(&self) -> Option<&Arc<Discovery>> {
        match &self.inner.source {
            Source::Document(discovery) => Some(discovery),
            Source::Discovery(_) | Source::Endpoints(_) => None,
        }
    }

    /// The provider's issuer, from its discovery document (fetched if need
    /// be); `None` for explicit [`Endpoints`].
    #[cfg(feature = "introspection")]
    pub(crate) async fn issuer(&self) -> Result<Option<String>, Error> {
        Ok(match &self.inner.source {
            Source::Discovery(cache) => Some(cache.get().await?.issuer().to_owned()),
            Source::Document(discovery) => Some(discovery.issuer().to_owned()),
            Source::Endpoints(_) => None,
        })
    }

    /// Refuses a client whose provider is known, now, to lack the endpoint
    /// of `kind`. A discovery cache is read on first use instead, where a
    /// missing endpoint is an [`Error::Config`].
    pub(crate) fn check_endpoint(&self, kind: EndpointKind) -> Result<(), ConfigError> {
        match &self.inner.source {
            Source::Discovery(_) => Ok(()),
            Source::Document(discovery) => kind.in_document(discovery).map(drop),
            Source::Endpoints(endpoints) => kind.in_endpoints(endpoints).map(drop),
        }
    }

    /// The URL of the endpoint of `kind`, fetching the discovery document if
    /// needed.
    pub(crate) async fn endpoint(&self, kind: EndpointKind) -> Result<Url, Error> {
        let url = match &self.inner.source {
            Source::Discovery(cache) => kind.in_document(&*cache.get().await?),
            Source::Document(discovery) => kind.in_document(discovery),
            Source::Endpoints(endpoints) => kind.in_endpoints(endpoints),
        };
        Ok(url?)
    }

    /// Posts `params` with the client's authentication to `url`.
    async fn send(&self, url: &Url, params: &[(&str, &str)]) -> Result<HttpResponse, Error> {
        #[cfg(feature = "private-key-jwt")]
        let assertion = self.assertion().await?;
        #[cfg(not(feature = "private-key-jwt"))]
        let assertion: Option<String> = None;
        let request =
            self.inner
                .auth
                .request(&self.inner.http, url, params, assertion.as_deref())?;
        self.inner.http.execute(request).await
    }

    /// A fresh `private_key_jwt` client assertion, when the client uses one.
    #[cfg(feature = "private-key-jwt")]
    async fn assertion(&self) -> Result<Option<String>, Error> {
        let Some((key, audience)) = &self.inner.auth.key else {
            return Ok(None);
        };
        let audience = match audience {
            AssertionAudience::TokenEndpoint => {
                self.endpoint(EndpointKind::Token).await?.to_string()
            }
            AssertionAudience::Issuer => match &self.inner.source {
                Source::Discovery(cache) => cache.get().await?.issuer().to_owned(),
                Source::Document(discovery) => discovery.issuer().to_owned(),
                Source::Endpoints(_) => return Err(issuer_unknown().into()),
            },
        };
        key.assertion(&self.inner.auth.client_id, &audience)
            .map(Some)
    }

    /// Posts `params` with the client's authentication to the endpoint of
    /// `kind`; the answer and the endpoint's name for errors and logs.
    pub(crate) async fn post(
        &self,
        kind: EndpointKind,
        params: &[(&str, &str)],
    ) -> Result<(String, HttpResponse), Error> {
        let url = self.endpoint(kind).await?;
        let response = self.send(&url, params).await?;
        Ok((endpoint_name(&url), response))
    }

    /// A token request of `grant` (RFC 6749 §4, §6) with its `params`, logged
    /// in a `token_request` span; `requested_scopes` are the token's scopes
    /// when the answer names none.
    pub(crate) async fn request_token(
        &self,
        grant: &'static str,
        params: &[(&str, &str)],
        requested_scopes: &[String],
    ) -> Result<TokenResponse, Error> {
        let url = self.endpoint(EndpointKind::Token).await?;
        let endpoint = endpoint_name(&url);
        let span = tracing::info_span!(
            "token_request",
            grant,
            endpoint = %endpoint,
            client_id = %self.client_id(),
        );
        let started = tokio::time::Instant::now();
        let result = tracing::Instrument::instrument(
            async {
                let response = self.send(&url, params).await?;
                parse_token_response(
                    &endpoint,
                    response.status.as_u16(),
                    &response.headers,
                    &response.body,
                    requested_scopes,
                )
            },
            span.clone(),
        )
        .await;
        let _entered = span.enter();
        let elapsed = started.elapsed();
        match &result {
            Ok(response) => tracing::info!(
                ?elapsed,
                expires_in = ?response.expires_in,
                scopes = ?response.access_token.scopes(),
                refresh_token = response.refresh_token.is_some(),
                "token issued"
            ),
            Err(error) => tracing::warn!(
                ?elapsed,
                %error,
                transient = error.is_transient(),
                "token request failed"
            ),
        }
        result
    }
}

impl ClientConfigBuilder {
    /// The client secret, for a confidential client. It is kept in a
    /// [`SecretString`] and never printed.
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(SecretString::from(secret.into()));
        self
    }

    /// How the client authenticates (default `client_secret_post`, as ERP.net
    /// documents it). A public client (native apps, single-page apps) sets
    /// [`ClientAuthMethod::None`] and no secret.
    pub fn auth_method(mut self, method: ClientAuthMethod) -> Self {
        self.method = method;
        self
    }

    /// Authenticates with `private_key_jwt` (RFC 7523 §2.2): every request
    /// carries a fresh JWT signed with `key` (`iss` = `sub` = the client id,
    /// a random `jti`, valid 60 s), instead of a secret. Sets the
    /// [`auth_method`](Self::auth_method) to
    /// [`ClientAuthMethod::PrivateKeyJwt`]. The key never appears in `Debug`
    /// output, errors or logs.
    ///
    /// ```
    /// use erpnet_auth_oidc::{ClientConfig, ClientSigningKey, Endpoints, Url};
    ///
    /// # let jwk = r#"{"kty":"EC","crv":"P-256","kid":"key-1",
    /// #   "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    /// #   "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    /// #   "d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#;
    /// let key = ClientSigningKey::from_jwk(jwk)?; // or from_pem(&std::fs::read(path)?)?.with_kid(kid)?
    /// let endpoints = Endpoints::new().token(Url::parse("https://id.example.com/token").expect("url"));
    /// let client = ClientConfig::builder(endpoints, "reports").private_key(key).build()?;
    /// assert_eq!(client.auth_method().as_str(), "private_key_jwt");
    /// # Ok::<(), erpnet_auth_oidc::ConfigError>(())
    /// ```
    #[cfg(feature = "private-key-jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "private-key-jwt")))]
    pub fn private_key(mut self, key: ClientSigningKey) -> Self {
        self.key = Some(key);
        self.method = ClientAuthMethod::PrivateKeyJwt;
        self
    }

    /// The `aud` of `private_key_jwt` assertions (default: the token
    /// endpoint's URL, for every call, as OpenID Connect Core §9 says).
    #[cfg(feature = "private-key-jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "private-key-jwt")))]
    pub fn assertion_audience(mut self, audience: AssertionAudience) -> Self {
        self.audience = audience;
        self
    }

    /// The HTTP client (default: a new [`HttpClient`], or the discovery
    /// cache's when the provider is a [`DiscoveryCache`]).
    pub fn http(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// Checks the configuration and builds it: a non-empty client id; a
    /// secret unless the client is public, and none if it is; endpoint URLs
    /// `https` (or `http` to a loopback address). Fails too when no HTTP
    /// client was given and none can be built: there is no fallback to a
    /// client with another policy.
    pub fn build(self) -> Result<ClientConfig, ConfigError> {
        #[cfg(feature = "private-key-jwt")]
        {
            let endpoints = matches!(self.provider, Provider::Endpoints(_));
            if self.key.is_some() && endpoints && self.audience == AssertionAudience::Issuer {
                return Err(issuer_unknown());
            }
        }
        let auth = ClientAuth::checked(
            self.client_id,
            self.secret,
            self.method,
            #[cfg(feature = "private-key-jwt")]
            self.key.map(|key| (key, self.audience)),
        )?;
        if let Provider::Endpoints(endpoints) = &self.provider {
            let given: Vec<&Url> = EndpointKind::ALL
                .iter()
                .filter_map(|kind| endpoints.get(*kind))
                .collect();
            if given.is_empty() {
                return Err(ConfigError::invalid(
                    "no endpoint given: name at least the token endpoint with Endpoints::token(…)",
                ));
            }
            for url in given {
                check_url(url)?;
            }
        }
        let http = match (self.http, &self.provider) {
            (Some(http), _) => http,
            (None, Provider::Discovery(cache)) => cache.http().clone(),
            (None, _) => HttpClient::new()?,
        };
        let source = match self.provider {
            Provider::Authority(authority) => {
                Source::Discovery(DiscoveryCache::new(authority, http.clone()))
            }
            Provider::Discovery(cache) => Source::Discovery(cache),
            Provider::Document(discovery) => Source::Document(discovery),
            Provider::Endpoints(endpoints) => Source::Endpoints(Box::new(endpoints)),
        };
        Ok(ClientConfig {
            inner: Arc::new(Inner { source, auth, http }),
        })
    }
}

/// The issuer is known only from discovery.
#[cfg(feature = "private-key-jwt")]
fn issuer_unknown() -> ConfigError {
    ConfigError::invalid(
        "AssertionAudience::Issuer needs the issuer from discovery; with Endpoints use \
         AssertionAudience::TokenEndpoint",
    )
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("provider", &self.inner.source)
            .field("auth", &self.inner.auth)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ClientConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfigBuilder")
            .field("provider", &self.provider)
            .field("client_id", &self.client_id)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test URL")
    }

    fn token_only() -> Endpoints {
        Endpoints::new().token(url("https://id.example.com/token"))
    }

    #[test]
    fn the_client_is_checked_when_built() {
        let err = ClientConfig::builder(token_only(), " ")
            .client_secret("s")
            .build()
            .expect_err("empty id");
        assert!(err.to_string().contains("client id"), "{err}");
        let err = ClientConfig::builder(token_only(), "app")
            .build()
            .expect_err("no secret");
        assert!(err.to_string().contains("no client secret"), "{err}");
        let err = ClientConfig::builder(token_only(), "app")
            .client_secret("very-secret")
            .auth_method(ClientAuthMethod::None)
            .build()
            .expect_err("a public client with a secret");
        assert!(err.to_string().contains("public"), "{err}");
        assert!(!err.to_string().contains("very-secret"), "{err}");
        let err = ClientConfig::builder(Endpoints::new(), "app")
            .auth_method(ClientAuthMethod::None)
            .build()
            .expect_err("no endpoint");
        assert!(err.to_string().contains("Endpoints::token"), "{err}");
        let plain = Endpoints::new()
            .token(url("https://id.example.com/token"))
            .revocation(url("http://id.example.com/revoke"));
        let err = ClientConfig::builder(plain, "app")
            .auth_method(ClientAuthMethod::None)
            .build()
            .expect_err("plain http");
        assert!(matches!(err, ConfigError::InsecureUrl { .. }), "{err}");

        let client = ClientConfig::builder(token_only(), "app")
            .client_secret("very-secret")
            .auth_method(ClientAuthMethod::ClientSecretBasic)
            .build()
            .expect("valid");
        assert_eq!(client.client_id(), "app");
        assert_eq!(client.auth_method(), ClientAuthMethod::ClientSecretBasic);
        assert!(client.discovery().is_none());
        let shown = format!("{client:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("id.example.com/token"), "{shown}");
    }

    #[tokio::test]
    async fn endpoints_missing_from_explicit_urls_are_configuration_errors() {
        let client = ClientConfig::builder(token_only(), "app")
            .auth_method(ClientAuthMethod::None)
            .build()
            .expect("valid");
        assert!(client.check_endpoint(EndpointKind::Token).is_ok());
        assert_eq!(
            client
                .endpoint(EndpointKind::Token)
                .await
                .expect("token endpoint")
                .as_str(),
            "https://id.example.com/token"
        );
        let err = client
            .check_endpoint(EndpointKind::Revocation)
            .expect_err("no revocation endpoint");
        assert!(err.to_string().contains("Endpoints::revocation"), "{err}");
        let err = client
            .endpoint(EndpointKind::Introspection)
            .await
            .expect_err("no introspection endpoint");
        assert!(matches!(err, Error::Config(_)), "{err}");
        assert!(!err.is_transient());
    }
}
