//! JWT access-token validation against the physical limit and the Rust
//! alternatives, measured in the same run, with RS256 tokens minted by the mock
//! identity exactly as ERP.net issues them.
//!
//! Group `jwt_validation` (one validation of the same valid token per iteration):
//! - `aws_lc_verify_sig`: the limit: aws-lc-rs verifies the token's signature
//!   with a key parsed once and a signature decoded once; nothing else.
//! - `jwt_validator_cold`: `JwtValidator::validate` with the verified-token
//!   cache off: every check, every time.
//! - `jwt_validator_cached`: the default validator, the same token again.
//! - `jsonwebtoken_decode`: `jsonwebtoken` 11 (aws-lc-rs backend): the header
//!   decoded for its `kid`, the `DecodingKey` (built once from the JWKS `n` and
//!   `e`) looked up, `decode` with issuer, audience, `exp` and `nbf` checked.
//!
//! Group `jwt_validation_tower` (one request through `ServiceExt::oneshot` to a
//! trivial inner service that answers 200):
//! - `erpnet_service_cold` / `erpnet_service_cached`: our validator in a tower
//!   service of the same shape as jwt-authorizer's (bearer from `Authorization`,
//!   claims into the request's extensions, a boxed future), cache off / on.
//! - `jwt_authorizer_layer`: `jwt-authorizer`'s layer over the mock's JWKS.
//!
//! Group `jwt_unknown_kid` (a token naming a key the JWKS does not hold, through
//! the same services): the time to refuse it, and the JWKS fetches the flood
//! causes, which go to `target/bench-report/validation_peers.json`.
//!
//! Run: `cargo bench -p erpnet-auth-bench-peers --bench validation_peers`.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use axum07::body::Body as Body07;
use axum07::response::Response as Response07;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use erpnet_auth::{Authority, JwtValidator};
use erpnet_auth_bench_peers::save_figures;
use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, Endpoint, MockIdentity};
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, StatusCode};
use jwt_authorizer::{IntoLayer, JwtAuthorizer, RegisteredClaims};
use serde_json::{Map, Value, json};
use tower::{Layer, Service, ServiceExt};

const AUDIENCE: &str = "DomainAPI";

/// Our validator in a tower service shaped like jwt-authorizer's: the bearer
/// token from `Authorization`, the verified claims into the request's
/// extensions, 401 otherwise; a boxed future.
#[derive(Clone)]
struct ValidateBearer<S> {
    validator: JwtValidator,
    inner: S,
}

impl<S, B> Service<Request<B>> for ValidateBearer<S>
where
    S: Service<Request<B>, Response = Response07> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response07;
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Response07, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let validator = self.validator.clone();
        Box::pin(async move {
            let bearer = request
                .headers()
                .get(AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer "));
            let verified = match bearer {
                Some(token) => validator.validate(token).await.ok(),
                None => None,
            };
            match verified {
                Some(verified) => {
                    request.extensions_mut().insert(verified);
                    inner.call(request).await
                }
                None => {
                    let mut refused = Response07::new(Body07::empty());
                    *refused.status_mut() = StatusCode::UNAUTHORIZED;
                    Ok(refused)
                }
            }
        })
    }
}

/// The API behind every layer: answers 200 at once.
fn api() -> impl Service<
    Request<()>,
    Response = Response07,
    Error = Infallible,
    Future = impl Future<Output = Result<Response07, Infallible>> + Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(|_request: Request<()>| async {
        Ok::<_, Infallible>(Response07::new(Body07::empty()))
    })
}

/// The signing input and the decoded signature of a compact JWS.
fn split(token: &str) -> (&[u8], Vec<u8>) {
    let (input, signature) = token.rsplit_once('.').expect("compact JWS");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
    (input.as_bytes(), signature)
}

/// The mock's published RSA key, as `(kid, n, e)` in base64url.
async fn published_key(identity: &MockIdentity) -> (String, String, String) {
    let jwks: Value = serde_json::from_str(
        &reqwest::get(identity.jwks_uri())
            .await
            .expect("jwks")
            .text()
            .await
            .expect("jwks body"),
    )
    .expect("jwks json");
    let key = &jwks["keys"][0];
    let field = |name: &str| key[name].as_str().expect("jwk field").to_owned();
    (field("kid"), field("n"), field("e"))
}

/// One row whose body is async, run on the bench's current-thread runtime.
fn async_row<F, Fut>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    call: F,
) where
    F: Fn() -> Fut,
    Fut: Future,
{
    group.bench_function(name, |b| {
        b.to_async(runtime)
            .iter(|| async { black_box(call().await) })
    });
}

/// A request carrying `header` in `Authorization`.
fn request(header: &HeaderValue) -> Request<()> {
    let mut request = Request::new(());
    request.headers_mut().insert(AUTHORIZATION, header.clone());
    request
}

fn bench(c: &mut Criterion) {
    // The mock and every background task of the validators run here.
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let identity = server.block_on(MockIdentity::start());
    let issuer = identity.issuer();
    let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read", "update"]);
    let (kid, n, e) = server.block_on(published_key(&identity));

    // The limit: the key parsed once, the signature decoded once.
    let parsed: ParsedPublicKey = RsaPublicKeyComponents {
        n: URL_SAFE_NO_PAD.decode(&n).expect("n"),
        e: URL_SAFE_NO_PAD.decode(&e).expect("e"),
    }
    .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
    .expect("RSA key");
    let (signing_input, signature) = split(&token);

    let validator = |capacity: usize| {
        let authority = Authority::parse(&issuer).expect("authority");
        let validator = JwtValidator::builder(authority)
            .audience(AUDIENCE)
            .verified_cache_capacity(capacity)
            .build()
            .expect("validator");
        server.block_on(async {
            validator.validate(&token).await.expect("valid token");
        });
        validator
    };
    let cold = validator(0);
    let cached = validator(erpnet_auth::DEFAULT_VERIFIED_CACHE);

    // jsonwebtoken with a key set built by hand, as its docs show for a JWKS.
    let decoding_keys: std::collections::HashMap<String, jsonwebtoken::DecodingKey> = [(
        kid.clone(),
        jsonwebtoken::DecodingKey::from_rsa_components(&n, &e).expect("decoding key"),
    )]
    .into();
    let mut rules = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    rules.set_issuer(&[&issuer]);
    rules.set_audience(&[AUDIENCE]);
    rules.validate_nbf = true;
    rules.leeway = 30;
    let jsonwebtoken_decode = |token: &str| {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let key = decoding_keys.get(header.kid.as_deref()?)?;
        jsonwebtoken::decode::<Map<String, Value>>(token, key, &rules).ok()
    };
    assert!(
        jsonwebtoken_decode(&token).is_some(),
        "jsonwebtoken accepts the token"
    );

    // jwt-authorizer over the mock's JWKS, its documented set-up.
    let authorizer = server.block_on(async {
        JwtAuthorizer::<RegisteredClaims>::from_jwks_url(&identity.jwks_uri())
            .validation(
                jwt_authorizer::Validation::new()
                    .iss(&[&issuer])
                    .aud(&[AUDIENCE])
                    .nbf(true)
                    .leeway(30),
            )
            .build()
            .await
            .expect("jwt-authorizer")
    });
    let jwt_authorizer = authorizer.into_layer().layer(api());
    let ours_cold = ValidateBearer {
        validator: cold.clone(),
        inner: api(),
    };
    let ours_cached = ValidateBearer {
        validator: cached.clone(),
        inner: api(),
    };

    let header = HeaderValue::from_str(&format!("Bearer {token}")).expect("header");
    server.block_on(async {
        for (name, status) in [
            ("ours", ours_cold.clone().oneshot(request(&header)).await),
            (
                "jwt-authorizer",
                jwt_authorizer.clone().oneshot(request(&header)).await,
            ),
        ] {
            let status = status.expect("infallible").status();
            assert_eq!(status, StatusCode::OK, "{name} accepts the token");
        }
    });

    let mut group = c.benchmark_group("jwt_validation");
    group.bench_function("aws_lc_verify_sig", |b| {
        b.iter(|| parsed.verify_sig(black_box(signing_input), black_box(&signature)))
    });
    async_row(&mut group, &runtime, "jwt_validator_cold", || {
        cold.validate(&token)
    });
    async_row(&mut group, &runtime, "jwt_validator_cached", || {
        cached.validate(&token)
    });
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| jsonwebtoken_decode(black_box(&token)))
    });
    group.finish();

    let mut group = c.benchmark_group("jwt_validation_tower");
    async_row(&mut group, &runtime, "erpnet_service_cold", || {
        ours_cold.clone().oneshot(request(&header))
    });
    async_row(&mut group, &runtime, "erpnet_service_cached", || {
        ours_cached.clone().oneshot(request(&header))
    });
    async_row(&mut group, &runtime, "jwt_authorizer_layer", || {
        jwt_authorizer.clone().oneshot(request(&header))
    });
    group.finish();

    // A flood of one token whose `kid` the JWKS does not hold: the valid
    // token's payload and signature under a forged header.
    let (_, rest) = token.split_once('.').expect("jws");
    let unknown_header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "0".repeat(32)});
    let unknown = format!(
        "{}.{rest}",
        URL_SAFE_NO_PAD.encode(unknown_header.to_string())
    );
    let unknown = HeaderValue::from_str(&format!("Bearer {unknown}")).expect("header");
    let mut flood = Map::new();
    let mut group = c.benchmark_group("jwt_unknown_kid");
    for (name, service) in [
        (
            "erpnet_service_unknown_kid",
            tower::util::BoxCloneService::new(ours_cold.clone()),
        ),
        (
            "jwt_authorizer_unknown_kid",
            tower::util::BoxCloneService::new(jwt_authorizer.clone()),
        ),
    ] {
        let fetches_before = identity.requests(Endpoint::Jwks);
        let refusals = Arc::new(AtomicU64::new(0));
        let started = std::time::Instant::now();
        async_row(&mut group, &runtime, name, || {
            let refusals = refusals.clone();
            let response = service.clone().oneshot(request(&unknown));
            async move {
                let response = response.await.expect("infallible");
                if response.status() != StatusCode::OK {
                    refusals.fetch_add(1, Ordering::Relaxed);
                }
                response
            }
        });
        flood.insert(
            name.to_owned(),
            json!({
                "refusals": refusals.load(Ordering::Relaxed),
                "seconds": started.elapsed().as_secs_f64(),
                "jwks_fetches": identity.requests(Endpoint::Jwks) - fetches_before,
            }),
        );
    }
    group.finish();
    save_figures("validation_peers", &json!({ "unknown_kid_flood": flood }))
        .expect("save the flood figures");
    drop(server);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
