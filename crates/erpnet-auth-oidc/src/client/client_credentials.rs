//! The client credentials grant (RFC 6749 §4.4): a service authenticates as itself.

use std::fmt;

use async_trait::async_trait;
use secrecy::SecretString;

use erpnet_auth_core::{AccessToken, ConfigError, Error, TokenSource};

use crate::client::TokenEndpoint;
use crate::client::token_endpoint::{ClientAuth, ClientAuthMethod, request_token};
use crate::http::{HttpClient, endpoint_name};

/// The client credentials grant: ERP.net's recommended flow for service
/// integrations. Each call to [`token`](TokenSource::token) requests a new token;
/// wrap it in a [`CachedTokenSource`](erpnet_auth_core::CachedTokenSource) to reuse tokens.
///
/// ```no_run
/// # async fn demo() -> Result<(), erpnet_auth_oidc::Error> {
/// use erpnet_auth_oidc::{Authority, CachedTokenSource, ClientAuthMethod, ClientCredentials, TokenSource};
///
/// let grant = ClientCredentials::builder(Authority::parse("myinstance")?, "my.trusted.app/first")
///     .client_secret(std::env::var("ERPNET_CLIENT_SECRET").unwrap_or_default())
///     .auth_method(ClientAuthMethod::ClientSecretBasic)
///     .scopes(["read", "update"])
///     .build()?;
/// let tokens = CachedTokenSource::new(grant);
/// let token = tokens.token().await?;
/// # let _ = token; Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientCredentials {
    endpoint: TokenEndpoint,
    auth: ClientAuth,
    scopes: Vec<String>,
    scope_param: String,
    params: Vec<(String, String)>,
    http: HttpClient,
}

/// Configures a [`ClientCredentials`] grant.
#[derive(Clone)]
pub struct ClientCredentialsBuilder {
    endpoint: TokenEndpoint,
    client_id: String,
    secret: Option<SecretString>,
    method: ClientAuthMethod,
    scopes: Vec<String>,
    params: Vec<(String, String)>,
    http: Option<HttpClient>,
}

/// Parameters the grant sets itself.
const RESERVED: [&str; 4] = ["grant_type", "client_id", "client_secret", "scope"];

impl ClientCredentials {
    /// Starts configuring the grant for `client_id` (for ERP.net, the trusted
    /// application's ApplicationUri, such as `my.trusted.app/first`).
    pub fn builder(
        endpoint: impl Into<TokenEndpoint>,
        client_id: impl Into<String>,
    ) -> ClientCredentialsBuilder {
        ClientCredentialsBuilder {
            endpoint: endpoint.into(),
            client_id: client_id.into(),
            secret: None,
            method: ClientAuthMethod::default(),
            scopes: Vec::new(),
            params: Vec::new(),
            http: None,
        }
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.auth.client_id
    }

    /// The scopes requested with every token.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
}

impl ClientCredentialsBuilder {
    /// The client secret. It is kept in a [`SecretString`] and never printed.
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(SecretString::from(secret.into()));
        self
    }

    /// How to present the credentials (default: `client_secret_post`, as ERP.net
    /// documents it).
    pub fn auth_method(mut self, method: ClientAuthMethod) -> Self {
        self.method = method;
        self
    }

    /// The scopes to request, such as `["read", "update"]`. Required: ERP.net
    /// grants every scope of the application when none is named, so they are
    /// always sent explicitly.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// An extra form parameter, such as `resource` (RFC 8707) or `audience`. May
    /// be repeated.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// The HTTP client for token requests (default: [`HttpClient::new`], or the
    /// discovery cache's client when the endpoint is discovered).
    pub fn http(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// Checks the configuration and builds the grant.
    pub fn build(self) -> Result<ClientCredentials, ConfigError> {
        let auth = ClientAuth::checked(self.client_id, self.secret, self.method)?;
        let scopes: Vec<String> = self
            .scopes
            .iter()
            .flat_map(|s| s.split_whitespace())
            .map(str::to_owned)
            .collect();
        if scopes.is_empty() {
            return Err(ConfigError::invalid(
                "no scopes configured: name them explicitly (for ERP.net e.g. `read update`)",
            ));
        }
        if let Some((name, _)) = self
            .params
            .iter()
            .find(|(n, _)| RESERVED.contains(&n.as_str()))
        {
            return Err(ConfigError::invalid(format!(
                "the form parameter `{name}` is set by the grant itself"
            )));
        }
        let (endpoint, http) = self.endpoint.prepare(self.http)?;
        Ok(ClientCredentials {
            endpoint,
            auth,
            scope_param: scopes.join(" "),
            scopes,
            params: self.params,
            http,
        })
    }
}

#[async_trait]
impl TokenSource for ClientCredentials {
    async fn token(&self) -> Result<AccessToken, Error> {
        let endpoint = self.endpoint.resolve().await?;
        let span = tracing::info_span!(
            "token_request",
            grant = "client_credentials",
            endpoint = %endpoint_name(&endpoint),
            client_id = %self.auth.client_id,
        );
        let started = tokio::time::Instant::now();
        let mut params: Vec<(&str, &str)> = vec![
            ("grant_type", "client_credentials"),
            ("scope", &self.scope_param),
        ];
        params.extend(self.params.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let result = tracing::Instrument::instrument(
            request_token(&self.http, &endpoint, &self.auth, &params, &self.scopes),
            span.clone(),
        )
        .await;
        let _entered = span.enter();
        let elapsed = started.elapsed();
        match result {
            Ok(response) => {
                tracing::info!(
                    ?elapsed,
                    expires_in = ?response.expires_in,
                    scopes = ?response.access_token.scopes(),
                    "token issued"
                );
                Ok(response.access_token)
            }
            Err(error) => {
                tracing::warn!(?elapsed, %error, transient = error.is_transient(), "token request failed");
                Err(error)
            }
        }
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("endpoint", &self.endpoint)
            .field("auth", &self.auth)
            .field("scopes", &self.scopes)
            .field("params", &self.params)
            .finish()
    }
}

impl fmt::Debug for ClientCredentialsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentialsBuilder")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("method", &self.method)
            .field("scopes", &self.scopes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::*;

    fn endpoint() -> Url {
        Url::parse("https://demo.my.erp.net/id/connect/token").expect("url")
    }

    #[test]
    fn configuration_is_checked() {
        let err = ClientCredentials::builder(endpoint(), "app")
            .client_secret("s")
            .build()
            .expect_err("no scopes");
        assert!(err.to_string().contains("scopes"), "{err}");
        let err = ClientCredentials::builder(endpoint(), "app")
            .scopes(["read"])
            .build()
            .expect_err("no secret");
        assert!(err.to_string().contains("secret"), "{err}");
        let err = ClientCredentials::builder(endpoint(), "app")
            .client_secret("s")
            .scopes(["read"])
            .param("scope", "x")
            .build()
            .expect_err("reserved");
        assert!(err.to_string().contains("`scope`"), "{err}");
        let plain = Url::parse("http://demo.my.erp.net/id/connect/token").expect("url");
        let err = ClientCredentials::builder(plain, "app")
            .client_secret("s")
            .scopes(["read"])
            .build()
            .expect_err("plain http");
        assert!(matches!(err, ConfigError::InsecureUrl { .. }));
        let grant = ClientCredentials::builder(endpoint(), "app")
            .client_secret("very-secret")
            .scopes(["read update", "openid"])
            .build()
            .expect("valid");
        assert_eq!(grant.scopes(), ["read", "update", "openid"]);
        assert!(!format!("{grant:?}").contains("very-secret"));
    }
}
