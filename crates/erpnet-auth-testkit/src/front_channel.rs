//! What the front-channel endpoints (authorize, end session) share: query parameters,
//! redirects back to the client, and the error page shown when there is nowhere safe to
//! redirect to.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::params::Params;

/// Decodes the query of a front-channel request, refusing a repeated parameter other than
/// `resource` (RFC 8707 allows several).
pub(crate) fn query_params(query: Option<&str>) -> Result<Params, &'static str> {
    Params::parse(query.unwrap_or_default().as_bytes(), &["resource"])
}

/// Where the parameters of a redirect go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseMode {
    /// `?code=…` (or `&code=…` when the URI has a query already).
    Query,
    /// `#code=…`
    Fragment,
}

/// `302 Found` to `base` with `params` added in the query or the fragment, percent-encoded
/// (spaces as `%20`, as IdentityServer writes them).
pub(crate) fn redirect(base: &str, mode: ResponseMode, params: &[(&str, &str)]) -> Response {
    let encoded: Vec<String> = params
        .iter()
        .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
        .collect();
    let separator = match mode {
        ResponseMode::Fragment => '#',
        ResponseMode::Query if base.contains('?') => '&',
        ResponseMode::Query => '?',
    };
    let location = if encoded.is_empty() {
        base.to_owned()
    } else {
        format!("{base}{separator}{}", encoded.join("&"))
    };
    let Ok(location) = HeaderValue::from_str(&location) else {
        return error_page(
            "invalid_request",
            "the registered redirect URI is not a valid Location header",
        );
    };
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::FOUND;
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn encode(value: &str) -> String {
    // byte_serialize writes a literal `+` as `%2B`, so every `+` left is a space.
    form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// `400 Bad Request` with an HTML page naming the error: what IdentityServer shows instead
/// of redirecting when the client or its redirect URI cannot be trusted.
pub(crate) fn error_page(error: &str, description: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html><head><title>Error</title></head><body>\n\
         <h1>Sorry, there was an error: {}</h1>\n<p>{}</p>\n</body></html>\n",
        escape_html(error),
        escape_html(description),
    );
    html(StatusCode::BAD_REQUEST, body)
}

/// `200 OK` with an HTML page.
pub(crate) fn html(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub(crate) fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(response: &Response) -> &str {
        response
            .headers()
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    #[test]
    fn redirects_add_parameters_in_the_query_or_the_fragment() {
        let params = [("code", "A B+C"), ("state", "x/y")];
        let response = redirect("http://127.0.0.1:1/cb", ResponseMode::Query, &params);
        assert_eq!(response.status(), StatusCode::FOUND);
        assert_eq!(
            location(&response),
            "http://127.0.0.1:1/cb?code=A%20B%2BC&state=x%2Fy"
        );
        let response = redirect("https://app/cb?x=1", ResponseMode::Query, &params[..1]);
        assert_eq!(location(&response), "https://app/cb?x=1&code=A%20B%2BC");
        let response = redirect("https://app/cb", ResponseMode::Fragment, &params[1..]);
        assert_eq!(location(&response), "https://app/cb#state=x%2Fy");
        let response = redirect("https://app/cb", ResponseMode::Query, &[]);
        assert_eq!(location(&response), "https://app/cb");
    }

    #[test]
    fn queries_may_repeat_resource_only() {
        assert!(query_params(Some("a=1&a=2")).is_err());
        let params = query_params(Some("resource=x&resource=y")).expect("parsed");
        assert_eq!(params.get("resource"), Some("x"));
        assert!(query_params(None).is_ok());
    }

    #[test]
    fn error_pages_escape_what_they_show() {
        let response = error_page("<script>", "a & b");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers().get(header::LOCATION).is_none());
    }
}
