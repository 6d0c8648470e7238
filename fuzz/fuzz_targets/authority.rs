//! `Authority` parsing: an ERP.net instance name or an issuer URL, as a user
//! or a configuration file gives it.
#![no_main]

use erpnet_auth_oidc::{Authority, is_secure_url};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(authority) = Authority::parse(text) else {
        return;
    };
    // What `parse` promises: https (or loopback http), no query or fragment,
    // no trailing slash, and an issuer that is its own display form.
    assert!(is_secure_url(authority.url()), "{authority}");
    assert!(authority.url().query().is_none() && authority.url().fragment().is_none());
    assert!(!authority.issuer().ends_with('/'), "{authority}");
    assert_eq!(authority.to_string(), authority.issuer());
    let discovery = authority.discovery_url();
    assert!(
        discovery
            .path()
            .ends_with("/.well-known/openid-configuration"),
        "{discovery}"
    );
    assert_eq!(discovery.origin(), authority.url().origin());
    // The issuer is a configuration value in its own right: it parses again.
    assert!(
        Authority::parse(authority.issuer()).is_ok(),
        "{authority} does not parse again"
    );
});
