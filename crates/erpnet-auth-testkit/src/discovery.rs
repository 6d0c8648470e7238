//! The OpenID Connect discovery document and the JWKS, shaped as IdentityServer4 writes them.

use serde_json::{Value, json};

use crate::keys::SigningKey;

/// The path of the discovery document below the issuer.
pub(crate) const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// The path of the JWKS below the issuer.
pub(crate) const JWKS_PATH: &str = "/.well-known/openid-configuration/jwks";
/// The path of the token endpoint below the issuer.
pub(crate) const TOKEN_PATH: &str = "/connect/token";
/// The path of the authorization endpoint below the issuer.
pub(crate) const AUTHORIZE_PATH: &str = "/connect/authorize";
/// The path of the introspection endpoint below the issuer.
pub(crate) const INTROSPECTION_PATH: &str = "/connect/introspect";
/// The path of the revocation endpoint below the issuer.
pub(crate) const REVOCATION_PATH: &str = "/connect/revocation";
/// The path of the userinfo endpoint below the issuer.
pub(crate) const USERINFO_PATH: &str = "/connect/userinfo";
/// The path of the device authorization endpoint below the issuer (RFC 8628).
pub(crate) const DEVICE_AUTHORIZATION_PATH: &str = "/connect/deviceauthorization";
/// The path of the end-session endpoint below the issuer.
pub(crate) const END_SESSION_PATH: &str = "/connect/endsession";

/// The discovery document of an IdentityServer4 at `issuer`.
pub(crate) fn document(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}{JWKS_PATH}"),
        "authorization_endpoint": format!("{issuer}{AUTHORIZE_PATH}"),
        "token_endpoint": format!("{issuer}{TOKEN_PATH}"),
        "userinfo_endpoint": format!("{issuer}{USERINFO_PATH}"),
        "end_session_endpoint": format!("{issuer}{END_SESSION_PATH}"),
        "check_session_iframe": format!("{issuer}/connect/checksession"),
        "revocation_endpoint": format!("{issuer}{REVOCATION_PATH}"),
        "introspection_endpoint": format!("{issuer}{INTROSPECTION_PATH}"),
        "device_authorization_endpoint": format!("{issuer}{DEVICE_AUTHORIZATION_PATH}"),
        "frontchannel_logout_supported": true,
        "frontchannel_logout_session_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "scopes_supported": ["openid", "profile", "read", "update", "offline_access"],
        "claims_supported": [
            "sub", "name", "family_name", "given_name", "middle_name", "nickname",
            "preferred_username", "profile", "picture", "website", "gender", "birthdate",
            "zoneinfo", "locale", "updated_at", "id", "email", "email_verified", "user_type",
            "is_admin", "db", "tid",
        ],
        "grant_types_supported": [
            "authorization_code",
            "client_credentials",
            "refresh_token",
            "implicit",
            "urn:ietf:params:oauth:grant-type:device_code",
        ],
        "response_types_supported": [
            "code", "token", "id_token", "id_token token", "code id_token", "code token",
            "code id_token token",
        ],
        "response_modes_supported": ["form_post", "query", "fragment"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic", "client_secret_post", "private_key_jwt",
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "subject_types_supported": ["public"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "request_parameter_supported": true,
        "authorization_response_iss_parameter_supported": true,
    })
}

/// The JWKS publishing `keys`.
pub(crate) fn jwks<'a>(keys: impl IntoIterator<Item = &'a SigningKey>) -> Value {
    let keys: Vec<Value> = keys.into_iter().map(SigningKey::jwk).collect();
    json!({ "keys": keys })
}
