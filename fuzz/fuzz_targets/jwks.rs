//! The JWKS reader: a key set document as fetched, then every key it keeps
//! checking a signature, so that hostile key material reaches the crypto
//! library the way a token's verification would take it there.
#![no_main]

use erpnet_auth_fuzz::ed25519;
use erpnet_auth_oidc::fuzzing::key_set;
use libfuzzer_sys::fuzz_target;

const MAX_KEYS: usize = 8;
const MESSAGE: &[u8] = b"erpnet-auth fuzz";

fuzz_target!(|body: &[u8]| {
    // Made with the fixed Ed25519 key: a set that publishes that key
    // verifies it, every other key refuses it.
    let signature = ed25519().sign(MESSAGE);
    let Ok((keys, passed)) = key_set(body, MAX_KEYS, MESSAGE, signature.as_ref()) else {
        return;
    };
    assert!(
        keys <= MAX_KEYS,
        "{keys} keys kept, at most {MAX_KEYS} allowed"
    );
    // Only an Ed25519 key verifies it, with one algorithm.
    assert!(passed <= keys);
});
