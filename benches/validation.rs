//! Validating an RS256 access token, cold and seen before, against a bare
//! signature verification and against `jsonwebtoken`.
//!
//! Rows (one validation per iteration, the same ERP.net-shaped token from the
//! mock identity):
//! - `bare_rsa_verify`: aws-lc-rs `ParsedPublicKey::verify_sig` on the
//!   token's signing input, key parsed and signature decoded beforehand: the
//!   limit for any validation that checks the signature.
//! - `validate_cold`: `JwtValidator::validate_now` with the verified-token
//!   cache off: every check (size, header, key, signature, claims).
//! - `jsonwebtoken_decode`: `jsonwebtoken::decode` (aws-lc-rs backend) with
//!   the `DecodingKey` built once, checking `iss`, `aud` and `exp`.
//! - `validate_seen`: `JwtValidator::validate_now` on a token already in the
//!   verified-token cache.
//! - `validate_cold_100_issuers`, `validate_seen_100_issuers`: the same two
//!   through a validator of 100 issuers (100 mock identities, every one set
//!   up), with a token of one of them: the cost of picking the issuer.
//!
//! Run: `cargo bench --bench validation` (see BENCHMARKS.md).

use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use erpnet_auth::{Authority, HttpClient, Issuers, JwtValidator};
use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, MockIdentity};
use serde_json::Value;

const ISSUERS: usize = 100;

fn authority(identity: &MockIdentity) -> Authority {
    Authority::parse(&identity.issuer()).expect("authority")
}

fn validator(identity: &MockIdentity, cache: usize) -> JwtValidator {
    JwtValidator::builder(authority(identity))
        .audience("DomainAPI")
        .verified_cache_capacity(cache)
        .build()
        .expect("validator")
}

/// A validator of every identity's tokens, each issuer set up.
async fn validator_of_many(identities: &[MockIdentity], cache: usize) -> JwtValidator {
    let issuers = Issuers::list(identities.iter().map(authority)).max_held(identities.len());
    let validator = JwtValidator::builder_for_issuers(issuers)
        .audience("DomainAPI")
        .verified_cache_capacity(cache)
        .build()
        .expect("validator");
    for identity in identities {
        let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read", "update"]);
        validator.validate(&token).await.expect("valid");
    }
    assert_eq!(validator.held_issuers().len(), identities.len());
    validator
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let _entered = runtime.enter();
    let (identity, jwks) = runtime.block_on(async {
        let identity = MockIdentity::start().await;
        let body = HttpClient::new()
            .expect("http client")
            .reqwest_client()
            .get(identity.jwks_uri())
            .send()
            .await
            .expect("jwks")
            .text()
            .await
            .expect("jwks body");
        let jwks: Value = serde_json::from_str(&body).expect("jwks");
        (identity, jwks)
    });
    let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read", "update"]);
    let kid = identity.signing_kid();
    let key = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("signing key");
    let (n64, e64) = (key["n"].as_str().expect("n"), key["e"].as_str().expect("e"));

    // The limit: the signature check alone.
    let n = URL_SAFE_NO_PAD.decode(n64).expect("n");
    let e = URL_SAFE_NO_PAD.decode(e64).expect("e");
    let parsed = RsaPublicKeyComponents { n: &n, e: &e }
        .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
        .expect("public key");
    let (signing_input, signature) = token.rsplit_once('.').expect("jws");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("signature");

    let cold = validator(&identity, 0);
    let seen = validator(&identity, 10_000);
    let (many, many_cold, many_seen) = runtime.block_on(async {
        cold.validate(&token).await.expect("valid");
        seen.validate(&token).await.expect("valid");
        let mut many = Vec::with_capacity(ISSUERS);
        for _ in 0..ISSUERS {
            many.push(MockIdentity::start().await);
        }
        let many_cold = validator_of_many(&many, 0).await;
        let many_seen = validator_of_many(&many, 10_000).await;
        (many, many_cold, many_seen)
    });
    // A token of an issuer in the middle of the set, shaped as `token`.
    let token_of_many = many[ISSUERS / 2].access_token_for(DEFAULT_CLIENT_ID, &["read", "update"]);
    many_seen.validate_now(&token_of_many).expect("valid");

    let decoding_key = jsonwebtoken::DecodingKey::from_rsa_components(n64, e64).expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["DomainAPI"]);
    validation.set_issuer(&[identity.issuer()]);
    jsonwebtoken::decode::<Value>(&token, &decoding_key, &validation).expect("jsonwebtoken");

    let mut group = c.benchmark_group("validation");
    group.bench_function("bare_rsa_verify", |b| {
        b.iter(|| {
            parsed
                .verify_sig(black_box(signing_input.as_bytes()), black_box(&signature))
                .expect("verifies")
        })
    });
    group.bench_function("validate_cold", |b| {
        b.iter(|| black_box(cold.validate_now(black_box(&token)).expect("valid")))
    });
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| {
            black_box(
                jsonwebtoken::decode::<Value>(black_box(&token), &decoding_key, &validation)
                    .expect("valid"),
            )
        })
    });
    group.bench_function("validate_seen", |b| {
        b.iter(|| black_box(seen.validate_now(black_box(&token)).expect("valid")))
    });
    group.bench_function("validate_cold_100_issuers", |b| {
        b.iter(|| {
            black_box(
                many_cold
                    .validate_now(black_box(&token_of_many))
                    .expect("valid"),
            )
        })
    });
    group.bench_function("validate_seen_100_issuers", |b| {
        b.iter(|| {
            black_box(
                many_seen
                    .validate_now(black_box(&token_of_many))
                    .expect("valid"),
            )
        })
    });
    group.finish();
    drop((identity, many));
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
