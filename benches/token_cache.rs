//! The hit path of `CachedTokenSource`, against the physical limit and the
//! obvious alternatives, at 1 and 2 threads, measured in the same run.
//!
//! Rows (per thread, one token read per iteration):
//! - `arcswap_load_full`: a bare `ArcSwap::load_full` with no clock read: the limit.
//! - `arcswap_load_full_now`: the same plus `Instant::now()`, the naive freshness check.
//! - `cached_token_source`: `CachedTokenSource::token().await` on a fresh token.
//! - `tokio_rwlock`: a cache behind `tokio::sync::RwLock` with a clock check.
//! - `std_mutex`: a cache behind `std::sync::Mutex` with a clock check (Go's
//!   `ReuseTokenSource` style).
//!
//! Every row runs its loop inside one `block_on` of a current-thread runtime, so
//! the harness costs the same for all of them.
//!
//! Run: `cargo bench --bench token_cache` (see BENCHMARKS.md).

use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use erpnet_auth::{AccessToken, CachedTokenSource, StaticToken};

/// Runs `body(runtime, iters)` on `threads` threads started together and returns the
/// longest wall time, so the figure is the per-thread time per iteration.
fn on_threads<F>(threads: usize, iters: u64, body: F) -> Duration
where
    F: Fn(&tokio::runtime::Runtime, u64) + Send + Sync + 'static,
{
    let body = Arc::new(body);
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let body = body.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let runtime = runtime();
                barrier.wait();
                let start = Instant::now();
                body(&runtime, iters);
                start.elapsed()
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("bench thread"))
        .max()
        .unwrap_or_default()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

/// One row: `read` is one token read, run `iters` times by each thread inside
/// one `block_on`, so the harness costs the same for every row.
fn row<F>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, threads: usize, read: F)
where
    F: AsyncFn() + Send + Sync + 'static,
{
    let read = Arc::new(read);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let read = read.clone();
            on_threads(threads, iters, move |rt, n| {
                rt.block_on(async {
                    for _ in 0..n {
                        read().await;
                    }
                })
            })
        })
    });
}

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
        let s = swap.clone();
        row(&mut group, "arcswap_load_full", threads, async move || {
            black_box(s.load_full());
        });
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
        let cache = cache.clone();
        row(
            &mut group,
            "cached_token_source",
            threads,
            async move || {
                black_box(cache.token().await.expect("hit"));
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
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
