//! SessionPacing's tracing events say what was throttled, retried and refused, with the
//! waits, and never hold the credential; neither do its Debug output and errors.
//!
//! A test binary of its own: the subscriber that captures the logs is the global one.

use std::time::Duration;

use erpnet_auth_core::StaticToken;
use erpnet_auth_core::pacing::Pacer;
use erpnet_auth_reqwest::{BearerAuth, Error, SessionPacing, TokenHeader};
use erpnet_auth_testkit::{
    CapturedLogs, DEFAULT_CLIENT_ID, DEFAULT_ENTITY, Failure, MockDomainApi, MockIdentity,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_retried_and_refused_requests_are_logged_without_the_credential() {
    let captured = CapturedLogs::install();

    let identity = MockIdentity::start().await;
    let api = MockDomainApi::builder(&identity)
        .service_time(Duration::from_millis(600))
        .start()
        .await;
    let bearer = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let api_key =
        identity.mint_reference_token(DEFAULT_CLIENT_ID, &["read"], Duration::from_secs(600));
    let pacer = Pacer::erpnet().queue_per_session(1).build().expect("valid");
    let pacing = SessionPacing::new(pacer.clone());
    let client = |token: &str, header| {
        BearerAuth::builder(StaticToken::new(token))
            .allow_origin(api.origin())
            .token_header(header)
            .build()
            .expect("BearerAuth")
            .client_builder(reqwest::Client::builder())
            .expect("an HTTP client")
            .with(pacing.clone())
            .build()
    };
    let by_bearer = client(&bearer, TokenHeader::Authorization);
    let by_key = client(&api_key, TokenHeader::XApiKey);
    let url = api.entity_url(DEFAULT_ENTITY);

    // Throttled twice (seconds, then an HTTP-date in the past), retried, answered.
    api.fail_next(
        1,
        Failure::RetryAfter {
            status: 429,
            retry_after: "1".into(),
        },
    );
    api.fail_next(
        1,
        Failure::RetryAfter {
            status: 503,
            retry_after: "Sun, 06 Nov 1994 08:49:37 GMT".into(),
        },
    );
    let response = by_bearer.get(&url).send().await.expect("answered");
    assert_eq!(response.status(), 200);
    // One in flight, one waiting for its turn (it gets it), one more: refused, the
    // session's queue holds one.
    let get = || {
        let (client, url) = (by_key.clone(), url.clone());
        tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) })
    };
    let running = get();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let waiting = get();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = by_key
        .get(&url)
        .send()
        .await
        .expect_err("the queue is full");
    assert_eq!(running.await.expect("task").expect("answered"), 200);
    assert_eq!(waiting.await.expect("task").expect("answered"), 200);

    let logs = captured.text();
    for expected in [
        "pacing: throttled; retrying after the wait",
        "status=429",
        "status=503",
        "wait=1s",
        "retry_after=true",
        "pacing: the request waited for its turn",
        "pacing: the session's queue is full; request not sent",
    ] {
        assert!(
            logs.contains(expected),
            "`{expected}` missing from:\n{logs}"
        );
    }
    let error = Error::downcast(&refused).expect("this crate's error");
    let printed = [
        logs,
        format!("{refused} {refused:?} {error:?}"),
        format!("{pacing:?} {pacer:?} {:?}", pacer.stats()),
    ]
    .join("\n");
    for secret in [&bearer, &api_key] {
        assert!(!printed.contains(secret.as_str()), "a credential leaked");
        // Nor a recognisable part of it (the JWT's signature, the reference token's hex).
        let tail = &secret[secret.len() - 24..];
        assert!(!printed.contains(tail), "part of a credential leaked");
    }
}
