//! The harness of the token-cache hit-path benches, shared by
//! `benches/token_cache.rs` and the peer comparison in
//! `benches/peers/benches/token_cache_peers.rs`, so that a row costs the same
//! harness in both and their figures can be set side by side.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use criterion::BenchmarkGroup;
use criterion::measurement::WallTime;
use erpnet_auth::{AccessToken, CachedTokenSource, TokenSource};

/// Runs `body(runtime, iters)` on `threads` threads started together and returns the
/// longest wall time, so the figure is the per-thread time per iteration.
pub(crate) fn on_threads<F>(threads: usize, iters: u64, body: F) -> Duration
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

/// A current-thread runtime with timers, as each bench thread uses.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

/// One row: `read` is one token read, run `iters` times by each thread inside
/// one `block_on`, so the harness costs the same for every row.
pub(crate) fn row<F>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, threads: usize, read: F)
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

/// The rows every hit-path bench has: `arcswap_load_full`, a bare
/// `ArcSwap::load_full` (the limit); `cached_token`, our cache's hit path
/// (`CachedTokenSource::cached_token()`, what the reqwest middleware and the
/// tower client layer call on every request); and `token_await`, the same cache
/// through `token().await`.
pub(crate) fn limit_and_ours<S: TokenSource + 'static>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    threads: usize,
    swap: &Arc<ArcSwap<AccessToken>>,
    cache: &CachedTokenSource<S>,
) {
    let swap = swap.clone();
    row(group, "arcswap_load_full", threads, async move || {
        std::hint::black_box(swap.load_full());
    });
    let hits = cache.clone();
    row(group, "cached_token", threads, async move || {
        std::hint::black_box(hits.cached_token().expect("hit"));
    });
    let cache = cache.clone();
    row(group, "token_await", threads, async move || {
        std::hint::black_box(cache.token().await.expect("hit"));
    });
}

/// The criterion settings of the hit-path benches: short, since every row is
/// a few nanoseconds and only ratios within one run are reported.
pub(crate) fn criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}
