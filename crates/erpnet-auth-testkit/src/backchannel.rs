//! What the back-channel endpoints (token, introspection, revocation) share: the form body,
//! client credentials (HTTP Basic or form post), and OAuth error answers.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::params::Params;

/// Form bodies larger than this are refused (IdentityServer has a similar limit).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// An OAuth error answer: the `error` code and, for malformed requests, a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OAuthError {
    pub(crate) code: &'static str,
    pub(crate) description: Option<&'static str>,
}

impl OAuthError {
    pub(crate) fn invalid_request(description: &'static str) -> OAuthError {
        OAuthError::described("invalid_request", description)
    }

    pub(crate) fn described(code: &'static str, description: &'static str) -> OAuthError {
        OAuthError {
            code,
            description: Some(description),
        }
    }

    pub(crate) fn code(code: &'static str) -> OAuthError {
        OAuthError {
            code,
            description: None,
        }
    }

    /// IdentityServer answers 400 for every token endpoint error, `invalid_client` included.
    pub(crate) fn into_response(self) -> Response {
        error_response(self.code, self.description)
    }
}

/// `400 {"error": code, "error_description": description}`, not to be cached.
pub(crate) fn error_response(code: &str, description: Option<&str>) -> Response {
    let mut body = json!({ "error": code });
    if let (Some(description), Value::Object(object)) = (description, &mut body) {
        object.insert("error_description".to_owned(), json!(description));
    }
    json_response(StatusCode::BAD_REQUEST, &body)
}

/// A back-channel request: its headers, and its form or why there is none.
#[derive(Debug)]
pub(crate) struct FormRequest {
    pub(crate) headers: HeaderMap,
    pub(crate) form: Result<Params, OAuthError>,
}

/// Reads a back-channel request: it must be a POST with a form body of at most 64 KiB, each
/// parameter once (RFC 6749 §3.2).
pub(crate) async fn read(request: Request) -> FormRequest {
    let (parts, body) = request.into_parts();
    let form = if parts.method != Method::POST || !is_form(&parts.headers) {
        Err(OAuthError::invalid_request(
            "expected a POST with a form body",
        ))
    } else {
        match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
            Ok(bytes) => Params::parse(&bytes, &[]).map_err(OAuthError::invalid_request),
            Err(_) => Err(OAuthError::invalid_request(
                "the form body could not be read",
            )),
        }
    };
    FormRequest {
        headers: parts.headers,
        form,
    }
}

/// How the client authenticated in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMethodUsed {
    /// `client_secret_basic`: `Authorization: Basic base64(urlencode(id):urlencode(secret))`.
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    Post,
    /// `none`: a public client sent only its `client_id` in the form body.
    None,
    /// `private_key_jwt`: a signed client assertion (RFC 7523 §2.2) in the form body.
    PrivateKeyJwt,
}

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The client credentials of a request, not yet checked.
pub(crate) struct Credentials {
    pub(crate) method: AuthMethodUsed,
    pub(crate) client_id: String,
    /// `None` when only a `client_id` (or an assertion) was sent.
    pub(crate) secret: Option<String>,
    /// The client assertion of `private_key_jwt`, not yet verified.
    pub(crate) assertion: Option<String>,
}

/// The credentials of a request: HTTP Basic, or `client_id` (with or without `client_secret`)
/// in the form. `Ok(None)` when the request names no client; `invalid_request` when it uses
/// two methods at once; `invalid_client` for malformed Basic credentials.
pub(crate) fn credentials(
    headers: &HeaderMap,
    form: &Params,
) -> Result<Option<Credentials>, OAuthError> {
    let basic = basic_credentials(headers)?;
    if let Some(assertion) = form.get("client_assertion") {
        return assertion_credentials(basic.is_some(), form, assertion).map(Some);
    }
    let credentials = match (basic, form.get("client_secret")) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "more than one client authentication method",
            ));
        }
        (Some((id, secret)), None) => {
            if form.get("client_id").is_some_and(|form_id| form_id != id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the form differs from the Basic credentials",
                ));
            }
            Credentials {
                method: AuthMethodUsed::Basic,
                client_id: id,
                secret: Some(secret),
                assertion: None,
            }
        }
        (None, secret) => match form.get("client_id") {
            Some(id) => Credentials {
                method: match secret {
                    Some(_) => AuthMethodUsed::Post,
                    None => AuthMethodUsed::None,
                },
                client_id: id.to_owned(),
                secret: secret.map(str::to_owned),
                assertion: None,
            },
            None => return Ok(None),
        },
    };
    Ok(Some(credentials))
}

/// The credentials of a request with a `client_assertion`: the only method it uses, of the
/// JWT bearer type, naming the client in `client_id` or, without it, in its `iss`.
fn assertion_credentials(
    with_basic: bool,
    form: &Params,
    assertion: &str,
) -> Result<Credentials, OAuthError> {
    if with_basic || form.get("client_secret").is_some() {
        return Err(OAuthError::invalid_request(
            "more than one client authentication method",
        ));
    }
    if form.get("client_assertion_type") != Some(JWT_BEARER_ASSERTION) {
        return Err(OAuthError::invalid_request(
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ));
    }
    let client_id = match form.get("client_id") {
        Some(id) => id.to_owned(),
        None => unverified_issuer(assertion).ok_or(OAuthError::code("invalid_client"))?,
    };
    Ok(Credentials {
        method: AuthMethodUsed::PrivateKeyJwt,
        client_id,
        secret: None,
        assertion: Some(assertion.to_owned()),
    })
}

/// The client id an assertion names as its issuer (RFC 7521 §4.2: `client_id` is optional
/// beside an assertion). Not verified: `client_assertion::verify` checks it.
pub(crate) fn unverified_issuer(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
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

/// A back-channel answer: JSON that no cache may keep.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
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
    fn a_client_id_alone_is_the_none_method() {
        let form = Params::parse(b"client_id=app&code=C", &[]).expect("form");
        let found = credentials(&HeaderMap::new(), &form)
            .ok()
            .flatten()
            .expect("credentials");
        assert_eq!(found.method, AuthMethodUsed::None);
        assert_eq!(found.client_id, "app");
        assert!(found.secret.is_none());
        let nobody = Params::parse(b"client_secret=x", &[]).expect("form");
        assert!(matches!(credentials(&HeaderMap::new(), &nobody), Ok(None)));
    }
}
