//! [`AddBearerLayer`]: the client side. Adds `Authorization: Bearer …` from a
//! [`TokenSource`] to the outgoing requests of a tower-based client (a tonic
//! channel, a hyper client) for the origins it allows.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use erpnet_auth_core::origin::{Origin, OriginError};
use erpnet_auth_core::{AccessToken, ConfigError, Error, TokenSource};
use http::header::AUTHORIZATION;
use http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

/// Adds `Authorization: <type> <token>` (`Bearer` for every ERP.net token)
/// from a [`TokenSource`] to the requests for the origins it allows,
/// replacing any `Authorization` header already there. The header is marked
/// sensitive, so HTTP libraries leave it out of their logs.
///
/// The origin rules are those of `BearerAuth` (erpnet-auth-reqwest), from
/// [`erpnet_auth_core::origin::Origin`]:
///
/// - A request whose URI names an allowed origin (scheme, host and port;
///   `https://host` is `https://host:443`) gets a token.
/// - A request for any other origin goes out as it is: no token is attached
///   and none is fetched.
/// - An allowed origin is `https`, or plain `http` to a loopback address;
///   [`AddBearerBuilder::build`] refuses anything else.
/// - A request whose URI names no origin at all (`/path`) is not sent
///   ([`AddBearerError::NoOrigin`]): where its token would go is unknown. tonic's
///   generated clients send such URIs unless made with `with_origin`; give them
///   the channel's own URI, as in the example below.
///
/// For the requests that get a token:
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
/// # fn main() -> Result<(), erpnet_auth_core::ConfigError> {
/// let api = "https://myinstance.my.erp.net";
/// let layer = AddBearerLayer::builder(StaticToken::new("enrt_…"))
///     .allow_origin(api)
///     .build()?;
/// // With tonic: `ServiceBuilder::new().layer(layer).service(channel)`, then
/// // `HealthClient::with_origin(service, api.parse()?)`.
/// let client = ServiceBuilder::new()
///     .layer(layer)
///     .service_fn(|request: http::Request<String>| async move {
///         assert!(request.headers()["authorization"].is_sensitive());
///         Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
///     });
/// # let _ = client;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AddBearerLayer {
    source: Arc<dyn TokenSource>,
    origins: Arc<[Origin]>,
}

/// Configures an [`AddBearerLayer`]: its token source and the origins it
/// sends tokens to.
pub struct AddBearerBuilder {
    source: Arc<dyn TokenSource>,
    origins: Vec<Origin>,
    /// The first origin that could not be allowed, returned by `build`.
    error: Option<OriginError>,
}

impl AddBearerLayer {
    /// Starts configuring a layer that adds tokens from `source`; wrap a
    /// grant in [`CachedTokenSource`](erpnet_auth_core::CachedTokenSource)
    /// first. It allows no origin yet: add each with
    /// [`allow_origin`](AddBearerBuilder::allow_origin).
    pub fn builder(source: impl TokenSource) -> AddBearerBuilder {
        Self::builder_from_arc(Arc::new(source))
    }

    /// Like [`builder`](Self::builder), for a source already shared as
    /// `Arc<dyn TokenSource>` (no second indirection).
    pub fn builder_from_arc(source: Arc<dyn TokenSource>) -> AddBearerBuilder {
        AddBearerBuilder {
            source,
            origins: Vec::new(),
            error: None,
        }
    }

    /// The origins this layer sends tokens to.
    pub fn origins(&self) -> &[Origin] {
        &self.origins
    }
}

impl AddBearerBuilder {
    /// Allows sending tokens to `origin`: `https://host[:port]`, or `http://`
    /// to a loopback address (`127.0.0.0/8`, `[::1]`, `localhost`). May be
    /// called several times. A value that is not such an origin makes
    /// [`build`](Self::build) fail.
    pub fn allow_origin(mut self, origin: impl AsRef<str>) -> Self {
        match Origin::parse(origin.as_ref()) {
            Ok(origin) if !self.origins.contains(&origin) => self.origins.push(origin),
            Ok(_) => {}
            Err(error) => {
                self.error.get_or_insert(error);
            }
        }
        self
    }

    /// The layer, or why it cannot work: an origin that is not a secure
    /// origin ([`ConfigError::InsecureUrl`] for plain http to a host that is
    /// not a loopback address, [`ConfigError::Invalid`] otherwise), or no
    /// origin at all.
    pub fn build(self) -> Result<AddBearerLayer, ConfigError> {
        if let Some(error) = self.error {
            return Err(error.into());
        }
        if self.origins.is_empty() {
            return Err(ConfigError::invalid(
                "AddBearerLayer allows no origin, so it would never attach a token: call \
                 allow_origin(\"https://…\") with the origin of the API",
            ));
        }
        Ok(AddBearerLayer {
            source: self.source,
            origins: self.origins.into(),
        })
    }
}

impl fmt::Debug for AddBearerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddBearerLayer")
            .field("origins", &self.origins)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for AddBearerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddBearerBuilder")
            .field("origins", &self.origins)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for AddBearerLayer {
    type Service = AddBearer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AddBearer {
            inner,
            source: self.source.clone(),
            origins: self.origins.clone(),
        }
    }
}

/// The service of [`AddBearerLayer`]; see there.
#[derive(Clone)]
pub struct AddBearer<S> {
    inner: S,
    source: Arc<dyn TokenSource>,
    origins: Arc<[Origin]>,
}

impl<S> AddBearer<S> {
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
    /// The request's URI has no scheme and host, so where its token would go
    /// is unknown; the request was not sent. (tonic: make the client with
    /// `with_origin`.)
    NoOrigin,
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
            AddBearerError::NoOrigin => f.write_str(
                "the request's URI has no scheme and host, so AddBearer cannot tell where its \
                 token would go; the request was not sent (tonic: make the client with \
                 `with_origin(service, origin)`)",
            ),
            AddBearerError::Service(e) => e.fmt(f),
        }
    }
}

impl<E: StdError + 'static> StdError for AddBearerError<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            AddBearerError::Token(e) => Some(e),
            AddBearerError::InvalidToken | AddBearerError::NoOrigin => None,
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
        let uri = request.uri();
        if !self.origins.iter().any(|origin| origin.matches_uri(uri)) {
            let state = if uri.scheme().is_none() || uri.host().is_none() {
                tracing::warn!("add_bearer: the request's URI names no origin; not sent");
                State::Failed {
                    error: Some(AddBearerError::NoOrigin),
                }
            } else {
                tracing::trace!("add_bearer: origin not allowed, sent without a token");
                State::Called {
                    future: self.inner.call(request),
                    sent: None,
                }
            };
            return ResponseFuture { state };
        }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use erpnet_auth_core::{StaticToken, async_trait};
    use tower::ServiceExt;

    use super::*;

    /// A source that counts the tokens asked of it.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    #[async_trait]
    impl TokenSource for Counting {
        async fn token(&self) -> Result<AccessToken, Error> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(AccessToken::new("secret"))
        }
    }

    /// Sends `uri` through the layer; the `Authorization` header the inner
    /// service saw, if any.
    async fn send(layer: &AddBearerLayer, uri: &str) -> Result<Option<String>, String> {
        let client = layer.layer(tower::service_fn(|request: Request<()>| async move {
            let header = request.headers().get(AUTHORIZATION);
            let shown = header.map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned());
            Ok::<_, std::convert::Infallible>(Response::new(shown))
        }));
        let request = Request::get(uri).body(()).expect("request");
        client
            .oneshot(request)
            .await
            .map(Response::into_body)
            .map_err(|error| error.to_string())
    }

    #[tokio::test]
    async fn tokens_go_to_allowed_origins_only_and_are_fetched_only_for_them() {
        let source = Arc::new(Counting::default());
        let layer = AddBearerLayer::builder_from_arc(source.clone())
            .allow_origin("https://myinstance.my.erp.net")
            .allow_origin("http://127.0.0.1:8080")
            .build()
            .expect("layer");
        for allowed in [
            "https://myinstance.my.erp.net/api/domain/odata/x",
            "https://MyInstance.my.erp.net:443/",
            "http://127.0.0.1:8080/grpc.health.v1.Health/Check",
        ] {
            let header = send(&layer, allowed).await.expect("sent");
            assert_eq!(header.as_deref(), Some("Bearer secret"), "{allowed}");
        }
        assert_eq!(source.0.load(Ordering::SeqCst), 3);
        for other in [
            "http://evil.example/steal",
            "http://myinstance.my.erp.net/api",
            "https://myinstance.my.erp.net:8443/api",
            "https://myinstance.my.erp.net.evil.example/api",
            "http://127.0.0.1:8081/",
            "http://localhost:8080/",
        ] {
            assert_eq!(send(&layer, other).await, Ok(None), "{other}");
        }
        assert_eq!(
            source.0.load(Ordering::SeqCst),
            3,
            "nothing fetched for them"
        );

        let error = send(&layer, "/grpc.health.v1.Health/Check")
            .await
            .expect_err("no origin");
        assert!(error.contains("with_origin"), "{error}");
        assert_eq!(source.0.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_misconfigured_layer_is_refused_when_built() {
        let build = |origins: &[&str]| {
            origins
                .iter()
                .fold(
                    AddBearerLayer::builder(StaticToken::new("secret")),
                    |b, o| b.allow_origin(o),
                )
                .build()
        };
        let insecure =
            build(&["https://ok.example", "http://api.example.com"]).expect_err("plain http");
        assert!(
            matches!(insecure, ConfigError::InsecureUrl { .. }),
            "{insecure}"
        );
        assert!(insecure.to_string().contains("loopback"), "{insecure}");
        for invalid in [
            &["https://api.example.com/api"][..],
            &["ftp://127.0.0.1"],
            &[],
        ] {
            let error = build(invalid).expect_err("invalid");
            assert!(
                matches!(error, ConfigError::Invalid(_)),
                "{invalid:?}: {error}"
            );
        }
        let layer =
            build(&["https://api.example.com", "https://API.example.com:443/"]).expect("valid");
        assert_eq!(layer.origins().len(), 1);
        assert!(!format!("{layer:?}").contains("secret"));
    }
}
