//! # erpnet-auth
//!
//! OAuth 2.0 and OpenID Connect for Rust programs that talk to ERP.net, or to any
//! standards-compliant provider: lock-free cached tokens for clients, discovery,
//! and the grants ERP.net supports.
//!
//! This crate is a facade: add it once and turn on what you need. Each
//! feature maps onto one crate of the workspace (or one feature of it):
//!
//! | feature | crate (feature) | what it adds |
//! |---|---|---|
//! | (always) | [`erpnet_auth_core`] | [`TokenSource`], [`CachedTokenSource`], [`StaticToken`], [`AccessToken`], [`Error`], [`ConfigError`] at the top level; [`pacing::Pacer`] for ERP.net's session limits |
//! | `client` (default) | `erpnet-auth-oidc` (`client`) | discovery, the client and its grants: `Authority`, `Discovery`, `ClientConfig`, `ClientCredentials`, `RefreshTokenGrant`, `Revocation` (RFC 7009) |
//! | `private-key-jwt` | `erpnet-auth-oidc` (`private-key-jwt`) | `client`, plus `private_key_jwt` client authentication: `ClientSigningKey`, `ClientConfigBuilder::private_key` (brings jsonwebtoken and aws-lc-rs) |
//! | `validation` | `erpnet-auth-oidc` (`validation`) | `JwtValidator`, `JwksCache`, `VerifiedToken`, `ErpNetClaims` (brings aws-lc-rs) |
//! | `introspection` | `erpnet-auth-oidc` (`introspection`) | `Introspector` (RFC 7662) |
//! | `sign-in` | `erpnet-auth-oidc` (`sign-in`) | `AuthorizationCodeFlow` with PKCE, ID tokens, `sign_in_with_loopback` (brings openidconnect) |
//! | `rustls` (default) / `native-tls` | `erpnet-auth-oidc` (`rustls` / `native-tls`) | the TLS backend of every call to the provider |
//! | `reqwest` | `erpnet-auth-reqwest` | `erpnet_auth::reqwest`: `BearerAuth`, a reqwest-middleware that attaches tokens to outgoing requests, and `SessionPacing`, which keeps ERP.net's session limits |
//! | `tower-client` | `erpnet-auth-tower` (no features) | `erpnet_auth::tower::{AddBearerLayer, SessionPacingLayer}` for tower clients (tonic), without any JWT code |
//! | `tower` | `erpnet-auth-tower` (`validate`) | `erpnet_auth::tower`: `ValidateBearerLayer` and `RequireScopesLayer` for APIs (axum, tonic), plus `AddBearerLayer` |
//! | `axum` | `erpnet-auth-tower` (`axum`) | `tower`, plus the axum extractor `erpnet_auth::tower::Claims<T>` |
//! | `web` | `erpnet-auth-web` | `erpnet_auth::web`: sign-in for axum web apps (routes, tower-sessions sessions, `RequireSignInLayer`, the `SignedIn` and `UserTokens` extractors) |
//! | `web-redis` | `erpnet-auth-web` (`redis`) | `web`, with sessions and sign-ins in Redis for several replicas |
//! | `testkit` | `erpnet-auth-testkit` | `erpnet_auth::testkit`: an in-process mock ERP.net Identity and Domain API for your tests |
//!
//! ```
//! use erpnet_auth::{Authority, CachedTokenSource, ClientConfig, ClientCredentials, TokenSource};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), erpnet_auth::Error> {
//! # let identity = erpnet_auth_testkit::MockIdentity::start().await;
//! # let instance = identity.issuer();
//! // `instance` is an ERP.net instance name ("myinstance") or an issuer URL.
//! let client = ClientConfig::builder(instance.parse::<Authority>()?, "my.trusted.app/first")
//!     .client_secret(erpnet_auth_testkit::DEFAULT_CLIENT_SECRET)
//!     .build()?;
//! let grant = ClientCredentials::builder(client)
//!     .scopes(["read", "update"])
//!     .build()?;
//! let tokens = CachedTokenSource::new(grant);
//! let token = tokens.token().await?;
//! assert!(token.has_scope("read"));
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

pub use erpnet_auth_core::*;
// The protocol (features `client`, `validation`, `introspection`, `sign-in`),
// at the top level. No doc comment: rustdoc would prepend it to the docs of
// every item the glob brings in. On docs.rs each item shows this `cfg`.
#[cfg(any(
    feature = "client",
    feature = "validation",
    feature = "introspection",
    feature = "sign-in"
))]
pub use erpnet_auth_oidc::*;

/// The reqwest-middleware adapter (feature `reqwest`): `BearerAuth` attaches
/// tokens to outgoing requests, `SessionPacing` keeps ERP.net's session limits.
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub use erpnet_auth_reqwest as reqwest;

/// The mock ERP.net Identity server and Domain API (feature `testkit`).
#[cfg(feature = "testkit")]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub use erpnet_auth_testkit as testkit;

/// Tower middleware: bearer validation and scopes (feature `tower`), the axum
/// extractor (feature `axum`) and the client-side bearer layer (feature
/// `tower-client`).
#[cfg(feature = "tower-client")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower-client")))]
pub use erpnet_auth_tower as tower;

/// Sign-in for axum web apps (feature `web`; Redis with `web-redis`).
#[cfg(feature = "web")]
pub use erpnet_auth_web as web;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
