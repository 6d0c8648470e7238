//! [`ValidateBearerLayer`]: validates the bearer token of every request and
//! puts the [`VerifiedToken`] into the request's extensions.

use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
#[cfg(feature = "introspection")]
use erpnet_auth_oidc::Introspector;
use erpnet_auth_oidc::{JwtValidator, ValidationError, VerifiedToken, looks_like_jwt};
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::bearer;
use crate::body::ResponseBody;
#[cfg(feature = "introspection")]
use crate::refusal::Outage;
use crate::refusal::{DEFAULT_RETRY_AFTER, Realm, Refusal};

/// Validates `Authorization: Bearer` tokens with a [`JwtValidator`] and puts
/// the [`VerifiedToken`] into the request's extensions, where
/// [`RequireScopes`](crate::RequireScopes) and the `Claims` extractor (feature
/// `axum`) find it.
///
/// Named for what it does in both of its modes: by default a request without
/// a valid token is refused; [`optional`](Self::optional) lets requests with
/// no token at all through (a token that is present must still be valid).
///
/// | the request has | HTTP answer | gRPC status |
/// |---|---|---|
/// | a valid token | the inner service's | the inner service's |
/// | no bearer token (no `Authorization`, or another scheme) | 401, `WWW-Authenticate: Bearer realm="api"` | 16 UNAUTHENTICATED |
/// | two `Authorization` headers, a malformed value | 400 `invalid_request` | 16 UNAUTHENTICATED |
/// | an invalid, expired, foreign or wrong-audience token, an ID token, a reference token (`enrt_…`) | 401 `invalid_token` | 16 UNAUTHENTICATED |
/// | a token without the scopes the validator requires | 403 `insufficient_scope` | 7 PERMISSION_DENIED |
/// | a token while the signing keys (or, for an opaque token, the introspection endpoint) cannot be reached | 503 with `Retry-After`, naming which | 14 UNAVAILABLE, naming which, with `grpc-retry-pushback-ms` |
///
/// HTTP refusals carry a small JSON body
/// (`{"error":"invalid_token","error_description":"token expired"}`); gRPC
/// refusals are trailers-only responses (`grpc-status`, `grpc-message`), which
/// gRPC clients read as the call's status. A request is gRPC when its
/// `content-type` starts with `application/grpc`.
///
/// Put a CORS layer outside this one: browsers send preflight requests
/// without credentials.
///
/// The accepted path does not wait and allocates nothing but the extensions:
/// [`JwtValidator::validate_now`] answers from the verified-token cache or
/// with the keys at hand. Only a token signed by a key not yet loaded waits
/// for the key set ([`JwtValidator::validate`], one boxed future).
///
/// ```
/// use axum::{Router, routing::get};
/// use erpnet_auth_oidc::{Authority, JwtValidator};
/// use erpnet_auth_tower::ValidateBearerLayer;
///
/// # fn main() -> Result<(), erpnet_auth_oidc::Error> {
/// let validator = JwtValidator::builder(Authority::parse("myinstance")?)
///     .audience("DomainAPI")
///     .build()?;
/// let app: Router = Router::new()
///     .route("/orders", get(|| async { "orders" }))
///     .layer(ValidateBearerLayer::new(validator).realm("orders"));
/// # let _ = app; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ValidateBearerLayer {
    validator: JwtValidator,
    settings: Arc<Settings>,
}

/// What the layer was configured with; also put into the extensions of every
/// request it lets through, so that later middleware can answer in the same
/// realm and tell an anonymous request from a missing layer.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) realm: Realm,
    optional: bool,
    retry_after: Duration,
    #[cfg(feature = "introspection")]
    introspector: Option<Introspector>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            realm: Realm::default(),
            optional: false,
            retry_after: DEFAULT_RETRY_AFTER,
            #[cfg(feature = "introspection")]
            introspector: None,
        }
    }
}

/// The mark [`ValidateBearer`] leaves on every request it lets through.
#[derive(Debug, Clone)]
pub(crate) struct Validated(pub(crate) Arc<Settings>);

impl ValidateBearerLayer {
    /// Refuses requests without a valid bearer token.
    pub fn new(validator: JwtValidator) -> Self {
        Self {
            validator,
            settings: Arc::default(),
        }
    }

    /// The `realm` named in `WWW-Authenticate` challenges (default `"api"`).
    /// Quotes and backslashes are escaped; characters a header cannot carry
    /// are replaced by `?`.
    pub fn realm(mut self, realm: impl AsRef<str>) -> Self {
        let settings = Arc::make_mut(&mut self.settings);
        settings.realm = settings.realm.renamed(realm.as_ref());
        self
    }

    /// Adds `resource_metadata="<url>"` to every `WWW-Authenticate`
    /// challenge (RFC 9728 §5.1), including those of
    /// [`RequireScopes`](crate::RequireScopes) and the `Claims` extractor
    /// behind this layer: the URL of this API's protected resource metadata
    /// (see [`ResourceMetadata`](crate::ResourceMetadata)), from which
    /// clients (MCP clients among them) learn which authorization server to
    /// get a token from. Quotes and backslashes are escaped; characters a
    /// header cannot carry are replaced by `?`.
    pub fn resource_metadata(mut self, url: impl AsRef<str>) -> Self {
        let settings = Arc::make_mut(&mut self.settings);
        settings.realm = settings.realm.with_resource_metadata(url.as_ref());
        self
    }

    /// The `Retry-After` of 503 answers, sent when the signing keys or the
    /// introspection endpoint cannot be reached (default 5 s, in whole seconds
    /// rounded up; gRPC: `grpc-retry-pushback-ms`). The key set is fetched
    /// again for an unknown key at most once per its cooldown, so a longer
    /// wait spares clients answers that cannot have changed yet.
    pub fn retry_after(mut self, wait: Duration) -> Self {
        Arc::make_mut(&mut self.settings).retry_after = wait;
        self
    }

    /// Optional authentication: a request with no bearer token passes through
    /// without a [`VerifiedToken`] (handlers see `Option<Claims<T>>` as
    /// `None`); a request with a token is validated as usual, and refused if
    /// the token is invalid.
    pub fn optional(mut self) -> Self {
        Arc::make_mut(&mut self.settings).optional = true;
        self
    }

    /// Checks tokens that are not JWTs (ERP.net's `enrt_…` reference tokens,
    /// opaque tokens of other providers) with RFC 7662 introspection instead of
    /// refusing them; JWTs are still validated locally. The validator's
    /// audiences (when the provider names one) and required scopes apply to
    /// introspected tokens too; the introspector's own checks come first
    /// (issuer, refresh tokens, `IntrospectorBuilder::require_audience` to
    /// refuse a token that names no audience). A token outside the `b64token`
    /// syntax is answered 400 without asking the provider. A provider that
    /// cannot be asked answers 503, and while it backs off after a failure, at
    /// once.
    ///
    /// ERP.net documents no public introspection endpoint; this is for
    /// providers that have one.
    #[cfg(feature = "introspection")]
    #[cfg_attr(docsrs, doc(cfg(feature = "introspection")))]
    pub fn introspect_opaque_tokens(mut self, introspector: Introspector) -> Self {
        Arc::make_mut(&mut self.settings).introspector = Some(introspector);
        self
    }

    /// The validator.
    pub fn validator(&self) -> &JwtValidator {
        &self.validator
    }
}

impl<S> Layer<S> for ValidateBearerLayer {
    type Service = ValidateBearer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ValidateBearer {
            inner,
            validator: self.validator.clone(),
            settings: self.settings.clone(),
        }
    }
}

/// The service of [`ValidateBearerLayer`]; see there.
#[derive(Debug, Clone)]
pub struct ValidateBearer<S> {
    inner: S,
    validator: JwtValidator,
    settings: Arc<Settings>,
}

impl<S> ValidateBearer<S> {
    /// Wraps `inner`; the same as `ValidateBearerLayer::new(validator).layer(inner)`.
    pub fn new(inner: S, validator: JwtValidator) -> Self {
        ValidateBearerLayer::new(validator).layer(inner)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// What to do with a request, decided without holding on to its headers.
enum Decision {
    Pass(Option<VerifiedToken>),
    /// The answer needs the network: the key set (a key not yet loaded) or
    /// the introspection endpoint (an opaque token).
    Wait(Validation),
    Refuse(Refusal),
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ValidateBearer<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let decision = match bearer::token(request.headers()) {
            #[cfg(feature = "introspection")]
            Ok(Some(token)) if self.settings.introspector.is_some() && !looks_like_jwt(token) => {
                // The syntax check the JWT path makes on refusal, made before
                // anything is sent to the provider.
                match bearer::malformed(token) {
                    Some(malformed) => Decision::Refuse(invalid_request(malformed)),
                    None => {
                        let (validator, settings) = (self.validator.clone(), self.settings.clone());
                        let token = token.to_owned();
                        Decision::Wait(Box::pin(async move {
                            introspect(&settings, &validator, &token).await
                        }))
                    }
                }
            }
            Ok(Some(token)) => match self.validator.validate_now(token) {
                Ok(verified) => Decision::Pass(Some(verified)),
                // A key id was read, so the token is a well-formed JWS.
                Err(ValidationError::UnknownKey) => {
                    let validator = self.validator.clone();
                    let retry_after = self.settings.retry_after;
                    let token = token.to_owned();
                    Decision::Wait(Box::pin(async move {
                        validator
                            .validate(&token)
                            .await
                            .map_err(|error| refusal(&error, &token, retry_after))
                    }))
                }
                Err(error) => Decision::Refuse(match bearer::malformed(token) {
                    Some(malformed) => invalid_request(malformed),
                    None => refusal(&error, token, self.settings.retry_after),
                }),
            },
            Ok(None) if self.settings.optional => Decision::Pass(None),
            Ok(None) => {
                tracing::debug!("request refused: no bearer token");
                Decision::Refuse(Refusal::MissingToken)
            }
            Err(malformed) => Decision::Refuse(invalid_request(malformed)),
        };
        let state = match decision {
            Decision::Pass(verified) => {
                let extensions = request.extensions_mut();
                if let Some(verified) = verified {
                    extensions.insert(verified);
                }
                extensions.insert(Validated(self.settings.clone()));
                State::Called {
                    future: self.inner.call(request),
                }
            }
            Decision::Wait(validation) => {
                // The inner service was made ready by `poll_ready`: take that
                // one along and leave a clone for the next request.
                let clone = self.inner.clone();
                State::Validating {
                    validation,
                    pending: Some(Box::new(Pending {
                        service: mem::replace(&mut self.inner, clone),
                        request,
                        settings: self.settings.clone(),
                    })),
                }
            }
            Decision::Refuse(refusal) => State::Refused {
                response: Some(Box::new(
                    refusal.response(&self.settings.realm, request.headers()),
                )),
            },
        };
        ResponseFuture { state }
    }
}

/// Introspects an opaque token and applies the validator's audience and scope
/// rules to the answer.
#[cfg(feature = "introspection")]
async fn introspect(
    settings: &Settings,
    validator: &JwtValidator,
    token: &str,
) -> Result<VerifiedToken, Refusal> {
    let Some(introspector) = &settings.introspector else {
        return Err(Refusal::InvalidToken(
            "reference tokens are not accepted here".into(),
        ));
    };
    let active = match introspector.introspect(token).await {
        Ok(Some(active)) => active,
        Ok(None) => {
            tracing::debug!("request refused: the token is not active (introspection)");
            return Err(Refusal::InvalidToken("token is not active".into()));
        }
        Err(error) => {
            tracing::warn!(%error, "request refused: the token could not be introspected");
            return Err(Refusal::Unavailable {
                outage: Outage::Introspection,
                retry_after: settings.retry_after,
            });
        }
    };
    let audiences = validator.audiences();
    if !audiences.is_empty()
        && !active.audiences().is_empty()
        && !active.audiences().iter().any(|a| audiences.contains(a))
    {
        return Err(Refusal::from_validation(
            &ValidationError::WrongAudience,
            settings.retry_after,
        ));
    }
    let required = validator.required_scopes();
    if !required.iter().all(|s| active.has_scope(s)) {
        return Err(Refusal::from_validation(
            &ValidationError::InsufficientScope {
                required: required.to_vec(),
            },
            settings.retry_after,
        ));
    }
    Ok(active)
}

/// The refusal of a malformed `Authorization` header, logged.
fn invalid_request(malformed: bearer::Malformed) -> Refusal {
    tracing::debug!(
        reason = malformed.description(),
        "request refused: malformed Authorization header"
    );
    Refusal::InvalidRequest(malformed.description())
}

/// The refusal of a token the validator did not accept, logged (without the
/// token).
fn refusal(error: &ValidationError, token: &str, retry_after: Duration) -> Refusal {
    if matches!(error, ValidationError::Malformed(_)) && !looks_like_jwt(token) {
        // An opaque reference token (ERP.net `enrt_…`): nothing here can
        // check it, as no introspection is configured.
        tracing::debug!("request refused: a reference token, not a JWT");
        return Refusal::InvalidToken("reference tokens are not accepted here".into());
    }
    if error.is_unavailable() {
        tracing::warn!(%error, source = ?std::error::Error::source(error).map(ToString::to_string), "request refused: the signing keys this token needs could not be fetched");
    } else {
        tracing::debug!(reason = %error, "request refused: invalid bearer token");
    }
    Refusal::from_validation(error, retry_after)
}

type Validation = Pin<Box<dyn Future<Output = Result<VerifiedToken, Refusal>> + Send>>;

struct Pending<S, ReqBody> {
    service: S,
    request: Request<ReqBody>,
    settings: Arc<Settings>,
}

pin_project! {
    /// The response future of [`ValidateBearer`].
    pub struct ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        /// Accepted (or anonymous, when optional): the inner service runs.
        Called { #[pin] future: S::Future },
        // The cold states are boxed, so that the future stays small on the
        // accepted path (it is moved and boxed by the layers around it).
        /// Waiting for the key set, then validating again.
        Validating { validation: Validation, pending: Option<Box<Pending<S, ReqBody>>> },
        Refused { response: Option<Box<Response<Bytes>>> },
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Called { future } => {
                    let response = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(response.map(ResponseBody::inner)));
                }
                StateProj::Refused { response } => {
                    let response = response.take().expect("polled after completion");
                    return Poll::Ready(Ok((*response).map(ResponseBody::refusal)));
                }
                StateProj::Validating {
                    validation,
                    pending,
                } => {
                    let result = ready!(validation.as_mut().poll(cx));
                    let Pending {
                        mut service,
                        mut request,
                        settings,
                    } = *pending.take().expect("polled after completion");
                    let next = match result {
                        Ok(verified) => {
                            request.extensions_mut().insert(verified);
                            request.extensions_mut().insert(Validated(settings));
                            State::Called {
                                future: service.call(request),
                            }
                        }
                        Err(refusal) => State::Refused {
                            response: Some(Box::new(
                                refusal.response(&settings.realm, request.headers()),
                            )),
                        },
                    };
                    state.set(next);
                }
            }
        }
    }
}

impl<S, ReqBody> fmt::Debug for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
