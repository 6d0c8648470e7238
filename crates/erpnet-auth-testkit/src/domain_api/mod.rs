//! [`MockDomainApi`]: a mock of an ERP.net instance's Domain API (OData) that trusts a
//! [`MockIdentity`]'s tokens and enforces ERP.net's per-session and per-site rate limits.

mod auth;
mod handler;
mod limits;
mod odata;
mod records;
mod stats;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::middleware;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::failure::Failure;
use crate::server::{MockIdentity, serve};
use crate::state::lock;

use self::handler::{ApiState, ROOT_PATH, dispatch, log_request};
use self::limits::{Limiter, Limits};
use self::odata::Record;

pub use self::records::{DEFAULT_ENTITY, ENTERPRISE_COMPANY_ID};
pub use self::stats::DomainApiStats;

/// A running mock of an ERP.net instance's Domain API on `127.0.0.1`, trusting the tokens of
/// one [`MockIdentity`].
///
/// ```
/// use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, DEFAULT_ENTITY, MockDomainApi, MockIdentity};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let identity = MockIdentity::start().await;
/// let api = MockDomainApi::start(&identity).await;
/// println!("OData root: {}", api.odata_root()); // http://127.0.0.1:PORT/api/domain/odata/
///
/// let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
/// let mut stream = tokio::net::TcpStream::connect(api.addr()).await?;
/// let request = format!(
///     "GET /api/domain/odata/{DEFAULT_ENTITY}?$top=1&$select=Id,PartyCode HTTP/1.1\r\n\
///      Host: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
/// );
/// stream.write_all(request.as_bytes()).await?;
/// let mut response = String::new();
/// stream.read_to_string(&mut response).await?;
/// assert!(response.starts_with("HTTP/1.1 200 OK"));
/// assert!(response.contains(r#""value":[{"Id":"6f8f0c1e-2b7a-4c3d-9e51-0a1b2c3d4e01","PartyCode":"0001"}]"#));
/// assert_eq!(api.stats().served, 1);
/// assert_eq!(api.stats().sessions, 1, "the token's first use opened a session");
/// # Ok(())
/// # }
/// ```
///
/// Below [`odata_root`](MockDomainApi::odata_root) (`/api/domain/odata/`, as at ERP.net):
/// - `GET {Entity}` with `$top`, `$skip`, `$select` and `$filter` on equality
///   (`PartyCode eq '0001' and IsActive eq true`; strings, numbers, `true`/`false`, `null`
///   and bare GUIDs), answering `{"@odata.context": "{root}$metadata#{Entity}", "value":
///   [...]}`; other system query options (`$orderby`, `$expand`, …) are `501`;
/// - `GET {Entity}({id})`, `POST {Entity}` (`201`, a new `Id` unless the body names an unused
///   one), `PATCH {Entity}({id})` and `DELETE {Entity}({id})` (`204`); `GET` on the root lists
///   the entity sets.
///
/// The data: [`DEFAULT_ENTITY`] (`General_Contacts_Parties`, 8 parties, the first the
/// enterprise company [`ENTERPRISE_COMPANY_ID`]), `General_Contacts_Companies` (3) and
/// `General_Contacts_Persons` (5), ERP.net-shaped (`Id`, `PartyCode`, multi-language
/// `PartyName` as `{"EN": …, "BG": …}`, `PartyType`, `IsActive`, …). Add or replace sets with
/// [`MockDomainApiBuilder::entity_set`].
///
/// Every request goes through, in order:
/// 1. an injected [`Failure`], if one is queued ([`fail_next`](MockDomainApi::fail_next));
/// 2. the credential: `Authorization: Bearer …` or `X-Api-Key: …` (one of them). A JWT must
///    be an access token (`typ: at+jwt`) signed by a key the identity publishes, unexpired
///    and not revoked; a reference token (`enrt_…`) one the identity issued and has not
///    revoked. Otherwise `401` with `WWW-Authenticate: Bearer error="invalid_token"` (bare
///    `Bearer` when no token was sent). A valid token of another issuer, or without the
///    audience `DomainAPI`, is `403`;
/// 3. ERP.net's rate limits: a session is one access token, opened by its first use. Per
///    session at most 1 request runs and 5 wait in line, and at most 600 are admitted in any
///    60 s; per site (this whole mock) at most 2 run. Past any of them: `429`, with no
///    `Retry-After` (as ERP.net) unless [`MockDomainApiBuilder::retry_after`] set one;
/// 4. the scope: `read` for `GET`, `update` for `POST`, `PATCH` and `DELETE`, else `403`;
/// 5. the service time ([`MockDomainApiBuilder::service_time`], default none), holding the
///    session's and the site's slot, then the answer.
///
/// Errors carry ERP.net's body, `{"error": {"code", "message", "info", "type"}}`, with the
/// HTTP status as `code` and its name as `type` (`"Unauthorized"`, `"TooManyRequests"`).
///
/// [`stats`](MockDomainApi::stats) counts what was served, queued and refused, by which
/// limit, and the most requests seen running per session and per site.
///
/// Cloning is cheap; every clone controls the same server, which stops when the last clone is
/// dropped. Like [`MockIdentity`], it runs on the Tokio runtime that started it.
#[derive(Clone)]
pub struct MockDomainApi {
    inner: Arc<Inner>,
}

struct Inner {
    state: Arc<ApiState>,
    addr: SocketAddr,
    server: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl fmt::Debug for MockDomainApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockDomainApi")
            .field("odata_root", &self.inner.state.root)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl MockDomainApi {
    /// Starts a mock with ERP.net's default limits, no service time and the default records,
    /// trusting `identity`'s tokens.
    ///
    /// # Panics
    ///
    /// If no port on 127.0.0.1 can be bound, or when called outside a Tokio runtime.
    pub async fn start(identity: &MockIdentity) -> MockDomainApi {
        MockDomainApi::builder(identity).start().await
    }

    /// A builder for a mock with other limits, a service time, or other records.
    pub fn builder(identity: &MockIdentity) -> MockDomainApiBuilder {
        MockDomainApiBuilder {
            identity: identity.clone(),
            limits: Limits::default(),
            service_time: Duration::ZERO,
            retry_after: None,
            sets: Vec::new(),
            port: 0,
        }
    }

    /// The OData root, e.g. `http://127.0.0.1:38214/api/domain/odata/` (with the trailing
    /// slash): what `ERPNET_API_URL` names for a real instance.
    pub fn odata_root(&self) -> String {
        self.inner.state.root.clone()
    }

    /// `{odata_root}{entity}`, e.g. `http://127.0.0.1:38214/api/domain/odata/General_Contacts_Parties`.
    pub fn entity_url(&self, entity: &str) -> String {
        format!("{}{entity}", self.inner.state.root)
    }

    /// The origin, `http://127.0.0.1:{port}`: what a client allows its tokens to go to.
    pub fn origin(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// The socket address the mock listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// What the mock saw so far.
    pub fn stats(&self) -> DomainApiStats {
        self.inner.state.counters.snapshot()
    }

    /// Sets every counter of [`stats`](MockDomainApi::stats) to zero (sessions stay open).
    pub fn reset_stats(&self) {
        self.inner.state.counters.reset();
    }

    /// How many sessions the mock holds state for now: open ones, and idle ones (a minute
    /// without requests) not yet swept out.
    pub fn open_sessions(&self) -> usize {
        self.inner.state.limiter.sessions()
    }

    /// Queues `failure` for the next `count` requests, before they are even authenticated,
    /// in order after any already queued. [`Failure::RetryAfter`] answers a `429` or `503`
    /// with a `Retry-After` header of your choosing.
    pub fn fail_next(&self, count: usize, failure: Failure) {
        let mut failures = lock(&self.inner.state.failures);
        failures.extend(std::iter::repeat_n(failure, count));
    }

    /// Sets how long each admitted request takes from now on, holding its session's and its
    /// site's slot. A Tokio timer, so a paused test clock moves it.
    pub fn set_service_time(&self, service_time: Duration) {
        *lock(&self.inner.state.service_time) = service_time;
    }

    /// The records of an entity set as they are now (after any `POST`, `PATCH` or
    /// `DELETE`), or `None` for an unknown set.
    pub fn records(&self, entity: &str) -> Option<Vec<Value>> {
        lock(&self.inner.state.data)
            .records(entity)
            .map(|records| records.iter().cloned().map(Value::Object).collect())
    }

    /// The names of the entity sets, sorted.
    pub fn entity_sets(&self) -> Vec<String> {
        lock(&self.inner.state.data).names()
    }
}

/// Configures a [`MockDomainApi`] before it starts; every number defaults to ERP.net's.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use erpnet_auth_testkit::{MockDomainApi, MockIdentity};
///
/// let identity = MockIdentity::start().await;
/// let api = MockDomainApi::builder(&identity)
///     .service_time(Duration::from_millis(20)) // each request takes 20 ms
///     .session_requests_per_minute(60)
///     .retry_after(Duration::from_secs(2)) // ERP.net sends no Retry-After
///     .start()
///     .await;
/// assert!(api.odata_root().ends_with("/api/domain/odata/"));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MockDomainApiBuilder {
    identity: MockIdentity,
    limits: Limits,
    service_time: Duration,
    retry_after: Option<Duration>,
    sets: Vec<(String, Vec<Record>)>,
    port: u16,
}

impl MockDomainApiBuilder {
    /// How long each admitted request takes (default none), holding its session's and its
    /// site's slot: what makes the concurrency limits bite.
    pub fn service_time(mut self, service_time: Duration) -> MockDomainApiBuilder {
        self.service_time = service_time;
        self
    }

    /// Requests of one session that run at once (ERP.net's `SessionConcurrentRequests`,
    /// default 1). At least 1.
    pub fn session_concurrency(mut self, requests: usize) -> MockDomainApiBuilder {
        self.limits.session_concurrency = requests.max(1);
        self
    }

    /// Requests of one session that wait in line behind the running ones before more are
    /// refused (default 5, as at ERP.net).
    pub fn session_queue(mut self, requests: usize) -> MockDomainApiBuilder {
        self.limits.session_queue = requests;
        self
    }

    /// Requests of one session admitted in any 60 s (ERP.net's `SessionRpm`, default 600).
    pub fn session_requests_per_minute(mut self, requests: usize) -> MockDomainApiBuilder {
        self.limits.session_rpm = requests;
        self
    }

    /// Requests of every session together that run at once (ERP.net's
    /// `GlobalConcurrentRequests`, default 2). At least 1.
    pub fn site_concurrency(mut self, requests: usize) -> MockDomainApiBuilder {
        self.limits.site_concurrency = requests.max(1);
        self
    }

    /// Requests that wait for a site slot before more are refused (default 0: ERP.net
    /// documents no queue there).
    pub fn site_queue(mut self, requests: usize) -> MockDomainApiBuilder {
        self.limits.site_queue = requests;
        self
    }

    /// Sends `Retry-After: {seconds}` with every `429` (ERP.net sends none).
    pub fn retry_after(mut self, wait: Duration) -> MockDomainApiBuilder {
        self.retry_after = Some(wait);
        self
    }

    /// Adds an entity set, or replaces the records of one (a default set included). Each
    /// record must be a JSON object; anything else is left out.
    pub fn entity_set(
        mut self,
        name: impl Into<String>,
        records: impl IntoIterator<Item = Value>,
    ) -> MockDomainApiBuilder {
        let records = records
            .into_iter()
            .filter_map(|record| match record {
                Value::Object(record) => Some(record),
                _ => None,
            })
            .collect();
        self.sets.push((name.into(), records));
        self
    }

    /// The port on 127.0.0.1 to listen on (default 0: a free one).
    pub fn port(mut self, port: u16) -> MockDomainApiBuilder {
        self.port = port;
        self
    }

    /// Binds `127.0.0.1` and starts serving.
    ///
    /// # Panics
    ///
    /// If no port can be bound, or when called outside a Tokio runtime.
    pub async fn start(self) -> MockDomainApi {
        match self.try_start().await {
            Ok(api) => api,
            Err(error) => panic!("the mock Domain API cannot listen on 127.0.0.1: {error}"),
        }
    }

    /// Like [`start`](MockDomainApiBuilder::start), but returns the bind error.
    ///
    /// # Panics
    ///
    /// When called outside a Tokio runtime.
    pub async fn try_start(self) -> io::Result<MockDomainApi> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, self.port)).await?;
        let addr = listener.local_addr()?;
        let mut data = records::default_sets();
        for (name, records) in self.sets {
            data.insert(name, records);
        }
        let state = Arc::new(ApiState {
            identity: self.identity.shared(),
            root: format!("http://{addr}{ROOT_PATH}"),
            limiter: Arc::new(Limiter::new(self.limits)),
            service_time: Mutex::new(self.service_time),
            retry_after: self.retry_after,
            data: Mutex::new(data),
            counters: Default::default(),
            failures: Mutex::new(VecDeque::new()),
        });
        let router = Router::new()
            .fallback(dispatch)
            .with_state(Arc::clone(&state))
            .layer(middleware::from_fn(log_request));
        let server = tokio::spawn(serve(listener, router));
        tracing::debug!(root = %state.root, "mock domain api started");
        Ok(MockDomainApi {
            inner: Arc::new(Inner {
                state,
                addr,
                server,
            }),
        })
    }
}
