//! [`BearerAuth`]: the middleware that attaches tokens.

use std::fmt;
use std::sync::Arc;

use erpnet_auth_core::{AccessToken, TokenSource};
use http::{Extensions, StatusCode};
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};

use crate::challenge;
use crate::error::Error;
use crate::header::{self, TokenHeader};
use crate::origin::Origin;
use crate::skip_auth::SkipAuth;

/// A reqwest-middleware [`Middleware`] that attaches an access token from a
/// [`TokenSource`] to requests for the origins it allows.
///
/// ```no_run
/// # fn demo(tokens: erpnet_auth_core::CachedTokenSource<erpnet_auth_oidc::ClientCredentials>) {
/// use erpnet_auth_reqwest::BearerAuth;
///
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(BearerAuth::new(tokens).allow_origin("https://myinstance.my.erp.net"))
///     .build();
/// # let _ = client; }
/// ```
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
/// Cheap to clone; clones share the token source. Configuration mistakes
/// ([`allow_origin`](Self::allow_origin) with something that is not a secure
/// origin) do not panic: every request then fails with the error, and
/// [`check`](Self::check) reports it up front.
#[derive(Clone)]
pub struct BearerAuth {
    source: Arc<dyn TokenSource>,
    origins: Vec<Origin>,
    header: TokenHeader,
    /// The first configuration mistake, returned by every request.
    config_error: Option<Error>,
}

impl BearerAuth {
    /// A middleware taking tokens from `source`, typically a
    /// [`CachedTokenSource`](erpnet_auth_core::CachedTokenSource). It allows no
    /// origin yet: add each with [`allow_origin`](Self::allow_origin).
    pub fn new(source: impl TokenSource) -> Self {
        Self::from_arc(Arc::new(source))
    }

    /// Like [`new`](Self::new), for a source already shared as
    /// `Arc<dyn TokenSource>` (no second indirection).
    pub fn from_arc(source: Arc<dyn TokenSource>) -> Self {
        Self {
            source,
            origins: Vec::new(),
            header: TokenHeader::default(),
            config_error: None,
        }
    }

    /// Allows sending tokens to `origin`: `https://host[:port]` (or `http://` to
    /// a loopback address: `127.0.0.0/8`, `[::1]`, `localhost`). May be called
    /// several times. Requests match by scheme, host and port, with default ports
    /// normalised (`https://host` is `https://host:443`); the path does not
    /// matter.
    ///
    /// A value that is not such an origin does not panic: it is recorded, and
    /// every request through this middleware fails with
    /// [`Error::InvalidOrigin`] or [`Error::InsecureOrigin`] (see
    /// [`check`](Self::check) and [`try_allow_origin`](Self::try_allow_origin)
    /// to find out at once). A `Url` works too, but only one with no path.
    pub fn allow_origin(mut self, origin: impl AsRef<str>) -> Self {
        match Origin::parse(origin.as_ref()) {
            Ok(origin) => self.push_origin(origin),
            Err(error) => {
                tracing::error!(%error, "bearer_auth: invalid configuration, every request fails");
                self.config_error.get_or_insert(error);
            }
        }
        self
    }

    /// Like [`allow_origin`](Self::allow_origin), but returns the error at once.
    pub fn try_allow_origin(mut self, origin: impl AsRef<str>) -> Result<Self, Error> {
        self.push_origin(Origin::parse(origin.as_ref())?);
        Ok(self)
    }

    fn push_origin(&mut self, origin: Origin) {
        if !self.origins.contains(&origin) {
            self.origins.push(origin);
        }
    }

    /// Which header carries the token (default [`TokenHeader::Authorization`]).
    /// A request's own [`TokenHeader`] extension takes precedence.
    pub fn token_header(mut self, header: TokenHeader) -> Self {
        self.header = header;
        self
    }

    /// The error every request would fail with, if the configuration is wrong:
    /// an invalid or insecure origin, or no origin at all. Call it at start-up to
    /// refuse to run with a broken configuration.
    pub fn check(&self) -> Result<(), Error> {
        match &self.config_error {
            Some(error) => Err(error.clone()),
            None if self.origins.is_empty() => Err(Error::NoOriginAllowed),
            None => Ok(()),
        }
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

#[async_trait::async_trait]
impl Middleware for BearerAuth {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        if self.config_error.is_some() || self.origins.is_empty() {
            self.check()?;
        }
        if extensions.get::<SkipAuth>().is_some() {
            tracing::trace!("bearer_auth: SkipAuth, sent without a token");
            return next.run(request, extensions).await;
        }
        if header::has_credentials(request.headers()) {
            tracing::trace!("bearer_auth: the request has credentials of its own");
            return next.run(request, extensions).await;
        }
        let Some(origin) = self.origins.iter().find(|o| o.matches(request.url())) else {
            tracing::trace!("bearer_auth: origin not allowed, sent without a token");
            return next.run(request, extensions).await;
        };
        let which = extensions
            .get::<TokenHeader>()
            .copied()
            .unwrap_or(self.header);

        let token = self.token(origin).await?;
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

        // A 401 from elsewhere (after a redirect, which drops the token) says
        // nothing about the token.
        if response.status() != StatusCode::UNAUTHORIZED
            || !origin.matches(response.url())
            || !challenge::new_token_may_help(response.headers())
        {
            return Ok(response);
        }
        self.source.report_rejected(&token);
        let Some(mut retry) = retry else {
            tracing::info!(
                %origin,
                "bearer_auth: 401, token reported as rejected; not retried, the body is a stream"
            );
            return Ok(response);
        };
        let fresh = self.token(origin).await?;
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
            .field("config_error", &self.config_error)
            .finish()
    }
}
