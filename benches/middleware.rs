//! What `BearerAuth` adds to a request: one GET to an axum server on 127.0.0.1,
//! through the middleware with a cached token, against the same GET with the
//! header set by hand, measured in the same run.
//!
//! Rows (one GET per iteration, body read to the end):
//! - `plain_reqwest_by_hand`: a plain `reqwest::Client`, `Authorization` set by
//!   hand from a header value built once: the floor.
//! - `middleware_client_by_hand`: the same through a `ClientWithMiddleware`
//!   with no middleware, header by hand: what reqwest-middleware itself costs.
//! - `bearer_auth`: through `BearerAuth` over a warm `CachedTokenSource`.
//!
//! Every row uses the same `reqwest::Client` (one connection pool, kept warm),
//! the same 900-character token and the same server. Client and server run on
//! one current-thread runtime (see `bench` for why).
//!
//! Run: `cargo bench --bench middleware` (see BENCHMARKS.md).

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use erpnet_auth::reqwest::BearerAuth;
use erpnet_auth::{AccessToken, CachedTokenSource, StaticToken};
use reqwest::header::AUTHORIZATION;

/// Starts the API on `runtime` and returns its URL.
fn start_server(runtime: &tokio::runtime::Runtime) -> String {
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let app = axum::Router::new().fallback(|| async { "ok" });
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}/api/domain/odata/General_Contacts_Persons")
    })
}

/// One row: `send` sends the GET; the body is read to the end, as every
/// caller does before the connection can serve the next request.
fn row<F, Fut>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    send: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = reqwest::Response>,
{
    group.bench_function(name, |b| {
        b.to_async(runtime).iter(|| async {
            let response = send().await;
            black_box(response.bytes().await.expect("body"));
        })
    });
}

fn bench(c: &mut Criterion) {
    // Client and server share one thread: no cross-thread wake-ups, whose
    // latency on a shared virtual machine varies by a factor of three between
    // runs and would drown the difference being measured. Each figure is then
    // the CPU cost of a whole exchange, the smallest denominator there is, so
    // the ratio is an upper bound on what the middleware adds.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = start_server(&runtime);

    let token = AccessToken::new("x".repeat(900)).with_expires_in(Duration::from_secs(3600));
    let header = token.authorization_header().expect("header");
    let tokens = runtime.block_on(async {
        let tokens = CachedTokenSource::new(StaticToken::from_token(token.clone()));
        tokens.token().await.expect("token");
        tokens
    });
    let origin = url.split("/api").next().expect("origin").to_owned();

    let http = reqwest::Client::new();
    let bare = reqwest_middleware::ClientBuilder::new(http.clone()).build();
    // Its own client (the one BearerAuth runs in), as warm as `http` by the
    // time criterion measures.
    let with_auth = BearerAuth::builder(tokens)
        .allow_origin(&origin)
        .build()
        .expect("BearerAuth")
        .client_builder(reqwest::Client::builder())
        .expect("client")
        .build();

    let mut group = c.benchmark_group("get_with_token");
    row(&mut group, &runtime, "plain_reqwest_by_hand", || async {
        let request = http.get(&url).header(AUTHORIZATION, header.clone());
        request.send().await.expect("sent")
    });
    row(
        &mut group,
        &runtime,
        "middleware_client_by_hand",
        || async {
            let request = bare.get(&url).header(AUTHORIZATION, header.clone());
            request.send().await.expect("sent")
        },
    );
    row(&mut group, &runtime, "bearer_auth", || async {
        with_auth.get(&url).send().await.expect("sent")
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(50);
    targets = bench
}
criterion_main!(benches);
