//! OpenID Connect discovery: from an ERP.net instance name or an issuer URL to the
//! provider's endpoints.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use serde::{Deserialize, Serialize};
use url::Url;

use erpnet_auth_core::pacing::retry_after;
use erpnet_auth_core::sync::{Abandoned, SingleFlight};
use erpnet_auth_core::{ConfigError, Error};

use crate::backoff::Backoff;
use crate::http::{
    HttpClient, check_url, endpoint_name, is_json, media_type, parse_url, request_error,
};

/// Where an identity provider lives: its issuer URL.
///
/// Each ERP.net instance has its own authority, `https://{instance}.my.erp.net/id`;
/// tokens for an instance's APIs come only from that instance.
///
/// ```
/// use erpnet_auth_oidc::Authority;
///
/// let erp: Authority = "myinstance".parse()?;
/// assert_eq!(erp.issuer(), "https://myinstance.my.erp.net/id");
/// assert_eq!(
///     erp.discovery_url().as_str(),
///     "https://myinstance.my.erp.net/id/.well-known/openid-configuration"
/// );
///
/// let other: Authority = "https://login.example.com/realms/main/".parse()?;
/// assert_eq!(other.issuer(), "https://login.example.com/realms/main");
/// # Ok::<(), erpnet_auth_oidc::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    issuer: String,
    url: Url,
}

impl Authority {
    /// The authority of an ERP.net instance: `myinstance` becomes
    /// `https://myinstance.my.erp.net/id`.
    pub fn erpnet_instance(name: &str) -> Result<Self, ConfigError> {
        let name = name.trim();
        let valid = !name.is_empty()
            && name.len() <= 63
            && !name.starts_with('-')
            && !name.ends_with('-')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid {
            return Err(ConfigError::invalid(format!(
                "`{name}` is not an ERP.net instance name (letters, digits and `-`) nor an issuer URL"
            )));
        }
        Self::issuer_url(&format!(
            "https://{}.my.erp.net/id",
            name.to_ascii_lowercase()
        ))
    }

    /// The authority with this issuer URL (trailing `/`s are dropped, as issuers
    /// conventionally have none, so that an issuer parses to itself). Must be
    /// `https`, or `http` to a loopback address.
    pub fn issuer_url(issuer: &str) -> Result<Self, ConfigError> {
        let issuer = issuer.trim().trim_end_matches('/');
        let url = parse_url("issuer", issuer)?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError::invalid(format!(
                "issuer `{issuer}` must not have a query or fragment"
            )));
        }
        check_url(&url)?;
        Ok(Self {
            issuer: issuer.to_owned(),
            url,
        })
    }

    /// An ERP.net instance name or an issuer URL, whichever `value` is: a URL
    /// has a `:` after its scheme, an instance name never has one.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        // Not `://`: URL parsers take `https:/host` for `https://host`, and an
        // issuer given so must parse again as the URL it was.
        if value.contains(':') {
            Self::issuer_url(value)
        } else {
            Self::erpnet_instance(value)
        }
    }

    /// The issuer, exactly as tokens and the discovery document must name it.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The issuer as a URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// `{issuer}/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> Url {
        let mut url = self.url.clone();
        let path = format!(
            "{}/.well-known/openid-configuration",
            url.path().trim_end_matches('/')
        );
        url.set_path(&path);
        url
    }
}

impl FromStr for Authority {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.issuer)
    }
}

/// A provider's metadata document: OpenID Connect Discovery 1.0 and RFC 8414.
///
/// The fields this library reads are typed; every other member of the document
/// is kept in [`other`](Self::other), so serializing the value gives the whole
/// document back.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[non_exhaustive]
pub struct ProviderMetadata {
    /// The issuer, checked against the configured one.
    pub issuer: String,
    /// The authorization endpoint (sign-in).
    pub authorization_endpoint: Url,
    /// The token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<Url>,
    /// The JSON Web Key Set with the provider's signing keys.
    pub jwks_uri: Url,
    /// The OpenID Connect userinfo endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<Url>,
    /// RP-initiated logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<Url>,
    /// RFC 7662 token introspection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<Url>,
    /// RFC 7009 token revocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<Url>,
    /// RFC 8628 device authorization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<Url>,
    /// The scopes the provider lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// The `response_type` values the provider supports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types_supported: Option<Vec<String>>,
    /// The grant types the provider lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types_supported: Option<Vec<String>>,
    /// How clients may authenticate to the token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// RFC 7636 PKCE methods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// The algorithms ID tokens are signed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signing_alg_values_supported: Option<Vec<String>>,
    /// RFC 9207: the provider sends `iss` with authorization responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_response_iss_parameter_supported: Option<bool>,
    /// Every other member of the document, as sent.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// A fetched and checked discovery document.
///
/// ```no_run
/// # async fn demo() -> Result<(), erpnet_auth_oidc::Error> {
/// use erpnet_auth_oidc::Discovery;
///
/// let discovery = Discovery::fetch("myinstance").await?;
/// println!("tokens from {}", discovery.token_endpoint());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Discovery {
    authority: Authority,
    metadata: Arc<ProviderMetadata>,
    token_endpoint: Url,
}

impl Discovery {
    /// Fetches the document of an ERP.net instance name or issuer URL with a
    /// default [`HttpClient`].
    pub async fn fetch(authority: &str) -> Result<Self, Error> {
        Self::fetch_with(&Authority::parse(authority)?, &HttpClient::new()?).await
    }

    /// Fetches `{issuer}/.well-known/openid-configuration` and checks it: the
    /// `issuer` in the document must equal the configured one exactly, and every
    /// endpoint must be `https` (or loopback `http`).
    #[tracing::instrument(name = "discovery", skip_all, fields(issuer = %authority.issuer()))]
    pub async fn fetch_with(authority: &Authority, http: &HttpClient) -> Result<Self, Error> {
        let url = authority.discovery_url();
        let endpoint = endpoint_name(&url);
        let started = tokio::time::Instant::now();
        let request = http
            .reqwest_client()
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .build()
            .map_err(|e| request_error(&endpoint, &e))?;
        let result = async {
            let response = http.execute(request).await?;
            if !response.status.is_success() {
                return Err(Error::Status {
                    endpoint: endpoint.clone(),
                    status: response.status.as_u16(),
                    retry_after: retry_after(&response.headers),
                });
            }
            Self::from_document(authority, &endpoint, &response.headers, &response.body)
        }
        .await;
        match &result {
            Ok(_) => tracing::debug!(elapsed = ?started.elapsed(), "discovery document fetched"),
            Err(error) => tracing::warn!(%error, elapsed = ?started.elapsed(), "discovery failed"),
        }
        result
    }

    pub(crate) fn from_document(
        authority: &Authority,
        endpoint: &str,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidResponse {
            endpoint: endpoint.to_owned(),
            reason,
        };
        if !is_json(headers) {
            return Err(invalid(format!(
                "expected a JSON document, got content type `{}`",
                media_type(headers).unwrap_or_default()
            )));
        }
        let metadata: ProviderMetadata =
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(body))
                .map_err(|e| {
                    let path = e.path().to_string();
                    let inner = e.into_inner();
                    if inner.is_syntax() || inner.is_eof() {
                        invalid(format!(
                            "malformed JSON at line {}, column {}",
                            inner.line(),
                            inner.column()
                        ))
                    } else {
                        invalid(format!("field `{path}`: {inner}"))
                    }
                })?;
        let found = metadata.issuer.as_str();
        if found != authority.issuer() {
            return Err(Error::IssuerMismatch {
                endpoint: endpoint.to_owned(),
                expected: authority.issuer().to_owned(),
                found: found.to_owned(),
            });
        }
        let token_endpoint = metadata
            .token_endpoint
            .clone()
            .ok_or_else(|| invalid("no `token_endpoint`".to_owned()))?;
        let endpoints = [
            Some(&token_endpoint),
            Some(&metadata.jwks_uri),
            Some(&metadata.authorization_endpoint),
            metadata.userinfo_endpoint.as_ref(),
            metadata.end_session_endpoint.as_ref(),
            metadata.introspection_endpoint.as_ref(),
            metadata.revocation_endpoint.as_ref(),
            metadata.device_authorization_endpoint.as_ref(),
        ];
        for url in endpoints.into_iter().flatten() {
            check_url(url).map_err(|e| invalid(e.to_string()))?;
        }
        Ok(Self {
            authority: authority.clone(),
            metadata: Arc::new(metadata),
            token_endpoint,
        })
    }

    /// The authority this document was fetched for.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The issuer, as checked against the configured one.
    pub fn issuer(&self) -> &str {
        self.authority.issuer()
    }

    /// The token endpoint.
    pub fn token_endpoint(&self) -> &Url {
        &self.token_endpoint
    }

    /// The authorization endpoint.
    pub fn authorization_endpoint(&self) -> &Url {
        &self.metadata.authorization_endpoint
    }

    /// The JSON Web Key Set URL (`jwks_uri`).
    pub fn jwks_uri(&self) -> &Url {
        &self.metadata.jwks_uri
    }

    /// The end-session (logout) endpoint, if the provider has one.
    pub fn end_session_endpoint(&self) -> Option<&Url> {
        self.metadata.end_session_endpoint.as_ref()
    }

    /// The RFC 7662 introspection endpoint, if the provider has one.
    pub fn introspection_endpoint(&self) -> Option<&Url> {
        self.metadata.introspection_endpoint.as_ref()
    }

    /// The RFC 7009 revocation endpoint, if the provider has one.
    pub fn revocation_endpoint(&self) -> Option<&Url> {
        self.metadata.revocation_endpoint.as_ref()
    }

    /// The scopes the provider lists, if it lists them.
    pub fn scopes_supported(&self) -> Vec<String> {
        self.metadata.scopes_supported.clone().unwrap_or_default()
    }

    /// The grant types the provider lists, if it lists them.
    pub fn grant_types_supported(&self) -> Vec<String> {
        self.metadata
            .grant_types_supported
            .clone()
            .unwrap_or_default()
    }

    /// The whole document.
    pub fn metadata(&self) -> &ProviderMetadata {
        &self.metadata
    }
}

/// A discovery document fetched once and then served from memory.
///
/// Concurrent first calls share one fetch. A failed fetch is remembered for a
/// while (1 s, doubled for each failure in a row up to 30 s, or the provider's
/// `Retry-After` within that cap): until then every call gets its error at once,
/// so a provider that is down is not asked again by every request.
/// [`refresh`](Self::refresh) fetches anew.
#[derive(Clone)]
pub struct DiscoveryCache {
    inner: Arc<DiscoveryInner>,
}

struct DiscoveryInner {
    authority: Authority,
    http: HttpClient,
    current: ArcSwapOption<Discovery>,
    /// The fetch in flight, on a task of its own: a caller that goes away (a
    /// time-out, a client hanging up) cancels nothing, and the document or
    /// the error it brings is recorded all the same.
    fetching: SingleFlight<Result<Arc<Discovery>, Error>>,
    failures: Backoff,
}

impl DiscoveryCache {
    /// A cache for `authority`'s document, fetched on first use.
    pub fn new(authority: Authority, http: HttpClient) -> Self {
        Self {
            inner: Arc::new(DiscoveryInner {
                authority,
                http,
                current: ArcSwapOption::empty(),
                fetching: SingleFlight::new(),
                failures: Backoff::default(),
            }),
        }
    }

    /// The authority.
    pub fn authority(&self) -> &Authority {
        &self.inner.authority
    }

    /// The HTTP client used for the provider.
    pub fn http(&self) -> &HttpClient {
        &self.inner.http
    }

    /// The document, fetched if it is not cached yet; while backing off after
    /// a failed fetch, that fetch's error.
    pub async fn get(&self) -> Result<Arc<Discovery>, Error> {
        if let Some(doc) = self.inner.current.load_full() {
            return Ok(doc);
        }
        if let Some(error) = self.inner.failures.current() {
            return Err(error);
        }
        let inner = self.inner.clone();
        let started = self.inner.fetching.try_run(|| {
            // Under the flight's lock, so a fetch that has just ended has
            // recorded its document or its error: that rather than another
            // fetch.
            if let Some(doc) = inner.current.load_full() {
                return Err(Ok(doc));
            }
            if let Some(error) = inner.failures.current() {
                return Err(Err(error));
            }
            Ok(inner.fetch())
        });
        match started {
            Ok(fetch) => fetch.await.unwrap_or_else(abandoned),
            Err(answer) => answer,
        }
    }

    /// Fetches the document anew (or joins the fetch in flight); the cached
    /// one stays if the fetch fails.
    pub async fn refresh(&self) -> Result<Arc<Discovery>, Error> {
        let inner = self.inner.clone();
        self.inner
            .fetching
            .run(|| inner.fetch())
            .await
            .unwrap_or_else(abandoned)
    }
}

impl DiscoveryInner {
    /// One fetch, recording what it brings: the document, or the error and
    /// the back-off that follows it.
    async fn fetch(self: Arc<Self>) -> Result<Arc<Discovery>, Error> {
        match Discovery::fetch_with(&self.authority, &self.http).await {
            Ok(doc) => {
                let doc = Arc::new(doc);
                self.current.store(Some(doc.clone()));
                self.failures.succeeded();
                Ok(doc)
            }
            Err(error) => {
                let wait = self.failures.failed(&error);
                tracing::warn!(
                    %error,
                    retry_in = ?wait,
                    "discovery failed; its error is handed out until the wait is over"
                );
                Err(error)
            }
        }
    }
}

/// The error of a fetch whose task ended without an answer (the runtime shut
/// down, or the fetch panicked).
fn abandoned(abandoned: Abandoned) -> Result<Arc<Discovery>, Error> {
    Err(abandoned.into_error("the discovery fetch"))
}

impl fmt::Debug for DiscoveryCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscoveryCache")
            .field("authority", &self.inner.authority)
            .field("cached", &self.inner.current.load().is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_and_urls() {
        assert_eq!(
            Authority::parse("Demo-1").expect("name").issuer(),
            "https://demo-1.my.erp.net/id"
        );
        assert!(Authority::parse("bad name").is_err());
        assert!(Authority::parse("-x").is_err());
        assert!(Authority::parse("").is_err());
        let loopback = Authority::parse("http://127.0.0.1:9000/id/").expect("loopback");
        assert_eq!(loopback.issuer(), "http://127.0.0.1:9000/id");
        assert_eq!(
            loopback.discovery_url().as_str(),
            "http://127.0.0.1:9000/id/.well-known/openid-configuration"
        );
        let root = Authority::parse("https://accounts.example.com").expect("root");
        assert_eq!(
            root.discovery_url().as_str(),
            "https://accounts.example.com/.well-known/openid-configuration"
        );
        let err = Authority::parse("http://id.example.com/id").expect_err("plain http");
        assert!(matches!(err, ConfigError::InsecureUrl { .. }), "{err}");
        assert!(Authority::parse("https://x/id?a=b").is_err());
    }

    #[test]
    fn every_trailing_slash_is_dropped_so_an_issuer_parses_to_itself() {
        // Found by the `authority` fuzz target: one slash of two was dropped,
        // leaving an issuer with a trailing slash, which parsed again to
        // another one.
        for (given, issuer) in [
            ("https://id.example.com//", "https://id.example.com"),
            (
                "http://127.1.//p/0:\0.1.hptp://",
                "http://127.1.//p/0:\0.1.hptp:",
            ),
            (
                "https://id.example.com/realms/main///",
                "https://id.example.com/realms/main",
            ),
            // Found by the fuzz target too: a URL with one slash after its
            // scheme, which URL parsers take, was an issuer once and an
            // (invalid) instance name when parsed again.
            ("https:/re8i/lgocht2tps://", "https:/re8i/lgocht2tps:"),
        ] {
            let authority = Authority::parse(given).expect(given);
            assert_eq!(authority.issuer(), issuer, "{given:?}");
            assert_eq!(Authority::parse(authority.issuer()), Ok(authority));
        }
    }

    /// Defect: a failing discovery was fetched again by every call, each
    /// waiting out its own time-out, with no back-off.
    #[tokio::test(start_paused = true)]
    async fn a_failed_fetch_is_handed_out_until_its_back_off_is_over() {
        use erpnet_auth_testkit::{Endpoint, Failure, MockIdentity};

        let identity = MockIdentity::start().await;
        let authority = Authority::parse(&identity.issuer()).expect("loopback issuer");
        let cache = DiscoveryCache::new(authority, HttpClient::new().expect("client"));
        identity.fail_next(Endpoint::Discovery, 2, Failure::Status(503));

        for _ in 0..10 {
            assert!(cache.get().await.is_err());
        }
        assert_eq!(
            identity.requests(Endpoint::Discovery),
            1,
            "one fetch, then its error"
        );
        tokio::time::advance(crate::backoff::BACKOFF_INITIAL).await;
        assert!(cache.get().await.is_err(), "a second failure in a row");
        tokio::time::advance(crate::backoff::BACKOFF_INITIAL).await;
        assert!(cache.get().await.is_err(), "which waits twice as long");
        assert_eq!(identity.requests(Endpoint::Discovery), 2);
        tokio::time::advance(crate::backoff::BACKOFF_INITIAL).await;
        assert!(cache.get().await.is_ok());
        assert!(cache.get().await.is_ok());
        assert_eq!(identity.requests(Endpoint::Discovery), 3);
    }

    /// A caller that gives up (a time-out, a client hanging up) must not
    /// cancel the fetch that other callers share.
    #[tokio::test(start_paused = true)]
    async fn a_caller_that_goes_away_cancels_no_fetch() {
        use std::time::Duration;

        use erpnet_auth_testkit::{Endpoint, Failure, MockIdentity};

        let identity = MockIdentity::start().await;
        let authority = Authority::parse(&identity.issuer()).expect("loopback issuer");
        let cache = DiscoveryCache::new(authority, HttpClient::new().expect("client"));
        identity.fail_next(
            Endpoint::Discovery,
            1,
            Failure::Delay(Duration::from_secs(2)),
        );

        let gave_up = tokio::time::timeout(Duration::from_millis(500), cache.get()).await;
        assert!(
            gave_up.is_err(),
            "the fetch is still waiting for the slow provider"
        );
        assert!(
            cache.get().await.is_ok(),
            "the next caller joins the same fetch"
        );
        assert_eq!(
            identity.requests(Endpoint::Discovery),
            1,
            "one fetch in all"
        );
        assert!(cache.get().await.is_ok());
        assert_eq!(identity.requests(Endpoint::Discovery), 1);
    }
}
