//! The claims of a verified access token, with ERP.net's own claims typed.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::jose::Algorithm;

/// A verified access token: its signature, issuer, audience, lifetime and type
/// were checked. Cheap to clone.
///
/// The registered claims are parsed; every claim stays available through
/// [`claim`](Self::claim) and [`deserialize`](Self::deserialize), and ERP.net's
/// claims through [`erpnet`](Self::erpnet).
#[derive(Clone)]
pub struct VerifiedToken(Arc<Data>);

/// `iss`, `sub`, `jti` and `client_id` are read from `claims` when asked for,
/// so that a validation allocates no copies of them. A JWT's claims are kept
/// as its payload and parsed into a map only when first asked for: a
/// validation reads the claims it checks without building the map, and most
/// callers only ever look at a few.
struct Data {
    audiences: Vec<String>,
    expires_at: i64,
    not_before: Option<i64>,
    issued_at: Option<i64>,
    scopes: Vec<String>,
    key_id: Option<String>,
    algorithm: Option<Algorithm>,
    /// The JSON object the claims came from, when they came from a JWT.
    payload: Option<Box<[u8]>>,
    claims: OnceLock<Map<String, Value>>,
}

/// The claims of a checked token, as they came.
pub(crate) enum Claims {
    /// A JWT's payload, already checked to be one JSON object.
    #[cfg_attr(not(feature = "validation"), allow(dead_code))]
    Payload(Vec<u8>),
    /// Claims already parsed (an introspection response).
    #[cfg_attr(not(feature = "introspection"), allow(dead_code))]
    Map(Map<String, Value>),
}

/// The parts of a token the validator has checked, handed to
/// [`VerifiedToken::new`].
pub(crate) struct Checked {
    pub(crate) audiences: Vec<String>,
    pub(crate) expires_at: i64,
    pub(crate) not_before: Option<i64>,
    pub(crate) issued_at: Option<i64>,
    pub(crate) scopes: Vec<String>,
    pub(crate) key_id: Option<String>,
    pub(crate) algorithm: Option<Algorithm>,
    pub(crate) claims: Claims,
}

impl VerifiedToken {
    pub(crate) fn new(checked: Checked) -> Self {
        let (payload, claims) = match checked.claims {
            Claims::Payload(payload) => (Some(payload.into_boxed_slice()), OnceLock::new()),
            Claims::Map(map) => (None, OnceLock::from(map)),
        };
        Self(Arc::new(Data {
            audiences: checked.audiences,
            expires_at: checked.expires_at,
            not_before: checked.not_before,
            issued_at: checked.issued_at,
            scopes: checked.scopes,
            key_id: checked.key_id,
            algorithm: checked.algorithm,
            payload,
            claims,
        }))
    }

    /// A claim that is a string.
    fn text(&self, name: &str) -> Option<&str> {
        self.claims().get(name).and_then(Value::as_str)
    }

    /// `iss`.
    pub fn issuer(&self) -> &str {
        // Checked to be the configured issuer for validated tokens; for an
        // introspected one, whatever the provider said (empty if nothing).
        self.text("iss").unwrap_or_default()
    }

    /// `sub`: the user (ERP.net: the login name). Absent in service tokens
    /// (client credentials).
    pub fn subject(&self) -> Option<&str> {
        self.text("sub")
    }

    /// `client_id`: the application the token was issued to.
    pub fn client_id(&self) -> Option<&str> {
        self.text("client_id")
    }

    /// The subject, or for service tokens the client id: who is calling.
    pub fn caller(&self) -> Option<&str> {
        self.subject().or(self.client_id())
    }

    /// `aud`, as a list whether the token sent a string or an array.
    pub fn audiences(&self) -> &[String] {
        &self.0.audiences
    }

    /// The granted scopes, as a list: from `scope`, whether a JSON array
    /// (ERP.net) or a space-separated string (RFC 9068), or else from `scp`
    /// (Okta, Entra ID), an array or a string. `scope` wins when a token has
    /// both.
    pub fn scopes(&self) -> &[String] {
        &self.0.scopes
    }

    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.0.scopes.iter().any(|s| s == scope)
    }

    /// `exp`.
    pub fn expires_at(&self) -> SystemTime {
        seconds_to_time(self.0.expires_at)
    }

    /// `nbf`, if present.
    pub fn not_before(&self) -> Option<SystemTime> {
        self.0.not_before.map(seconds_to_time)
    }

    /// `iat`, if present.
    pub fn issued_at(&self) -> Option<SystemTime> {
        self.0.issued_at.map(seconds_to_time)
    }

    /// `jti`, if present.
    pub fn jwt_id(&self) -> Option<&str> {
        self.text("jti")
    }

    /// The `kid` of the key that verified the token.
    pub fn key_id(&self) -> Option<&str> {
        self.0.key_id.as_deref()
    }

    /// The algorithm that verified the token (`None` for a token validated by
    /// introspection).
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.0.algorithm
    }

    /// Whether the token was issued to a service (no `sub`, as with client
    /// credentials) rather than to a user.
    pub fn is_service_token(&self) -> bool {
        self.subject().is_none()
    }

    /// Any claim, as JSON.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims().get(name)
    }

    /// All claims, as JSON (parsed when first asked for, then kept).
    pub fn claims(&self) -> &Map<String, Value> {
        self.0.claims.get_or_init(|| {
            // The validator read every value of this payload as JSON, as
            // strictly as this parse does, before accepting it (see
            // `parse_claims` in the validator), so parsing it again cannot fail.
            self.0
                .payload
                .as_deref()
                .and_then(|payload| serde_json::from_slice(payload).ok())
                .unwrap_or_default()
        })
    }

    /// The claims deserialized into a type of your own (straight from the
    /// token's payload, without building the claims map).
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        match &self.0.payload {
            Some(payload) => serde_json::from_slice(payload),
            None => T::deserialize(self.claims()),
        }
    }

    /// ERP.net's claims, typed. Claims a token lacks are `None`.
    pub fn erpnet(&self) -> ErpNetClaims {
        self.deserialize().unwrap_or_default()
    }

    /// The expiry in seconds since the Unix epoch.
    pub(crate) fn expires_at_seconds(&self) -> i64 {
        self.0.expires_at
    }
}

impl fmt::Debug for VerifiedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedToken")
            .field("issuer", &self.issuer())
            .field("subject", &self.subject())
            .field("client_id", &self.client_id())
            .field("audiences", &self.0.audiences)
            .field("scopes", &self.0.scopes)
            .field("expires_at", &self.0.expires_at)
            .field("key_id", &self.0.key_id)
            .field("algorithm", &self.0.algorithm)
            .finish_non_exhaustive()
    }
}

/// A NumericDate as a `SystemTime`, clamped to 1601-01-01 ..= 9999-12-31,
/// which every platform's clock represents: the seconds come from a token, and
/// `SystemTime` arithmetic panics where the platform's range ends (on Windows,
/// about 30,000 years from now).
fn seconds_to_time(seconds: i64) -> SystemTime {
    const EARLIEST: i64 = -11_644_473_600;
    const LATEST: i64 = 253_402_300_799;
    let seconds = seconds.clamp(EARLIEST, LATEST);
    let span = Duration::from_secs(seconds.unsigned_abs());
    if seconds >= 0 {
        UNIX_EPOCH.checked_add(span)
    } else {
        UNIX_EPOCH.checked_sub(span)
    }
    .unwrap_or(UNIX_EPOCH)
}

/// The kind of ERP.net user a token was issued for (`user_type`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum UserType {
    /// `InternalUser`: an employee of the enterprise.
    InternalUser,
    /// `ExternalCommunityUser`: a customer or partner from the community.
    ExternalCommunityUser,
    /// `SystemUserNoLogin`: a system user that cannot sign in.
    SystemUserNoLogin,
    /// Any other value.
    Other(String),
}

impl<'de> Deserialize<'de> for UserType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Ok(match value.as_str() {
            "InternalUser" => Self::InternalUser,
            "ExternalCommunityUser" => Self::ExternalCommunityUser,
            "SystemUserNoLogin" => Self::SystemUserNoLogin,
            _ => Self::Other(value),
        })
    }
}

/// The claims ERP.net puts in its access tokens, typed.
///
/// User tokens (authorization code) carry the user claims; service tokens
/// (client credentials) carry the `client_system_user*` claims instead.
/// ERP.net sends `is_admin` and `email_verified` as the strings `"true"` and
/// `"false"`; both forms are accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct ErpNetClaims {
    /// `sub`: the user's login name.
    #[serde(default)]
    pub sub: Option<String>,
    /// `id`: the user's GUID, the stable identifier.
    #[serde(default)]
    pub id: Option<String>,
    /// `name`.
    #[serde(default)]
    pub name: Option<String>,
    /// `email`.
    #[serde(default)]
    pub email: Option<String>,
    /// `email_verified`.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub email_verified: Option<bool>,
    /// `locale`.
    #[serde(default)]
    pub locale: Option<String>,
    /// `user_type`.
    #[serde(default)]
    pub user_type: Option<UserType>,
    /// `is_admin`.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub is_admin: Option<bool>,
    /// `db`: the database the user signed in to.
    #[serde(default)]
    pub db: Option<String>,
    /// `tid`.
    #[serde(default)]
    pub tid: Option<String>,
    /// `sid`: the sign-in session.
    #[serde(default)]
    pub sid: Option<String>,
    /// `idp`: the identity provider the user signed in with.
    #[serde(default)]
    pub idp: Option<String>,
    /// `auth_time`.
    #[serde(default)]
    pub auth_time: Option<i64>,
    /// `client_id`: the application.
    #[serde(default)]
    pub client_id: Option<String>,
    /// `client_system_user`: the system user a service token acts as.
    #[serde(default)]
    pub client_system_user: Option<String>,
    /// `client_system_user_type`.
    #[serde(default)]
    pub client_system_user_type: Option<UserType>,
    /// `client_system_user_id`.
    #[serde(default)]
    pub client_system_user_id: Option<String>,
    /// `client_db`.
    #[serde(default)]
    pub client_db: Option<String>,
    /// `scope`, from a JSON array or a space-separated string. (ERP.net never
    /// sends `scp`; [`VerifiedToken::scopes`] reads every form.)
    #[serde(default, deserialize_with = "scope_list")]
    pub scope: Vec<String>,
}

impl ErpNetClaims {
    /// Whether the token is a service token (client credentials).
    pub fn is_service(&self) -> bool {
        self.sub.is_none() && self.client_system_user.is_some()
    }
}

fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::Bool(b)) => Some(b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    })
}

fn scope_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Value>::deserialize(deserializer)?
        .map(|v| parse_scopes(&v).unwrap_or_default())
        .unwrap_or_default())
}

/// The scopes a token grants: `scope` as a JSON array (ERP.net) or a
/// space-separated string (RFC 9068), or else `scp`, an array or a string
/// (Okta, Entra ID and others). `scope` wins when both are present. The error
/// names the malformed claim.
pub(crate) fn granted_scopes(
    scope: Option<&Value>,
    scp: Option<&Value>,
) -> Result<Vec<String>, &'static str> {
    match (scope, scp) {
        (Some(scope), _) => parse_scopes(scope).ok_or("`scope`"),
        (None, Some(scp)) => parse_scopes(scp).ok_or("`scp`"),
        (None, None) => Ok(Vec::new()),
    }
}

/// A scope claim as a space-separated string or a JSON array of strings.
pub(crate) fn parse_scopes(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(s) => Some(s.split_whitespace().map(str::to_owned).collect()),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    }
}

/// `aud` as a string or an array of strings.
pub(crate) fn parse_audiences(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    }
}

/// A NumericDate: seconds since the epoch, integer or fractional.
pub(crate) fn parse_numeric_date(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f.floor() as i64)
        }),
        _ => None,
    }
}

/// Seconds since the Unix epoch, as JWT dates count them.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erpnet_claims_accept_string_booleans_and_both_scope_forms() {
        let claims: ErpNetClaims = serde_json::from_value(serde_json::json!({
            "sub": "jdoe", "id": "6c1f…", "is_admin": "true", "email_verified": "False",
            "user_type": "ExternalCommunityUser", "scope": ["read", "update"], "extra": 1
        }))
        .expect("claims");
        assert_eq!(claims.is_admin, Some(true));
        assert_eq!(claims.email_verified, Some(false));
        assert_eq!(claims.user_type, Some(UserType::ExternalCommunityUser));
        assert_eq!(claims.scope, ["read", "update"]);
        assert!(!claims.is_service());

        let service: ErpNetClaims = serde_json::from_value(serde_json::json!({
            "client_system_user": "api-user", "client_system_user_type": "InternalUser",
            "scope": "read update", "is_admin": true
        }))
        .expect("claims");
        assert!(service.is_service());
        assert_eq!(service.scope, ["read", "update"]);
        assert_eq!(service.is_admin, Some(true));
    }

    #[test]
    fn any_date_a_token_names_is_a_time_without_a_panic() {
        let token = |seconds: i64| {
            VerifiedToken::new(Checked {
                audiences: Vec::new(),
                expires_at: seconds,
                not_before: Some(seconds),
                issued_at: None,
                scopes: Vec::new(),
                key_id: None,
                algorithm: None,
                claims: Claims::Map(Map::new()),
            })
        };
        let far = token(i64::MAX);
        assert_eq!(
            far.expires_at().duration_since(UNIX_EPOCH).ok(),
            Some(Duration::from_secs(253_402_300_799)),
            "clamped to the end of year 9999"
        );
        let early = token(i64::MIN);
        assert!(early.not_before().is_some_and(|t| t < UNIX_EPOCH));
        assert_eq!(
            token(1_700_000_000).expires_at(),
            UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        );
    }

    #[test]
    fn audiences_scopes_and_dates_have_two_forms() {
        assert_eq!(
            parse_audiences(&"DomainApi".into()),
            Some(vec!["DomainApi".into()])
        );
        assert_eq!(
            parse_audiences(&serde_json::json!(["a", "b"])),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(parse_audiences(&serde_json::json!(["a", 1])), None);
        assert_eq!(parse_scopes(&serde_json::json!(5)), None);
        let (array, text) = (serde_json::json!(["a", "b"]), serde_json::json!("c"));
        assert_eq!(
            granted_scopes(Some(&array), Some(&text)),
            Ok(vec!["a".into(), "b".into()])
        );
        assert_eq!(granted_scopes(None, Some(&text)), Ok(vec!["c".into()]));
        assert_eq!(granted_scopes(None, None), Ok(Vec::new()));
        assert_eq!(
            granted_scopes(None, Some(&serde_json::json!(1))),
            Err("`scp`")
        );
        assert_eq!(
            granted_scopes(Some(&serde_json::json!([1])), Some(&text)),
            Err("`scope`")
        );
        assert_eq!(parse_numeric_date(&serde_json::json!(10.7)), Some(10));
        assert_eq!(parse_numeric_date(&serde_json::json!("10")), None);
    }
}
