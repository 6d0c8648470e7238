//! Behaviour of the mock over real HTTP/1.1 connections.

#![allow(unreachable_pub, missing_docs)]

mod code_flow;
mod discovery;
mod domain_api;
mod failures;
mod http;
mod introspection;
mod oauth;
mod refresh;
mod revocation;
mod sessions;
mod token_endpoint;
mod tokens;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use erpnet_auth_testkit::MockIdentity;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;

/// Header, claims and signature of a compact JWT, decoded without verification.
pub fn parts(token: &str) -> (Value, Value, String) {
    let mut pieces = token.split('.');
    let mut json = |what: &str| -> Value {
        let piece = pieces
            .next()
            .unwrap_or_else(|| panic!("the token has a {what}"));
        let bytes = URL_SAFE_NO_PAD.decode(piece).expect("base64url");
        serde_json::from_slice(&bytes).expect("JSON")
    };
    let header = json("header");
    let claims = json("payload");
    let signature = pieces
        .next()
        .expect("the token has a signature part")
        .to_owned();
    assert!(pieces.next().is_none(), "exactly three parts");
    (header, claims, signature)
}

pub use oauth::fetch_jwks;

/// Verifies `token` as a resource server would: key by kid from the JWKS, RS256 only,
/// issuer and audience checked.
pub async fn verify(idp: &MockIdentity, token: &str) -> jsonwebtoken::errors::Result<Value> {
    let key = oauth::jwks_key(idp, token).await?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[idp.issuer()]);
    validation.set_audience(&["DomainAPI"]);
    Ok(jsonwebtoken::decode::<Value>(token, &key, &validation)?.claims)
}

pub fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs(),
    )
    .expect("fits")
}
