//! Secrets (client and resource secrets, codes, verifiers, tokens) never appear in `Debug`
//! output or in the mock's logs.
//!
//! A test binary of its own: the subscriber that captures the logs is the global one, set
//! once, so no other test's threads race with it.

#![allow(unreachable_pub, missing_docs, dead_code)]

#[path = "mock_identity/http.rs"]
mod http;
#[path = "mock_identity/oauth.rs"]
mod oauth;

use erpnet_auth_testkit::{
    ApiResource, CapturedLogs, Client, DEFAULT_CLIENT_SECRET, DEFAULT_RESOURCE_SECRET, Endpoint,
    Failure, MockIdentity, User,
};

use crate::oauth::{code_for_public_client, introspect, redeem, refresh, revoke};

#[test]
fn debug_output_of_the_new_types_hides_secrets() {
    let confidential = Client::new("web.app", "client-secret-1")
        .grant_types(["authorization_code"])
        .redirect_uri("https://web.example/cb");
    let printed = format!("{confidential:?}");
    assert!(!printed.contains("client-secret-1"), "{printed}");
    assert!(printed.contains("https://web.example/cb"));
    let printed = format!("{:?}", Client::public("native.app"));
    assert!(printed.contains("native.app") && printed.contains("public client"));
    let printed = format!("{:?}", ApiResource::new("TableAPI", "resource-secret-1"));
    assert!(!printed.contains("resource-secret-1"), "{printed}");
    assert!(printed.contains("TableAPI"));
    let printed = format!("{:?}", User::new("mary").email("m@example.com"));
    assert!(printed.contains("mary"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_flow_logs_no_secret() {
    let captured = CapturedLogs::install();

    let idp = MockIdentity::start().await;
    let (code, verifier) = code_for_public_client(&idp, &[("nonce", "the-nonce")]).await;
    let response = redeem(&idp, &code, &verifier).await;
    let body = response.json();
    let access_token = body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let refresh_token = body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    let id_token = body["id_token"].as_str().expect("id_token").to_owned();
    let rotated = refresh(&idp, &refresh_token, None).await.json();
    let new_refresh_token = rotated["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_owned();
    // Reuse, replay, introspection, revocation, an injected failure.
    refresh(&idp, &refresh_token, None).await;
    redeem(&idp, &code, &verifier).await;
    introspect(&idp, &access_token).await;
    revoke(&idp, &access_token, None).await;
    idp.fail_next(Endpoint::Token, 1, Failure::Status(503));
    redeem(&idp, &code, &verifier).await;
    let reference = idp.mint_reference_token("svc", &["read"], std::time::Duration::from_secs(9));
    introspect(&idp, &reference).await;
    http::post_form(
        idp.addr(),
        &idp.token_endpoint(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", erpnet_auth_testkit::DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
        ],
        &[],
    )
    .await;
    let record = format!("{:?}", idp.last_token_request());

    let logs = captured.text();
    assert!(logs.contains("mock identity request"), "{logs}");
    assert!(logs.contains("signs a user in"), "{logs}");
    for secret in [
        code.as_str(),
        verifier.as_str(),
        &access_token,
        &refresh_token,
        &new_refresh_token,
        &id_token,
        &reference,
        DEFAULT_CLIENT_SECRET,
        DEFAULT_RESOURCE_SECRET,
        "the-nonce",
    ] {
        assert!(!logs.contains(secret), "a secret in the logs: {logs}");
        assert!(!record.contains(secret), "a secret in {record}");
    }
}
