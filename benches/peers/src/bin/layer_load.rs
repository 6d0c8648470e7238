//! Layer overhead under load over loopback HTTP: an axum route behind
//! `ValidateBearerLayer` against the same route with no layer, driven by a
//! closed-loop load generator for a bounded time.
//!
//! ```text
//! layer_load [SECONDS_PER_ROUND] [ROUNDS]     # defaults: 3 s, 3 rounds
//! ```
//!
//! The server (`axum::serve`) and the generator run in this one process, each
//! on its own multi-threaded tokio runtime of one worker, so on two cores each
//! gets one. The generator keeps `CONNECTIONS` HTTP/1.1 connections busy: each
//! sends the next GET as soon as the last answer is read, with the same bearer
//! token the validator has already seen (the case of a busy API). The rows take
//! turns round after round, so that a noisy moment hurts both alike. Every
//! loop ends at its deadline or after `MAX_REQUESTS_PER_CONNECTION`.
//!
//! Reported per row: requests per second, median and p99 latency, and errors
//! (anything but a 200, or a failed connection). Saved as
//! `target/bench-report/layer_load.json` for `bench_report`.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use erpnet_auth::{Authority, JwtValidator};
use erpnet_auth_bench_peers::save_figures;
use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, MockIdentity};
use erpnet_auth_tower::ValidateBearerLayer;
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde_json::json;

/// Connections kept busy at once.
const CONNECTIONS: usize = 16;
/// A bound on each connection's loop, whatever the deadline.
const MAX_REQUESTS_PER_CONNECTION: usize = 2_000_000;

const ROWS: [&str; 2] = ["loopback_load_no_layer", "loopback_load_validate_bearer"];

#[derive(Default)]
struct Tally {
    requests: usize,
    errors: usize,
    seconds: f64,
    /// Latency of every successful request, in nanoseconds.
    latencies: Vec<u64>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: f64 = args.first().map_or(Ok(3.0), |s| s.parse())?;
    let rounds: usize = args.get(1).map_or(Ok(3), |s| s.parse())?;
    let round = Duration::from_secs_f64(seconds);

    let server = runtime()?;
    // The mock serves the key set for as long as `_identity` lives.
    let (_identity, addresses, token) = server.block_on(async {
        let identity = MockIdentity::start().await;
        let validator = JwtValidator::builder(Authority::parse(&identity.issuer())?)
            .audience("DomainAPI")
            .build()?;
        let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read", "update"]);
        let plain = Router::new().route("/whoami", get(handler));
        let guarded = plain.clone().layer(ValidateBearerLayer::new(validator));
        let addresses = [serve(plain).await?, serve(guarded).await?];
        Ok::<_, Box<dyn std::error::Error>>((identity, addresses, token))
    })?;
    let header = HeaderValue::from_str(&format!("Bearer {token}"))?;

    let client = runtime()?;
    // Warm up both (this also puts the token in the verified-token cache).
    for address in addresses {
        client.block_on(load(address, &header, Duration::from_millis(500)))?;
    }
    let mut tallies: [Tally; 2] = Default::default();
    for _ in 0..rounds {
        for (tally, address) in tallies.iter_mut().zip(addresses) {
            let round = client.block_on(load(address, &header, round))?;
            tally.requests += round.requests;
            tally.errors += round.errors;
            tally.seconds += round.seconds;
            tally.latencies.extend(round.latencies);
        }
    }

    let mut rows = serde_json::Map::new();
    for (name, tally) in ROWS.iter().zip(&mut tallies) {
        tally.latencies.sort_unstable();
        let rps = tally.requests as f64 / tally.seconds;
        let p50 = percentile(&tally.latencies, 0.50);
        let p99 = percentile(&tally.latencies, 0.99);
        println!(
            "{name}: {rps:.0} requests/s, p50 {:.1} µs, p99 {:.1} µs, {} errors of {} requests",
            p50 / 1e3,
            p99 / 1e3,
            tally.errors,
            tally.requests
        );
        rows.insert(
            (*name).to_owned(),
            json!({
                "requests": tally.requests,
                "errors": tally.errors,
                "seconds": tally.seconds,
                "requests_per_second": rps,
                "p50_ns": p50,
                "p99_ns": p99,
            }),
        );
    }
    let path = save_figures(
        "layer_load",
        &json!({
            "connections": CONNECTIONS,
            "rounds": rounds,
            "seconds_per_round": seconds,
            "rows": rows,
        }),
    )?;
    println!("figures saved to {}", path.display());
    Ok(())
}

async fn handler() -> &'static str {
    "ok"
}

/// A runtime with one worker thread.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
}

/// Serves `app` on 127.0.0.1 (on the current runtime) and returns its address.
async fn serve(app: Router) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(address)
}

/// Keeps `CONNECTIONS` connections to `address` busy for `duration`.
async fn load(
    address: SocketAddr,
    header: &HeaderValue,
    duration: Duration,
) -> Result<Tally, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| tokio::spawn(connection(address, header.clone(), deadline)))
        .collect();
    let mut tally = Tally::default();
    for worker in workers {
        let one = worker.await?;
        tally.requests += one.requests;
        tally.errors += one.errors;
        tally.latencies.extend(one.latencies);
    }
    tally.seconds = started.elapsed().as_secs_f64();
    Ok(tally)
}

/// One connection's closed loop: a GET, its whole answer, the next GET.
async fn connection(address: SocketAddr, header: HeaderValue, deadline: Instant) -> Tally {
    let mut tally = Tally::default();
    let sender = async {
        let stream = tokio::net::TcpStream::connect(address).await.ok()?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
                .await
                .ok()?;
        tokio::spawn(connection);
        Some(sender)
    }
    .await;
    let Some(mut sender) = sender else {
        tally.errors += 1;
        return tally;
    };
    for _ in 0..MAX_REQUESTS_PER_CONNECTION {
        if Instant::now() >= deadline {
            break;
        }
        let mut request = Request::get("/whoami")
            .header("host", "127.0.0.1")
            .body(Empty::new())
            .expect("a valid request");
        request.headers_mut().insert(AUTHORIZATION, header.clone());
        let sent = Instant::now();
        let answer = async {
            sender.ready().await.ok()?;
            let response = sender.send_request(request).await.ok()?;
            let status = response.status();
            response.into_body().collect().await.ok()?;
            Some(status)
        }
        .await;
        tally.requests += 1;
        match answer {
            Some(StatusCode::OK) => tally.latencies.push(elapsed_ns(sent)),
            Some(_) => tally.errors += 1,
            None => {
                // The connection is gone: count it and stop this loop.
                tally.errors += 1;
                break;
            }
        }
    }
    tally
}

fn elapsed_ns(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The `q` quantile of sorted latencies, in nanoseconds (0 when empty).
fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64
}
