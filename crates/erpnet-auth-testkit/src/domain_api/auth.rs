//! Who is calling: the credential of a request, checked as ERP.net's Domain API checks it.
//!
//! `401` when there is no usable token (none, malformed, not an access token, signed by no
//! key the identity publishes, expired, revoked, or an unknown reference token); `403` when a
//! valid token was issued by another authority or for another audience, or lacks the scope
//! the method needs (`read` for reading, `update` for changes).
//!
//! The token is verified here with the identity's published keys through `jsonwebtoken`
//! (RS256 only, `exp` without leeway): the testkit shares no validation code with the
//! library it tests.

use axum::http::{HeaderMap, Method, header};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;

use crate::jwt::{self, Object};
use crate::state::{REFERENCE_TOKEN_PREFIX, Shared, lock};

/// The audience ERP.net's Domain API accepts (older tokens write it `DomainApi`).
const AUDIENCE: &str = "DomainAPI";

/// Why a request is refused before it reaches the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Denied {
    /// `401`, with what is wrong with the credential.
    Unauthorized(&'static str),
    /// `403`, with what is missing.
    Forbidden(String),
}

/// The checked caller: the scopes its token grants.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    scopes: Vec<String>,
}

/// The request's credential: `Authorization: Bearer …` or `X-Api-Key: …`, one of them.
pub(crate) fn credential(headers: &HeaderMap) -> Result<&str, Denied> {
    let bearer = headers.get(header::AUTHORIZATION);
    let api_key = headers.get("x-api-key");
    let value = match (bearer, api_key) {
        (None, None) => return Err(Denied::Unauthorized("No access token was sent.")),
        (Some(_), Some(_)) => {
            return Err(Denied::Unauthorized(
                "Send the token in Authorization or in X-Api-Key, not both.",
            ));
        }
        (Some(value), None) => {
            let text = value.to_str().unwrap_or_default();
            match text.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
                _ => return Err(Denied::Unauthorized("Authorization is not a Bearer token.")),
            }
        }
        (None, Some(value)) => value.to_str().unwrap_or_default().trim(),
    };
    if value.is_empty() {
        return Err(Denied::Unauthorized("The access token is empty."));
    }
    Ok(value)
}

/// Checks `token` against the identity: a JWT it signed or a reference token it issued.
pub(crate) fn authenticate(identity: &Shared, token: &str) -> Result<Caller, Denied> {
    let claims = if token.starts_with(REFERENCE_TOKEN_PREFIX) {
        identity
            .active_access_token_claims(token)
            .ok_or(Denied::Unauthorized(
                "The reference token is unknown, expired or revoked.",
            ))?
    } else {
        verify_jwt(identity, token)?
    };
    if claims.get("iss").and_then(Value::as_str) != Some(identity.issuer()) {
        return Err(Denied::Forbidden(
            "The access token was issued by another authority.".to_owned(),
        ));
    }
    if !strings(claims.get("aud"))
        .iter()
        .any(|audience| audience.eq_ignore_ascii_case(AUDIENCE))
    {
        return Err(Denied::Forbidden(format!(
            "The access token is not meant for the {AUDIENCE}."
        )));
    }
    Ok(Caller {
        scopes: strings(claims.get("scope")),
    })
}

/// Whether `caller` may use `method`: reading needs `read`, every change `update`.
pub(crate) fn authorize(caller: &Caller, method: &Method) -> Result<(), Denied> {
    let needed = if matches!(*method, Method::GET | Method::HEAD) {
        "read"
    } else {
        "update"
    };
    if caller.scopes.iter().any(|scope| scope == needed) {
        Ok(())
    } else {
        Err(Denied::Forbidden(format!(
            "The access token lacks the scope `{needed}`."
        )))
    }
}

/// The claims of an access token one of the identity's published keys signed, unexpired and
/// not revoked. The issuer is left for the caller, as a foreign issuer is a `403`.
fn verify_jwt(identity: &Shared, token: &str) -> Result<Object, Denied> {
    const INVALID: Denied = Denied::Unauthorized("The access token is invalid.");
    let header = jsonwebtoken::decode_header(token).map_err(|_| INVALID)?;
    if header.typ.as_deref() != Some("at+jwt") {
        return Err(Denied::Unauthorized("The token is not an access token."));
    }
    let kid = header.kid.ok_or(INVALID)?;
    let key = lock(&identity.keys)
        .published
        .iter()
        .find(|key| key.kid() == kid)
        .cloned()
        .ok_or(Denied::Unauthorized(
            "The access token is signed with an unknown key.",
        ))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_aud = false;
    validation.leeway = 0;
    validation.required_spec_claims = ["exp".to_owned()].into();
    let claims = jsonwebtoken::decode::<Object>(token, key.decoding_key(), &validation)
        .map_err(|error| match error.kind() {
            ErrorKind::ExpiredSignature => Denied::Unauthorized("The access token has expired."),
            _ => INVALID,
        })?
        .claims;
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if identity.store().is_access_token_revoked(jti) {
        return Err(Denied::Unauthorized("The access token was revoked."));
    }
    // `nbf` in the future, as ERP.net would: not yet usable.
    if claims
        .get("nbf")
        .and_then(Value::as_i64)
        .is_some_and(|nbf| nbf > jwt::now())
    {
        return Err(Denied::Unauthorized("The access token is not valid yet."));
    }
    Ok(claims)
}

/// A claim that is a string or an array of strings (ERP.net's `aud` and `scope` are arrays,
/// other providers' space-separated strings).
fn strings(claim: Option<&Value>) -> Vec<String> {
    match claim {
        Some(Value::String(text)) => text.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}
