//! # erpnet-auth
//!
//! OAuth 2.0 and OpenID Connect for Rust programs that talk to ERP.net, or to any
//! standards-compliant provider: lock-free cached tokens for clients, discovery,
//! and the grants ERP.net supports.
//!
//! This crate is a facade: add it once and turn on what you need.
//!
//! | feature | what it adds |
//! |---|---|
//! | (always) | [`erpnet_auth_core`], re-exported at the top level: [`TokenSource`], [`CachedTokenSource`], [`ClientCredentials`], [`StaticToken`], [`Discovery`] |
//! | `reqwest` | `erpnet_auth::reqwest` (the `erpnet-auth-reqwest` crate): `BearerAuth`, a reqwest-middleware that attaches tokens to outgoing requests |
//! | `testkit` | `erpnet_auth::testkit` (the `erpnet-auth-testkit` crate): an in-process mock ERP.net Identity for your tests |
//! | `tower` | `erpnet_auth::tower` (the `erpnet-auth-tower` crate): `ValidateBearerLayer` and `RequireScopesLayer` for APIs (axum, tonic), `AddBearerLayer` for tower clients |
//! | `axum` | `tower`, plus the axum extractor `erpnet_auth::tower::Claims<T>` |
//!
//! ```
//! use erpnet_auth::{Authority, CachedTokenSource, ClientCredentials, TokenSource};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), erpnet_auth::Error> {
//! # let identity = erpnet_auth_testkit::MockIdentity::start().await;
//! # let instance = identity.issuer();
//! // `instance` is an ERP.net instance name ("myinstance") or an issuer URL.
//! let grant = ClientCredentials::builder(instance.parse::<Authority>()?, "my.trusted.app/first")
//!     .client_secret(erpnet_auth_testkit::DEFAULT_CLIENT_SECRET)
//!     .scopes(["read", "update"])
//!     .build()?;
//! let tokens = CachedTokenSource::new(grant);
//! let token = tokens.token().await?;
//! assert!(token.has_scope("read"));
//! # Ok(()) }
//! ```

pub use erpnet_auth_core::*;

/// The reqwest-middleware adapter (feature `reqwest`): `BearerAuth` attaches
/// tokens to outgoing requests.
#[cfg(feature = "reqwest")]
pub use erpnet_auth_reqwest as reqwest;

/// The mock ERP.net Identity server (feature `testkit`).
#[cfg(feature = "testkit")]
pub use erpnet_auth_testkit as testkit;

/// Tower middleware: bearer validation, scopes, the axum extractor (feature
/// `axum`) and the client-side bearer layer (feature `tower`).
#[cfg(feature = "tower")]
pub use erpnet_auth_tower as tower;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
