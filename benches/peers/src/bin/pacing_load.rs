//! ERP.net's session limits under load: 64 concurrent callers sharing one service token
//! against `MockDomainApi` (ERP.net's limits: per session 1 request at a time with 5 waiting
//! and 600 a minute, per site 2 at a time), through `BearerAuth` with and without
//! `SessionPacing`; then the memory of the pacer over 10,000 token rotations.
//!
//! ```text
//! pacing_load [SECONDS]     # the concurrency-bound rows; default 20
//! ```
//!
//! Two scenarios, each paced and unpaced, each row on a fresh mock and a fresh token:
//! - `concurrency_bound`: each request takes the mock 150 ms, so one session is allowed
//!   1 / 0.150 s = 6.67 requests/s, below its 600 a minute (10/s); `SECONDS` per row;
//! - `rate_bound`: each request takes 20 ms (50/s allowed by concurrency), so the budget of
//!   600 a minute binds. Its rows last exactly one minute, the server's window: a fresh
//!   session may get its 600 at the concurrency's pace and then only 429s until the window
//!   moves on, so over any other span the two rows would not compare with the budget.
//!
//! Every caller is a closed loop (the next GET as soon as the last answer is in, a 429
//! included) that ends at the row's deadline or after `MAX_REQUESTS_PER_CALLER`; requests
//! still waiting at the deadline are abandoned and not counted. Reported per row: answers
//! by status, OK answers per second, and that rate against what the session limits allow.
//!
//! Rotations: a token source that hands out a new token for every request (10,000 in all,
//! each a new session for the pacer), through `BearerAuth` and `SessionPacing` to a
//! stateless route on 127.0.0.1 (so that only the client's memory is measured), with the
//! resident set size and the sessions the pacer holds every 1,000 rotations.
//!
//! Saved as `target/bench-report/pacing_load.json` for `bench_report`.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use erpnet_auth::pacing::Pacer;
use erpnet_auth::reqwest::{BearerAuth, SessionPacing};
use erpnet_auth::{
    AccessToken, Authority, CachedTokenSource, ClientConfig, ClientCredentials, token_source_fn,
};
use erpnet_auth_bench_peers::{rss_kib, save_figures};
use erpnet_auth_testkit::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_ENTITY, MockDomainApi, MockIdentity,
};
use reqwest_middleware::ClientWithMiddleware;
use serde_json::{Value, json};

/// Callers at once, all with the same token.
const CALLERS: usize = 64;
/// A bound on each caller's loop, whatever the deadline.
const MAX_REQUESTS_PER_CALLER: usize = 1_000_000;
/// ERP.net's requests per minute per session.
const SESSION_RPM: f64 = 600.0;
/// Token rotations in the memory phase, and how often it is measured.
const ROTATIONS: usize = 10_000;
const CHECKPOINT: usize = 1_000;

/// `(scenario, the mock's service time, the row's length, or `None` for `SECONDS`)`
const SCENARIOS: [(&str, Duration, Option<Duration>); 2] = [
    ("concurrency_bound", Duration::from_millis(150), None),
    (
        "rate_bound",
        Duration::from_millis(20),
        Some(Duration::from_secs(60)),
    ),
];

#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    throttled: AtomicUsize,
    other: AtomicUsize,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: f64 = std::env::args().nth(1).map_or(Ok(20.0), |s| s.parse())?;
    let identity = MockIdentity::start().await;

    let mut rows = serde_json::Map::new();
    for (scenario, service_time, length) in SCENARIOS {
        let duration = length.unwrap_or(Duration::from_secs_f64(seconds));
        let allowed = (1.0 / service_time.as_secs_f64()).min(SESSION_RPM / 60.0);
        for paced in [true, false] {
            let name = format!("{scenario}_{}", if paced { "paced" } else { "unpaced" });
            let row = run_row(&identity, service_time, paced, duration, allowed).await?;
            println!("{name}: {row}");
            rows.insert(name, row);
        }
    }
    let rotations = rotations().await?;
    println!("rotations: {rotations}");

    let path = save_figures(
        "pacing_load",
        &json!({
            "callers": CALLERS,
            "seconds": seconds,
            "rows": rows,
            "rotations": rotations,
        }),
    )?;
    println!("figures saved to {}", path.display());
    Ok(())
}

/// One row: `CALLERS` closed loops for `duration` against a fresh mock, with a fresh token.
async fn run_row(
    identity: &MockIdentity,
    service_time: Duration,
    paced: bool,
    duration: Duration,
    allowed: f64,
) -> Result<Value, Box<dyn std::error::Error>> {
    let api = MockDomainApi::builder(identity)
        .service_time(service_time)
        .start()
        .await;
    let client = ClientConfig::builder(Authority::parse(&identity.issuer())?, DEFAULT_CLIENT_ID)
        .client_secret(DEFAULT_CLIENT_SECRET)
        .build()?;
    let grant = ClientCredentials::builder(client)
        .scopes(["read"])
        .build()?;
    let tokens = CachedTokenSource::new(grant);
    tokens.token().await?; // the token request is not part of the row
    let pacer = Pacer::erpnet().build()?;
    let mut builder = BearerAuth::builder(tokens)
        .allow_origin(api.origin())
        .build()
        .expect("BearerAuth")
        .client_builder(reqwest::Client::builder())
        .expect("client");
    if paced {
        builder = builder.with(SessionPacing::new(pacer.clone()));
    }
    let client = builder.build();
    let url = format!("{}?$top=10", api.entity_url(DEFAULT_ENTITY));

    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let deadline = started + duration;
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            tokio::spawn(caller(
                client.clone(),
                url.clone(),
                Arc::clone(&tally),
                deadline,
            ))
        })
        .collect();
    tokio::time::sleep_until(deadline.into()).await;
    let seconds = started.elapsed().as_secs_f64();
    // Read at the deadline; what is still waiting then is not counted.
    let (ok, throttled, other) = (
        tally.ok.load(Ordering::SeqCst),
        tally.throttled.load(Ordering::SeqCst),
        tally.other.load(Ordering::SeqCst),
    );
    for caller in callers {
        caller.abort();
    }
    let answered = ok + throttled + other;
    let ok_per_second = ok as f64 / seconds;
    let stats = pacer.stats();
    Ok(json!({
        "paced": paced,
        "service_ms": service_time.as_millis() as u64,
        "seconds": seconds,
        "answered": answered,
        "ok": ok,
        "throttled": throttled,
        "other": other,
        "throttled_share": if answered == 0 { 0.0 } else { throttled as f64 / answered as f64 },
        "ok_per_second": ok_per_second,
        "allowed_per_second": allowed,
        "of_allowed": ok_per_second / allowed,
        "retried": stats.retried,
        "server_max_session_in_flight": api.stats().max_session_in_flight,
    }))
}

/// GETs `url` until `deadline`, counting answers by status.
async fn caller(client: ClientWithMiddleware, url: String, tally: Arc<Tally>, deadline: Instant) {
    for _ in 0..MAX_REQUESTS_PER_CALLER {
        if Instant::now() >= deadline {
            break;
        }
        let counter = match client.get(&url).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(_) if status == 200 => &tally.ok,
                    Ok(_) if status == 429 => &tally.throttled,
                    _ => &tally.other,
                }
            }
            Err(_) => &tally.other,
        };
        if Instant::now() <= deadline {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// 10,000 requests, each with a new token, through BearerAuth and SessionPacing to a
/// stateless route: RSS and sessions held every 1,000.
async fn rotations() -> Result<Value, Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let origin = format!("http://{}", listener.local_addr()?);
    let app = Router::new().fallback(|| async { "ok" });
    tokio::spawn(async move { axum::serve(listener, app).await });

    let issued = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&issued);
    // A new token for every request, as if each were refreshed: 40 hex characters each.
    let source = token_source_fn(move || {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        async move {
            Ok(AccessToken::new(format!(
                "rotated-{n:016x}-{:016x}",
                n.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            )))
        }
    });
    let pacer = Pacer::erpnet().build()?;
    let client = BearerAuth::builder(source)
        .allow_origin(&origin)
        .build()
        .expect("BearerAuth")
        .client_builder(reqwest::Client::builder())
        .expect("client")
        .with(SessionPacing::new(pacer.clone()))
        .build();

    let started = Instant::now();
    let mut checkpoints = Vec::new();
    let mut most_sessions = 0;
    for rotation in 1..=ROTATIONS {
        let response = client.get(format!("{origin}/")).send().await?;
        response.bytes().await?;
        most_sessions = most_sessions.max(pacer.stats().sessions);
        if rotation % CHECKPOINT == 0 {
            checkpoints.push(json!({
                "rotations": rotation,
                "rss_kib": rss_kib().unwrap_or(0),
                "sessions": pacer.stats().sessions,
            }));
        }
    }
    Ok(json!({
        "rotations": ROTATIONS,
        "tokens_issued": issued.load(Ordering::Relaxed),
        "seconds": started.elapsed().as_secs_f64(),
        "most_sessions": most_sessions,
        "checkpoints": checkpoints,
    }))
}
