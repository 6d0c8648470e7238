//! The protocol crate of [erpnet-auth]: OAuth 2.0 and OpenID Connect for
//! ERP.net and any standards-compliant provider.
//!
//! One module per role, each behind a feature named after what you do with it,
//! so that you build only what you use:
//!
//! | feature | what it gives | brings |
//! |---|---|---|
//! | (always) | [`Authority`], [`Discovery`], [`DiscoveryCache`], [`HttpClient`] (the one HTTP policy) | reqwest |
//! | `client` (default) | acting as a client: [`ClientConfig`], [`ClientCredentials`], [`RefreshTokenGrant`], [`Revocation`] (RFC 7009), client authentication | nothing more |
//! | `private-key-jwt` | `private_key_jwt` client authentication (RFC 7523): `ClientSigningKey`, `ClientConfigBuilder::private_key` | `client`, jsonwebtoken, aws-lc-rs |
//! | `validation` | validating JWT access tokens: `JwtValidator` (one issuer, or several: `Issuers`), `JwksCache`, `VerifiedToken`, `ErpNetClaims` | aws-lc-rs |
//! | `introspection` | validating opaque tokens (RFC 7662): `Introspector` | `client`, aws-lc-rs |
//! | `sign-in` | signing users in: `AuthorizationCodeFlow` with PKCE, the device grant (RFC 8628), ID tokens, `UserInfo`, back-channel logout tokens, `sign_in_with_loopback` | `client`, `validation`, openidconnect |
//! | `rustls` (default) | TLS through rustls (with aws-lc-rs as its crypto provider) | rustls |
//! | `native-tls` | TLS through the platform's library (OpenSSL on Linux) instead | native-tls |
//!
//! A service that only needs client credentials builds no openidconnect and no
//! JWT code; with `native-tls` instead of `rustls` it builds no aws-lc-rs at all.
//! With neither TLS feature only plain `http` to loopback addresses works.
//!
//! Errors are [`Error`] at run time (with [`Error::is_transient`]) and
//! [`ConfigError`] from `build()`, both from `erpnet-auth-core` and re-exported
//! here.
//!
//! ```
//! use erpnet_auth_oidc::{Authority, CachedTokenSource, ClientConfig, ClientCredentials, TokenSource};
//! use erpnet_auth_testkit::MockIdentity;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), erpnet_auth_oidc::Error> {
//! // A mock ERP.net Identity on 127.0.0.1; use your instance name in production.
//! let identity = MockIdentity::start().await;
//! let authority = identity.issuer().parse::<Authority>()?;
//!
//! // Who the client is, once; every grant of this client is built from it.
//! let client = ClientConfig::builder(authority, erpnet_auth_testkit::DEFAULT_CLIENT_ID)
//!     .client_secret(erpnet_auth_testkit::DEFAULT_CLIENT_SECRET)
//!     .build()?;
//! let grant = ClientCredentials::builder(client)
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
//! # One client configuration
//!
//! A [`ClientConfig`] holds what every call of one client shares: where the
//! provider is ([`Provider`]: an [`Authority`] discovered on first use, a
//! [`DiscoveryCache`], a fetched [`Discovery`], or explicit [`Endpoints`]),
//! the client id, the secret, the [`ClientAuthMethod`] and the
//! [`HttpClient`]. Every grant ([`ClientCredentials`], [`RefreshTokenGrant`],
//! `AuthorizationCodeFlow`), the `Introspector` and [`Revocation`] are built
//! from one, so they authenticate alike and share one discovery document and
//! one connection pool.
//!
//! # Constructors
//!
//! One pattern across the workspace:
//!
//! - `X::builder(primary)` starts configuring an `X` from what it cannot do
//!   without (a grant from its [`ClientConfig`], a validator from its
//!   [`Authority`]); the builder's `build()` checks everything and returns
//!   `Result<X, ConfigError>`.
//! - `X::builder_for_<source>(…)` does the same when that comes from
//!   elsewhere: `JwtValidator::builder_for_discovery`,
//!   `JwtValidator::builder_for_jwks`, `JwtValidator::builder_for_issuers`,
//!   `JwksCache::builder_for_discovery`.
//! - `X::new(primary)` is the builder with every default, when there is
//!   nothing to choose ([`Revocation::new`], `JwksCache::new`,
//!   [`HttpClient::new`]); `X::from_<form>(…)` makes one from another
//!   representation (`JwksCache::from_json`).
//!
//! # Errors
//!
//! What a configuration gets wrong is a [`ConfigError`], returned by `build()`
//! (and by `new` where it can fail), before anything is sent; what goes wrong
//! at run time is an [`Error`], with [`Error::is_transient`]. A mistake that
//! can only be seen at run time (a discovered document naming no
//! introspection endpoint) is an [`Error::Config`]. No builder falls back to
//! an HTTP client with another policy: if one cannot be built, `build()`
//! fails.
//!
//! # Scopes
//!
//! Every `scopes(…)` of this crate means the same:
//!
//! - it **adds** scopes: calling it again adds more, it never replaces;
//! - each string is split on whitespace, so `["read update"]` is
//!   `["read", "update"]`;
//! - duplicates are dropped, and the order of first appearance is kept (it
//!   is the order of the `scope` parameter).
//!
//! Where they go: [`ClientCredentialsBuilder::scopes`] (required: ERP.net
//! grants every scope of the application when none is named),
//! [`RefreshTokenGrantBuilder::scopes`] (optional: fewer than were granted),
//! `AuthorizationCodeFlowBuilder::scopes` and
//! `AuthorizationRequestBuilder::scopes` (sign-in always asks for `openid`;
//! a request adds to the flow's), and `JwtValidatorBuilder::require_scopes`
//! (every one is required).
//!
//! [erpnet-auth]: https://docs.rs/erpnet-auth

#![cfg_attr(docsrs, feature(doc_cfg))]

mod backoff;
#[cfg(any(feature = "validation", feature = "introspection"))]
mod claims;
#[cfg(feature = "client")]
mod client;
#[cfg(feature = "introspection")]
mod digest;
mod discovery;
// The parsers of outside input for the fuzz targets in `fuzz/`: not API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod http;
#[cfg(feature = "introspection")]
mod introspection;
#[cfg(any(feature = "validation", feature = "introspection"))]
mod jose;
#[cfg(any(feature = "client", feature = "validation"))]
mod scopes;
#[cfg(feature = "sign-in")]
mod sign_in;
#[cfg(feature = "validation")]
mod validation;

pub use erpnet_auth_core::*;

#[cfg(any(feature = "validation", feature = "introspection"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "validation", feature = "introspection")))
)]
pub use claims::{ErpNetClaims, UserType, VerifiedToken};
#[cfg(feature = "private-key-jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "private-key-jwt")))]
pub use client::private_key_jwt::{AssertionAudience, ClientSigningKey};
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use client::{
    client_credentials::{ClientCredentials, ClientCredentialsBuilder},
    config::{ClientConfig, ClientConfigBuilder, Endpoints, Provider},
    refresh_token::{
        FnRefreshTokenStore, RefreshTokenGrant, RefreshTokenGrantBuilder, RefreshTokenStore,
        refresh_token_store_fn,
    },
    revocation::{Revocation, TokenTypeHint},
    token_endpoint::{ClientAuthMethod, TokenResponse},
};
pub use discovery::{Authority, Discovery, DiscoveryCache, ProviderMetadata};
pub use http::{DEFAULT_MAX_BODY, DEFAULT_TIMEOUT, HttpClient, is_loopback_host, is_secure_url};
#[cfg(feature = "introspection")]
#[cfg_attr(docsrs, doc(cfg(feature = "introspection")))]
pub use introspection::{
    DEFAULT_INTROSPECTION_CACHE, DEFAULT_INTROSPECTION_TTL, INTROSPECTION_ERROR_TTL, Introspector,
    IntrospectorBuilder, MAX_INTROSPECTED_TOKEN_LENGTH,
};
#[cfg(any(feature = "validation", feature = "introspection"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "validation", feature = "introspection")))
)]
pub use jose::{Algorithm, is_b64token, looks_like_jwt};
#[cfg(feature = "sign-in")]
#[cfg_attr(docsrs, doc(cfg(feature = "sign-in")))]
pub use sign_in::{
    SignInError,
    authorization_code::{
        AuthorizationCodeFlow, AuthorizationCodeFlowBuilder, AuthorizationRequestBuilder,
        DEFAULT_SIGN_IN_TIMEOUT, PendingAuthorization, PendingParts, SignIn,
    },
    device::DeviceAuthorization,
    id_token::IdToken,
    logout_token::{BACKCHANNEL_LOGOUT_EVENT, LogoutToken},
    loopback::{LoopbackOptions, LoopbackRedirect, open_browser, sign_in_with_loopback},
    userinfo::UserInfo,
};
#[cfg(feature = "validation")]
#[cfg_attr(docsrs, doc(cfg(feature = "validation")))]
pub use validation::{
    error::ValidationError,
    issuers::{DEFAULT_MAX_ISSUERS, Issuers},
    jwks::{
        DEFAULT_JWKS_COOLDOWN, DEFAULT_JWKS_REFRESH, DEFAULT_MAX_KEYS, JwksCache, JwksCacheBuilder,
        KeyInfo,
    },
    validator::{
        DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_LENGTH, DEFAULT_VERIFIED_CACHE, JwtValidator,
        JwtValidatorBuilder,
    },
};

/// The URL type of endpoints (from the `url` crate).
pub use url::Url;
