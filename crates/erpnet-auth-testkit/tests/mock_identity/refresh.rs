use std::time::Duration;

use erpnet_auth_testkit::{
    Client, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PUBLIC_CLIENT_ID,
    DEFAULT_REDIRECT_URI, Endpoint, Failure, MockIdentity,
};
use serde_json::json;

use crate::http::{self, RawResponse};
use crate::oauth::{assert_oauth_error, is_active, refresh, sign_in};
use crate::parts;

fn tokens(response: &RawResponse) -> (String, String) {
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    (
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
        body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_owned(),
    )
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_whole_grant() {
    let idp = MockIdentity::start().await;
    let body = sign_in(&idp).await;
    let at0 = body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let rt0 = body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    // Another sign-in of the same user: a grant of its own.
    let other = sign_in(&idp).await;
    let other_rt = other["refresh_token"].as_str().expect("refresh_token");

    let first = refresh(&idp, &rt0, None).await;
    let (at1, rt1) = tokens(&first);
    let body = first.json();
    assert_eq!(body["scope"], "openid profile offline_access read");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["token_type"], "Bearer");
    let (_, id_claims, _) = parts(body["id_token"].as_str().expect("a new ID token"));
    assert!(id_claims.get("nonce").is_none());
    assert_eq!(id_claims["sid"], parts(&at0).1["sid"], "the same session");
    assert_ne!(rt1, rt0);
    assert_eq!(rt1.len(), 64);
    let (at2, rt2) = tokens(&refresh(&idp, &rt1, None).await);
    assert_ne!(rt2, rt1);
    for token in [&at0, &at1, &at2] {
        assert!(is_active(&idp, token).await);
    }

    // Reuse of a rotated token: refused, and everything of the grant dies with it.
    assert_oauth_error(&refresh(&idp, &rt0, None).await, "invalid_grant");
    assert_oauth_error(&refresh(&idp, &rt2, None).await, "invalid_grant");
    assert_oauth_error(&refresh(&idp, &rt1, None).await, "invalid_grant");
    for token in [&at0, &at1, &at2] {
        assert!(!is_active(&idp, token).await);
    }
    // The other grant is untouched.
    assert_eq!(refresh(&idp, other_rt, None).await.status, 200);

    assert_eq!(idp.requests_for_grant("refresh_token"), 6);
    assert_eq!(idp.requests_for_grant("authorization_code"), 2);
    assert_eq!(idp.requests(Endpoint::Token), 8);
}

#[tokio::test]
async fn scope_may_narrow_but_not_widen() {
    let idp = MockIdentity::start().await;
    let rt = sign_in(&idp).await["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    // Asking for more than the grant: refused, and the refresh token stays usable.
    assert_oauth_error(
        &refresh(&idp, &rt, Some("read update")).await,
        "invalid_scope",
    );

    let narrowed = refresh(&idp, &rt, Some("read")).await;
    let (access_token, rt) = tokens(&narrowed);
    let body = narrowed.json();
    assert_eq!(body["scope"], "read");
    assert!(body.get("id_token").is_none(), "no openid, no ID token");
    assert_eq!(parts(&access_token).1["scope"], json!(["read"]));
    // The refresh token keeps the scopes of the grant.
    let full = refresh(&idp, &rt, None).await;
    assert_eq!(full.json()["scope"], "openid profile offline_access read");
}

#[tokio::test]
async fn refresh_tokens_expire_and_belong_to_their_client() {
    let idp = MockIdentity::start().await;
    let rt = sign_in(&idp).await["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    // A confidential client that may use refresh tokens, but not this one.
    idp.register_client(
        Client::new("web.app", "pw")
            .grant_types(["authorization_code"])
            .scopes(["openid", "offline_access", "read"]),
    );
    let refresh_as = |client_id: &'static str, secret: &'static str| {
        let idp = idp.clone();
        let rt = rt.clone();
        async move {
            let form = [
                ("grant_type", "refresh_token"),
                ("client_id", client_id),
                ("client_secret", secret),
                ("refresh_token", &rt),
            ];
            http::post_form(idp.addr(), &idp.token_endpoint(), &form, &[]).await
        }
    };
    assert_oauth_error(&refresh_as("web.app", "pw").await, "invalid_grant");
    // The default confidential client has no offline_access.
    let response = refresh_as(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET).await;
    assert_oauth_error(&response, "unauthorized_client");
    let response = http::post_form(
        idp.addr(),
        &idp.token_endpoint(),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", DEFAULT_PUBLIC_CLIENT_ID),
        ],
        &[],
    )
    .await;
    assert_oauth_error(&response, "invalid_request");
    assert_oauth_error(&refresh(&idp, "F00D", None).await, "invalid_grant");
    // None of that used the token up.
    assert_eq!(refresh(&idp, &rt, None).await.status, 200);

    // A lifetime of zero: expired as soon as issued.
    idp.register_client(Client::default_public_client().refresh_token_lifetime(Duration::ZERO));
    assert_eq!(DEFAULT_REDIRECT_URI, "http://127.0.0.1/callback");
    let rt = sign_in(&idp).await["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    assert_oauth_error(&refresh(&idp, &rt, None).await, "invalid_grant");
}

#[tokio::test]
async fn refresh_requests_are_counted_even_when_they_fail() {
    let idp = MockIdentity::start().await;
    let rt = sign_in(&idp).await["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    idp.fail_next(Endpoint::Token, 1, Failure::Status(503));
    assert_eq!(refresh(&idp, &rt, None).await.status, 503);
    assert_eq!(refresh(&idp, &rt, None).await.status, 200);
    assert_eq!(idp.requests_for_grant("refresh_token"), 2);
    assert_eq!(idp.requests_for_grant("client_credentials"), 0);
    assert_eq!(idp.requests_for_grant("nonsense"), 0);
}
