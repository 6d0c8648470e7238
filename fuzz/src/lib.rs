//! What the fuzz targets share: the fixed key set and validator they check
//! tokens against, a key that signs what the fuzzer writes, the framing of
//! inputs that carry more than one field, and a runtime for the async
//! readers.
//!
//! The key set is the mock identity's, saved with the seeds
//! (`fixtures/jwks.json`, written by the `erpnet-auth-fuzz-seeds` generator
//! together with tokens it signed), plus the Ed25519 key below, so that the
//! fuzzer's own claims can get past the signature check: a validator's claims
//! checks are worth fuzzing only behind a signature that verifies.

use std::sync::OnceLock;
use std::time::Duration;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use erpnet_auth_oidc::{Algorithm, JwksCache, JwtValidator};
use http::{HeaderMap, HeaderName, HeaderValue};

/// The issuer the fixed validator accepts (an ERP.net-shaped one).
pub const ISSUER: &str = "https://fuzzing.my.erp.net/id";
/// The audience the fixed validator requires (ERP.net's Domain API).
pub const AUDIENCE: &str = "DomainAPI";
/// The key id of the Ed25519 key that signs the fuzzer's own tokens.
pub const ED25519_KID: &str = "fuzz-ed25519";
/// The mock identity's public key set, from the same run as the seed tokens.
pub const MOCK_JWKS: &str = include_str!("../fixtures/jwks.json");
/// The leeway the validator gives `exp`, `nbf` and `iat`.
pub const LEEWAY: Duration = Duration::from_secs(60);

/// The Ed25519 key that signs the fuzzer's tokens: a fixed seed, so that a
/// crash reproduces.
pub fn ed25519() -> &'static Ed25519KeyPair {
    static KEY: OnceLock<Ed25519KeyPair> = OnceLock::new();
    KEY.get_or_init(|| {
        Ed25519KeyPair::from_seed_unchecked(&[0x5a; 32]).expect("a 32-byte Ed25519 seed")
    })
}

/// The fixed key set as a JWKS document: the mock identity's keys and the
/// Ed25519 key.
pub fn key_set_json() -> String {
    let mut jwks: serde_json::Value =
        serde_json::from_str(MOCK_JWKS).expect("fixtures/jwks.json is a JWKS");
    let keys = jwks["keys"]
        .as_array_mut()
        .expect("fixtures/jwks.json has `keys`");
    keys.push(serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "use": "sig",
        "alg": "EdDSA",
        "kid": ED25519_KID,
        "x": URL_SAFE_NO_PAD.encode(ed25519().public_key().as_ref()),
    }));
    jwks.to_string()
}

/// The validator every token target checks against: the fixed key set,
/// [`ISSUER`], [`AUDIENCE`], RS256 (ERP.net) and EdDSA (the fuzzer's key),
/// access tokens (`typ: at+jwt`), and the verified-token cache on, as in
/// production.
pub fn validator() -> &'static JwtValidator {
    static VALIDATOR: OnceLock<JwtValidator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let jwks = JwksCache::from_json(&key_set_json(), 16).expect("the fixed key set parses");
        JwtValidator::builder_for_jwks(ISSUER, jwks)
            .audience(AUDIENCE)
            .algorithms([Algorithm::RS256, Algorithm::EdDSA])
            .leeway(LEEWAY)
            .build()
            .expect("the fixed validator builds")
    })
}

/// A compact JWS of this header and payload (any bytes), signed with the
/// Ed25519 key.
pub fn sign(header: &[u8], payload: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = ed25519().sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

/// A current-thread runtime for the async readers (built once: building one
/// per input would cost more than the reading).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime")
    })
}

/// The first `N` lines of an input (without their `\n`) and the rest: how
/// targets that need more than one field frame their input. `None` when the
/// input has fewer lines.
pub fn fields<const N: usize>(data: &[u8]) -> Option<([&[u8]; N], &[u8])> {
    let mut lines = [&data[..0]; N];
    let mut rest = data;
    for line in &mut lines {
        let end = rest.iter().position(|&b| b == b'\n')?;
        *line = &rest[..end];
        rest = &rest[end + 1..];
    }
    Some((lines, rest))
}

/// A status code from a decimal line (`None` for anything else).
pub fn status(line: &[u8]) -> Option<http::StatusCode> {
    http::StatusCode::from_bytes(line).ok()
}

/// Headers with one `Content-Type` value, as the bytes of a line gave it
/// (none when the line is not a valid header value).
pub fn content_type(line: &[u8]) -> HeaderMap {
    headers(http::header::CONTENT_TYPE, [line])
}

/// Headers with a value of `name` for each of `values` that is a valid header
/// value, in order: repeated headers as a server or client would send them.
pub fn headers<'a>(name: HeaderName, values: impl IntoIterator<Item = &'a [u8]>) -> HeaderMap {
    let mut map = HeaderMap::new();
    for value in values {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            map.append(name.clone(), value);
        }
    }
    map
}
