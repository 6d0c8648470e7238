use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use erpnet_auth_testkit::{
    AuthMethodUsed, Client, DEFAULT_PUBLIC_CLIENT_ID, DEFAULT_USER, Endpoint, Failure,
    MockIdentity, User, UserType,
};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::http::{self, RawResponse};
use crate::oauth::{
    LOOPBACK, assert_oauth_error, authorize, code_for_public_client, is_active, param, pkce,
    public_request, redeem, redeem_for, redirect_params, refresh, verify_id_token,
};
use crate::{parts, verify};

/// A redirect back to `LOOPBACK` carrying `error`, `state` and `iss`, and no code.
fn assert_redirected_error(idp: &MockIdentity, response: &RawResponse, error: &str) {
    let params = redirect_params(response, LOOPBACK);
    assert_eq!(param(&params, "error"), Some(error), "{params:?}");
    assert_eq!(param(&params, "state"), Some("st-1"));
    assert_eq!(param(&params, "iss"), Some(idp.issuer().as_str()));
    assert_eq!(param(&params, "code"), None);
}

/// A 400 error page, and no redirect.
fn assert_error_page(response: &RawResponse) {
    assert_eq!(response.status, 400, "{}", response.text());
    assert!(response.header("location").is_none());
    assert!(
        response
            .header("content-type")
            .expect("a content type")
            .starts_with("text/html")
    );
}

/// Accepts one connection on `listener`, answers 200 and returns the request target.
async fn receive_redirect(listener: TcpListener) -> String {
    let (stream, _) = listener.accept().await.expect("the browser comes back");
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader
        .read_line(&mut request_line)
        .await
        .expect("a request line");
    let mut stream = reader.into_inner();
    stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .await
        .expect("answer the browser");
    request_line
        .split(' ')
        .nth(1)
        .expect("a request target")
        .to_owned()
}

#[tokio::test]
async fn the_whole_code_flow_over_a_real_loopback_redirect() {
    let idp = MockIdentity::start().await;
    let discovery = http::get(idp.addr(), &idp.discovery_url()).await.json();
    assert_eq!(
        discovery["authorization_response_iss_parameter_supported"],
        json!(true)
    );
    assert_eq!(
        discovery["authorization_endpoint"],
        json!(idp.authorization_endpoint())
    );

    // The native app listens on a port of its choosing (RFC 8252 §7.3).
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let (verifier, challenge) = pkce("flow");
    let response = authorize(
        &idp,
        &[
            ("client_id", DEFAULT_PUBLIC_CLIENT_ID),
            ("redirect_uri", &redirect_uri),
            ("response_type", "code"),
            ("scope", "openid profile offline_access read"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "af0ifjsldkj"),
            ("nonce", "n-0S6_WzA2Mj"),
            ("prompt", "login"),
            ("resource", "https://api.example"),
        ],
    )
    .await;
    assert_eq!(response.status, 302, "{}", response.text());
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let location = response.header("location").expect("Location").to_owned();
    assert!(
        location.starts_with(&format!("{redirect_uri}?")),
        "{location}"
    );

    // Follow the redirect as the browser would.
    let browser = tokio::spawn(receive_redirect(listener));
    let target = location
        .strip_prefix(&format!("http://127.0.0.1:{port}"))
        .expect("same origin");
    let loopback_addr = format!("127.0.0.1:{port}").parse().expect("addr");
    let answer = http::send(loopback_addr, "GET", target, &[], b"").await;
    assert_eq!(answer.status, 200);
    let received = browser.await.expect("the listener task");
    let query = received.split_once('?').expect("a query").1;
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(param(&params, "state"), Some("af0ifjsldkj"));
    assert_eq!(param(&params, "iss"), Some(idp.issuer().as_str()));
    assert_eq!(
        param(&params, "scope"),
        Some("openid profile offline_access read")
    );
    let code = param(&params, "code").expect("a code");
    assert_eq!(code.len(), 64);
    assert!(code.chars().all(|c| c.is_ascii_hexdigit()));

    let response = redeem_for(&idp, code, &redirect_uri, Some(&verifier)).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let body = response.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "openid profile offline_access read");
    let refresh_token = body["refresh_token"].as_str().expect("refresh_token");
    assert_eq!(refresh_token.len(), 64);
    assert!(refresh_token.chars().all(|c| c.is_ascii_hexdigit()));
    let record = idp.last_token_request().expect("recorded");
    assert_eq!(record.auth_method, AuthMethodUsed::None);
    assert_eq!(record.client_id, DEFAULT_PUBLIC_CLIENT_ID);

    // The access token: an ERP.net user token.
    let access_token = body["access_token"].as_str().expect("access_token");
    let (header, _, _) = parts(access_token);
    assert_eq!(header["typ"], "at+jwt");
    let claims = verify(&idp, access_token).await.expect("verifies");
    let user = User::default_user();
    assert_eq!(claims["sub"], DEFAULT_USER);
    assert_eq!(claims["id"], user.guid());
    assert_eq!(claims["name"], "John Doe");
    assert_eq!(claims["email"], "jdoe@example.com");
    assert_eq!(claims["email_verified"], "true");
    assert_eq!(claims["is_admin"], "false");
    assert_eq!(claims["locale"], "en");
    assert_eq!(claims["user_type"], "InternalUser");
    assert_eq!(claims["db"], "mockdb");
    assert!(claims["tid"].is_string());
    assert_eq!(claims["idp"], "local");
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["client_id"], DEFAULT_PUBLIC_CLIENT_ID);
    assert_eq!(claims["aud"], json!(idp.audiences()));
    assert_eq!(
        claims["scope"],
        json!(["openid", "profile", "offline_access", "read"])
    );
    assert!(claims["jti"].is_string());
    let iat = claims["iat"].as_i64().expect("iat");
    assert_eq!(claims["nbf"].as_i64(), Some(iat));
    assert_eq!(claims["exp"].as_i64(), Some(iat + 3600));
    let auth_time = claims["auth_time"].as_i64().expect("auth_time");
    assert!((auth_time - crate::now()).abs() <= 5);
    assert!(claims.get("client_system_user").is_none());

    // The ID token: for the client, with the nonce and at_hash.
    let id_token = body["id_token"].as_str().expect("id_token");
    let (header, _, _) = parts(id_token);
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["alg"], "RS256");
    let id_claims = verify_id_token(&idp, id_token, DEFAULT_PUBLIC_CLIENT_ID)
        .await
        .expect("the ID token verifies with the JWKS");
    assert_eq!(id_claims["aud"], DEFAULT_PUBLIC_CLIENT_ID);
    assert_eq!(id_claims["nonce"], "n-0S6_WzA2Mj");
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes());
    assert_eq!(
        id_claims["at_hash"],
        json!(URL_SAFE_NO_PAD.encode(&hash.as_ref()[..16]))
    );
    assert_eq!(id_claims["sub"], DEFAULT_USER);
    assert_eq!(id_claims["sid"], claims["sid"]);
    assert_eq!(id_claims["auth_time"], json!(auth_time));
    let id_iat = id_claims["iat"].as_i64().expect("iat");
    assert_eq!(id_claims["exp"].as_i64(), Some(id_iat + 300));
    assert!(
        verify(&idp, id_token).await.is_err(),
        "an ID token is no access token"
    );

    assert_eq!(idp.requests(Endpoint::Authorize), 1);
    assert_eq!(idp.requests(Endpoint::Token), 1);
    assert_eq!(idp.requests_for_grant("authorization_code"), 1);
    assert_eq!(idp.requests_for_grant("refresh_token"), 0);
}

#[tokio::test]
async fn pkce_is_required_for_public_clients_and_only_s256() {
    let idp = MockIdentity::start().await;
    let (verifier, challenge) = pkce("pkce");
    let without = |name: &'static str| {
        let mut params = public_request(&challenge, &[]);
        params.retain(|(key, _)| *key != name);
        params
    };
    let response = authorize(&idp, &without("code_challenge")).await;
    assert_redirected_error(&idp, &response, "invalid_request");
    let response = authorize(&idp, &without("code_challenge_method")).await;
    assert_redirected_error(&idp, &response, "invalid_request");
    let plain = public_request(&verifier, &[("code_challenge_method", "plain")]);
    assert_redirected_error(&idp, &authorize(&idp, &plain).await, "invalid_request");
    let short = public_request("too-short", &[]);
    assert_redirected_error(&idp, &authorize(&idp, &short).await, "invalid_request");

    // A wrong verifier fails, and uses the code up.
    let (code, verifier) = code_for_public_client(&idp, &[]).await;
    let (other_verifier, _) = pkce("other");
    assert_oauth_error(&redeem(&idp, &code, &other_verifier).await, "invalid_grant");
    assert_oauth_error(&redeem(&idp, &code, &verifier).await, "invalid_grant");
    // A missing or malformed verifier fails too.
    let (code, _) = code_for_public_client(&idp, &[]).await;
    let response = redeem_for(&idp, &code, LOOPBACK, None).await;
    assert_oauth_error(&response, "invalid_grant");
    let (code, _) = code_for_public_client(&idp, &[]).await;
    assert_oauth_error(&redeem(&idp, &code, "short").await, "invalid_grant");
}

#[tokio::test]
async fn confidential_clients_may_skip_pkce_but_not_their_secret() {
    let idp = MockIdentity::start().await;
    let web = Client::new("web.app", "pw")
        .grant_types(["authorization_code"])
        .redirect_uri("https://web.example/cb?tenant=1")
        .scopes(["openid", "read"]);
    idp.register_client(web);
    let request = [
        ("client_id", "web.app"),
        ("redirect_uri", "https://web.example/cb?tenant=1"),
        ("response_type", "code"),
        ("scope", "openid read"),
    ];
    let code_for = |idp: MockIdentity| async move {
        let response = authorize(&idp, &request).await;
        assert_eq!(response.status, 302, "{}", response.text());
        let location = response.header("location").expect("Location").to_owned();
        let query = location
            .strip_prefix("https://web.example/cb?tenant=1&")
            .expect("parameters appended to the registered query");
        form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == "code")
            .map(|(_, code)| code.into_owned())
            .expect("a code")
    };
    let redeem_with = |code: String, auth: Option<&'static str>, verifier: Option<String>| {
        let idp = idp.clone();
        async move {
            let mut form = vec![
                ("grant_type", "authorization_code".to_owned()),
                ("code", code),
                ("redirect_uri", "https://web.example/cb?tenant=1".to_owned()),
                ("client_id", "web.app".to_owned()),
            ];
            if let Some(verifier) = verifier {
                form.push(("code_verifier", verifier));
            }
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let basic = auth.map(|secret| http::basic("web.app", secret));
            let headers: Vec<(&str, &str)> = basic
                .iter()
                .map(|value| ("Authorization", value.as_str()))
                .collect();
            http::post_form(idp.addr(), &idp.token_endpoint(), &form, &headers).await
        }
    };

    let code = code_for(idp.clone()).await;
    let response = redeem_with(code, Some("pw"), None).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    assert!(body["id_token"].is_string());
    assert!(
        body.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );
    assert_eq!(
        idp.last_token_request().expect("recorded").auth_method,
        AuthMethodUsed::Basic
    );

    // Without the secret, or with a wrong one: invalid_client, and the code is not used up.
    let code = code_for(idp.clone()).await;
    assert_oauth_error(
        &redeem_with(code.clone(), None, None).await,
        "invalid_client",
    );
    assert_oauth_error(
        &redeem_with(code.clone(), Some("wrong"), None).await,
        "invalid_client",
    );
    // A verifier without a challenge is a downgrade attempt.
    let (verifier, _) = pkce("downgrade");
    assert_oauth_error(
        &redeem_with(code, Some("pw"), Some(verifier)).await,
        "invalid_grant",
    );

    // The public client cannot redeem another client's code.
    let code = code_for(idp.clone()).await;
    let (verifier, _) = pkce("x");
    assert_oauth_error(&redeem(&idp, &code, &verifier).await, "invalid_grant");
    // Nor may a client that does not do the code flow ask for a code.
    let mut params = request.to_vec();
    params[0] = ("client_id", erpnet_auth_testkit::DEFAULT_CLIENT_ID);
    assert_error_page(&authorize(&idp, &params).await);
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_what_it_issued() {
    let idp = MockIdentity::start().await;
    let (code, verifier) = code_for_public_client(&idp, &[]).await;
    let first = redeem(&idp, &code, &verifier).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let body = first.json();
    let access_token = body["access_token"].as_str().expect("access_token");
    let refresh_token = body["refresh_token"].as_str().expect("refresh_token");
    assert!(is_active(&idp, access_token).await);

    let replay = redeem(&idp, &code, &verifier).await;
    assert_oauth_error(&replay, "invalid_grant");
    assert!(!is_active(&idp, access_token).await);
    assert_oauth_error(&refresh(&idp, refresh_token, None).await, "invalid_grant");
    // An unknown code is simply invalid.
    assert_oauth_error(&redeem(&idp, "0BADC0DE", &verifier).await, "invalid_grant");
}

#[tokio::test]
async fn redirect_uris_must_be_registered_except_for_the_loopback_port() {
    let idp = MockIdentity::start().await;
    let (_, challenge) = pkce("redirect");
    for port in ["1", "8080", "65535"] {
        let uri = format!("http://127.0.0.1:{port}/callback");
        let response =
            authorize(&idp, &public_request(&challenge, &[("redirect_uri", &uri)])).await;
        let params = redirect_params(&response, &uri);
        assert!(param(&params, "code").is_some());
    }
    let portless = "http://127.0.0.1/callback";
    let response = authorize(
        &idp,
        &public_request(&challenge, &[("redirect_uri", portless)]),
    )
    .await;
    assert!(param(&redirect_params(&response, portless), "code").is_some());

    for uri in [
        "http://127.0.0.1:8080/other",
        "http://127.0.0.1:8080/callback/",
        "http://[::1]:8080/callback",
        "http://localhost:8080/callback",
        "https://127.0.0.1:8080/callback",
        "http://127.0.0.1.evil.example/callback",
        "https://evil.example/callback",
    ] {
        let response = authorize(&idp, &public_request(&challenge, &[("redirect_uri", uri)])).await;
        assert_error_page(&response);
        assert!(response.text().contains("invalid_request"), "{uri}");
    }
    let mut params = public_request(&challenge, &[]);
    params.retain(|(key, _)| *key != "redirect_uri");
    assert_error_page(&authorize(&idp, &params).await);
    let unknown = public_request(&challenge, &[("client_id", "nobody.app")]);
    let response = authorize(&idp, &unknown).await;
    assert_error_page(&response);
    assert!(response.text().contains("unauthorized_client"));
    let mut params = public_request(&challenge, &[]);
    params.push(("state", "again"));
    assert_error_page(&authorize(&idp, &params).await);

    // At the token endpoint, the redirect_uri must be the one of the request, port included.
    let (code, verifier) = code_for_public_client(&idp, &[]).await;
    let other_port = "http://127.0.0.1:49153/callback";
    let response = redeem_for(&idp, &code, other_port, Some(&verifier)).await;
    assert_oauth_error(&response, "invalid_grant");
}

#[tokio::test]
async fn later_errors_go_back_to_the_client_with_state_and_iss() {
    let idp = MockIdentity::start().await;
    let (_, challenge) = pkce("errors");
    let cases: [(&[(&str, &str)], &str); 7] = [
        (&[("response_type", "token")], "unsupported_response_type"),
        (&[("response_type", "")], "invalid_request"),
        (&[("scope", "openid admin")], "invalid_scope"),
        (&[("scope", "profile read")], "invalid_scope"),
        (&[("scope", "")], "invalid_request"),
        (&[("prompt", "none login")], "invalid_request"),
        (
            &[("request", "eyJhbGciOiJub25lIn0.e30.")],
            "request_not_supported",
        ),
    ];
    for (extra, error) in cases {
        let response = authorize(&idp, &public_request(&challenge, extra)).await;
        assert_redirected_error(&idp, &response, error);
    }
    let form_post = public_request(&challenge, &[("response_mode", "form_post")]);
    assert_redirected_error(&idp, &authorize(&idp, &form_post).await, "invalid_request");

    // Without state, none comes back; the fragment mode puts everything after '#'.
    let mut params = public_request(&challenge, &[("response_mode", "fragment")]);
    params.retain(|(key, _)| *key != "state");
    let response = authorize(&idp, &params).await;
    assert_eq!(response.status, 302);
    let location = response.header("location").expect("Location");
    let fragment = location
        .strip_prefix(&format!("{LOOPBACK}#"))
        .expect("a fragment");
    assert!(fragment.starts_with("code="), "{fragment}");
    assert!(!fragment.contains("state="));
    assert!(fragment.contains("&iss=http%3A%2F%2F127.0.0.1"));
    assert!(fragment.contains("scope=openid%20profile%20offline_access%20read"));
}

async fn assert_signs_in(idp: &MockIdentity, challenge: &str) {
    let response = authorize(idp, &public_request(challenge, &[])).await;
    assert!(param(&redirect_params(&response, LOOPBACK), "code").is_some());
}

#[tokio::test]
async fn a_test_can_make_the_user_refuse() {
    let idp = MockIdentity::start().await;
    let (_, challenge) = pkce("denied");
    idp.deny_next_authorization();
    let response = authorize(&idp, &public_request(&challenge, &[])).await;
    assert_redirected_error(&idp, &response, "access_denied");
    // Used up: the next one signs in.
    assert_signs_in(&idp, &challenge).await;

    idp.fail_next(
        Endpoint::Authorize,
        1,
        Failure::OAuthError("temporarily_unavailable".to_owned()),
    );
    let response = authorize(&idp, &public_request(&challenge, &[])).await;
    assert_redirected_error(&idp, &response, "temporarily_unavailable");
    // An invalid request gets its own answer and uses the failure up.
    idp.deny_next_authorization();
    let response = authorize(&idp, &public_request(&challenge, &[("scope", "admin")])).await;
    assert_redirected_error(&idp, &response, "invalid_scope");
    assert_signs_in(&idp, &challenge).await;
    // Elsewhere the error is a JSON answer.
    idp.fail_next(
        Endpoint::Token,
        1,
        Failure::OAuthError("temporarily_unavailable".to_owned()),
    );
    let response = redeem(&idp, "x", "y").await;
    assert_oauth_error(&response, "temporarily_unavailable");
    assert_eq!(idp.requests(Endpoint::Authorize), 5);
}

#[tokio::test]
async fn login_hint_picks_the_user_who_signs_in() {
    let idp = MockIdentity::start().await;
    idp.register_user(
        User::new("mary")
            .name("Mary Major")
            .email("mary@example.org")
            .email_verified(false)
            .is_admin(true)
            .locale("bg")
            .user_type(UserType::ExternalCommunityUser)
            .db("otherdb")
            .tid("tenant-2"),
    );
    let (code, verifier) = code_for_public_client(&idp, &[("login_hint", "mary")]).await;
    let body = redeem(&idp, &code, &verifier).await.json();
    let (_, claims, _) = parts(body["access_token"].as_str().expect("access_token"));
    assert_eq!(claims["sub"], "mary");
    assert_eq!(claims["id"], User::new("mary").guid());
    assert_eq!(claims["name"], "Mary Major");
    assert_eq!(claims["email"], "mary@example.org");
    assert_eq!(claims["email_verified"], "false");
    assert_eq!(claims["is_admin"], "true");
    assert_eq!(claims["locale"], "bg");
    assert_eq!(claims["user_type"], "ExternalCommunityUser");
    assert_eq!(claims["db"], "otherdb");
    assert_eq!(claims["tid"], "tenant-2");
    let (_, id_claims, _) = parts(body["id_token"].as_str().expect("id_token"));
    assert_eq!(id_claims["sub"], "mary");
    assert!(
        id_claims.get("nonce").is_none(),
        "no nonce asked, none sent"
    );

    let (_, challenge) = pkce("hint");
    let response = authorize(
        &idp,
        &public_request(&challenge, &[("login_hint", "nobody")]),
    )
    .await;
    assert_redirected_error(&idp, &response, "access_denied");
    // Without a hint, the first registered user signs in.
    let (code, verifier) = code_for_public_client(&idp, &[]).await;
    let body = redeem(&idp, &code, &verifier).await.json();
    assert_eq!(
        parts(body["access_token"].as_str().expect("access_token")).1["sub"],
        DEFAULT_USER
    );
}

#[tokio::test]
async fn codes_expire() {
    let idp = MockIdentity::builder()
        .code_lifetime(Duration::ZERO)
        .start()
        .await;
    let (code, verifier) = code_for_public_client(&idp, &[]).await;
    assert_oauth_error(&redeem(&idp, &code, &verifier).await, "invalid_grant");
    idp.set_code_lifetime(Duration::from_secs(300));
    let (code, verifier) = code_for_public_client(&idp, &[]).await;
    assert_eq!(redeem(&idp, &code, &verifier).await.status, 200);
}
