//! BearerAuth's tracing events say what happened and never hold a secret.
//!
//! A test binary of its own: the subscriber is global, so that events from
//! every thread are captured (a thread-local one misses events from callsites
//! whose interest other tests' threads cached while it was not set).

// Shared with the bearer_auth tests, of which this one needs a part.
#[allow(dead_code)]
#[path = "bearer_auth/api.rs"]
mod api;

use erpnet_auth_oidc::{Authority, CachedTokenSource, ClientConfig, ClientCredentials};
use erpnet_auth_reqwest::{BearerAuth, Error};
use erpnet_auth_testkit::{
    CapturedLogs, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Endpoint, Failure, MockIdentity,
};

use crate::api::Api;

/// A token attached, rejected, refreshed, then a refresh that fails: the
/// events say what happened, and neither they nor the error hold a secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_tell_what_happened_and_nothing_holds_a_secret() {
    let captured = CapturedLogs::install();

    let identity = MockIdentity::start().await;
    let api = Api::start().await;
    let client = ClientConfig::builder(
        Authority::parse(&identity.issuer()).expect("authority"),
        DEFAULT_CLIENT_ID,
    )
    .client_secret(DEFAULT_CLIENT_SECRET)
    .build()
    .expect("configuration");
    let grant = ClientCredentials::builder(client)
        .scopes(["read", "update"])
        .build()
        .expect("configuration");
    let tokens = CachedTokenSource::new(grant);
    let client = BearerAuth::builder(tokens.clone())
        .allow_origin(&api.origin)
        .build()
        .expect("valid BearerAuth")
        .client_builder(reqwest::Client::builder())
        .expect("an HTTP client")
        .build();

    let first = tokens.token().await.expect("token");
    api.reject(first.expose_secret());
    let response = client
        .get(api.url("/orders"))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    let second = tokens.cached_token().expect("refreshed");

    api.reject(second.expose_secret());
    identity.fail_next(Endpoint::Token, 5, Failure::Status(500));
    let failed = client.get(api.url("/orders")).send().await;
    let error = failed.expect_err("no new token");
    let auth = Error::downcast(&error).expect("BearerAuth error");
    assert!(auth.is_transient());

    let logs = captured.text();
    assert!(logs.contains("token_attached=true"), "{logs}");
    assert!(logs.contains("refreshed_after_401=true"), "{logs}");
    let shown = format!("{logs} {error} {error:?} {auth:#?} {:?}", client);
    for secret in [
        DEFAULT_CLIENT_SECRET,
        first.expose_secret(),
        second.expose_secret(),
    ] {
        assert!(!shown.contains(secret), "a secret leaked");
    }
}
