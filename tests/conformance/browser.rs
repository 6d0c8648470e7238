//! The browser part of a sign-in, played headless: GET a URL, follow redirects
//! (resolving relative `Location`s, as the peer sends them), and keep cookies
//! per origin and path (the peer scopes its interaction cookies to
//! `/interaction/{uid}` and `/auth/{uid}`).

use std::time::Duration;

use erpnet_auth::Url;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

const MAX_REDIRECTS: usize = 20;

/// A cookie jar and a redirect loop; nothing more of a browser.
pub(crate) struct Browser {
    http: reqwest::Client,
    cookies: Vec<Cookie>,
}

struct Cookie {
    origin: String,
    path: String,
    name: String,
    value: String,
}

impl Browser {
    pub(crate) fn new() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("browser client");
        Self {
            http,
            cookies: Vec::new(),
        }
    }

    /// GETs `url` and follows redirects until an answer that is not one (it
    /// must be 200), and returns the URL of that answer; or, when a redirect
    /// leads to a URL for which `stop` holds, returns that URL unvisited.
    pub(crate) async fn follow(&mut self, url: &Url, stop: impl Fn(&Url) -> bool) -> Url {
        let mut url = url.clone();
        for _ in 0..MAX_REDIRECTS {
            let mut request = self.http.get(url.clone());
            if let Some(cookies) = self.cookie_header(&url) {
                request = request.header(COOKIE, cookies);
            }
            let response = request.send().await.expect("browser GET");
            for set_cookie in response.headers().get_all(SET_COOKIE) {
                self.store(&url, set_cookie.to_str().expect("ASCII Set-Cookie"));
            }
            let status = response.status();
            if !status.is_redirection() {
                let body = response.text().await.unwrap_or_default();
                assert_eq!(status, 200, "the browser ended on {url}: {body}");
                return url;
            }
            let location = response
                .headers()
                .get(LOCATION)
                .expect("a redirect has a Location")
                .to_str()
                .expect("ASCII Location");
            url = url.join(location).expect("a resolvable Location");
            if stop(&url) {
                return url;
            }
        }
        panic!("more than {MAX_REDIRECTS} redirects, last to {url}");
    }

    fn cookie_header(&self, url: &Url) -> Option<String> {
        let origin = url.origin().ascii_serialization();
        let header = self
            .cookies
            .iter()
            .filter(|c| c.origin == origin && path_matches(url.path(), &c.path))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect::<Vec<_>>()
            .join("; ");
        (!header.is_empty()).then_some(header)
    }

    /// Stores one `Set-Cookie` (RFC 6265 §5.2, the parts the peer uses:
    /// `Path`, and removal by an `Expires` at the epoch or `Max-Age=0`).
    fn store(&mut self, url: &Url, set_cookie: &str) {
        let mut parts = set_cookie.split(';').map(str::trim);
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
            return;
        };
        let mut path = default_path(url.path());
        let mut expired = false;
        for attribute in parts {
            let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
            match key.to_ascii_lowercase().as_str() {
                "path" if val.starts_with('/') => path = val.to_owned(),
                "expires" => expired |= val.contains("1970"),
                "max-age" => expired |= val.parse::<i64>().is_ok_and(|age| age <= 0),
                _ => {}
            }
        }
        let origin = url.origin().ascii_serialization();
        self.cookies
            .retain(|c| !(c.origin == origin && c.path == path && c.name == name));
        if !expired {
            self.cookies.push(Cookie {
                origin,
                path,
                name: name.to_owned(),
                value: value.to_owned(),
            });
        }
    }
}

/// RFC 6265 §5.1.4.
fn path_matches(request: &str, cookie: &str) -> bool {
    request == cookie
        || (request.starts_with(cookie)
            && (cookie.ends_with('/') || request[cookie.len()..].starts_with('/')))
}

/// RFC 6265 §5.1.4: the request path up to its last `/`.
fn default_path(request: &str) -> String {
    match request.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => request[..i].to_owned(),
    }
}

#[test]
fn cookie_paths_match_as_rfc_6265_says() {
    assert!(path_matches("/interaction/abc", "/interaction/abc"));
    assert!(path_matches("/auth/abc/x", "/auth/abc"));
    assert!(path_matches("/anything", "/"));
    assert!(!path_matches("/auth/abcd", "/auth/abc"));
    assert!(!path_matches("/interaction/other", "/interaction/abc"));
    assert_eq!(default_path("/auth"), "/");
    assert_eq!(default_path("/auth/abc"), "/auth");
}
