//! [`JwksCache`]: the provider's signing keys, fetched, parsed once and served
//! lock-free.
//!
//! Modelled on panva/jose's remote key set and Microsoft.IdentityModel's
//! configuration manager:
//!
//! - Reads are one arc-swap load; validating a token whose `kid` is known never
//!   waits on a lock or the network.
//! - An unknown `kid` triggers a refetch, at most one per cooldown (default
//!   30 s, counted from the end of the last such refetch); then the token is
//!   validated once more. The first load and the periodic refresh do not count
//!   against the cooldown.
//! - One fetch at a time, which every caller joins; it runs on its own task, so
//!   a caller that is dropped (a client hung up, a time-out fired) cancels
//!   nothing and the next caller finds its keys.
//! - A background task refreshes the set periodically (the response's
//!   `Cache-Control: max-age` within 1 minute and 24 hours, otherwise every 5
//!   minutes) and ends when the last handle is dropped.
//! - Last known good: a failed fetch or a set without usable keys never
//!   replaces usable keys.
//! - Keys are used only for signatures: `use` other than `sig`, `key_ops`
//!   without `verify`, symmetric (`oct`) keys, unsupported key types and RSA keys
//!   under 2048 bits are skipped. Keys are parsed once, when fetched.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use aws_lc_rs::signature::{ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use tokio::time::Instant;
use url::Url;

use erpnet_auth_core::sync::{SingleFlight, Waiter, lock};
use erpnet_auth_core::{ConfigError, Error};

use crate::discovery::DiscoveryCache;
use crate::http::{HttpClient, endpoint_name};
use crate::jose::{Algorithm, KeyFamily};
use crate::validation::error::ValidationError;

/// Default minimum time between two fetches caused by unknown key ids.
pub const DEFAULT_JWKS_COOLDOWN: Duration = Duration::from_secs(30);
/// Default period of the background refresh when the provider sends no `max-age`.
pub const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(5 * 60);
/// Default cap on the number of usable keys taken from one key set.
pub const DEFAULT_MAX_KEYS: usize = 64;

const UNLOADED_COOLDOWN: Duration = Duration::from_secs(5);
const MIN_REFRESH: Duration = Duration::from_secs(60);
const MAX_REFRESH: Duration = Duration::from_secs(24 * 3600);

/// The provider's signing keys.
///
/// Modelled on panva/jose's remote key set and Microsoft.IdentityModel's
/// configuration manager:
///
/// - Reads are one arc-swap load; validating a token whose `kid` is known never
///   waits on a lock or the network.
/// - An unknown `kid` triggers a refetch, at most one per cooldown (default
///   30 s, counted from the end of the last such refetch); then the token is
///   validated once more. The first load and the periodic refresh do not count
///   against the cooldown.
/// - One fetch at a time, which every caller joins; it runs on its own task, so
///   a caller that is dropped (a client hung up, a time-out fired) cancels
///   nothing and the next caller finds its keys.
/// - A background task refreshes the set periodically (the response's
///   `Cache-Control: max-age` within 1 minute and 24 hours, otherwise every 5
///   minutes) and ends when the last handle is dropped.
/// - Last known good: a failed fetch or a set without usable keys never
///   replaces usable keys.
/// - Keys are used only for signatures: `use` other than `sig`, `key_ops`
///   without `verify`, symmetric (`oct`) keys, unsupported key types and RSA keys
///   under 2048 bits are skipped. Keys are parsed once, when fetched.
///
/// Cheap to clone; clones share one key set. Usually built for you by
/// [`JwtValidator`](crate::JwtValidator) from the discovery document.
///
/// ```no_run
/// # async fn demo() -> Result<(), erpnet_auth_oidc::Error> {
/// use erpnet_auth_oidc::{JwksCache, Url};
///
/// let jwks = JwksCache::new(Url::parse("https://myinstance.my.erp.net/id/.well-known/openid-configuration/jwks").expect("url"))?;
/// jwks.refresh().await?;
/// for key in jwks.keys() {
///     println!("{key:?}");
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct JwksCache {
    inner: Arc<Inner>,
}

/// Settings of a [`JwksCache`].
#[derive(Debug, Clone)]
pub struct JwksCacheBuilder {
    location: Location,
    http: Option<HttpClient>,
    cooldown: Duration,
    refresh: Duration,
    max_keys: usize,
    background: bool,
}

#[derive(Clone)]
enum Location {
    Url(Url),
    Discover(DiscoveryCache),
    Static(Arc<KeySet>),
    #[cfg(test)]
    Fake(FakeFetch),
}

/// A key-set fetch replaced in unit tests: body and `max-age`.
#[cfg(test)]
type FakeFetch = Arc<dyn Fn() -> FakeResponse + Send + Sync>;
#[cfg(test)]
type FakeResponse =
    std::pin::Pin<Box<dyn Future<Output = Result<(Vec<u8>, Option<Duration>), Error>> + Send>>;

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Url(url) => write!(f, "{url}"),
            Location::Discover(cache) => write!(f, "jwks_uri of {}", cache.authority()),
            Location::Static(_) => f.write_str("static key set"),
            #[cfg(test)]
            Location::Fake(_) => f.write_str("fake"),
        }
    }
}

struct Inner {
    location: Location,
    http: HttpClient,
    cooldown: Duration,
    refresh: Duration,
    max_keys: usize,
    background: bool,
    keys: ArcSwap<KeySet>,
    /// The fetch in flight: every caller joins it, so one runs at a time, and
    /// it runs on its own task, so it ends (and is recorded) whoever waits.
    flight: SingleFlight<Result<Option<Duration>, Error>>,
    /// What ended fetches left behind; written by each fetch as it ends.
    state: Mutex<FetchState>,
    fetches: AtomicUsize,
    refresher: OnceLock<AbortOnDrop>,
    /// Set by [`JwksCache::retire`]: no background refresh starts any more.
    retired: AtomicBool,
}

#[derive(Default)]
struct FetchState {
    /// When the last fetch ended.
    last_attempt: Option<Instant>,
    /// When the last fetch caused by an unknown key id ended: the cooldown
    /// counts from there.
    last_unknown_kid_fetch: Option<Instant>,
    /// Why the last fetch failed, until one succeeds.
    last_failure: Option<Error>,
}

/// Why a fetch runs: only those for unknown key ids arm the cooldown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    /// The first load, one asked for ([`JwksCache::refresh`]) or a periodic one.
    Refresh,
    /// A token named a key that is not in the set.
    UnknownKey,
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The usable keys of one fetched key set.
pub(crate) struct KeySet {
    pub(crate) keys: Vec<VerifyingKey>,
    /// Changes only when the set of keys changes, so that results verified with
    /// a key that is no longer published can be recognised.
    pub(crate) generation: u64,
    pub(crate) loaded: bool,
}

/// One usable key, parsed once for each algorithm it may verify.
pub(crate) struct VerifyingKey {
    pub(crate) kid: Option<String>,
    family: KeyFamily,
    declared_alg: Option<Algorithm>,
    verifiers: Vec<(Algorithm, ParsedPublicKey)>,
    /// The public key material, to tell whether two sets hold the same keys.
    material: Vec<u8>,
    bits: usize,
}

impl VerifyingKey {
    /// The parsed key for `alg`, if this key may verify it.
    pub(crate) fn verifier(&self, alg: Algorithm) -> Option<&ParsedPublicKey> {
        self.verifiers
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, key)| key)
    }
}

/// What a key set holds, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key id.
    pub kid: Option<String>,
    /// `RSA`, `EC` or `OKP`.
    pub kty: &'static str,
    /// The curve, for `EC` and `OKP` keys.
    pub crv: Option<&'static str>,
    /// The algorithm the key set names for the key, if any.
    pub alg: Option<Algorithm>,
    /// The algorithms this library will verify with the key.
    pub algorithms: Vec<Algorithm>,
    /// The key size in bits.
    pub bits: usize,
}

impl JwksCache {
    /// A cache for the key set at `jwks_uri`, with default settings.
    pub fn new(jwks_uri: Url) -> Result<Self, ConfigError> {
        Self::builder(jwks_uri).build()
    }

    /// Settings for the key set at `jwks_uri`.
    pub fn builder(jwks_uri: Url) -> JwksCacheBuilder {
        JwksCacheBuilder::new(Location::Url(jwks_uri))
    }

    /// Settings for the key set named by the `jwks_uri` of a discovery document.
    pub fn builder_for_discovery(discovery: DiscoveryCache) -> JwksCacheBuilder {
        let http = discovery.http().clone();
        let mut builder = JwksCacheBuilder::new(Location::Discover(discovery));
        builder.http = Some(http);
        builder
    }

    /// A fixed key set from a JWKS document (`{"keys":[…]}`), never refreshed.
    pub fn from_json(jwks: &str, max_keys: usize) -> Result<Self, Error> {
        let keys = parse_key_set(jwks.as_bytes(), "static key set", max_keys, 1)?;
        Ok(JwksCacheBuilder::new(Location::Static(Arc::new(keys)))
            .background_refresh(false)
            .build()?)
    }

    #[cfg(test)]
    pub(crate) fn fake<F>(fetch: impl Fn() -> F + Send + Sync + 'static) -> JwksCacheBuilder
    where
        F: Future<Output = Result<(Vec<u8>, Option<Duration>), Error>> + Send + 'static,
    {
        JwksCacheBuilder::new(Location::Fake(Arc::new(move || {
            Box::pin(fetch()) as FakeResponse
        })))
    }

    /// The keys currently held (empty until the first fetch).
    pub fn keys(&self) -> Vec<KeyInfo> {
        self.inner
            .keys
            .load()
            .keys
            .iter()
            .map(|key| {
                let (kty, crv) = match key.family {
                    KeyFamily::Rsa => ("RSA", None),
                    KeyFamily::P256 => ("EC", Some("P-256")),
                    KeyFamily::P384 => ("EC", Some("P-384")),
                    KeyFamily::Ed25519 => ("OKP", Some("Ed25519")),
                };
                KeyInfo {
                    kid: key.kid.clone(),
                    kty,
                    crv,
                    alg: key.declared_alg,
                    algorithms: key.verifiers.iter().map(|(a, _)| *a).collect(),
                    bits: key.bits,
                }
            })
            .collect()
    }

    /// How many times the key set has been fetched (successfully or not).
    pub fn fetch_count(&self) -> usize {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// The current key set: one arc-swap load.
    pub(crate) fn current(&self) -> arc_swap::Guard<Arc<KeySet>> {
        self.start_background_refresh();
        self.inner.keys.load()
    }

    /// The generation of the current key set (changes when the keys change).
    pub(crate) fn generation(&self) -> u64 {
        self.inner.keys.load().generation
    }

    /// Fetches the key set now (one fetch at a time, so this joins a fetch in
    /// flight; no cooldown). The current keys stay if the fetch fails or yields
    /// no usable key.
    pub async fn refresh(&self) -> Result<(), Error> {
        self.join_or_fetch().await.map(|_| ())
    }

    /// Runs `check` with the keys at hand; if it names a key not in the set,
    /// refetches the set (see [`refresh_for_unknown_key`](Self::refresh_for_unknown_key))
    /// and runs it once more. A key still unknown after that is
    /// [`ValidationError::KeysUnavailable`] when the refetch failed or no keys
    /// were ever loaded (the token may well be valid: answer "try again"), and
    /// [`ValidationError::UnknownKey`] otherwise.
    pub(crate) async fn check_with_refetch<T>(
        &self,
        check: impl Fn() -> Result<T, ValidationError>,
    ) -> Result<T, ValidationError> {
        let seen = self.generation();
        match check() {
            Err(ValidationError::UnknownKey) => {}
            other => return other,
        }
        let refreshed = self.refresh_for_unknown_key(seen).await;
        match (check(), refreshed) {
            (Err(ValidationError::UnknownKey), Err(error)) => {
                Err(ValidationError::KeysUnavailable(error))
            }
            (Err(ValidationError::UnknownKey), Ok(())) if !self.current().loaded => {
                Err(ValidationError::KeysUnavailable(Error::Config(
                    ConfigError::invalid("the signing keys have not been loaded yet"),
                )))
            }
            (outcome, _) => outcome,
        }
    }

    /// Called when a token names a key that is not in the set, or when no keys
    /// were loaded yet: fetches again unless the set changed since the caller
    /// looked (`seen`), or the last fetch was less than a cooldown ago. Within
    /// the cooldown, returns the last fetch's error if it failed, so that the
    /// caller can tell "no such key" from "could not look".
    pub(crate) async fn refresh_for_unknown_key(&self, seen: u64) -> Result<(), Error> {
        let cache = self.clone();
        let fetch = self.inner.flight.try_run(|| {
            // Nothing in flight, so the last fetch has recorded how it ended.
            let state = lock(&self.inner.state);
            let current = self.inner.keys.load();
            let now = Instant::now();
            if !current.loaded {
                if let Some(last) = state.last_attempt
                    && now.duration_since(last) < self.inner.cooldown.min(UNLOADED_COOLDOWN)
                {
                    // Nothing loaded yet and the last attempt failed: retry soon, not at once.
                    return Err(state.last_failure.clone().map_or(Ok(()), Err));
                }
                // The first load does not count against the cooldown, so a key
                // rotated in just after start-up is picked up at once.
                return Ok(cache.fetch(Reason::Refresh));
            }
            if current.generation != seen {
                return Err(Ok(()));
            }
            // The cooldown spaces the fetches that unknown key ids cause.
            if let Some(last) = state.last_unknown_kid_fetch
                && now.duration_since(last) < self.inner.cooldown
            {
                tracing::debug!(
                    "jwks: unknown key id, but the last refetch is within the cooldown"
                );
                return Err(state.last_failure.clone().map_or(Ok(()), Err));
            }
            Ok(cache.fetch(Reason::UnknownKey))
        });
        match fetch {
            Ok(waiter) => outcome(waiter).await.map(|_| ()),
            Err(answer) => answer,
        }
    }

    /// Joins the fetch in flight, or starts one.
    fn join_or_fetch(&self) -> impl Future<Output = Result<Option<Duration>, Error>> + use<> {
        let cache = self.clone();
        outcome(self.inner.flight.run(|| cache.fetch(Reason::Refresh)))
    }

    /// Fetches and installs, then records how the fetch ended; returns the
    /// `max-age` the provider asked for. Runs on the flight's own task.
    async fn fetch(self, reason: Reason) -> Result<Option<Duration>, Error> {
        let inner = &self.inner;
        inner.fetches.fetch_add(1, Ordering::Relaxed);
        let current = inner.keys.load_full();
        let started = Instant::now();
        let result = async {
            let (body, max_age, name) = match &inner.location {
                Location::Static(_) => return Ok((None, None)),
                Location::Url(url) => {
                    let (body, max_age) = fetch(&inner.http, url).await?;
                    (body, max_age, endpoint_name(url))
                }
                Location::Discover(discovery) => {
                    let url = discovery.get().await?.jwks_uri().clone();
                    let (body, max_age) = fetch(&inner.http, &url).await?;
                    (body, max_age, endpoint_name(&url))
                }
                #[cfg(test)]
                Location::Fake(fetch) => {
                    let (body, max_age) = fetch().await?;
                    (body, max_age, "fake".to_owned())
                }
            };
            let set = parse_key_set(&body, &name, inner.max_keys, current.generation)?;
            Ok((Some(set), max_age))
        }
        .await;
        let outcome = self.install(result, &current, started);
        // Recorded when the fetch ends, not when it starts: a fetch that never
        // ends (its runtime shut down) arms no cooldown, so the next unknown key
        // id fetches at once instead of being refused with the old keys.
        let now = Instant::now();
        let mut state = lock(&inner.state);
        state.last_attempt = Some(now);
        if reason == Reason::UnknownKey {
            state.last_unknown_kid_fetch = Some(now);
        }
        state.last_failure = outcome.as_ref().err().cloned();
        outcome
    }

    /// Installs a fetched key set, unless it has no usable key where the
    /// current one has some; returns the `max-age`.
    fn install(
        &self,
        result: Result<(Option<KeySet>, Option<Duration>), Error>,
        current: &KeySet,
        started: Instant,
    ) -> Result<Option<Duration>, Error> {
        match result {
            Ok((None, max_age)) => Ok(max_age),
            Ok((Some(mut set), max_age)) => {
                if set.keys.is_empty() && !current.keys.is_empty() {
                    tracing::warn!(
                        "jwks: fetched key set has no usable key; keeping the last known good keys"
                    );
                    return Ok(max_age);
                }
                if same_keys(&set, current) {
                    set.generation = current.generation;
                } else {
                    set.generation = current.generation + 1;
                    tracing::info!(
                        keys = set.keys.len(),
                        kids = ?set.keys.iter().map(|k| k.kid.as_deref().unwrap_or("")).collect::<Vec<_>>(),
                        "jwks: key set changed"
                    );
                }
                tracing::debug!(elapsed = ?started.elapsed(), "jwks: fetched");
                self.inner.keys.store(Arc::new(set));
                Ok(max_age)
            }
            Err(error) => {
                tracing::warn!(%error, keeping = current.keys.len(), "jwks: fetch failed; keeping the last known good keys");
                Err(error)
            }
        }
    }

    /// Drops the keys and stops the background refresh for good, for a key
    /// set no longer in use that may still be referenced (an issuer evicted
    /// from a validator of several, named by remembered results): the
    /// generation changes, so results dated to the old keys no longer count.
    pub(crate) fn retire(&self) {
        self.inner.retired.store(true, Ordering::Relaxed);
        if let Some(refresher) = self.inner.refresher.get() {
            refresher.0.abort();
        }
        let generation = self.inner.keys.load().generation.wrapping_add(1);
        self.inner.keys.store(Arc::new(KeySet {
            keys: Vec::new(),
            generation,
            loaded: false,
        }));
    }

    fn start_background_refresh(&self) {
        if !self.inner.background
            || self.inner.refresher.get().is_some()
            || self.inner.retired.load(Ordering::Relaxed)
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        let mut started = false;
        self.inner.refresher.get_or_init(|| {
            started = true;
            AbortOnDrop(runtime.spawn(refresh_periodically(weak)).abort_handle())
        });
        if started {
            tracing::debug!("jwks: background refresh started");
        }
    }
}

/// Refreshes the key set every `max-age` (bounded) or the default period; ends
/// when the cache is dropped (the task holds only a weak reference, and the
/// cache aborts it on drop).
async fn refresh_periodically(inner: Weak<Inner>) {
    let mut wait = match inner.upgrade() {
        Some(inner) => inner.refresh,
        None => return,
    };
    loop {
        tokio::time::sleep(wait).await;
        let Some(inner) = inner.upgrade() else { return };
        let period = inner.refresh;
        // The fetch holds the cache while it runs; this task does not.
        let fetch = JwksCache { inner }.join_or_fetch();
        wait = match fetch.await {
            Ok(Some(max_age)) => max_age.clamp(MIN_REFRESH, MAX_REFRESH),
            _ => period,
        };
    }
}

impl JwksCacheBuilder {
    fn new(location: Location) -> Self {
        Self {
            location,
            http: None,
            cooldown: DEFAULT_JWKS_COOLDOWN,
            refresh: DEFAULT_JWKS_REFRESH,
            max_keys: DEFAULT_MAX_KEYS,
            background: true,
        }
    }

    /// Minimum time between fetches caused by unknown key ids (default 30 s).
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Period of the background refresh when the provider sends no
    /// `Cache-Control: max-age` (default 5 minutes).
    pub fn refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh = interval;
        self
    }

    /// At most this many usable keys are taken from a key set (default 64).
    pub fn max_keys(mut self, max: usize) -> Self {
        self.max_keys = max.max(1);
        self
    }

    /// Whether a background task refreshes the set periodically (default on).
    pub fn background_refresh(mut self, on: bool) -> Self {
        self.background = on;
        self
    }

    /// The HTTP client (default: [`HttpClient::new`], or the discovery cache's).
    pub fn http(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// Builds the cache. Nothing is fetched until the first token is validated
    /// or [`JwksCache::refresh`] is called. Fails only when no HTTP client was
    /// given and none can be built.
    pub fn build(self) -> Result<JwksCache, ConfigError> {
        let http = match self.http {
            Some(http) => http,
            None => HttpClient::new()?,
        };
        let keys = match &self.location {
            Location::Static(set) => ArcSwap::new(set.clone()),
            _ => ArcSwap::from_pointee(KeySet {
                keys: Vec::new(),
                generation: 0,
                loaded: false,
            }),
        };
        Ok(JwksCache {
            inner: Arc::new(Inner {
                location: self.location,
                http,
                cooldown: self.cooldown,
                refresh: self.refresh,
                max_keys: self.max_keys,
                background: self.background,
                keys,
                flight: SingleFlight::new(),
                state: Mutex::new(FetchState::default()),
                fetches: AtomicUsize::new(0),
                refresher: OnceLock::new(),
                retired: AtomicBool::new(false),
            }),
        })
    }
}

impl fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.inner.keys.load();
        f.debug_struct("JwksCache")
            .field("location", &self.inner.location)
            .field("keys", &keys.keys.len())
            .field("generation", &keys.generation)
            .finish()
    }
}

/// A flight's outcome, with an abandoned fetch as a transient error.
async fn outcome(
    waiter: Waiter<Result<Option<Duration>, Error>>,
) -> Result<Option<Duration>, Error> {
    waiter
        .await
        .unwrap_or_else(|abandoned| Err(abandoned.into_error("the key-set fetch")))
}

async fn fetch(http: &HttpClient, url: &Url) -> Result<(Vec<u8>, Option<Duration>), Error> {
    let response = http
        .get_json_document(url, "application/jwk-set+json, application/json")
        .await?;
    Ok((response.body, max_age(&response.headers)))
}

/// `Cache-Control: max-age=N`, if present.
fn max_age(headers: &http::HeaderMap) -> Option<Duration> {
    headers
        .get_all(http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|directive| {
            let (name, value) = directive.trim().split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("max-age")
                .then(|| value.trim().trim_matches('"').parse::<u64>().ok())
                .flatten()
                .map(Duration::from_secs)
        })
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    kid: Option<String>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

pub(crate) fn parse_key_set(
    body: &[u8],
    endpoint: &str,
    max_keys: usize,
    generation: u64,
) -> Result<KeySet, Error> {
    let raw: RawSet = serde_json::from_slice(body).map_err(|e| Error::InvalidResponse {
        endpoint: endpoint.to_owned(),
        reason: format!(
            "not a JSON Web Key Set ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ),
    })?;
    let mut keys = Vec::new();
    for value in raw.keys {
        if keys.len() >= max_keys {
            tracing::warn!(
                max_keys,
                "jwks: more usable keys than allowed; the rest are ignored"
            );
            break;
        }
        match parse_key(value) {
            Ok(key) => keys.push(key),
            Err(reason) => tracing::debug!(reason, "jwks: key skipped"),
        }
    }
    Ok(KeySet {
        keys,
        generation,
        loaded: true,
    })
}

fn decode(field: Option<String>, name: &'static str) -> Result<Vec<u8>, &'static str> {
    let value = field.ok_or(name)?;
    URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|_| "a key component is not base64url")
}

fn parse_key(value: serde_json::Value) -> Result<VerifyingKey, &'static str> {
    let raw: RawJwk = serde_json::from_value(value).map_err(|_| "not a JWK object")?;
    if raw.use_.as_deref().is_some_and(|u| u != "sig") {
        return Err("not a signature key (`use`)");
    }
    if raw
        .key_ops
        .as_ref()
        .is_some_and(|ops| !ops.iter().any(|op| op == "verify"))
    {
        return Err("not a verification key (`key_ops`)");
    }
    let declared_alg = match raw.alg.as_deref() {
        None => None,
        Some(name) => Some(Algorithm::from_name(name).ok_or("unsupported or symmetric `alg`")?),
    };
    // For RSA, `material` is the modulus followed by the exponent; `modulus`
    // is the modulus's length, where the two are split again.
    let (family, material, bits, modulus) = match (raw.kty.as_str(), raw.crv.as_deref()) {
        ("RSA", _) => {
            let n = decode(raw.n, "RSA key without `n`")?;
            let e = decode(raw.e, "RSA key without `e`")?;
            let n = strip_leading_zeros(&n);
            let bits = bit_length(n);
            if bits < 2048 {
                return Err("RSA key shorter than 2048 bits");
            }
            let mut material = n.to_vec();
            material.extend_from_slice(&e);
            (KeyFamily::Rsa, material, bits, n.len())
        }
        ("EC", Some(crv @ ("P-256" | "P-384"))) => {
            let (family, len) = if crv == "P-256" {
                (KeyFamily::P256, 32)
            } else {
                (KeyFamily::P384, 48)
            };
            let x = decode(raw.x, "EC key without `x`")?;
            let y = decode(raw.y, "EC key without `y`")?;
            if x.len() != len || y.len() != len {
                return Err("EC coordinates of the wrong length");
            }
            let mut point = vec![4u8];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (family, point, len * 8, 0)
        }
        ("OKP", Some("Ed25519")) => {
            let x = decode(raw.x, "OKP key without `x`")?;
            if x.len() != 32 {
                return Err("Ed25519 key of the wrong length");
            }
            (KeyFamily::Ed25519, x, 256, 0)
        }
        ("oct", _) => return Err("symmetric key"),
        _ => return Err("unsupported key type or curve"),
    };
    if let Some(alg) = declared_alg
        && alg.family() != family
    {
        return Err("`alg` does not match the key type");
    }
    let mut verifiers = Vec::new();
    for alg in Algorithm::ALL {
        if alg.family() != family || declared_alg.is_some_and(|d| d != alg) {
            continue;
        }
        let parsed = match alg.rsa_parameters() {
            Some(params) => {
                let (n, e) = material
                    .split_at_checked(modulus)
                    .ok_or("the key material is invalid")?;
                RsaPublicKeyComponents { n, e }.to_parsed_public_key(params)
            }
            None => ParsedPublicKey::new(alg.verification(), &material),
        };
        verifiers.push((alg, parsed.map_err(|_| "the key material is invalid")?));
    }
    Ok(VerifyingKey {
        kid: raw.kid,
        family,
        declared_alg,
        verifiers,
        material,
        bits,
    })
}

/// The number of significant bits of a big-endian unsigned integer without
/// leading zero bytes (0 for an empty one). Saturating: the length comes from
/// the key set.
fn bit_length(bytes: &[u8]) -> usize {
    match bytes.first() {
        None => 0,
        Some(first) => (bytes.len() - 1)
            .saturating_mul(8)
            .saturating_add(8 - first.leading_zeros() as usize),
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

fn same_keys(a: &KeySet, b: &KeySet) -> bool {
    a.keys.len() == b.keys.len()
        && a.keys.iter().zip(&b.keys).all(|(x, y)| {
            x.kid == y.kid && x.material == y.material && x.declared_alg == y.declared_alg
        })
}

#[cfg(test)]
mod tests;
