//! SessionPacing after BearerAuth against the mock ERP.net Domain API on 127.0.0.1: the
//! documented limits kept, 429 and Retry-After, and ERP.net's 401 and 403 passed through.

use std::time::Duration;

use erpnet_auth_core::StaticToken;
use erpnet_auth_core::pacing::{Pacer, PacingError};
use erpnet_auth_oidc::{Authority, CachedTokenSource, ClientConfig, ClientCredentials};
use erpnet_auth_reqwest::{BearerAuth, BearerAuthBuilder, Error, SessionPacing};
use erpnet_auth_testkit::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_ENTITY, Failure, MockDomainApi, MockIdentity,
    TokenSpec,
};
use reqwest_middleware::ClientWithMiddleware;
use serde_json::Value;

fn tokens(identity: &MockIdentity, scopes: &[&str]) -> CachedTokenSource<ClientCredentials> {
    let authority = Authority::parse(&identity.issuer()).expect("loopback issuer");
    let client = ClientConfig::builder(authority, DEFAULT_CLIENT_ID)
        .client_secret(DEFAULT_CLIENT_SECRET)
        .build()
        .expect("valid client");
    let grant = ClientCredentials::builder(client)
        .scopes(scopes.iter().copied())
        .build()
        .expect("valid configuration");
    CachedTokenSource::new(grant)
}

/// BearerAuth for the mock API, then (if given) the pacing.
fn client(
    api: &MockDomainApi,
    auth: BearerAuthBuilder,
    pacer: Option<&Pacer>,
) -> ClientWithMiddleware {
    let auth = auth.allow_origin(api.origin()).build().expect("BearerAuth");
    let builder = auth
        .client_builder(reqwest::Client::builder())
        .expect("an HTTP client");
    match pacer {
        Some(pacer) => builder.with(SessionPacing::new(pacer.clone())).build(),
        None => builder.build(),
    }
}

async fn json(response: reqwest::Response) -> Value {
    serde_json::from_slice(&response.bytes().await.expect("a body")).expect("JSON")
}

/// `calls` concurrent GETs of the default entity set; their statuses, sorted.
async fn concurrent_gets(
    client: &ClientWithMiddleware,
    api: &MockDomainApi,
    calls: usize,
) -> Vec<u16> {
    let tasks: Vec<_> = (0..calls)
        .map(|_| {
            let (client, url) = (client.clone(), api.entity_url(DEFAULT_ENTITY));
            tokio::spawn(async move { client.get(url).send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task").expect("answered"));
    }
    statuses.sort_unstable();
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_concurrent_calls_none_throttled_where_unpaced_ones_are() {
    let identity = MockIdentity::start().await;
    let api = MockDomainApi::builder(&identity)
        .service_time(Duration::from_millis(10))
        .start()
        .await;
    let tokens = tokens(&identity, &["read"]);

    let unpaced = client(&api, BearerAuth::builder(tokens.clone()), None);
    let statuses = concurrent_gets(&unpaced, &api, 32).await;
    let throttled = statuses.iter().filter(|&&s| s == 429).count();
    assert!(throttled >= 20, "unpaced, most are refused: {statuses:?}");
    assert_eq!(throttled, api.stats().refused());

    api.reset_stats();
    let pacer = Pacer::erpnet().build().expect("preset");
    let paced = client(&api, BearerAuth::builder(tokens), Some(&pacer));
    let statuses = concurrent_gets(&paced, &api, 32).await;
    assert_eq!(statuses, [200; 32]);
    let served = api.stats();
    assert_eq!(
        (
            served.served,
            served.refused(),
            served.max_session_in_flight
        ),
        (32, 0, 1)
    );
    let stats = pacer.stats();
    assert_eq!(
        (stats.sent, stats.throttled, stats.in_flight, stats.waiting),
        (32, 0, 0, 0)
    );
    assert!(
        stats.delayed >= 30,
        "they waited their turn here, not on the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_share_the_site_and_keep_its_cap() {
    let identity = MockIdentity::start().await;
    let api = MockDomainApi::builder(&identity)
        .service_time(Duration::from_millis(20))
        .start()
        .await;
    let pacer = Pacer::erpnet().build().expect("preset");
    // Four sessions (four tokens, as four users of a web app), one pacer.
    let clients: Vec<ClientWithMiddleware> = (0..4)
        .map(|_| {
            let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
            client(
                &api,
                BearerAuth::builder(StaticToken::new(token)),
                Some(&pacer),
            )
        })
        .collect();
    let mut tasks = Vec::new();
    for client in &clients {
        for _ in 0..4 {
            let (client, url) = (client.clone(), api.entity_url(DEFAULT_ENTITY));
            tasks.push(tokio::spawn(async move {
                client.get(url).send().await.map(|r| r.status())
            }));
        }
    }
    for task in tasks {
        assert_eq!(task.await.expect("task").expect("answered"), 200);
    }
    let stats = api.stats();
    assert_eq!(stats.sessions, 4);
    assert_eq!((stats.served, stats.refused()), (16, 0));
    assert_eq!(
        (stats.max_site_in_flight, stats.max_session_in_flight),
        (2, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_is_waited_for_and_retried() {
    let identity = MockIdentity::start().await;
    let api = MockDomainApi::start(&identity).await;
    let pacer = Pacer::erpnet().build().expect("preset");
    let client = client(
        &api,
        BearerAuth::builder(tokens(&identity, &["read"])),
        Some(&pacer),
    );
    api.fail_next(
        1,
        Failure::RetryAfter {
            status: 429,
            retry_after: "1".into(),
        },
    );
    let started = std::time::Instant::now();
    let response = client
        .get(api.entity_url(DEFAULT_ENTITY))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited as asked"
    );
    let stats = pacer.stats();
    assert_eq!((stats.throttled, stats.retried, stats.sent), (1, 1, 2));
    assert_eq!(api.stats().injected, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_minute_budget_is_kept_where_the_server_counts_it() {
    let identity = MockIdentity::start().await;
    let api = MockDomainApi::builder(&identity)
        .session_requests_per_minute(20)
        .start()
        .await;
    // The same budget on the client: 20 a minute, bursts of 2, so 18 flow in a minute
    // (one every 3.33 s); the first few go at once, none is refused.
    let pacer = Pacer::erpnet()
        .requests_per_minute(20)
        .burst(2)
        .build()
        .expect("valid");
    let paced = client(
        &api,
        BearerAuth::builder(tokens(&identity, &["read"])),
        Some(&pacer),
    );
    let started = std::time::Instant::now();
    assert_eq!(concurrent_gets(&paced, &api, 3).await, [200, 200, 200]);
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "the third waited for a token"
    );
    assert_eq!(api.stats().refused_session_rate, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erpnet_401_and_403_come_back_with_their_body() {
    let identity = MockIdentity::start().await;
    let api = MockDomainApi::start(&identity).await;
    let pacer = Pacer::erpnet().build().expect("preset");

    let read_only = client(
        &api,
        BearerAuth::builder(tokens(&identity, &["read"])),
        Some(&pacer),
    );
    let response = read_only
        .post(api.entity_url(DEFAULT_ENTITY))
        .header("content-type", "application/json")
        .body(r#"{"PartyCode": "X"}"#)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 403);
    let body: Value = json(response).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("update")),
        "{body}"
    );
    assert_eq!(body["error"]["type"], "Forbidden");

    let expired = identity.mint(TokenSpec::access_token().expires_in(-60));
    let stale = client(
        &api,
        BearerAuth::builder(StaticToken::new(expired)),
        Some(&pacer),
    );
    let response = stale
        .get(api.entity_url(DEFAULT_ENTITY))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    let body = json(response).await;
    assert_eq!(body["error"]["code"], 401);
    assert_eq!(pacer.stats().retried, 0, "neither is a reason to retry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_gets_no_turn_is_not_sent() {
    let identity = MockIdentity::start().await;
    let api = MockDomainApi::builder(&identity)
        .service_time(Duration::from_millis(400))
        .start()
        .await;
    let pacer = Pacer::erpnet()
        .queue_per_session(1)
        .queue_timeout(Duration::from_millis(100))
        .build()
        .expect("valid");
    let client = client(
        &api,
        BearerAuth::builder(tokens(&identity, &["read"])),
        Some(&pacer),
    );
    let url = api.entity_url(DEFAULT_ENTITY);
    let first = tokio::spawn({
        let (client, url) = (client.clone(), url.clone());
        async move { client.get(url).send().await.map(|r| r.status()) }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let error = client.get(&url).send().await.expect_err("no turn");
    let pacing = Error::downcast(&error).expect("this crate's error");
    assert!(pacing.is_transient());
    assert!(
        matches!(pacing, Error::Pacing(PacingError::QueueTimeout { .. })),
        "{pacing:?}"
    );
    assert!(error.to_string().contains("not sent"), "{error}");
    assert_eq!(first.await.expect("task").expect("answered"), 200);
    assert_eq!(
        api.stats().requests,
        1,
        "the refused request never reached the API"
    );
}
