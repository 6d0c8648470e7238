//! ID token validation (OpenID Connect Core §3.1.3.7), with the provider's keys
//! from the same [`JwksCache`] that validates access tokens.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use erpnet_auth_core::constant_time_eq;

use crate::claims::{ErpNetClaims, parse_audiences, parse_numeric_date, unix_now};
use crate::jose::Algorithm;
use crate::validation::error::ValidationError;
use crate::validation::jwks::JwksCache;
use crate::validation::jws;
use crate::validation::validator::{allowed_algorithm, parse_claims, verify_signature};

/// A validated ID token: who signed in. The raw token is kept (for
/// `id_token_hint` at logout) but never printed.
#[derive(Clone)]
pub struct IdToken {
    raw: SecretString,
    claims: Map<String, Value>,
    subject: String,
    expires_at: i64,
}

impl IdToken {
    /// `sub`: the user (ERP.net: the login name).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// `exp`, seconds since the Unix epoch.
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }

    /// Any claim, as JSON.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    /// All claims, as JSON.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// ERP.net's claims, typed.
    pub fn erpnet(&self) -> ErpNetClaims {
        serde_json::from_value(Value::Object(self.claims.clone())).unwrap_or_default()
    }

    /// The token itself, for `id_token_hint`. Handle it with care.
    pub fn expose_secret(&self) -> &str {
        self.raw.expose_secret()
    }
}

impl fmt::Debug for IdToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdToken")
            .field("subject", &self.subject)
            .field("expires_at", &self.expires_at)
            .field("raw", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// What an ID token must match.
pub(crate) struct IdTokenCheck<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    /// The `nonce` the request sent; `None` when it sent none (the device
    /// grant), and then the token must carry none.
    pub(crate) nonce: Option<&'a str>,
    pub(crate) algorithms: &'a [Algorithm],
    pub(crate) leeway: i64,
    /// The access token issued with it, for `at_hash`.
    pub(crate) access_token: Option<&'a str>,
}

/// Validates an ID token; refetches the key set once (within its cooldown) for
/// an unknown `kid`.
pub(crate) async fn validate(
    raw: &str,
    jwks: &JwksCache,
    check: &IdTokenCheck<'_>,
) -> Result<IdToken, ValidationError> {
    jwks.check_with_refetch(|| validate_now(raw, jwks, check))
        .await
}

fn validate_now(
    raw: &str,
    jwks: &JwksCache,
    check: &IdTokenCheck<'_>,
) -> Result<IdToken, ValidationError> {
    if raw.len() > crate::validation::validator::DEFAULT_MAX_TOKEN_LENGTH {
        return Err(ValidationError::TooLong);
    }
    let jws = jws::decode(raw)?;
    let alg = allowed_algorithm(&jws.header.alg, check.algorithms)?;
    // An access token (`at+jwt`) must never pass as an ID token.
    if jws.header.typ.as_deref().is_some_and(|t| {
        !t.eq_ignore_ascii_case("JWT") && !t.eq_ignore_ascii_case("application/jwt")
    }) {
        return Err(ValidationError::WrongType);
    }
    if jws.header.crit.is_some() {
        return Err(ValidationError::CriticalHeader);
    }
    verify_signature(&jws, alg, jwks)?;

    // As strictly as an access token's: one object, no claim twice.
    let claims: Map<String, Value> = parse_claims(&jws.payload)?;
    match claims.get("iss") {
        None => return Err(ValidationError::MissingClaim("iss")),
        Some(Value::String(iss)) if iss == check.issuer => {}
        Some(_) => return Err(ValidationError::WrongIssuer),
    }
    let audiences = claims
        .get("aud")
        .ok_or(ValidationError::MissingClaim("aud"))
        .and_then(|aud| parse_audiences(aud).ok_or(ValidationError::MalformedClaims("`aud`")))?;
    if !audiences.iter().any(|a| a == check.client_id) {
        return Err(ValidationError::WrongAudience);
    }
    // With several audiences, or whenever present, `azp` must be this client.
    match claims.get("azp") {
        Some(Value::String(azp)) if azp == check.client_id => {}
        Some(_) => return Err(ValidationError::WrongAudience),
        None if audiences.len() > 1 => return Err(ValidationError::MissingClaim("azp")),
        None => {}
    }
    let now = unix_now();
    let date = |name: &'static str| {
        claims
            .get(name)
            .ok_or(ValidationError::MissingClaim(name))
            .and_then(|v| {
                parse_numeric_date(v).ok_or(ValidationError::MalformedClaims(
                    "a date claim is not a number",
                ))
            })
    };
    let expires_at = date("exp")?;
    if now >= expires_at.saturating_add(check.leeway) {
        return Err(ValidationError::Expired);
    }
    if date("iat")? > now.saturating_add(check.leeway) {
        return Err(ValidationError::IssuedInFuture);
    }
    match (claims.get("nonce"), check.nonce) {
        (Some(Value::String(nonce)), Some(sent)) if constant_time_eq(nonce, sent) => {}
        (None, None) => {}
        (Some(_), _) => return Err(ValidationError::WrongNonce),
        (None, Some(_)) => return Err(ValidationError::MissingClaim("nonce")),
    }
    // `null` is no `at_hash`, as a `null` claim is absent in access tokens;
    // any other value that is not a string is refused, never skipped.
    match (claims.get("at_hash"), check.access_token) {
        (None | Some(Value::Null), _) => {}
        (Some(Value::String(at_hash)), Some(access_token)) => {
            if *at_hash != token_hash(alg, access_token) {
                return Err(ValidationError::WrongAccessTokenHash);
            }
        }
        (Some(Value::String(_)), None) => {}
        (Some(_), _) => return Err(ValidationError::MalformedClaims("`at_hash`")),
    }
    let subject = match claims.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
        _ => return Err(ValidationError::MissingClaim("sub")),
    };
    Ok(IdToken {
        raw: SecretString::from(raw.to_owned()),
        claims,
        subject,
        expires_at,
    })
}

/// `at_hash`: the left half of the hash of the access token, with the hash of
/// the signature algorithm (SHA-512 for EdDSA), base64url.
fn token_hash(alg: Algorithm, token: &str) -> String {
    use aws_lc_rs::digest;
    let algorithm = match alg {
        Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256 => &digest::SHA256,
        Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 => &digest::SHA384,
        Algorithm::RS512 | Algorithm::PS512 | Algorithm::EdDSA => &digest::SHA512,
    };
    let hash = digest::digest(algorithm, token.as_bytes());
    let bytes = hash.as_ref();
    URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

#[cfg(test)]
mod tests {
    use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, MockIdentity, TokenSpec};
    use serde_json::json;

    use super::*;

    async fn check(
        identity: &MockIdentity,
        raw: &str,
        access_token: Option<&str>,
    ) -> Result<IdToken, ValidationError> {
        check_nonce(identity, raw, access_token, Some("n-1")).await
    }

    async fn check_nonce(
        identity: &MockIdentity,
        raw: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<IdToken, ValidationError> {
        let jwks =
            JwksCache::new(url::Url::parse(&identity.jwks_uri()).expect("url")).expect("jwks");
        let issuer = identity.issuer();
        let check = IdTokenCheck {
            issuer: &issuer,
            client_id: DEFAULT_CLIENT_ID,
            nonce,
            algorithms: &[Algorithm::RS256],
            leeway: 30,
            access_token,
        };
        validate(raw, &jwks, &check).await
    }

    #[tokio::test]
    async fn without_a_nonce_sent_the_token_must_carry_none() {
        // The device grant sends no nonce: an ID token with one was made for another flow.
        let identity = MockIdentity::start().await;
        let without = identity.mint(TokenSpec::id_token().remove_claim("nonce"));
        check_nonce(&identity, &without, None, None)
            .await
            .expect("no nonce sent, none came back");
        let with = identity.mint(TokenSpec::id_token().claim("nonce", json!("n-1")));
        let error = check_nonce(&identity, &with, None, None)
            .await
            .expect_err("a nonce nobody sent");
        assert!(matches!(error, ValidationError::WrongNonce), "{error}");
    }

    #[tokio::test]
    async fn id_token_rules() {
        let identity = MockIdentity::start().await;
        let base = || TokenSpec::id_token().claim("nonce", json!("n-1"));
        let good = identity.mint(base());
        let token = check(&identity, &good, None).await.expect("valid");
        assert!(!token.subject().is_empty());
        assert!(!format!("{token:?}").contains(&good));

        let refused = [
            ("expired", identity.mint(base().expires_in(-600)), "Expired"),
            (
                "another client",
                identity.mint(base().client_id("someone.else")),
                "WrongAudience",
            ),
            (
                "wrong nonce",
                identity.mint(base().claim("nonce", json!("n-2"))),
                "WrongNonce",
            ),
            (
                "no nonce",
                identity.mint(base().remove_claim("nonce")),
                "MissingClaim",
            ),
            (
                "access token",
                identity.mint(TokenSpec::access_token().claim("nonce", json!("n-1"))),
                "WrongType",
            ),
            (
                "wrong issuer",
                identity.mint(base().issuer("https://evil.example/id")),
                "WrongIssuer",
            ),
            (
                "foreign key",
                identity.mint(base().foreign_key()),
                "BadSignature",
            ),
            (
                "several audiences without azp",
                identity.mint(base().audiences([DEFAULT_CLIENT_ID, "other"])),
                "MissingClaim",
            ),
            (
                "azp of another client",
                identity.mint(base().claim("azp", json!("other"))),
                "WrongAudience",
            ),
            (
                "no sub",
                identity.mint(base().remove_claim("sub")),
                "MissingClaim",
            ),
        ];
        for (name, raw, expected) in refused {
            let error = check(&identity, &raw, None).await.expect_err(name);
            assert!(
                format!("{error:?}").starts_with(expected),
                "{name}: {error:?}"
            );
        }
        let several = identity.mint(
            base()
                .audiences([DEFAULT_CLIENT_ID, "other"])
                .claim("azp", json!(DEFAULT_CLIENT_ID)),
        );
        assert!(
            check(&identity, &several, None).await.is_ok(),
            "azp names this client"
        );

        let hashed = identity.mint(base().claim(
            "at_hash",
            json!(token_hash(Algorithm::RS256, "the-access-token")),
        ));
        assert!(
            check(&identity, &hashed, Some("the-access-token"))
                .await
                .is_ok()
        );
        let error = check(&identity, &hashed, Some("another-access-token"))
            .await
            .expect_err("at_hash");
        assert!(
            matches!(error, ValidationError::WrongAccessTokenHash),
            "{error:?}"
        );
    }

    /// ID tokens with exactly the payload given, signed with a local Ed25519
    /// key (the mock identity signs JSON objects, which cannot repeat a name).
    struct Signer {
        pair: aws_lc_rs::signature::Ed25519KeyPair,
        jwks: JwksCache,
    }

    const ISSUER: &str = "https://demo.my.erp.net/id";

    impl Signer {
        fn new() -> Self {
            use aws_lc_rs::signature::KeyPair as _;
            let pair = aws_lc_rs::signature::Ed25519KeyPair::generate().expect("key");
            let jwk = json!({"kty": "OKP", "crv": "Ed25519", "kid": "k",
                             "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())});
            let jwks =
                JwksCache::from_json(&json!({ "keys": [jwk] }).to_string(), 8).expect("jwks");
            Self { pair, jwks }
        }

        fn check(&self, payload: &str) -> Result<IdToken, ValidationError> {
            let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": "k"});
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(payload)
            );
            let signature = self.pair.sign(input.as_bytes());
            let raw = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()));
            validate_now(
                &raw,
                &self.jwks,
                &IdTokenCheck {
                    issuer: ISSUER,
                    client_id: "app",
                    nonce: Some("n-1"),
                    algorithms: &[Algorithm::EdDSA],
                    leeway: 30,
                    access_token: Some("the-access-token"),
                },
            )
        }
    }

    /// The claims of a valid ID token, without braces, to add to.
    fn valid_claims() -> String {
        let now = unix_now();
        format!(
            r#""iss": "{ISSUER}", "aud": "app", "sub": "jdoe", "nonce": "n-1", "iat": {now}, "exp": {}"#,
            now + 300
        )
    }

    #[test]
    fn a_non_string_at_hash_is_refused_not_ignored() {
        let signer = Signer::new();
        let at_hash = token_hash(Algorithm::EdDSA, "the-access-token");
        let good = format!(r#"{{{}, "at_hash": "{at_hash}"}}"#, valid_claims());
        assert!(signer.check(&good).is_ok());
        for value in ["5", "[\"x\"]", "{}", "true"] {
            let payload = format!(r#"{{{}, "at_hash": {value}}}"#, valid_claims());
            let error = signer.check(&payload).expect_err(value);
            assert!(
                matches!(error, ValidationError::MalformedClaims("`at_hash`")),
                "{value}: {error:?}"
            );
        }
    }

    #[test]
    fn a_claim_given_twice_is_refused_as_for_access_tokens() {
        let signer = Signer::new();
        assert!(signer.check(&format!("{{{}}}", valid_claims())).is_ok());
        for twice in [
            r#""sub": "admin""#,
            r#""nonce": "n-1""#,
            r#""iss": "https://evil.example/id""#,
            r#""aud": "app""#,
        ] {
            // Last wins would read `sub` as "admin": refused instead.
            let payload = format!("{{{}, {twice}}}", valid_claims());
            let error = signer.check(&payload).expect_err(twice);
            assert!(
                matches!(error, ValidationError::MalformedClaims(_)),
                "{twice}: {error:?}"
            );
        }
        let custom = format!(r#"{{{}, "role": "user", "role": "admin"}}"#, valid_claims());
        assert!(
            matches!(
                signer.check(&custom),
                Err(ValidationError::MalformedClaims(_))
            ),
            "any claim, not only the registered ones"
        );
    }

    #[test]
    fn at_hash_matches_the_oidc_core_example() {
        // OpenID Connect Core, Appendix A.3: access token and its at_hash (RS256).
        assert_eq!(
            token_hash(
                Algorithm::RS256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
