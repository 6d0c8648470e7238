//! `erpnet_auth::web` against the mock ERP.net Identity, with an HTTP client and a cookie
//! jar as the browser: every route, and every failure (wrong state, replayed code, missing
//! nonce, foreign `iss`, expired session, refresh failures, back-channel logout).

mod support;

use std::time::Duration;

use erpnet_auth::Url;
use erpnet_auth::web::WebSignIn;
use erpnet_auth_testkit::{DEFAULT_USER, Endpoint, Failure, MockIdentity, TokenSpec};
use serde_json::{Value, json};
use support::browser::{Browser, Page};
use support::web::{TestApp, TestStore, WEB_CLIENT_ID, listener, serve, web_client, web_sign_in};

/// The mock, with the web app registered, and the app served with `configure`d sign-in.
async fn start_with(
    identity: MockIdentity,
    configure: impl FnOnce(erpnet_auth::web::WebSignInBuilder) -> erpnet_auth::web::WebSignInBuilder,
) -> (MockIdentity, TestApp, WebSignIn) {
    let (listener, url) = listener().await;
    identity.register_client(web_client(&url));
    let web = configure(web_sign_in(&identity, &url).await)
        .build()
        .expect("web sign-in");
    let app = serve(listener, &web);
    (identity, app, web)
}

async fn start() -> (MockIdentity, TestApp, WebSignIn) {
    start_with(MockIdentity::start().await, |builder| builder).await
}

/// Signs the browser in through `/login` (the mock signs `jdoe` in without a UI).
async fn sign_in(browser: &mut Browser, app: &TestApp) -> Page {
    let page = browser.navigate(&app.at("/login")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Signed in as John Doe"), "{}", page.body);
    page
}

/// The query parameter `name` of `url`.
fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

/// `url` with the parameter `name` set to `value`, or removed with `None`.
fn with_param(url: &Url, name: &str, value: Option<&str>) -> Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(n, _)| n != name)
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect();
    let mut changed = url.clone();
    {
        let mut query = changed.query_pairs_mut();
        query.clear().extend_pairs(pairs);
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    changed
}

/// Starts a sign-in and stops at the provider's redirect back: the callback URL.
async fn callback_url(browser: &mut Browser, app: &TestApp, tamper: impl Fn(Url) -> Url) -> Url {
    let login = browser.get(&app.at("/login")).await;
    assert_eq!(login.status, 303);
    let authorize = tamper(login.location().expect("to the provider"));
    let answer = browser.get(&authorize).await;
    assert_eq!(answer.status, 302, "{}", answer.body);
    answer.location().expect("back to the app")
}

async fn is_signed_in(browser: &mut Browser, app: &TestApp) -> bool {
    let page = browser.get(&app.at("/")).await;
    assert_eq!(page.status, 200);
    page.body.contains("Signed in as")
}

fn session_cookie(browser: &Browser, app: &TestApp) -> Option<String> {
    browser.cookie(&app.url, "erpnet-auth")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_is_sent_to_sign_in_and_back_to_the_page_it_asked_for() {
    let (identity, app, web) = start().await;
    assert_eq!(web.redirect_uri().as_str(), app.at("/callback").as_str());
    let mut browser = Browser::new();

    // A page behind RequireSignInLayer: to /login, remembering where the browser was going.
    let data = browser.get(&app.at("/data?page=2")).await;
    assert_eq!(data.status, 303);
    let login = data.location().expect("to sign in");
    assert_eq!(login.path(), "/login");
    assert_eq!(param(&login, "return_to").as_deref(), Some("/data?page=2"));

    // To the provider: PKCE S256, state, nonce, the registered redirect URI.
    let to_provider = browser.get(&login).await;
    assert_eq!(to_provider.status, 303);
    let anonymous_session = session_cookie(&browser, &app).expect("a session for the attempt");
    let cookie = to_provider
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("erpnet-auth="))
        .expect("the session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "no Secure over http on loopback: {cookie}"
    );
    let authorize = to_provider.location().expect("authorize URL");
    assert!(
        authorize
            .as_str()
            .starts_with(&identity.authorization_endpoint())
    );
    assert_eq!(
        param(&authorize, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        param(&authorize, "client_id").as_deref(),
        Some(WEB_CLIENT_ID)
    );
    assert_eq!(
        param(&authorize, "redirect_uri").as_deref(),
        Some(app.at("/callback").as_str())
    );
    assert!(param(&authorize, "state").is_some() && param(&authorize, "nonce").is_some());
    assert!(param(&authorize, "scope").is_some_and(|s| s.contains("offline_access")));

    // Back with a code: signed in, with a new session id, at the page asked for.
    let page = browser.navigate(&authorize).await;
    assert_eq!(page.url.as_str(), app.at("/data?page=2").as_str());
    assert_eq!(page.status, 200, "{}", page.body);
    let answer: Value = serde_json::from_str(&page.body).expect("JSON");
    assert_eq!(answer["subject"], json!(DEFAULT_USER));
    let signed_in_session = session_cookie(&browser, &app).expect("a session");
    assert_ne!(
        signed_in_session, anonymous_session,
        "a new session id at sign-in"
    );
    assert!(
        signed_in_session.len() < 40,
        "the cookie holds an id, never a token"
    );
    assert!(is_signed_in(&mut browser, &app).await);

    // The user's claims: the ID token's and userinfo's (the name comes from userinfo).
    let me = browser.get(&app.at("/api/me")).await;
    let me: Value = serde_json::from_str(&me.body).expect("JSON");
    assert_eq!(me["claims"]["name"], json!("John Doe"));
    assert_eq!(me["claims"]["sub"], json!(DEFAULT_USER));
    assert!(me["claims"].get("nonce").is_none() && me["claims"].get("aud").is_none());
    assert_eq!(identity.requests(Endpoint::UserInfo), 1);

    // Signed in already: /login goes straight to return_to.
    let again = browser.get(&app.at("/login?return_to=/api/me")).await;
    assert_eq!(
        again.location().map(|u| u.path().to_owned()).as_deref(),
        Some("/api/me")
    );
    assert_eq!(identity.requests(Endpoint::Authorize), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_clients_get_401_and_only_same_site_return_urls_are_honoured() {
    let (_identity, app, _web) = start().await;
    let api = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for path in ["/data", "/api/me"] {
        let answer = api
            .get(app.at(path))
            .header("accept", "application/json")
            .send()
            .await
            .expect("answer");
        assert_eq!(answer.status(), 401, "{path}");
        let body: Value =
            serde_json::from_slice(&answer.bytes().await.expect("body")).expect("JSON");
        assert_eq!(body["error"], json!("sign_in_required"));
        assert_eq!(body["sign_in"], json!("/login"));
    }

    for foreign in [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
    ] {
        let mut browser = Browser::new();
        let login = app.at(&format!(
            "/login?return_to={}",
            url::form_urlencoded::byte_serialize(foreign.as_bytes()).collect::<String>()
        ));
        let page = browser.navigate(&login).await;
        assert_eq!(
            page.url.as_str(),
            app.url.as_str(),
            "{foreign} is not followed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_with_a_wrong_state_or_a_foreign_iss_signs_nobody_in() {
    let (identity, app, _web) = start().await;

    let mut browser = Browser::new();
    let callback = callback_url(&mut browser, &app, |u| u).await;
    let forged = with_param(&callback, "state", Some("forged-state"));
    let refused = browser.get(&forged).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("state"), "{}", refused.body);
    assert!(!is_signed_in(&mut browser, &app).await);

    let mut browser = Browser::new();
    let callback = callback_url(&mut browser, &app, |u| u).await;
    let mixed_up = with_param(&callback, "iss", Some("https://evil.example/id"));
    let refused = browser.get(&mixed_up).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("iss"), "{}", refused.body);
    assert!(!is_signed_in(&mut browser, &app).await);
    // Both were refused before the code was exchanged.
    assert_eq!(identity.requests_for_grant("authorization_code"), 0);

    // A callback in a browser that started no sign-in.
    let callback = callback_url(&mut Browser::new(), &app, |u| u).await;
    let stranger = Browser::new().get(&callback).await;
    assert_eq!(stranger.status, 400);

    // The provider's refusal.
    identity.deny_next_authorization();
    let mut browser = Browser::new();
    let page = browser.navigate(&app.at("/login")).await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("access_denied"), "{}", page.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_code_and_an_id_token_without_nonce_are_refused() {
    let (identity, app, _web) = start().await;

    let mut browser = Browser::new();
    let callback = callback_url(&mut browser, &app, |u| u).await;
    let first = browser.navigate(&callback).await;
    assert!(first.body.contains("Signed in as"), "{}", first.body);
    // The same callback again, in the same browser and in another: the attempt is used up.
    assert_eq!(browser.get(&callback).await.status, 400);
    assert_eq!(Browser::new().get(&callback).await.status, 400);
    assert_eq!(identity.requests_for_grant("authorization_code"), 1);
    assert!(
        is_signed_in(&mut browser, &app).await,
        "the first sign-in stands"
    );

    // A browser that drops the nonce from the request: the ID token has none.
    let mut browser = Browser::new();
    let callback = callback_url(&mut browser, &app, |u| with_param(&u, "nonce", None)).await;
    let refused = browser.get(&callback).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("nonce"), "{}", refused.body);
    assert!(!is_signed_in(&mut browser, &app).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_signed_out() {
    // The lifetime is wall-clock time in whole seconds (every replica shares that clock, not
    // tokio's): three real seconds, of which at least two remain after the sign-in.
    let (_identity, app, _web) = start_with(MockIdentity::start().await, |builder| {
        builder.session_lifetime(Duration::from_secs(3))
    })
    .await;
    let mut browser = Browser::new();
    sign_in(&mut browser, &app).await;
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert!(!is_signed_in(&mut browser, &app).await);
    let data = browser.get(&app.at("/data")).await;
    assert_eq!(data.status, 303, "to sign in again");
}

/// Signs in with a token that is due at once (30 s, refreshed 60 s early), then makes the
/// mock issue hour-long tokens, so that exactly one refresh is due.
async fn signed_in_with_a_due_token() -> (MockIdentity, TestApp, Browser) {
    let identity = MockIdentity::builder()
        .token_lifetime(Duration::from_secs(30))
        .start()
        .await;
    let (identity, app, _web) = start_with(identity, |builder| builder).await;
    let mut browser = Browser::new();
    sign_in(&mut browser, &app).await;
    identity.set_token_lifetime(Duration::from_secs(3600));
    (identity, app, browser)
}

async fn data_token(browser: &mut Browser, app: &TestApp) -> (u16, String) {
    let page = browser.get(&app.at("/data")).await;
    let token = serde_json::from_str::<Value>(&page.body)
        .ok()
        .and_then(|v| v["token"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (page.status, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_requests_that_need_a_refresh_cause_one() {
    let (identity, app, browser) = signed_in_with_a_due_token().await;
    let cookie = session_cookie(&browser, &app).expect("session");
    let client = reqwest::Client::new();
    let requests = (0..50).map(|_| {
        let request = client
            .get(app.at("/data"))
            .header("cookie", format!("erpnet-auth={cookie}"))
            .send();
        async move {
            let answer = request.await.expect("answer");
            assert_eq!(answer.status(), 200);
            let body = answer.bytes().await.expect("body");
            serde_json::from_slice::<Value>(&body).expect("JSON")["token"].clone()
        }
    });
    let tokens = futures_join_all(requests).await;
    assert!(tokens.windows(2).all(|w| w[0] == w[1]), "one token for all");
    assert_eq!(identity.requests_for_grant("refresh_token"), 1);
}

/// Runs every future at once, in order of the results.
async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(tasks.len());
    for task in tasks {
        outputs.push(task.await.expect("task"));
    }
    outputs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_refresh_failure_keeps_the_session_and_invalid_grant_ends_it() {
    // Every token is due at once (30 s, refreshed 60 s early), and still valid.
    let identity = MockIdentity::builder()
        .token_lifetime(Duration::from_secs(30))
        .start()
        .await;
    let (identity, app, _web) = start_with(identity, |builder| builder).await;
    let mut browser = Browser::new();
    sign_in(&mut browser, &app).await;
    let (_, due) = data_token(&mut browser, &app).await;
    assert_eq!(identity.requests_for_grant("refresh_token"), 1);

    // The provider is down: the still-valid token is served, the session kept.
    identity.fail_next(Endpoint::Token, 1, Failure::Status(503));
    let (status, served) = data_token(&mut browser, &app).await;
    assert_eq!((status, served.as_str()), (200, due.as_str()));
    assert_eq!(identity.requests_for_grant("refresh_token"), 2);
    assert!(is_signed_in(&mut browser, &app).await);

    // The provider refuses the refresh token: the sign-in ends, cleanly.
    identity.fail_next(
        Endpoint::Token,
        1,
        Failure::OAuthError("invalid_grant".into()),
    );
    let (status, _) = data_token(&mut browser, &app).await;
    assert_eq!(status, 401);
    assert!(!is_signed_in(&mut browser, &app).await);
    assert_eq!(browser.get(&app.at("/data")).await.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_save_after_a_refresh_never_loses_the_session() {
    let store = TestStore::default();
    let identity = MockIdentity::builder()
        .token_lifetime(Duration::from_secs(30))
        .start()
        .await;
    let configured = store.clone();
    let (identity, app, _web) =
        start_with(identity, move |builder| builder.sign_in_store(configured)).await;
    let mut browser = Browser::new();
    sign_in(&mut browser, &app).await;
    identity.set_token_lifetime(Duration::from_secs(3600));

    store.fail_updates(true);
    let (status, refreshed) = data_token(&mut browser, &app).await;
    assert_eq!(
        status, 200,
        "the new token is served although it could not be saved"
    );
    let (status, again) = data_token(&mut browser, &app).await;
    assert_eq!((status, again.as_str()), (200, refreshed.as_str()));
    assert_eq!(
        identity.requests_for_grant("refresh_token"),
        1,
        "no second refresh"
    );

    // The store comes back: the replica saves the new tokens by itself.
    store.fail_updates(false);
    let saved = async {
        loop {
            let written = store.written().len();
            if written >= 2 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), saved)
        .await
        .expect("saved in the background");
    let (status, after) = data_token(&mut browser, &app).await;
    assert_eq!((status, after.as_str()), (200, refreshed.as_str()));
    assert_eq!(identity.requests_for_grant("refresh_token"), 1);
    let records: Vec<Value> = store
        .written()
        .iter()
        .map(|v| serde_json::from_str(v).expect("JSON"))
        .collect();
    assert_ne!(
        records[0]["refresh_token"], records[1]["refresh_token"],
        "rotated and saved"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_needs_the_csrf_token_and_ends_the_session_here_and_at_the_provider() {
    let (identity, app, _web) = start().await;
    let mut browser = Browser::new();
    let home = sign_in(&mut browser, &app).await;
    let field = "name=\"csrf\" value=\"";
    let csrf_start = home.body.find(field).expect("the CSRF field") + field.len();
    let csrf = &home.body[csrf_start..csrf_start + 64];

    let confirm = browser.get(&app.at("/logout")).await;
    assert_eq!(confirm.status, 200);
    assert!(
        confirm.body.contains(csrf),
        "GET shows the button, never signs out"
    );
    assert!(is_signed_in(&mut browser, &app).await);

    let forged = browser
        .post_form(&app.at("/logout"), &[("csrf", "not-the-token")])
        .await;
    assert_eq!(forged.status, 403);
    let missing = browser.post_form(&app.at("/logout"), &[]).await;
    assert_eq!(missing.status, 403);
    assert!(is_signed_in(&mut browser, &app).await);

    let out = browser
        .post_form(&app.at("/logout"), &[("csrf", csrf)])
        .await;
    assert_eq!(out.status, 303);
    let end_session = out.location().expect("to the provider");
    assert!(
        end_session
            .as_str()
            .starts_with(&identity.end_session_endpoint())
    );
    assert!(param(&end_session, "id_token_hint").is_some());
    assert_eq!(
        param(&end_session, "post_logout_redirect_uri").as_deref(),
        Some(app.url.as_str())
    );
    assert_eq!(
        identity.requests(Endpoint::Revocation),
        1,
        "the refresh token is revoked"
    );
    assert!(
        out.set_cookies()
            .iter()
            .any(|c| c.starts_with("erpnet-auth=;")),
        "cookie removed"
    );
    let back = browser.navigate(&end_session).await;
    assert_eq!(back.url.as_str(), app.url.as_str());
    assert!(back.body.contains("Sign in"), "{}", back.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_channel_logout_ends_the_users_sessions_and_refuses_bad_tokens() {
    let (identity, app, _web) = start().await;
    let mut first = Browser::new();
    let mut second = Browser::new();
    sign_in(&mut first, &app).await;
    sign_in(&mut second, &app).await;

    let post = |token: Option<String>| {
        let url = app.at("/backchannel-logout");
        async move {
            let form: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(token.iter().map(|t| ("logout_token", t)))
                .finish();
            reqwest::Client::new()
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await
                .expect("answer")
        }
    };
    let refused = [
        None,
        Some("not.a.jwt".to_owned()),
        Some(identity.mint(TokenSpec::id_token().client_id(WEB_CLIENT_ID))),
        Some(
            identity.mint(
                TokenSpec::logout_token()
                    .client_id(WEB_CLIENT_ID)
                    .claim("nonce", json!("n")),
            ),
        ),
        Some(identity.mint(TokenSpec::logout_token())), // for another client
    ];
    for token in refused {
        let answer = post(token).await;
        assert_eq!(answer.status(), 400);
        let body: Value =
            serde_json::from_slice(&answer.bytes().await.expect("body")).expect("JSON");
        assert_eq!(body["error"], json!("invalid_request"));
    }
    assert!(is_signed_in(&mut first, &app).await && is_signed_in(&mut second, &app).await);

    // A valid token for another user ends nobody's session.
    let other = identity.mint(
        TokenSpec::logout_token()
            .client_id(WEB_CLIENT_ID)
            .subject("someone.else")
            .remove_claim("sid"),
    );
    assert_eq!(post(Some(other)).await.status(), 200);
    assert!(is_signed_in(&mut first, &app).await);

    // The user signs out at the provider: both sessions end.
    assert_eq!(identity.sign_out_user(DEFAULT_USER).await, 2);
    assert!(!is_signed_in(&mut first, &app).await);
    assert!(!is_signed_in(&mut second, &app).await);
    assert_eq!(first.get(&app.at("/data")).await.status, 303);
}
