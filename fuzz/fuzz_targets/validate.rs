//! `JwtValidator::validate_now` against a fixed key set (the mock
//! identity's RSA key and a fixed Ed25519 key).
//!
//! Input: a token as it arrives, or `HEADER\nPAYLOAD` (any bytes), which the
//! target signs with the Ed25519 key, so that the fuzzer's claims get past
//! the signature to the claims checks.
#![no_main]

use std::time::{Duration, SystemTime};

use erpnet_auth_fuzz::{AUDIENCE, ISSUER, LEEWAY, sign, validator};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let token = match data.iter().position(|&b| b == b'\n') {
        Some(end) => sign(&data[..end], &data[end + 1..]),
        None => match std::str::from_utf8(data) {
            Ok(token) => token.to_owned(),
            Err(_) => return,
        },
    };
    let first = validator().validate_now(&token);
    // The second time the verified-token cache answers: the same answer.
    let again = validator().validate_now(&token);
    assert_eq!(first.is_ok(), again.is_ok(), "{first:?} then {again:?}");
    let Ok(verified) = first else {
        return;
    };
    assert_eq!(verified.issuer(), ISSUER);
    assert!(verified.audiences().iter().any(|a| a == AUDIENCE));
    let now = SystemTime::now();
    assert!(verified.expires_at() + LEEWAY + Duration::from_secs(1) > now);
    // Claims are read again lazily from the payload the validator accepted:
    // that read cannot fail, so `iss` is there.
    assert_eq!(
        verified.claim("iss").and_then(|iss| iss.as_str()),
        Some(ISSUER)
    );
    let _ = (
        verified.subject(),
        verified.client_id(),
        verified.caller(),
        verified.scopes(),
        verified.not_before(),
        verified.issued_at(),
        verified.jwt_id(),
        verified.erpnet(),
        format!("{verified:?}"),
    );
});
