//! The token-cache hit path against `aliri_tokens`, with the limit and our
//! cache in the same run and the same harness as `benches/token_cache.rs`.
//!
//! Rows (per thread, one token read per iteration):
//! - `arcswap_load_full`: a bare `ArcSwap::load_full`: the limit.
//! - `cached_token`: `CachedTokenSource::cached_token()` on a fresh token: the
//!   hit path, which the reqwest middleware and the tower client layer take.
//! - `token_await`: the same cache through `CachedTokenSource::token().await`.
//! - `aliri_token_watcher_borrow`: `aliri_tokens::TokenWatcher::token()`, the
//!   borrow its docs recommend (a read lock on a `tokio::sync::watch` channel),
//!   reading the token's length.
//! - `aliri_token_watcher_owned`: the same, cloning the access token out of the
//!   borrow, as a caller must before an `.await` (a held borrow blocks the
//!   watcher's refresh).
//!
//! - `huskarl_cache_token`: `huskarl`'s `InMemoryTokenCache::token().await`
//!   over a `GrantTokenSource` running the client credentials grant: the
//!   wiring huskarl's docs show for a service client. The hit path checks the
//!   source for a primed token (a `std::sync::Mutex`), loads the cached
//!   `Arc<TokenResponse>` from an `ArcSwapOption`, reads the wall clock twice
//!   (expiry, then the refresh-ahead window) and boxes its future.
//!
//! The watcher is fed by aliri's own `ConstTokenSource` (no network), with the
//! same 900-character token. huskarl's cache has no such source: its grant
//! fetches the one token from the mock identity on loopback before the
//! measurement starts, and the bench checks afterwards that the token endpoint
//! saw no other request, so no row includes network time.
//!
//! Run: `cargo bench -p erpnet-auth-bench-peers --bench token_cache_peers`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use aliri_clock::DurationSecs;
use aliri_tokens::TokenWatcher;
use aliri_tokens::backoff::ErrorBackoffConfig;
use aliri_tokens::jitter::NullJitter;
use aliri_tokens::sources::ConstTokenSource;
use arc_swap::ArcSwap;
use criterion::{Criterion, criterion_group, criterion_main};
use erpnet_auth::{AccessToken, CachedTokenSource, StaticToken};
use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Endpoint, MockIdentity};
use huskarl::cache::{
    GrantTokenSource, InMemoryRefreshTokenStore, InMemoryTokenCache, TokenSource as _,
};
use huskarl::core::client_auth::ClientSecret;
use huskarl::core::secrets::{ProvidedSecret, SecretString};
use huskarl::grant::client_credentials::{
    ClientCredentialsGrant, ClientCredentialsGrantParameters,
};
use huskarl_reqwest::ReqwestClient;

#[path = "../../support/threads.rs"]
mod threads;
use threads::{limit_and_ours, row};

fn bench(c: &mut Criterion) {
    // Multi-threaded, so that aliri's refresh task has a runtime that keeps running.
    let setup = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let value = "x".repeat(900);
    let token = AccessToken::new(value.clone()).with_expires_in(Duration::from_secs(3600));
    let (cache, watcher) = setup.block_on(async {
        let cache = CachedTokenSource::new(StaticToken::from_token(token.clone()));
        cache.token().await.expect("token");
        let source = ConstTokenSource::new(value).with_token_valid_for(DurationSecs(3600));
        let watcher = TokenWatcher::spawn_from_token_source(
            source,
            NullJitter,
            ErrorBackoffConfig::default(),
        )
        .await
        .expect("aliri watcher");
        (cache, watcher)
    });

    // huskarl: client credentials against the mock identity, which answers
    // the first `token()` only; every later call must be a hit.
    let identity = setup.block_on(MockIdentity::start());
    let huskarl = setup.block_on(async {
        let grant = ClientCredentialsGrant::builder()
            .client_id(DEFAULT_CLIENT_ID)
            .client_auth(ClientSecret::new(ProvidedSecret::new(SecretString::new(
                DEFAULT_CLIENT_SECRET,
            ))))
            .http_client(ReqwestClient::from(reqwest::Client::new()))
            .token_endpoint(identity.token_endpoint().parse().expect("token endpoint"))
            .build();
        let source = GrantTokenSource::builder()
            .grant(grant)
            .grant_parameters(
                ClientCredentialsGrantParameters::builder()
                    .scope(vec!["read".to_owned(), "update".to_owned()])
                    .build(),
            )
            .refresh_store(InMemoryRefreshTokenStore::default())
            .build();
        let cache = Arc::new(InMemoryTokenCache::builder().source(source).build());
        cache
            .token()
            .await
            .expect("huskarl: first token from the mock");
        cache
    });
    let swap = Arc::new(ArcSwap::from_pointee(token));

    for threads in [1usize, 2] {
        let mut group = c.benchmark_group(format!("token_cache_peers/{threads}_threads"));
        limit_and_ours(&mut group, threads, &swap, &cache);
        let w = watcher.clone();
        row(
            &mut group,
            "aliri_token_watcher_borrow",
            threads,
            async move || {
                let borrowed = w.token();
                black_box(borrowed.access_token().as_str().len());
            },
        );
        let w = watcher.clone();
        row(
            &mut group,
            "aliri_token_watcher_owned",
            threads,
            async move || {
                let owned = w.token().access_token().to_owned();
                black_box(owned);
            },
        );
        let h = huskarl.clone();
        row(
            &mut group,
            "huskarl_cache_token",
            threads,
            async move || {
                black_box(h.token().await.expect("huskarl hit"));
            },
        );
        group.finish();
    }
    assert_eq!(
        identity.requests(Endpoint::Token),
        1,
        "huskarl's cache asked the token endpoint again: a row measured a miss"
    );
    drop(setup);
}

criterion_group! {
    name = benches;
    config = threads::criterion();
    targets = bench
}
criterion_main!(benches);
