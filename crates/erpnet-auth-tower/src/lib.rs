//! Tower middleware for [erpnet-auth]: protect an API (axum, tonic, any tower
//! server) with ERP.net identities, and add tokens to the requests of tower
//! clients.
//!
//! ```
//! use axum::{Extension, Router, body::Body, routing::get};
//! use erpnet_auth_oidc::{Authority, JwtValidator, VerifiedToken};
//! use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, MockIdentity};
//! use erpnet_auth_tower::{RequireScopesLayer, ValidateBearerLayer};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A mock ERP.net Identity on 127.0.0.1; use your instance name in production.
//! let identity = MockIdentity::start().await;
//! let validator = JwtValidator::builder(Authority::parse(&identity.issuer())?)
//!     .audience("DomainAPI")
//!     .build()?;
//!
//! let app = Router::new()
//!     .route(
//!         "/whoami",
//!         get(|Extension(token): Extension<VerifiedToken>| async move {
//!             token.caller().unwrap_or_default().to_owned()
//!         }),
//!     )
//!     .route_layer(RequireScopesLayer::all(["read"]))
//!     .layer(ValidateBearerLayer::new(validator));
//!
//! let anonymous = Request::get("/whoami").body(Body::empty())?;
//! let response = app.clone().oneshot(anonymous).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="api""#);
//!
//! let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
//! let request = Request::get("/whoami")
//!     .header("authorization", format!("Bearer {token}"))
//!     .body(Body::empty())?;
//! let response = app.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok(()) }
//! ```
//!
//! | item | side | what it does |
//! |---|---|---|
//! | [`ValidateBearerLayer`] | server | validates `Authorization: Bearer` JWTs with a `JwtValidator` (erpnet-auth-oidc), puts the `VerifiedToken` into the request's extensions, answers refusals per RFC 6750 (or as a gRPC status); [`optional`](ValidateBearerLayer::optional) lets anonymous requests through |
//! | [`RequireScopesLayer`] | server | all-of or any-of scope checks per route group or service: 403 `insufficient_scope` |
//! | [`ResourceMetadataLayer`] | server | serves the API's protected resource metadata (RFC 9728) at `/.well-known/oauth-protected-resource`, built from the validator; [`ValidateBearerLayer::resource_metadata`] points challenges to it |
//! | `Claims<T>` (feature `axum`) | server | the axum extractor: `Claims` (ERP.net claims, typed), `Claims<YourType>`, `Option<Claims<T>>` |
//! | [`AddBearerLayer`] | client | adds `Authorization: Bearer` from any [`TokenSource`](erpnet_auth_core::TokenSource) to outgoing requests (tonic channels, hyper clients) for the origins it allows (https, or http to loopback) |
//! | [`SessionPacingLayer`] | client | ERP.net's per-session rate limits ([`Pacer`](erpnet_auth_core::pacing::Pacer)): requests wait their turn locally; `429`/`503` retried after `Retry-After` |
//!
//! Every type is generic over request and response bodies; nothing here
//! depends on axum, hyper or tonic (the extractor aside), so the layers work
//! with axum 0.8 (`Router::layer`, `route_layer`) and tonic 0.14
//! (`Server::builder().layer(…)`, `LayerExt::named_layer`, and
//! `ServiceBuilder` around a `Channel`) alike.
//!
//! Each middleware has its module, with its layer, service and named
//! response future, after tower-http.
//!
//! [erpnet-auth]: https://docs.rs/erpnet-auth

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod add_bearer;
#[cfg(feature = "validate")]
mod bearer;
#[cfg(feature = "validate")]
mod body;
#[cfg(feature = "axum")]
mod extract;
// The `Authorization` header's reader for the fuzz targets in `fuzz/`: not API.
#[cfg(all(fuzzing, feature = "validate"))]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "validate")]
mod refusal;
#[cfg(feature = "validate")]
#[cfg_attr(docsrs, doc(cfg(feature = "validate")))]
pub mod require_scopes;
#[cfg(feature = "validate")]
#[cfg_attr(docsrs, doc(cfg(feature = "validate")))]
pub mod resource_metadata;
pub mod session_pacing;
#[cfg(feature = "validate")]
#[cfg_attr(docsrs, doc(cfg(feature = "validate")))]
pub mod validate_bearer;

pub use add_bearer::{AddBearer, AddBearerBuilder, AddBearerError, AddBearerLayer};
#[cfg(feature = "validate")]
#[cfg_attr(docsrs, doc(cfg(feature = "validate")))]
pub use body::ResponseBody;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use extract::{Claims, ClaimsRejection};
#[cfg(feature = "validate")]
#[cfg_attr(docsrs, doc(cfg(feature = "validate")))]
pub use refusal::{DEFAULT_REALM, DEFAULT_RETRY_AFTER};
#[cfg(feature = "validate")]
#[cfg_attr(docsrs, doc(cfg(feature = "validate")))]
pub use require_scopes::{RequireScopes, RequireScopesLayer};
#[cfg(feature = "validate")]
#[cfg_attr(docsrs, doc(cfg(feature = "validate")))]
pub use resource_metadata::{
    RESOURCE_METADATA_PATH, ResourceMetadata, ResourceMetadataBuilder, ResourceMetadataLayer,
    ServeResourceMetadata,
};
pub use session_pacing::{SessionPacing, SessionPacingError, SessionPacingLayer};
#[cfg(feature = "validate")]
#[cfg_attr(docsrs, doc(cfg(feature = "validate")))]
pub use validate_bearer::{ValidateBearer, ValidateBearerLayer};
