use std::time::Duration;

use erpnet_auth_testkit::{
    AuthMethodUsed, Client, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Endpoint, MockIdentity,
};
use serde_json::json;

use crate::http::{self, RawResponse};
use crate::oauth::assert_oauth_error;
use crate::{parts, verify};

async fn token_post(idp: &MockIdentity, form: &[(&str, &str)]) -> RawResponse {
    http::post_form(idp.addr(), &idp.token_endpoint(), form, &[]).await
}

async fn token_basic(
    idp: &MockIdentity,
    id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> RawResponse {
    let authorization = http::basic(id, secret);
    http::post_form(
        idp.addr(),
        &idp.token_endpoint(),
        form,
        &[("Authorization", authorization.as_str())],
    )
    .await
}

#[tokio::test]
async fn client_secret_post_issues_an_erpnet_access_token() {
    let idp = MockIdentity::start().await;
    let response = token_post(
        &idp,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("scope", "read update"),
        ],
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert!(
        response
            .header("content-type")
            .expect("content type")
            .starts_with("application/json")
    );
    let body = response.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "read update");
    let token = body["access_token"].as_str().expect("access_token");

    let (header, claims, _) = parts(token);
    assert_eq!(
        header,
        json!({"alg": "RS256", "kid": idp.signing_kid(), "typ": "at+jwt"})
    );
    assert_eq!(claims["iss"], json!(idp.issuer()));
    assert_eq!(claims["aud"], json!(idp.audiences()));
    assert_eq!(claims["scope"], json!(["read", "update"]));
    assert_eq!(claims["client_id"], DEFAULT_CLIENT_ID);
    assert_eq!(claims["client_system_user"], "api-user");
    assert_eq!(claims["client_system_user_type"], "InternalUser");
    assert_eq!(claims["client_db"], "mockdb");
    assert!(claims.get("sub").is_none(), "service tokens have no sub");
    let jti = claims["jti"].as_str().expect("jti");
    assert!(jti.len() >= 16 && jti.chars().all(|c| c.is_ascii_hexdigit()));
    let iat = claims["iat"].as_i64().expect("iat");
    assert_eq!(claims["nbf"].as_i64(), Some(iat));
    assert_eq!(claims["exp"].as_i64(), Some(iat + 3600));
    assert!((iat - crate::now()).abs() <= 5);

    let verified = verify(&idp, token)
        .await
        .expect("the token verifies with the JWKS");
    assert_eq!(verified["client_id"], DEFAULT_CLIENT_ID);

    let record = idp.last_token_request().expect("recorded");
    assert_eq!(record.auth_method, AuthMethodUsed::Post);
    assert_eq!(record.client_id, DEFAULT_CLIENT_ID);
    assert_eq!(record.param("scope"), Some("read update"));
    assert_eq!(record.param("grant_type"), Some("client_credentials"));
    assert_eq!(record.param("client_id"), Some(DEFAULT_CLIENT_ID));
    assert!(record.param("client_secret").is_none());
    assert!(!format!("{record:?}").contains(DEFAULT_CLIENT_SECRET));
}

#[tokio::test]
async fn client_secret_basic_decodes_a_urlencoded_client_id() {
    let idp = MockIdentity::start().await;
    let authorization = http::basic(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET);
    // The `/` travels percent-encoded inside the base64.
    assert_eq!(
        authorization,
        format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                "my.trusted.app%2Ffirst:s3cr3t-value"
            )
        )
    );
    let response = token_basic(
        &idp,
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        &[("grant_type", "client_credentials"), ("scope", "read")],
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["scope"], "read");
    let record = idp.last_token_request().expect("recorded");
    assert_eq!(record.auth_method, AuthMethodUsed::Basic);
    assert_eq!(record.client_id, DEFAULT_CLIENT_ID);
    assert_eq!(
        record.form,
        [
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            ("scope".to_owned(), "read".to_owned())
        ]
    );
}

#[tokio::test]
async fn client_secret_basic_handles_reserved_characters_in_the_secret() {
    let secret = "p:ss+w%rd é/&=";
    let idp = MockIdentity::builder()
        .client(Client::new("odd/app:1", secret))
        .start()
        .await;
    let response = token_basic(
        &idp,
        "odd/app:1",
        secret,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let response = token_post(
        &idp,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "odd/app:1"),
            ("client_secret", secret),
        ],
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    // The default client is not there when clients are given.
    let response = token_post(
        &idp,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
        ],
    )
    .await;
    assert_oauth_error(&response, "invalid_client");
}

#[tokio::test]
async fn basic_without_urlencoding_is_refused_when_the_id_needs_it() {
    // A client that base64s the raw id "a:b" splits as id "a", secret "b:secret".
    let idp = MockIdentity::builder()
        .client(Client::new("a:b", "secret"))
        .start()
        .await;
    let raw = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "a:b:secret");
    let authorization = format!("Basic {raw}");
    let response = http::post_form(
        idp.addr(),
        &idp.token_endpoint(),
        &[("grant_type", "client_credentials")],
        &[("Authorization", authorization.as_str())],
    )
    .await;
    assert_oauth_error(&response, "invalid_client");
    assert_eq!(idp.last_token_request().expect("recorded").client_id, "a");
}

#[tokio::test]
async fn bad_credentials_are_invalid_client() {
    let idp = MockIdentity::start().await;
    let wrong_secret = token_post(
        &idp,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", "wrong"),
        ],
    )
    .await;
    assert_oauth_error(&wrong_secret, "invalid_client");
    let unknown = token_basic(
        &idp,
        "nobody/app",
        "x",
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_oauth_error(&unknown, "invalid_client");
    let no_credentials = token_post(&idp, &[("grant_type", "client_credentials")]).await;
    assert_oauth_error(&no_credentials, "invalid_client");
    let id_only = token_post(
        &idp,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
        ],
    )
    .await;
    assert_oauth_error(&id_only, "invalid_client");
    let garbage = http::post_form(
        idp.addr(),
        &idp.token_endpoint(),
        &[("grant_type", "client_credentials")],
        &[("Authorization", "Basic %%%")],
    )
    .await;
    assert_oauth_error(&garbage, "invalid_client");
    assert_eq!(idp.requests(Endpoint::Token), 5);
}

#[tokio::test]
async fn two_authentication_methods_at_once_are_invalid_request() {
    let idp = MockIdentity::start().await;
    let response = token_basic(
        &idp,
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
        ],
    )
    .await;
    assert_oauth_error(&response, "invalid_request");
    // A client_id in the form beside Basic is fine when it matches.
    let response = token_basic(
        &idp,
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
        ],
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let response = token_basic(
        &idp,
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        &[("grant_type", "client_credentials"), ("client_id", "other")],
    )
    .await;
    assert_oauth_error(&response, "invalid_request");
}

#[tokio::test]
async fn scopes_are_checked_against_the_client() {
    let idp = MockIdentity::start().await;
    idp.register_client(
        Client::new("reader/app", "pw")
            .scopes(["read"])
            .system_user("reader"),
    );
    let ask = |scope: &'static str| {
        let idp = idp.clone();
        async move {
            token_post(
                &idp,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", "reader/app"),
                    ("client_secret", "pw"),
                    ("scope", scope),
                ],
            )
            .await
        }
    };
    assert_oauth_error(&ask("update").await, "invalid_scope");
    assert_oauth_error(&ask("read update").await, "invalid_scope");
    assert_oauth_error(&ask("read openid").await, "invalid_scope");
    assert_oauth_error(&ask("offline_access").await, "invalid_scope");
    assert_oauth_error(&ask("profile").await, "invalid_scope");
    let ok = ask("read").await;
    assert_eq!(ok.status, 200);
    let (_, claims, _) = parts(ok.json()["access_token"].as_str().expect("token"));
    assert_eq!(claims["scope"], json!(["read"]));
    assert_eq!(claims["client_id"], "reader/app");
    assert_eq!(claims["client_system_user"], "reader");
}

#[tokio::test]
async fn omitted_scope_grants_every_api_scope_of_the_client() {
    let idp = MockIdentity::start().await;
    idp.register_client(Client::new("mixed/app", "pw").scopes(["read", "openid", "update"]));
    let response = token_post(
        &idp,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "mixed/app"),
            ("client_secret", "pw"),
        ],
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    assert_eq!(body["scope"], "read update");
    let (_, claims, _) = parts(body["access_token"].as_str().expect("token"));
    assert_eq!(claims["scope"], json!(["read", "update"]));
    // The default client as well.
    let response = token_post(
        &idp,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
        ],
    )
    .await;
    assert_eq!(response.json()["scope"], "read update");
}

#[tokio::test]
async fn other_grants_and_malformed_requests_are_refused() {
    let idp = MockIdentity::start().await;
    let credentials = [
        ("client_id", DEFAULT_CLIENT_ID),
        ("client_secret", DEFAULT_CLIENT_SECRET),
    ];
    let with = |grant: &'static str| {
        let mut form = vec![("grant_type", grant)];
        form.extend_from_slice(&credentials);
        form
    };
    assert_oauth_error(
        &token_post(&idp, &with("password")).await,
        "unsupported_grant_type",
    );
    // Known grants the client is not allowed: it has no offline_access, no code flow.
    assert_oauth_error(
        &token_post(&idp, &with("refresh_token")).await,
        "unauthorized_client",
    );
    assert_oauth_error(
        &token_post(&idp, &with("authorization_code")).await,
        "unauthorized_client",
    );
    assert_oauth_error(&token_post(&idp, &credentials).await, "invalid_request");

    let get = http::send(
        idp.addr(),
        "GET",
        http::path_of(&idp.token_endpoint()),
        &[],
        b"",
    )
    .await;
    assert_oauth_error(&get, "invalid_request");
    let json_body = http::send(
        idp.addr(),
        "POST",
        http::path_of(&idp.token_endpoint()),
        &[("Content-Type", "application/json")],
        br#"{"grant_type":"client_credentials"}"#,
    )
    .await;
    assert_oauth_error(&json_body, "invalid_request");
    let repeated = http::send(
        idp.addr(),
        "POST",
        http::path_of(&idp.token_endpoint()),
        &[(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        b"grant_type=client_credentials&scope=read&scope=update&client_id=x&client_secret=y",
    )
    .await;
    assert_oauth_error(&repeated, "invalid_request");
    let oversized = vec![b'a'; 100 * 1024];
    let huge = http::send(
        idp.addr(),
        "POST",
        http::path_of(&idp.token_endpoint()),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &oversized,
    )
    .await;
    assert_oauth_error(&huge, "invalid_request");
}

#[tokio::test]
async fn token_lifetime_is_configurable() {
    let idp = MockIdentity::builder()
        .token_lifetime(Duration::from_secs(120))
        .start()
        .await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", DEFAULT_CLIENT_ID),
        ("client_secret", DEFAULT_CLIENT_SECRET),
    ];
    let body = token_post(&idp, &form).await.json();
    assert_eq!(body["expires_in"], 120);
    let (_, claims, _) = parts(body["access_token"].as_str().expect("token"));
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        120
    );

    idp.set_token_lifetime(Duration::from_secs(5));
    let body = token_post(&idp, &form).await.json();
    assert_eq!(body["expires_in"], 5);
    let (_, claims, _) = parts(body["access_token"].as_str().expect("token"));
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        5
    );
}

#[tokio::test]
async fn register_client_replaces_a_client_with_the_same_id() {
    let idp = MockIdentity::start().await;
    idp.register_client(Client::new(DEFAULT_CLIENT_ID, "rotated-secret"));
    let old = token_post(
        &idp,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
        ],
    )
    .await;
    assert_oauth_error(&old, "invalid_client");
    let new = token_basic(
        &idp,
        DEFAULT_CLIENT_ID,
        "rotated-secret",
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(new.status, 200);
}
