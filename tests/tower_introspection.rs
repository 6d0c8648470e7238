//! The validating layer with introspection for opaque tokens: ERP.net-style
//! reference tokens (`enrt_…`) from the mock identity, next to JWTs.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use erpnet_auth::tower::{Claims, RequireScopesLayer, ValidateBearerLayer};
use erpnet_auth::{
    Authority, ClientAuthMethod, ClientConfig, DiscoveryCache, HttpClient, Introspector,
    JwtValidator, Revocation, TokenTypeHint,
};
use erpnet_auth_testkit::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_RESOURCE_ID, DEFAULT_RESOURCE_SECRET,
    Endpoint, MockIdentity,
};
use secrecy::SecretString;
use tower::ServiceExt;

/// The mock's discovery document, fetched on first use.
fn discovery(identity: &MockIdentity) -> DiscoveryCache {
    let authority = Authority::parse(&identity.issuer()).expect("authority");
    DiscoveryCache::new(authority, HttpClient::new().expect("http client"))
}

fn app(identity: &MockIdentity, introspection: bool) -> Router {
    // The validator and the introspector share one discovery document.
    let discovery = discovery(identity);
    let validator = JwtValidator::builder_for_discovery(discovery.clone())
        .audience("DomainAPI")
        .require_scopes(["read"])
        .build()
        .expect("validator");
    let api = ClientConfig::builder(discovery, DEFAULT_RESOURCE_ID)
        .client_secret(DEFAULT_RESOURCE_SECRET)
        .auth_method(ClientAuthMethod::ClientSecretBasic)
        .build()
        .expect("resource server");
    let introspector = Introspector::builder(api)
        .cache_ttl(Duration::ZERO)
        .build()
        .expect("introspector");
    let mut layer = ValidateBearerLayer::new(validator);
    if introspection {
        layer = layer.introspect_opaque_tokens(introspector);
    }
    Router::new()
        .route("/whoami", get(|claims: Claims| async move { claims.token.caller().unwrap_or_default().to_owned() }))
        .route(
            "/admin",
            get(|| async { "admin" }).route_layer(RequireScopesLayer::all(["update"])),
        )
        .layer(layer)
}

async fn call(app: &Router, path: &str, token: &str) -> (StatusCode, String, String) {
    let (status, headers, body) = call_with_headers(app, path, token).await;
    let challenge = headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, challenge, body)
}

async fn call_with_headers(
    app: &Router,
    path: &str,
    token: &str,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = app
        .clone()
        .oneshot(
            Request::get(path)
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .expect("body");
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_tokens_are_introspected_and_jwts_validated_locally() {
    let identity = MockIdentity::start().await;
    let app = app(&identity, true);

    let reference =
        identity.mint_reference_token(DEFAULT_CLIENT_ID, &["read"], Duration::from_secs(600));
    let (status, _, body) = call(&app, "/whoami", &reference).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, DEFAULT_CLIENT_ID);
    assert_eq!(identity.requests(Endpoint::Introspection), 1);

    // Scopes still apply: RequireScopesLayer, and the validator's own.
    let (status, challenge, _) = call(&app, "/admin", &reference).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(challenge.contains("insufficient_scope"));
    let update_only =
        identity.mint_reference_token(DEFAULT_CLIENT_ID, &["update"], Duration::from_secs(600));
    let (status, challenge, _) = call(&app, "/whoami", &update_only).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the validator requires `read`"
    );
    assert!(challenge.contains("scope=\"read\""));

    // Unknown and revoked reference tokens are refused with invalid_token.
    let unknown = format!("enrt_{}", "cd".repeat(32));
    let (status, challenge, _) = call(&app, "/whoami", &unknown).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("invalid_token"));
    let client = ClientConfig::builder(discovery(&identity), DEFAULT_CLIENT_ID)
        .client_secret(DEFAULT_CLIENT_SECRET)
        .build()
        .expect("client");
    let revocation = Revocation::new(client).expect("revocation");
    revocation
        .revoke(
            &SecretString::from(reference.clone()),
            TokenTypeHint::AccessToken,
        )
        .await
        .expect("revoked");
    let (status, _, _) = call(&app, "/whoami", &reference).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked");

    // JWTs never reach the introspection endpoint.
    let before = identity.requests(Endpoint::Introspection);
    let jwt = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let (status, _, _) = call(&app, "/whoami", &jwt).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(identity.requests(Endpoint::Introspection), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_introspection_reference_tokens_get_401_and_a_dead_endpoint_503() {
    let identity = MockIdentity::start().await;
    let reference =
        identity.mint_reference_token(DEFAULT_CLIENT_ID, &["read"], Duration::from_secs(600));
    let (status, challenge, _) = call(&app(&identity, false), "/whoami", &reference).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("invalid_token"));

    let app = app(&identity, true);
    identity.fail_next(
        Endpoint::Introspection,
        1,
        erpnet_auth_testkit::Failure::Status(503),
    );
    let (status, headers, body) = call_with_headers(&app, "/whoami", &reference).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the provider could not be asked"
    );
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        body["error_description"], "token introspection unavailable; try again later",
        "the real cause, not the signing keys"
    );
    assert_eq!(headers["retry-after"], "5");
}

/// An introspection endpoint on 127.0.0.1 that names scopes as other
/// providers do: `scp` (Okta, Entra ID) as an array or a string, or both
/// `scope` and `scp`. The token says which.
async fn scp_provider() -> erpnet_auth::Url {
    use axum::routing::post;
    use std::collections::HashMap;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/introspect", listener.local_addr().expect("addr"));
    let answer = |form: axum::Form<HashMap<String, String>>| async move {
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs()
            + 600;
        let mut claims = serde_json::json!({
            "active": true, "exp": exp, "client_id": "app", "token_type": "Bearer"
        });
        match form.get("token").map(String::as_str) {
            Some("scp-array") => claims["scp"] = serde_json::json!(["read", "update"]),
            Some("scp-string") => claims["scp"] = serde_json::json!("read update"),
            Some("both") => {
                claims["scope"] = serde_json::json!("update");
                claims["scp"] = serde_json::json!(["read"]);
            }
            _ => claims = serde_json::json!({"active": false}),
        }
        axum::Json(claims)
    };
    let app = Router::new().route("/introspect", post(answer));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url.parse().expect("url")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspected_scopes_are_read_from_scp_too() {
    let identity = MockIdentity::start().await;
    let validator = JwtValidator::builder(Authority::parse(&identity.issuer()).expect("authority"))
        .audience("DomainAPI")
        .require_scopes(["read"])
        .build()
        .expect("validator");
    let client = ClientConfig::builder(
        erpnet_auth::Endpoints::new().introspection(scp_provider().await),
        "api",
    )
    .client_secret("api-secret")
    .build()
    .expect("client");
    let introspector = Introspector::builder(client)
        .cache_ttl(Duration::ZERO)
        .build()
        .expect("introspector");
    let app = Router::new()
        .route(
            "/whoami",
            get(|claims: Claims| async move { claims.token.scopes().join(" ") }),
        )
        .route(
            "/admin",
            get(|| async { "admin" }).route_layer(RequireScopesLayer::all(["update"])),
        )
        .layer(ValidateBearerLayer::new(validator).introspect_opaque_tokens(introspector));

    for token in ["scp-array", "scp-string"] {
        let (status, _, body) = call(&app, "/whoami", token).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "read update"),
            "{token}"
        );
        let (status, _, _) = call(&app, "/admin", token).await;
        assert_eq!(status, StatusCode::OK, "{token}");
    }
    // `scope` wins over `scp`: this token has `update` only, and the
    // validator requires `read`.
    let (status, challenge, _) = call(&app, "/whoami", "both").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
}

/// Defect: any string that was not a JWT went to the provider, unchecked.
#[tokio::test]
async fn an_opaque_token_outside_the_b64token_syntax_is_refused_without_asking() {
    let identity = MockIdentity::start().await;
    let app = app(&identity, true);
    for not_a_token in ["enrt_\"quoted\"", "enrt_{}", "a=b"] {
        let (status, _, _) = call(&app, "/whoami", not_a_token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{not_a_token}");
    }
    assert_eq!(identity.requests(Endpoint::Introspection), 0);
}
