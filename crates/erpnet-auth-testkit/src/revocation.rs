//! `POST {issuer}/connect/revocation` (RFC 7009): a client revokes one of its tokens.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::backchannel::{self, FormRequest, OAuthError};
use crate::client_auth::authenticate;
use crate::state::Shared;

/// Handles a revocation request once failure injection has let it through.
pub(crate) fn handle(state: &Shared, request: FormRequest) -> Response {
    match process(state, request) {
        Ok(()) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::OK;
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => error.into_response(),
    }
}

/// Authenticates the client as the token endpoint does, then revokes the token if it is the
/// client's: a refresh token with its whole grant (RFC 7009 §2.1), an access token alone.
/// Unknown tokens and other clients' tokens are answered `200` all the same (RFC 7009 §2.2,
/// and IdentityServer does not say whose a token is).
fn process(state: &Shared, request: FormRequest) -> Result<(), OAuthError> {
    let form = request.form?;
    let credentials = backchannel::credentials(&request.headers, &form)?
        .ok_or(OAuthError::code("invalid_client"))?;
    let client = authenticate(state, &credentials)?;
    let token = form
        .get("token")
        .ok_or(OAuthError::invalid_request("token is missing"))?;
    match form.get("token_type_hint") {
        None | Some("access_token" | "refresh_token") => {}
        Some(_) => return Err(OAuthError::code("unsupported_token_type")),
    }
    state.revoke(token, client.id());
    Ok(())
}
