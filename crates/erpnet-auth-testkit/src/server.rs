//! The mock server: its shared state, the handle tests hold, and the connection loop.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::{Extension, Router};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::client::{Client, DEFAULT_SYSTEM_USER};
use crate::discovery::{self, DISCOVERY_PATH, JWKS_PATH, TOKEN_PATH};
use crate::failure::{ConnectionControl, Endpoint, Failure, Injected, inject};
use crate::jwt::{self, AccessTokenClaims, Signature};
use crate::keys::SigningKey;
use crate::token_endpoint::{self, TokenRequestRecord};
use crate::token_spec::{Alg, MintDefaults, TokenSpec};

/// The default access token lifetime, as at ERP.net.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// The default issuer path, as at ERP.net (`https://{instance}.my.erp.net/id`).
const DEFAULT_ISSUER_PATH: &str = "/id";

/// What happens to the signing key that [`MockIdentity::rotate_keys`] replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldKey {
    /// Keep publishing it (and every other key still published) in the JWKS, so tokens it
    /// signed still verify: a graceful rotation.
    Keep,
    /// Publish only the new key from now on: tokens signed by any earlier key no longer
    /// verify.
    Drop,
}

/// A running mock ERP.net Identity server (IdentityServer4-style) on `127.0.0.1`.
///
/// Cloning is cheap and every clone controls the same server; the server stops when the last
/// clone is dropped.
///
/// The server runs as a task on the Tokio runtime that started it, so it lives no longer than
/// that runtime: start one per test (it takes about 100 ms, mostly RSA key generation) rather
/// than sharing one across `#[tokio::test]`s, each of which has a runtime of its own.
///
/// Endpoints, below [`issuer`](MockIdentity::issuer):
/// - `GET /.well-known/openid-configuration`: the discovery document;
/// - `GET /.well-known/openid-configuration/jwks`: the public signing keys;
/// - `POST /connect/token`: the `client_credentials` grant, with `client_secret_post` or
///   `client_secret_basic`.
#[derive(Clone)]
pub struct MockIdentity {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropping the accept loop drops its JoinSet, which aborts every connection task,
        // hanging ones included.
        self.server.abort();
    }
}

impl fmt::Debug for MockIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockIdentity")
            .field("issuer", &self.inner.shared.issuer)
            .field("signing_kid", &self.signing_kid())
            .finish_non_exhaustive()
    }
}

impl MockIdentity {
    /// Starts a mock with the default configuration: issuer `http://127.0.0.1:{port}/id` on a
    /// free port, the default client ([`Client::default_client`]), tokens living 3600 s.
    ///
    /// # Panics
    ///
    /// If no port on 127.0.0.1 can be bound, or when called outside a Tokio runtime. Use
    /// [`MockIdentityBuilder::try_start`] to get the bind error instead.
    pub async fn start() -> MockIdentity {
        MockIdentity::builder().start().await
    }

    /// A builder for a mock with a non-default configuration.
    pub fn builder() -> MockIdentityBuilder {
        MockIdentityBuilder::default()
    }

    /// The issuer, e.g. `http://127.0.0.1:38213/id` (no trailing slash): what goes into
    /// `iss` and what a client uses as its authority.
    pub fn issuer(&self) -> String {
        self.inner.shared.issuer.clone()
    }

    /// The socket address the mock listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.shared.addr
    }

    /// `{issuer}/.well-known/openid-configuration`
    pub fn discovery_url(&self) -> String {
        format!("{}{DISCOVERY_PATH}", self.inner.shared.issuer)
    }

    /// `{issuer}/connect/token`
    pub fn token_endpoint(&self) -> String {
        format!("{}{TOKEN_PATH}", self.inner.shared.issuer)
    }

    /// `{issuer}/.well-known/openid-configuration/jwks`
    pub fn jwks_uri(&self) -> String {
        format!("{}{JWKS_PATH}", self.inner.shared.issuer)
    }

    /// Registers a client, replacing any client with the same id.
    pub fn register_client(&self, client: Client) {
        let mut clients = lock(&self.inner.shared.clients);
        clients.retain(|known| known.id() != client.id());
        clients.push(client);
    }

    /// How many requests reached `endpoint` so far, including those answered with an
    /// injected failure and those refused as malformed.
    pub fn requests(&self, endpoint: Endpoint) -> usize {
        self.inner.shared.counters[endpoint.index()].load(Ordering::SeqCst)
    }

    /// Makes the next `count` requests to `endpoint` fail with `failure` (after any failures
    /// queued before).
    pub fn fail_next(&self, endpoint: Endpoint, count: usize, failure: Failure) {
        let mut failures = lock(&self.inner.shared.failures);
        let queue = &mut failures[endpoint.index()];
        queue.extend(std::iter::repeat_n(failure, count));
    }

    /// Generates a brand-new signing key, which signs every token from now on, and returns
    /// its kid. The JWKS publishes the new key first; `old` says whether the earlier keys stay.
    ///
    /// Key generation takes around 100 ms.
    pub fn rotate_keys(&self, old: OldKey) -> String {
        let key = Arc::new(SigningKey::generate());
        let kid = key.kid().to_owned();
        let mut keys = lock(&self.inner.shared.keys);
        match old {
            OldKey::Keep => keys.published.insert(0, Arc::clone(&key)),
            OldKey::Drop => keys.published = vec![Arc::clone(&key)],
        }
        keys.current = key;
        kid
    }

    /// The kid of the key that currently signs tokens.
    pub fn signing_kid(&self) -> String {
        lock(&self.inner.shared.keys).current.kid().to_owned()
    }

    /// Mints a token from `spec`, typically one that a validator must reject.
    pub fn mint(&self, spec: TokenSpec) -> String {
        self.inner.shared.mint(&spec)
    }

    /// A valid access token for `client_id` with these scopes, exactly as the token endpoint
    /// would issue it (the system user comes from the registered client, if there is one).
    /// With no scopes, the token gets every API scope of the registered client (none if
    /// `client_id` is not registered).
    pub fn access_token_for(&self, client_id: &str, scopes: &[&str]) -> String {
        let shared = &self.inner.shared;
        let client = shared.client(client_id);
        let mut scopes: Vec<String> = scopes.iter().map(|&scope| scope.to_owned()).collect();
        if let (true, Some(client)) = (scopes.is_empty(), &client) {
            scopes = token_endpoint::api_scopes(client.allowed_scopes());
        }
        let system_user = client
            .as_ref()
            .map_or(DEFAULT_SYSTEM_USER, Client::system_user_name);
        shared.access_token(client_id, system_user, &scopes).0
    }

    /// Sets the lifetime of access tokens issued from now on (`exp` and `expires_in`).
    /// Only whole seconds count.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        *lock(&self.inner.shared.token_lifetime) = lifetime;
    }

    /// The `aud` array put into access tokens.
    pub fn audiences(&self) -> Vec<String> {
        self.inner.shared.audiences.clone()
    }

    /// What the last token request that named its client looked like (without the secret).
    pub fn last_token_request(&self) -> Option<TokenRequestRecord> {
        lock(&self.inner.shared.last_token_request).clone()
    }
}

/// Configures a [`MockIdentity`] before it starts.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use erpnet_auth_testkit::{Client, MockIdentity};
///
/// let idp = MockIdentity::builder()
///     .client(Client::new("reports.example/nightly", "hunter2").scopes(["read"]))
///     .token_lifetime(Duration::from_secs(60))
///     .start()
///     .await;
/// assert!(idp.issuer().ends_with("/id"));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MockIdentityBuilder {
    token_lifetime: Duration,
    clients: Vec<Client>,
    issuer_path: String,
    audiences: Option<Vec<String>>,
    port: u16,
}

impl Default for MockIdentityBuilder {
    fn default() -> MockIdentityBuilder {
        MockIdentityBuilder {
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            clients: Vec::new(),
            issuer_path: DEFAULT_ISSUER_PATH.to_owned(),
            audiences: None,
            port: 0,
        }
    }
}

impl MockIdentityBuilder {
    /// The port on 127.0.0.1 to listen on (default 0: a free one).
    pub fn port(mut self, port: u16) -> MockIdentityBuilder {
        self.port = port;
        self
    }

    /// The lifetime of access tokens (default 3600 s). Only whole seconds count.
    pub fn token_lifetime(mut self, lifetime: Duration) -> MockIdentityBuilder {
        self.token_lifetime = lifetime;
        self
    }

    /// Registers a client; may be called repeatedly. When no client is given, the default
    /// client ([`Client::default_client`]) is registered.
    pub fn client(mut self, client: Client) -> MockIdentityBuilder {
        self.clients.retain(|known| known.id() != client.id());
        self.clients.push(client);
        self
    }

    /// The path part of the issuer (default `/id`). A missing leading `/` is added and a
    /// trailing `/` removed; `""` or `"/"` puts the issuer at the root.
    pub fn issuer_path(mut self, path: impl Into<String>) -> MockIdentityBuilder {
        let path = path.into();
        let trimmed = path.trim_matches('/');
        self.issuer_path = if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        };
        self
    }

    /// The `aud` array of access tokens. Default:
    /// `["DomainAPI", "TableAPI", "OLAP", "AppServer", "{issuer}/resources"]`.
    pub fn audiences<I, S>(mut self, audiences: I) -> MockIdentityBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audiences = Some(audiences.into_iter().map(Into::into).collect());
        self
    }

    /// Binds `127.0.0.1` on a free port and starts serving.
    ///
    /// # Panics
    ///
    /// If no port can be bound, or when called outside a Tokio runtime.
    pub async fn start(self) -> MockIdentity {
        match self.try_start().await {
            Ok(mock) => mock,
            Err(error) => panic!("the mock identity cannot listen on 127.0.0.1: {error}"),
        }
    }

    /// Like [`start`](MockIdentityBuilder::start), but returns the bind error.
    ///
    /// # Panics
    ///
    /// When called outside a Tokio runtime.
    pub async fn try_start(self) -> io::Result<MockIdentity> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, self.port)).await?;
        let addr = listener.local_addr()?;
        let issuer = format!("http://{addr}{}", self.issuer_path);
        // RSA key generation takes ~100 ms: keep it off the runtime's worker threads.
        let key = tokio::task::spawn_blocking(SigningKey::generate)
            .await
            .map_err(io::Error::other)?;
        let key = Arc::new(key);
        let audiences = self.audiences.unwrap_or_else(|| {
            ["DomainAPI", "TableAPI", "OLAP", "AppServer"]
                .into_iter()
                .map(str::to_owned)
                .chain([format!("{issuer}/resources")])
                .collect()
        });
        let clients = if self.clients.is_empty() {
            vec![Client::default_client()]
        } else {
            self.clients
        };
        let shared = Arc::new(Shared {
            discovery_path: format!("{}{DISCOVERY_PATH}", self.issuer_path),
            jwks_path: format!("{}{JWKS_PATH}", self.issuer_path),
            token_path: format!("{}{TOKEN_PATH}", self.issuer_path),
            issuer,
            addr,
            audiences,
            clients: Mutex::new(clients),
            keys: Mutex::new(KeySet {
                current: Arc::clone(&key),
                published: vec![key],
            }),
            token_lifetime: Mutex::new(self.token_lifetime),
            counters: Default::default(),
            failures: Default::default(),
            last_token_request: Mutex::new(None),
        });
        let router = Router::new()
            .fallback(dispatch)
            .with_state(Arc::clone(&shared))
            .layer(middleware::from_fn(log_request));
        let server = tokio::spawn(serve(listener, router));
        tracing::debug!(issuer = %shared.issuer, "mock identity started");
        Ok(MockIdentity {
            inner: Arc::new(Inner { shared, server }),
        })
    }
}

/// The signing key and every key the JWKS publishes (the current one among them).
struct KeySet {
    current: Arc<SigningKey>,
    published: Vec<Arc<SigningKey>>,
}

/// State shared by the handle and the handlers.
pub(crate) struct Shared {
    issuer: String,
    addr: SocketAddr,
    discovery_path: String,
    jwks_path: String,
    token_path: String,
    audiences: Vec<String>,
    clients: Mutex<Vec<Client>>,
    keys: Mutex<KeySet>,
    token_lifetime: Mutex<Duration>,
    counters: [AtomicUsize; Endpoint::COUNT],
    failures: Mutex<[VecDeque<Failure>; Endpoint::COUNT]>,
    last_token_request: Mutex<Option<TokenRequestRecord>>,
}

impl Shared {
    pub(crate) fn client(&self, id: &str) -> Option<Client> {
        lock(&self.clients)
            .iter()
            .find(|client| client.id() == id)
            .cloned()
    }

    pub(crate) fn record_token_request(&self, record: TokenRequestRecord) {
        *lock(&self.last_token_request) = Some(record);
    }

    fn lifetime_secs(&self) -> i64 {
        i64::try_from(lock(&self.token_lifetime).as_secs()).unwrap_or(i64::MAX)
    }

    /// An access token for a client that passed authentication, and its lifetime in seconds.
    pub(crate) fn issue_access_token(&self, client: &Client, scopes: &[String]) -> (String, i64) {
        self.access_token(client.id(), client.system_user_name(), scopes)
    }

    fn access_token(&self, client_id: &str, system_user: &str, scopes: &[String]) -> (String, i64) {
        let key = Arc::clone(&lock(&self.keys).current);
        let lifetime_secs = self.lifetime_secs();
        let claims = AccessTokenClaims {
            issuer: &self.issuer,
            audiences: &self.audiences,
            client_id,
            system_user,
            scopes,
            now: jwt::now(),
            lifetime_secs,
        };
        let token = jwt::encode(
            &jwt::access_token_header(key.kid()),
            &claims.to_object(),
            Signature::Rs256(&key),
        );
        (token, lifetime_secs)
    }

    fn mint(&self, spec: &TokenSpec) -> String {
        let current = Arc::clone(&lock(&self.keys).current);
        let defaults = MintDefaults {
            issuer: &self.issuer,
            audiences: &self.audiences,
            lifetime_secs: self.lifetime_secs(),
            kid: current.kid(),
            now: jwt::now(),
        };
        let (header, claims) = spec.build(&defaults);
        let key = if spec.uses_foreign_key() {
            foreign_key()
        } else {
            &current
        };
        let signature = match spec.signing_alg() {
            Alg::Rs256 => Signature::Rs256(key),
            Alg::Hs256 => Signature::Hs256(key.public_pem().as_bytes()),
            Alg::None => Signature::Unsigned,
        };
        jwt::encode(&header, &claims, signature)
    }

    fn endpoint(&self, path: &str) -> Option<Endpoint> {
        if path == self.discovery_path {
            Some(Endpoint::Discovery)
        } else if path == self.jwks_path {
            Some(Endpoint::Jwks)
        } else if path == self.token_path {
            Some(Endpoint::Token)
        } else {
            None
        }
    }

    fn discovery_document(&self) -> Value {
        discovery::document(&self.issuer)
    }

    fn jwks(&self) -> Value {
        let keys = lock(&self.keys);
        discovery::jwks(keys.published.iter().map(AsRef::as_ref))
    }

    /// The normal body of `endpoint`, for `Failure::MalformedBody` to cut in half.
    fn normal_body(&self, endpoint: Endpoint) -> String {
        match endpoint {
            Endpoint::Discovery => self.discovery_document().to_string(),
            Endpoint::Jwks => self.jwks().to_string(),
            Endpoint::Token => {
                let (token, lifetime) = self.access_token("malformed", DEFAULT_SYSTEM_USER, &[]);
                serde_json::json!({
                    "access_token": token,
                    "expires_in": lifetime,
                    "token_type": "Bearer",
                    "scope": "",
                })
                .to_string()
            }
        }
    }

    /// Counts the request and carries out the next queued failure of `endpoint`, if any.
    async fn before(&self, endpoint: Endpoint, connection: &ConnectionControl) -> Injected {
        self.counters[endpoint.index()].fetch_add(1, Ordering::SeqCst);
        let failure = lock(&self.failures)[endpoint.index()].pop_front();
        match failure {
            Some(failure) => {
                tracing::debug!(?endpoint, ?failure, "mock identity injects a failure");
                inject(failure, connection, || self.normal_body(endpoint)).await
            }
            None => Injected::Proceed,
        }
    }
}

/// A key that no mock ever publishes, shared by the whole process.
fn foreign_key() -> &'static SigningKey {
    static FOREIGN: OnceLock<SigningKey> = OnceLock::new();
    FOREIGN.get_or_init(SigningKey::generate)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding a lock must not take every later assertion with it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Routes by exact path (the issuer path is configurable, so no route patterns are needed).
async fn dispatch(
    State(shared): State<Arc<Shared>>,
    Extension(connection): Extension<ConnectionControl>,
    request: Request,
) -> Response {
    let Some(endpoint) = shared.endpoint(request.uri().path()) else {
        return status(StatusCode::NOT_FOUND);
    };
    if let Injected::Respond(response) = shared.before(endpoint, &connection).await {
        return response;
    }
    match endpoint {
        // IdentityServer answers 405 to anything but GET on its discovery endpoints.
        Endpoint::Discovery | Endpoint::Jwks if request.method() != Method::GET => {
            let mut response = status(StatusCode::METHOD_NOT_ALLOWED);
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET"));
            response
        }
        Endpoint::Discovery => json(&shared.discovery_document()),
        Endpoint::Jwks => json(&shared.jwks()),
        Endpoint::Token => token_endpoint::handle(&shared, request).await,
    }
}

fn status(code: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = code;
    response
}

fn json(body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    response
}

/// Logs method, path and status; never the query, headers or body, which may carry secrets.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    tracing::debug!(%method, %path, status = response.status().as_u16(), "mock identity request");
    response
}

/// Accepts connections until aborted. Each connection runs in its own task, so a hanging
/// request holds only its own connection; dropping the accept loop drops the `JoinSet`, which
/// aborts them all.
async fn serve(listener: TcpListener, router: Router) {
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Typically out of file descriptors: wait a little instead of spinning.
                tracing::debug!(%error, "mock identity cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        connections.spawn(serve_connection(stream, router.clone()));
    }
}

/// Serves one HTTP/1.1 connection until it ends or a handler asks for it to be dropped
/// (`Failure::DropConnection`). Dropping the connection future drops the socket, so the
/// client sees the connection close without a response.
async fn serve_connection(stream: TcpStream, router: Router) {
    let _ = stream.set_nodelay(true);
    let control = ConnectionControl::default();
    let service = TowerToHyperService::new(router.layer(Extension(control.clone())));
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            if let Err(error) = result {
                tracing::debug!(%error, "mock identity connection ended with an error");
            }
        }
        () = control.dropped() => {
            tracing::debug!("mock identity drops a connection without answering");
        }
    }
}
