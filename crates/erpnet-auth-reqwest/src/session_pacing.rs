//! [`SessionPacing`]: ERP.net's per-session rate limits for reqwest, placed after
//! [`BearerAuth`](crate::BearerAuth) so that it sees the token each request carries.

use std::fmt;

use erpnet_auth_core::pacing::{Exchange, Pacer, PacingError};
use http::{Extensions, HeaderMap, Method, StatusCode};
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};

use crate::error::Error;

/// A reqwest-middleware [`Middleware`] that sends each request when its session's turn
/// comes, and retries it after a `429` or `503`: the rules of [`Pacer`], whose logic the
/// tower layer shares.
///
/// ```no_run
/// # fn demo(tokens: erpnet_auth_core::CachedTokenSource<erpnet_auth_oidc::ClientCredentials>) -> Result<(), erpnet_auth_core::ConfigError> {
/// use erpnet_auth_core::pacing::Pacer;
/// use erpnet_auth_reqwest::{BearerAuth, SessionPacing};
///
/// let pacer = Pacer::erpnet().build()?; // 1 request per session at a time, 600 a minute, 2 per site
/// let client = BearerAuth::builder(tokens)
///     .allow_origin("https://myinstance.my.erp.net")
///     .build()?
///     .client_builder(reqwest::Client::builder())?
///     .with(SessionPacing::new(pacer.clone())) // after BearerAuth: it sees the token
///     .build();
/// # let _ = client; Ok(()) }
/// ```
///
/// - The session is the request's `Authorization` or `X-Api-Key` value, hashed; a token
///   that [`BearerAuth`](crate::BearerAuth) refreshed is a new session, and its 401 retry is
///   paced like any request.
/// - A request that gets no turn (the session's queue full, or no turn within the
///   time-out) is not sent: the caller gets `reqwest_middleware::Error::Middleware` holding
///   [`Error::Pacing`], transient.
/// - A request whose body is a stream (`reqwest::Body::wrap_stream`) cannot be cloned, so a
///   `429` or `503` for it comes back unchanged.
///
/// Cheap to clone. Share the [`Pacer`] (and so the sessions) between every client that
/// calls the same API in this process; [`Pacer::stats`] tells what it did.
#[derive(Clone)]
pub struct SessionPacing {
    pacer: Pacer,
}

impl SessionPacing {
    /// Paces requests with `pacer`.
    pub fn new(pacer: Pacer) -> Self {
        Self { pacer }
    }

    /// The pacer, for its [`stats`](Pacer::stats).
    pub fn pacer(&self) -> &Pacer {
        &self.pacer
    }
}

impl From<Pacer> for SessionPacing {
    fn from(pacer: Pacer) -> Self {
        Self::new(pacer)
    }
}

impl fmt::Debug for SessionPacing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionPacing")
            .field("pacer", &self.pacer)
            .finish()
    }
}

#[async_trait::async_trait]
impl Middleware for SessionPacing {
    async fn handle(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let mut exchange = Downstream { next, extensions };
        self.pacer.send(&mut exchange, request).await
    }
}

/// The rest of the middleware chain, as the pacer sends through it.
struct Downstream<'a, 'e> {
    next: Next<'a>,
    extensions: &'e mut Extensions,
}

impl Exchange for Downstream<'_, '_> {
    type Request = Request;
    type Response = Response;
    type Error = reqwest_middleware::Error;

    fn method(request: &Request) -> &Method {
        request.method()
    }

    fn headers(request: &Request) -> &HeaderMap {
        request.headers()
    }

    fn origin(request: &Request) -> String {
        request.url().origin().ascii_serialization()
    }

    fn try_clone(request: &Request) -> Option<Request> {
        request.try_clone()
    }

    fn send(
        &mut self,
        request: Request,
    ) -> impl Future<Output = reqwest_middleware::Result<Response>> + Send {
        self.next.clone().run(request, self.extensions)
    }

    fn status(response: &Response) -> StatusCode {
        response.status()
    }

    fn response_headers(response: &Response) -> &HeaderMap {
        response.headers()
    }

    fn refused(error: PacingError) -> reqwest_middleware::Error {
        Error::Pacing(error).into()
    }
}
