//! `POST {issuer}/connect/token`: the client-credentials grant as ERP.net answers it.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::server::Shared;

/// Form bodies larger than this are refused (IdentityServer has a similar limit).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Scopes that are never issued for client credentials.
const IDENTITY_SCOPES: [&str; 3] = ["openid", "profile", "offline_access"];

/// How the client authenticated in a token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMethodUsed {
    /// `client_secret_basic`: `Authorization: Basic base64(urlencode(id):urlencode(secret))`.
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    Post,
}

/// What the last token request looked like, for assertions on what a client sent.
///
/// Recorded for every token request that used exactly one client authentication method,
/// whether or not it then succeeded. The client secret is never recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenRequestRecord {
    /// How the client authenticated.
    pub auth_method: AuthMethodUsed,
    /// The client id, decoded (from the Basic credentials or the form).
    pub client_id: String,
    /// The form parameters in the order sent, decoded, without `client_secret`.
    pub form: Vec<(String, String)>,
}

impl TokenRequestRecord {
    /// The value of a form parameter, if it was sent.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Handles a token request once failure injection has let it through.
pub(crate) async fn handle(state: &Shared, request: Request) -> Response {
    match process(state, request).await {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(error) => error.into_response(),
    }
}

/// An OAuth error answer: the `error` code and, for malformed requests, a description.
#[derive(Debug)]
struct OAuthError {
    code: &'static str,
    description: Option<&'static str>,
}

impl OAuthError {
    fn invalid_request(description: &'static str) -> OAuthError {
        OAuthError {
            code: "invalid_request",
            description: Some(description),
        }
    }

    fn code(code: &'static str) -> OAuthError {
        OAuthError {
            code,
            description: None,
        }
    }

    /// IdentityServer answers 400 for every token endpoint error, `invalid_client` included.
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.code });
        if let (Some(description), Value::Object(object)) = (self.description, &mut body) {
            object.insert("error_description".to_owned(), json!(description));
        }
        json_response(StatusCode::BAD_REQUEST, &body)
    }
}

async fn process(state: &Shared, request: Request) -> Result<Value, OAuthError> {
    let (parts, body) = request.into_parts();
    if parts.method != Method::POST || !is_form(&parts.headers) {
        return Err(OAuthError::invalid_request(
            "expected a POST with a form body",
        ));
    }
    let body = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| OAuthError::invalid_request("the form body could not be read"))?;
    let form = parse_form(&body)?;
    let param = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    };

    let basic = basic_credentials(&parts.headers)?;
    let (auth_method, client_id, secret) = match (basic, param("client_secret")) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "more than one client authentication method",
            ));
        }
        (Some((id, secret)), None) => {
            if param("client_id").is_some_and(|form_id| form_id != id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the form differs from the Basic credentials",
                ));
            }
            (AuthMethodUsed::Basic, id, secret)
        }
        (None, Some(secret)) => match param("client_id") {
            Some(id) => (AuthMethodUsed::Post, id.to_owned(), secret.to_owned()),
            None => return Err(OAuthError::code("invalid_client")),
        },
        (None, None) => return Err(OAuthError::code("invalid_client")),
    };
    state.record_token_request(TokenRequestRecord {
        auth_method,
        client_id: client_id.clone(),
        form: form
            .iter()
            .filter(|(key, _)| key != "client_secret")
            .cloned()
            .collect(),
    });

    let client = state
        .client(&client_id)
        .filter(|client| client.secret() == secret)
        .ok_or(OAuthError::code("invalid_client"))?;
    match param("grant_type") {
        None => return Err(OAuthError::invalid_request("grant_type is missing")),
        Some("client_credentials") => {}
        Some(_) => return Err(OAuthError::code("unsupported_grant_type")),
    }

    let allowed = client.allowed_scopes();
    let mut scopes: Vec<String> = Vec::new();
    for scope in param("scope").unwrap_or_default().split_whitespace() {
        if IDENTITY_SCOPES.contains(&scope) || !allowed.iter().any(|a| a == scope) {
            return Err(OAuthError::code("invalid_scope"));
        }
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    if scopes.is_empty() {
        // No scope asked for: the token gets every API scope of the client.
        scopes = api_scopes(allowed);
    }

    let (access_token, lifetime_secs) = state.issue_access_token(&client, &scopes);
    Ok(json!({
        "access_token": access_token,
        "expires_in": lifetime_secs,
        "token_type": "Bearer",
        "scope": scopes.join(" "),
    }))
}

/// The scopes a client-credentials token gets when the request names none.
pub(crate) fn api_scopes(allowed: &[String]) -> Vec<String> {
    allowed
        .iter()
        .filter(|scope| !IDENTITY_SCOPES.contains(&scope.as_str()))
        .cloned()
        .collect()
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The decoded form, refusing repeated parameters (RFC 6749 §3.2).
fn parse_form(body: &Bytes) -> Result<Vec<(String, String)>, OAuthError> {
    let mut form: Vec<(String, String)> = Vec::new();
    for (key, value) in form_urlencoded::parse(body) {
        if form.iter().any(|(seen, _)| *seen == key) {
            return Err(OAuthError::invalid_request("a parameter is repeated"));
        }
        form.push((key.into_owned(), value.into_owned()));
    }
    Ok(form)
}

/// The client id and secret from `Authorization: Basic`, decoded per RFC 6749 §2.3.1:
/// base64, split at the first `:`, then form-urlencoding-decode each half. `Ok(None)` when
/// there is no Basic authorization; `Err` (`invalid_client`) when it is malformed.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| OAuthError::code("invalid_client"))?;
    let Some((scheme, encoded)) = value.trim().split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| OAuthError::code("invalid_client"))?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(|| OAuthError::code("invalid_client"))?;
    match (form_decode(id), form_decode(secret)) {
        (Some(id), Some(secret)) if !id.is_empty() => Ok(Some((id, secret))),
        _ => Err(OAuthError::code("invalid_client")),
    }
}

/// `application/x-www-form-urlencoded` decoding of one component: `+` is a space, `%XX` a
/// byte; a `%` not followed by two hex digits stays as it is. `None` if the result is not
/// UTF-8.
fn form_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let escaped = (byte == b'%')
            .then(|| {
                let high = hex_value(*bytes.get(i + 1)?)?;
                let low = hex_value(*bytes.get(i + 2)?)?;
                Some(high << 4 | low)
            })
            .flatten();
        match (byte, escaped) {
            (_, Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (other, None) => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

/// A token endpoint answer: JSON that no cache may keep.
fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding_handles_escapes_plus_and_stray_percent() {
        assert_eq!(
            form_decode("my.trusted.app%2Ffirst").as_deref(),
            Some("my.trusted.app/first")
        );
        assert_eq!(form_decode("a+b%3Ac").as_deref(), Some("a b:c"));
        assert_eq!(form_decode("100%").as_deref(), Some("100%"));
        assert_eq!(form_decode("%zz").as_deref(), Some("%zz"));
        assert_eq!(form_decode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(form_decode("%FF"), None);
    }

    fn headers_with(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(authorization).expect("valid header"),
        );
        headers
    }

    #[test]
    fn basic_credentials_split_at_the_first_colon_after_decoding() {
        // "a%3Ab:se:cret" -> id "a:b", secret "se:cret"
        let header = format!("Basic {}", STANDARD.encode("a%3Ab:se:cret"));
        let parsed = basic_credentials(&headers_with(&header)).ok().flatten();
        assert_eq!(parsed, Some(("a:b".to_owned(), "se:cret".to_owned())));
    }

    #[test]
    fn other_schemes_are_ignored_and_garbage_is_invalid_client() {
        assert!(matches!(
            basic_credentials(&headers_with("Bearer abc")),
            Ok(None)
        ));
        assert!(basic_credentials(&headers_with("Basic !!!")).is_err());
        let no_colon = format!("Basic {}", STANDARD.encode("nocolon"));
        assert!(basic_credentials(&headers_with(&no_colon)).is_err());
    }

    #[test]
    fn identity_scopes_are_not_granted_by_default() {
        let allowed = ["read".to_owned(), "openid".to_owned(), "update".to_owned()];
        assert_eq!(
            api_scopes(&allowed),
            ["read".to_owned(), "update".to_owned()]
        );
    }
}
