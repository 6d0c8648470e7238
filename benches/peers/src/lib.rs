//! Benches of erpnet-auth against other Rust crates, measured in the same run,
//! and the tools of `benches/run.sh`, which regenerates BENCHMARKS.md.
//!
//! - `benches/token_cache_peers.rs`: the token-cache hit path against
//!   `aliri_tokens`' `TokenWatcher` and `huskarl`'s `InMemoryTokenCache`, with
//!   our row and the limit in the same run;
//! - `benches/validation_peers.rs`: JWT validation against a bare aws-lc-rs
//!   signature check (the limit), `jsonwebtoken::decode`, `jwt-authorizer`'s
//!   tower layer and `huskarl-resource-server`'s `Rfc9068Validator`;
//! - `benches/refresh_storm.rs`: 10,000 tasks asking for a token the moment it
//!   expires, against the mock identity;
//! - `src/bin/validation_memory.rs`: peak memory while validating 100,000
//!   distinct tokens;
//! - `src/bin/layer_load.rs`: an axum route with and without
//!   `ValidateBearerLayer` under a closed-loop load over loopback HTTP for a
//!   bounded time (requests per second, p50, p99, errors);
//! - `src/bin/bench_report.rs`: writes the tables into BENCHMARKS.md.
//!
//! Not a default member of the workspace, so `cargo build` and `cargo test` at
//! the root never compile these dependencies.

use std::path::PathBuf;

/// Where the non-criterion benches leave their figures for `bench_report`:
/// `$ERPNET_BENCH_REPORT_DIR`, or `target/bench-report` of the workspace.
pub fn report_dir() -> PathBuf {
    std::env::var_os("ERPNET_BENCH_REPORT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-report")
        })
}

/// Saves the figures of one bench as `{report_dir}/{name}.json`.
pub fn save_figures(name: &str, figures: &serde_json::Value) -> std::io::Result<PathBuf> {
    let dir = report_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(figures)?)?;
    Ok(path)
}

/// The peak resident set size of this process so far, in KiB (`VmHWM` from
/// `/proc/self/status`; `None` where that file does not exist).
pub fn peak_rss_kib() -> Option<u64> {
    proc_status_kib("VmHWM:")
}

/// The current resident set size of this process, in KiB (`VmRSS`).
pub fn rss_kib() -> Option<u64> {
    proc_status_kib("VmRSS:")
}

fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}
