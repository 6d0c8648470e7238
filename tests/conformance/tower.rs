//! Reserved for the tower layer's conformance tests against the peer
//! (`erpnet_auth::tower`, crate `erpnet-auth-tower`). The layer was written on
//! its own branch, alongside this suite; its tests against the peer belong in
//! this module, to be written as their own change:
//!
//! - an axum route behind `ValidateBearerLayer` answers 200 with the peer's
//!   JWT, 403 (`insufficient_scope`) without the route's scope, and 401 for a
//!   token the peer no longer accepts (a revoked token, or one whose signing
//!   key the peer has dropped);
//! - the `api_server` example run against the peer, called through
//!   `BearerAuth` with a client-credentials token.
//!
//! Until then `bearer_auth.rs` validates by hand with `JwtValidator`.
