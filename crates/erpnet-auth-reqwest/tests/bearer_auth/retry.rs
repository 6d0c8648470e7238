//! 401s: report the token, retry once with a new one, never loop.

use std::time::Duration;

use erpnet_auth_core::{CachedTokenSource, StaticToken};
use erpnet_auth_reqwest::BearerAuth;
use erpnet_auth_testkit::{DEFAULT_CLIENT_SECRET, Endpoint, MockIdentity};
use reqwest_middleware::ClientWithMiddleware;

use crate::api::Api;
use crate::{client, get, grant, start, tokens};

#[tokio::test]
async fn a_401_reports_the_token_and_retries_once_with_a_new_one() {
    let identity = MockIdentity::start().await;
    let api = Api::start().await;
    let tokens = tokens(&identity);
    let old = tokens.token().await.expect("token");
    api.reject(old.expose_secret()); // as if it had been revoked

    let response = client(BearerAuth::builder(tokens.clone()).allow_origin(&api.origin))
        .get(api.url("/orders"))
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "ok");
    let seen = api.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].token(), Some(old.expose_secret()));
    let new = tokens.cached_token().expect("new token cached");
    assert_ne!(new, old);
    assert_eq!(seen[1].token(), Some(new.expose_secret()));
    assert_eq!(identity.requests(Endpoint::Token), 2);
}

#[tokio::test]
async fn a_second_401_is_returned_after_one_retry() {
    let (identity, api, client) = start().await;

    let response = get(&client, api.url("/always-401")).await;

    assert_eq!(response.status(), 401);
    let seen = api.seen();
    assert_eq!(seen.len(), 2, "one retry, no more");
    assert_ne!(
        seen[0].token(),
        seen[1].token(),
        "the retry had a new token"
    );
    assert_eq!(identity.requests(Endpoint::Token), 2);
}

#[tokio::test]
async fn a_streaming_body_gets_its_401_back_unchanged() {
    let (identity, api, client) = start().await;

    let response = client
        .post(api.url("/always-401"))
        .body(reqwest::Body::wrap(String::from(
            "a body that cannot be replayed",
        )))
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    assert_eq!(api.seen().len(), 1, "not retried");
    assert_eq!(identity.requests(Endpoint::Token), 1);

    // The token was still reported, so the next request fetches a new one.
    get(&client, api.url("/orders")).await;
    assert_eq!(identity.requests(Endpoint::Token), 2);
}

#[tokio::test]
async fn a_401_that_a_new_token_cannot_cure_is_returned_at_once() {
    let (identity, api, client) = start().await;

    let response = get(&client, api.url("/insufficient-scope")).await;

    assert_eq!(response.status(), 401);
    assert_eq!(api.seen().len(), 1);
    get(&client, api.url("/orders")).await;
    assert_eq!(identity.requests(Endpoint::Token), 1, "token kept");
}

#[tokio::test]
async fn a_source_with_no_other_token_is_not_retried() {
    let api = Api::start().await;
    let pat = StaticToken::new(format!("enrt_{}", "0a".repeat(32)));
    let client = client(BearerAuth::builder(pat).allow_origin(&api.origin));
    let response = get(&client, api.url("/always-401")).await;
    assert_eq!(response.status(), 401);
    assert_eq!(api.seen().len(), 1, "the same token again would not help");
}

async fn hundred_gets(client: &ClientWithMiddleware, api: &Api) {
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..100 {
        let (client, url) = (client.clone(), api.url(&format!("/orders/{i}")));
        requests.spawn(async move { client.get(url).send().await.map(|r| r.status()) });
    }
    while let Some(outcome) = requests.join_next().await {
        let status = outcome.expect("task").expect("sent");
        assert_eq!(status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_401s_for_one_token_cause_one_token_request() {
    let identity = MockIdentity::start().await;
    let api = Api::start().await;
    let tokens = tokens(&identity);
    let old = tokens.token().await.expect("token");
    api.reject(old.expose_secret());
    let client = client(BearerAuth::builder(tokens.clone()).allow_origin(&api.origin));

    hundred_gets(&client, &api).await;

    // One token before, one after the rejections, however they interleaved.
    assert_eq!(identity.requests(Endpoint::Token), 2);
    let new = tokens.cached_token().expect("new token");
    let seen = api.seen();
    let with_new = seen
        .iter()
        .filter(|s| s.token() == Some(new.expose_secret()))
        .count();
    assert_eq!(with_new, 100, "every request ended with the new token");
    assert_eq!(
        seen.len() - with_new,
        seen.iter()
            .filter(|s| s.token() == Some(old.expose_secret()))
            .count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_requests_at_expiry_cause_one_token_request() {
    let identity = MockIdentity::builder()
        .token_lifetime(Duration::from_secs(1))
        .start()
        .await;
    let api = Api::start().await;
    let tokens = CachedTokenSource::new(grant(&identity, DEFAULT_CLIENT_SECRET));
    let client = client(BearerAuth::builder(tokens.clone()).allow_origin(&api.origin));
    get(&client, api.url("/first")).await;
    assert_eq!(identity.requests(Endpoint::Token), 1);

    // The next token lives an hour, so it cannot come due during the burst.
    identity.set_token_lifetime(Duration::from_secs(3600));
    // Let the first one expire untouched (reading it when due would start a
    // background refresh).
    tokio::time::sleep(Duration::from_millis(1100)).await;

    hundred_gets(&client, &api).await;

    assert_eq!(identity.requests(Endpoint::Token), 2);
    let seen = api.seen();
    assert_eq!(seen.len(), 101, "no 401s, no retries");
    let fresh = tokens.cached_token().expect("fresh token");
    assert!(
        seen[1..]
            .iter()
            .all(|s| s.token() == Some(fresh.expose_secret()))
    );
}
