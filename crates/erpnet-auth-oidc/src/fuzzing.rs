//! The crate's readers of outside input, for the fuzz targets in `fuzz/`.
//!
//! Compiled only with `--cfg fuzzing`, which cargo-fuzz sets: none of this is
//! API. Each function is the crate's own code path, with the network taken
//! out; the public parsers (`Authority::parse`, `JwtValidator::validate_now`,
//! `JwksCache::from_json`) need no entry here.

use erpnet_auth_core::Error;

#[cfg(feature = "introspection")]
use crate::http::HttpResponse;

/// The token endpoint's answer (success or RFC 6749 §5.2 error), as
/// `ClientCredentials` and `RefreshTokenGrant` read it.
#[cfg(feature = "client")]
pub fn token_response(
    status: u16,
    headers: &http::HeaderMap,
    body: &[u8],
    requested_scopes: &[String],
) -> Result<crate::TokenResponse, Error> {
    crate::client::token_endpoint::parse_token_response(
        "https://fuzz.example/token",
        status,
        headers,
        body,
        requested_scopes,
    )
}

/// An unsuccessful answer of an introspection or revocation endpoint as an
/// error.
#[cfg(feature = "introspection")]
pub fn error_answer(status: http::StatusCode, headers: http::HeaderMap, body: Vec<u8>) -> Error {
    crate::client::token_endpoint::error_answer(
        "https://fuzz.example/introspect",
        &HttpResponse {
            status,
            headers,
            body,
        },
    )
}

/// An introspection endpoint's answer (RFC 7662 §2.2): `Ok(None)` for an
/// inactive token. `ttl` is the lifetime assumed without `exp`.
#[cfg(feature = "introspection")]
pub fn introspection_answer(
    status: http::StatusCode,
    headers: http::HeaderMap,
    body: Vec<u8>,
    ttl: i64,
    now: i64,
) -> Result<Option<crate::VerifiedToken>, Error> {
    crate::introspection::read_answer(
        "https://fuzz.example/introspect",
        &HttpResponse {
            status,
            headers,
            body,
        },
        ttl,
        now,
    )
}

/// A discovery document, checked against `authority` as
/// `Discovery::fetch_with` checks it.
pub fn discovery_document(
    authority: &crate::Authority,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<crate::Discovery, Error> {
    crate::Discovery::from_document(
        authority,
        "https://fuzz.example/.well-known/openid-configuration",
        headers,
        body,
    )
}

/// A compact JWS split and decoded (header and parts, nothing verified):
/// the header's `alg` on success.
#[cfg(feature = "validation")]
pub fn compact_jws(token: &str) -> Result<String, crate::ValidationError> {
    crate::validation::jws::decode(token).map(|jws| jws.header.alg)
}

/// A JWT's claims set read as ID tokens read it: strictly, every claim into
/// a map, a repeated name refused.
#[cfg(feature = "validation")]
pub fn id_token_claims(
    payload: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, crate::ValidationError> {
    crate::validation::validator::parse_claims(payload)
}

/// A JWKS document parsed as a fetched one is, then every usable key
/// checking `signature` over `message` with each algorithm it may verify.
/// Returns how many keys were kept and how many checks passed.
#[cfg(feature = "validation")]
pub fn key_set(
    body: &[u8],
    max_keys: usize,
    message: &[u8],
    signature: &[u8],
) -> Result<(usize, usize), Error> {
    let set =
        crate::validation::jwks::parse_key_set(body, "https://fuzz.example/jwks", max_keys, 1)?;
    let mut passed = 0;
    for key in &set.keys {
        for alg in crate::Algorithm::ALL {
            if let Some(verifier) = key.verifier(alg)
                && verifier.verify_sig(message, signature).is_ok()
            {
                passed += 1;
            }
        }
    }
    Ok((set.keys.len(), passed))
}

/// One request to the loopback redirect listener, read from `request` as
/// from its TCP stream: the status it is answered with, and the callback URL
/// when it is the authorization response.
#[cfg(feature = "sign-in")]
pub async fn loopback_request(
    redirect_uri: &url::Url,
    mut request: &[u8],
) -> (u16, Option<url::Url>) {
    use crate::sign_in::loopback::{Routed, read_head, route};
    match read_head(&mut request).await {
        None => (400, None),
        Some(head) => match route(redirect_uri, &head) {
            Routed::Callback(url, _) => (200, Some(url)),
            Routed::Refused(status, _) => (status, None),
        },
    }
}
