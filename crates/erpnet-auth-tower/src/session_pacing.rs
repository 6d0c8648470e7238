//! [`SessionPacingLayer`]: ERP.net's per-session rate limits for tower clients (tonic
//! channels, hyper clients), the same [`Pacer`] as the reqwest middleware's.

use std::error::Error as StdError;
use std::fmt;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use erpnet_auth_core::pacing::{Exchange, Pacer, PacingError};
use http::header::HOST;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::Body;
use tower::{Layer, Service};

/// Sends each request when its session's turn comes, and retries it after a `429` or `503`:
/// the rules of [`Pacer`] (per-session concurrency and requests-per-minute budget, the
/// per-origin cap, `Retry-After`, back-off), shared with the reqwest adapter.
///
/// Place it inside [`AddBearerLayer`](crate::AddBearerLayer), so that it sees the token:
///
/// ```
/// use erpnet_auth_core::StaticToken;
/// use erpnet_auth_core::pacing::Pacer;
/// use erpnet_auth_tower::{AddBearerLayer, SessionPacingLayer};
/// use tower::{Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let api = "https://myinstance.my.erp.net";
/// let pacer = Pacer::erpnet().build()?;
/// let mut client = ServiceBuilder::new()
///     .layer(AddBearerLayer::builder(StaticToken::new("enrt_…")).allow_origin(api).build()?)
///     .layer(SessionPacingLayer::new(pacer.clone()))
///     // With tonic: `.service(channel)`, then `HealthClient::new(client)`.
///     .service_fn(|request: http::Request<String>| async move {
///         assert!(request.headers().contains_key("authorization"));
///         Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
///     });
/// let request = http::Request::get("https://myinstance.my.erp.net/api/domain/odata/").body(String::new())?;
/// let response = client.ready().await?.call(request).await?;
/// assert_eq!(response.status(), 200);
/// assert_eq!(pacer.stats().sent, 1);
/// # Ok(()) }
/// ```
///
/// - The session is the request's `Authorization` or `X-Api-Key` value, hashed; the origin
///   is the URI's scheme and authority, or else the `Host` header (tonic's requests carry
///   only a path until the channel adds its origin).
/// - `poll_ready` is always ready: the wait for a turn happens in the response future, and
///   the inner service's readiness is awaited only when the request is about to go, so
///   that waiting requests hold no capacity of the inner service (a tonic channel's buffer).
/// - Only requests whose body is known to be empty (`Body::is_end_stream`) are retried, as
///   a body cannot be replayed in general: `GET`s and other body-less requests are, a gRPC
///   call or an upload is not.
/// - A request that gets no turn is not sent: [`SessionPacingError::Refused`].
#[derive(Clone)]
pub struct SessionPacingLayer {
    pacer: Pacer,
}

impl SessionPacingLayer {
    /// Paces requests with `pacer`; share it between the clients of one API.
    pub fn new(pacer: Pacer) -> Self {
        Self { pacer }
    }

    /// The pacer, for its [`stats`](Pacer::stats).
    pub fn pacer(&self) -> &Pacer {
        &self.pacer
    }
}

impl fmt::Debug for SessionPacingLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionPacingLayer")
            .field("pacer", &self.pacer)
            .finish()
    }
}

impl<S> Layer<S> for SessionPacingLayer {
    type Service = SessionPacing<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionPacing {
            inner,
            pacer: self.pacer.clone(),
        }
    }
}

/// The service of [`SessionPacingLayer`]; see there.
#[derive(Clone)]
pub struct SessionPacing<S> {
    inner: S,
    pacer: Pacer,
}

impl<S> SessionPacing<S> {
    /// Wraps `inner`; the same as `SessionPacingLayer::new(pacer).layer(inner)`.
    pub fn new(inner: S, pacer: Pacer) -> Self {
        SessionPacingLayer::new(pacer).layer(inner)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for SessionPacing<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionPacing")
            .field("inner", &self.inner)
            .field("pacer", &self.pacer)
            .finish()
    }
}

/// The error of a [`SessionPacing`] service.
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionPacingError<E> {
    /// The request got no turn (its session's queue was full, or the turn would have come
    /// after the time-out) and was not sent. Transient.
    Refused(PacingError),
    /// The inner service failed.
    Service(E),
}

impl<E> SessionPacingError<E> {
    /// Whether the request was refused by the pacing (and may succeed later); says nothing
    /// of the inner service's errors.
    pub fn is_refused(&self) -> bool {
        matches!(self, SessionPacingError::Refused(_))
    }
}

impl<E: fmt::Display> fmt::Display for SessionPacingError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionPacingError::Refused(error) => error.fmt(f),
            SessionPacingError::Service(error) => error.fmt(f),
        }
    }
}

impl<E: StdError + 'static> StdError for SessionPacingError<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            SessionPacingError::Refused(error) => Some(error),
            SessionPacingError::Service(error) => error.source(),
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionPacing<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send + 'static,
    ReqBody: Body + Default + Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = SessionPacingError<S::Error>;
    type Future = ResponseFuture<Response<ResBody>, S::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let mut downstream = Downstream {
            inner: self.inner.clone(),
            bodies: PhantomData,
        };
        let pacer = self.pacer.clone();
        ResponseFuture {
            inner: Box::pin(async move { pacer.send(&mut downstream, request).await }),
        }
    }
}

/// The response future of [`SessionPacing`]: the turn, the request and its retries.
pub struct ResponseFuture<T, E> {
    // Boxed: it waits for turns and retries across awaits, where a hand-written state
    // machine would buy nothing against the network time it spends.
    inner: Pin<Box<dyn Future<Output = Result<T, SessionPacingError<E>>> + Send>>,
}

impl<T, E> Future for ResponseFuture<T, E> {
    type Output = Result<T, SessionPacingError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<T, E> fmt::Debug for ResponseFuture<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// The inner service, as the pacer sends through it.
struct Downstream<S, ReqBody, ResBody> {
    inner: S,
    bodies: PhantomData<fn(ReqBody) -> ResBody>,
}

impl<S, ReqBody, ResBody> Exchange for Downstream<S, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Send,
    S::Future: Send,
    S::Error: Send,
    ReqBody: Body + Default + Send,
    ResBody: Send,
{
    type Request = Request<ReqBody>;
    type Response = Response<ResBody>;
    type Error = SessionPacingError<S::Error>;

    fn method(request: &Request<ReqBody>) -> &Method {
        request.method()
    }

    fn headers(request: &Request<ReqBody>) -> &HeaderMap {
        request.headers()
    }

    fn origin(request: &Request<ReqBody>) -> String {
        let uri = request.uri();
        match (uri.scheme_str(), uri.authority()) {
            (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
            _ => request
                .headers()
                .get(HOST)
                .and_then(|host| host.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
        }
    }

    fn try_clone(request: &Request<ReqBody>) -> Option<Request<ReqBody>> {
        if !request.body().is_end_stream() {
            return None;
        }
        let mut copy = Request::new(ReqBody::default());
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.version_mut() = request.version();
        *copy.headers_mut() = request.headers().clone();
        *copy.extensions_mut() = request.extensions().clone();
        Some(copy)
    }

    async fn send(&mut self, request: Request<ReqBody>) -> Result<Response<ResBody>, Self::Error> {
        poll_fn(|cx| self.inner.poll_ready(cx))
            .await
            .map_err(SessionPacingError::Service)?;
        self.inner
            .call(request)
            .await
            .map_err(SessionPacingError::Service)
    }

    fn status(response: &Response<ResBody>) -> StatusCode {
        response.status()
    }

    fn response_headers(response: &Response<ResBody>) -> &HeaderMap {
        response.headers()
    }

    fn refused(error: PacingError) -> Self::Error {
        SessionPacingError::Refused(error)
    }
}
