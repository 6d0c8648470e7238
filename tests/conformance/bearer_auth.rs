//! `BearerAuth` calling a small local API with the peer's tokens.
//!
//! The API validates with `JwtValidator` by hand, in its handlers, so that
//! this proves the client side alone; `tower.rs` does the same behind the
//! tower layer.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use erpnet_auth::reqwest::BearerAuth;
use erpnet_auth::{CachedTokenSource, JwtValidator, ValidationError};
use serde_json::{Value, json};

use crate::peer::{CC_BASIC, Counting, JWT_API, peer_or_skip};

/// `/contacts` needs the scope `read`, `/admin` the scope `admin`. Answers
/// 200 with the token's claims, 401 without a valid token, 403 without the
/// scope (RFC 6750 §3.1).
async fn start_api(validator: JwtValidator) -> String {
    let app = axum::Router::new()
        .route(
            "/contacts",
            get(|State(v): State<JwtValidator>, h: HeaderMap| async move {
                guarded(&v, &h, "read").await
            }),
        )
        .route(
            "/admin",
            get(|State(v): State<JwtValidator>, h: HeaderMap| async move {
                guarded(&v, &h, "admin").await
            }),
        )
        .with_state(validator);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let origin = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    origin
}

async fn guarded(validator: &JwtValidator, headers: &HeaderMap, scope: &str) -> Response {
    let challenge = |status: StatusCode, error: &str| {
        let value = format!("Bearer error=\"{error}\"");
        (status, [(header::WWW_AUTHENTICATE, value)]).into_response()
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(bearer) = bearer else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
        )
            .into_response();
    };
    match validator.validate(bearer).await {
        Ok(verified) if verified.has_scope(scope) => axum::Json(json!({
            "client_id": verified.client_id(),
            "aud": verified.audiences(),
            "scopes": verified.scopes(),
        }))
        .into_response(),
        Ok(_) => challenge(StatusCode::FORBIDDEN, "insufficient_scope"),
        Err(ValidationError::InsufficientScope { .. }) => {
            challenge(StatusCode::FORBIDDEN, "insufficient_scope")
        }
        Err(_) => challenge(StatusCode::UNAUTHORIZED, "invalid_token"),
    }
}

fn http_client() -> reqwest::ClientBuilder {
    reqwest::Client::builder().timeout(Duration::from_secs(10))
}

#[tokio::test]
async fn the_peers_tokens_open_the_api_and_the_answers_are_200_403_401() {
    let peer = peer_or_skip!();
    let api = start_api(peer.validator(JWT_API)).await;
    let grant = peer.client_credentials(CC_BASIC, &["read"], JWT_API);
    let (counting, token_requests) = Counting::new(grant);
    let auth = BearerAuth::builder(CachedTokenSource::new(counting))
        .allow_origin(&api)
        .build()
        .expect("BearerAuth");
    let client = auth.client_builder(http_client()).expect("client").build();

    let response = client
        .get(format!("{api}/contacts"))
        .send()
        .await
        .expect("GET /contacts");
    assert_eq!(response.status(), 200);
    let claims: Value =
        serde_json::from_slice(&response.bytes().await.expect("body")).expect("claims");
    assert_eq!(claims["client_id"], CC_BASIC.id);
    assert_eq!(claims["aud"], json!([JWT_API]));
    assert_eq!(claims["scopes"], json!(["read"]));

    let response = client
        .get(format!("{api}/admin"))
        .send()
        .await
        .expect("GET /admin");
    assert_eq!(response.status(), 403, "a missing scope is 403, not 401");
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        "Bearer error=\"insufficient_scope\""
    );
    assert_eq!(
        token_requests.load(Ordering::SeqCst),
        1,
        "a 403 is no reason for a new token"
    );

    let response = http_client()
        .build()
        .expect("client")
        .get(format!("{api}/contacts"))
        .send()
        .await
        .expect("GET without a token");
    assert_eq!(response.status(), 401);
}
