//! `POST {issuer}/connect/introspect` (RFC 7662): what an access token means, for an API
//! resource (IdentityServer style) or a confidential client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::api_resource::ApiResource;
use crate::backchannel::{self, FormRequest, OAuthError, json_response};
use crate::client::Client;
use crate::client_auth::authenticate;
use crate::jwt::Object;
use crate::state::Shared;

/// Who asked.
enum Caller {
    /// An API resource: sees tokens meant for it, and only its own scopes.
    Resource(ApiResource),
    /// A confidential client: sees only the tokens issued to it.
    Client(Client),
}

/// Handles an introspection request once failure injection has let it through.
pub(crate) fn handle(state: &Shared, request: FormRequest) -> Response {
    let form = match request.form {
        Ok(form) => form,
        Err(error) => return error.into_response(),
    };
    let caller = match backchannel::credentials(&request.headers, &form) {
        Ok(Some(credentials)) => credentials
            .secret
            .as_ref()
            .and_then(|secret| {
                state
                    .api_resource(&credentials.client_id)
                    .filter(|api| &api.secret == secret)
                    .map(Caller::Resource)
            })
            .or_else(|| {
                // A confidential client, by its secret or its client assertion.
                authenticate(state, &credentials)
                    .ok()
                    .filter(|client| !client.is_public())
                    .map(Caller::Client)
            }),
        _ => None,
    };
    let Some(caller) = caller else {
        return unauthorized();
    };
    let Some(token) = form.get("token") else {
        return OAuthError::invalid_request("token is missing").into_response();
    };
    // Only access tokens can be introspected (as at IdentityServer 4), so `token_type_hint`
    // changes nothing.
    let answer = state
        .active_access_token_claims(token)
        .and_then(|claims| view(&caller, claims))
        .unwrap_or_else(|| json!({ "active": false }));
    json_response(StatusCode::OK, &answer)
}

/// What `caller` may learn about an active token: `None` if it may not see it at all.
fn view(caller: &Caller, mut claims: Object) -> Option<Value> {
    let mut scopes = strings(claims.get("scope"));
    match caller {
        Caller::Resource(api) => {
            if !strings(claims.get("aud")).contains(&api.name) {
                return None;
            }
            scopes.retain(|scope| api.scopes.contains(scope));
            if scopes.is_empty() {
                return None;
            }
        }
        Caller::Client(client) => {
            if claims.get("client_id").and_then(Value::as_str) != Some(client.id()) {
                return None;
            }
        }
    }
    claims.insert("scope".to_owned(), json!(scopes.join(" ")));
    claims.insert("active".to_owned(), json!(true));
    claims.insert("token_type".to_owned(), json!("Bearer"));
    Some(Value::Object(claims))
}

/// A claim that is a string, a space-separated string (for `scope`) or an array of strings.
fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(text)) => text.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// `401` for a caller that did not authenticate as an API resource or confidential client.
fn unauthorized() -> Response {
    let mut response = json_response(
        StatusCode::UNAUTHORIZED,
        &json!({ "error": "invalid_client" }),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"introspection\""),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Object {
        match json!({
            "aud": ["DomainAPI", "OLAP"],
            "scope": ["openid", "read", "update"],
            "client_id": "app",
        }) {
            Value::Object(object) => object,
            _ => Object::new(),
        }
    }

    #[test]
    fn an_api_resource_sees_only_its_scopes_of_tokens_for_it() {
        let api = Caller::Resource(ApiResource::new("DomainAPI", "s").scopes(["read"]));
        let answer = view(&api, claims()).expect("visible");
        assert_eq!(answer["scope"], "read");
        assert_eq!(answer["active"], true);
        let other = Caller::Resource(ApiResource::new("TableAPI", "s"));
        assert!(view(&other, claims()).is_none());
        let no_scope = Caller::Resource(ApiResource::new("OLAP", "s").scopes(["admin"]));
        assert!(view(&no_scope, claims()).is_none());
    }

    #[test]
    fn a_client_sees_only_its_own_tokens_with_every_scope() {
        let own = Caller::Client(Client::new("app", "s"));
        assert_eq!(
            view(&own, claims()).expect("visible")["scope"],
            "openid read update"
        );
        assert!(view(&Caller::Client(Client::new("other", "s")), claims()).is_none());
    }
}
