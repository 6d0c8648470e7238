//! The peer: panva's `oidc-provider` (OpenID Certified), pinned in
//! `tests/peers/oidc-provider`, started once per test on 127.0.0.1.
//!
//! [`Peer::start`] installs the pinned package with `npm ci` when its
//! `node_modules` is missing (once per test process; several test processes
//! each install into a staging folder of their own and move it into place, so
//! they never race), then runs `node server.mjs` with a piped stdin and reads
//! the `ISSUER http://127.0.0.1:PORT` line it prints when ready. The process is
//! killed when the [`Peer`] is dropped, and exits by itself when its stdin
//! closes, so it dies with the test process even on a panic or abort.
//!
//! Without Node.js or the package: with `CI` set the test fails with the
//! reason; without it the test is skipped with a message naming the install
//! command. Peer tests are never skipped silently in CI.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use erpnet_auth::{
    AccessToken, Authority, ClientAuthMethod, ClientConfig, ClientCredentials, Error, JwtValidator,
    TokenSource, async_trait,
};

/// A resource whose access tokens are JWTs (RS256, `typ: at+jwt`, `aud` = the
/// resource as a string, `scope` a space-separated string).
pub(crate) const JWT_API: &str = "urn:erpnet-auth:peer:jwt-api";
/// A resource whose access tokens are opaque (the provider introspects only these).
pub(crate) const OPAQUE_API: &str = "urn:erpnet-auth:peer:opaque-api";
/// Confidential client for client credentials with `client_secret_basic`.
pub(crate) const CC_BASIC: Confidential = Confidential {
    id: "cc-basic",
    secret: "cc-basic-secret",
    method: ClientAuthMethod::ClientSecretBasic,
};
/// Confidential client for client credentials with `client_secret_post`.
pub(crate) const CC_POST: Confidential = Confidential {
    id: "cc-post",
    secret: "cc-post-secret",
    method: ClientAuthMethod::ClientSecretPost,
};
/// Confidential client that may introspect.
pub(crate) const RESOURCE_SERVER: Confidential = Confidential {
    id: "resource-server",
    secret: "resource-server-secret",
    method: ClientAuthMethod::ClientSecretBasic,
};
/// Public native client: loopback redirect `http://127.0.0.1/callback` on any port.
pub(crate) const NATIVE_APP: &str = "native-app";
/// The account the headless interaction signs in.
pub(crate) const ACCOUNT: &str = "alice";
/// The web app's client (registered when the peer starts with `WEB_APP_URL`).
pub(crate) const WEB_APP: Confidential = Confidential {
    id: "web-app",
    secret: "web-app-secret",
    method: ClientAuthMethod::ClientSecretPost,
};

const INSTALL_COMMAND: &str = "cd tests/peers/oidc-provider && npm ci --no-audit --no-fund";
const START_TIMEOUT: Duration = Duration::from_secs(30);
const INSTALL_TIMEOUT: Duration = Duration::from_secs(300);

/// A confidential client registered at the peer, with the authentication
/// method it is registered for.
#[derive(Clone, Copy)]
pub(crate) struct Confidential {
    pub(crate) id: &'static str,
    pub(crate) secret: &'static str,
    pub(crate) method: ClientAuthMethod,
}

/// A running peer; killed on drop.
pub(crate) struct Peer {
    child: Child,
    // Held open: the peer exits when it closes.
    _stdin: ChildStdin,
    issuer: String,
}

impl Peer {
    /// Starts a fresh peer, or returns `None` (after saying so loudly) when
    /// Node.js or the package is unavailable outside CI.
    pub(crate) async fn start() -> Option<Peer> {
        Peer::start_with(Vec::new()).await
    }

    /// Starts a fresh peer with these environment variables (`WEB_APP_URL` registers the
    /// web app's client), like [`start`](Self::start).
    pub(crate) async fn start_with(env: Vec<(&'static str, String)>) -> Option<Peer> {
        match tokio::task::spawn_blocking(move || start_blocking(&env)).await {
            Ok(Ok(peer)) => Some(peer),
            Ok(Err(reason)) => unavailable(&reason),
            Err(failed) => std::panic::resume_unwind(failed.into_panic()),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The issuer as an [`Authority`].
    pub(crate) fn authority(&self) -> Authority {
        Authority::parse(&self.issuer).expect("the peer's issuer is a loopback URL")
    }

    /// A validator of the peer's access tokens for `audience`.
    pub(crate) fn validator(&self, audience: &str) -> JwtValidator {
        JwtValidator::builder(self.authority())
            .audience(audience)
            .build()
            .expect("validator")
    }

    /// The confidential `client` at the peer, authenticating with the method
    /// it is registered for.
    pub(crate) fn client(&self, client: Confidential) -> ClientConfig {
        ClientConfig::builder(self.authority(), client.id)
            .client_secret(client.secret)
            .auth_method(client.method)
            .build()
            .expect("valid client")
    }

    /// A client-credentials grant of `client` for `scopes` at `resource`
    /// (RFC 8707).
    pub(crate) fn client_credentials(
        &self,
        client: Confidential,
        scopes: &[&str],
        resource: &str,
    ) -> ClientCredentials {
        ClientCredentials::builder(self.client(client))
            .scopes(scopes.iter().copied())
            .param("resource", resource)
            .build()
            .expect("valid configuration")
    }

    /// A service token of `cc-basic` for `scopes` at `resource`.
    pub(crate) async fn service_token(&self, scopes: &[&str], resource: &str) -> AccessToken {
        self.client_credentials(CC_BASIC, scopes, resource)
            .token()
            .await
            .expect("a client-credentials token from the peer")
    }

    /// Installs a new signing key at the peer. With `keep_old` the previous keys
    /// stay published (no longer signing); without, only the new key is.
    /// Returns the published key ids, the new signing key first.
    pub(crate) async fn rotate_keys(&self, keep_old: bool) -> Vec<String> {
        let url = format!("{}/__test/rotate?keep={keep_old}", self.issuer);
        let body = reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("rotate request")
            .error_for_status()
            .expect("rotate status")
            .bytes()
            .await
            .expect("rotate answer");
        let answer: serde_json::Value = serde_json::from_slice(&body).expect("rotate JSON");
        answer["kids"]
            .as_array()
            .expect("kids")
            .iter()
            .map(|kid| kid.as_str().expect("kid").to_owned())
            .collect()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a peer or, when one cannot be had, skips the test (returns from it)
/// outside CI and fails it in CI.
macro_rules! peer_or_skip {
    () => {
        match $crate::peer::Peer::start().await {
            Some(peer) => peer,
            None => return,
        }
    };
}
pub(crate) use peer_or_skip;

fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/oidc-provider")
}

/// Starts a peer; `Err` says why none can be had (no Node.js, no package).
fn start_blocking(env: &[(&'static str, String)]) -> Result<Peer, String> {
    node_version()?;
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED.get_or_init(ensure_installed).clone()?;
    Ok(spawn(env))
}

fn unavailable(reason: &str) -> Option<Peer> {
    let message = format!(
        "the conformance peer (oidc-provider) is unavailable: {reason}\n\
         Install it with: {INSTALL_COMMAND}  (needs Node.js 20 or newer and npm)"
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}\nCI is set, so the peer tests must run.");
    }
    // Written to the real stderr, past the test harness's output capture, so
    // that a skip is seen even when every test passes; in full once.
    static SAID: AtomicBool = AtomicBool::new(false);
    let message = if SAID.swap(true, Ordering::SeqCst) {
        "the conformance peer is unavailable (see above)".to_owned()
    } else {
        format!("\n{message}\n")
    };
    let _ = writeln!(std::io::stderr(), "*** PEER TEST SKIPPED: {message}");
    None
}

fn node_version() -> Result<(), String> {
    let output = Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("Node.js not found (`node --version`: {e})"))?;
    if !output.status.success() {
        return Err(format!("`node --version` failed: {}", output.status));
    }
    Ok(())
}

/// The version `package.json` pins, and the one installed (if any).
fn versions(dir: &Path) -> (String, Option<String>) {
    let read = |path: PathBuf| -> Option<serde_json::Value> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    };
    let pinned = read(dir.join("package.json"))
        .and_then(|p| {
            p["dependencies"]["oidc-provider"]
                .as_str()
                .map(str::to_owned)
        })
        .expect("tests/peers/oidc-provider/package.json pins oidc-provider");
    let installed = read(dir.join("node_modules/oidc-provider/package.json"))
        .and_then(|p| p["version"].as_str().map(str::to_owned));
    (pinned, installed)
}

fn ensure_installed() -> Result<(), String> {
    let dir = peer_dir();
    let (pinned, installed) = versions(&dir);
    if installed.as_deref() == Some(pinned.as_str()) {
        return Ok(());
    }
    let _ = writeln!(
        std::io::stderr(),
        "installing the conformance peer oidc-provider {pinned} (npm ci) in {}",
        dir.display()
    );
    // npm ci in a staging folder of this process, then one rename into place:
    // parallel test processes never see a half-written node_modules.
    let staging = dir.join(format!(".install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| format!("cannot create {staging:?}: {e}"))?;
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(dir.join(file), staging.join(file))
            .map_err(|e| format!("cannot copy {file}: {e}"))?;
    }
    let result = npm_ci(&staging).and_then(|()| {
        let target = dir.join("node_modules");
        if versions(&dir).1.as_deref() == Some(pinned.as_str()) {
            return Ok(()); // another process was quicker
        }
        if target.exists() {
            let stale = dir.join(format!(".stale-{}", std::process::id()));
            std::fs::rename(&target, &stale)
                .map_err(|e| format!("cannot move the old node_modules away: {e}"))?;
            let _ = std::fs::remove_dir_all(stale);
        }
        match std::fs::rename(staging.join("node_modules"), &target) {
            Ok(()) => Ok(()),
            Err(_) if versions(&dir).1.as_deref() == Some(pinned.as_str()) => Ok(()),
            Err(e) => Err(format!("cannot move node_modules into place: {e}")),
        }
    });
    let _ = std::fs::remove_dir_all(&staging);
    result
}

fn npm_ci(dir: &Path) -> Result<(), String> {
    let mut child = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("npm not found (`npm ci`: {e})"))?;
    let (log, _) = drain(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + INSTALL_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            if status.success() {
                return Ok(());
            }
            return Err(format!("`npm ci` failed ({status}):\n{}", tail(&log)));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "`npm ci` did not finish within {INSTALL_TIMEOUT:?}:\n{}",
                tail(&log)
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn spawn(env: &[(&'static str, String)]) -> Peer {
    let mut child = Command::new("node")
        .arg("server.mjs")
        .current_dir(peer_dir())
        .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn `node server.mjs`");
    let stdin = child.stdin.take().expect("piped stdin");
    let (log, log_done) = drain(child.stderr.take().expect("piped stderr"));
    let stdout = child.stdout.take().expect("piped stdout");
    let (ready, issuer) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent && let Some(issuer) = line.strip_prefix("ISSUER ") {
                let _ = ready.send(issuer.trim().to_owned());
                sent = true;
            }
        }
    });
    match issuer.recv_timeout(START_TIMEOUT) {
        Ok(issuer) => Peer {
            child,
            _stdin: stdin,
            issuer,
        },
        Err(e) => {
            let _ = child.kill();
            let status = child.wait();
            let _ = log_done.join();
            panic!(
                "the peer did not print its issuer ({e}; exit {status:?}). Its stderr:\n{}",
                tail(&log)
            );
        }
    }
}

/// Reads a child's pipe to its end on a thread of its own, into a buffer.
fn drain(mut pipe: impl Read + Send + 'static) -> (Arc<Mutex<String>>, JoinHandle<()>) {
    let log = Arc::new(Mutex::new(String::new()));
    let sink = log.clone();
    let done = std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(read @ 1..) = pipe.read(&mut chunk) {
            let mut log = sink.lock().unwrap_or_else(|p| p.into_inner());
            let _ = write!(log, "{}", String::from_utf8_lossy(&chunk[..read]));
        }
    });
    (log, done)
}

fn tail(log: &Mutex<String>) -> String {
    let log = log.lock().unwrap_or_else(|p| p.into_inner());
    let start = log.len().saturating_sub(4000);
    let start = (start..log.len())
        .find(|i| log.is_char_boundary(*i))
        .unwrap_or(0);
    log[start..].to_owned()
}

/// A token source that counts the requests reaching the source it wraps.
pub(crate) struct Counting<S> {
    inner: S,
    calls: Arc<AtomicUsize>,
}

impl<S> Counting<S> {
    /// Wraps `inner`; the counter is shared with the returned handle.
    pub(crate) fn new(inner: S) -> (Self, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        (
            Self {
                inner,
                calls: calls.clone(),
            },
            calls,
        )
    }

    /// The wrapped source.
    pub(crate) fn inner(&self) -> &S {
        &self.inner
    }
}

#[async_trait]
impl<S: TokenSource> TokenSource for Counting<S> {
    async fn token(&self) -> Result<AccessToken, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.token().await
    }
}
