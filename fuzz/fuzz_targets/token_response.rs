//! The token endpoint's answer as the grants read it, success and RFC 6749
//! §5.2 error alike, and the same error body from an introspection or
//! revocation endpoint.
//!
//! Input: `STATUS\nCONTENT-TYPE\nBODY`.
#![no_main]

use erpnet_auth_fuzz::{content_type, fields, status};
use erpnet_auth_oidc::fuzzing::{error_answer, token_response};
use libfuzzer_sys::fuzz_target;
use secrecy::ExposeSecret as _;

fuzz_target!(|data: &[u8]| {
    let Some(([code, media_type], body)) = fields::<2>(data) else {
        return;
    };
    let Some(code) = status(code) else {
        return;
    };
    let headers = content_type(media_type);
    let requested = ["read".to_owned(), "update".to_owned()];
    match token_response(code.as_u16(), &headers, body, &requested) {
        Ok(response) => {
            assert!(code.is_success(), "a token from a {code} answer");
            assert!(!response.access_token.expose_secret().is_empty());
            // A lifetime is never beyond the cap that keeps `Instant` math sound.
            assert!(
                response
                    .expires_in
                    .is_none_or(|d| d.as_secs() <= 315_360_000)
            );
            // Secrets never show in Debug: checked for tokens long and plain
            // enough that the Debug text itself cannot hold them by chance,
            // and not held by what Debug shows on purpose (a granted scope
            // that happens to contain the token's text, as the fuzzer made).
            let shown = format!("{response:?}");
            let public =
                response.access_token.scopes().join(" ") + response.access_token.token_type();
            let secrets = [
                Some(response.access_token.expose_secret()),
                response.refresh_token.as_ref().map(|t| t.expose_secret()),
                response.id_token.as_ref().map(|t| t.expose_secret()),
            ];
            for secret in secrets.into_iter().flatten() {
                let distinctive =
                    secret.len() >= 16 && secret.bytes().all(|b| b.is_ascii_alphanumeric());
                assert!(
                    !distinctive || public.contains(secret) || !shown.contains(secret),
                    "{shown}"
                );
            }
        }
        Err(error) => {
            let _ = (error.to_string(), error.is_transient(), error.oauth_code());
        }
    }
    if !code.is_success() {
        let error = error_answer(code, headers, body.to_vec());
        let _ = (error.to_string(), error.is_transient());
    }
});
