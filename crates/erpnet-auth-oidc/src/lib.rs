//! The protocol crate of [erpnet-auth]: OAuth 2.0 and OpenID Connect for
//! ERP.net and any standards-compliant provider.
//!
//! One module per role, each behind a feature named after what you do with it,
//! so that you build only what you use:
//!
//! | feature | what it gives | brings |
//! |---|---|---|
//! | (always) | [`Authority`], [`Discovery`], [`DiscoveryCache`], [`HttpClient`] (the one HTTP policy) | reqwest |
//! | `client` (default) | obtaining tokens as a client: [`ClientCredentials`], [`RefreshTokenGrant`], [`TokenEndpoint`], client authentication | nothing more |
//! | `validation` | validating JWT access tokens: `JwtValidator`, `JwksCache`, `VerifiedToken`, `ErpNetClaims` | aws-lc-rs |
//! | `introspection` | validating opaque tokens (RFC 7662) and revoking tokens (RFC 7009): `Introspector`, `Revocation` | `client`, aws-lc-rs |
//! | `sign-in` | signing users in: `AuthorizationCodeFlow` with PKCE, ID tokens, `sign_in_with_loopback` | `client`, `validation`, openidconnect |
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
//! use erpnet_auth_oidc::{Authority, CachedTokenSource, ClientCredentials, TokenSource};
//! use erpnet_auth_testkit::MockIdentity;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), erpnet_auth_oidc::Error> {
//! // A mock ERP.net Identity on 127.0.0.1; use your instance name in production.
//! let identity = MockIdentity::start().await;
//! let authority = identity.issuer().parse::<Authority>()?;
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

#![cfg_attr(docsrs, feature(doc_cfg))]

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
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use client::{
    TokenEndpoint,
    client_credentials::{ClientCredentials, ClientCredentialsBuilder},
    refresh_token::{
        FnRefreshTokenStore, RefreshTokenGrant, RefreshTokenGrantBuilder, RefreshTokenStore,
        refresh_token_store_fn,
    },
    token_endpoint::{ClientAuthMethod, TokenResponse},
};
pub use discovery::{Authority, Discovery, DiscoveryCache, ProviderMetadata};
pub use http::{DEFAULT_MAX_BODY, DEFAULT_TIMEOUT, HttpClient, is_loopback_host, is_secure_url};
#[cfg(feature = "introspection")]
#[cfg_attr(docsrs, doc(cfg(feature = "introspection")))]
pub use introspection::{
    DEFAULT_INTROSPECTION_CACHE, DEFAULT_INTROSPECTION_TTL, Introspector, IntrospectorBuilder,
    Revocation, TokenTypeHint,
};
#[cfg(any(feature = "validation", feature = "introspection"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "validation", feature = "introspection")))
)]
pub use jose::{Algorithm, looks_like_jwt};
#[cfg(feature = "sign-in")]
#[cfg_attr(docsrs, doc(cfg(feature = "sign-in")))]
pub use sign_in::{
    SignInError,
    authorization_code::{
        AuthorizationCodeFlow, AuthorizationCodeFlowBuilder, AuthorizationRequestBuilder,
        DEFAULT_SIGN_IN_TIMEOUT, PendingAuthorization, PendingParts, SignIn,
    },
    id_token::IdToken,
    loopback::{LoopbackOptions, LoopbackRedirect, open_browser, sign_in_with_loopback},
};
#[cfg(feature = "validation")]
#[cfg_attr(docsrs, doc(cfg(feature = "validation")))]
pub use validation::{
    error::ValidationError,
    jwks::{
        DEFAULT_JWKS_COOLDOWN, DEFAULT_JWKS_REFRESH, DEFAULT_MAX_KEYS, JwksBuilder, JwksCache,
        KeyInfo,
    },
    validator::{
        DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_LENGTH, DEFAULT_VERIFIED_CACHE, JwtValidator,
        JwtValidatorBuilder,
    },
};

/// The URL type of endpoints (from the `url` crate).
pub use url::Url;
