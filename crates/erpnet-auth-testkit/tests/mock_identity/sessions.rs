//! The browser's side of the mock: the sign-in page, the session cookie (single sign-on),
//! userinfo, and logout: the end-session endpoint and `sign_out_user` ending sessions and
//! posting back-channel logout tokens to the clients.

use std::time::Duration;

use axum::Router;
use axum::extract::{Form, State};
use axum::routing::post;
use erpnet_auth_testkit::{
    Client, DEFAULT_PASSWORD, DEFAULT_PUBLIC_CLIENT_ID, DEFAULT_USER, Endpoint, MockIdentity,
};
use serde_json::json;
use tokio::sync::mpsc;

use crate::http::{self, RawResponse};
use crate::oauth::{LOOPBACK, param, pkce, public_request, redeem, redirect_params};
use crate::parts;

/// The mock's session cookie as a `Cookie` header value, from a response that set it.
fn session_cookie(response: &RawResponse) -> String {
    let set = response
        .header("set-cookie")
        .expect("the response sets the session cookie");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    set.split(';').next().expect("name=value").to_owned()
}

async fn authorize_with(
    idp: &MockIdentity,
    params: &[(&str, &str)],
    cookie: Option<&str>,
) -> RawResponse {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let path = format!("{}?{query}", http::path_of(&idp.authorization_endpoint()));
    let headers: Vec<(&str, &str)> = cookie.map(|c| ("Cookie", c)).into_iter().collect();
    http::send(idp.addr(), "GET", &path, &headers, b"").await
}

/// The value of the hidden `return` field of the sign-in form.
fn hidden_return(page: &str) -> String {
    let start = page
        .find("name=\"return\" value=\"")
        .expect("the return field")
        + 21;
    let end = start + page[start..].find('"').expect("its end");
    page[start..end].replace("&amp;", "&")
}

#[tokio::test]
async fn the_sign_in_page_checks_the_password_then_signs_in_once_for_every_later_request() {
    let idp = MockIdentity::builder().sign_in_page(true).start().await;
    let (_, challenge) = pkce("page");
    let request = public_request(&challenge, &[]);
    let page = authorize_with(&idp, &request, None).await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(
        html.contains("<form method=\"post\" action=\"/id/account/login\">"),
        "{html}"
    );
    assert!(html.contains("id=\"username\"") && html.contains("type=\"password\""));
    let back = hidden_return(&html);
    assert!(back.contains("code_challenge="), "{back}");

    let login = format!("{}/account/login", idp.issuer());
    let wrong = http::post_form(
        idp.addr(),
        &login,
        &[
            ("username", DEFAULT_USER),
            ("password", "nope"),
            ("return", &back),
        ],
        &[],
    )
    .await;
    assert_eq!(wrong.status, 200);
    assert!(wrong.text().contains("Invalid username or password"));
    assert!(wrong.header("set-cookie").is_none());

    let right = http::post_form(
        idp.addr(),
        &login,
        &[
            ("username", DEFAULT_USER),
            ("password", DEFAULT_PASSWORD),
            ("return", &format!("{back}&prompt=login")),
        ],
        &[],
    )
    .await;
    assert_eq!(right.status, 302, "{}", right.text());
    let cookie = session_cookie(&right);
    let location = right.header("location").expect("back to authorize");
    assert!(
        location.starts_with(&idp.authorization_endpoint()),
        "{location}"
    );
    assert!(
        !location.contains("prompt="),
        "the user has just signed in: {location}"
    );
    let path = http::path_of(location).to_owned();
    let redirected = http::send(idp.addr(), "GET", &path, &[("Cookie", &cookie)], b"").await;
    let params = redirect_params(&redirected, LOOPBACK);
    assert!(param(&params, "code").is_some());

    // The session signs the next request in at once; prompt=none works, prompt=login asks again.
    let again = authorize_with(&idp, &request, Some(&cookie)).await;
    assert!(param(&redirect_params(&again, LOOPBACK), "code").is_some());
    let mut silent = request.clone();
    silent.push(("prompt", "none"));
    assert!(
        param(
            &redirect_params(
                &authorize_with(&idp, &silent, Some(&cookie)).await,
                LOOPBACK
            ),
            "code"
        )
        .is_some()
    );
    let refused = authorize_with(&idp, &silent, None).await;
    assert_eq!(
        param(&redirect_params(&refused, LOOPBACK), "error"),
        Some("login_required")
    );
    let mut fresh = request.clone();
    fresh.push(("prompt", "login"));
    assert_eq!(
        authorize_with(&idp, &fresh, Some(&cookie)).await.status,
        200
    );
    assert_eq!(idp.requests(Endpoint::Login), 2);

    let get = http::send(idp.addr(), "GET", "/id/account/login", &[], b"").await;
    assert_eq!(get.status, 405);
}

#[tokio::test]
async fn userinfo_answers_the_users_claims_for_their_access_token_only() {
    let idp = MockIdentity::start().await;
    let (verifier, challenge) = pkce("userinfo");
    let response = authorize_with(&idp, &public_request(&challenge, &[]), None).await;
    let code = param(&redirect_params(&response, LOOPBACK), "code")
        .expect("code")
        .to_owned();
    let tokens = redeem(&idp, &code, &verifier).await.json();
    let access_token = tokens["access_token"].as_str().expect("access token");
    let url = format!("{}/connect/userinfo", idp.issuer());
    let bearer = format!("Bearer {access_token}");
    let claims = http::send(
        idp.addr(),
        "GET",
        http::path_of(&url),
        &[("Authorization", &bearer)],
        b"",
    )
    .await;
    assert_eq!(claims.status, 200, "{}", claims.text());
    let claims = claims.json();
    assert_eq!(claims["sub"], json!(DEFAULT_USER));
    assert_eq!(claims["name"], json!("John Doe"));
    assert_eq!(claims["is_admin"], json!("false"));
    assert!(claims.get("scope").is_none() && claims.get("client_id").is_none());

    let anonymous = http::send(idp.addr(), "GET", http::path_of(&url), &[], b"").await;
    assert_eq!(anonymous.status, 401);
    let service = format!(
        "Bearer {}",
        idp.access_token_for("my.trusted.app/first", &["read"])
    );
    let refused = http::send(
        idp.addr(),
        "GET",
        http::path_of(&url),
        &[("Authorization", &service)],
        b"",
    )
    .await;
    assert_eq!(refused.status, 403);
    assert_eq!(idp.requests(Endpoint::UserInfo), 3);
}

/// A client's back-channel logout endpoint: every `logout_token` posted to it.
async fn backchannel_receiver() -> (String, mpsc::UnboundedReceiver<String>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    async fn take(
        State(sender): State<mpsc::UnboundedSender<String>>,
        Form(form): Form<std::collections::HashMap<String, String>>,
    ) -> &'static str {
        let _ = sender.send(form.get("logout_token").cloned().unwrap_or_default());
        ""
    }
    let app = Router::new()
        .route("/backchannel-logout", post(take))
        .with_state(sender);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let uri = format!(
        "http://{}/backchannel-logout",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (uri, receiver)
}

#[tokio::test]
async fn ending_a_session_posts_a_logout_token_to_each_of_its_clients() {
    let (uri, mut received) = backchannel_receiver().await;
    let idp = MockIdentity::builder()
        .client(
            Client::default_public_client()
                .redirect_uri(LOOPBACK)
                .backchannel_logout_uri(&uri),
        )
        .start()
        .await;
    let (verifier, challenge) = pkce("logout");
    let response = authorize_with(&idp, &public_request(&challenge, &[]), None).await;
    let cookie = session_cookie(&response);
    let code = param(&redirect_params(&response, LOOPBACK), "code")
        .expect("code")
        .to_owned();
    let tokens = redeem(&idp, &code, &verifier).await.json();
    let id_token = tokens["id_token"].as_str().expect("an ID token");
    let (_, id_claims, _) = parts(id_token);

    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", "http://127.0.0.1/signed-out")
        .append_pair("state", "bye")
        .finish();
    let path = format!("{}?{query}", http::path_of(&idp.end_session_endpoint()));
    let ended = http::send(idp.addr(), "GET", &path, &[("Cookie", &cookie)], b"").await;
    assert_eq!(ended.status, 302);
    assert_eq!(
        ended.header("location"),
        Some("http://127.0.0.1/signed-out?state=bye")
    );
    assert!(
        ended
            .header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );

    let token = tokio::time::timeout(Duration::from_secs(5), received.recv())
        .await
        .expect("delivered before the answer")
        .expect("a logout token");
    let (header, claims, _) = parts(&token);
    assert_eq!(header["typ"], json!("logout+jwt"));
    assert_eq!(claims["aud"], json!(DEFAULT_PUBLIC_CLIENT_ID));
    assert_eq!(claims["sub"], json!(DEFAULT_USER));
    assert_eq!(claims["sid"], id_claims["sid"]);
    assert_eq!(claims["iss"], json!(idp.issuer()));
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(claims.get("nonce").is_none() && claims["jti"].is_string());

    // The session is gone: nothing more to end, and the cookie signs nobody in.
    assert_eq!(idp.sign_out_user(DEFAULT_USER).await, 0);

    // Two more sign-ins of the same user, ended from the test.
    for seed in ["second", "third"] {
        let (_, challenge) = pkce(seed);
        let response = authorize_with(&idp, &public_request(&challenge, &[]), None).await;
        assert_eq!(response.status, 302);
    }
    assert_eq!(idp.sign_out_user(DEFAULT_USER).await, 2);
    for _ in 0..2 {
        let token = received.recv().await.expect("a logout token");
        assert_eq!(parts(&token).1["sub"], json!(DEFAULT_USER));
    }
}
