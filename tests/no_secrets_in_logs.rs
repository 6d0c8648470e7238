//! Secrets never appear in logs, `Debug` output or errors.
//!
//! Captures every tracing event and span at TRACE level, from every thread,
//! across a full run (discovery, both client authentication methods, the cache,
//! a refresh, a rejected token, failures), then searches the output and the
//! `Debug`/`Display` form of every value the run produced for the client secret
//! and every access token issued.

mod support;

use std::time::Duration;

use erpnet_auth::{
    Authority, CachedTokenSource, ClientAuthMethod, ClientCredentials, Discovery, TokenSource,
};
use erpnet_auth_testkit::{Client, Endpoint, Failure, MockIdentity};
use support::Captured;

const SECRET: &str = "n0t-f0r-l0gs-7f3a9c";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_debug_or_errors() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let identity = MockIdentity::builder()
        .token_lifetime(Duration::from_secs(2))
        .client(Client::new("my.trusted.app/logs", SECRET).scopes(["read", "update"]))
        .start()
        .await;
    let authority = Authority::parse(&identity.issuer()).expect("authority");
    let mut shown: Vec<String> = Vec::new();
    let mut tokens_seen = Vec::new();

    let discovery = Discovery::fetch(&identity.issuer())
        .await
        .expect("discovery");
    shown.push(format!("{discovery:?}"));

    for method in [
        ClientAuthMethod::ClientSecretPost,
        ClientAuthMethod::ClientSecretBasic,
    ] {
        let builder = ClientCredentials::builder(authority.clone(), "my.trusted.app/logs")
            .client_secret(SECRET)
            .auth_method(method)
            .scopes(["read", "update"]);
        shown.push(format!("{builder:?}"));
        let grant = builder.build().expect("config");
        shown.push(format!("{grant:?}"));
        let cache = CachedTokenSource::builder(grant).proactive(true).build();
        let token = cache.token().await.expect("token");
        shown.push(format!("{token:?} {token:#?} {cache:?}"));
        tokens_seen.push(token.expose_secret().to_owned());

        // Let the token come due and be refreshed in the background.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let refreshed = cache.token().await.expect("token");
        tokens_seen.push(refreshed.expose_secret().to_owned());

        // A rejection, then failures while refreshing.
        identity.fail_next(Endpoint::Token, 1, Failure::Status(503));
        cache.report_rejected(&refreshed);
        if let Err(error) = cache.token().await {
            shown.push(format!("{error} {error:?}"));
        }
    }

    let wrong = ClientCredentials::builder(authority.clone(), "my.trusted.app/logs")
        .client_secret(format!("{SECRET}-wrong"))
        .scopes(["read"])
        .build()
        .expect("config");
    let error = wrong.token().await.expect_err("invalid client");
    shown.push(format!("{error} {error:?}"));

    identity.fail_next(Endpoint::Token, 1, Failure::MalformedBody);
    let grant = ClientCredentials::builder(authority, "my.trusted.app/logs")
        .client_secret(SECRET)
        .scopes(["read"])
        .build()
        .expect("config");
    let error = grant.token().await.expect_err("malformed");
    shown.push(format!("{error} {error:?}"));

    let logs = captured.text();
    assert!(logs.contains("token issued"), "the run was logged:\n{logs}");
    assert!(tokens_seen.len() >= 4);
    for secret in std::iter::once(SECRET.to_owned()).chain(tokens_seen) {
        assert!(!logs.contains(&secret), "a secret reached the logs");
        for text in &shown {
            assert!(
                !text.contains(&secret),
                "a secret reached Debug/Display: {text}"
            );
        }
    }
}
