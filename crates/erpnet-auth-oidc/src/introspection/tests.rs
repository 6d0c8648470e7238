//! Introspection against the mock identity, on tokio's paused clock (the mock's
//! injected delays are tokio timers), with the provider's requests counted.

use erpnet_auth_testkit::{
    DEFAULT_CLIENT_ID, DEFAULT_RESOURCE_ID, DEFAULT_RESOURCE_SECRET, Endpoint, Failure,
    MockIdentity,
};
use url::Url;

use super::*;

/// How long the mock takes to answer; the callers give up after a second.
const SLOW: Duration = Duration::from_secs(10);
const PATIENCE: Duration = Duration::from_secs(1);

fn introspector(identity: &MockIdentity) -> Introspector {
    let url = Url::parse(&identity.introspection_endpoint()).expect("url");
    Introspector::builder(url, DEFAULT_RESOURCE_ID)
        .client_secret(DEFAULT_RESOURCE_SECRET)
        .build()
        .expect("introspector")
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
