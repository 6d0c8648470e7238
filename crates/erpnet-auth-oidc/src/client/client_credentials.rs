//! The client credentials grant (RFC 6749 §4.4): a service authenticates as itself.

use std::fmt;

use async_trait::async_trait;

use erpnet_auth_core::{AccessToken, ConfigError, Error, TokenSource};

use crate::client::config::{ClientConfig, EndpointKind};
use crate::client::token_endpoint::ClientAuthMethod;
use crate::scopes::Scopes;

/// The client credentials grant: ERP.net's recommended flow for service
/// integrations. Each call to [`token`](TokenSource::token) requests a new token;
/// wrap it in a [`CachedTokenSource`](erpnet_auth_core::CachedTokenSource) to reuse tokens.
///
/// ```no_run
/// # async fn demo() -> Result<(), erpnet_auth_oidc::Error> {
/// use erpnet_auth_oidc::{Authority, CachedTokenSource, ClientAuthMethod, ClientConfig, ClientCredentials, TokenSource};
///
/// let client = ClientConfig::builder(Authority::parse("myinstance")?, "my.trusted.app/first")
///     .client_secret(std::env::var("ERPNET_CLIENT_SECRET").unwrap_or_default())
///     .auth_method(ClientAuthMethod::ClientSecretBasic)
///     .build()?;
/// let grant = ClientCredentials::builder(client)
///     .scopes(["read", "update"])
///     .build()?;
/// let tokens = CachedTokenSource::new(grant);
/// let token = tokens.token().await?;
/// # let _ = token; Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientCredentials {
    client: ClientConfig,
    scopes: Scopes,
    scope_param: String,
    params: Vec<(String, String)>,
}

/// Configures a [`ClientCredentials`] grant.
#[derive(Debug, Clone)]
pub struct ClientCredentialsBuilder {
    client: ClientConfig,
    scopes: Scopes,
    params: Vec<(String, String)>,
}

/// Parameters the grant sets itself.
const RESERVED: [&str; 4] = ["grant_type", "client_id", "client_secret", "scope"];

impl ClientCredentials {
    /// Starts configuring the grant for `client`, a confidential client.
    pub fn builder(client: ClientConfig) -> ClientCredentialsBuilder {
        ClientCredentialsBuilder {
            client,
            scopes: Scopes::default(),
            params: Vec::new(),
        }
    }

    /// The client.
    pub fn client(&self) -> &ClientConfig {
        &self.client
    }

    /// The scopes requested with every token.
    pub fn scopes(&self) -> &[String] {
        self.scopes.as_slice()
    }
}

impl ClientCredentialsBuilder {
    /// Adds scopes to request, such as `["read", "update"]`; see
    /// [Scopes](crate#scopes). Required: ERP.net grants every scope of the
    /// application when none is named, so they are always sent explicitly.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.add(scopes);
        self
    }

    /// An extra form parameter, such as `resource` (RFC 8707) or `audience`. May
    /// be repeated.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// Checks the configuration and builds the grant.
    pub fn build(self) -> Result<ClientCredentials, ConfigError> {
        if self.client.auth_method() == ClientAuthMethod::None {
            return Err(ConfigError::invalid(format!(
                "client `{}` is public: client credentials need a confidential client (RFC 6749 §4.4)",
                self.client.client_id()
            )));
        }
        if self.scopes.is_empty() {
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
        self.client.check_endpoint(EndpointKind::Token)?;
        Ok(ClientCredentials {
            client: self.client,
            scope_param: self.scopes.joined(),
            scopes: self.scopes,
            params: self.params,
        })
    }
}

#[async_trait]
impl TokenSource for ClientCredentials {
    async fn token(&self) -> Result<AccessToken, Error> {
        let mut params: Vec<(&str, &str)> = vec![
            ("grant_type", "client_credentials"),
            ("scope", &self.scope_param),
        ];
        params.extend(self.params.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let response = self
            .client
            .request_token("client_credentials", &params, self.scopes.as_slice())
            .await?;
        Ok(response.access_token)
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client", &self.client)
            .field("scopes", &self.scopes.as_slice())
            .field("params", &self.params)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::*;
    use crate::client::config::Endpoints;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    fn client(endpoints: Endpoints, method: ClientAuthMethod) -> ClientConfig {
        let builder = ClientConfig::builder(endpoints, "app").auth_method(method);
        match method {
            ClientAuthMethod::None => builder,
            _ => builder.client_secret("very-secret"),
        }
        .build()
        .expect("client")
    }

    fn confidential() -> ClientConfig {
        let token = Endpoints::new().token(url("https://demo.my.erp.net/id/connect/token"));
        client(token, ClientAuthMethod::ClientSecretPost)
    }

    /// Why `builder` is refused.
    fn refusal(builder: ClientCredentialsBuilder) -> String {
        builder.build().expect_err("refused").to_string()
    }

    #[test]
    fn configuration_is_checked() {
        let token = || Endpoints::new().token(url("https://demo.my.erp.net/id/connect/token"));
        assert!(refusal(ClientCredentials::builder(confidential())).contains("scopes"));
        let reserved = ClientCredentials::builder(confidential())
            .scopes(["read"])
            .param("scope", "x");
        assert!(refusal(reserved).contains("`scope`"));
        let public = ClientCredentials::builder(client(token(), ClientAuthMethod::None));
        assert!(refusal(public.scopes(["read"])).contains("confidential"));
        let revocation_only = client(
            Endpoints::new().revocation(url("https://demo.my.erp.net/id/connect/revocation")),
            ClientAuthMethod::ClientSecretBasic,
        );
        let no_token_endpoint = ClientCredentials::builder(revocation_only).scopes(["read"]);
        assert!(refusal(no_token_endpoint).contains("Endpoints::token"));

        let grant = ClientCredentials::builder(confidential())
            .scopes(["read update", "openid"])
            .scopes(["update", "profile"])
            .build()
            .expect("valid");
        assert_eq!(grant.scopes(), ["read", "update", "openid", "profile"]);
        assert_eq!(grant.scope_param, "read update openid profile");
        assert_eq!(grant.client().client_id(), "app");
        assert!(!format!("{grant:?}").contains("very-secret"));
    }
}
