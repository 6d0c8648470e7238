//! Logout tokens (OpenID Connect Back-Channel Logout 1.0, §2.4 and §2.6): what a
//! provider posts to a client's back-channel logout URI when a user's session
//! ends there.

use std::fmt;

use serde_json::{Map, Value};

use crate::claims::{parse_audiences, parse_numeric_date, unix_now};
use crate::sign_in::authorization_code::AuthorizationCodeFlow;
use crate::validation::error::ValidationError;
use crate::validation::jws;
use crate::validation::validator::{DEFAULT_MAX_TOKEN_LENGTH, allowed_algorithm, verify_signature};

/// The member of `events` that makes a JWT a back-channel logout token.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A validated logout token: which sign-ins of this client end. It names a
/// session (`sid`), a user (`sub`), or both; with both, only that session of
/// that user ends.
#[derive(Clone)]
pub struct LogoutToken {
    subject: Option<String>,
    session_id: Option<String>,
    jwt_id: Option<String>,
    issued_at: i64,
}

impl LogoutToken {
    /// `sub`: the user whose sessions end, if the token names one.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// `sid`: the provider's session that ended, if the token names one.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// `jti`, for an application that remembers the tokens it has seen.
    pub fn jwt_id(&self) -> Option<&str> {
        self.jwt_id.as_deref()
    }

    /// `iat`, seconds since the Unix epoch.
    pub fn issued_at(&self) -> i64 {
        self.issued_at
    }
}

impl fmt::Debug for LogoutToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogoutToken")
            .field("subject", &self.subject)
            .field("session_id", &self.session_id)
            .field("issued_at", &self.issued_at)
            .finish_non_exhaustive()
    }
}

impl AuthorizationCodeFlow {
    /// Validates a logout token posted to this client's back-channel logout URI
    /// (OpenID Connect Back-Channel Logout 1.0, §2.6): the signature with the
    /// provider's keys (the same key set and algorithms as ID tokens, one
    /// refetch for an unknown key), header `typ: logout+jwt`, `iss`, `aud` (and
    /// `azp`) naming this client, `iat` not in the future, `exp` when present,
    /// an `events` object with the back-channel logout event, `sid` or `sub`,
    /// and no `nonce` (so that an ID token never passes as a logout token).
    ///
    /// Replays (`jti`) are not tracked here: ending a session that has ended
    /// already does nothing.
    pub async fn validate_logout_token(&self, raw: &str) -> Result<LogoutToken, ValidationError> {
        let jwks = self.jwks();
        jwks.check_with_refetch(|| self.validate_logout_token_now(raw))
            .await
    }

    fn validate_logout_token_now(&self, raw: &str) -> Result<LogoutToken, ValidationError> {
        if raw.len() > DEFAULT_MAX_TOKEN_LENGTH {
            return Err(ValidationError::TooLong);
        }
        let (algorithms, leeway) = self.signature_policy();
        let jws = jws::decode(raw)?;
        let alg = allowed_algorithm(&jws.header.alg, algorithms)?;
        // Explicit typing (§2.4): neither an ID token nor an access token may
        // pass as a logout token.
        if !jws.header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case("logout+jwt") || t.eq_ignore_ascii_case("application/logout+jwt")
        }) {
            return Err(ValidationError::WrongType);
        }
        if jws.header.crit.is_some() {
            return Err(ValidationError::CriticalHeader);
        }
        verify_signature(&jws, alg, self.jwks())?;
        let claims: Map<String, Value> = serde_json::from_slice(&jws.payload)
            .map_err(|_| ValidationError::MalformedClaims("not a JSON object"))?;
        check_claims(
            &claims,
            self.discovery().issuer(),
            self.client().client_id(),
            leeway,
        )
    }
}

/// The claim checks of §2.6, steps 3 to 6.
fn check_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    client_id: &str,
    leeway: i64,
) -> Result<LogoutToken, ValidationError> {
    match claims.get("iss") {
        None => return Err(ValidationError::MissingClaim("iss")),
        Some(Value::String(iss)) if iss == issuer => {}
        Some(_) => return Err(ValidationError::WrongIssuer),
    }
    let audiences = claims
        .get("aud")
        .ok_or(ValidationError::MissingClaim("aud"))
        .and_then(|aud| parse_audiences(aud).ok_or(ValidationError::MalformedClaims("`aud`")))?;
    if !audiences.iter().any(|a| a == client_id) {
        return Err(ValidationError::WrongAudience);
    }
    match claims.get("azp") {
        Some(Value::String(azp)) if azp == client_id => {}
        Some(_) => return Err(ValidationError::WrongAudience),
        None => {}
    }
    let now = unix_now();
    let date = |name: &'static str| {
        claims.get(name).map(|value| {
            parse_numeric_date(value).ok_or(ValidationError::MalformedClaims(
                "a date claim is not a number",
            ))
        })
    };
    let issued_at = date("iat").ok_or(ValidationError::MissingClaim("iat"))??;
    if issued_at > now.saturating_add(leeway) {
        return Err(ValidationError::IssuedInFuture);
    }
    if let Some(expires_at) = date("exp").transpose()?
        && now >= expires_at.saturating_add(leeway)
    {
        return Err(ValidationError::Expired);
    }
    match claims.get("events") {
        Some(Value::Object(events)) => match events.get(BACKCHANNEL_LOGOUT_EVENT) {
            Some(Value::Object(_)) => {}
            Some(_) => {
                return Err(ValidationError::MalformedClaims(
                    "the back-channel logout event is not a JSON object",
                ));
            }
            None => return Err(ValidationError::MissingClaim("events")),
        },
        Some(_) => {
            return Err(ValidationError::MalformedClaims(
                "`events` is not an object",
            ));
        }
        None => return Err(ValidationError::MissingClaim("events")),
    }
    if claims.contains_key("nonce") {
        return Err(ValidationError::MalformedClaims(
            "a logout token must not carry a `nonce`",
        ));
    }
    let text = |name: &'static str| match claims.get(name) {
        None => Ok(None),
        Some(Value::String(value)) if !value.is_empty() => Ok(Some(value.clone())),
        Some(_) => Err(ValidationError::MalformedClaims("`sub`, `sid` or `jti`")),
    };
    let subject = text("sub")?;
    let session_id = text("sid")?;
    if subject.is_none() && session_id.is_none() {
        return Err(ValidationError::MissingClaim("sid or sub"));
    }
    Ok(LogoutToken {
        subject,
        session_id,
        jwt_id: text("jti")?,
        issued_at,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, MockIdentity, TokenSpec};
    use serde_json::json;

    use super::*;
    use crate::discovery::Discovery;

    async fn flow(identity: &MockIdentity) -> AuthorizationCodeFlow {
        let discovery = Discovery::fetch(&identity.issuer())
            .await
            .expect("discovery");
        let client = crate::ClientConfig::builder(Arc::new(discovery), DEFAULT_CLIENT_ID)
            .client_secret(DEFAULT_CLIENT_SECRET)
            .build()
            .expect("client");
        AuthorizationCodeFlow::builder(client)
            .build()
            .expect("flow")
    }

    #[tokio::test]
    async fn logout_tokens_are_checked_as_section_2_6_says() {
        let identity = MockIdentity::start().await;
        let flow = flow(&identity).await;
        let base = || TokenSpec::logout_token().claim("sid", json!("SID-1"));
        let good = identity.mint(base());
        let token = flow.validate_logout_token(&good).await.expect("valid");
        assert_eq!(token.session_id(), Some("SID-1"));
        assert!(token.subject().is_some());
        assert!(token.jwt_id().is_some());
        assert!(!format!("{token:?}").contains(&good));
        let only_sub = identity.mint(base().remove_claim("sid"));
        let token = flow
            .validate_logout_token(&only_sub)
            .await
            .expect("sub only");
        assert_eq!(token.session_id(), None);

        let refused = [
            (
                "an ID token",
                identity.mint(TokenSpec::id_token()),
                "WrongType",
            ),
            ("no typ", identity.mint(base().typ(None)), "WrongType"),
            (
                "typ JWT",
                identity.mint(base().typ(Some("JWT"))),
                "WrongType",
            ),
            (
                "a nonce",
                identity.mint(base().claim("nonce", json!("n"))),
                "MalformedClaims",
            ),
            (
                "no events",
                identity.mint(base().remove_claim("events")),
                "MissingClaim",
            ),
            (
                "another event",
                identity.mint(base().claim("events", json!({"urn:other": {}}))),
                "MissingClaim",
            ),
            (
                "an event that is not an object",
                identity.mint(base().claim("events", json!({ BACKCHANNEL_LOGOUT_EVENT: true }))),
                "MalformedClaims",
            ),
            (
                "neither sid nor sub",
                identity.mint(base().remove_claim("sid").remove_claim("sub")),
                "MissingClaim",
            ),
            (
                "another client",
                identity.mint(base().client_id("someone.else")),
                "WrongAudience",
            ),
            (
                "another issuer",
                identity.mint(base().issuer("https://evil.example/id")),
                "WrongIssuer",
            ),
            ("expired", identity.mint(base().expires_in(-600)), "Expired"),
            (
                "issued in the future",
                identity.mint(base().issued_at_offset(600)),
                "IssuedInFuture",
            ),
            (
                "a foreign key",
                identity.mint(base().foreign_key()),
                "BadSignature",
            ),
            (
                "unsigned",
                identity.mint(base().alg(erpnet_auth_testkit::Alg::None)),
                "NoneAlgorithm",
            ),
        ];
        for (name, raw, expected) in refused {
            let error = flow.validate_logout_token(&raw).await.expect_err(name);
            assert!(
                format!("{error:?}").starts_with(expected),
                "{name}: {error:?}"
            );
        }
    }
}
