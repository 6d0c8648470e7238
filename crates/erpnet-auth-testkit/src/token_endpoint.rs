//! `POST {issuer}/connect/token`: client authentication and the grants, as ERP.net answers
//! them. The grants that act for a signed-in user live in `user_grants`.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::backchannel::{self, FormRequest, OAuthError, json_response};
use crate::client::{CLIENT_CREDENTIALS, Client, DEVICE_CODE};
use crate::client_auth::authenticate;
use crate::device;
use crate::jwt::Subject;
use crate::params::Params;
use crate::state::Shared;
use crate::token_request::TokenRequestRecord;
use crate::user_grants;

/// Scopes that are never issued for client credentials.
const IDENTITY_SCOPES: [&str; 3] = ["openid", "profile", "offline_access"];

/// Handles a token request once failure injection has let it through.
pub(crate) fn handle(state: &Shared, request: FormRequest) -> Response {
    match process(state, request) {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(error) => error.into_response(),
    }
}

fn process(state: &Shared, request: FormRequest) -> Result<Value, OAuthError> {
    let form = request.form?;
    let credentials = backchannel::credentials(&request.headers, &form)?
        .ok_or(OAuthError::code("invalid_client"))?;
    state.record_token_request(TokenRequestRecord {
        auth_method: credentials.method,
        client_id: credentials.client_id.clone(),
        form: form.pairs_without("client_secret"),
    });
    let client = authenticate(state, &credentials)?;
    match form.get("grant_type") {
        None => Err(OAuthError::invalid_request("grant_type is missing")),
        Some(CLIENT_CREDENTIALS) => client_credentials(state, &client, &form),
        Some(user_grants::AUTHORIZATION_CODE) => {
            user_grants::authorization_code(state, &client, &form)
        }
        Some(user_grants::REFRESH_TOKEN) => user_grants::refresh_token(state, &client, &form),
        Some(DEVICE_CODE) => device::token(state, &client, &form),
        Some(_) => Err(OAuthError::code("unsupported_grant_type")),
    }
}

fn client_credentials(state: &Shared, client: &Client, form: &Params) -> Result<Value, OAuthError> {
    if !client.allows_grant(CLIENT_CREDENTIALS) {
        return Err(OAuthError::code("unauthorized_client"));
    }
    let mut scopes: Vec<String> = Vec::new();
    for scope in form.get("scope").unwrap_or_default().split_whitespace() {
        if IDENTITY_SCOPES.contains(&scope) || !client.allows_scope(scope) {
            return Err(OAuthError::code("invalid_scope"));
        }
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    if scopes.is_empty() {
        // No scope asked for: the token gets every API scope of the client.
        scopes = api_scopes(client.allowed_scopes());
    }

    let subject = Subject::Service {
        system_user: client.system_user_name(),
    };
    let (access_token, lifetime_secs) = state.issue_access_token(client, subject, &scopes, None);
    Ok(json!({
        "access_token": access_token,
        "expires_in": lifetime_secs,
        "token_type": "Bearer",
        "scope": scopes.join(" "),
    }))
}

/// The scopes a client-credentials token gets when the request names none.
pub(crate) fn api_scopes(allowed: &[String]) -> Vec<String> {
    allowed
        .iter()
        .filter(|scope| !IDENTITY_SCOPES.contains(&scope.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_scopes_are_not_granted_by_default() {
        let allowed = ["read".to_owned(), "openid".to_owned(), "update".to_owned()];
        assert_eq!(
            api_scopes(&allowed),
            ["read".to_owned(), "update".to_owned()]
        );
    }
}
