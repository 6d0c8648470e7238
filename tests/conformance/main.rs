//! Conformance against a real, certified OpenID provider: panva's
//! `oidc-provider` (OpenID Certified), pinned in `tests/peers/oidc-provider`
//! and run on 127.0.0.1 by [`peer`].
//!
//! The mock identity is written by us, so tests against it can share our
//! misreadings of the specs; these tests prove every flow against someone
//! else's reading. One peer process per test, so that key rotation and
//! revoked grants in one test cannot touch another.

mod peer;
#[path = "../support/mod.rs"]
mod support;

mod bearer_auth;
mod client_credentials;
mod device_sign_in;
mod discovery;
mod introspection;
mod jwt_validation;
mod many_issuers;
mod native_sign_in;
mod private_key_jwt;
mod resource_metadata;
mod tower;
mod web_app;
