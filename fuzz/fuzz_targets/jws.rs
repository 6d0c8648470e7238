//! The compact JWS reader: splitting and decoding the three parts, the
//! header, and the claims set as ID tokens read it (strictly, every claim
//! into a map, a repeated name refused). Nothing is verified here; see the
//! `validate` target for the validator as a whole.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use erpnet_auth_oidc::fuzzing::{compact_jws, id_token_claims};
use erpnet_auth_oidc::looks_like_jwt;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|token: &str| {
    let decoded = compact_jws(token);
    if decoded.is_ok() {
        // The cheap shape check lets through everything the decoder accepts.
        assert!(looks_like_jwt(token), "{token:?}");
    }
    // The payload as ID tokens read it: a strict parse never accepts what
    // serde_json itself refuses as a claims map.
    if let Some(payload) = token
        .split('.')
        .nth(1)
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
        && let Ok(claims) = id_token_claims(&payload)
    {
        let again: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&payload).expect("a strictly read claims set reads again");
        assert_eq!(claims, again);
    }
});
