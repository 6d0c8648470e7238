//! Secrets never appear in logs, `Debug` output or errors.
//!
//! Captures every tracing event and span at TRACE level, from every thread,
//! across a full run (discovery, both client authentication methods, the cache,
//! a refresh, a rejected token, failures, introspection, revocation), then
//! searches the output and the
//! `Debug`/`Display` form of every value the run produced for the client secret
//! and every access token issued.

mod support;

use std::time::Duration;

use erpnet_auth::{
    Authority, CachedTokenSource, ClientAuthMethod, ClientConfig, ClientCredentials, Discovery,
    TokenSource,
};
use erpnet_auth::{
    AuthorizationCodeFlow, Endpoints, Introspector, LoopbackRedirect, PendingAuthorization,
    TokenTypeHint, Url,
};
use erpnet_auth_testkit::{
    Client, DEFAULT_PUBLIC_CLIENT_ID, DEFAULT_RESOURCE_ID, DEFAULT_RESOURCE_SECRET, Endpoint,
    Failure, MockIdentity,
};
use secrecy::ExposeSecret;
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
        .client(Client::default_public_client())
        .start()
        .await;
    let authority = Authority::parse(&identity.issuer()).expect("authority");
    let mut shown: Vec<String> = Vec::new();
    let mut tokens_seen = Vec::new();

    let discovery = Discovery::fetch(&identity.issuer())
        .await
        .expect("discovery");
    shown.push(format!("{discovery:?}"));
    let client = |secret: String, method: ClientAuthMethod, shown: &mut Vec<String>| {
        let builder = ClientConfig::builder(authority.clone(), "my.trusted.app/logs")
            .client_secret(secret)
            .auth_method(method);
        shown.push(format!("{builder:?}"));
        let client = builder.build().expect("config");
        shown.push(format!("{client:?}"));
        client
    };

    for method in [
        ClientAuthMethod::ClientSecretPost,
        ClientAuthMethod::ClientSecretBasic,
    ] {
        let builder = ClientCredentials::builder(client(SECRET.to_owned(), method, &mut shown))
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

    let wrong_client = client(
        format!("{SECRET}-wrong"),
        ClientAuthMethod::ClientSecretPost,
        &mut shown,
    );
    let wrong = ClientCredentials::builder(wrong_client)
        .scopes(["read"])
        .build()
        .expect("config");
    let error = wrong.token().await.expect_err("invalid client");
    shown.push(format!("{error} {error:?}"));

    identity.fail_next(Endpoint::Token, 1, Failure::MalformedBody);
    let grant = ClientCredentials::builder(client(
        SECRET.to_owned(),
        ClientAuthMethod::ClientSecretBasic,
        &mut shown,
    ))
    .scopes(["read"])
    .build()
    .expect("config");
    let error = grant.token().await.expect_err("malformed");
    shown.push(format!("{error} {error:?}"));

    // The interactive half: a sign-in (code, PKCE verifier, ID token, refresh
    // token), a rotation, introspection and revocation.
    let public = ClientConfig::builder(discovery, DEFAULT_PUBLIC_CLIENT_ID)
        .auth_method(ClientAuthMethod::None)
        .build()
        .expect("public client");
    let flow = AuthorizationCodeFlow::builder(public)
        .scopes(["openid", "profile", "offline_access", "read"])
        .build()
        .expect("flow");
    let listener = LoopbackRedirect::bind().await.expect("bind");
    let pending = flow
        .authorization_request(listener.redirect_uri())
        .build()
        .expect("request");
    shown.push(format!("{pending:?} {flow:?}"));
    let url = pending.url().clone();
    tokio::spawn(async move { reqwest::get(url).await });
    let callback = listener
        .wait(Duration::from_secs(30))
        .await
        .expect("callback");
    let code = callback
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, value)| value.into_owned())
        .expect("code");
    let parts = pending.into_parts();
    let verifier = parts.code_verifier.expose_secret().to_owned();
    shown.push(format!("{parts:?}"));
    let signed_in = flow
        .complete(PendingAuthorization::from_parts(parts), &callback)
        .await
        .expect("signed in");
    shown.push(format!("{signed_in:?} {signed_in:#?}"));
    let refresh_token = signed_in.refresh_token.clone().expect("refresh token");
    let id_token = signed_in.id_token.clone().expect("ID token");
    let grant = flow
        .refresh_grant(refresh_token.clone())
        .build()
        .expect("grant");
    shown.push(format!("{grant:?}"));
    let refreshed = grant.token().await.expect("refreshed");
    let rotated = grant.refresh_token().await;
    let replay = flow
        .refresh_grant(refresh_token.clone())
        .build()
        .expect("grant");
    let error = replay.token().await.expect_err("rotated token replayed");
    shown.push(format!("{error} {error:?}"));
    let api = ClientConfig::builder(
        Endpoints::new().introspection(
            identity
                .introspection_endpoint()
                .parse::<Url>()
                .expect("url"),
        ),
        DEFAULT_RESOURCE_ID,
    )
    .client_secret(DEFAULT_RESOURCE_SECRET)
    .build()
    .expect("resource server");
    let introspector = Introspector::builder(api).build().expect("introspector");
    let _ = introspector
        .introspect(signed_in.access_token.expose_secret())
        .await;
    shown.push(format!("{introspector:?}"));
    let revocation = flow.revocation().expect("revocation");
    revocation
        .revoke(&rotated, TokenTypeHint::RefreshToken)
        .await
        .expect("revoked");
    shown.push(format!("{revocation:?}"));
    for secret in [
        code,
        verifier,
        refresh_token.expose_secret().to_owned(),
        rotated.expose_secret().to_owned(),
        id_token.expose_secret().to_owned(),
        signed_in.access_token.expose_secret().to_owned(),
        refreshed.expose_secret().to_owned(),
        DEFAULT_RESOURCE_SECRET.to_owned(),
    ] {
        tokens_seen.push(secret);
    }

    let logs = captured.text();
    assert!(logs.contains("token issued"), "the run was logged:\n{logs}");
    assert!(tokens_seen.len() >= 12);
    assert!(logs.contains("signed in"), "the sign-in was logged");
    assert!(logs.contains("token revoked"), "the revocation was logged");
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
