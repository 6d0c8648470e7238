use erpnet_auth_testkit::{Endpoint, MockIdentity};
use serde_json::json;

use crate::http;

#[tokio::test]
async fn discovery_document_looks_like_identityserver() {
    let idp = MockIdentity::start().await;
    assert!(idp.issuer().starts_with("http://127.0.0.1:"));
    assert!(idp.issuer().ends_with("/id"));
    assert_eq!(
        idp.discovery_url(),
        format!("{}/.well-known/openid-configuration", idp.issuer())
    );

    let response = http::get(idp.addr(), &idp.discovery_url()).await;
    assert_eq!(response.status, 200);
    assert!(
        response
            .header("content-type")
            .expect("a content type")
            .starts_with("application/json")
    );
    let doc = response.json();
    let issuer = idp.issuer();
    assert_eq!(doc["issuer"], json!(issuer));
    assert_eq!(doc["jwks_uri"], json!(idp.jwks_uri()));
    assert_eq!(doc["token_endpoint"], json!(idp.token_endpoint()));
    assert_eq!(
        doc["token_endpoint"],
        json!(format!("{issuer}/connect/token"))
    );
    assert_eq!(
        doc["jwks_uri"],
        json!(format!("{issuer}/.well-known/openid-configuration/jwks"))
    );
    assert_eq!(
        doc["authorization_endpoint"],
        json!(format!("{issuer}/connect/authorize"))
    );
    assert_eq!(
        doc["end_session_endpoint"],
        json!(format!("{issuer}/connect/endsession"))
    );
    for field in [
        "userinfo_endpoint",
        "check_session_iframe",
        "revocation_endpoint",
        "introspection_endpoint",
        "device_authorization_endpoint",
    ] {
        let url = doc[field].as_str().unwrap_or_else(|| panic!("{field}"));
        assert!(url.starts_with(&format!("{issuer}/connect/")), "{field}");
    }
    assert_eq!(doc["frontchannel_logout_supported"], json!(true));
    assert_eq!(doc["request_parameter_supported"], json!(true));
    assert_eq!(
        doc["scopes_supported"],
        json!(["openid", "profile", "read", "update", "offline_access"])
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(doc["subject_types_supported"], json!(["public"]));
    assert_eq!(
        doc["code_challenge_methods_supported"],
        json!(["plain", "S256"])
    );
    for field in [
        "claims_supported",
        "grant_types_supported",
        "response_types_supported",
        "response_modes_supported",
    ] {
        assert!(doc[field].is_array(), "{field}");
    }
    let grants = doc["grant_types_supported"].as_array().expect("array");
    assert!(grants.contains(&json!("client_credentials")));
    assert!(grants.contains(&json!("authorization_code")));
    assert!(grants.contains(&json!("refresh_token")));
    assert!(
        doc["response_types_supported"]
            .as_array()
            .expect("array")
            .contains(&json!("code"))
    );
}

#[tokio::test]
async fn jwks_publishes_the_signing_key() {
    let idp = MockIdentity::start().await;
    let response = http::get(idp.addr(), &idp.jwks_uri()).await;
    assert_eq!(response.status, 200);
    assert!(
        response
            .header("content-type")
            .expect("a content type")
            .starts_with("application/json")
    );
    let jwks = response.json();
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["e"], "AQAB");
    assert_eq!(key["kid"], json!(idp.signing_kid()));
    let kid = idp.signing_kid();
    assert_eq!(kid.len(), 32);
    assert!(
        kid.chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    );
    let n = key["n"].as_str().expect("n");
    assert!(!n.contains('=') && !n.contains('+') && !n.contains('/'));
    assert_eq!(n.len(), 342, "2048-bit modulus, base64url without padding");
}

#[tokio::test]
async fn discovery_endpoints_answer_only_get() {
    let idp = MockIdentity::start().await;
    let response = http::send(
        idp.addr(),
        "POST",
        http::path_of(&idp.discovery_url()),
        &[],
        b"",
    )
    .await;
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("GET"));
    let response = http::send(
        idp.addr(),
        "DELETE",
        http::path_of(&idp.jwks_uri()),
        &[],
        b"",
    )
    .await;
    assert_eq!(response.status, 405);
    // Counted all the same: they reached the endpoint.
    assert_eq!(idp.requests(Endpoint::Discovery), 1);
    assert_eq!(idp.requests(Endpoint::Jwks), 1);
}

#[tokio::test]
async fn unknown_paths_are_404_and_not_counted() {
    let idp = MockIdentity::start().await;
    for path in [
        "/.well-known/openid-configuration",
        "/id/.well-known/openid-configuration/",
        "/id/connect/deviceauthorization/",
        "/id/connect/authorize/",
        "/connect/token",
        "/",
    ] {
        let response = http::send(idp.addr(), "GET", path, &[], b"").await;
        assert_eq!(response.status, 404, "{path}");
    }
    assert_eq!(idp.requests(Endpoint::Discovery), 0);
    assert_eq!(idp.requests(Endpoint::Jwks), 0);
    assert_eq!(idp.requests(Endpoint::Token), 0);
    assert_eq!(idp.requests(Endpoint::Authorize), 0);
}

#[tokio::test]
async fn requests_are_counted_per_endpoint() {
    let idp = MockIdentity::start().await;
    for _ in 0..3 {
        http::get(idp.addr(), &idp.discovery_url()).await;
    }
    http::get(idp.addr(), &idp.jwks_uri()).await;
    http::post_form(
        idp.addr(),
        &idp.token_endpoint(),
        &[("grant_type", "client_credentials")],
        &[],
    )
    .await;
    assert_eq!(idp.requests(Endpoint::Discovery), 3);
    assert_eq!(idp.requests(Endpoint::Jwks), 1);
    assert_eq!(idp.requests(Endpoint::Token), 1);
}

#[tokio::test]
async fn issuer_path_and_audiences_are_configurable() {
    let idp = MockIdentity::builder()
        .issuer_path("tenant/id/")
        .audiences(vec!["DomainApi".to_owned()])
        .start()
        .await;
    assert!(idp.issuer().ends_with("/tenant/id"));
    assert_eq!(idp.audiences(), ["DomainApi".to_owned()]);
    let doc = http::get(idp.addr(), &idp.discovery_url()).await.json();
    assert_eq!(doc["issuer"], json!(idp.issuer()));

    let root = MockIdentity::builder().issuer_path("/").start().await;
    assert_eq!(root.issuer(), format!("http://{}", root.addr()));
    let response = http::send(
        root.addr(),
        "GET",
        "/.well-known/openid-configuration",
        &[],
        b"",
    )
    .await;
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn default_audiences_match_erpnet() {
    let idp = MockIdentity::start().await;
    assert_eq!(
        idp.audiences(),
        [
            "DomainAPI".to_owned(),
            "TableAPI".to_owned(),
            "OLAP".to_owned(),
            "AppServer".to_owned(),
            format!("{}/resources", idp.issuer()),
        ]
    );
}
