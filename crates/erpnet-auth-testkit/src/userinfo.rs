//! `GET|POST {issuer}/connect/userinfo` (OpenID Connect Core §5.3): the signed-in user's
//! claims for an access token of theirs that has the `openid` scope; the `profile` scope adds
//! the profile claims, ERP.net's own among them, as strings where ERP.net sends strings.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value};

use crate::backchannel::json_response;
use crate::state::Shared;

/// Claims the `profile` scope releases.
const PROFILE_CLAIMS: [&str; 10] = [
    "name",
    "email",
    "email_verified",
    "locale",
    "id",
    "user_type",
    "is_admin",
    "db",
    "tid",
    "idp",
];

pub(crate) fn handle(state: &Shared, headers: &HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let Some(token) = token else {
        return challenge(StatusCode::UNAUTHORIZED, None);
    };
    let Some(claims) = state.active_access_token_claims(token) else {
        return challenge(StatusCode::UNAUTHORIZED, Some("invalid_token"));
    };
    let Some(subject) = claims.get("sub").cloned() else {
        // A service token (client credentials) speaks for no user.
        return challenge(StatusCode::FORBIDDEN, Some("insufficient_scope"));
    };
    let scopes: Vec<&str> = match claims.get("scope") {
        Some(Value::Array(scopes)) => scopes.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(scopes)) => scopes.split_whitespace().collect(),
        _ => Vec::new(),
    };
    if !scopes.contains(&"openid") {
        return challenge(StatusCode::FORBIDDEN, Some("insufficient_scope"));
    }
    let mut answer = Map::new();
    answer.insert("sub".to_owned(), subject);
    if scopes.contains(&"profile") {
        for name in PROFILE_CLAIMS {
            if let Some(value) = claims.get(name) {
                answer.insert(name.to_owned(), value.clone());
            }
        }
    }
    json_response(StatusCode::OK, &Value::Object(answer))
}

/// An RFC 6750 refusal.
fn challenge(status: StatusCode, error: Option<&str>) -> Response {
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = status;
    let value = match error {
        Some(error) => format!("Bearer error=\"{error}\""),
        None => "Bearer".to_owned(),
    };
    if let Ok(value) = HeaderValue::from_str(&value) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}
