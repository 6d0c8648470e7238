//! The client side of OAuth 2.0: the token endpoint and the grants that use
//! it, client authentication, and revocation.

use erpnet_auth_core::{ConfigError, Error};
use url::Url;

use crate::discovery::{Authority, Discovery, DiscoveryCache};
use crate::http::{HttpClient, check_url};

pub(crate) mod client_credentials;
pub(crate) mod refresh_token;
pub(crate) mod token_endpoint;

/// Where a grant sends its token requests.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TokenEndpoint {
    /// A known token endpoint URL.
    Url(Url),
    /// The `token_endpoint` of a discovery document, fetched on first use.
    Discover(DiscoveryCache),
    /// The authority whose discovery document names the endpoint; a grant's
    /// `build()` turns it into a [`DiscoveryCache`] that uses the grant's HTTP
    /// client.
    Authority(Authority),
}

impl TokenEndpoint {
    /// Resolves the URL, fetching the discovery document if needed.
    pub async fn resolve(&self) -> Result<Url, Error> {
        match self {
            Self::Url(url) => Ok(url.clone()),
            Self::Discover(cache) => Ok(cache.get().await?.token_endpoint().clone()),
            Self::Authority(authority) => {
                let document = Discovery::fetch_with(authority, &HttpClient::new()?).await?;
                Ok(document.token_endpoint().clone())
            }
        }
    }

    /// What every builder does with its endpoint and HTTP client: a URL must
    /// be `https` (or loopback `http`); an authority becomes a discovery cache;
    /// the HTTP client is the one given, else the discovery cache's, else a new
    /// one.
    pub(crate) fn prepare(
        self,
        given: Option<HttpClient>,
    ) -> Result<(TokenEndpoint, HttpClient), ConfigError> {
        if let TokenEndpoint::Url(url) = &self {
            check_url(url)?;
        }
        let http = match (given, &self) {
            (Some(http), _) => http,
            (None, TokenEndpoint::Discover(cache)) => cache.http().clone(),
            (None, _) => HttpClient::new()?,
        };
        let endpoint = match self {
            TokenEndpoint::Authority(authority) => {
                TokenEndpoint::Discover(DiscoveryCache::new(authority, http.clone()))
            }
            other => other,
        };
        Ok((endpoint, http))
    }
}

impl From<Url> for TokenEndpoint {
    fn from(url: Url) -> Self {
        Self::Url(url)
    }
}

impl From<&Discovery> for TokenEndpoint {
    fn from(discovery: &Discovery) -> Self {
        Self::Url(discovery.token_endpoint().clone())
    }
}

impl From<DiscoveryCache> for TokenEndpoint {
    fn from(cache: DiscoveryCache) -> Self {
        Self::Discover(cache)
    }
}

impl From<Authority> for TokenEndpoint {
    fn from(authority: Authority) -> Self {
        Self::Authority(authority)
    }
}

/// Where an introspection or revocation request goes.
#[cfg(feature = "introspection")]
#[derive(Debug, Clone)]
pub(crate) enum Endpoint {
    Url(Url),
    Discover(DiscoveryCache, Which),
}

#[cfg(feature = "introspection")]
#[derive(Debug, Clone, Copy)]
pub(crate) enum Which {
    Introspection,
    Revocation,
}

#[cfg(feature = "introspection")]
impl Endpoint {
    pub(crate) async fn resolve(&self) -> Result<Url, Error> {
        match self {
            Endpoint::Url(url) => Ok(url.clone()),
            Endpoint::Discover(cache, which) => {
                let doc = cache.get().await?;
                let url = match which {
                    Which::Introspection => doc.introspection_endpoint(),
                    Which::Revocation => doc.revocation_endpoint(),
                };
                url.cloned().ok_or_else(|| {
                    Error::Config(ConfigError::invalid(format!(
                        "{} has no {} endpoint",
                        doc.issuer(),
                        match which {
                            Which::Introspection => "introspection",
                            Which::Revocation => "revocation",
                        }
                    )))
                })
            }
        }
    }
}

#[cfg(feature = "introspection")]
/// The endpoint of `which` kind for a prepared [`TokenEndpoint`] (see
/// [`TokenEndpoint::prepare`]): a URL is taken as it is, a discovery document
/// names the endpoint.
pub(crate) fn endpoint_for(endpoint: TokenEndpoint, which: Which, http: &HttpClient) -> Endpoint {
    match endpoint {
        TokenEndpoint::Url(url) => Endpoint::Url(url),
        TokenEndpoint::Discover(cache) => Endpoint::Discover(cache, which),
        TokenEndpoint::Authority(authority) => {
            Endpoint::Discover(DiscoveryCache::new(authority, http.clone()), which)
        }
    }
}
