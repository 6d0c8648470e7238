use std::time::Duration;

use erpnet_auth_testkit::{
    AccessTokenType, ApiResource, Client, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
    DEFAULT_PUBLIC_CLIENT_ID, DEFAULT_RESOURCE_ID, DEFAULT_RESOURCE_SECRET, Endpoint, MockIdentity,
    TokenSpec,
};
use serde_json::json;

use crate::http::{self, RawResponse};
use crate::oauth::{introspect, is_active, sign_in};

async fn introspect_as(
    idp: &MockIdentity,
    form: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> RawResponse {
    http::post_form(idp.addr(), &idp.introspection_endpoint(), form, headers).await
}

#[tokio::test]
async fn active_jwt_access_tokens_are_described() {
    let idp = MockIdentity::start().await;
    let service = idp.access_token_for(DEFAULT_CLIENT_ID, &["read", "update"]);
    let answer = introspect(&idp, &service).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["scope"], "read update");
    assert_eq!(answer["client_id"], DEFAULT_CLIENT_ID);
    assert_eq!(answer["iss"], json!(idp.issuer()));
    assert_eq!(answer["aud"], json!(idp.audiences()));
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["client_system_user"], "api-user");
    let iat = answer["iat"].as_i64().expect("iat");
    assert_eq!(answer["exp"].as_i64(), Some(iat + 3600));
    assert!(answer.get("sub").is_none());

    // A user token: the API resource sees its own scopes only.
    let body = sign_in(&idp).await;
    let answer = introspect(&idp, body["access_token"].as_str().expect("token")).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["sub"], "jdoe");
    assert_eq!(answer["scope"], "read");
    assert_eq!(answer["client_id"], DEFAULT_PUBLIC_CLIENT_ID);
    // Minted tokens of this mock count as long as they are valid.
    assert!(is_active(&idp, &idp.mint(TokenSpec::access_token())).await);
}

#[tokio::test]
async fn anything_else_is_inactive() {
    let idp = MockIdentity::start().await;
    let other = MockIdentity::start().await;
    let body = sign_in(&idp).await;
    for token in [
        "garbage".to_owned(),
        "enrt_0000000000000000000000000000000000000000000000000000000000000000".to_owned(),
        idp.mint(TokenSpec::access_token().expires_in(-1)),
        idp.mint(TokenSpec::access_token().foreign_key()),
        idp.mint(TokenSpec::access_token().issuer("https://evil.example/id")),
        idp.mint(TokenSpec::access_token().typ(Some("JWT"))),
        idp.mint(TokenSpec::id_token()),
        body["id_token"].as_str().expect("id_token").to_owned(),
        body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_owned(),
        other.access_token_for(DEFAULT_CLIENT_ID, &["read"]),
        idp.mint_reference_token(DEFAULT_CLIENT_ID, &["read"], Duration::ZERO),
    ] {
        assert!(!is_active(&idp, &token).await, "{token}");
    }
}

#[tokio::test]
async fn reference_tokens_are_opaque_and_introspectable() {
    let idp = MockIdentity::start().await;
    let token = idp.mint_reference_token(DEFAULT_CLIENT_ID, &["read"], Duration::from_secs(60));
    let hex = token.strip_prefix("enrt_").expect("the enrt_ prefix");
    assert_eq!(hex.len(), 64);
    assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
    let answer = introspect(&idp, &token).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["scope"], "read");
    assert_eq!(answer["client_id"], DEFAULT_CLIENT_ID);
    assert_eq!(answer["client_system_user"], "api-user");
    let iat = answer["iat"].as_i64().expect("iat");
    assert_eq!(answer["exp"].as_i64(), Some(iat + 60));

    // A client that gets reference tokens from the token endpoint.
    idp.register_client(Client::new("sat.app", "pw").access_token_type(AccessTokenType::Reference));
    let response = http::post_form(
        idp.addr(),
        &idp.token_endpoint(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "sat.app"),
            ("client_secret", "pw"),
            ("scope", "update"),
        ],
        &[],
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let token = response.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    assert!(token.starts_with("enrt_"));
    let answer = introspect(&idp, &token).await;
    assert_eq!(answer["scope"], "update");
    assert_eq!(answer["client_id"], "sat.app");

    // And after a sign-in, a user reference token (a PAT-like token).
    idp.register_client(
        Client::default_public_client().access_token_type(AccessTokenType::Reference),
    );
    let body = sign_in(&idp).await;
    let token = body["access_token"].as_str().expect("access_token");
    assert!(token.starts_with("enrt_"));
    assert!(body["id_token"].is_string());
    assert_eq!(introspect(&idp, token).await["sub"], "jdoe");
}

#[tokio::test]
async fn introspection_needs_an_api_resource_or_a_confidential_client() {
    let idp = MockIdentity::start().await;
    let token = idp.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let form = [("token", token.as_str())];
    let wrong = http::basic(DEFAULT_RESOURCE_ID, "wrong");
    for headers in [vec![], vec![("Authorization", wrong.as_str())]] {
        let response = introspect_as(&idp, &form, &headers).await;
        assert_eq!(response.status, 401, "{}", response.text());
        assert!(response.header("www-authenticate").is_some());
    }
    let response = introspect_as(
        &idp,
        &[("token", &token), ("client_id", DEFAULT_PUBLIC_CLIENT_ID)],
        &[],
    )
    .await;
    assert_eq!(response.status, 401, "a public client may not introspect");

    // The resource by form post.
    let response = introspect_as(
        &idp,
        &[
            ("token", &token),
            ("client_id", DEFAULT_RESOURCE_ID),
            ("client_secret", DEFAULT_RESOURCE_SECRET),
            ("token_type_hint", "access_token"),
        ],
        &[],
    )
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["active"], true);
    assert_eq!(response.header("cache-control"), Some("no-store"));

    // A confidential client sees its own tokens, with every scope, and no one else's.
    let basic = http::basic(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET);
    let own = introspect_as(&idp, &form, &[("Authorization", basic.as_str())]).await;
    assert_eq!(own.json()["active"], true);
    let theirs = idp.access_token_for("someone.else", &["read"]);
    let response = introspect_as(
        &idp,
        &[("token", &theirs)],
        &[("Authorization", basic.as_str())],
    )
    .await;
    assert_eq!(response.json(), json!({"active": false}));

    let response = introspect_as(&idp, &[], &[("Authorization", basic.as_str())]).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.json()["error"], "invalid_request");
    let get = http::get(idp.addr(), &idp.introspection_endpoint()).await;
    assert_eq!(get.status, 400);
    assert_eq!(idp.requests(Endpoint::Introspection), 8);
}

#[tokio::test]
async fn an_api_resource_sees_tokens_for_it_and_its_scopes() {
    let idp = MockIdentity::builder()
        .api_resource(ApiResource::new("OLAP", "olap-secret").scopes(["update"]))
        .api_resource(ApiResource::new("Elsewhere", "pw"))
        .start()
        .await;
    let ask = |name: &'static str, secret: &'static str, token: String| {
        let idp = idp.clone();
        async move {
            let basic = http::basic(name, secret);
            introspect_as(
                &idp,
                &[("token", &token)],
                &[("Authorization", basic.as_str())],
            )
            .await
            .json()
        }
    };
    let read = idp.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let both = idp.access_token_for(DEFAULT_CLIENT_ID, &["read", "update"]);
    assert_eq!(
        ask("OLAP", "olap-secret", read).await,
        json!({"active": false})
    );
    assert_eq!(
        ask("OLAP", "olap-secret", both.clone()).await["scope"],
        "update"
    );
    // Not among the token's audiences.
    assert_eq!(
        ask("Elsewhere", "pw", both.clone()).await,
        json!({"active": false})
    );
    // The default resource is not there when resources are given.
    let response = ask(DEFAULT_RESOURCE_ID, DEFAULT_RESOURCE_SECRET, both);
    assert!(response.await.get("error").is_some());
}
