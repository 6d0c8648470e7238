//! [`BearerAuth`]: the middleware that attaches tokens.

use std::fmt;
use std::sync::Arc;

use erpnet_auth_core::{AccessToken, ConfigError, TokenSource};
use http::{Extensions, StatusCode};
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};

use crate::challenge;
use crate::error::Error;
use crate::header::{self, TokenHeader};
use crate::origin::Origin;
use crate::redirect::SameOriginClient;
use crate::skip_auth::SkipAuth;

/// Attaches an access token from a [`TokenSource`] to requests for the origins
/// it allows: a reqwest-middleware [`Middleware`] that comes with the client
/// it runs in.
///
/// ```no_run
/// # fn demo(tokens: erpnet_auth_core::CachedTokenSource<erpnet_auth_oidc::ClientCredentials>) -> Result<(), erpnet_auth_core::ConfigError> {
/// use erpnet_auth_reqwest::BearerAuth;
///
/// let auth = BearerAuth::builder(tokens)
///     .allow_origin("https://myinstance.my.erp.net")
///     .build()?; // refuses a value that is not an https (or loopback) origin
/// let client = auth
///     .client_builder(reqwest::Client::builder())? // any settings but the redirect policy
///     .build(); // add more middleware (`.with(…)`) before `build()`
/// # let _ = client; Ok(()) }
/// ```
///
/// **Why it builds the client**: reqwest follows redirects inside one call,
/// where no middleware sees them, and its default policy forwards every header
/// but `Authorization` (and cookies) to wherever a redirect points: an
/// `X-Api-Key` would reach any origin, plain `http` included. So `BearerAuth`
/// is not a `Middleware` you could add to any client: [`client_builder`](Self::client_builder)
/// builds the reqwest client itself, with a redirect policy that follows
/// redirects within the origin of the request (up to 10) and stops at the first
/// one to another origin, whose 3xx answer the caller gets as it is. No
/// credential header can leave its origin, whichever headers reqwest strips.
///
/// For each request:
///
/// 1. A request with the [`SkipAuth`] extension, one that already has an
///    `Authorization` or `X-Api-Key` header, or one for an origin that was not
///    allowed goes out as it is.
/// 2. Otherwise it gets a token: [`TokenSource::cached_token`] (lock-free, no
///    waiting), or else [`TokenSource::token`]. If no token can be had, the
///    request is not sent and the caller gets an [`Error::Token`].
/// 3. On a 401 from that origin it reports the token to
///    [`TokenSource::report_rejected`] and, if the request can be cloned
///    (its body is not a stream) and the source hands out a different token,
///    sends it once more with the new token. Never more than once. If the
///    source cannot give a new token then, the caller gets that
///    [`Error::Token`] rather than the 401, since it says what to fix.
///
/// Cheap to clone; clones share the token source. A configuration mistake
/// (an origin that is not a secure origin, or none at all) is refused by
/// [`BearerAuthBuilder::build`], so a `BearerAuth` that exists attaches
/// tokens.
#[derive(Clone)]
pub struct BearerAuth {
    source: Arc<dyn TokenSource>,
    origins: Arc<[Origin]>,
    header: TokenHeader,
}

/// Configures a [`BearerAuth`]: the origins it may send tokens to and the
/// header they go in.
pub struct BearerAuthBuilder {
    source: Arc<dyn TokenSource>,
    origins: Vec<Origin>,
    header: TokenHeader,
    /// The first mistake, returned by `build()`.
    error: Option<ConfigError>,
}

impl BearerAuth {
    /// Starts configuring a middleware taking tokens from `source`, typically
    /// a [`CachedTokenSource`](erpnet_auth_core::CachedTokenSource). Allow
    /// each origin with [`allow_origin`](BearerAuthBuilder::allow_origin).
    pub fn builder(source: impl TokenSource) -> BearerAuthBuilder {
        Self::builder_for_arc(Arc::new(source))
    }

    /// Like [`builder`](Self::builder), for a source already shared as
    /// `Arc<dyn TokenSource>` (no second indirection).
    pub fn builder_for_arc(source: Arc<dyn TokenSource>) -> BearerAuthBuilder {
        BearerAuthBuilder {
            source,
            origins: Vec::new(),
            header: TokenHeader::default(),
            error: None,
        }
    }

    /// Builds the reqwest client from `http` with the redirect policy described
    /// [above](Self) (replacing any policy set on `http`), and returns a
    /// reqwest-middleware builder with this middleware first. Add more
    /// middleware after it, such as [`SessionPacing`](crate::SessionPacing),
    /// reqwest-retry or reqwest-tracing, then `build()`.
    ///
    /// Fails with [`ConfigError::HttpClient`] when reqwest cannot build the
    /// client (for example no TLS backend could be initialised).
    pub fn client_builder(
        self,
        http: reqwest::ClientBuilder,
    ) -> Result<reqwest_middleware::ClientBuilder, ConfigError> {
        Ok(self.client_builder_sharing(&SameOriginClient::new(http)?))
    }

    /// Like [`client_builder`](Self::client_builder), on a client built once
    /// and shared, with its connection pool, by many middlewares (one per
    /// signed-in user, say).
    pub fn client_builder_sharing(
        self,
        http: &SameOriginClient,
    ) -> reqwest_middleware::ClientBuilder {
        reqwest_middleware::ClientBuilder::new(http.reqwest().clone()).with(Attach(self))
    }

    /// A token for a request to `origin`: the cached one if usable, or else one
    /// from the source (which may wait on the network).
    async fn token(&self, origin: &Origin) -> Result<AccessToken, Error> {
        if let Some(token) = self.source.cached_token() {
            return Ok(token);
        }
        self.source.token().await.map_err(|source| Error::Token {
            origin: origin.to_string(),
            source: Box::new(source),
        })
    }
}

impl BearerAuthBuilder {
    /// Allows sending tokens to `origin`: `https://host[:port]` (or `http://` to
    /// a loopback address: `127.0.0.0/8`, `[::1]`, `localhost`). May be called
    /// several times. Requests match by scheme, host and port, with default ports
    /// normalised (`https://host` is `https://host:443`); the path does not
    /// matter. A `Url` works too, but only one with no path
    /// (`url.origin().ascii_serialization()` gives its origin).
    ///
    /// A value that is not such an origin does not panic here:
    /// [`build`](Self::build) refuses it.
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

    /// Which header carries the token (default [`TokenHeader::Authorization`]).
    /// A request's own [`TokenHeader`] extension takes precedence.
    pub fn token_header(mut self, header: TokenHeader) -> Self {
        self.header = header;
        self
    }

    /// Checks the configuration and builds the middleware. Fails with the
    /// first value given to [`allow_origin`](Self::allow_origin) that is not
    /// an origin ([`ConfigError::Invalid`]) or not a secure one
    /// ([`ConfigError::InsecureUrl`]: plain `http` to a host that is not a
    /// loopback address), or when no origin was allowed, so that no token
    /// would ever be attached.
    pub fn build(self) -> Result<BearerAuth, ConfigError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        if self.origins.is_empty() {
            return Err(ConfigError::invalid(
                "BearerAuth allows no origin, so it would never attach a token: call \
                 allow_origin(\"https://…\") with the origin of the API",
            ));
        }
        Ok(BearerAuth {
            source: self.source,
            origins: self.origins.into(),
            header: self.header,
        })
    }
}

/// The middleware itself, private so that it runs only in a client built by
/// [`SameOriginClient`], whose redirect policy it relies on.
struct Attach(BearerAuth);

#[async_trait::async_trait]
impl Middleware for Attach {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let Attach(auth) = self;
        if extensions.get::<SkipAuth>().is_some() {
            tracing::trace!("bearer_auth: SkipAuth, sent without a token");
            return next.run(request, extensions).await;
        }
        if header::has_credentials(request.headers()) {
            tracing::trace!("bearer_auth: the request has credentials of its own");
            return next.run(request, extensions).await;
        }
        let Some(origin) = auth.origins.iter().find(|o| o.matches(request.url())) else {
            tracing::trace!("bearer_auth: origin not allowed, sent without a token");
            return next.run(request, extensions).await;
        };
        let which = extensions
            .get::<TokenHeader>()
            .copied()
            .unwrap_or(auth.header);

        let token = auth.token(origin).await?;
        // Cloned before sending, as the body is gone afterwards (cheap for the
        // in-memory bodies that can be cloned at all), and before the token goes
        // in, as a retry carries a new one.
        let retry = request.try_clone();
        insert(&mut request, &token, which, origin)?;
        tracing::debug!(
            %origin,
            header = which.name(),
            token_attached = true,
            "bearer_auth: token attached"
        );
        let response = next.clone().run(request, extensions).await?;

        // A 401 from elsewhere says nothing about the token. (The client's
        // redirect policy never leaves the origin; checked anyway, as it is free.)
        if response.status() != StatusCode::UNAUTHORIZED
            || !origin.matches(response.url())
            || !challenge::new_token_may_help(response.headers())
        {
            return Ok(response);
        }
        auth.source.report_rejected(&token);
        let Some(mut retry) = retry else {
            tracing::info!(
                %origin,
                "bearer_auth: 401, token reported as rejected; not retried, the body is a stream"
            );
            return Ok(response);
        };
        let fresh = auth.token(origin).await?;
        if fresh == token {
            tracing::info!(
                %origin,
                "bearer_auth: 401; not retried, the token source has no other token"
            );
            return Ok(response);
        }
        insert(&mut retry, &fresh, which, origin)?;
        tracing::info!(
            %origin,
            header = which.name(),
            refreshed_after_401 = true,
            "bearer_auth: 401, token refreshed; retrying once"
        );
        drop(response);
        next.run(retry, extensions).await
    }
}

fn insert(
    request: &mut Request,
    token: &AccessToken,
    which: TokenHeader,
    origin: &Origin,
) -> Result<(), Error> {
    which
        .insert(request.headers_mut(), token)
        .map_err(|()| Error::InvalidTokenValue {
            origin: origin.to_string(),
        })
}

impl fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origins: Vec<String> = self.origins.iter().map(ToString::to_string).collect();
        f.debug_struct("BearerAuth")
            .field("source", &"dyn TokenSource")
            .field("origins", &origins)
            .field("header", &self.header)
            .finish()
    }
}

impl fmt::Debug for BearerAuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origins: Vec<String> = self.origins.iter().map(ToString::to_string).collect();
        f.debug_struct("BearerAuthBuilder")
            .field("source", &"dyn TokenSource")
            .field("origins", &origins)
            .field("header", &self.header)
            .field("error", &self.error)
            .finish()
    }
}
