//! JWT assembly and the claim sets ERP.net puts into its tokens.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Map, Value, json};

use crate::keys::{SigningKey, random_hex};

/// A JSON object: a JWT header or claim set.
pub(crate) type Object = Map<String, Value>;

/// `client_system_user_type` of every service token.
const SYSTEM_USER_TYPE: &str = "InternalUser";
/// `client_db` of every service token.
const CLIENT_DB: &str = "mockdb";
/// The subject of minted ID tokens (an ERP.net login name).
pub(crate) const DEFAULT_ID_TOKEN_SUBJECT: &str = "test.user";
/// ID tokens live 5 minutes at ERP.net.
pub(crate) const ID_TOKEN_LIFETIME_SECS: i64 = 300;

/// How the signing input gets its third part.
pub(crate) enum Signature<'a> {
    /// RSASSA-PKCS1-v1_5 with SHA-256 and this key.
    Rs256(&'a SigningKey),
    /// HMAC-SHA-256 with this secret.
    Hs256(&'a [u8]),
    /// No signature at all (`alg: none`): the token ends with a dot.
    Unsigned,
}

/// Serialises, encodes and signs a JWT in compact form.
pub(crate) fn encode(header: &Object, claims: &Object, signature: Signature<'_>) -> String {
    let header = URL_SAFE_NO_PAD.encode(Value::Object(header.clone()).to_string());
    let claims = URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string());
    let input = format!("{header}.{claims}");
    let signature = match signature {
        Signature::Rs256(key) => key.sign_rs256(input.as_bytes()),
        Signature::Hs256(secret) => jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &EncodingKey::from_secret(secret),
            Algorithm::HS256,
        )
        .expect("HMAC signing cannot fail"),
        Signature::Unsigned => String::new(),
    };
    format!("{input}.{signature}")
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

/// The header of an access token: `{"alg":"RS256","kid":…,"typ":"at+jwt"}`.
pub(crate) fn access_token_header(kid: &str) -> Object {
    header("RS256", kid, "at+jwt")
}

/// The header of an ID token: `{"alg":"RS256","kid":…,"typ":"JWT"}`.
pub(crate) fn id_token_header(kid: &str) -> Object {
    header("RS256", kid, "JWT")
}

fn header(alg: &str, kid: &str, typ: &str) -> Object {
    let mut header = Object::new();
    header.insert("alg".to_owned(), json!(alg));
    header.insert("kid".to_owned(), json!(kid));
    header.insert("typ".to_owned(), json!(typ));
    header
}

/// What goes into a client-credentials access token.
pub(crate) struct AccessTokenClaims<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) audiences: &'a [String],
    pub(crate) client_id: &'a str,
    pub(crate) system_user: &'a str,
    pub(crate) scopes: &'a [String],
    pub(crate) now: i64,
    pub(crate) lifetime_secs: i64,
}

impl AccessTokenClaims<'_> {
    /// The claim set ERP.net issues for client credentials.
    pub(crate) fn to_object(&self) -> Object {
        let claims = json!({
            "iss": self.issuer,
            "nbf": self.now,
            "iat": self.now,
            "exp": self.now.saturating_add(self.lifetime_secs),
            "aud": self.audiences,
            "scope": self.scopes,
            "client_id": self.client_id,
            "jti": random_hex(16),
            "client_system_user": self.system_user,
            "client_system_user_type": SYSTEM_USER_TYPE,
            "client_db": CLIENT_DB,
        });
        into_object(claims)
    }
}

/// The claim set of an ID token as ERP.net issues it after a user signs in.
pub(crate) fn id_token_claims(issuer: &str, client_id: &str, now: i64) -> Object {
    into_object(json!({
        "iss": issuer,
        "nbf": now,
        "iat": now,
        "exp": now.saturating_add(ID_TOKEN_LIFETIME_SECS),
        "aud": client_id,
        "nonce": random_hex(16).to_lowercase(),
        "sub": DEFAULT_ID_TOKEN_SUBJECT,
        "sid": random_hex(16),
        "auth_time": now,
        "idp": "local",
        "amr": ["pwd"],
    }))
}

fn into_object(value: Value) -> Object {
    match value {
        Value::Object(object) => object,
        _ => Object::new(),
    }
}
