//! The client side of OAuth 2.0: one [`ClientConfig`](crate::ClientConfig)
//! per client, the grants built from it, revocation, and client
//! authentication at the provider.

pub(crate) mod client_credentials;
pub(crate) mod config;
pub(crate) mod refresh_token;
pub(crate) mod revocation;
pub(crate) mod token_endpoint;
