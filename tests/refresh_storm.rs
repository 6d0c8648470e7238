//! The refresh storm against the mock ERP.net Identity: 10,000 tasks ask for a
//! token at the moment the cached one has expired, and the token endpoint sees
//! one request. (`benches/peers/benches/refresh_storm.rs` measures the same
//! storm's time and the other caches' request counts.)

use std::time::Duration;

use erpnet_auth::{Authority, CachedTokenSource, ClientConfig, ClientCredentials};
use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Endpoint, MockIdentity};
use tokio::sync::watch;

const TASKS: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_tasks_at_expiry_cause_one_token_request() {
    let identity = MockIdentity::start().await;
    // Real time: the mock dates its tokens by the wall clock, and a lifetime of
    // 2 s keeps the test short.
    identity.set_token_lifetime(Duration::from_secs(2));
    let client = ClientConfig::builder(
        Authority::parse(&identity.issuer()).expect("authority"),
        DEFAULT_CLIENT_ID,
    )
    .client_secret(DEFAULT_CLIENT_SECRET)
    .build()
    .expect("client");
    let grant = ClientCredentials::builder(client)
        .scopes(["read"])
        .build()
        .expect("grant");
    let tokens = CachedTokenSource::new(grant);
    let first = tokens.token().await.expect("first token");
    assert_eq!(identity.requests(Endpoint::Token), 1);

    // Every task waits at the gate; nobody asks while the token is due, so it
    // expires unrefreshed.
    let (go, gate) = watch::channel(false);
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let tokens = tokens.clone();
            let mut gate = gate.clone();
            tokio::spawn(async move {
                gate.wait_for(|go| *go).await.expect("gate");
                tokens.token().await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(first.is_expired(), "the storm starts after expiry");
    assert!(tokens.cached_token().is_none(), "nothing usable is cached");

    go.send_replace(true);
    for task in tasks {
        let token = task.await.expect("task").expect("token");
        assert!(!token.is_expired());
        assert_ne!(token.expose_secret(), first.expose_secret());
    }
    assert_eq!(
        identity.requests(Endpoint::Token),
        2,
        "the first token, then one request for the whole storm"
    );
}
