//! Signing users in: the authorization code flow with PKCE, ID tokens, the
//! loopback redirect for native and command-line apps (RFC 8252), the device
//! authorization grant for machines without a browser (RFC 8628), and what a
//! web app needs besides: userinfo and back-channel logout tokens.

pub(crate) mod authorization_code;
pub(crate) mod device;
mod error;
pub(crate) mod id_token;
pub(crate) mod logout_token;
pub(crate) mod loopback;
pub(crate) mod userinfo;

pub use error::SignInError;
