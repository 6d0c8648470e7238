//! [`AddBearerLayer`]: the client side. Adds `Authorization: Bearer …` from a
//! [`TokenSource`] to every outgoing request of a tower-based client (a tonic
//! channel, a hyper client).

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use erpnet_auth_core::{AccessToken, Error, TokenSource};
use http::header::AUTHORIZATION;
use http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

/// Adds `Authorization: <type> <token>` (`Bearer` for every ERP.net token)
/// from a [`TokenSource`] to every request, replacing any `Authorization`
/// header already there. The header is marked sensitive, so HTTP libraries
/// leave it out of their logs.
///
/// - Hot path: [`TokenSource::cached_token`], which for a
///   [`CachedTokenSource`](erpnet_auth_core::CachedTokenSource) is one
///   lock-free load; nothing waits.
/// - Otherwise the request waits for [`TokenSource::token`] (a single
///   in-flight refresh for a cached source); a failure becomes the service's
///   error, [`AddBearerError::Token`].
/// - A response with status 401, or a gRPC trailers-only response with
///   `grpc-status: 16` (UNAUTHENTICATED), reports the token to the source
///   ([`TokenSource::report_rejected`]), so the next request gets a new one.
///   The failed request itself is not retried: its body is gone.
///
/// ```
/// use erpnet_auth_core::StaticToken;
/// use erpnet_auth_tower::AddBearerLayer;
/// use tower::ServiceBuilder;
///
/// # fn main() {
/// // With tonic: `ServiceBuilder::new().layer(layer).service(channel)`,
/// // then `HealthClient::new(service)`.
/// let layer = AddBearerLayer::new(StaticToken::new("enrt_…"));
/// let client = ServiceBuilder::new()
///     .layer(layer)
///     .service_fn(|request: http::Request<String>| async move {
///         assert!(request.headers()["authorization"].is_sensitive());
///         Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
///     });
/// # let _ = client;
/// # }
/// ```
#[derive(Clone)]
pub struct AddBearerLayer {
    source: Arc<dyn TokenSource>,
}

impl AddBearerLayer {
    /// Adds tokens from `source`; wrap a grant in
    /// [`CachedTokenSource`](erpnet_auth_core::CachedTokenSource) first, or
    /// pass one you share with other clients as an `Arc`.
    pub fn new(source: impl TokenSource) -> Self {
        Self {
            source: Arc::new(source),
        }
    }

    /// Adds tokens from a source held as `Arc<dyn TokenSource>`.
    pub fn from_arc(source: Arc<dyn TokenSource>) -> Self {
        Self { source }
    }
}

impl fmt::Debug for AddBearerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddBearerLayer").finish_non_exhaustive()
    }
}

impl<S> Layer<S> for AddBearerLayer {
    type Service = AddBearer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AddBearer {
            inner,
            source: self.source.clone(),
        }
    }
}

/// The service of [`AddBearerLayer`]; see there.
#[derive(Clone)]
pub struct AddBearer<S> {
    inner: S,
    source: Arc<dyn TokenSource>,
}

impl<S> AddBearer<S> {
    /// Wraps `inner`; the same as `AddBearerLayer::new(source).layer(inner)`.
    pub fn new(inner: S, source: impl TokenSource) -> Self {
        AddBearerLayer::new(source).layer(inner)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for AddBearer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddBearer")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// The error of an [`AddBearer`] service.
#[derive(Debug)]
#[non_exhaustive]
pub enum AddBearerError<E> {
    /// The token source could not provide a token; the request was not sent.
    Token(Error),
    /// The token has characters a header cannot carry; the request was not
    /// sent.
    InvalidToken,
    /// The inner service failed.
    Service(E),
}

impl<E> AddBearerError<E> {
    /// Whether trying again later may succeed: a transient token failure
    /// ([`Error::is_transient`]). Says nothing of the inner service's errors.
    pub fn is_transient_token_error(&self) -> bool {
        matches!(self, AddBearerError::Token(e) if e.is_transient())
    }
}

impl<E: fmt::Display> fmt::Display for AddBearerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddBearerError::Token(e) => write!(f, "no access token for the request: {e}"),
            AddBearerError::InvalidToken => {
                f.write_str("the access token has characters a header cannot carry")
            }
            AddBearerError::Service(e) => e.fmt(f),
        }
    }
}

impl<E: StdError + 'static> StdError for AddBearerError<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            AddBearerError::Token(e) => Some(e),
            AddBearerError::InvalidToken => None,
            AddBearerError::Service(e) => e.source(),
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AddBearer<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
{
    type Response = Response<ResBody>;
    type Error = AddBearerError<S::Error>;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(AddBearerError::Service)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let state = match self.source.cached_token() {
            Some(token) => match authorize(&mut request, &token) {
                Ok(()) => State::Called {
                    future: self.inner.call(request),
                    sent: Some(Sent {
                        source: self.source.clone(),
                        token,
                    }),
                },
                Err(error) => State::Failed { error: Some(error) },
            },
            None => {
                let source = self.source.clone();
                // The inner service was made ready by `poll_ready`: take that
                // one along and leave a clone for the next request.
                let clone = self.inner.clone();
                State::Fetching {
                    fetch: Box::pin(async move { source.token().await }),
                    pending: Some((mem::replace(&mut self.inner, clone), request)),
                    source: self.source.clone(),
                }
            }
        };
        ResponseFuture { state }
    }
}

fn authorize<B, E>(request: &mut Request<B>, token: &AccessToken) -> Result<(), AddBearerError<E>> {
    let value = token
        .authorization_header()
        .map_err(|_| AddBearerError::InvalidToken)?;
    request.headers_mut().insert(AUTHORIZATION, value);
    Ok(())
}

/// Whether the server refused the token: HTTP 401, or a trailers-only gRPC
/// response with status UNAUTHENTICATED.
fn refused_token<B>(response: &Response<B>) -> bool {
    response.status() == StatusCode::UNAUTHORIZED
        || response
            .headers()
            .get("grpc-status")
            .is_some_and(|status| status == "16")
}

type Fetch = Pin<Box<dyn Future<Output = Result<AccessToken, Error>> + Send>>;

/// The token a request was sent with, to report it if the server refuses it.
struct Sent {
    source: Arc<dyn TokenSource>,
    token: AccessToken,
}

pin_project! {
    /// The response future of [`AddBearer`].
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
        Called { #[pin] future: S::Future, sent: Option<Sent> },
        Fetching {
            fetch: Fetch,
            pending: Option<(S, Request<ReqBody>)>,
            source: Arc<dyn TokenSource>,
        },
        Failed { error: Option<AddBearerError<S::Error>> },
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResBody>, AddBearerError<S::Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Called { future, sent } => {
                    let response = ready!(future.poll(cx)).map_err(AddBearerError::Service)?;
                    if let Some(sent) = sent.take()
                        && refused_token(&response)
                    {
                        tracing::debug!(
                            "the server refused the access token; reporting it to the source"
                        );
                        sent.source.report_rejected(&sent.token);
                    }
                    return Poll::Ready(Ok(response));
                }
                StateProj::Failed { error } => {
                    return Poll::Ready(Err(error.take().expect("polled after completion")));
                }
                StateProj::Fetching {
                    fetch,
                    pending,
                    source,
                } => {
                    let fetched = ready!(fetch.as_mut().poll(cx));
                    let (mut service, mut request) =
                        pending.take().expect("polled after completion");
                    let next = match fetched {
                        Err(error) => {
                            tracing::debug!(%error, "no access token for an outgoing request");
                            State::Failed {
                                error: Some(AddBearerError::Token(error)),
                            }
                        }
                        Ok(token) => match authorize(&mut request, &token) {
                            Ok(()) => State::Called {
                                future: service.call(request),
                                sent: Some(Sent {
                                    source: source.clone(),
                                    token,
                                }),
                            },
                            Err(error) => State::Failed { error: Some(error) },
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
