//! The device authorization grant (RFC 8628) as IdentityServer answers it:
//! `POST {issuer}/connect/deviceauthorization` hands out a device code and a user code, the
//! token endpoint answers `authorization_pending`, `slow_down`, `access_denied` or
//! `expired_token` until a test approves or denies the user code
//! ([`MockIdentity::approve_device`](crate::MockIdentity::approve_device),
//! [`MockIdentity::deny_device`](crate::MockIdentity::deny_device)).
//!
//! Device codes age and polls are paced by the Tokio clock, so a test with a paused clock
//! controls both.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::backchannel::{self, FormRequest, OAuthError, json_response};
use crate::client::{Client, DEVICE_CODE};
use crate::client_auth::authenticate;
use crate::device_codes::{Authorization, Status};
use crate::jwt::{self, SignIn};
use crate::keys::random_hex;
use crate::params::Params;
use crate::state::Shared;
use crate::store::Grant;
use crate::user_grants;

/// How long a device code lives (IdentityServer's default `DeviceCodeLifetime`).
pub(crate) const DEVICE_CODE_LIFETIME: Duration = Duration::from_secs(300);
/// The polling interval handed out (IdentityServer's default).
pub(crate) const POLLING_INTERVAL: Duration = Duration::from_secs(5);
/// RFC 8628 §3.5: each `slow_down` adds this to the interval.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// The path of the page a user opens to enter the code (not served: tests approve directly).
pub(crate) const VERIFICATION_PATH: &str = "/device";

/// `POST {issuer}/connect/deviceauthorization` (RFC 8628 §3.1, §3.2).
pub(crate) fn authorize(state: &Shared, request: FormRequest) -> Response {
    match start(state, request) {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(error) => error.into_response(),
    }
}

fn start(state: &Shared, request: FormRequest) -> Result<Value, OAuthError> {
    let form = request.form?;
    let credentials = backchannel::credentials(&request.headers, &form)?
        .ok_or(OAuthError::code("invalid_client"))?;
    let client = authenticate(state, &credentials)?;
    if !client.allows_grant(DEVICE_CODE) {
        return Err(OAuthError::code("unauthorized_client"));
    }
    let scopes = requested_scopes(&client, &form)?;
    let device_code = random_hex(32);
    let user_code = user_code();
    let issuer = state.issuer();
    let body = json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": format!("{issuer}{VERIFICATION_PATH}"),
        "verification_uri_complete": format!("{issuer}{VERIFICATION_PATH}?userCode={user_code}"),
        "expires_in": DEVICE_CODE_LIFETIME.as_secs(),
        "interval": POLLING_INTERVAL.as_secs(),
    });
    state.device_codes().by_device_code.insert(
        device_code,
        Authorization {
            client_id: client.id().to_owned(),
            user_code,
            scopes,
            expires_at: Instant::now() + DEVICE_CODE_LIFETIME,
            interval: POLLING_INTERVAL,
            last_poll: None,
            status: Status::Pending,
        },
    );
    Ok(body)
}

/// The scopes asked for, each allowed to the client (`invalid_scope` otherwise); all the
/// client's when none are named.
fn requested_scopes(client: &Client, form: &Params) -> Result<Vec<String>, OAuthError> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in form.get("scope").unwrap_or_default().split_whitespace() {
        if !client.allows_scope(scope) {
            return Err(OAuthError::code("invalid_scope"));
        }
        if !scopes.iter().any(|known| known == scope) {
            scopes.push(scope.to_owned());
        }
    }
    if scopes.is_empty() {
        scopes = client.allowed_scopes().to_vec();
    }
    Ok(scopes)
}

/// IdentityServer's default user code: nine digits.
fn user_code() -> String {
    let mut bytes = [0u8; 9];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator works");
    bytes.iter().map(|b| char::from(b'0' + b % 10)).collect()
}

/// `grant_type=urn:ietf:params:oauth:grant-type:device_code` at the token endpoint
/// (RFC 8628 §3.4, §3.5).
pub(crate) fn token(state: &Shared, client: &Client, form: &Params) -> Result<Value, OAuthError> {
    if !client.allows_grant(DEVICE_CODE) {
        return Err(OAuthError::code("unauthorized_client"));
    }
    let device_code = form
        .get("device_code")
        .ok_or(OAuthError::invalid_request("device_code is missing"))?;
    let now = Instant::now();
    let (sign_in, scopes) = {
        let mut codes = state.device_codes();
        let authorization = codes
            .by_device_code
            .get_mut(device_code)
            .filter(|a| a.client_id == client.id())
            .ok_or(OAuthError::code("invalid_grant"))?;
        if now >= authorization.expires_at {
            return Err(OAuthError::code("expired_token"));
        }
        let too_soon = authorization
            .last_poll
            .is_some_and(|last| now.saturating_duration_since(last) < authorization.interval);
        authorization.last_poll = Some(now);
        match &authorization.status {
            Status::Pending if too_soon => {
                authorization.interval += SLOW_DOWN_STEP;
                return Err(OAuthError::code("slow_down"));
            }
            Status::Pending => return Err(OAuthError::code("authorization_pending")),
            Status::Denied => return Err(OAuthError::code("access_denied")),
            Status::Redeemed => return Err(OAuthError::code("invalid_grant")),
            Status::Approved(sign_in) => {
                let approved = (SignIn::clone(sign_in), authorization.scopes.clone());
                authorization.status = Status::Redeemed;
                approved
            }
        }
    };
    let handle = state.sessions().start(sign_in.clone());
    state.sessions().add_client(&handle, client.id());
    let refresh_lifetime =
        i64::try_from(client.refresh_token_lifetime.as_secs()).unwrap_or(i64::MAX);
    let grant = Grant::new(
        client.id().to_owned(),
        sign_in,
        scopes.clone(),
        jwt::now().saturating_add(refresh_lifetime),
    );
    let grant_id = state.store().start_grant(grant.clone());
    Ok(user_grants::issue(
        state, client, grant_id, &grant, &scopes, None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_nine_digits() {
        let code = user_code();
        assert_eq!(code.len(), 9);
        assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
    }
}
