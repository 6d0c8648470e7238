//! Token revocation (RFC 7009), for providers that offer it: signing out
//! ends the tokens, not only the session.
//!
//! ERP.net documents no revocation endpoint; nothing in this library
//! requires one.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use erpnet_auth_core::{ConfigError, Error};

use crate::client::config::{ClientConfig, EndpointKind};
use crate::client::token_endpoint::error_answer;

/// What kind of token is being revoked (`token_type_hint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenTypeHint {
    /// An access token.
    AccessToken,
    /// A refresh token.
    RefreshToken,
}

impl TokenTypeHint {
    fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "access_token",
            Self::RefreshToken => "refresh_token",
        }
    }
}

/// Revokes access and refresh tokens (RFC 7009) at the provider's
/// `revocation_endpoint`, as the client the tokens were issued to.
///
/// ```no_run
/// # async fn demo(client: erpnet_auth_oidc::ClientConfig, refresh_token: secrecy::SecretString) -> Result<(), erpnet_auth_oidc::Error> {
/// use erpnet_auth_oidc::{Revocation, TokenTypeHint};
///
/// let revocation = Revocation::new(client)?;
/// revocation.revoke(&refresh_token, TokenTypeHint::RefreshToken).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Revocation {
    client: ClientConfig,
}

impl Revocation {
    /// Revocation for `client`. Fails when the provider is known, now, to
    /// have no revocation endpoint (explicit [`Endpoints`](crate::Endpoints)
    /// without one, or a fetched discovery document naming none); with a
    /// discovery cache that is found on the first [`revoke`](Self::revoke).
    pub fn new(client: ClientConfig) -> Result<Self, ConfigError> {
        client.check_endpoint(EndpointKind::Revocation)?;
        Ok(Self { client })
    }

    /// The client.
    pub fn client(&self) -> &ClientConfig {
        &self.client
    }

    /// Revokes `token`. The provider answers success for unknown tokens too
    /// (RFC 7009 §2.2), so success means "not usable any more".
    pub async fn revoke(&self, token: &SecretString, hint: TokenTypeHint) -> Result<(), Error> {
        let hint = hint.as_str();
        let (endpoint, response) = self
            .client
            .post(
                EndpointKind::Revocation,
                &[("token", token.expose_secret()), ("token_type_hint", hint)],
            )
            .await?;
        if response.status.is_success() {
            tracing::info!(%endpoint, hint, "token revoked");
            return Ok(());
        }
        Err(error_answer(&endpoint, &response))
    }
}

impl fmt::Debug for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revocation")
            .field("client", &self.client)
            .finish()
    }
}
