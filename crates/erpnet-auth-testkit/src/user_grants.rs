//! The token endpoint's grants that act for a signed-in user: `authorization_code` (with PKCE)
//! and `refresh_token` (rotating), and the tokens they issue.

use serde_json::{Value, json};

use crate::backchannel::OAuthError;
pub(crate) use crate::client::AUTHORIZATION_CODE;
use crate::client::Client;
use crate::jwt::{self, IdTokenClaims, Subject};
use crate::keys::random_hex;
use crate::params::Params;
use crate::state::Shared;
use crate::store::{Grant, GrantId, Refusal};

/// The grant type of refresh token requests.
pub(crate) const REFRESH_TOKEN: &str = "refresh_token";
/// The scope that asks for an ID token.
pub(crate) const OPENID: &str = "openid";
/// The scope that asks for refresh tokens.
pub(crate) const OFFLINE_ACCESS: &str = "offline_access";

impl From<Refusal> for OAuthError {
    fn from(refusal: Refusal) -> OAuthError {
        let description = match refusal {
            Refusal::Unknown => "unknown, or issued to another client",
            Refusal::OtherClient => "unknown, or issued to another client",
            Refusal::Replayed => {
                tracing::debug!("a used code or refresh token came back: its grant is revoked");
                "already used: every token of this grant is now revoked"
            }
            Refusal::Revoked => "revoked",
            Refusal::Expired => "expired",
        };
        OAuthError::described("invalid_grant", description)
    }
}

/// `grant_type=authorization_code`: redeems a code once, for the client it was issued to,
/// with the same `redirect_uri` and the matching PKCE `code_verifier`.
pub(crate) fn authorization_code(
    state: &Shared,
    client: &Client,
    form: &Params,
) -> Result<Value, OAuthError> {
    if !client.allows_grant(AUTHORIZATION_CODE) {
        return Err(OAuthError::code("unauthorized_client"));
    }
    let code = form
        .get("code")
        .ok_or(OAuthError::invalid_request("code is missing"))?;
    let redirect_uri = form
        .get("redirect_uri")
        .ok_or(OAuthError::invalid_request("redirect_uri is missing"))?;
    let (entry, grant) = state.store().redeem_code(code, client.id(), jwt::now())?;
    if entry.redirect_uri != redirect_uri {
        return Err(OAuthError::described(
            "invalid_grant",
            "redirect_uri differs from the authorization request",
        ));
    }
    check_pkce(entry.code_challenge.as_deref(), form.get("code_verifier"))?;
    Ok(issue(
        state,
        client,
        entry.grant,
        &grant,
        &grant.scopes,
        entry.nonce.as_deref(),
    ))
}

/// `grant_type=refresh_token`: rotates the refresh token (the old one is used up, a new one
/// comes back) and issues an access token, narrowed to `scope` if the request has one.
pub(crate) fn refresh_token(
    state: &Shared,
    client: &Client,
    form: &Params,
) -> Result<Value, OAuthError> {
    if !client.allows_scope(OFFLINE_ACCESS) {
        return Err(OAuthError::code("unauthorized_client"));
    }
    let token = form
        .get("refresh_token")
        .ok_or(OAuthError::invalid_request("refresh_token is missing"))?;
    let requested = form.get("scope");
    let (grant_id, grant, scopes) =
        state
            .store()
            .rotate_refresh_token(token, client.id(), jwt::now(), |id, grant| {
                let scopes = narrowed_scopes(&grant.scopes, requested)?;
                Ok::<_, OAuthError>((id, grant.clone(), scopes))
            })?;
    Ok(issue(state, client, grant_id, &grant, &scopes, None))
}

/// The scopes of a refresh: those of the grant, or the subset the request names
/// (`invalid_scope` for any other).
fn narrowed_scopes(granted: &[String], requested: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let Some(requested) = requested else {
        return Ok(granted.to_vec());
    };
    let mut scopes: Vec<String> = Vec::new();
    for scope in requested.split_whitespace() {
        if !granted.iter().any(|granted| granted == scope) {
            return Err(OAuthError::described(
                "invalid_scope",
                "a refresh may only narrow the scopes of the grant",
            ));
        }
        if !scopes.iter().any(|known| known == scope) {
            scopes.push(scope.to_owned());
        }
    }
    Ok(if scopes.is_empty() {
        granted.to_vec()
    } else {
        scopes
    })
}

/// RFC 7636 §4.6: the verifier must hash to the challenge; a verifier without a challenge is
/// refused too (a downgrade, RFC 9700 §2.1.1).
fn check_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    let refused = |description| Err(OAuthError::described("invalid_grant", description));
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => {
            refused("code_verifier sent, but the authorization request had no code_challenge")
        }
        (Some(_), None) => refused("code_verifier is missing"),
        (Some(_), Some(verifier)) if !is_pkce_value(verifier) => {
            refused("code_verifier must be 43 to 128 unreserved characters")
        }
        (Some(challenge), Some(verifier)) if jwt::sha256_base64url(verifier) != challenge => {
            refused("code_verifier does not match the code_challenge")
        }
        (Some(_), Some(_)) => Ok(()),
    }
}

/// Whether `value` is a well-formed PKCE verifier or challenge: 43 to 128 characters from
/// `A-Z a-z 0-9 - . _ ~` (RFC 7636 §4.1, §4.2).
pub(crate) fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-._~".contains(&byte))
}

/// The token response of a user grant: an access token; an ID token when `openid` is among
/// `scopes`; a new refresh token when the grant has `offline_access`.
pub(crate) fn issue(
    state: &Shared,
    client: &Client,
    grant_id: GrantId,
    grant: &Grant,
    scopes: &[String],
    nonce: Option<&str>,
) -> Value {
    let subject = Subject::User(&grant.sign_in);
    let (access_token, lifetime_secs) =
        state.issue_access_token(client, subject, scopes, Some(grant_id));
    let mut body = json!({
        "access_token": access_token,
        "expires_in": lifetime_secs,
        "token_type": "Bearer",
        "scope": scopes.join(" "),
    });
    let Value::Object(fields) = &mut body else {
        return body;
    };
    if scopes.iter().any(|scope| scope == OPENID) {
        let claims = IdTokenClaims {
            issuer: state.issuer(),
            client_id: client.id(),
            sign_in: &grant.sign_in,
            nonce,
            access_token: Some(&access_token),
            now: jwt::now(),
        };
        fields.insert("id_token".to_owned(), json!(state.sign_id_token(&claims)));
    }
    if grant.scopes.iter().any(|scope| scope == OFFLINE_ACCESS) {
        // IdentityServer's handles: 32 random bytes, 64 uppercase hex characters.
        let refresh_token = random_hex(32);
        state
            .store()
            .insert_refresh_token(refresh_token.clone(), grant_id);
        fields.insert("refresh_token".to_owned(), json!(refresh_token));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_an_independent_implementation() {
        // Computed with Python's hashlib and base64.urlsafe_b64encode.
        let verifier = "dBjftJeZ4CVP-mJ92K9aySCPmjHMEY3ZQ-EQdATAgMB";
        let challenge = "VeEfnINde2xbnhGw7RaGalVnMtx7DTg5UdV3-TewhYY";
        assert_eq!(check_pkce(Some(challenge), Some(verifier)), Ok(()));
        let wrong = format!("{verifier}x");
        assert!(check_pkce(Some(challenge), Some(&wrong)).is_err());
        assert!(check_pkce(Some(challenge), None).is_err());
        assert!(check_pkce(None, Some(verifier)).is_err());
        assert_eq!(check_pkce(None, None), Ok(()));
    }

    #[test]
    fn pkce_values_are_43_to_128_unreserved_characters() {
        assert!(is_pkce_value(&"a".repeat(43)));
        assert!(is_pkce_value(&"-._~".repeat(32)));
        assert!(!is_pkce_value(&"a".repeat(42)));
        assert!(!is_pkce_value(&"a".repeat(129)));
        assert!(!is_pkce_value(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn a_refresh_may_only_narrow_the_scopes() {
        let granted = ["openid".to_owned(), "read".to_owned(), "update".to_owned()];
        assert_eq!(narrowed_scopes(&granted, None), Ok(granted.to_vec()));
        assert_eq!(
            narrowed_scopes(&granted, Some("read read")),
            Ok(vec!["read".to_owned()])
        );
        assert_eq!(
            narrowed_scopes(&granted, Some("read admin"))
                .err()
                .map(|error| error.code),
            Some("invalid_scope")
        );
    }
}
