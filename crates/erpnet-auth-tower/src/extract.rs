//! [`Claims`]: the axum extractor for the verified token's claims (feature
//! `axum`).

use std::fmt;
use std::ops::Deref;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use erpnet_auth_oidc::{ErpNetClaims, VerifiedToken};
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::refusal::{Realm, Refusal, is_grpc};
use crate::validate_bearer::Validated;

/// The claims of the request's verified token, for axum handlers: ERP.net's
/// claims typed by default ([`ErpNetClaims`]), or any type of yours that
/// implements `Deserialize`. The [`VerifiedToken`] (issuer, audiences, scopes,
/// expiry, every claim as JSON) comes along in [`token`](Self::token).
///
/// - `Claims<T>`: the request must carry a valid token; a request let through
///   anonymously by an [`optional`](crate::ValidateBearerLayer::optional)
///   layer is answered 401.
/// - `Option<Claims<T>>`: `None` for an anonymous request.
/// - Claims that do not deserialize into `T` answer 401 `invalid_token` (the
///   token lacks what this API needs).
/// - Without a [`ValidateBearerLayer`](crate::ValidateBearerLayer) in front
///   of the handler, the extractor answers 500 and logs an error: a
///   configuration mistake, never a reason to let the request through.
///
/// ```
/// use axum::{Json, Router, routing::get};
/// use erpnet_auth_tower::Claims;
/// use serde::Deserialize;
///
/// async fn whoami(claims: Claims) -> String {
///     // `Claims` is `Claims<ErpNetClaims>`; fields through `Deref`.
///     format!("{:?} as {:?}", claims.token.caller(), claims.client_system_user)
/// }
///
/// #[derive(Deserialize)]
/// struct Mine {
///     client_id: String,
/// }
///
/// async fn mine(Claims { claims, .. }: Claims<Mine>) -> String {
///     claims.client_id
/// }
///
/// async fn greeting(claims: Option<Claims>) -> &'static str {
///     if claims.is_some() { "hello again" } else { "hello, stranger" }
/// }
///
/// let app: Router = Router::new()
///     .route("/whoami", get(whoami))
///     .route("/mine", get(mine))
///     .route("/greeting", get(greeting));
/// // …with `.layer(ValidateBearerLayer::new(validator))`.
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct Claims<T = ErpNetClaims> {
    /// The claims, deserialized.
    pub claims: T,
    /// The verified token they come from.
    pub token: VerifiedToken,
}

impl<T> Claims<T> {
    /// The claims, without the token.
    pub fn into_inner(self) -> T {
        self.claims
    }
}

impl<T> Deref for Claims<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.claims
    }
}

/// Why [`Claims`] could not be extracted; answers as the validating layer
/// would (401 or 500, with `WWW-Authenticate` and a JSON body).
#[derive(Debug)]
pub struct ClaimsRejection {
    refusal: Refusal,
    realm: Realm,
    grpc: bool,
}

impl ClaimsRejection {
    fn new(refusal: Refusal, realm: Option<&Realm>, parts: &Parts) -> Self {
        Self {
            refusal,
            realm: realm.cloned().unwrap_or_default(),
            grpc: is_grpc(&parts.headers),
        }
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> http::StatusCode {
        self.refusal.status()
    }
}

impl fmt::Display for ClaimsRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.refusal.description())
    }
}

impl std::error::Error for ClaimsRejection {}

impl IntoResponse for ClaimsRejection {
    fn into_response(self) -> Response {
        self.refusal
            .answer(&self.realm, self.grpc)
            .map(axum::body::Body::from)
    }
}

/// The claims, `None` for an anonymous request, or why neither.
fn extract<T: DeserializeOwned>(parts: &Parts) -> Result<Option<Claims<T>>, ClaimsRejection> {
    let validated = parts.extensions.get::<Validated>();
    let Some(token) = parts.extensions.get::<VerifiedToken>() else {
        if validated.is_some() {
            return Ok(None);
        }
        tracing::error!(
            "Claims extractor found no verified token: put a ValidateBearerLayer in front of the handler (answering 500)"
        );
        return Err(ClaimsRejection::new(Refusal::NotConfigured, None, parts));
    };
    match token.deserialize::<T>() {
        Ok(claims) => Ok(Some(Claims {
            claims,
            token: token.clone(),
        })),
        Err(error) => {
            tracing::debug!(%error, "request refused: the token's claims do not fit the handler's type");
            let refusal = Refusal::InvalidToken("the token's claims do not fit this API".into());
            Err(ClaimsRejection::new(
                refusal,
                validated.map(|v| &v.0.realm),
                parts,
            ))
        }
    }
}

impl<S, T> FromRequestParts<S> for Claims<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ClaimsRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match extract(parts)? {
            Some(claims) => Ok(claims),
            None => {
                let realm = parts.extensions.get::<Validated>().map(|v| &v.0.realm);
                Err(ClaimsRejection::new(Refusal::MissingToken, realm, parts))
            }
        }
    }
}

impl<S, T> OptionalFromRequestParts<S> for Claims<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ClaimsRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        extract(parts)
    }
}
