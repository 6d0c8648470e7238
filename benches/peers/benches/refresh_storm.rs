//! A refresh storm: 10,000 tasks ask for a token at the moment the cached one
//! expires, against the mock identity (client credentials over loopback HTTP).
//! For each cache: the token-endpoint requests the storm causes, the time
//! until every task has its token, and how many tasks were handed a token that
//! had already expired.
//!
//! Rows (tokens live 4 s; the storms start 4.1 s after the last cache got its
//! first token):
//! - `cached_token_source`: ours, on demand (nobody asked while the token was
//!   due, so it expired): every task waits on one request.
//! - `cached_token_source_proactive`: ours with `.proactive(true)`: refreshed
//!   in the background when due, before the storm.
//! - `tokio_rwlock_double_checked`: a hand-written `tokio::sync::RwLock` cache
//!   that re-checks under the write lock and fetches while holding it.
//! - `tokio_rwlock_naive`: the same cache without the re-check: whoever finds the
//!   token expired fetches one. Its requests go through a semaphore of 256 (this
//!   machine allows 20,000 open files, and each request holds a socket at both
//!   ends): that bounds how many run at once, not how many are made.
//! - `aliri_token_watcher`: `aliri_tokens::TokenWatcher` (fresh for 75% of the
//!   lifetime, no minimum) over a token source that asks the same grant: it
//!   refreshes in the background when the token goes stale.
//!
//! Requests are counted where each cache calls the grant (one call, one HTTP
//! request to the mock's token endpoint), so that a dropped aliri watcher,
//! whose task makes one more request before it notices, cannot add to another
//! row's count. The rows take turns, round after round (seven rounds), so that
//! the machine's slow moments fall on all of them alike; the figures go to
//! `target/bench-report/refresh_storm.json` and are printed as a table.
//!
//! Run: `cargo bench -p erpnet-auth-bench-peers --bench refresh_storm`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aliri_clock::DurationSecs;
use aliri_tokens::backoff::ErrorBackoffConfig;
use aliri_tokens::jitter::NullJitter;
use aliri_tokens::sources::AsyncTokenSource;
use aliri_tokens::{TokenLifetimeConfig, TokenWatcher, TokenWithLifetime};
use async_trait::async_trait;
use erpnet_auth::{
    AccessToken, Authority, CachedTokenSource, ClientConfig, ClientCredentials, Error, TokenSource,
};
use erpnet_auth_bench_peers::save_figures;
use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, MockIdentity};
use serde_json::{Map, json};
use tokio::sync::{RwLock, Semaphore, watch};

const TASKS: usize = 10_000;
const ROUNDS: usize = 7;
/// Whole seconds: aliri_tokens counts lifetimes in whole seconds.
const LIFETIME: Duration = Duration::from_secs(4);
/// When the storm starts, after the first token arrived: every cache's token
/// has expired by then (ours stops handing a token out a quarter of its
/// lifetime before `exp`).
const STORM_AT: Duration = Duration::from_millis(4100);

/// The client-credentials grant against the mock, counting its requests.
#[derive(Clone)]
struct Counted {
    grant: ClientCredentials,
    requests: Arc<AtomicUsize>,
}

#[async_trait]
impl TokenSource for Counted {
    async fn token(&self) -> Result<AccessToken, Error> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.grant.token().await
    }
}

/// A token cache under test: one call is one task asking for a token.
#[async_trait]
trait Cache: Send + Sync {
    /// A token; `true` if it was still valid when handed out.
    async fn token(&self) -> bool;
}

#[async_trait]
impl<S: TokenSource> Cache for CachedTokenSource<S> {
    async fn token(&self) -> bool {
        let token = CachedTokenSource::token(self).await.expect("token");
        !token.is_expired()
    }
}

/// A hand-written `tokio::sync::RwLock` cache, as often seen.
struct RwLockCache {
    grant: Counted,
    current: RwLock<Option<AccessToken>>,
    /// Re-check under the write lock and fetch while holding it.
    double_checked: bool,
    limit: Semaphore,
}

impl RwLockCache {
    fn usable(current: &Option<AccessToken>) -> Option<AccessToken> {
        current.as_ref().filter(|t| !t.is_expired()).cloned()
    }
}

#[async_trait]
impl Cache for RwLockCache {
    async fn token(&self) -> bool {
        if let Some(token) = Self::usable(&*self.current.read().await) {
            return !token.is_expired();
        }
        let token = if self.double_checked {
            let mut current = self.current.write().await;
            if let Some(token) = Self::usable(&current) {
                token
            } else {
                let token = self.grant.token().await.expect("token");
                *current = Some(token.clone());
                token
            }
        } else {
            let permit = self.limit.acquire().await.expect("semaphore");
            let token = self.grant.token().await.expect("token");
            drop(permit);
            *self.current.write().await = Some(token.clone());
            token
        };
        !token.is_expired()
    }
}

/// The grant as an aliri token source, the way a user plugs in their own.
struct AliriSource {
    grant: Counted,
    lifetime: TokenLifetimeConfig,
}

#[async_trait]
impl AsyncTokenSource for AliriSource {
    type Error = Error;

    async fn request_token(&mut self) -> Result<TokenWithLifetime, Error> {
        let token = self.grant.token().await?;
        // `expires_in` counts down from the response's value: round it back.
        let valid_for = token.expires_in().unwrap_or_default().as_secs_f64().round() as u64;
        Ok(self.lifetime.create_token(
            aliri_tokens::AccessToken::from(token.expose_secret()),
            None::<aliri_tokens::IdToken>,
            DurationSecs(valid_for),
        ))
    }
}

struct AliriCache(TokenWatcher);

#[async_trait]
impl Cache for AliriCache {
    async fn token(&self) -> bool {
        let token = self.0.token();
        token.until_expired().0 > 0
    }
}

#[derive(Clone, Copy, Debug)]
enum Row {
    Ours,
    OursProactive,
    DoubleChecked,
    Naive,
    Aliri,
}

impl Row {
    const ALL: [Row; 5] = [
        Row::Ours,
        Row::OursProactive,
        Row::DoubleChecked,
        Row::Naive,
        // Last: a dropped watcher's task makes one more request before it
        // notices that nobody listens.
        Row::Aliri,
    ];

    fn name(self) -> &'static str {
        match self {
            Row::Ours => "cached_token_source",
            Row::OursProactive => "cached_token_source_proactive",
            Row::DoubleChecked => "tokio_rwlock_double_checked",
            Row::Naive => "tokio_rwlock_naive",
            Row::Aliri => "aliri_token_watcher",
        }
    }

    /// A new cache with its first token, and its request counter.
    async fn cache(self, identity: &MockIdentity) -> (Arc<dyn Cache>, Arc<AtomicUsize>) {
        let requests = Arc::new(AtomicUsize::new(0));
        let grant = Counted {
            grant: ClientCredentials::builder(
                ClientConfig::builder(
                    identity.issuer().parse::<Authority>().expect("authority"),
                    DEFAULT_CLIENT_ID,
                )
                .client_secret(DEFAULT_CLIENT_SECRET)
                .build()
                .expect("client"),
            )
            .scopes(["read"])
            .build()
            .expect("grant"),
            requests: requests.clone(),
        };
        let rwlock = |double_checked| RwLockCache {
            grant: grant.clone(),
            current: RwLock::new(None),
            double_checked,
            limit: Semaphore::new(256),
        };
        let cache: Arc<dyn Cache> = match self {
            Row::Ours => Arc::new(CachedTokenSource::new(grant)),
            Row::OursProactive => {
                Arc::new(CachedTokenSource::builder(grant).proactive(true).build())
            }
            Row::DoubleChecked => Arc::new(rwlock(true)),
            Row::Naive => Arc::new(rwlock(false)),
            Row::Aliri => {
                let source = AliriSource {
                    grant,
                    lifetime: TokenLifetimeConfig::new(0.75, DurationSecs(0)),
                };
                let watcher = TokenWatcher::spawn_from_token_source(
                    source,
                    NullJitter,
                    ErrorBackoffConfig::default(),
                )
                .await
                .expect("aliri watcher");
                Arc::new(AliriCache(watcher))
            }
        };
        assert!(cache.token().await, "the first token is valid");
        (cache, requests)
    }
}

/// What one storm did.
struct Storm {
    requests: usize,
    elapsed: Duration,
    expired: usize,
}

/// `TASKS` tasks, parked at a gate, all ask `cache` for a token at once.
async fn storm(cache: Arc<dyn Cache>, requests: &AtomicUsize) -> Storm {
    let (go, gate) = watch::channel(false);
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let cache = cache.clone();
            let mut gate = gate.clone();
            tokio::spawn(async move {
                gate.wait_for(|go| *go).await.expect("gate");
                cache.token().await
            })
        })
        .collect();
    // Let every task reach the gate.
    tokio::time::sleep(Duration::from_millis(50)).await;

    let requests_before = requests.load(Ordering::Relaxed);
    let started = Instant::now();
    go.send_replace(true);
    let mut expired = 0;
    for task in tasks {
        if !task.await.expect("task") {
            expired += 1;
        }
    }
    Storm {
        elapsed: started.elapsed(),
        requests: requests.load(Ordering::Relaxed) - requests_before,
        expired,
    }
}

/// One round: a new cache per row with its first token; then, once every
/// token has expired, one storm per row in turn.
async fn round(identity: &MockIdentity, rows: &[Row]) -> Vec<Storm> {
    let mut caches = Vec::new();
    for row in rows {
        caches.push(row.cache(identity).await);
    }
    tokio::time::sleep(STORM_AT).await;
    let mut storms = Vec::new();
    for (cache, requests) in caches {
        storms.push(storm(cache, &requests).await);
    }
    storms
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; a filter (any other argument) picks rows.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let identity = runtime.block_on(async {
        let identity = MockIdentity::start().await;
        identity.set_token_lifetime(LIFETIME);
        identity
    });

    let rows: Vec<Row> = Row::ALL
        .into_iter()
        .filter(|row| filters.is_empty() || filters.iter().any(|f| row.name().contains(f.as_str())))
        .collect();
    let rounds: Vec<Vec<Storm>> = (0..ROUNDS)
        .map(|_| runtime.block_on(round(&identity, &rows)))
        .collect();

    let mut figures = Map::new();
    println!(
        "| row | token requests per storm | time until all {TASKS} tasks have a token (median of {ROUNDS}) | tasks handed an expired token |"
    );
    println!("|---|---:|---:|---:|");
    for (i, row) in rows.iter().enumerate() {
        let storms: Vec<&Storm> = rounds.iter().map(|round| &round[i]).collect();
        let requests: Vec<usize> = storms.iter().map(|s| s.requests).collect();
        let expired: Vec<usize> = storms.iter().map(|s| s.expired).collect();
        let millis = median(
            storms
                .iter()
                .map(|s| s.elapsed.as_secs_f64() * 1e3)
                .collect(),
        );
        println!(
            "| `{}` | {requests:?} | {millis:.1} ms | {expired:?} |",
            row.name()
        );
        figures.insert(
            row.name().to_owned(),
            json!({"requests": requests, "median_ms": millis, "expired": expired}),
        );
    }
    let figures = json!({"tasks": TASKS, "rounds": ROUNDS, "lifetime_s": LIFETIME.as_secs(), "rows": figures});
    let path = save_figures("refresh_storm", &figures).expect("save the figures");
    println!("figures: {}", path.display());
}
