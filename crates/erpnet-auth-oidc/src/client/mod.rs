//! The client side of OAuth 2.0: one [`ClientConfig`](crate::ClientConfig)
//! per client, the grants built from it, revocation, and client
//! authentication at the provider.

pub(crate) mod client_credentials;
pub(crate) mod config;
#[cfg(feature = "private-key-jwt")]
pub(crate) mod private_key_jwt;
pub(crate) mod refresh_token;
pub(crate) mod revocation;
pub(crate) mod token_endpoint;
