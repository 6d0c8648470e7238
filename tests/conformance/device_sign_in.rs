//! The device authorization grant (RFC 8628) at the peer: the user code and
//! verification URIs it hands out, polling through `authorization_pending`
//! until the (headless) user approves, the ID token validated and the refresh
//! token rotating, the userinfo endpoint read for the ID token's subject; a
//! refusal ends with `AccessDenied`.

use std::time::Duration;

use erpnet_auth::{
    AuthorizationCodeFlow, ClientAuthMethod, ClientConfig, Discovery, SignInError, TokenSource,
};

use crate::peer::{ACCOUNT, NATIVE_APP, Peer, peer_or_skip};

async fn flow(peer: &Peer) -> AuthorizationCodeFlow {
    let discovery = Discovery::fetch(peer.issuer()).await.expect("discovery");
    let client = ClientConfig::builder(discovery, NATIVE_APP)
        .auth_method(ClientAuthMethod::None)
        .build()
        .expect("public client");
    AuthorizationCodeFlow::builder(client)
        .scopes(["openid", "profile", "email", "offline_access"])
        .build()
        .expect("flow")
}

/// What the user does on the peer's verification page: approve or deny.
async fn decide(peer: &Peer, user_code: &str, action: &str) {
    let url = format!(
        "{}/__test/device?user_code={user_code}&action={action}",
        peer.issuer()
    );
    reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("decision request")
        .error_for_status()
        .expect("a pending device code");
}

#[tokio::test]
async fn an_approved_device_signs_in_reads_userinfo_and_refreshes() {
    let peer = peer_or_skip!();
    let flow = flow(&peer).await;
    let authorization = flow
        .start_device_authorization()
        .await
        .expect("device authorization");
    assert_eq!(
        authorization.verification_uri().as_str(),
        format!("{}/device", peer.issuer())
    );
    let user_code = authorization.user_code().to_owned();
    let complete = authorization
        .verification_uri_complete()
        .expect("the peer gives the complete URI");
    assert!(
        complete
            .query_pairs()
            .any(|(name, value)| name == "user_code" && value == user_code),
        "{complete}"
    );
    assert_eq!(
        authorization.interval(),
        Duration::from_secs(5),
        "the default"
    );

    let polling = {
        let flow = flow.clone();
        tokio::spawn(async move {
            let sign_in = flow.complete_device_authorization(&authorization).await;
            (authorization, sign_in)
        })
    };
    // Let the first poll meet `authorization_pending`, then approve.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(!polling.is_finished(), "still pending");
    decide(&peer, &user_code, "approve").await;
    let (_, sign_in) = tokio::time::timeout(Duration::from_secs(30), polling)
        .await
        .expect("signed in in time")
        .expect("joined");
    let sign_in = sign_in.expect("signed in");
    let id_token = sign_in.id_token.as_ref().expect("openid");
    assert_eq!(id_token.subject(), ACCOUNT);

    // Userinfo, for the ID token's subject; the peer sends `email_verified`
    // as a JSON boolean where ERP.net sends a string: both read the same.
    let userinfo = flow
        .userinfo(&sign_in.access_token, id_token)
        .await
        .expect("userinfo at the peer")
        .expect("the peer has a userinfo endpoint");
    assert_eq!(userinfo.subject(), ACCOUNT);
    assert_eq!(
        userinfo.claim("email_verified"),
        Some(&serde_json::json!(true))
    );
    let erpnet = userinfo.erpnet();
    assert_eq!(erpnet.name.as_deref(), Some("Alice Tester"));
    assert_eq!(erpnet.email.as_deref(), Some("alice@example.test"));
    assert_eq!(erpnet.email_verified, Some(true));

    let refresh_token = sign_in.refresh_token.clone().expect("offline_access");
    let refreshed = flow
        .refresh_grant(refresh_token)
        .build()
        .expect("refresh grant")
        .token()
        .await
        .expect("refreshed at the peer");
    assert_ne!(refreshed, sign_in.access_token);
}

#[tokio::test]
async fn a_refused_device_ends_with_access_denied() {
    let peer = peer_or_skip!();
    let flow = flow(&peer).await;
    let authorization = flow
        .start_device_authorization()
        .await
        .expect("device authorization");
    decide(&peer, authorization.user_code(), "deny").await;
    let error = tokio::time::timeout(
        Duration::from_secs(30),
        flow.complete_device_authorization(&authorization),
    )
    .await
    .expect("ends in time")
    .expect_err("refused");
    assert!(matches!(error, SignInError::AccessDenied), "{error}");
}
