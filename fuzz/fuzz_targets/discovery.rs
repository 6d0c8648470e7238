//! The discovery document reader, with the checks `Discovery::fetch_with`
//! makes: issuer equal to the configured one, every endpoint https (or
//! loopback http).
//!
//! Input: `CONTENT-TYPE\nISSUER\nDOCUMENT`. The issuer goes through
//! `Authority::parse` as a configured one does.
#![no_main]

use erpnet_auth_fuzz::{content_type, fields};
use erpnet_auth_oidc::fuzzing::discovery_document;
use erpnet_auth_oidc::{Authority, is_secure_url};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(([media_type, issuer], body)) = fields::<2>(data) else {
        return;
    };
    let Some(authority) = std::str::from_utf8(issuer)
        .ok()
        .and_then(|issuer| Authority::parse(issuer).ok())
    else {
        return;
    };
    let Ok(discovery) = discovery_document(&authority, &content_type(media_type), body) else {
        return;
    };
    assert_eq!(discovery.issuer(), authority.issuer());
    assert!(is_secure_url(discovery.token_endpoint()));
    assert!(is_secure_url(discovery.jwks_uri()));
    assert!(is_secure_url(discovery.authorization_endpoint()));
    for optional in [
        discovery.end_session_endpoint(),
        discovery.introspection_endpoint(),
        discovery.revocation_endpoint(),
    ] {
        assert!(optional.is_none_or(is_secure_url));
    }
    let _ = (
        discovery.scopes_supported(),
        discovery.grant_types_supported(),
        serde_json::to_vec(discovery.metadata()),
    );
});
