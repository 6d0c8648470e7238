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

use crate::backoff::Backoff;
use crate::claims::{
    Checked, Claims, VerifiedToken, granted_scopes, parse_audiences, parse_numeric_date, unix_now,
};
use crate::client::config::{ClientConfig, EndpointKind};
use crate::client::token_endpoint::error_answer;
use crate::digest::sha256;
use crate::http::{HttpResponse, is_json, media_type};
use crate::jose::is_b64token;

/// Default longest time an introspection result is reused.
pub const DEFAULT_INTROSPECTION_TTL: Duration = Duration::from_secs(30);
/// Default number of introspection results remembered.
pub const DEFAULT_INTROSPECTION_CACHE: usize = 10_000;
/// How long a failed introspection of a token is remembered, so that a client
/// repeating a request does not repeat the call.
pub const INTROSPECTION_ERROR_TTL: Duration = Duration::from_secs(5);
/// The longest token sent to introspection, as for JWTs
/// (`DEFAULT_MAX_TOKEN_LENGTH`); a longer one is not active without asking.
pub const MAX_INTROSPECTED_TOKEN_LENGTH: usize = 16 * 1024;

/// Validates opaque tokens with the provider's introspection endpoint.
///
/// Results are cached, keyed by the SHA-256 of the token, for no longer than the
/// token's `exp` nor the configured time to live (default 30 s: a revoked token
/// is noticed within that time); at most one request per token is in flight.
///
/// What it refuses, without asking or after asking:
///
/// - **Not a token**: one longer than [`MAX_INTROSPECTED_TOKEN_LENGTH`] or
///   outside the RFC 6750 `b64token` syntax is not active, and is never sent.
/// - **A malformed answer**: an `aud` that is neither a string nor an array of
///   strings, an `iss`, `sub`, `client_id` or `token_type` that is not a
///   string, an `exp`, `nbf` or `iat` that is not a number: an
///   [`Error::InvalidResponse`], never read as if the claim were absent.
/// - **Not an access token for this resource server** (the answer is then
///   `None`, as for an inactive token, and logged at debug level with the
///   reason): an `iss` other than the provider's issuer (from discovery, or
///   [`IntrospectorBuilder::issuer`]); a `token_type` other than `Bearer`, or
///   none at all (a refresh token: oidc-provider and others name no type for
///   those; see [`IntrospectorBuilder::require_token_type`]); a token bound to
///   a key (`cnf`), whose proof of possession is not checked here; an `aud`
///   naming none of the [`audience`](IntrospectorBuilder::audience)s given,
///   or no `aud` at all with
///   [`require_audience`](IntrospectorBuilder::require_audience).
/// - **A provider that fails**: a failed request is remembered for that token
///   for [`INTROSPECTION_ERROR_TTL`], and, unless the answer alone was at
///   fault, makes every other token wait too (1 s, doubled for each failure in
///   a row up to 30 s, or the provider's `Retry-After`): meanwhile callers get
///   the error at once instead of a request each.
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

/// An outcome (`Ok(None)` = inactive) and until when it may be reused.
type Remembered = (Outcome, i64);

struct Inner {
    client: ClientConfig,
    ttl: i64,
    capacity: usize,
    expected: Expected,
    cache: Mutex<HashMap<[u8; 32], Remembered>>,
    /// One request per token in flight, on its own task, which also writes the
    /// result cache: a caller that is dropped cancels nothing.
    in_flight: KeyedSingleFlight<[u8; 32], Outcome>,
    /// After the endpoint failed: its error for every token, for a while.
    failures: Backoff,
}

/// What an active answer must say for its token to be accepted here.
#[derive(Debug, Clone, Default)]
struct Expected {
    issuer: Option<String>,
    audiences: Vec<String>,
    require_audience: bool,
    require_token_type: bool,
}

/// Configures an [`Introspector`].
#[derive(Debug)]
pub struct IntrospectorBuilder {
    client: ClientConfig,
    ttl: Duration,
    capacity: usize,
    expected: Expected,
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

    /// The issuer an answer's `iss` must name when it names one. The default
    /// is the issuer of the client's discovery document; with explicit
    /// `Endpoints` there is none, and `iss` is checked only if this is set.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.expected.issuer = Some(issuer.into());
        self
    }

    /// Accepts tokens for `audience` (may be called several times): an
    /// answer's `aud`, when it has one, must name one of them. Without any,
    /// the audience is not checked here (`ValidateBearerLayer` checks it
    /// against its validator's).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.expected.audiences.push(audience.into());
        self
    }

    /// Refuses an answer without `aud` (default `false`, as RFC 7662 makes it
    /// optional and many providers leave it out). Turn it on when the provider
    /// always names the audience, so that a token for no API in particular,
    /// or for every API, is not accepted by this one.
    pub fn require_audience(mut self, require: bool) -> Self {
        self.expected.require_audience = require;
        self
    }

    /// Whether an answer must name its `token_type` (default `true`). A refresh
    /// token must never pass as an access token, and providers such as
    /// oidc-provider tell them apart only by leaving `token_type` out for
    /// refresh tokens. Turn it off only for a provider that never names the type
    /// and introspects access tokens alone. A `token_type` other than `Bearer`
    /// is refused either way.
    pub fn require_token_type(mut self, require: bool) -> Self {
        self.expected.require_token_type = require;
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
                expected: self.expected,
                cache: Mutex::new(HashMap::new()),
                in_flight: KeyedSingleFlight::new(),
                failures: Backoff::default(),
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
            expected: Expected {
                require_token_type: true,
                ..Expected::default()
            },
        }
    }

    /// Introspects `token`: `Some` with its claims when active and meant for
    /// this resource server, `None` when not (see the [checks](Self)).
    pub async fn introspect(&self, token: &str) -> Result<Option<VerifiedToken>, Error> {
        if token.is_empty() || token.len() > MAX_INTROSPECTED_TOKEN_LENGTH || !is_b64token(token) {
            tracing::debug!(
                length = token.len(),
                "introspection: not a token (length or syntax); not sent"
            );
            return Ok(None);
        }
        let key = sha256(token);
        if let Some(outcome) = self.remembered(&key) {
            return outcome;
        }
        let flight = self.inner.in_flight.try_run(key, || {
            // Nothing in flight for this token: a request that just ended has
            // written the cache first.
            if let Some(outcome) = self.remembered(&key) {
                return Err(outcome);
            }
            if let Some(error) = self.inner.failures.current() {
                return Err(Err(error));
            }
            Ok(self
                .clone()
                .request_and_remember(key, SecretString::from(token)))
        });
        match flight {
            Ok(waiter) => waiter
                .await
                .unwrap_or_else(|abandoned| Err(abandoned.into_error("the introspection request"))),
            Err(outcome) => outcome,
        }
    }

    /// Forgets a cached result (after revoking the token, for example).
    pub fn forget(&self, token: &str) {
        lock(&self.inner.cache).remove(&sha256(token));
    }

    /// The cached outcome for the token of `key`, if still valid.
    fn remembered(&self, key: &[u8; 32]) -> Option<Outcome> {
        let now = unix_now();
        lock(&self.inner.cache)
            .get(key)
            .filter(|(_, until)| now < *until)
            .map(|(outcome, _)| outcome.clone())
    }

    /// One request, on the flight's own task: its outcome is cached whoever
    /// waits for it.
    async fn request_and_remember(self, key: [u8; 32], token: SecretString) -> Outcome {
        let now = unix_now();
        let outcome = self.request(token.expose_secret()).await;
        match &outcome {
            Ok(_) => self.inner.failures.succeeded(),
            // A malformed answer about one token says nothing about the others.
            Err(Error::InvalidResponse { .. }) => {}
            Err(error) => {
                let wait = self.inner.failures.failed(error);
                tracing::warn!(
                    %error,
                    retry_in = ?wait,
                    "introspection failed; its error is handed out until the wait is over"
                );
            }
        }
        self.remember(key, outcome.clone(), now);
        outcome
    }

    fn remember(&self, key: [u8; 32], outcome: Outcome, now: i64) {
        let inner = &*self.inner;
        if inner.ttl == 0 || inner.capacity == 0 {
            return;
        }
        let ttl = match &outcome {
            Ok(_) => inner.ttl,
            Err(_) => i64::try_from(INTROSPECTION_ERROR_TTL.as_secs()).unwrap_or(i64::MAX),
        };
        let mut until = now.saturating_add(ttl);
        if let Ok(Some(active)) = &outcome {
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
        cache.insert(key, (outcome, until));
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
        let Some(active) = read_answer(&name, &response, inner.ttl, unix_now())? else {
            return Ok(None);
        };
        let discovered = match &inner.expected.issuer {
            Some(_) => None,
            None => inner.client.issuer().await?,
        };
        let issuer = inner.expected.issuer.as_deref().or(discovered.as_deref());
        match inner.expected.refusal(&active, issuer) {
            None => Ok(Some(active)),
            Some(reason) => {
                tracing::debug!(reason, "introspection: active, but not accepted here");
                Ok(None)
            }
        }
    }
}

impl Expected {
    /// Why an active token is not accepted here, if it is not.
    fn refusal(&self, active: &VerifiedToken, issuer: Option<&str>) -> Option<&'static str> {
        let text = |name| active.claim(name).and_then(Value::as_str);
        match text("token_type") {
            Some(kind) if kind.eq_ignore_ascii_case("bearer") => {}
            Some(_) => return Some("its token_type is not Bearer"),
            None if self.require_token_type => {
                return Some("it names no token_type, as refresh tokens do");
            }
            None => {}
        }
        if active.claim("cnf").is_some_and(|cnf| !cnf.is_null()) {
            return Some("it is bound to a key (cnf), whose proof is not checked here");
        }
        if let (Some(expected), Some(iss)) = (issuer, text("iss"))
            && iss != expected
        {
            return Some("another issuer issued it");
        }
        let audiences = active.audiences();
        if audiences.is_empty() {
            if self.require_audience {
                return Some("it names no audience");
            }
        } else if !self.audiences.is_empty()
            && !audiences.iter().any(|aud| self.audiences.contains(aud))
        {
            return Some("it is meant for another audience");
        }
        None
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
    // A claim of the wrong type is refused, never read as absent: an `aud`
    // of `{}` must not skip the audience check. (`null` is absent.)
    let present = |name| claims.get(name).filter(|value| !value.is_null());
    for name in ["iss", "sub", "client_id", "token_type"] {
        if present(name).is_some_and(|value| !value.is_string()) {
            return Err(invalid(format!("`{name}` is not a string")));
        }
    }
    let date = |name| {
        present(name)
            .map(|value| {
                parse_numeric_date(value)
                    .ok_or_else(|| invalid(format!("`{name}` is not a number")))
            })
            .transpose()
    };
    let expires_at = date("exp")?.unwrap_or_else(|| now.saturating_add(ttl));
    let (not_before, issued_at) = (date("nbf")?, date("iat")?);
    if expires_at <= now {
        return Ok(None);
    }
    let audiences = match present("aud") {
        None => Vec::new(),
        Some(aud) => parse_audiences(aud)
            .ok_or_else(|| invalid("`aud` is neither a string nor an array of strings".into()))?,
    };
    // `scope` (RFC 7662), or `scp` where a provider names it so; a
    // malformed one grants nothing.
    let scopes = granted_scopes(present("scope"), present("scp")).unwrap_or_default();
    Ok(Some(VerifiedToken::new(Checked {
        audiences,
        expires_at,
        not_before,
        issued_at,
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
            .field("expected", &self.inner.expected)
            .finish()
    }
}

#[cfg(test)]
mod tests;
