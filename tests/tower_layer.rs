//! The tower layers in front of an axum API, in process (`oneshot`), with
//! tokens from the mock ERP.net Identity: every refusal with its status,
//! `WWW-Authenticate` and body; claims extraction; scopes; optional
//! authentication; a missing layer; key rotation and a dead key endpoint.

mod support;

use std::time::Duration;

use axum::body::Body;
use axum::routing::{get, post};
use axum::{Json, Router};
use erpnet_auth::{Authority, ErpNetClaims, JwtValidator, UserType};
use erpnet_auth_testkit::{
    Alg, CapturedLogs, DEFAULT_CLIENT_ID, DEFAULT_SYSTEM_USER, Endpoint, Failure, MockIdentity,
    OldKey, TokenSpec,
};
use erpnet_auth_tower::{Claims, RequireScopesLayer, ValidateBearerLayer};
use http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tower::ServiceExt;

fn validator(identity: &MockIdentity) -> JwtValidator {
    JwtValidator::builder(Authority::parse(&identity.issuer()).expect("authority"))
        .audience("DomainAPI")
        .build()
        .expect("validator")
}

/// A user type of the kind an API defines for its own claims.
#[derive(Deserialize)]
struct Mine {
    client_id: String,
    scope: Vec<String>,
}

/// A user type that needs a claim the mock's tokens do not carry.
#[derive(Deserialize)]
struct NeedsTenant {
    #[allow(dead_code)]
    tenant: String,
}

async fn whoami(claims: Claims) -> Json<Value> {
    Json(json!({
        "caller": claims.token.caller(),
        "system_user": claims.client_system_user,
        "service": claims.is_service(),
        "scopes": claims.token.scopes(),
    }))
}

async fn mine(Claims { claims, .. }: Claims<Mine>) -> String {
    format!("{} {}", claims.client_id, claims.scope.join(","))
}

async fn tenant(_: Claims<NeedsTenant>) -> &'static str {
    "unreachable"
}

async fn greeting(claims: Option<Claims>) -> String {
    match claims {
        Some(claims) => format!("hello {}", claims.token.caller().unwrap_or("?")),
        None => "hello stranger".to_owned(),
    }
}

/// The API under test: `/whoami` needs `read`, `POST /items` needs `update`
/// or `admin`, `/mine` and `/tenant` need only a valid token.
fn routes() -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .route_layer(RequireScopesLayer::all(["read"]))
        .merge(
            Router::new()
                .route("/items", post(|| async { StatusCode::CREATED }))
                .route_layer(RequireScopesLayer::any(["update", "admin"])),
        )
        .route("/mine", get(mine))
        .route("/tenant", get(tenant))
        .route("/greeting", get(greeting))
}

fn api(validator: JwtValidator) -> Router {
    routes().layer(ValidateBearerLayer::new(validator))
}

struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    retry_after: Option<String>,
    body: Value,
}

async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let challenge = response
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().expect("ascii").to_owned());
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .map(|v| v.to_str().expect("ascii").to_owned());
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Answer {
        status,
        challenge,
        retry_after,
        body,
    }
}

fn request(method: Method, path: &str, authorization: &[&str]) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    for value in authorization {
        builder = builder.header(AUTHORIZATION, *value);
    }
    builder.body(Body::empty()).expect("request")
}

async fn get_with(app: &Router, path: &str, token: &str) -> Answer {
    send(
        app,
        request(Method::GET, path, &[&format!("Bearer {token}")]),
    )
    .await
}

fn invalid_token_challenge(description: &str) -> String {
    format!(r#"Bearer realm="api", error="invalid_token", error_description="{description}""#)
}

#[tokio::test]
async fn a_valid_token_reaches_the_handler_with_typed_claims() {
    let identity = MockIdentity::start().await;
    let app = api(validator(&identity));
    let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read", "update"]);

    let answer = get_with(&app, "/whoami", &token).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.challenge, None);
    assert_eq!(
        answer.body,
        json!({"caller": DEFAULT_CLIENT_ID, "system_user": DEFAULT_SYSTEM_USER, "service": true, "scopes": ["read", "update"]})
    );

    let answer = get_with(&app, "/mine", &token).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, format!("{DEFAULT_CLIENT_ID} read,update"));

    // Scheme in any case, and a user token with ERP.net's string booleans.
    let user = identity.mint(
        TokenSpec::access_token()
            .subject("jdoe")
            .claim("user_type", json!("ExternalCommunityUser"))
            .claim("is_admin", json!("true")),
    );
    let app = Router::new()
        .route(
            "/",
            get(|claims: Claims<ErpNetClaims>| async move {
                assert_eq!(claims.user_type, Some(UserType::ExternalCommunityUser));
                assert_eq!(claims.is_admin, Some(true));
                claims.into_inner().sub.unwrap_or_default()
            }),
        )
        .layer(ValidateBearerLayer::new(validator(&identity)));
    let answer = send(
        &app,
        request(Method::GET, "/", &[&format!("bEaReR {user}")]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "jdoe");
}

#[tokio::test]
async fn requests_without_a_bearer_token_get_a_bare_challenge() {
    let identity = MockIdentity::start().await;
    let app = api(validator(&identity));
    for authorization in [&[][..], &["Basic dXNlcjpwYXNz"][..]] {
        let answer = send(&app, request(Method::GET, "/whoami", authorization)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(answer.challenge.as_deref(), Some(r#"Bearer realm="api""#));
        assert_eq!(
            answer.body,
            json!({"error_description": "a bearer token is required"})
        );
    }
    // The realm is configurable and quoted.
    let app = routes().layer(ValidateBearerLayer::new(validator(&identity)).realm("orders \"v2\""));
    let answer = send(&app, request(Method::GET, "/whoami", &[])).await;
    assert_eq!(
        answer.challenge.as_deref(),
        Some(r#"Bearer realm="orders \"v2\"""#)
    );
    assert_eq!(
        identity.requests(Endpoint::Jwks),
        0,
        "no token, no key fetch"
    );
}

#[tokio::test]
async fn malformed_authorization_is_an_invalid_request() {
    let identity = MockIdentity::start().await;
    let app = api(validator(&identity));
    let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let two = format!("Bearer {token}");
    let cases: [(&str, Vec<&str>, &str); 3] = [
        (
            "two Authorization headers",
            vec![two.as_str(), two.as_str()],
            "more than one Authorization header",
        ),
        (
            "empty token",
            vec!["Bearer "],
            "the bearer token is empty or malformed",
        ),
        (
            "space in token",
            vec!["Bearer abc def"],
            "the bearer token is empty or malformed",
        ),
    ];
    for (name, headers, description) in cases {
        let answer = send(&app, request(Method::GET, "/whoami", &headers)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(
            answer.challenge,
            Some(format!(
                r#"Bearer realm="api", error="invalid_request", error_description="{description}""#
            )),
            "{name}"
        );
        assert_eq!(
            answer.body,
            json!({"error": "invalid_request", "error_description": description}),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_tab_after_bearer_is_an_invalid_request_never_anonymous() {
    let identity = MockIdentity::start().await;
    let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let tabbed = format!("Bearer\t{token}");
    let required = api(validator(&identity));
    let optional = routes().layer(ValidateBearerLayer::new(validator(&identity)).optional());
    for (layer, app) in [("required", &required), ("optional", &optional)] {
        for path in ["/greeting", "/whoami"] {
            let answer = send(app, request(Method::GET, path, &[&tabbed])).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{layer} {path}");
            assert_eq!(answer.body["error"], "invalid_request", "{layer} {path}");
            assert_eq!(
                answer.body["error_description"],
                "the scheme and the bearer token must be separated by a space",
                "{layer} {path}"
            );
        }
    }
}

#[tokio::test]
async fn every_hostile_or_invalid_token_is_refused_with_invalid_token() {
    let identity = MockIdentity::start().await;
    let app = api(validator(&identity));
    let mint = |spec: TokenSpec| identity.mint(spec);
    let base = TokenSpec::access_token;
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "garbage",
            "not-a-jwt.at-all.really".to_owned(),
            "malformed token: header is not base64url",
        ),
        (
            "alg none",
            mint(base().alg(Alg::None)),
            "unsigned tokens are not accepted",
        ),
        (
            "HS256 keyed with the public key",
            mint(base().alg(Alg::Hs256)),
            "symmetric algorithms are not accepted",
        ),
        ("wrong key", mint(base().foreign_key()), "invalid signature"),
        ("expired", mint(base().expires_in(-120)), "token expired"),
        (
            "future nbf",
            mint(base().not_before_offset(600)),
            "token not yet valid",
        ),
        (
            "wrong issuer",
            mint(base().issuer("https://evil.example/id")),
            "wrong issuer",
        ),
        (
            "wrong audience",
            mint(base().audiences(["TableAPI"])),
            "wrong audience",
        ),
        ("ID token", mint(TokenSpec::id_token()), "wrong token type"),
        (
            "oversized",
            format!("{}.{}.{}", "a".repeat(9000), "b".repeat(9000), "c"),
            "token too long",
        ),
        (
            "crit",
            mint(base().crit(["exp"])),
            "unsupported critical header parameter",
        ),
        (
            "reference token",
            format!("enrt_{}", "0a".repeat(32)),
            "reference tokens are not accepted here",
        ),
    ];
    for (name, token, description) in cases {
        let answer = get_with(&app, "/whoami", &token).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{name}: {:?}",
            answer.body
        );
        assert_eq!(
            answer.challenge.as_deref(),
            Some(invalid_token_challenge(description).as_str()),
            "{name}"
        );
        assert_eq!(
            answer.body,
            json!({"error": "invalid_token", "error_description": description}),
            "{name}"
        );
        let shown = format!("{:?} {}", answer.challenge, answer.body);
        assert!(
            !shown.contains(&token),
            "{name}: the answer quotes the token"
        );
    }
}

#[tokio::test]
async fn claims_that_do_not_fit_the_handlers_type_are_invalid_token() {
    let identity = MockIdentity::start().await;
    let app = api(validator(&identity));
    let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let answer = get_with(&app, "/tenant", &token).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.challenge,
        Some(invalid_token_challenge(
            "the token's claims do not fit this API"
        ))
    );
}

#[tokio::test]
async fn scopes_all_of_and_any_of() {
    let identity = MockIdentity::start().await;
    let app = api(validator(&identity));
    let read = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let update = identity.access_token_for(DEFAULT_CLIENT_ID, &["update"]);

    // all-of ["read"]
    assert_eq!(
        get_with(&app, "/whoami", &read).await.status,
        StatusCode::OK
    );
    let answer = get_with(&app, "/whoami", &update).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.challenge.as_deref(),
        Some(
            r#"Bearer realm="api", error="insufficient_scope", error_description="the token lacks a scope this operation requires", scope="read""#
        )
    );
    assert_eq!(answer.body["error"], "insufficient_scope");
    assert_eq!(answer.body["scope"], "read");

    // any-of ["update", "admin"]
    let post = |token: &str| request(Method::POST, "/items", &[&format!("Bearer {token}")]);
    assert_eq!(send(&app, post(&update)).await.status, StatusCode::CREATED);
    let answer = send(&app, post(&read)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.challenge.as_deref(),
        Some(
            r#"Bearer realm="api", error="insufficient_scope", error_description="the token has none of the scopes this operation accepts", scope="update admin""#
        )
    );

    // A validator that requires scopes itself answers the same way.
    let strict = JwtValidator::builder(Authority::parse(&identity.issuer()).expect("authority"))
        .audience("DomainAPI")
        .require_scopes(["read", "update"])
        .build()
        .expect("validator");
    let answer = get_with(&api(strict), "/mine", &read).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(
        answer
            .challenge
            .as_deref()
            .is_some_and(|c| c.ends_with(r#", scope="read update""#)),
        "{:?}",
        answer.challenge
    );
}

#[tokio::test]
async fn scopes_are_read_from_scope_or_scp_as_an_array_or_a_string() {
    let identity = MockIdentity::start().await;
    let app = api(validator(&identity));
    let strict = routes().layer(ValidateBearerLayer::new(
        JwtValidator::builder(Authority::parse(&identity.issuer()).expect("authority"))
            .audience("DomainAPI")
            .require_scopes(["read"])
            .build()
            .expect("validator"),
    ));
    let without_scope = || TokenSpec::access_token().remove_claim("scope");
    let forms = [
        (
            "`scope` array (ERP.net)",
            without_scope().claim("scope", json!(["read", "update"])),
        ),
        (
            "`scope` string (RFC 9068)",
            without_scope().claim("scope", json!("read update")),
        ),
        (
            "`scp` array (Okta, Entra ID)",
            without_scope().claim("scp", json!(["read", "update"])),
        ),
        (
            "`scp` string",
            without_scope().claim("scp", json!("read update")),
        ),
    ];
    for (form, spec) in forms {
        let token = identity.mint(spec);
        let answer = get_with(&app, "/whoami", &token).await;
        assert_eq!(answer.status, StatusCode::OK, "{form}");
        assert_eq!(answer.body["scopes"], json!(["read", "update"]), "{form}");
        let post = request(Method::POST, "/items", &[&format!("Bearer {token}")]);
        assert_eq!(send(&app, post).await.status, StatusCode::CREATED, "{form}");
        let answer = get_with(&strict, "/greeting", &token).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{form}: the validator's own check"
        );
    }

    // Both present: `scope` is what the token grants.
    let both = identity.mint(
        without_scope()
            .claim("scope", json!("update"))
            .claim("scp", json!(["read"])),
    );
    assert_eq!(
        get_with(&app, "/whoami", &both).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get_with(&strict, "/greeting", &both).await.status,
        StatusCode::FORBIDDEN
    );

    // Neither: no scope at all, and a malformed `scp` is an invalid token.
    let none = identity.mint(without_scope());
    assert_eq!(
        get_with(&app, "/whoami", &none).await.status,
        StatusCode::FORBIDDEN
    );
    let malformed = identity.mint(without_scope().claim("scp", json!({"read": true})));
    let answer = get_with(&app, "/mine", &malformed).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.challenge,
        Some(invalid_token_challenge("malformed claims: `scp`"))
    );
}

#[tokio::test]
async fn optional_authentication_lets_anonymous_requests_through_only() {
    let identity = MockIdentity::start().await;
    let app = routes().layer(ValidateBearerLayer::new(validator(&identity)).optional());
    let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);

    let anonymous = send(&app, request(Method::GET, "/greeting", &[])).await;
    assert_eq!(anonymous.status, StatusCode::OK);
    assert_eq!(anonymous.body, "hello stranger");

    let known = get_with(&app, "/greeting", &token).await;
    assert_eq!(known.status, StatusCode::OK);
    assert_eq!(known.body, format!("hello {DEFAULT_CLIENT_ID}"));

    // A token that is there must be valid.
    let expired = identity.mint(TokenSpec::access_token().expires_in(-120));
    let answer = get_with(&app, "/greeting", &expired).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.challenge,
        Some(invalid_token_challenge("token expired"))
    );

    // Routes that need claims or scopes still refuse anonymous requests, with
    // the challenge rather than a server error.
    for path in ["/whoami", "/mine"] {
        let answer = send(&app, request(Method::GET, path, &[])).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(
            answer.challenge.as_deref(),
            Some(r#"Bearer realm="api""#),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_missing_layer_is_a_logged_server_error() {
    let captured = CapturedLogs::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::ERROR)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let identity = MockIdentity::start().await;
    let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read", "update"]);
    let unprotected = routes();
    for (method, path) in [
        (Method::GET, "/whoami"),
        (Method::GET, "/mine"),
        (Method::POST, "/items"),
    ] {
        let answer = send(
            &unprotected,
            request(method, path, &[&format!("Bearer {token}")]),
        )
        .await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert_eq!(answer.challenge, None);
        assert_eq!(answer.body["error"], "server_error");
    }
    let logs = captured.text();
    assert!(logs.contains("ERROR"), "{logs}");
    assert!(
        logs.contains("put a ValidateBearerLayer in front"),
        "{logs}"
    );
    assert!(!logs.contains(&token));
}

#[tokio::test]
async fn key_rotation_through_the_layer() {
    let identity = MockIdentity::start().await;
    let validator = validator(&identity);
    let app = api(validator.clone());
    let old = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    assert_eq!(get_with(&app, "/whoami", &old).await.status, StatusCode::OK);
    assert_eq!(identity.requests(Endpoint::Jwks), 1);

    // Rotation, old key kept: the new kid is fetched on first sight (the
    // layer's waiting path), the old token keeps working.
    identity.rotate_keys(OldKey::Keep);
    let new = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    assert_eq!(get_with(&app, "/whoami", &new).await.status, StatusCode::OK);
    assert_eq!(identity.requests(Endpoint::Jwks), 2);
    assert_eq!(get_with(&app, "/whoami", &old).await.status, StatusCode::OK);

    // Old key dropped: once the key set is refetched, the old token is refused.
    identity.rotate_keys(OldKey::Drop);
    validator
        .jwks()
        .expect("one issuer")
        .refresh()
        .await
        .expect("refetch");
    let newest = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    assert_eq!(
        get_with(&app, "/whoami", &newest).await.status,
        StatusCode::OK
    );
    let answer = get_with(&app, "/whoami", &old).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.challenge,
        Some(invalid_token_challenge("unknown signing key"))
    );
}

#[tokio::test]
async fn a_dead_key_endpoint_after_load_keeps_serving() {
    let identity = MockIdentity::start().await;
    let validator = validator(&identity);
    let app = api(validator.clone());
    let first = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    assert_eq!(
        get_with(&app, "/whoami", &first).await.status,
        StatusCode::OK
    );

    identity.fail_next(Endpoint::Jwks, 100, Failure::Status(503));
    assert!(
        validator
            .jwks()
            .expect("one issuer")
            .refresh()
            .await
            .is_err()
    );
    let fresh = identity.access_token_for(DEFAULT_CLIENT_ID, &["read", "update"]);
    let answer = get_with(&app, "/whoami", &fresh).await;
    assert_eq!(answer.status, StatusCode::OK, "last known good keys");
}

#[tokio::test]
async fn a_rotated_key_the_key_endpoint_cannot_serve_is_503_not_401() {
    let identity = MockIdentity::start().await;
    let app = api(validator(&identity));
    let before = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    assert_eq!(
        get_with(&app, "/whoami", &before).await.status,
        StatusCode::OK
    );

    identity.rotate_keys(OldKey::Keep);
    identity.fail_next(Endpoint::Jwks, 100, Failure::Status(503));
    let rotated = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let answer = get_with(&app, "/whoami", &rotated).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        answer.challenge, None,
        "a 401 would make the client drop a token that may well be valid"
    );
    assert_eq!(answer.retry_after.as_deref(), Some("5"));
}

#[tokio::test]
async fn no_signing_keys_at_all_is_503() {
    let identity = MockIdentity::start().await;
    identity.fail_next(Endpoint::Jwks, 100, Failure::Status(503));
    let app = api(validator(&identity));
    let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let answer = get_with(&app, "/whoami", &token).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.challenge, None, "the token may well be valid");
    assert_eq!(answer.body["error"], "temporarily_unavailable");
    assert_eq!(
        answer.body["error_description"],
        "signing keys unavailable; try again later"
    );
    assert_eq!(answer.retry_after.as_deref(), Some("5"), "the default");
    let patient = routes().layer(
        ValidateBearerLayer::new(validator(&identity)).retry_after(Duration::from_millis(29_100)),
    );
    let answer = get_with(&patient, "/whoami", &token).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.retry_after.as_deref(), Some("30"), "rounded up");

    // The same for a gRPC call: UNAVAILABLE in a trailers-only response.
    let mut grpc = request(Method::POST, "/whoami", &[&format!("Bearer {token}")]);
    grpc.headers_mut()
        .insert(CONTENT_TYPE, "application/grpc".parse().expect("header"));
    let response = app.clone().oneshot(grpc).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["grpc-status"], "14");
    assert_eq!(
        response.headers()["grpc-message"],
        "signing keys unavailable; try again later"
    );
    assert_eq!(response.headers()["grpc-retry-pushback-ms"], "5000");
}
