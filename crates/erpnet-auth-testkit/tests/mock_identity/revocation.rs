use std::time::Duration;

use erpnet_auth_testkit::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_POST_LOGOUT_REDIRECT_URI,
    DEFAULT_PUBLIC_CLIENT_ID, Endpoint, MockIdentity, TokenSpec,
};

use crate::http::{self, RawResponse};
use crate::oauth::{assert_oauth_error, is_active, refresh, revoke, sign_in};

fn assert_revoked_ok(response: &RawResponse) {
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(response.body.is_empty());
}

#[tokio::test]
async fn revoking_an_access_token_leaves_the_refresh_token() {
    let idp = MockIdentity::start().await;
    let body = sign_in(&idp).await;
    let access_token = body["access_token"].as_str().expect("access_token");
    let refresh_token = body["refresh_token"].as_str().expect("refresh_token");
    assert_revoked_ok(&revoke(&idp, access_token, Some("access_token")).await);
    assert!(!is_active(&idp, access_token).await);
    let refreshed = refresh(&idp, refresh_token, None).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text());
    let new_token = refreshed.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    assert!(is_active(&idp, &new_token).await);
    // Revoking twice is fine.
    assert_revoked_ok(&revoke(&idp, access_token, None).await);
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_grant() {
    let idp = MockIdentity::start().await;
    let body = sign_in(&idp).await;
    let access_token = body["access_token"].as_str().expect("access_token");
    let refresh_token = body["refresh_token"].as_str().expect("refresh_token");
    // The hint is only a hint: a wrong one still finds the token.
    assert_revoked_ok(&revoke(&idp, refresh_token, Some("access_token")).await);
    assert_oauth_error(&refresh(&idp, refresh_token, None).await, "invalid_grant");
    assert!(!is_active(&idp, access_token).await);
}

#[tokio::test]
async fn confidential_clients_revoke_their_service_tokens() {
    let idp = MockIdentity::start().await;
    let basic = http::basic(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET);
    let revoke_as_default = |token: String| {
        let idp = idp.clone();
        let basic = basic.clone();
        async move {
            http::post_form(
                idp.addr(),
                &idp.revocation_endpoint(),
                &[("token", &token)],
                &[("Authorization", basic.as_str())],
            )
            .await
        }
    };
    let jwt = idp.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let reference = idp.mint_reference_token(DEFAULT_CLIENT_ID, &["read"], Duration::from_secs(60));
    let minted = idp.mint(TokenSpec::access_token());
    for token in [jwt, reference, minted] {
        assert!(is_active(&idp, &token).await);
        assert_revoked_ok(&revoke_as_default(token.clone()).await);
        assert!(!is_active(&idp, &token).await);
    }

    // Another client's tokens stay, with a 200 all the same.
    let theirs = idp.access_token_for(DEFAULT_CLIENT_ID, &["update"]);
    assert_revoked_ok(&revoke(&idp, &theirs, None).await);
    assert!(is_active(&idp, &theirs).await);
    let public_rt = sign_in(&idp).await["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    assert_revoked_ok(&revoke_as_default(public_rt.clone()).await);
    assert_eq!(refresh(&idp, &public_rt, None).await.status, 200);
    // Unknown tokens: 200.
    assert_revoked_ok(&revoke_as_default("unknown".to_owned()).await);
}

#[tokio::test]
async fn revocation_authenticates_the_client_and_checks_the_request() {
    let idp = MockIdentity::start().await;
    let token = idp.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let post = |form: Vec<(&'static str, String)>| {
        let idp = idp.clone();
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            http::post_form(idp.addr(), &idp.revocation_endpoint(), &form, &[]).await
        }
    };
    assert_oauth_error(
        &post(vec![("token", token.clone())]).await,
        "invalid_client",
    );
    let wrong_secret = vec![
        ("token", token.clone()),
        ("client_id", DEFAULT_CLIENT_ID.to_owned()),
        ("client_secret", "wrong".to_owned()),
    ];
    assert_oauth_error(&post(wrong_secret).await, "invalid_client");
    let id_only = vec![
        ("token", token.clone()),
        ("client_id", DEFAULT_CLIENT_ID.to_owned()),
    ];
    assert_oauth_error(&post(id_only).await, "invalid_client");
    let no_token = vec![("client_id", DEFAULT_PUBLIC_CLIENT_ID.to_owned())];
    assert_oauth_error(&post(no_token).await, "invalid_request");
    let bad_hint = vec![
        ("token", token.clone()),
        ("client_id", DEFAULT_PUBLIC_CLIENT_ID.to_owned()),
        ("token_type_hint", "id_token".to_owned()),
    ];
    assert_oauth_error(&post(bad_hint).await, "unsupported_token_type");
    assert!(is_active(&idp, &token).await);
    assert_eq!(idp.requests(Endpoint::Revocation), 5);
}

#[tokio::test]
async fn end_session_redirects_only_to_registered_uris() {
    let idp = MockIdentity::start().await;
    let id_token = sign_in(&idp).await["id_token"]
        .as_str()
        .expect("id_token")
        .to_owned();
    let end_session = |params: Vec<(&'static str, String)>| {
        let idp = idp.clone();
        async move {
            let query = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish();
            let path = format!("{}?{query}", http::path_of(&idp.end_session_endpoint()));
            http::send(idp.addr(), "GET", &path, &[], b"").await
        }
    };
    let target = DEFAULT_POST_LOGOUT_REDIRECT_URI.to_owned();

    let response = end_session(vec![
        ("id_token_hint", id_token.clone()),
        ("post_logout_redirect_uri", target.clone()),
        ("state", "bye 1".to_owned()),
    ])
    .await;
    assert_eq!(response.status, 302, "{}", response.text());
    assert_eq!(
        response.header("location"),
        Some(format!("{target}?state=bye%201").as_str())
    );
    let response = end_session(vec![
        ("client_id", DEFAULT_PUBLIC_CLIENT_ID.to_owned()),
        ("post_logout_redirect_uri", target.clone()),
    ])
    .await;
    assert_eq!(response.header("location"), Some(target.as_str()));

    let refused = [
        vec![
            ("client_id", DEFAULT_PUBLIC_CLIENT_ID.to_owned()),
            (
                "post_logout_redirect_uri",
                "https://evil.example/out".to_owned(),
            ),
        ],
        vec![("post_logout_redirect_uri", target.clone())],
        vec![
            ("id_token_hint", "not.a.token".to_owned()),
            ("post_logout_redirect_uri", target.clone()),
        ],
        vec![
            ("id_token_hint", id_token.clone()),
            ("client_id", DEFAULT_CLIENT_ID.to_owned()),
        ],
        vec![
            (
                "id_token_hint",
                idp.access_token_for(DEFAULT_CLIENT_ID, &["read"]),
            ),
            ("post_logout_redirect_uri", target.clone()),
        ],
    ];
    for params in refused {
        let response = end_session(params).await;
        assert_eq!(response.status, 400, "{}", response.text());
        assert!(response.header("location").is_none());
    }
    let response = end_session(vec![]).await;
    assert_eq!(response.status, 200);
    assert!(response.text().contains("signed out"));
    let post = http::send(
        idp.addr(),
        "POST",
        http::path_of(&idp.end_session_endpoint()),
        &[],
        b"",
    )
    .await;
    assert_eq!(post.status, 405);
    assert_eq!(idp.requests(Endpoint::EndSession), 9);
}
