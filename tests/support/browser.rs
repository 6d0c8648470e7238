//! The browser part of a sign-in, played headless: GET a URL, POST a form,
//! follow redirects (resolving relative `Location`s, as the peer sends them),
//! and keep cookies per origin and path (the peer scopes its interaction
//! cookies to `/interaction/{uid}` and `/auth/{uid}`). Every request asks for
//! HTML, as a browser's navigation does.

use std::time::Duration;

use erpnet_auth::Url;
use reqwest::header::{ACCEPT, COOKIE, HeaderMap, LOCATION, SET_COOKIE};

const MAX_REDIRECTS: usize = 20;
/// What a browser's navigation asks for.
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// A cookie jar and a redirect loop; nothing more of a browser.
pub(crate) struct Browser {
    http: reqwest::Client,
    cookies: Vec<Cookie>,
}

/// One answer, read to the end.
pub(crate) struct Page {
    pub(crate) url: Url,
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Page {
    /// The `Location` of a redirect, resolved against the page's URL.
    pub(crate) fn location(&self) -> Option<Url> {
        let location = self.headers.get(LOCATION)?.to_str().ok()?;
        self.url.join(location).ok()
    }

    /// Every `Set-Cookie` of the answer.
    pub(crate) fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }
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

    /// GETs `url`, keeping its cookies; no redirect is followed.
    pub(crate) async fn get(&mut self, url: &Url) -> Page {
        let request = self.http.get(url.clone());
        self.send(url, request).await
    }

    /// POSTs `form` to `url`, keeping its cookies; no redirect is followed.
    pub(crate) async fn post_form(&mut self, url: &Url, form: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = self
            .http
            .post(url.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(url, request).await
    }

    /// GETs `url` and follows redirects to the first answer that is not one.
    pub(crate) async fn navigate(&mut self, url: &Url) -> Page {
        let mut page = self.get(url).await;
        for _ in 0..MAX_REDIRECTS {
            match page.location() {
                Some(next) if (300..400).contains(&page.status) => page = self.get(&next).await,
                _ => return page,
            }
        }
        panic!("more than {MAX_REDIRECTS} redirects, last to {}", page.url);
    }

    /// The value of the cookie `name` this browser would send to `url`.
    pub(crate) fn cookie(&self, url: &Url, name: &str) -> Option<String> {
        let origin = url.origin().ascii_serialization();
        self.cookies
            .iter()
            .find(|c| c.origin == origin && c.name == name && path_matches(url.path(), &c.path))
            .map(|c| c.value.clone())
    }

    /// Sends the cookies `url` gets, and stores those the answer sets.
    async fn send(&mut self, url: &Url, mut request: reqwest::RequestBuilder) -> Page {
        request = request.header(ACCEPT, BROWSER_ACCEPT);
        if let Some(cookies) = self.cookie_header(url) {
            request = request.header(COOKIE, cookies);
        }
        let response = request.send().await.expect("browser request");
        for set_cookie in response.headers().get_all(SET_COOKIE) {
            self.store(url, set_cookie.to_str().expect("ASCII Set-Cookie"));
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        Page {
            url: url.clone(),
            status,
            headers,
            body,
        }
    }

    /// GETs `url` and follows redirects until an answer that is not one (it
    /// must be 200), and returns the URL of that answer; or, when a redirect
    /// leads to a URL for which `stop` holds, returns that URL unvisited.
    pub(crate) async fn follow(&mut self, url: &Url, stop: impl Fn(&Url) -> bool) -> Url {
        let mut url = url.clone();
        for _ in 0..MAX_REDIRECTS {
            let page = self.get(&url).await;
            if !(300..400).contains(&page.status) {
                assert_eq!(
                    page.status, 200,
                    "the browser ended on {url}: {}",
                    page.body
                );
                return url;
            }
            url = page
                .location()
                .expect("a redirect has a resolvable Location");
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
