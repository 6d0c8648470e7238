//! Validation of JWT access tokens (RFC 9068) against a provider's signing keys:
//! the compact JWS, the key set, and the validator that checks the claims.

pub(crate) mod error;
pub(crate) mod issuers;
pub(crate) mod jwks;
pub(crate) mod jws;
pub(crate) mod validator;
