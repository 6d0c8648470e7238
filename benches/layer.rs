//! An axum route behind `ValidateBearerLayer`, with a token the validator has
//! already seen, against the same route with no layer, in process.
//!
//! Rows (one request per iteration: build the request, `oneshot` it on a
//! clone of the router, drop the response; the same `Authorization` header
//! in every row):
//! - `no_layer`: the route alone.
//! - `noop_layer`: the route behind a layer that does nothing
//!   (`MapRequestLayer` with the identity): what axum's `Router::layer`
//!   costs by itself (a boxed, cloned service and a boxed future per request).
//! - `validate_bearer`: the route behind `ValidateBearerLayer` (the goal row).
//! - `validate_bearer_scopes_claims`: the full stack of `examples/api_server`:
//!   the layer, `RequireScopesLayer`, and a handler taking `Claims`
//!   (ERP.net's claims deserialized).
//!
//! Each row runs its loop inside one `block_on` of a current-thread runtime.
//!
//! For scale, two more rows send the same request over loopback HTTP/1.1
//! (hyper client, `axum::serve`, one kept-alive connection, client and server
//! on the one runtime thread): `loopback_no_layer` and
//! `loopback_validate_bearer`.
//!
//! Run: `cargo bench --bench layer` (see BENCHMARKS.md).

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use erpnet_auth::{Authority, JwtValidator};
use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, MockIdentity};
use erpnet_auth_tower::{Claims, RequireScopesLayer, ValidateBearerLayer};
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tower::ServiceExt;
use tower::util::MapRequestLayer;

async fn handler() -> &'static str {
    "ok"
}

async fn with_claims(claims: Claims) -> &'static str {
    black_box(&claims);
    "ok"
}

/// Serves `app` on 127.0.0.1 and returns a client connection to it.
async fn over_loopback(app: Router) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    sender
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let identity = runtime.block_on(MockIdentity::start());
    let validator = runtime.block_on(async {
        JwtValidator::builder(Authority::parse(&identity.issuer()).expect("authority"))
            .audience("DomainAPI")
            .build()
            .expect("validator")
    });
    let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read", "update"]);
    let header =
        HeaderValue::from_maybe_shared(Bytes::from(format!("Bearer {token}"))).expect("header");

    let rows = [
        ("no_layer", Router::new().route("/whoami", get(handler))),
        (
            "noop_layer",
            Router::new()
                .route("/whoami", get(handler))
                .layer(MapRequestLayer::new(|request: Request<Body>| request)),
        ),
        (
            "validate_bearer",
            Router::new()
                .route("/whoami", get(handler))
                .layer(ValidateBearerLayer::new(validator.clone())),
        ),
        (
            "validate_bearer_scopes_claims",
            Router::new()
                .route("/whoami", get(with_claims))
                .route_layer(RequireScopesLayer::all(["read"]))
                .layer(ValidateBearerLayer::new(validator.clone())),
        ),
    ];
    let validator_for_loopback = validator;

    let mut group = c.benchmark_group("layer");
    for (name, app) in rows {
        let request = || {
            let mut request = Request::get("/whoami")
                .body(Body::empty())
                .expect("request");
            request.headers_mut().insert(AUTHORIZATION, header.clone());
            request
        };
        // Every row must answer 200; this also puts the token in the
        // verified-token cache.
        let status = runtime
            .block_on(app.clone().oneshot(request()))
            .expect("response")
            .status();
        assert_eq!(status, StatusCode::OK, "{name}");
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let response = app.clone().oneshot(request()).await.expect("response");
                        black_box(response);
                    }
                    start.elapsed()
                })
            })
        });
    }

    let loopback = [
        (
            "loopback_no_layer",
            Router::new().route("/whoami", get(handler)),
        ),
        (
            "loopback_validate_bearer",
            Router::new()
                .route("/whoami", get(handler))
                .layer(ValidateBearerLayer::new(validator_for_loopback)),
        ),
    ];
    for (name, app) in loopback {
        let mut sender = runtime.block_on(over_loopback(app));
        let request = || {
            let mut request = Request::get("/whoami")
                .header("host", "localhost")
                .body(Empty::<Bytes>::new())
                .expect("request");
            request.headers_mut().insert(AUTHORIZATION, header.clone());
            request
        };
        let mut send = async move || {
            sender.ready().await.expect("ready");
            let response = sender.send_request(request()).await.expect("response");
            let status = response.status();
            black_box(response.into_body().collect().await.expect("body"));
            status
        };
        assert_eq!(runtime.block_on(send()), StatusCode::OK, "{name}");
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(send().await);
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
    drop(identity);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
