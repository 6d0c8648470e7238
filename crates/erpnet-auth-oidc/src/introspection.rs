//! Token introspection (RFC 7662), for opaque tokens at providers that offer
//! it.
//!
//! ERP.net documents no public introspection endpoint: its reference tokens
//! (`enrt_…`) are validated by the instance itself. Generic providers (and the
//! mock identity) offer introspection; nothing in this library requires it.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use erpnet_auth_core::sync::{KeyedSingleFlight, lock};
use erpnet_auth_core::{ConfigError, Error};

use crate::claims::{
    Checked, Claims, VerifiedToken, granted_scopes, parse_audiences, parse_numeric_date, unix_now,
};
use crate::client::config::{ClientConfig, EndpointKind};
use crate::client::token_endpoint::error_answer;
use crate::digest::sha256;
use crate::http::{HttpResponse, is_json, media_type};

/// Default longest time an introspection result is reused.
pub const DEFAULT_INTROSPECTION_TTL: Duration = Duration::from_secs(30);
/// Default number of introspection results remembered.
pub const DEFAULT_INTROSPECTION_CACHE: usize = 10_000;

/// Validates opaque tokens with the provider's introspection endpoint.
///
/// Results are cached, keyed by the SHA-256 of the token, for no longer than the
/// token's `exp` nor the configured time to live (default 30 s: a revoked token
/// is noticed within that time); at most one request per token is in flight.
///
/// ```no_run
/// # async fn demo(token: &str) -> Result<(), erpnet_auth_oidc::Error> {
/// use erpnet_auth_oidc::{Authority, ClientAuthMethod, ClientConfig, Introspector};
///
/// // The resource server's own credentials at the provider.
/// let api = ClientConfig::builder(Authority::parse("https://id.example.com")?, "my-api")
///     .client_secret(std::env::var("API_SECRET").unwrap_or_default())
///     .auth_method(ClientAuthMethod::ClientSecretBasic)
///     .build()?;
/// let introspector = Introspector::builder(api).build()?;
/// match introspector.introspect(token).await? {
///     Some(active) => println!("active, scopes {:?}", active.scopes()),
///     None => println!("inactive"),
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Introspector {
    inner: Arc<Inner>,
}

type Outcome = Result<Option<VerifiedToken>, Error>;

/// A result (`None` = inactive) and until when it may be reused.
type Remembered = (Option<VerifiedToken>, i64);

struct Inner {
    client: ClientConfig,
    ttl: i64,
    capacity: usize,
    cache: Mutex<HashMap<[u8; 32], Remembered>>,
    /// One request per token in flight, on its own task, which also writes the
    /// result cache: a caller that is dropped cancels nothing.
    in_flight: KeyedSingleFlight<[u8; 32], Outcome>,
}

/// Configures an [`Introspector`].
#[derive(Debug)]
pub struct IntrospectorBuilder {
    client: ClientConfig,
    ttl: Duration,
    capacity: usize,
}

impl IntrospectorBuilder {
    /// The longest time a result is reused (default 30 s; zero turns the cache off).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How many results are remembered (default 10,000).
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Builds the introspector. Fails when the provider is known, now, to
    /// have no introspection endpoint; with a discovery cache that is found on
    /// the first request.
    pub fn build(self) -> Result<Introspector, ConfigError> {
        self.client.check_endpoint(EndpointKind::Introspection)?;
        Ok(Introspector {
            inner: Arc::new(Inner {
                client: self.client,
                ttl: i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX),
                capacity: self.capacity,
                cache: Mutex::new(HashMap::new()),
                in_flight: KeyedSingleFlight::new(),
            }),
        })
    }
}

impl Introspector {
    /// Starts configuring introspection as `client`: the resource server's
    /// own credentials at the provider (an API resource or a confidential
    /// client), whose `introspection_endpoint` is asked.
    pub fn builder(client: ClientConfig) -> IntrospectorBuilder {
        IntrospectorBuilder {
            client,
            ttl: DEFAULT_INTROSPECTION_TTL,
            capacity: DEFAULT_INTROSPECTION_CACHE,
        }
    }

    /// Introspects `token`: `Some` with its claims when active, `None` when not.
    pub async fn introspect(&self, token: &str) -> Result<Option<VerifiedToken>, Error> {
        let key = sha256(token);
        if let Some(result) = self.remembered(&key) {
            return Ok(result);
        }
        let flight = self.inner.in_flight.try_run(key, || {
            // Nothing in flight for this token: a request that just ended has
            // written the cache first.
            match self.remembered(&key) {
                Some(result) => Err(result),
                None => Ok(self
                    .clone()
                    .request_and_remember(key, SecretString::from(token))),
            }
        });
        match flight {
            Ok(waiter) => waiter
                .await
                .unwrap_or_else(|abandoned| Err(abandoned.into_error("the introspection request"))),
            Err(result) => Ok(result),
        }
    }

    /// Forgets a cached result (after revoking the token, for example).
    pub fn forget(&self, token: &str) {
        lock(&self.inner.cache).remove(&sha256(token));
    }

    /// The cached result for the token of `key`, if still valid.
    fn remembered(&self, key: &[u8; 32]) -> Option<Option<VerifiedToken>> {
        let now = unix_now();
        lock(&self.inner.cache)
            .get(key)
            .filter(|(_, until)| now < *until)
            .map(|(result, _)| result.clone())
    }

    /// One request, on the flight's own task: its result is cached whoever
    /// waits for it.
    async fn request_and_remember(self, key: [u8; 32], token: SecretString) -> Outcome {
        let now = unix_now();
        let outcome = self.request(token.expose_secret()).await;
        if let Ok(result) = &outcome {
            self.remember(key, result.clone(), now);
        }
        outcome
    }

    fn remember(&self, key: [u8; 32], result: Option<VerifiedToken>, now: i64) {
        let inner = &*self.inner;
        if inner.ttl == 0 || inner.capacity == 0 {
            return;
        }
        let mut until = now.saturating_add(inner.ttl);
        if let Some(active) = &result {
            until = until.min(active.expires_at_seconds());
        }
        let mut cache = lock(&inner.cache);
        if cache.len() >= inner.capacity {
            cache.retain(|_, (_, until)| now < *until);
            if cache.len() >= inner.capacity
                && let Some(victim) = cache.keys().next().copied()
            {
                cache.remove(&victim);
            }
        }
        cache.insert(key, (result, until));
    }

    async fn request(&self, token: &str) -> Result<Option<VerifiedToken>, Error> {
        let inner = &*self.inner;
        let (name, response) = inner
            .client
            .post(
                EndpointKind::Introspection,
                &[("token", token), ("token_type_hint", "access_token")],
            )
            .await?;
        read_answer(&name, &response, inner.ttl, unix_now())
    }
}

/// Reads an introspection endpoint's answer (RFC 7662 §2.2): `None` for an
/// inactive token, one whose `exp` has passed included. A token without `exp`
/// is taken to live `ttl` seconds from `now`.
pub(crate) fn read_answer(endpoint: &str, response: &HttpResponse, ttl: i64, now: i64) -> Outcome {
    if !response.status.is_success() {
        return Err(error_answer(endpoint, response));
    }
    let invalid = |reason: String| Error::InvalidResponse {
        endpoint: endpoint.to_owned(),
        reason,
    };
    if !is_json(&response.headers) {
        return Err(invalid(format!(
            "expected JSON, got content type `{}`",
            media_type(&response.headers).unwrap_or_default()
        )));
    }
    let claims: Map<String, Value> = serde_json::from_slice(&response.body)
        .map_err(|e| invalid(format!("malformed JSON ({:?} error)", e.classify())))?;
    match claims.get("active") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => return Ok(None),
        _ => return Err(invalid("no boolean `active`".into())),
    }
    let expires_at = match claims.get("exp") {
        None => now.saturating_add(ttl),
        Some(exp) => {
            parse_numeric_date(exp).ok_or_else(|| invalid("`exp` is not a number".into()))?
        }
    };
    if expires_at <= now {
        return Ok(None);
    }
    let audiences = claims
        .get("aud")
        .and_then(parse_audiences)
        .unwrap_or_default();
    // `scope` (RFC 7662), or `scp` where a provider names it so; a
    // malformed one grants nothing.
    let present = |name| claims.get(name).filter(|value| !value.is_null());
    let scopes = granted_scopes(present("scope"), present("scp")).unwrap_or_default();
    Ok(Some(VerifiedToken::new(Checked {
        audiences,
        expires_at,
        not_before: claims.get("nbf").and_then(parse_numeric_date),
        issued_at: claims.get("iat").and_then(parse_numeric_date),
        scopes,
        key_id: None,
        algorithm: None,
        claims: Claims::Map(claims),
    })))
}

impl fmt::Debug for Introspector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspector")
            .field("client", &self.inner.client)
            .field("ttl", &self.inner.ttl)
            .finish()
    }
}

#[cfg(test)]
mod tests;
