//! The protocol core of [erpnet-auth]: access tokens for ERP.net and any
//! standards-compliant OAuth 2.0 / OpenID Connect provider.
//!
//! - [`TokenSource`]: where tokens come from; implement it in a few lines.
//! - [`CachedTokenSource`]: wraps any source with a lock-free cache, early
//!   refresh and single-flight fetching.
//! - Grants: [`ClientCredentials`] (services), [`AuthorizationCodeFlow`] with
//!   PKCE and ID tokens (interactive apps; [`sign_in_with_loopback`] for native
//!   and command-line apps), [`RefreshTokenGrant`] (rotating refresh tokens) and
//!   [`StaticToken`] (ERP.net personal and system access tokens, `enrt_…`).
//! - [`Introspector`] and [`Revocation`]: RFC 7662 and RFC 7009, where a
//!   provider offers them.
//! - [`Discovery`]: from an ERP.net instance name or issuer URL to endpoints.
//! - [`JwtValidator`] and [`JwksCache`]: validation of JWT access tokens
//!   against the provider's signing keys, for resource servers.
//! - [`HttpClient`]: the one HTTP policy (time-outs, body cap, no redirects,
//!   `https` except loopback) every call to a provider follows.
//!
//! This crate knows nothing of reqwest-middleware, tower or axum; the adapter
//! crates do.
//!
//! ```
//! use erpnet_auth_core::{CachedTokenSource, ClientCredentials, TokenSource};
//! use erpnet_auth_testkit::MockIdentity;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), erpnet_auth_core::Error> {
//! // A mock ERP.net Identity on 127.0.0.1; use your instance name in production.
//! let identity = MockIdentity::start().await;
//! let authority = identity.issuer().parse::<erpnet_auth_core::Authority>()?;
//!
//! let grant = ClientCredentials::builder(authority, erpnet_auth_testkit::DEFAULT_CLIENT_ID)
//!     .client_secret(erpnet_auth_testkit::DEFAULT_CLIENT_SECRET)
//!     .scopes(["read", "update"])
//!     .build()?;
//! let tokens = CachedTokenSource::new(grant);
//!
//! let first = tokens.token().await?;
//! let again = tokens.token().await?;
//! assert_eq!(first, again, "served from the cache");
//! assert!(first.has_scope("update"));
//! # Ok(()) }
//! ```
//!
//! [erpnet-auth]: https://docs.rs/erpnet-auth

mod authorization_code;
mod cache;
mod claims;
mod client_credentials;
mod discovery;
mod error;
mod http;
mod id_token;
mod introspection;
mod jwks;
mod jwt;
mod loopback;
mod refresh_token;
mod source;
mod sync;
mod token;
mod token_endpoint;
mod validator;

pub use authorization_code::{
    AuthorizationCodeFlow, AuthorizationCodeFlowBuilder, AuthorizationRequestBuilder,
    DEFAULT_SIGN_IN_TIMEOUT, PendingAuthorization, PendingParts, SignIn,
};
pub use cache::{
    CacheBuilder, CachedTokenSource, DEFAULT_BACKOFF_INITIAL, DEFAULT_BACKOFF_MAX,
    DEFAULT_EXPIRY_LEEWAY, DEFAULT_JITTER, DEFAULT_REFRESH_MARGIN,
};
pub use claims::{ErpNetClaims, UserType, VerifiedToken};
pub use client_credentials::{ClientCredentials, ClientCredentialsBuilder, TokenEndpoint};
pub use discovery::{
    Authority, Discovery, DiscoveryCache, ExtraProviderMetadata, ProviderMetadata,
};
pub use error::{Error, OAuthErrorCode};
pub use http::{DEFAULT_MAX_BODY, DEFAULT_TIMEOUT, HttpClient, is_loopback_host, is_secure_url};
pub use id_token::IdToken;
pub use introspection::{
    DEFAULT_INTROSPECTION_CACHE, DEFAULT_INTROSPECTION_TTL, Introspector, IntrospectorBuilder,
    Revocation, TokenTypeHint,
};
pub use jwks::{
    DEFAULT_JWKS_COOLDOWN, DEFAULT_JWKS_REFRESH, DEFAULT_MAX_KEYS, JwksBuilder, JwksCache, KeyInfo,
};
pub use jwt::{Algorithm, looks_like_jwt};
pub use loopback::{LoopbackOptions, LoopbackRedirect, open_browser, sign_in_with_loopback};
pub use refresh_token::{
    FnRefreshTokenStore, RefreshTokenGrant, RefreshTokenGrantBuilder, RefreshTokenStore,
    refresh_token_store_fn,
};
pub use source::{
    FnTokenSource, StaticToken, TokenSource, is_erpnet_reference_token, token_source_fn,
};
pub use token::AccessToken;
pub use token_endpoint::{ClientAuthMethod, TokenResponse};
pub use validator::{
    DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_LENGTH, DEFAULT_VERIFIED_CACHE, JwtValidator,
    JwtValidatorBuilder, ValidationError,
};

/// Re-exported so that implementors of [`TokenSource`] need no extra dependency.
pub use async_trait::async_trait;
/// The URL type of endpoints (from the `url` crate).
pub use url::Url;
