//! Pacing requests by session: ERP.net's rate limits kept on the client's side, so that
//! requests wait their turn in a local queue instead of coming back `429 Too Many Requests`.
//!
//! ERP.net counts API use per server session, and the first use of an access token opens
//! one. Per session it allows 1 request at a time (5 more wait on the server, the rest get
//! 429), 600 requests a minute and 1 transaction; per site 2 requests at a time
//! (docs.erp.net, "Rate limits"). A [`Pacer`] keeps each of these on the client:
//!
//! | setting | [`Pacer::erpnet`] | meaning |
//! |---|---|---|
//! | [`max_in_flight_per_session`](PacerBuilder::max_in_flight_per_session) | 1 | requests of one session sent and not yet answered |
//! | [`requests_per_minute`](PacerBuilder::requests_per_minute) | 600 | requests of one session sent in any 60 s: a token bucket of [`burst`](PacerBuilder::burst) (10) refilling at the rest of the budget (590 a minute) |
//! | [`max_in_flight_per_origin`](PacerBuilder::max_in_flight_per_origin) | 2 | requests to one origin (`scheme://host:port`) at a time, all sessions together |
//! | [`queue_per_session`](PacerBuilder::queue_per_session) | 256 | requests of one session waiting for their turn; one more is refused at once ([`PacingError::QueueFull`]) |
//! | [`queue_timeout`](PacerBuilder::queue_timeout) | 30 s | the longest wait for a turn ([`PacingError::QueueTimeout`]; given up early when the turn is known to come later) |
//! | [`max_retries`](PacerBuilder::max_retries) | 3 | retries after a `429` or `503` |
//! | [`retry_backoff`](PacerBuilder::retry_backoff) | 0.5 s to 30 s | the wait before a retry when the answer has no `Retry-After`: doubled each time, with jitter |
//! | [`max_retry_after`](PacerBuilder::max_retry_after) | 60 s | a longer `Retry-After` is not waited for: the answer goes back |
//!
//! [`Pacer::builder`] has the same numbers without the per-origin cap.
//!
//! - **A session is a credential**: the value of a request's `Authorization` or `X-Api-Key`
//!   header, known only by a keyed hash (SipHash with this pacer's random keys); the value
//!   is read once per request and never kept, logged or printed. A refreshed token is a new
//!   session. A request with neither header has no session and only meets the per-origin cap.
//! - **Memory follows the sessions in use**: a session whose requests are done, whose bucket
//!   is full again (0.1 s after a single request at ERP.net's numbers) and whose pause is
//!   over is dropped by the next sweep; a sweep runs whenever the number of sessions doubles.
//! - **429 and 503**: the request is sent again after the server's `Retry-After` (seconds or
//!   an HTTP-date, see [`retry_after`]), or else after the back-off, at most `max_retries`
//!   times; the whole session pauses meanwhile, as the server asked. Then the last answer
//!   goes back to the caller unchanged. Only requests that are safe to repeat are retried:
//!   idempotent methods (`GET`, `HEAD`, `OPTIONS`, `PUT`, `DELETE`) whose body can be
//!   replayed; `POST` and `PATCH` only with
//!   [`retry_non_idempotent`](PacerBuilder::retry_non_idempotent).
//! - **tracing**: a `debug` event for each request that waited its turn (with the wait), an
//!   `info` event for each `429`/`503` (status, retries so far, the wait, and whether it is
//!   retried or why not), a `warn` event for each request refused by the queue. Never the
//!   credential.
//!
//! The pacer speaks no HTTP itself: an adapter implements [`Exchange`] for its client and
//! calls [`Pacer::send`]. `erpnet-auth-reqwest` has `SessionPacing` for reqwest, and
//! `erpnet-auth-tower` `SessionPacingLayer` for tower clients (tonic, hyper); both share
//! this logic. Place it after `BearerAuth` / `AddBearerLayer`, so that it sees the token.
//!
//! ```
//! use erpnet_auth_core::pacing::{Exchange, Pacer, PacingError};
//! use http::{HeaderMap, Method, Request, Response, StatusCode};
//!
//! /// A fake API that answers 429 to its first request.
//! struct Fake {
//!     calls: usize,
//! }
//!
//! impl Exchange for Fake {
//!     type Request = Request<()>;
//!     type Response = Response<()>;
//!     type Error = PacingError;
//!
//!     fn method(request: &Request<()>) -> &Method { request.method() }
//!     fn headers(request: &Request<()>) -> &HeaderMap { request.headers() }
//!     fn origin(_: &Request<()>) -> String { "https://demo.my.erp.net".to_owned() }
//!     fn try_clone(request: &Request<()>) -> Option<Request<()>> {
//!         let mut copy = Request::new(());
//!         *copy.method_mut() = request.method().clone();
//!         *copy.headers_mut() = request.headers().clone();
//!         Some(copy)
//!     }
//!     fn send(&mut self, _: Request<()>) -> impl Future<Output = Result<Response<()>, PacingError>> + Send {
//!         self.calls += 1;
//!         let status = if self.calls == 1 { StatusCode::TOO_MANY_REQUESTS } else { StatusCode::OK };
//!         async move { Ok(Response::builder().status(status).body(()).expect("a response")) }
//!     }
//!     fn status(response: &Response<()>) -> StatusCode { response.status() }
//!     fn response_headers(response: &Response<()>) -> &HeaderMap { response.headers() }
//!     fn refused(error: PacingError) -> PacingError { error }
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pacer = Pacer::erpnet().build()?;
//! let request = Request::get("/").header("authorization", "Bearer eyJ…").body(())?;
//! let response = pacer.send(&mut Fake { calls: 0 }, request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! let stats = pacer.stats();
//! assert_eq!((stats.sent, stats.throttled, stats.retried), (2, 1, 1));
//! # Ok(()) }
//! ```

mod bucket;
mod error;
mod retry;
mod session;
mod stats;

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};
use tokio::time::Instant;

use self::bucket::Rate;
use self::retry::{Jitter, RetryPolicy, is_throttled};
use self::session::{Limits, Sessions};
use self::stats::{Counters, count};
use crate::error::ConfigError;

pub use self::error::{PacingError, PacingLimit};
pub use self::retry::retry_after;
pub use self::stats::PacerStats;

/// ERP.net's concurrent requests per session (`SessionConcurrentRequests`).
pub const ERPNET_SESSION_CONCURRENCY: usize = 1;
/// ERP.net's requests per minute per session (`SessionRpm`).
pub const ERPNET_REQUESTS_PER_MINUTE: u32 = 600;
/// ERP.net's concurrent requests per site (`GlobalConcurrentRequests`).
pub const ERPNET_SITE_CONCURRENCY: usize = 2;

const DEFAULT_QUEUE: usize = 256;
const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_MAX_RETRIES: u32 = 3;
const DEFAULT_BACKOFF_INITIAL: Duration = Duration::from_millis(500);
const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);
const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// One request and its answer, as a [`Pacer`] sees them: what an adapter for an HTTP client
/// implements, in a few lines, to have its requests paced.
///
/// The associated functions read the request and the response; [`send`](Exchange::send)
/// sends one request (the pacer calls it once per attempt, in turn).
pub trait Exchange: Send {
    /// The client's request.
    type Request: Send;
    /// The client's response.
    type Response: Send;
    /// The client's error, which must be able to carry a [`PacingError`].
    type Error: Send;

    /// The request's method: only idempotent ones are retried by default.
    fn method(request: &Self::Request) -> &Method;
    /// The request's headers, where the credential that names the session is.
    fn headers(request: &Self::Request) -> &HeaderMap;
    /// The request's origin, `scheme://host[:port]`, for the per-origin cap and messages.
    fn origin(request: &Self::Request) -> String;
    /// A copy to send again after a `429` or `503`, or `None` when the body cannot be
    /// replayed (a stream).
    fn try_clone(request: &Self::Request) -> Option<Self::Request>;
    /// Sends one request.
    fn send(
        &mut self,
        request: Self::Request,
    ) -> impl Future<Output = Result<Self::Response, Self::Error>> + Send;
    /// The response's status.
    fn status(response: &Self::Response) -> StatusCode;
    /// The response's headers, where `Retry-After` and `Date` are.
    fn response_headers(response: &Self::Response) -> &HeaderMap;
    /// The client's error for a request the pacer did not send.
    fn refused(error: PacingError) -> Self::Error;
}

/// Paces requests by session and origin, and retries throttled ones; see the
/// [module documentation](self) for the rules.
///
/// Cheap to clone: clones share sessions, limits and counters. Use one per process and API
/// (as the server counts), shared by every client that calls it.
#[derive(Clone)]
pub struct Pacer {
    shared: Arc<Shared>,
}

struct Shared {
    sessions: Sessions,
    retry: RetryPolicy,
    jitter: Jitter,
    counters: Counters,
}

impl fmt::Debug for Pacer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let limits = &self.shared.sessions.limits;
        f.debug_struct("Pacer")
            .field("max_in_flight_per_session", &limits.session_concurrency)
            .field(
                "requests_per_minute",
                &limits.rate.map(|rate| rate.requests_per_minute),
            )
            .field("burst", &limits.rate.map(|rate| rate.burst))
            .field("max_in_flight_per_origin", &limits.origin_concurrency)
            .field("queue_per_session", &limits.queue)
            .field("queue_timeout", &limits.queue_timeout)
            .field("max_retries", &self.shared.retry.max_retries)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Pacer {
    /// A builder with ERP.net's per-session numbers (1 request at a time, 600 a minute) and
    /// no per-origin cap.
    pub fn builder() -> PacerBuilder {
        PacerBuilder {
            session_concurrency: ERPNET_SESSION_CONCURRENCY,
            requests_per_minute: Some(ERPNET_REQUESTS_PER_MINUTE),
            burst: None,
            queue: DEFAULT_QUEUE,
            queue_timeout: DEFAULT_QUEUE_TIMEOUT,
            origin_concurrency: None,
            retry: RetryPolicy {
                max_retries: DEFAULT_MAX_RETRIES,
                backoff_initial: DEFAULT_BACKOFF_INITIAL,
                backoff_max: DEFAULT_BACKOFF_MAX,
                max_retry_after: DEFAULT_MAX_RETRY_AFTER,
                non_idempotent: false,
            },
        }
    }

    /// The preset for ERP.net: every documented limit, the 2 concurrent requests per site
    /// included. Change any number on the returned builder.
    pub fn erpnet() -> PacerBuilder {
        Pacer::builder().max_in_flight_per_origin(ERPNET_SITE_CONCURRENCY)
    }

    /// The sessions, the requests in flight and waiting, and what happened so far.
    pub fn stats(&self) -> PacerStats {
        self.shared.counters.snapshot(self.shared.sessions.len())
    }

    /// Sends `request` through `exchange` when its turn comes, retrying it after a `429` or
    /// `503` as the rules say. A request that gets no turn is not sent:
    /// [`Exchange::refused`] turns the [`PacingError`] into the client's error.
    pub async fn send<E: Exchange>(
        &self,
        exchange: &mut E,
        mut request: E::Request,
    ) -> Result<E::Response, E::Error> {
        let shared = &*self.shared;
        let session = shared.sessions.key(E::headers(&request));
        let origin = E::origin(&request);
        let retry = &shared.retry;
        let may_retry = retry.may_retry(E::method(&request));
        let mut retries: u32 = 0;
        loop {
            let replay = if may_retry && retries < retry.max_retries {
                E::try_clone(&request)
            } else {
                None
            };
            let permit = shared
                .sessions
                .acquire(session, &origin, &shared.counters)
                .await
                .map_err(E::refused)?;
            count(&shared.counters.sent);
            let answer = exchange.send(request).await;
            drop(permit);
            let response = answer?;
            let status = E::status(&response);
            if !is_throttled(status) {
                return Ok(response);
            }
            count(&shared.counters.throttled);
            let asked = retry_after(E::response_headers(&response));
            let wait = asked.unwrap_or_else(|| retry.backoff(retries, shared.jitter.next_unit()));
            if let Some(session) = session {
                // The server throttles the session, not just this request.
                let pause = wait.min(retry.max_retry_after);
                shared.sessions.pause(session, Instant::now() + pause);
            }
            let not_retried = match &replay {
                _ if !may_retry && retry.max_retries > 0 => {
                    Some("the method is not idempotent (see retry_non_idempotent)")
                }
                _ if retries >= retry.max_retries => Some("no retries left"),
                None => Some("the body cannot be replayed"),
                Some(_) if wait > retry.max_retry_after => {
                    Some("the server asks for a longer wait than max_retry_after")
                }
                Some(_) => None,
            };
            let (Some(next), None) = (replay, not_retried) else {
                tracing::info!(
                    %origin,
                    status = status.as_u16(),
                    retries,
                    ?wait,
                    retry_after = asked.is_some(),
                    reason = not_retried.unwrap_or_default(),
                    "pacing: throttled; the answer goes back to the caller"
                );
                return Ok(response);
            };
            retries += 1;
            tracing::info!(
                %origin,
                status = status.as_u16(),
                retry = retries,
                ?wait,
                retry_after = asked.is_some(),
                "pacing: throttled; retrying after the wait"
            );
            count(&shared.counters.retried);
            drop(response);
            tokio::time::sleep(wait).await;
            request = next;
        }
    }
}

/// Configures a [`Pacer`]: start from [`Pacer::erpnet`] or [`Pacer::builder`].
#[derive(Debug, Clone)]
pub struct PacerBuilder {
    session_concurrency: usize,
    requests_per_minute: Option<u32>,
    burst: Option<u32>,
    queue: usize,
    queue_timeout: Duration,
    origin_concurrency: Option<usize>,
    retry: RetryPolicy,
}

impl PacerBuilder {
    /// Requests of one session sent and not yet answered (default 1, ERP.net's). At least 1.
    pub fn max_in_flight_per_session(mut self, requests: usize) -> Self {
        self.session_concurrency = requests;
        self
    }

    /// Requests of one session sent in any 60 seconds (default 600, ERP.net's). At least 2.
    pub fn requests_per_minute(mut self, requests: u32) -> Self {
        self.requests_per_minute = Some(requests);
        self
    }

    /// No requests-per-minute budget at all.
    pub fn no_rate_limit(mut self) -> Self {
        self.requests_per_minute = None;
        self
    }

    /// Requests of one session that may go at once when its budget is unused (default a
    /// tenth of the budget, at most 10). The bucket refills at the rest of the budget, so
    /// that any minute holds at most `requests_per_minute`; at least 1 and below it.
    pub fn burst(mut self, requests: u32) -> Self {
        self.burst = Some(requests);
        self
    }

    /// Requests of one session that may wait for their turn at once (default 256); one more
    /// gets [`PacingError::QueueFull`] without waiting. At least 1.
    pub fn queue_per_session(mut self, requests: usize) -> Self {
        self.queue = requests;
        self
    }

    /// The longest a request waits for its turn (default 30 s) before
    /// [`PacingError::QueueTimeout`]. Not zero.
    pub fn queue_timeout(mut self, timeout: Duration) -> Self {
        self.queue_timeout = timeout;
        self
    }

    /// Requests to one origin at a time, all sessions together (ERP.net: 2 per site; the
    /// default of [`Pacer::builder`] is no cap). At least 1.
    pub fn max_in_flight_per_origin(mut self, requests: usize) -> Self {
        self.origin_concurrency = Some(requests);
        self
    }

    /// No per-origin cap.
    pub fn no_origin_limit(mut self) -> Self {
        self.origin_concurrency = None;
        self
    }

    /// Retries after a `429` or `503` (default 3); 0 sends every request once.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.retry.max_retries = retries;
        self
    }

    /// The wait before a retry when the answer has no `Retry-After`: `initial`, doubled for
    /// each further retry, at most `max`, less up to half for jitter (default 0.5 s and 30 s).
    pub fn retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.retry.backoff_initial = initial;
        self.retry.backoff_max = max.max(initial);
        self
    }

    /// The longest `Retry-After` honoured (default 60 s): when the server asks for more, the
    /// answer goes back to the caller at once.
    pub fn max_retry_after(mut self, wait: Duration) -> Self {
        self.retry.max_retry_after = wait;
        self
    }

    /// Also retries `POST`, `PATCH` and other methods that are not idempotent (default off).
    /// A `429` from a rate limiter means the request was not processed, but a `503` from
    /// elsewhere may not: turn it on only for APIs where a repeat is harmless.
    pub fn retry_non_idempotent(mut self, retry: bool) -> Self {
        self.retry.non_idempotent = retry;
        self
    }

    /// The pacer, or what is wrong with the numbers.
    pub fn build(self) -> Result<Pacer, ConfigError> {
        let at_least_one = |value: usize, what: &str| {
            if value == 0 {
                Err(ConfigError::invalid(format!(
                    "pacing: {what} must be at least 1"
                )))
            } else {
                Ok(())
            }
        };
        at_least_one(self.session_concurrency, "max_in_flight_per_session")?;
        at_least_one(self.queue, "queue_per_session")?;
        if let Some(origin) = self.origin_concurrency {
            at_least_one(origin, "max_in_flight_per_origin")?;
        }
        if self.queue_timeout.is_zero() {
            return Err(ConfigError::invalid(
                "pacing: queue_timeout must not be zero",
            ));
        }
        let rate = self
            .requests_per_minute
            .map(|rpm| Rate::new(rpm, self.burst.unwrap_or_else(|| Rate::default_burst(rpm))))
            .transpose()?;
        let limits = Limits {
            session_concurrency: self.session_concurrency,
            rate,
            queue: self.queue,
            queue_timeout: self.queue_timeout,
            origin_concurrency: self.origin_concurrency,
        };
        Ok(Pacer {
            shared: Arc::new(Shared {
                sessions: Sessions::new(limits),
                retry: self.retry,
                jitter: Jitter::new(RandomState::new().hash_one(Instant::now())),
                counters: Counters::default(),
            }),
        })
    }
}

#[cfg(test)]
mod tests;
