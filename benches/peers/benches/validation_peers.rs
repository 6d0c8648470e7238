//! JWT access-token validation against the physical limit and the Rust
//! alternatives, measured in the same run, with RS256 tokens minted by the mock
//! identity as ERP.net issues them, in the RFC 9068 shape (see below).
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
//! - `huskarl_rfc9068_validate_request`: `huskarl-resource-server`'s
//!   `Rfc9068Validator::validate_request` over the mock's JWKS, on a header map
//!   holding `Authorization: Bearer …` (its only entry point: it takes the
//!   request's headers, method and URI). It has no verified-token cache, so
//!   the same token again costs the same: there is no cached row for it.
//!   Its only RSA backend is RustCrypto's `rsa` (via `huskarl-crypto-native`),
//!   whose modular exponentiation is most of the row's time.
//!
//! Group `jwt_validation_tower` (one request through `ServiceExt::oneshot` to a
//! trivial inner service that answers 200):
//! - `erpnet_service_cold` / `erpnet_service_cached`: our validator in a tower
//!   service of the same shape as jwt-authorizer's (bearer from `Authorization`,
//!   claims into the request's extensions, a boxed future), cache off / on.
//! - `jwt_authorizer_layer`: `jwt-authorizer`'s layer over the mock's JWKS.
//! - `huskarl_service`: huskarl's `Rfc9068Validator` in the same service as
//!   ours (huskarl publishes no tower layer).
//!
//! Group `jwt_unknown_kid` (a token naming a key the JWKS does not hold, through
//! the same services): the time to refuse it, and the JWKS fetches the flood
//! causes, which go to `target/bench-report/validation_peers.json`.
//! huskarl refetches its JWKS for an unknown `kid` at most once a minute
//! (`min_refresh_interval`), counting the fetch at start-up, so its count
//! depends on how long after start-up its row runs: 0 or 1 here.
//!
//! The token: ERP.net's service tokens carry `scope` as a JSON array and no
//! `sub`; huskarl's RFC 9068 validator refuses both (its claims type reads
//! `scope` as a space-separated string, and it requires `sub`, as RFC 9068
//! §2.2 does). So every row here validates the mock's access token with the
//! two changed as RFC 9068 wants them: `sub` the client id (§2.2 for a
//! client-credentials token) and `scope` `"read update"`. Our validator and the
//! other peers take either shape; the `validation` bench of the root package
//! measures ours on ERP.net's own shape.
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
use erpnet_auth::{Authority, JwtValidator, VerifiedToken};
use erpnet_auth_bench_peers::save_figures;
use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, Endpoint, MockIdentity, TokenSpec};
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use huskarl_reqwest::ReqwestClient;
use huskarl_resource_server::validator::ValidatedRequest;
use huskarl_resource_server::validator::rfc9068::{Rfc9068AccessTokenClaims, Rfc9068Validator};
use jwt_authorizer::{IntoLayer, JwtAuthorizer, RegisteredClaims};
use serde_json::{Map, Value, json};
use tower::{Layer, Service, ServiceExt};

const AUDIENCE: &str = "DomainAPI";

/// A validator as a bearer service uses it: the request's headers in, the
/// verified token out, or nothing when the request is refused.
trait CheckHeaders: Clone + Send + Sync + 'static {
    type Verified: Clone + Send + Sync + 'static;

    fn check(&self, headers: &HeaderMap) -> impl Future<Output = Option<Self::Verified>> + Send;
}

impl CheckHeaders for JwtValidator {
    type Verified = VerifiedToken;

    async fn check(&self, headers: &HeaderMap) -> Option<VerifiedToken> {
        let bearer = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))?;
        self.validate(bearer).await.ok()
    }
}

/// huskarl's validator reads the bearer from the headers itself.
#[derive(Clone)]
struct Huskarl {
    validator: Arc<Rfc9068Validator>,
    uri: Uri,
}

/// The absolute URI huskarl's validator asks for; it compares it with a DPoP
/// proof's `htu` only, and these requests carry bearer tokens.
const RESOURCE_URI: &str = "http://127.0.0.1/api";

impl CheckHeaders for Huskarl {
    type Verified = Arc<ValidatedRequest<Rfc9068AccessTokenClaims>>;

    async fn check(&self, headers: &HeaderMap) -> Option<Self::Verified> {
        let result = self
            .validator
            .validate_request(headers, &Method::GET, &self.uri, None)
            .await;
        result.outcome.ok().flatten().map(Arc::new)
    }
}

/// A validator in a tower service shaped like jwt-authorizer's: the bearer
/// token from `Authorization`, the verified claims into the request's
/// extensions, 401 otherwise; a boxed future.
#[derive(Clone)]
struct ValidateBearer<V, S> {
    validator: V,
    inner: S,
}

impl<V, S, B> Service<Request<B>> for ValidateBearer<V, S>
where
    V: CheckHeaders,
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
            match validator.check(request.headers()).await {
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
    // The RFC 9068 shape that huskarl accepts (see the top of this file).
    let token = identity.mint(
        TokenSpec::access_token()
            .subject(DEFAULT_CLIENT_ID)
            .scope_string("read update"),
    );
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

    // huskarl's RFC 9068 validator over the mock's JWKS (fetched once, here),
    // with the same checks as the others: RS256, `typ` at+jwt (always on),
    // issuer, audience, 30 s of leeway.
    let huskarl = server.block_on(async {
        Rfc9068Validator::builder()
            .issuer(issuer.clone())
            .audience(AUDIENCE)
            .jwks_uri(identity.jwks_uri().parse().expect("jwks uri"))
            .jwks_source(ReqwestClient::from(reqwest::Client::new()))
            .allowed_signing_algorithms(vec!["RS256".to_owned()])
            .clock_leeway(std::time::Duration::from_secs(30))
            .build()
            .await
            .expect("huskarl validator")
    });
    let huskarl = Huskarl {
        validator: Arc::new(huskarl),
        uri: Uri::from_static(RESOURCE_URI),
    };
    let huskarl_service = ValidateBearer {
        validator: huskarl.clone(),
        inner: api(),
    };
    let ours_cold = ValidateBearer {
        validator: cold.clone(),
        inner: api(),
    };
    let ours_cached = ValidateBearer {
        validator: cached.clone(),
        inner: api(),
    };

    let header = HeaderValue::from_str(&format!("Bearer {token}")).expect("header");
    let headers = HeaderMap::from_iter([(AUTHORIZATION, header.clone())]);
    server.block_on(async {
        for (name, status) in [
            ("ours", ours_cold.clone().oneshot(request(&header)).await),
            (
                "jwt-authorizer",
                jwt_authorizer.clone().oneshot(request(&header)).await,
            ),
            (
                "huskarl",
                huskarl_service.clone().oneshot(request(&header)).await,
            ),
        ] {
            let status = status.expect("infallible").status();
            assert_eq!(status, StatusCode::OK, "{name} accepts the token");
        }
        // ERP.net's own shape, which ours accepts and huskarl refuses (no
        // `sub`; with one, the `scope` array fails its claims type).
        let erpnet = identity.access_token_for(DEFAULT_CLIENT_ID, &["read", "update"]);
        let erpnet = HeaderMap::from_iter([(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {erpnet}")).expect("header"),
        )]);
        assert!(cold.check(&erpnet).await.is_some(), "ours: ERP.net's shape");
        assert!(
            huskarl.check(&erpnet).await.is_none(),
            "huskarl: ERP.net's shape"
        );
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
    async_row(
        &mut group,
        &runtime,
        "huskarl_rfc9068_validate_request",
        || async {
            let result = huskarl
                .validator
                .validate_request(black_box(&headers), &Method::GET, &huskarl.uri, None)
                .await;
            result.outcome.expect("huskarl accepts the token")
        },
    );
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
    async_row(&mut group, &runtime, "huskarl_service", || {
        huskarl_service.clone().oneshot(request(&header))
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
        (
            "huskarl_service_unknown_kid",
            tower::util::BoxCloneService::new(huskarl_service.clone()),
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
