//! Reserved for the tower layer (`crates/erpnet-auth-tower`, written on its
//! own branch): its conformance tests against the peer go in this module once
//! that crate merges. Planned:
//!
//! - an axum route behind the validating layer answers 200 with the peer's
//!   JWT, 403 (`insufficient_scope`) without the route's scope, and 401 for a
//!   token the peer has revoked (opaque token, introspection);
//! - the `api_server` example run against the peer, called through
//!   `BearerAuth` with a client-credentials token.
//!
//! Until then `bearer_auth.rs` validates by hand with `JwtValidator`. No tower
//! code belongs here before the crate exists.
