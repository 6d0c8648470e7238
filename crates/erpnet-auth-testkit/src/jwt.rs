//! JWT assembly and the claim sets ERP.net puts into its tokens.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Map, Value, json};

use crate::keys::{SigningKey, random_hex};
use crate::user::User;

/// A JSON object: a JWT header or claim set.
pub(crate) type Object = Map<String, Value>;

/// `client_system_user_type` of every service token.
const SYSTEM_USER_TYPE: &str = "InternalUser";
/// `client_db` of every service token.
const CLIENT_DB: &str = "mockdb";
/// The subject of minted ID tokens (an ERP.net login name).
pub(crate) const DEFAULT_ID_TOKEN_SUBJECT: &str = "test.user";
/// `idp` of user tokens: users sign in with the instance's own accounts.
const IDENTITY_PROVIDER: &str = "local";
/// `amr` of user tokens: a password.
const AUTHENTICATION_METHOD: &str = "pwd";
/// ID tokens live 5 minutes at ERP.net.
pub(crate) const ID_TOKEN_LIFETIME_SECS: i64 = 300;
/// Logout tokens live 5 minutes too (IdentityServer's default).
const LOGOUT_TOKEN_LIFETIME_SECS: i64 = 300;
/// The `events` member that makes a JWT a back-channel logout token (OpenID Connect
/// Back-Channel Logout 1.0, §2.4).
pub(crate) const BACKCHANNEL_LOGOUT_EVENT: &str =
    "http://schemas.openid.net/event/backchannel-logout";

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

/// The header of a back-channel logout token: `{"alg":"RS256","kid":…,"typ":"logout+jwt"}`.
pub(crate) fn logout_token_header(kid: &str) -> Object {
    header("RS256", kid, "logout+jwt")
}

fn header(alg: &str, kid: &str, typ: &str) -> Object {
    let mut header = Object::new();
    header.insert("alg".to_owned(), json!(alg));
    header.insert("kid".to_owned(), json!(kid));
    header.insert("typ".to_owned(), json!(typ));
    header
}

/// Whom an access token speaks for.
pub(crate) enum Subject<'a> {
    /// A client acting as its system user (client credentials): the `client_*` claims.
    Service {
        /// The `client_system_user` claim.
        system_user: &'a str,
    },
    /// A signed-in user (authorization code, refresh token): `sub`, `id` and the ERP.net
    /// user claims.
    User(&'a SignIn),
}

/// A user's sign-in: who, when, and in which session.
#[derive(Debug, Clone)]
pub(crate) struct SignIn {
    pub(crate) user: User,
    /// The session id (`sid`): 32 uppercase hex characters, as IdentityServer writes it.
    pub(crate) sid: String,
    /// When the user signed in (`auth_time`), seconds since the epoch.
    pub(crate) auth_time: i64,
}

/// What goes into an access token.
pub(crate) struct AccessTokenClaims<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) audiences: &'a [String],
    pub(crate) client_id: &'a str,
    pub(crate) subject: Subject<'a>,
    pub(crate) scopes: &'a [String],
    pub(crate) now: i64,
    pub(crate) lifetime_secs: i64,
}

impl AccessTokenClaims<'_> {
    /// The claim set ERP.net issues: a service token for client credentials, a user token
    /// (with the user claims as strings where ERP.net sends strings) after a sign-in.
    pub(crate) fn to_object(&self) -> Object {
        let mut claims = into_object(json!({
            "iss": self.issuer,
            "nbf": self.now,
            "iat": self.now,
            "exp": self.now.saturating_add(self.lifetime_secs),
            "aud": self.audiences,
            "scope": self.scopes,
            "client_id": self.client_id,
            "jti": random_hex(16),
        }));
        let extra = match &self.subject {
            Subject::Service { system_user } => json!({
                "client_system_user": system_user,
                "client_system_user_type": SYSTEM_USER_TYPE,
                "client_db": CLIENT_DB,
            }),
            Subject::User(sign_in) => {
                let user = &sign_in.user;
                json!({
                    "sub": user.login,
                    "auth_time": sign_in.auth_time,
                    "idp": IDENTITY_PROVIDER,
                    "amr": [AUTHENTICATION_METHOD],
                    "id": user.id,
                    "name": user.name,
                    "email": user.email,
                    "email_verified": user.email_verified.to_string(),
                    "locale": user.locale,
                    "user_type": user.user_type.as_str(),
                    "is_admin": user.is_admin.to_string(),
                    "db": user.db,
                    "tid": user.tid,
                    "sid": sign_in.sid,
                })
            }
        };
        claims.extend(into_object(extra));
        claims
    }
}

/// What goes into an ID token.
pub(crate) struct IdTokenClaims<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) sign_in: &'a SignIn,
    pub(crate) nonce: Option<&'a str>,
    /// The access token issued beside it, for `at_hash`.
    pub(crate) access_token: Option<&'a str>,
    pub(crate) now: i64,
}

impl IdTokenClaims<'_> {
    /// The claim set of an ID token as ERP.net issues it: `aud` the client id (a string),
    /// living 300 s.
    pub(crate) fn to_object(&self) -> Object {
        let mut claims = into_object(json!({
            "iss": self.issuer,
            "nbf": self.now,
            "iat": self.now,
            "exp": self.now.saturating_add(ID_TOKEN_LIFETIME_SECS),
            "aud": self.client_id,
        }));
        if let Some(nonce) = self.nonce {
            claims.insert("nonce".to_owned(), json!(nonce));
        }
        if let Some(access_token) = self.access_token {
            claims.insert("at_hash".to_owned(), json!(at_hash(access_token)));
        }
        claims.extend(into_object(json!({
            "sub": self.sign_in.user.login,
            "sid": self.sign_in.sid,
            "auth_time": self.sign_in.auth_time,
            "idp": IDENTITY_PROVIDER,
            "amr": [AUTHENTICATION_METHOD],
        })));
        claims
    }
}

/// The claim set of a back-channel logout token for `client_id` about one session of a user:
/// `sub` and `sid`, the logout event, a `jti`, and never a `nonce` (§2.4).
pub(crate) fn logout_token_claims(
    issuer: &str,
    client_id: &str,
    subject: &str,
    sid: &str,
    now: i64,
) -> Object {
    into_object(json!({
        "iss": issuer,
        "aud": client_id,
        "iat": now,
        "nbf": now,
        "exp": now.saturating_add(LOGOUT_TOKEN_LIFETIME_SECS),
        "jti": random_hex(16),
        "sub": subject,
        "sid": sid,
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    }))
}

/// The claim set of a minted ID token (no access token beside it, a random nonce).
pub(crate) fn id_token_claims(issuer: &str, client_id: &str, now: i64) -> Object {
    let sign_in = SignIn {
        user: User::new(DEFAULT_ID_TOKEN_SUBJECT),
        sid: random_hex(16),
        auth_time: now,
    };
    let nonce = random_hex(16).to_lowercase();
    IdTokenClaims {
        issuer,
        client_id,
        sign_in: &sign_in,
        nonce: Some(&nonce),
        access_token: None,
        now,
    }
    .to_object()
}

/// SHA-256 of `input`, base64url without padding (PKCE `S256`, RFC 7636 §4.2).
pub(crate) fn sha256_base64url(input: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, input.as_bytes()))
}

/// `at_hash`: the left half of the SHA-256 of the access token, base64url without padding
/// (OpenID Connect Core §3.1.3.6).
pub(crate) fn at_hash(access_token: &str) -> String {
    let hash = digest(&SHA256, access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&hash.as_ref()[..16])
}

fn into_object(value: Value) -> Object {
    match value {
        Value::Object(object) => object,
        _ => Object::new(),
    }
}
