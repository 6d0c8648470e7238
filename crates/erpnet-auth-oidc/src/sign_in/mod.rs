//! Signing users in: the authorization code flow with PKCE, ID tokens, and the
//! loopback redirect for native and command-line apps (RFC 8252).

pub(crate) mod authorization_code;
mod error;
pub(crate) mod id_token;
pub(crate) mod loopback;

pub use error::SignInError;
