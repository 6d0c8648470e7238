//! The trait crate of [erpnet-auth]: access tokens, where they come from, and a
//! lock-free cache in front of them.
//!
//! This is what a library author adds to implement a token source of their own,
//! and what the client adapters (reqwest, tower) need. It has no HTTP client,
//! no cryptography and nothing that builds C: the protocol (discovery, grants,
//! validation) lives in `erpnet-auth-oidc`.
//!
//! - [`TokenSource`]: where tokens come from; implement it in a few lines, or
//!   wrap a closure with [`token_source_fn`].
//! - [`CachedTokenSource`]: wraps any source with a lock-free cache, early
//!   refresh, single-flight fetching and back-off.
//! - [`StaticToken`]: a pre-issued token, such as an ERP.net personal or system
//!   access token (`enrt_…`).
//! - [`AccessToken`]: the secret, its type, expiry and scopes; never printed.
//! - [`Error`] (what can fail at run time, with [`Error::is_transient`]) and
//!   [`ConfigError`] (what a `build()` refuses). Neither names an HTTP client.
//! - [`sync`]: the single-flight primitives the cache and the protocol crate
//!   share.
//! - [`origin`]: where a credential may go ([`origin::Origin`]: https, or
//!   http to loopback, to configured origins only), the rule the client
//!   adapters share.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::time::Duration;
//! use erpnet_auth_core::{AccessToken, CachedTokenSource, Error, TokenSource, token_source_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! // A source of your own: here a closure that counts its calls.
//! let calls = Arc::new(AtomicUsize::new(0));
//! let counter = calls.clone();
//! let source = token_source_fn(move || {
//!     let n = counter.fetch_add(1, Ordering::SeqCst);
//!     async move {
//!         Ok(AccessToken::new(format!("token-{n}"))
//!             .with_expires_in(Duration::from_secs(3600))
//!             .with_scopes(["read"]))
//!     }
//! });
//!
//! let tokens = CachedTokenSource::new(source);
//! let first = tokens.token().await?;
//! let again = tokens.token().await?;
//! assert_eq!(first, again, "served from the cache");
//! assert_eq!(calls.load(Ordering::SeqCst), 1);
//! assert!(first.has_scope("read"));
//! # Ok(()) }
//! ```
//!
//! [erpnet-auth]: https://docs.rs/erpnet-auth

#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod error;
pub mod origin;
mod source;
pub mod sync;
#[cfg(test)]
mod testing;
mod token;

pub use cache::{
    CacheBuilder, CachedTokenSource, DEFAULT_BACKOFF_INITIAL, DEFAULT_BACKOFF_MAX,
    DEFAULT_EXPIRY_LEEWAY, DEFAULT_JITTER, DEFAULT_REFRESH_MARGIN,
};
pub use error::{ConfigError, Error, OAuthErrorCode, status_is_transient};
pub use source::{
    FnTokenSource, StaticToken, TokenSource, is_erpnet_reference_token, token_source_fn,
};
pub use token::{AccessToken, constant_time_eq};

/// Re-exported so that implementors of [`TokenSource`] need no extra dependency.
pub use async_trait::async_trait;
