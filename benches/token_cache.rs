//! The hit path of `CachedTokenSource`, against the physical limit and the
//! obvious alternatives, at 1 and 2 threads, measured in the same run.
//!
//! Rows (per thread, one token read per iteration):
//! - `arcswap_load_full`: a bare `ArcSwap::load_full` with no clock read: the limit.
//! - `arcswap_load_full_now`: the same plus `Instant::now()`, the naive freshness check.
//! - `cached_token`: `CachedTokenSource::cached_token()` on a fresh token: the
//!   hit path, which the reqwest middleware and the tower client layer take.
//! - `token_await`: the same cache through `CachedTokenSource::token().await`.
//! - `tokio_rwlock`: a cache behind `tokio::sync::RwLock` with a clock check.
//! - `std_mutex`: a cache behind `std::sync::Mutex` with a clock check (Go's
//!   `ReuseTokenSource` style).
//!
//! Every row runs its loop inside one `block_on` of a current-thread runtime, so
//! the harness costs the same for all of them.
//!
//! Run: `cargo bench --bench token_cache` (see BENCHMARKS.md).

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use criterion::{Criterion, criterion_group, criterion_main};
use erpnet_auth::{AccessToken, CachedTokenSource, StaticToken};

#[path = "support/threads.rs"]
mod threads;
use threads::{limit_and_ours, row, runtime};

fn bench(c: &mut Criterion) {
    let setup = runtime();
    let token = AccessToken::new("x".repeat(900)).with_expires_in(Duration::from_secs(3600));
    let cache = setup.block_on(async {
        let cache = CachedTokenSource::new(StaticToken::from_token(token.clone()));
        cache.token().await.expect("token");
        cache
    });
    let expires_at = Instant::now() + Duration::from_secs(3600);
    let swap = Arc::new(ArcSwap::from_pointee(token.clone()));
    let rw = Arc::new(tokio::sync::RwLock::new(Some((token.clone(), expires_at))));
    let mutex = Arc::new(Mutex::new(Some((token.clone(), expires_at))));

    for threads in [1usize, 2] {
        let mut group = c.benchmark_group(format!("token_cache_hit/{threads}_threads"));
        limit_and_ours(&mut group, threads, &swap, &cache);
        let s = swap.clone();
        row(
            &mut group,
            "arcswap_load_full_now",
            threads,
            async move || {
                let t = s.load_full();
                black_box(Instant::now() < expires_at);
                black_box(t);
            },
        );
        let rw = rw.clone();
        row(&mut group, "tokio_rwlock", threads, async move || {
            let guard = rw.read().await;
            let hit = guard
                .as_ref()
                .filter(|(_, exp)| Instant::now() < *exp)
                .map(|(t, _)| t.clone());
            black_box(hit);
        });
        let mutex = mutex.clone();
        row(&mut group, "std_mutex", threads, async move || {
            let guard = mutex.lock().expect("lock");
            let hit = guard
                .as_ref()
                .filter(|(_, exp)| Instant::now() < *exp)
                .map(|(t, _)| t.clone());
            drop(guard);
            black_box(hit);
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = threads::criterion();
    targets = bench
}
criterion_main!(benches);
