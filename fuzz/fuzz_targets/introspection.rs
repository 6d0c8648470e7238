//! An introspection endpoint's answer (RFC 7662 §2.2) as `Introspector`
//! reads it.
//!
//! Input: `STATUS\nCONTENT-TYPE\nBODY`.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use erpnet_auth_fuzz::{content_type, fields, status};
use erpnet_auth_oidc::fuzzing::introspection_answer;
use libfuzzer_sys::fuzz_target;

/// A fixed "now", so that a crash reproduces whatever the clock says.
const NOW: i64 = 1_767_225_600;
const TTL: i64 = 30;

fuzz_target!(|data: &[u8]| {
    let Some(([code, media_type], body)) = fields::<2>(data) else {
        return;
    };
    let Some(code) = status(code) else {
        return;
    };
    match introspection_answer(code, content_type(media_type), body.to_vec(), TTL, NOW) {
        Ok(Some(active)) => {
            assert!(code.is_success());
            // Never an answer that has already expired.
            assert!(active.expires_at() > UNIX_EPOCH + Duration::from_secs(NOW as u64));
            let _ = (
                active.issuer(),
                active.subject(),
                active.audiences(),
                active.scopes(),
                active.not_before(),
                active.issued_at(),
                active.erpnet(),
                format!("{active:?}"),
            );
        }
        Ok(None) => assert!(code.is_success()),
        Err(error) => {
            let _ = (error.to_string(), error.is_transient());
        }
    }
});
