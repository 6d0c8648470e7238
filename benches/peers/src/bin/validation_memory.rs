//! Peak memory of a validating server: 100,000 distinct valid RS256 tokens,
//! minted by the mock identity, through one `JwtValidator`.
//!
//! Two steps, so that the measured process holds nothing but the validator:
//!
//! ```text
//! validation_memory mint DIR [COUNT]        # tokens.txt, jwks.json, issuer.txt (signs on 2 threads)
//! validation_memory validate DIR CAPACITY   # validates each line of tokens.txt, then reports
//! ```
//!
//! `validate` streams the tokens from the file one at a time, so its peak
//! resident set is the runtime, the key set and the verified-token cache. It
//! prints its figures (`VmHWM` from `/proc/self/status`) and saves them as
//! `target/bench-report/memory_capacity_{CAPACITY}.json`. `benches/run.sh` runs
//! it with the cache off, at the default 10,000, and at 100,000 (room for
//! every token), in release mode.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use erpnet_auth::{JwksCache, JwtValidator};
use erpnet_auth_bench_peers::{peak_rss_kib, rss_kib, save_figures};
use erpnet_auth_testkit::{MockIdentity, TokenSpec};
use serde_json::json;

const DEFAULT_COUNT: usize = 100_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["mint", dir] => mint(Path::new(dir), DEFAULT_COUNT),
        ["mint", dir, count] => mint(Path::new(dir), count.parse()?),
        ["validate", dir, capacity] => validate(Path::new(dir), capacity.parse()?),
        _ => Err("usage: validation_memory mint DIR [COUNT] | validate DIR CAPACITY".into()),
    }
}

/// Mints `count` distinct access tokens (each has its own `jti`) and saves them
/// with the key set and the issuer that validate them.
fn mint(dir: &Path, count: usize) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let identity = runtime.block_on(MockIdentity::start());
    let jwks = runtime.block_on(async { reqwest::get(identity.jwks_uri()).await?.text().await })?;
    std::fs::write(dir.join("jwks.json"), jwks)?;
    std::fs::write(dir.join("issuer.txt"), identity.issuer())?;

    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = count.div_ceil(threads);
    let parts: Vec<Vec<String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|i| {
                let identity = &identity;
                let n = per_thread.min(count.saturating_sub(i * per_thread));
                scope.spawn(move || {
                    (0..n)
                        .map(|_| identity.mint(TokenSpec::access_token()))
                        .collect()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("minting thread"))
            .collect()
    });
    let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join("tokens.txt"))?);
    for token in parts.iter().flatten() {
        writeln!(out, "{token}")?;
    }
    out.flush()?;
    println!(
        "minted {count} tokens in {:.1} s into {}",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(())
}

/// Validates every token of `dir/tokens.txt` with a validator whose verified-token
/// cache holds `capacity` entries, then reports the peak resident set.
fn validate(dir: &Path, capacity: usize) -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let issuer = std::fs::read_to_string(dir.join("issuer.txt"))?;
    let jwks = JwksCache::from_json(&std::fs::read_to_string(dir.join("jwks.json"))?, 64)?;
    let validator = JwtValidator::builder_for_jwks(issuer, jwks)
        .audience("DomainAPI")
        .verified_cache_capacity(capacity)
        .build()?;
    let tokens: PathBuf = dir.join("tokens.txt");
    let baseline_kib = rss_kib();

    let started = Instant::now();
    let mut validated = 0usize;
    let mut line = String::new();
    let mut reader = BufReader::new(std::fs::File::open(&tokens)?);
    runtime.block_on(async {
        while {
            line.clear();
            reader.read_line(&mut line)? > 0
        } {
            validator.validate(line.trim_end()).await?;
            validated += 1;
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let figures = json!({
        "capacity": capacity,
        "validated": validated,
        "seconds": seconds,
        "baseline_rss_kib": baseline_kib,
        "peak_rss_kib": peak_rss_kib(),
    });
    println!("{figures}");
    save_figures(&format!("memory_capacity_{capacity}"), &figures)?;
    Ok(())
}
