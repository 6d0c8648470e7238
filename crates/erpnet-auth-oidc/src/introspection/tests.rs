//! Introspection against the mock identity, on tokio's paused clock (the mock's
//! injected delays are tokio timers), with the provider's requests counted.

use erpnet_auth_testkit::{
    DEFAULT_CLIENT_ID, DEFAULT_RESOURCE_ID, DEFAULT_RESOURCE_SECRET, Endpoint, Failure,
    MockIdentity,
};
use serde_json::Value;
use url::Url;

use super::*;
use crate::client::config::Endpoints;

/// How long the mock takes to answer; the callers give up after a second.
const SLOW: Duration = Duration::from_secs(10);
const PATIENCE: Duration = Duration::from_secs(1);

fn introspector(identity: &MockIdentity) -> Introspector {
    let url = Url::parse(&identity.introspection_endpoint()).expect("url");
    let api = ClientConfig::builder(Endpoints::new().introspection(url), DEFAULT_RESOURCE_ID)
        .client_secret(DEFAULT_RESOURCE_SECRET)
        .build()
        .expect("resource server");
    Introspector::builder(api).build().expect("introspector")
}

fn reference_token(identity: &MockIdentity) -> String {
    identity.mint_reference_token(DEFAULT_CLIENT_ID, &["read"], Duration::from_secs(600))
}

#[tokio::test(start_paused = true)]
async fn a_request_whose_caller_is_dropped_answers_the_next_caller() {
    let identity = MockIdentity::start().await;
    let introspector = introspector(&identity);
    let token = reference_token(&identity);
    identity.fail_next(Endpoint::Introspection, 1, Failure::Delay(SLOW));

    // The first caller is dropped half-way, as when a client hangs up.
    let dropped = tokio::time::timeout(PATIENCE, introspector.introspect(&token));
    assert!(dropped.await.is_err());
    assert_eq!(identity.requests(Endpoint::Introspection), 1);
    assert!(
        introspector.inner.in_flight.contains_key(&sha256(&token)),
        "the request goes on without its caller"
    );

    // The next caller with that token joins the request and gets its answer.
    let active = introspector
        .introspect(&token)
        .await
        .expect("answered")
        .expect("active");
    assert!(active.has_scope("read"));
    assert_eq!(identity.requests(Endpoint::Introspection), 1);
    assert!(
        introspector.inner.in_flight.is_empty(),
        "nothing left behind"
    );

    // And the answer was cached.
    assert!(
        introspector
            .introspect(&token)
            .await
            .expect("cached")
            .is_some()
    );
    assert_eq!(identity.requests(Endpoint::Introspection), 1);
}

#[tokio::test(start_paused = true)]
async fn callers_dropped_with_unique_tokens_leave_nothing_behind() {
    const TOKENS: usize = 50;
    let identity = MockIdentity::start().await;
    let introspector = introspector(&identity);
    let tokens: Vec<String> = (0..TOKENS).map(|_| reference_token(&identity)).collect();
    identity.fail_next(Endpoint::Introspection, TOKENS, Failure::Delay(SLOW));

    let mut callers = tokio::task::JoinSet::new();
    for token in tokens.clone() {
        let introspector = introspector.clone();
        callers.spawn(async move { introspector.introspect(&token).await });
    }
    tokio::time::sleep(PATIENCE).await;
    assert_eq!(identity.requests(Endpoint::Introspection), TOKENS);
    assert_eq!(introspector.inner.in_flight.len(), TOKENS);
    // Every connection is reset: all callers are dropped mid-flight.
    drop(callers);

    tokio::time::sleep(SLOW).await;
    assert!(
        introspector.inner.in_flight.is_empty(),
        "each request took its own entry away"
    );
    // Each request cached its answer although nobody waited for it.
    for token in &tokens {
        let active = introspector.introspect(token).await.expect("cached");
        assert!(active.is_some());
    }
    assert_eq!(identity.requests(Endpoint::Introspection), TOKENS);
}

/// An introspector for the mock through discovery: the issuer to expect comes
/// from the discovery document.
fn discovered_introspector(identity: &MockIdentity) -> IntrospectorBuilder {
    let authority = crate::Authority::parse(&identity.issuer()).expect("loopback issuer");
    let api = ClientConfig::builder(authority, DEFAULT_RESOURCE_ID)
        .client_secret(DEFAULT_RESOURCE_SECRET)
        .build()
        .expect("resource server");
    Introspector::builder(api)
}

/// The mock's next introspection answer is `claims` (JSON), with `active`
/// and a valid `exp` added unless given.
fn answer_next(identity: &MockIdentity, mut claims: Value) {
    let object = claims.as_object_mut().expect("an object");
    object.entry("active").or_insert(Value::Bool(true));
    object
        .entry("exp")
        .or_insert_with(|| Value::from(unix_now() + 600));
    identity.fail_next(
        Endpoint::Introspection,
        1,
        Failure::Body {
            status: 200,
            content_type: "application/json".into(),
            body: claims.to_string(),
        },
    );
}

fn answer(body: Value) -> Outcome {
    let response = HttpResponse {
        status: http::StatusCode::OK,
        headers: http::HeaderMap::from_iter([(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        )]),
        body: body.to_string().into_bytes(),
    };
    read_answer(
        "https://id.example.com/connect/introspect",
        &response,
        30,
        1_000,
    )
}

/// Defect: a malformed `aud` became an empty list, which skipped the
/// audience check; `iss`, `client_id`, `token_type`, `nbf` of the wrong type
/// were read as absent.
#[test]
fn a_claim_of_the_wrong_type_is_a_malformed_answer_not_an_absent_claim() {
    let base = serde_json::json!({"active": true, "exp": 2_000, "token_type": "Bearer"});
    for (name, value) in [
        ("aud", serde_json::json!({"DomainAPI": true})),
        ("aud", serde_json::json!(["DomainAPI", 7])),
        ("aud", serde_json::json!(42)),
        ("iss", serde_json::json!(["https://id.example.com"])),
        ("client_id", serde_json::json!(1)),
        ("sub", serde_json::json!({})),
        ("token_type", serde_json::json!(true)),
        ("nbf", serde_json::json!("yesterday")),
        ("iat", serde_json::json!([])),
    ] {
        let mut body = base.clone();
        body[name] = value.clone();
        let error = answer(body).expect_err(name);
        assert!(
            matches!(&error, Error::InvalidResponse { reason, .. } if reason.contains(name)),
            "{name} = {value}: {error}"
        );
    }
    // `null` is absent, and well-typed values are read.
    let mut body = base;
    body["aud"] = Value::Null;
    body["nbf"] = Value::from(900);
    let active = answer(body).expect("well formed").expect("active");
    assert!(active.audiences().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_token_of_another_issuer_is_not_accepted() {
    let identity = MockIdentity::start().await;
    let introspector = discovered_introspector(&identity)
        .build()
        .expect("introspector");
    answer_next(
        &identity,
        serde_json::json!({"iss": "https://other.example.com", "token_type": "Bearer"}),
    );
    let token = reference_token(&identity);
    assert!(
        introspector
            .introspect(&token)
            .await
            .expect("answered")
            .is_none()
    );

    // The mock's own answer names its issuer, the one discovery gave.
    let other = reference_token(&identity);
    let active = introspector.introspect(&other).await.expect("answered");
    assert_eq!(active.expect("active").issuer(), identity.issuer());

    // With explicit endpoints the issuer is set by hand.
    let pinned = Introspector::builder(introspector.inner.client.clone())
        .issuer("https://pinned.example.com")
        .build()
        .expect("introspector");
    assert!(pinned.introspect(&other).await.expect("answered").is_none());
}

#[tokio::test(start_paused = true)]
async fn a_refresh_token_never_passes_as_an_access_token() {
    let identity = MockIdentity::start().await;
    let strict = introspector(&identity);
    let lenient = Introspector::builder(strict.inner.client.clone())
        .require_token_type(false)
        .build()
        .expect("introspector");
    // oidc-provider's answer for a refresh token: no `token_type`.
    for (claims, strict_accepts, lenient_accepts) in [
        (serde_json::json!({}), false, true),
        (
            serde_json::json!({"token_type": "refresh_token"}),
            false,
            false,
        ),
        (serde_json::json!({"token_type": "DPoP"}), false, false),
        (
            serde_json::json!({"token_type": "Bearer", "cnf": {"jkt": "x"}}),
            false,
            false,
        ),
        (serde_json::json!({"token_type": "bearer"}), true, true),
    ] {
        for (introspector, accepts) in [(&strict, strict_accepts), (&lenient, lenient_accepts)] {
            answer_next(&identity, claims.clone());
            let token = reference_token(&identity);
            let active = introspector.introspect(&token).await.expect("answered");
            assert_eq!(active.is_some(), accepts, "{claims}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_audience_is_checked_and_can_be_required() {
    let identity = MockIdentity::start().await;
    let client = introspector(&identity).inner.client.clone();
    let checking = Introspector::builder(client.clone())
        .audience("DomainAPI")
        .build()
        .expect("introspector");
    let requiring = Introspector::builder(client)
        .audience("DomainAPI")
        .require_audience(true)
        .build()
        .expect("introspector");
    for (aud, checking_accepts, requiring_accepts) in [
        (Value::Null, true, false),
        (serde_json::json!([]), true, false),
        (serde_json::json!("OLAP"), false, false),
        (serde_json::json!(["OLAP", "DomainAPI"]), true, true),
    ] {
        for (introspector, accepts) in [
            (&checking, checking_accepts),
            (&requiring, requiring_accepts),
        ] {
            answer_next(
                &identity,
                serde_json::json!({"token_type": "Bearer", "aud": aud}),
            );
            let token = reference_token(&identity);
            let active = introspector.introspect(&token).await.expect("answered");
            assert_eq!(active.is_some(), accepts, "aud {aud}");
        }
    }
}

/// Defect: any string went to the provider, however long or whatever its
/// characters.
#[tokio::test(start_paused = true)]
async fn what_is_not_a_token_is_never_sent() {
    let identity = MockIdentity::start().await;
    let introspector = introspector(&identity);
    let too_long = "a".repeat(MAX_INTROSPECTED_TOKEN_LENGTH + 1);
    for not_a_token in [
        "",
        "enrt_ab cd",
        "enrt\u{e9}",
        "a\"b",
        "==",
        "a=b",
        too_long.as_str(),
    ] {
        let answer = introspector
            .introspect(not_a_token)
            .await
            .expect("no error");
        assert!(answer.is_none(), "{not_a_token:?}");
    }
    assert_eq!(identity.requests(Endpoint::Introspection), 0);
    let longest = "a".repeat(MAX_INTROSPECTED_TOKEN_LENGTH);
    assert!(
        introspector
            .introspect(&longest)
            .await
            .expect("asked")
            .is_none()
    );
    assert_eq!(identity.requests(Endpoint::Introspection), 1);
}

/// Defect: an error was not remembered, so every request with the token asked
/// again, and a failing provider was asked by every request.
#[tokio::test(start_paused = true)]
async fn failures_are_remembered_and_the_endpoint_backs_off() {
    let identity = MockIdentity::start().await;
    let introspector = introspector(&identity);
    let (first, second) = (reference_token(&identity), reference_token(&identity));
    identity.fail_next(Endpoint::Introspection, 1, Failure::Status(503));

    assert!(introspector.introspect(&first).await.is_err());
    assert!(introspector.introspect(&first).await.is_err(), "remembered");
    let error = introspector
        .introspect(&second)
        .await
        .expect_err("backing off");
    assert!(error.is_transient(), "{error}");
    assert_eq!(identity.requests(Endpoint::Introspection), 1);

    // After the back-off (1 s for a first failure) the endpoint is asked again;
    // the first token's error stays remembered for a few seconds more.
    tokio::time::advance(crate::backoff::BACKOFF_INITIAL).await;
    assert!(
        introspector
            .introspect(&second)
            .await
            .expect("answered")
            .is_some()
    );
    assert_eq!(identity.requests(Endpoint::Introspection), 2);
}

#[tokio::test(start_paused = true)]
async fn a_malformed_answer_about_one_token_does_not_hold_up_the_others() {
    let identity = MockIdentity::start().await;
    let introspector = introspector(&identity);
    answer_next(
        &identity,
        serde_json::json!({"token_type": "Bearer", "aud": 1}),
    );
    let (first, second) = (reference_token(&identity), reference_token(&identity));
    let error = introspector
        .introspect(&first)
        .await
        .expect_err("malformed");
    assert!(matches!(error, Error::InvalidResponse { .. }), "{error}");
    assert!(
        introspector
            .introspect(&second)
            .await
            .expect("answered")
            .is_some()
    );
    assert_eq!(identity.requests(Endpoint::Introspection), 2);
}
