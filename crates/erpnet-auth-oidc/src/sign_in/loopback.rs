//! Native and command-line sign-in (RFC 8252): a one-shot listener on
//! 127.0.0.1 receives the authorization response.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use url::Url;

use erpnet_auth_core::{ConfigError, Error};

use crate::sign_in::SignInError;
use crate::sign_in::authorization_code::{AuthorizationCodeFlow, DEFAULT_SIGN_IN_TIMEOUT, SignIn};

const MAX_REQUEST_HEAD: usize = 16 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A listener on `127.0.0.1` with a random port, whose URL is the redirect URI
/// of one sign-in. It accepts exactly one authorization response: requests for
/// other paths (a browser's `favicon.ico`) get 404 and waiting goes on; once the
/// response arrives the browser gets a short "you can close this window" page
/// and the listener is closed.
#[derive(Debug)]
pub struct LoopbackRedirect {
    listener: TcpListener,
    redirect_uri: Url,
}

impl LoopbackRedirect {
    /// Binds `127.0.0.1:0`; the redirect URI is `http://127.0.0.1:PORT/callback`.
    pub async fn bind() -> Result<Self, SignInError> {
        Self::bind_path("/callback").await
    }

    /// Binds `127.0.0.1:0` with a redirect URI path of your choosing.
    pub async fn bind_path(path: &str) -> Result<Self, SignInError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| SignInError::Callback(format!("cannot listen on 127.0.0.1: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| SignInError::Callback(format!("cannot read the listener's port: {e}")))?
            .port();
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        let redirect_uri = Url::parse(&format!("http://127.0.0.1:{port}{path}")).map_err(|e| {
            SignInError::from(Error::from(ConfigError::invalid(format!(
                "invalid redirect path `{path}`: {e}"
            ))))
        })?;
        Ok(Self {
            listener,
            redirect_uri,
        })
    }

    /// The redirect URI to put in the authorization request.
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    /// Waits for the authorization response and returns its full URL. Fails
    /// with [`SignInError::Timeout`] when none arrives within `timeout`.
    pub async fn wait(self, timeout: Duration) -> Result<Url, SignInError> {
        // A time-out beyond what the clock can represent means no deadline.
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let accepted = match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, self.listener.accept()).await,
                None => Ok(self.listener.accept().await),
            };
            let (stream, _) = match accepted {
                Err(_) => return Err(SignInError::Timeout(timeout)),
                Ok(Err(e)) => {
                    return Err(SignInError::Callback(format!(
                        "accepting a connection failed: {e}"
                    )));
                }
                Ok(Ok(accepted)) => accepted,
            };
            if let Some(callback) = self.serve(stream).await {
                return Ok(callback);
            }
        }
    }

    /// Answers one connection; returns the callback URL if it was the response.
    async fn serve(&self, mut stream: TcpStream) -> Option<Url> {
        let routed = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
            Ok(Some(head)) => route(&self.redirect_uri, &head),
            _ => Routed::Refused(400, "Bad request."),
        };
        match routed {
            Routed::Callback(url, page) => {
                let _ = respond(&mut stream, 200, page).await;
                Some(url)
            }
            Routed::Refused(status, message) => {
                let _ = respond(&mut stream, status, message).await;
                None
            }
        }
    }
}

/// Where one request to the listener goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Routed {
    /// The authorization response: its full URL, and the page the browser gets.
    Callback(Url, &'static str),
    /// Anything else: the status and the message it is answered with.
    Refused(u16, &'static str),
}

/// The request line of `head` judged against the redirect URI: only a `GET`
/// of its path, on its origin, is the authorization response. The line must
/// be `METHOD TARGET HTTP/…` (RFC 9112 §3) with the target in origin form
/// (`/path?query`) or absolute form.
pub(crate) fn route(redirect_uri: &Url, head: &str) -> Routed {
    let mut parts = head.lines().next().unwrap_or_default().split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Routed::Refused(400, "Bad request.");
    };
    let url = if target.starts_with('/') {
        redirect_uri.join(target)
    } else {
        Url::parse(target)
    };
    let Some(url) = url.ok().filter(|_| version.starts_with("HTTP/")) else {
        return Routed::Refused(400, "Bad request.");
    };
    if url.path() != redirect_uri.path() || url.origin() != redirect_uri.origin() {
        return Routed::Refused(404, "Not found.");
    }
    if method != "GET" {
        return Routed::Refused(405, "Method not allowed.");
    }
    let failed = url.query_pairs().any(|(name, _)| name == "error");
    let page = if failed {
        "Sign-in failed. You can close this window and return to the application."
    } else {
        "Signed in. You can close this window and return to the application."
    };
    Routed::Callback(url, page)
}

/// The request's head, up to and with the blank line that ends it; `None`
/// when the connection ends first, the head is longer than
/// [`MAX_REQUEST_HEAD`] or not UTF-8.
pub(crate) async fn read_head<R: AsyncRead + Unpin>(stream: &mut R) -> Option<String> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
        if buffer.len() > MAX_REQUEST_HEAD {
            return None;
        }
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    String::from_utf8(buffer).ok()
}

async fn respond(stream: &mut TcpStream, status: u16, message: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Bad Request",
    };
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sign-in</title></head>\
         <body style=\"font-family:sans-serif;margin:3em\"><p>{message}</p></body></html>"
    );
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Options of [`sign_in_with_loopback`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoopbackOptions {
    /// Whether to try to open the system browser (the URL is handed to
    /// `show_url` either way).
    pub open_browser: bool,
    /// How long to wait for the user (default 5 minutes).
    pub timeout: Duration,
    /// `login_hint`, if any.
    pub login_hint: Option<String>,
    /// RFC 8707 `resource` indicators, named in the authorization request and
    /// again in the code exchange.
    pub resources: Vec<String>,
}

impl Default for LoopbackOptions {
    fn default() -> Self {
        Self {
            open_browser: true,
            timeout: DEFAULT_SIGN_IN_TIMEOUT,
            login_hint: None,
            resources: Vec::new(),
        }
    }
}

impl LoopbackOptions {
    /// Whether to try to open the system browser.
    pub fn open_browser(mut self, open: bool) -> Self {
        self.open_browser = open;
        self
    }

    /// How long to wait for the user.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `login_hint`.
    pub fn login_hint(mut self, hint: impl Into<String>) -> Self {
        self.login_hint = Some(hint.into());
        self
    }

    /// An RFC 8707 `resource` indicator. May be repeated.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resources.push(resource.into());
        self
    }
}

/// Signs a user in from a native or command-line app: binds a loopback
/// listener, builds the authorization URL with it as the redirect URI, hands the
/// URL to `show_url` (print it), optionally opens the browser, waits for the
/// response and completes the sign-in.
///
/// ```no_run
/// # async fn demo(flow: erpnet_auth_oidc::AuthorizationCodeFlow) -> Result<(), erpnet_auth_oidc::SignInError> {
/// use erpnet_auth_oidc::{LoopbackOptions, sign_in_with_loopback};
///
/// let sign_in = sign_in_with_loopback(&flow, LoopbackOptions::default(), |url| {
///     println!("Open this URL to sign in: {url}");
/// })
/// .await?;
/// # let _ = sign_in; Ok(()) }
/// ```
pub async fn sign_in_with_loopback(
    flow: &AuthorizationCodeFlow,
    options: LoopbackOptions,
    show_url: impl FnOnce(&Url),
) -> Result<SignIn, SignInError> {
    let listener = LoopbackRedirect::bind().await?;
    let mut request = flow.authorization_request(listener.redirect_uri());
    if let Some(hint) = &options.login_hint {
        request = request.login_hint(hint.clone());
    }
    for resource in &options.resources {
        request = request.resource(resource.clone());
    }
    let pending = request.build().map_err(Error::from)?;
    show_url(pending.url());
    if options.open_browser
        && let Err(error) = open_browser(pending.url())
    {
        tracing::info!(%error, "could not open a browser; open the URL by hand");
    }
    let callback = listener.wait(options.timeout).await?;
    flow.complete(pending, &callback).await
}

/// Asks the operating system to open `url` in the default browser.
pub fn open_browser(url: &Url) -> Result<(), SignInError> {
    let url = url.as_str();
    let mut command = if cfg!(target_os = "macos") {
        let mut c = std::process::Command::new("open");
        c.arg(url);
        c
    } else if cfg!(windows) {
        // rundll32 takes the URL as one argument; `cmd /c start` would split it at `&`.
        let mut c = std::process::Command::new("rundll32");
        c.arg("url.dll,FileProtocolHandler").arg(url);
        c
    } else {
        let mut c = std::process::Command::new("xdg-open");
        c.arg(url);
        c
    };
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| SignInError::Callback(format!("cannot start a browser: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(uri: &Url, path_and_query: &str) -> String {
        let mut stream =
            TcpStream::connect((uri.host_str().expect("host"), uri.port().expect("port")))
                .await
                .expect("connect");
        stream
            .write_all(format!("GET {path_and_query} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        response
    }

    #[tokio::test]
    async fn one_callback_is_accepted_then_the_listener_closes() {
        let listener = LoopbackRedirect::bind().await.expect("bind");
        let uri = listener.redirect_uri().clone();
        assert!(uri.as_str().starts_with("http://127.0.0.1:"));
        let waiter = tokio::spawn(listener.wait(Duration::from_secs(10)));
        assert!(get(&uri, "/favicon.ico").await.starts_with("HTTP/1.1 404"));
        let page = get(&uri, "/callback?code=abc&state=xyz").await;
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(page.contains("You can close this window"));
        let callback = waiter.await.expect("task").expect("callback");
        assert_eq!(callback.query(), Some("code=abc&state=xyz"));
        // The listener is gone: a second request cannot reach it.
        assert!(
            TcpStream::connect(("127.0.0.1", uri.port().expect("port")))
                .await
                .is_err()
        );
    }

    #[test]
    fn only_a_well_formed_get_of_the_redirect_path_is_the_response() {
        let uri = Url::parse("http://127.0.0.1:49152/callback").expect("url");
        let route = |line: &str| route(&uri, &format!("{line}\r\nHost: 127.0.0.1\r\n\r\n"));
        let callback = |url: &str| {
            Routed::Callback(
                Url::parse(url).expect("url"),
                "Signed in. You can close this window and return to the application.",
            )
        };
        assert_eq!(
            route("GET /callback?code=a&state=b HTTP/1.1"),
            callback("http://127.0.0.1:49152/callback?code=a&state=b")
        );
        assert_eq!(
            route("GET http://127.0.0.1:49152/callback?code=a HTTP/1.1"),
            callback("http://127.0.0.1:49152/callback?code=a")
        );
        assert!(matches!(
            route("GET /callback?error=access_denied HTTP/1.1"),
            Routed::Callback(_, page) if page.starts_with("Sign-in failed")
        ));
        assert_eq!(
            route("GET /favicon.ico HTTP/1.1"),
            Routed::Refused(404, "Not found.")
        );
        assert_eq!(
            route("GET //evil.example/callback HTTP/1.1"),
            Routed::Refused(404, "Not found.")
        );
        assert_eq!(
            route("POST /callback HTTP/1.1"),
            Routed::Refused(405, "Method not allowed.")
        );
        // Found by the `loopback` fuzz target: a request line of `GET` alone
        // joined an empty target to the redirect URI and was taken for the
        // authorization response.
        for malformed in [
            "GET",
            "GET ",
            "GET /callback",
            "GET /callback FTP/1.0",
            "GET  /callback HTTP/1.1",
            "GET callback HTTP/1.1",
            "GET /callback HTTP/1.1 extra",
        ] {
            assert_eq!(
                route(malformed),
                Routed::Refused(400, "Bad request."),
                "{malformed:?}"
            );
        }
    }

    #[tokio::test]
    async fn the_head_ends_at_the_blank_line_within_the_limit() {
        let mut request: &[u8] = b"GET /callback HTTP/1.1\r\nHost: x\r\n\r\nbody";
        assert_eq!(
            read_head(&mut request).await.as_deref(),
            Some("GET /callback HTTP/1.1\r\nHost: x\r\n\r\nbody")
        );
        let mut unfinished: &[u8] = b"GET /callback HTTP/1.1\r\n";
        assert_eq!(read_head(&mut unfinished).await, None);
        let endless = vec![b'a'; MAX_REQUEST_HEAD + 2048];
        assert_eq!(read_head(&mut endless.as_slice()).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn nobody_signing_in_is_a_timeout() {
        let listener = LoopbackRedirect::bind().await.expect("bind");
        let error = listener
            .wait(Duration::from_secs(60))
            .await
            .expect_err("timeout");
        assert!(matches!(error, SignInError::Timeout(_)), "{error}");
    }

    #[tokio::test]
    async fn a_time_out_beyond_the_clock_waits_without_a_deadline() {
        // `erpnet-auth login --timeout 18446744073709551615` once panicked here.
        let listener = LoopbackRedirect::bind().await.expect("bind");
        let uri = listener.redirect_uri().clone();
        let waiter = tokio::spawn(listener.wait(Duration::MAX));
        let page = get(&uri, "/callback?code=abc&state=xyz").await;
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        let callback = waiter.await.expect("no panic").expect("callback");
        assert_eq!(callback.query(), Some("code=abc&state=xyz"));
    }

    #[tokio::test]
    async fn garbage_on_the_socket_is_refused() {
        let listener = LoopbackRedirect::bind().await.expect("bind");
        let port = listener.redirect_uri().port().expect("port");
        let waiter = tokio::spawn(listener.wait(Duration::from_secs(10)));
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        stream.write_all(&[0u8; 17_000]).await.expect("write");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response).await;
        assert!(response.starts_with("HTTP/1.1 400"), "{response}");
        waiter.abort();
    }
}
