//! The mock server: the handle tests hold and its builder, the routing of each request to
//! its endpoint's handler (after any injected failure), and the connection loop. The state
//! the handle and the handlers share is in `state`.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
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

use crate::api_resource::ApiResource;
use crate::backchannel::{self, FormRequest};
use crate::client::{AccessTokenType, Client, DEFAULT_SYSTEM_USER};
use crate::discovery::{
    AUTHORIZE_PATH, DEVICE_AUTHORIZATION_PATH, DISCOVERY_PATH, END_SESSION_PATH,
    INTROSPECTION_PATH, JWKS_PATH, REVOCATION_PATH, TOKEN_PATH, USERINFO_PATH,
};
use crate::failure::{ConnectionControl, Endpoint, Failure, Injected, inject};
use crate::jwt::{self, AccessTokenClaims, Subject};
use crate::keys::SigningKey;
use crate::sign_in_page::LOGIN_PATH;
use crate::state::{AccessTokenRequest, KeySet, Shared, lock, whole_secs};
use crate::token_request::TokenRequestRecord;
use crate::token_spec::TokenSpec;
use crate::user::User;
use crate::user_session::Sessions;
use crate::{
    authorize, device, end_session, introspection, logout_notification, revocation, sign_in_page,
    token_endpoint, userinfo,
};

/// The default access token lifetime, as at ERP.net.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// The default issuer path, as at ERP.net (`https://{instance}.my.erp.net/id`).
const DEFAULT_ISSUER_PATH: &str = "/id";
/// Authorization codes live 5 minutes, as at IdentityServer.
const DEFAULT_CODE_LIFETIME: Duration = Duration::from_secs(300);

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
/// - `GET /connect/authorize`: signs a registered [`User`] in (without a UI, or through the
///   sign-in page of [`MockIdentityBuilder::sign_in_page`]) and redirects to the client with a
///   code, `state` and `iss`;
/// - `POST /account/login`: the sign-in page's form;
/// - `POST /connect/token`: the `client_credentials`, `authorization_code` (PKCE `S256`) and
///   `refresh_token` (rotating) grants; confidential clients authenticate with
///   `client_secret_post` or `client_secret_basic`, public ones send only `client_id`;
/// - `POST /connect/introspect`: RFC 7662, for [`ApiResource`]s and confidential clients;
/// - `POST /connect/revocation`: RFC 7009;
/// - `GET /connect/userinfo` (or `POST`): the user's claims for an access token of theirs;
/// - `GET /connect/endsession`: ends the user's session, sends back-channel logout tokens to
///   its clients, and redirects to a registered post-logout redirect URI.
///
/// Codes and tokens expire by wall-clock time in whole seconds, the clock of `iat` and
/// `exp`; a paused Tokio clock does not age them.
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

    /// `{issuer}/connect/authorize`
    ///
    /// ```
    /// use erpnet_auth_testkit::{DEFAULT_PUBLIC_CLIENT_ID, MockIdentity};
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let idp = MockIdentity::start().await;
    /// // The S256 challenge of the verifier "dBjftJeZ4CVP-mJ92K9aySCPmjHMEY3ZQ-EQdATAgMB".
    /// let query = form_urlencoded::Serializer::new(String::new())
    ///     .append_pair("client_id", DEFAULT_PUBLIC_CLIENT_ID)
    ///     .append_pair("redirect_uri", "http://127.0.0.1:8400/callback") // any port
    ///     .append_pair("response_type", "code")
    ///     .append_pair("scope", "openid offline_access read")
    ///     .append_pair("code_challenge", "VeEfnINde2xbnhGw7RaGalVnMtx7DTg5UdV3-TewhYY")
    ///     .append_pair("code_challenge_method", "S256")
    ///     .append_pair("state", "xyz")
    ///     .finish();
    /// let path = idp.authorization_endpoint().replace(&format!("http://{}", idp.addr()), "");
    /// let mut stream = tokio::net::TcpStream::connect(idp.addr()).await?;
    /// let request = format!("GET {path}?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    /// stream.write_all(request.as_bytes()).await?;
    /// let mut response = String::new();
    /// stream.read_to_string(&mut response).await?;
    /// // No UI: the default user (jdoe) is signed in and the browser sent back with a code.
    /// assert!(response.starts_with("HTTP/1.1 302 Found"));
    /// assert!(response.contains("location: http://127.0.0.1:8400/callback?code="));
    /// assert!(response.contains("&state=xyz&iss=http%3A%2F%2F127.0.0.1"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn authorization_endpoint(&self) -> String {
        format!("{}{AUTHORIZE_PATH}", self.inner.shared.issuer)
    }

    /// `{issuer}/connect/introspect`
    pub fn introspection_endpoint(&self) -> String {
        format!("{}{INTROSPECTION_PATH}", self.inner.shared.issuer)
    }

    /// `{issuer}/connect/revocation`
    pub fn revocation_endpoint(&self) -> String {
        format!("{}{REVOCATION_PATH}", self.inner.shared.issuer)
    }

    /// `{issuer}/connect/endsession`
    pub fn end_session_endpoint(&self) -> String {
        format!("{}{END_SESSION_PATH}", self.inner.shared.issuer)
    }

    /// Registers a client, replacing any client with the same id.
    pub fn register_client(&self, client: Client) {
        let mut clients = lock(&self.inner.shared.clients);
        clients.retain(|known| known.id() != client.id());
        clients.push(client);
    }

    /// Registers a user who can sign in, replacing any user with the same login. The first
    /// registered user signs in when an authorization request has no `login_hint`.
    pub fn register_user(&self, user: User) {
        replace_or_push(&mut lock(&self.inner.shared.users), user, |known, new| {
            known.login == new.login
        });
    }

    /// Registers an API resource that may use the introspection endpoint, replacing any
    /// resource with the same name.
    pub fn register_api_resource(&self, resource: ApiResource) {
        replace_or_push(
            &mut lock(&self.inner.shared.api_resources),
            resource,
            |known, new| known.name == new.name,
        );
    }

    /// How many requests reached `endpoint` so far, including those answered with an
    /// injected failure and those refused as malformed.
    pub fn requests(&self, endpoint: Endpoint) -> usize {
        self.inner.shared.counters[endpoint.index()].load(Ordering::SeqCst)
    }

    /// How many token endpoint requests carried `grant_type={grant_type}` so far (e.g.
    /// `"refresh_token"`), including those answered with an injected failure or refused.
    /// Requests whose form could not be read are not counted here.
    pub fn requests_for_grant(&self, grant_type: &str) -> usize {
        lock(&self.inner.shared.grant_counters)
            .get(grant_type)
            .copied()
            .unwrap_or(0)
    }

    /// Makes the next `count` requests to `endpoint` fail with `failure` (after any failures
    /// queued before).
    pub fn fail_next(&self, endpoint: Endpoint, count: usize, failure: Failure) {
        let mut failures = lock(&self.inner.shared.failures);
        let queue = &mut failures[endpoint.index()];
        queue.extend(std::iter::repeat_n(failure, count));
    }

    /// Makes the next authorization request end as if the user refused to sign in: a redirect
    /// with `error=access_denied`. The same as
    /// `fail_next(Endpoint::Authorize, 1, Failure::OAuthError("access_denied".into()))`.
    pub fn deny_next_authorization(&self) {
        self.fail_next(
            Endpoint::Authorize,
            1,
            Failure::OAuthError("access_denied".to_owned()),
        );
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
    /// would issue it for client credentials (the system user and the kind of token, JWT or
    /// reference, come from the registered client, if there is one). With no scopes, the
    /// token gets every API scope of the registered client (none if `client_id` is not
    /// registered). Introspection and revocation know it.
    pub fn access_token_for(&self, client_id: &str, scopes: &[&str]) -> String {
        let shared = &self.inner.shared;
        let client = shared.client(client_id);
        let mut scopes: Vec<String> = scopes.iter().map(|&scope| scope.to_owned()).collect();
        if let (true, Some(client)) = (scopes.is_empty(), &client) {
            scopes = token_endpoint::api_scopes(client.allowed_scopes());
        }
        let client = client.unwrap_or_else(|| Client::new(client_id, String::new()));
        let subject = Subject::Service {
            system_user: client.system_user_name(),
        };
        shared.issue_access_token(&client, subject, &scopes, None).0
    }

    /// An opaque reference access token (`enrt_` and 64 hex characters), as ERP.net service
    /// access tokens (SATs) are: it acts as the system user of `client_id` (of the registered
    /// client, or `api-user`), carries these scopes and expires after `lifetime` (whole
    /// seconds). Only the introspection endpoint can tell what it means.
    pub fn mint_reference_token(
        &self,
        client_id: &str,
        scopes: &[&str],
        lifetime: Duration,
    ) -> String {
        let shared = &self.inner.shared;
        let system_user = shared
            .client(client_id)
            .map_or_else(|| DEFAULT_SYSTEM_USER.to_owned(), |c| c.system_user);
        let scopes: Vec<String> = scopes.iter().map(|&scope| scope.to_owned()).collect();
        let request = AccessTokenRequest {
            client_id,
            subject: Subject::Service {
                system_user: &system_user,
            },
            scopes: &scopes,
            grant: None,
            lifetime_secs: whole_secs(lifetime),
            token_type: AccessTokenType::Reference,
        };
        shared.access_token(request)
    }

    /// Sets the lifetime of access tokens issued from now on (`exp` and `expires_in`).
    /// Only whole seconds count.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        *lock(&self.inner.shared.token_lifetime) = lifetime;
    }

    /// Sets the lifetime of authorization codes issued from now on (default 300 s). Only
    /// whole seconds count; zero makes every new code expired at once.
    pub fn set_code_lifetime(&self, lifetime: Duration) {
        *lock(&self.inner.shared.code_lifetime) = lifetime;
    }

    /// The `aud` array put into access tokens.
    pub fn audiences(&self) -> Vec<String> {
        self.inner.shared.audiences.clone()
    }

    /// Shows the sign-in page (or not) to browsers without a session from now on; see
    /// [`MockIdentityBuilder::sign_in_page`].
    pub fn set_sign_in_page(&self, enabled: bool) {
        self.inner
            .shared
            .sign_in_page
            .store(enabled, Ordering::SeqCst);
    }

    /// Ends every session of the user with this login, as if they signed out at the provider
    /// (or an administrator ended their sessions): each client those sessions signed in to
    /// that has a back-channel logout URI ([`Client::backchannel_logout_uri`]) gets a signed
    /// logout token (`typ: logout+jwt`, `sub`, `sid`, the logout event). Returns how many
    /// clients accepted theirs (answered 2xx); each delivery is waited for, up to 5 s.
    pub async fn sign_out_user(&self, login: &str) -> usize {
        let shared = &self.inner.shared;
        let ended = shared.sessions().end_by_login(login);
        let mut accepted = 0;
        for session in &ended {
            accepted += logout_notification::notify(shared, session).await;
        }
        accepted
    }

    /// Approves the pending device authorization (RFC 8628) whose user code is `user_code`, as
    /// if user `login` had entered it and signed in: the client's next poll gets its tokens.
    /// `false` when no such authorization is pending (unknown or expired code, already
    /// decided) or no user has that login.
    pub fn approve_device(&self, user_code: &str, login: &str) -> bool {
        let shared = &self.inner.shared;
        let Some(user) = shared.user(login) else {
            return false;
        };
        shared.device_codes().decide(user_code, Some(user))
    }

    /// Denies the pending device authorization whose user code is `user_code`, as a user who
    /// refuses: the client's next poll gets `access_denied`. `false` when none is pending.
    pub fn deny_device(&self, user_code: &str) -> bool {
        self.inner.shared.device_codes().decide(user_code, None)
    }

    /// The user codes of the device authorizations waiting for a user, in no particular order.
    pub fn pending_user_codes(&self) -> Vec<String> {
        self.inner.shared.device_codes().pending_user_codes()
    }

    /// What the last token request that named its client looked like (without the secret).
    pub fn last_token_request(&self) -> Option<TokenRequestRecord> {
        lock(&self.inner.shared.last_token_request).clone()
    }

    /// The state behind this mock, for the mock Domain API to check its tokens with.
    pub(crate) fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.inner.shared)
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
    code_lifetime: Duration,
    clients: Vec<Client>,
    users: Vec<User>,
    api_resources: Vec<ApiResource>,
    issuer_path: String,
    audiences: Option<Vec<String>>,
    port: u16,
    sign_in_page: bool,
}

impl Default for MockIdentityBuilder {
    fn default() -> MockIdentityBuilder {
        MockIdentityBuilder {
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            code_lifetime: DEFAULT_CODE_LIFETIME,
            clients: Vec::new(),
            users: Vec::new(),
            api_resources: Vec::new(),
            issuer_path: DEFAULT_ISSUER_PATH.to_owned(),
            audiences: None,
            port: 0,
            sign_in_page: false,
        }
    }
}

impl MockIdentityBuilder {
    /// The port on 127.0.0.1 to listen on (default 0: a free one).
    pub fn port(mut self, port: u16) -> MockIdentityBuilder {
        self.port = port;
        self
    }

    /// Shows browsers a sign-in page (an HTML form: login and password, see
    /// [`User::password`]) at the authorization endpoint, as ERP.net does, instead of signing
    /// the user in without a UI (the default). Either way the browser gets a session cookie of
    /// the mock, so a later request signs in at once (single sign-on) until the session ends
    /// at the end-session endpoint. For tests that drive a real browser.
    pub fn sign_in_page(mut self, enabled: bool) -> MockIdentityBuilder {
        self.sign_in_page = enabled;
        self
    }

    /// The lifetime of access tokens (default 3600 s). Only whole seconds count.
    pub fn token_lifetime(mut self, lifetime: Duration) -> MockIdentityBuilder {
        self.token_lifetime = lifetime;
        self
    }

    /// The lifetime of authorization codes (default 300 s). Only whole seconds count.
    pub fn code_lifetime(mut self, lifetime: Duration) -> MockIdentityBuilder {
        self.code_lifetime = lifetime;
        self
    }

    /// Registers a client; may be called repeatedly. When no client is given, the default
    /// clients ([`Client::default_client`] and [`Client::default_public_client`]) are
    /// registered.
    pub fn client(mut self, client: Client) -> MockIdentityBuilder {
        replace_or_push(&mut self.clients, client, |known, new| known.id == new.id);
        self
    }

    /// Registers a user; may be called repeatedly. When no user is given, the default user
    /// ([`User::default_user`], `jdoe`) is registered. The first user signs in when an
    /// authorization request has no `login_hint`.
    pub fn user(mut self, user: User) -> MockIdentityBuilder {
        replace_or_push(&mut self.users, user, |known, new| known.login == new.login);
        self
    }

    /// Registers an API resource for the introspection endpoint; may be called repeatedly.
    /// When none is given, the default ([`ApiResource::default_resource`]) is registered.
    pub fn api_resource(mut self, resource: ApiResource) -> MockIdentityBuilder {
        replace_or_push(&mut self.api_resources, resource, |known, new| {
            known.name == new.name
        });
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
        let clients = or_default(self.clients, || {
            vec![Client::default_client(), Client::default_public_client()]
        });
        let shared = Arc::new(Shared {
            issuer_path: self.issuer_path,
            issuer,
            addr,
            audiences,
            clients: Mutex::new(clients),
            users: Mutex::new(or_default(self.users, || vec![User::default_user()])),
            api_resources: Mutex::new(or_default(self.api_resources, || {
                vec![ApiResource::default_resource()]
            })),
            keys: Mutex::new(KeySet {
                current: Arc::clone(&key),
                published: vec![key],
            }),
            token_lifetime: Mutex::new(self.token_lifetime),
            code_lifetime: Mutex::new(self.code_lifetime),
            counters: Default::default(),
            grant_counters: Mutex::default(),
            failures: Default::default(),
            last_token_request: Mutex::new(None),
            store: Mutex::default(),
            sessions: Mutex::new(Sessions::default()),
            sign_in_page: self.sign_in_page.into(),
            used_assertions: Mutex::default(),
            device_codes: Mutex::default(),
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

/// `given`, or `default()` when nothing was given.
fn or_default<T>(given: Vec<T>, default: impl FnOnce() -> Vec<T>) -> Vec<T> {
    if given.is_empty() { default() } else { given }
}

/// Replaces the item that `same` matches with `item`, or appends `item`.
fn replace_or_push<T>(items: &mut Vec<T>, item: T, same: impl Fn(&T, &T) -> bool) {
    match items.iter_mut().find(|known| same(known, &item)) {
        Some(known) => *known = item,
        None => items.push(item),
    }
}

/// Routes by exact path (the issuer path is configurable, so no route patterns are needed).
async fn dispatch(
    State(shared): State<Arc<Shared>>,
    Extension(connection): Extension<ConnectionControl>,
    request: Request,
) -> Response {
    let Some(endpoint) = endpoint(&shared.issuer_path, request.uri().path()) else {
        return status(StatusCode::NOT_FOUND);
    };
    shared.count(endpoint);
    // Back-channel forms are read before failure injection, so that grant types are counted
    // for every request.
    let form = match endpoint {
        Endpoint::Login if request.method() != Method::POST => return method_not_allowed("POST"),
        Endpoint::Token
        | Endpoint::Introspection
        | Endpoint::Revocation
        | Endpoint::Login
        | Endpoint::DeviceAuthorization => {
            let form = backchannel::read(request).await;
            if endpoint == Endpoint::Token {
                shared.count_grant(&form);
            }
            Incoming::Form(form)
        }
        _ => Incoming::Request(request),
    };
    let injected = match before(&shared, endpoint, &connection).await {
        Injected::Respond(response) => return response,
        Injected::Proceed => None,
        Injected::OAuthError(code) => Some(code),
    };
    match (endpoint, form, injected) {
        (Endpoint::Authorize | Endpoint::EndSession, Incoming::Request(request), injected) => {
            if request.method() != Method::GET {
                return method_not_allowed("GET");
            }
            let query = request.uri().query();
            if endpoint == Endpoint::Authorize {
                authorize::handle(&shared, query, request.headers(), injected)
            } else {
                end_session::handle(&shared, query, request.headers(), injected).await
            }
        }
        (_, _, Some(code)) => backchannel::error_response(&code, None),
        // IdentityServer answers 405 to anything but GET on its discovery endpoints.
        (Endpoint::Discovery | Endpoint::Jwks, Incoming::Request(request), None)
            if request.method() != Method::GET =>
        {
            method_not_allowed("GET")
        }
        (Endpoint::Discovery, _, None) => json(&shared.discovery_document()),
        (Endpoint::Jwks, _, None) => json(&shared.jwks()),
        (Endpoint::Token, Incoming::Form(form), None) => token_endpoint::handle(&shared, form),
        (Endpoint::Introspection, Incoming::Form(form), None) => {
            introspection::handle(&shared, form)
        }
        (Endpoint::Revocation, Incoming::Form(form), None) => revocation::handle(&shared, form),
        (Endpoint::DeviceAuthorization, Incoming::Form(form), None) => {
            device::authorize(&shared, form)
        }
        (Endpoint::UserInfo, Incoming::Request(request), None) => {
            userinfo::handle(&shared, request.headers())
        }
        (Endpoint::Login, Incoming::Form(form), None) => sign_in_page::submit(&shared, form),
        // Every endpoint is above with the kind of request it reads.
        _ => status(StatusCode::NOT_FOUND),
    }
}

/// The endpoint that `path` names, below `issuer_path`.
fn endpoint(issuer_path: &str, path: &str) -> Option<Endpoint> {
    match path.strip_prefix(issuer_path)? {
        DISCOVERY_PATH => Some(Endpoint::Discovery),
        JWKS_PATH => Some(Endpoint::Jwks),
        TOKEN_PATH => Some(Endpoint::Token),
        AUTHORIZE_PATH => Some(Endpoint::Authorize),
        INTROSPECTION_PATH => Some(Endpoint::Introspection),
        REVOCATION_PATH => Some(Endpoint::Revocation),
        END_SESSION_PATH => Some(Endpoint::EndSession),
        USERINFO_PATH => Some(Endpoint::UserInfo),
        LOGIN_PATH => Some(Endpoint::Login),
        DEVICE_AUTHORIZATION_PATH => Some(Endpoint::DeviceAuthorization),
        _ => None,
    }
}

/// Carries out the next queued failure of `endpoint`, if any.
async fn before(shared: &Shared, endpoint: Endpoint, connection: &ConnectionControl) -> Injected {
    let failure = lock(&shared.failures)[endpoint.index()].pop_front();
    match failure {
        Some(failure) => {
            tracing::debug!(?endpoint, ?failure, "mock identity injects a failure");
            inject(failure, connection, || normal_body(shared, endpoint)).await
        }
        None => Injected::Proceed,
    }
}

/// The normal body of `endpoint`, for `Failure::MalformedBody` to cut in half.
fn normal_body(shared: &Shared, endpoint: Endpoint) -> String {
    match endpoint {
        Endpoint::Discovery => shared.discovery_document().to_string(),
        Endpoint::Jwks => shared.jwks().to_string(),
        Endpoint::Token => {
            let claims = AccessTokenClaims {
                issuer: &shared.issuer,
                audiences: &shared.audiences,
                client_id: "malformed",
                subject: Subject::Service {
                    system_user: DEFAULT_SYSTEM_USER,
                },
                scopes: &[],
                now: jwt::now(),
                lifetime_secs: shared.lifetime_secs(),
            };
            serde_json::json!({
                "access_token": shared.sign_access_token(&claims.to_object()),
                "expires_in": claims.lifetime_secs,
                "token_type": "Bearer",
                "scope": "",
            })
            .to_string()
        }
        Endpoint::Introspection => serde_json::json!({ "active": false }).to_string(),
        Endpoint::Authorize | Endpoint::EndSession | Endpoint::Login => {
            end_session::SIGNED_OUT_PAGE.to_owned()
        }
        Endpoint::UserInfo => serde_json::json!({ "sub": "malformed" }).to_string(),
        Endpoint::Revocation => String::new(),
        Endpoint::DeviceAuthorization => {
            serde_json::json!({ "device_code": "malformed" }).to_string()
        }
    }
}

/// A request as the endpoint takes it: back-channel endpoints read the form up front.
enum Incoming {
    Request(Request),
    Form(FormRequest),
}

fn method_not_allowed(allowed: &'static str) -> Response {
    let mut response = status(StatusCode::METHOD_NOT_ALLOWED);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allowed));
    response
}

pub(crate) fn status(code: StatusCode) -> Response {
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
pub(crate) async fn serve(listener: TcpListener, router: Router) {
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Typically out of file descriptors: wait a little instead of spinning.
                tracing::debug!(%error, "mock server cannot accept a connection");
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
                tracing::debug!(%error, "mock server connection ended with an error");
            }
        }
        () = control.dropped() => {
            tracing::debug!("mock server drops a connection without answering");
        }
    }
}
