//! The HTTP policy shared by every call this crate makes to an identity provider.
//!
//! Discovery, token, JWKS, introspection and revocation requests all go through
//! [`HttpClient`], so they share one set of rules: a total time-out per request, a
//! cap on the response body, no redirects, and `https` everywhere except loopback.

use std::sync::Arc;
use std::time::Duration;

use erpnet_auth_core::origin;
use erpnet_auth_core::{ConfigError, Error};
use http::{HeaderMap, StatusCode};
use url::Url;

/// Default total time-out for one request, including reading the body.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// Default cap on a response body: 1 MiB, far above any real token response,
/// discovery document or key set.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

/// An HTTP client for talking to an identity provider, with the policy every such
/// call shares.
///
/// Cheap to clone; clones share the connection pool.
///
/// ```
/// use std::time::Duration;
/// use erpnet_auth_oidc::HttpClient;
///
/// let http = HttpClient::new()?
///     .timeout(Duration::from_secs(5))
///     .max_body_bytes(256 * 1024);
/// # let _ = http;
/// # Ok::<(), erpnet_auth_oidc::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    timeout: Duration,
    max_body: usize,
}

/// A fully read response.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl HttpClient {
    /// A client with its own connection pool, no redirects, a 10 s connect
    /// time-out, [`DEFAULT_TIMEOUT`] and [`DEFAULT_MAX_BODY`].
    ///
    /// Fails when reqwest cannot build a client (for example when its TLS
    /// backend cannot be initialised); there is no fallback to a client with
    /// another policy.
    pub fn new() -> Result<Self, ConfigError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ConfigError::HttpClient(error_chain(&e)))?;
        Ok(Self::with_client(client))
    }

    /// Uses a `reqwest::Client` you configured (proxies, root certificates, pool
    /// settings).
    ///
    /// Build it with `redirect(Policy::none())`: this crate refuses 3xx answers
    /// from an identity provider either way, but a client that follows redirects
    /// would follow them before this crate sees them.
    pub fn with_client(client: reqwest::Client) -> Self {
        Self {
            client,
            timeout: DEFAULT_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// The total time-out for one request, from sending until the whole body is read.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest response body that is read; larger answers fail with
    /// [`Error::BodyTooLarge`] without being read further.
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_body = max;
        self
    }

    /// The underlying `reqwest::Client`.
    pub fn reqwest_client(&self) -> &reqwest::Client {
        &self.client
    }

    /// GETs a JSON document under this policy (time-out, body cap, no
    /// redirects, `https` except loopback), for tools that show raw provider
    /// documents such as a key set.
    pub async fn get_json(&self, url: &Url) -> Result<serde_json::Value, Error> {
        let response = self.get_json_document(url, "application/json").await?;
        serde_json::from_slice(&response.body).map_err(|e| Error::InvalidResponse {
            endpoint: endpoint_name(url),
            reason: format!(
                "malformed JSON ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ),
        })
    }

    /// GETs a document that must come back 2xx with a JSON media type.
    pub(crate) async fn get_json_document(
        &self,
        url: &Url,
        accept: &'static str,
    ) -> Result<HttpResponse, Error> {
        let endpoint = endpoint_name(url);
        let request = self
            .client
            .get(url.clone())
            .header(http::header::ACCEPT, accept)
            .build()
            .map_err(|e| request_error(&endpoint, &e))?;
        let response = self.execute(request).await?;
        if !response.status.is_success() {
            return Err(Error::Status {
                endpoint,
                status: response.status.as_u16(),
            });
        }
        if !is_json(&response.headers) {
            return Err(Error::InvalidResponse {
                endpoint,
                reason: format!(
                    "expected a JSON document, got content type `{}`",
                    media_type(&response.headers).unwrap_or_default()
                ),
            });
        }
        Ok(response)
    }

    /// Sends a request under the policy and reads the whole answer.
    pub(crate) async fn execute(&self, request: reqwest::Request) -> Result<HttpResponse, Error> {
        let endpoint = endpoint_name(request.url());
        check_url(request.url())?;
        let max_body = self.max_body;
        let timeout = self.timeout;
        let exchange = async {
            let mut response = self
                .client
                .execute(request)
                .await
                .map_err(|e| transport(&endpoint, e, timeout))?;
            let status = response.status();
            if status.is_redirection() {
                return Err(Error::Redirect {
                    endpoint: endpoint.clone(),
                    status: status.as_u16(),
                });
            }
            if response
                .content_length()
                .is_some_and(|len| len > max_body as u64)
            {
                return Err(Error::BodyTooLarge {
                    endpoint: endpoint.clone(),
                    limit: max_body,
                });
            }
            let headers = std::mem::take(response.headers_mut());
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| transport(&endpoint, e, timeout))?
            {
                if body.len().saturating_add(chunk.len()) > max_body {
                    return Err(Error::BodyTooLarge {
                        endpoint: endpoint.clone(),
                        limit: max_body,
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(HttpResponse {
                status,
                headers,
                body,
            })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout {
                endpoint,
                after: self.timeout,
            }),
        }
    }
}

fn transport(endpoint: &str, error: reqwest::Error, timeout: Duration) -> Error {
    if error.is_timeout() {
        return Error::Timeout {
            endpoint: endpoint.to_owned(),
            after: timeout,
        };
    }
    // reqwest's Display names the URL, which never holds a secret here (secrets
    // travel in headers and form bodies only); the source chain says what failed.
    Error::Transport {
        endpoint: endpoint.to_owned(),
        message: error_chain(&error),
        source: Arc::new(error),
    }
}

/// An error and its sources, joined with `: `.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// A request reqwest refused to build (an invalid header value, say).
pub(crate) fn request_error(endpoint: &str, error: &reqwest::Error) -> Error {
    Error::Config(ConfigError::invalid(format!(
        "cannot build a request to {endpoint}: {}",
        error_chain(error)
    )))
}

/// The URL as it appears in errors and logs: scheme, host, port and path, without
/// query or fragment.
pub(crate) fn endpoint_name(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.to_string()
}

/// Whether a URL may carry credentials or tokens: `https`, or `http` to a loopback
/// address (`127.0.0.0/8`, `::1` or `localhost`); see
/// [`erpnet_auth_core::origin::is_secure_origin`].
pub fn is_secure_url(url: &Url) -> bool {
    url.host_str()
        .is_some_and(|host| origin::is_secure_origin(url.scheme(), host))
}

/// Whether the URL's host is a loopback address or `localhost`.
pub fn is_loopback_host(url: &Url) -> bool {
    url.host_str().is_some_and(origin::is_loopback_host)
}

/// Refuses URLs that must not carry secrets.
pub(crate) fn check_url(url: &Url) -> Result<(), ConfigError> {
    if is_secure_url(url) {
        return Ok(());
    }
    let reason = match url.scheme() {
        "http" => "plain http is allowed only to loopback addresses; use https",
        _ => "only https (or http to a loopback address) is supported",
    };
    Err(ConfigError::InsecureUrl {
        url: endpoint_name(url),
        reason: reason.to_owned(),
    })
}

/// Parses a URL given in configuration.
pub(crate) fn parse_url(what: &str, value: &str) -> Result<Url, ConfigError> {
    Url::parse(value)
        .map_err(|e| ConfigError::invalid(format!("{what} `{value}` is not a URL: {e}")))
}

/// The media type of a response, lower-cased, without parameters.
pub(crate) fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim();
    Some(essence.to_ascii_lowercase())
}

/// Whether a response's media type is JSON (`application/json` or `+json`); an
/// absent content type is tolerated, since some providers omit it.
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    match media_type(headers) {
        None => true,
        Some(media) => media == "application/json" || media.ends_with("+json"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test URL")
    }

    #[test]
    fn https_and_loopback_http_are_secure() {
        assert!(is_secure_url(&url("https://demo.my.erp.net/id")));
        assert!(is_secure_url(&url("http://127.0.0.1:8080/id")));
        assert!(is_secure_url(&url("http://127.8.9.10/id")));
        assert!(is_secure_url(&url("http://[::1]:9/id")));
        assert!(is_secure_url(&url("http://localhost:3000/")));
        assert!(!is_secure_url(&url("http://demo.my.erp.net/id")));
        assert!(!is_secure_url(&url("http://10.0.0.1/id")));
        assert!(!is_secure_url(&url("http://localhost.evil.example/")));
        assert!(!is_secure_url(&url("ftp://127.0.0.1/")));
    }

    #[test]
    fn endpoint_names_hide_query_and_userinfo() {
        assert_eq!(
            endpoint_name(&url("https://user:pw@host/path?code=abc#frag")),
            "https://host/path"
        );
    }

    #[test]
    fn check_url_explains_refusal() {
        let err = check_url(&url("http://example.com/token")).expect_err("must refuse");
        assert!(err.to_string().contains("loopback"), "{err}");
        assert!(!Error::from(err).is_transient());
    }
}
