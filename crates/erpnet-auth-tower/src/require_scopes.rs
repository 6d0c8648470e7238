//! [`RequireScopesLayer`]: refuses requests whose verified token lacks
//! scopes, with 403 `insufficient_scope`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use erpnet_auth_oidc::VerifiedToken;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::body::ResponseBody;
use crate::refusal::{Realm, Refusal};
use crate::validate_bearer::Validated;

/// Requires scopes of the [`VerifiedToken`] that
/// [`ValidateBearer`](crate::ValidateBearer) put into the request's
/// extensions: all of them ([`all`](Self::all)) or at least one
/// ([`any`](Self::any)).
///
/// Put it inside the validating layer: on an axum route group with
/// `route_layer` (the validating layer on the router), or on one tonic service
/// with `tonic::service::LayerExt::named_layer`.
///
/// | the request | HTTP answer | gRPC status |
/// |---|---|---|
/// | has the scopes | the inner service's | the inner service's |
/// | lacks one | 403, `WWW-Authenticate: Bearer realm="…", error="insufficient_scope", …, scope="read update"` | 7 PERMISSION_DENIED |
/// | is anonymous (optional authentication) | 401 with the challenge | 16 UNAUTHENTICATED |
/// | never passed a `ValidateBearer` (a configuration error, logged) | 500 | 13 INTERNAL |
///
/// The `scope` parameter lists the scopes this layer names, space-separated.
///
/// ```
/// use axum::{Router, routing::{get, post}};
/// use erpnet_auth_tower::RequireScopesLayer;
///
/// let app: Router = Router::new()
///     .route("/items", get(|| async { "items" }))
///     .route_layer(RequireScopesLayer::all(["read"]))
///     .merge(
///         Router::new()
///             .route("/items", post(|| async { "created" }))
///             .route_layer(RequireScopesLayer::any(["update", "admin"])),
///     );
/// // …then `.layer(ValidateBearerLayer::new(validator))` around it all.
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct RequireScopesLayer {
    rule: Arc<Rule>,
}

#[derive(Debug)]
struct Rule {
    scopes: Vec<String>,
    any: bool,
    /// The scopes, space-separated, for the `scope` parameter.
    joined: Arc<str>,
}

impl Rule {
    fn new<I, S>(scopes: I, any: bool) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        let joined = scopes.join(" ").into();
        Self {
            scopes,
            any,
            joined,
        }
    }

    fn allows(&self, token: &VerifiedToken) -> bool {
        if self.any {
            self.scopes.iter().any(|s| token.has_scope(s))
        } else {
            self.scopes.iter().all(|s| token.has_scope(s))
        }
    }
}

impl RequireScopesLayer {
    /// Requires every one of `scopes`.
    pub fn all<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            rule: Arc::new(Rule::new(scopes, false)),
        }
    }

    /// Requires at least one of `scopes` (an empty list refuses every
    /// request).
    pub fn any<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            rule: Arc::new(Rule::new(scopes, true)),
        }
    }
}

impl<S> Layer<S> for RequireScopesLayer {
    type Service = RequireScopes<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopes {
            inner,
            rule: self.rule.clone(),
        }
    }
}

/// The service of [`RequireScopesLayer`]; see there.
#[derive(Debug, Clone)]
pub struct RequireScopes<S> {
    inner: S,
    rule: Arc<Rule>,
}

impl<S> RequireScopes<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireScopes<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let extensions = request.extensions();
        let validated = extensions.get::<Validated>();
        let refusal = match extensions.get::<VerifiedToken>() {
            Some(token) if self.rule.allows(token) => None,
            Some(_) => {
                tracing::debug!(required = %self.rule.joined, any = self.rule.any, "request refused: insufficient scope");
                Some(Refusal::InsufficientScope {
                    scope: self.rule.joined.clone(),
                    description: if self.rule.any {
                        "the token has none of the scopes this operation accepts"
                    } else {
                        "the token lacks a scope this operation requires"
                    },
                })
            }
            None if validated.is_some() => Some(Refusal::MissingToken),
            None => {
                tracing::error!(
                    "RequireScopes found no verified token: put a ValidateBearerLayer in front of it (answering 500)"
                );
                Some(Refusal::NotConfigured)
            }
        };
        match refusal {
            None => ResponseFuture::called(self.inner.call(request)),
            Some(refusal) => {
                let default = Realm::default();
                let realm = validated.map_or(&default, |v| &v.0.realm);
                ResponseFuture::refused(refusal.response(realm, request.headers()))
            }
        }
    }
}

pin_project! {
    /// The response future of [`RequireScopes`].
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Called { #[pin] future: F },
        // Boxed, so that the future stays small on the accepted path.
        Refused { response: Option<Box<Response<Bytes>>> },
    }
}

impl<F> ResponseFuture<F> {
    fn called(future: F) -> Self {
        Self {
            state: State::Called { future },
        }
    }

    fn refused(response: Response<Bytes>) -> Self {
        Self {
            state: State::Refused {
                response: Some(Box::new(response)),
            },
        }
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called { future } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(response.map(ResponseBody::inner)))
            }
            StateProj::Refused { response } => {
                let response = response.take().expect("polled after completion");
                Poll::Ready(Ok((*response).map(ResponseBody::refusal)))
            }
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
