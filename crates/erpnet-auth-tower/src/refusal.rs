//! How a refused request is answered: RFC 6750 §3 for HTTP, a gRPC status in
//! a trailers-only response for gRPC.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use erpnet_auth_oidc::ValidationError;
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use serde::Serialize;

/// The default `realm` of `WWW-Authenticate` challenges.
pub const DEFAULT_REALM: &str = "api";

/// The default `Retry-After` of a 503: how soon a client may try again when
/// the signing keys or the introspection endpoint cannot be reached.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// What a 503 could not reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outage {
    /// The provider's signing keys (JWKS, or discovery on the way to it).
    SigningKeys,
    /// The RFC 7662 introspection endpoint.
    #[cfg_attr(not(feature = "introspection"), allow(dead_code))]
    Introspection,
}

/// Why a request is refused.
#[derive(Debug, Clone)]
pub(crate) enum Refusal {
    /// No bearer token: 401 with a challenge that names no error (RFC 6750 §3.1).
    MissingToken,
    /// A malformed `Authorization` header: 400 `invalid_request`.
    InvalidRequest(&'static str),
    /// The token was refused: 401 `invalid_token`, with a short reason.
    InvalidToken(Cow<'static, str>),
    /// A scope is missing: 403 `insufficient_scope`, with the scopes needed
    /// (space-separated).
    InsufficientScope {
        scope: Arc<str>,
        description: &'static str,
    },
    /// What the answer depends on cannot be reached: 503 with `Retry-After`
    /// (gRPC: UNAVAILABLE with `grpc-retry-pushback-ms`).
    Unavailable {
        outage: Outage,
        retry_after: Duration,
    },
    /// The middleware that should have run before did not: 500.
    NotConfigured,
}

impl Refusal {
    /// The answer to a token the validator refused. The reason comes from the
    /// error's `Display`, which is written to be shown to callers.
    pub(crate) fn from_validation(error: &ValidationError, retry_after: Duration) -> Self {
        match error {
            e if e.is_unavailable() => Refusal::Unavailable {
                outage: Outage::SigningKeys,
                retry_after,
            },
            ValidationError::InsufficientScope { required } => Refusal::InsufficientScope {
                scope: required.join(" ").into(),
                description: "the token lacks a scope this API requires",
            },
            e => Refusal::InvalidToken(e.to_string().into()),
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Refusal::MissingToken | Refusal::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Refusal::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Refusal::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Refusal::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::NotConfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The RFC 6750 (or, for 500 and 503, RFC 6749) error code.
    fn code(&self) -> Option<&'static str> {
        match self {
            Refusal::MissingToken => None,
            Refusal::InvalidRequest(_) => Some("invalid_request"),
            Refusal::InvalidToken(_) => Some("invalid_token"),
            Refusal::InsufficientScope { .. } => Some("insufficient_scope"),
            Refusal::Unavailable { .. } => Some("temporarily_unavailable"),
            Refusal::NotConfigured => Some("server_error"),
        }
    }

    pub(crate) fn description(&self) -> &str {
        match self {
            Refusal::MissingToken => "a bearer token is required",
            Refusal::InvalidRequest(description) => description,
            Refusal::InvalidToken(description) => description,
            Refusal::InsufficientScope { description, .. } => description,
            Refusal::Unavailable {
                outage: Outage::SigningKeys,
                ..
            } => "signing keys unavailable; try again later",
            Refusal::Unavailable {
                outage: Outage::Introspection,
                ..
            } => "token introspection unavailable; try again later",
            Refusal::NotConfigured => "authentication is not configured for this route",
        }
    }

    /// The gRPC status code: UNAUTHENTICATED, PERMISSION_DENIED, UNAVAILABLE
    /// or INTERNAL.
    fn grpc_status(&self) -> &'static str {
        match self {
            Refusal::MissingToken | Refusal::InvalidRequest(_) | Refusal::InvalidToken(_) => "16",
            Refusal::InsufficientScope { .. } => "7",
            Refusal::Unavailable { .. } => "14",
            Refusal::NotConfigured => "13",
        }
    }

    /// The answer: gRPC for gRPC requests, RFC 6750 otherwise.
    pub(crate) fn response(&self, realm: &Realm, request: &HeaderMap) -> Response<Bytes> {
        self.answer(realm, is_grpc(request))
    }

    /// The answer, gRPC or RFC 6750.
    pub(crate) fn answer(&self, realm: &Realm, grpc: bool) -> Response<Bytes> {
        if grpc {
            self.grpc_response()
        } else {
            self.http_response(realm)
        }
    }

    fn http_response(&self, realm: &Realm) -> Response<Bytes> {
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            error: Option<&'a str>,
            error_description: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            scope: Option<&'a str>,
        }
        let scope = match self {
            Refusal::InsufficientScope { scope, .. } => Some(&**scope),
            _ => None,
        };
        let body = serde_json::to_vec(&Body {
            error: self.code(),
            error_description: self.description(),
            scope,
        })
        .map(Bytes::from)
        .unwrap_or_default();
        let mut response = Response::new(body);
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        match self {
            Refusal::MissingToken => {
                headers.insert(WWW_AUTHENTICATE, realm.challenge().clone());
            }
            Refusal::InvalidRequest(_)
            | Refusal::InvalidToken(_)
            | Refusal::InsufficientScope { .. } => {
                let mut challenge = String::from(realm.challenge_text());
                let _ = write!(
                    challenge,
                    ", error=\"{}\", error_description=\"{}\"",
                    self.code().unwrap_or_default(),
                    quote(self.description())
                );
                if let Some(scope) = scope {
                    let _ = write!(challenge, ", scope=\"{}\"", quote(scope));
                }
                if let Ok(value) = HeaderValue::try_from(challenge) {
                    headers.insert(WWW_AUTHENTICATE, value);
                }
            }
            Refusal::Unavailable { retry_after, .. } => {
                // Whole seconds (RFC 9110 §10.2.3), rounded up.
                let seconds = retry_after
                    .as_secs()
                    .saturating_add(u64::from(retry_after.subsec_nanos() > 0));
                headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
            }
            Refusal::NotConfigured => {}
        }
        response
    }

    /// A trailers-only gRPC response: HTTP 200 with the status in the headers
    /// and no body, which gRPC clients read as the call's final status.
    fn grpc_response(&self) -> Response<Bytes> {
        let mut response = Response::new(Bytes::new());
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert("grpc-status", HeaderValue::from_static(self.grpc_status()));
        if let Ok(message) = HeaderValue::try_from(percent_encode(self.description())) {
            headers.insert("grpc-message", message);
        }
        if let Refusal::Unavailable { retry_after, .. } = self {
            // gRPC's Retry-After, read by clients with a retry policy.
            let millis = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX);
            headers.insert("grpc-retry-pushback-ms", HeaderValue::from(millis));
        }
        response
    }
}

/// Whether the request is a gRPC call (`content-type: application/grpc…`).
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/grpc"))
}

/// The `realm` of challenges and, when set, the `resource_metadata` URL
/// (RFC 9728 §5.1), checked and quoted once. Shared: it goes into the
/// extensions of every request let through, and into rejections.
#[derive(Debug, Clone)]
pub(crate) struct Realm(Arc<RealmParts>);

#[derive(Debug)]
struct RealmParts {
    name: String,
    resource_metadata: Option<String>,
    /// `Bearer realm="…"` (and `, resource_metadata="…"`), the challenge when
    /// no token was sent; the start of every other.
    challenge: HeaderValue,
}

impl Realm {
    pub(crate) fn new(realm: &str) -> Self {
        Self::build(realm, None)
    }

    /// This realm renamed, with the same `resource_metadata`.
    pub(crate) fn renamed(&self, name: &str) -> Self {
        Self::build(name, self.0.resource_metadata.as_deref())
    }

    /// This realm, with challenges that point to the protected resource
    /// metadata at `url`.
    pub(crate) fn with_resource_metadata(&self, url: &str) -> Self {
        Self::build(&self.0.name, Some(url))
    }

    fn build(name: &str, resource_metadata: Option<&str>) -> Self {
        let mut text = format!("Bearer realm=\"{}\"", quote(name));
        if let Some(url) = resource_metadata {
            let _ = write!(text, ", resource_metadata=\"{}\"", quote(url));
        }
        let challenge = HeaderValue::try_from(text)
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer realm=\"api\""));
        Self(Arc::new(RealmParts {
            name: name.to_owned(),
            resource_metadata: resource_metadata.map(str::to_owned),
            challenge,
        }))
    }

    fn challenge(&self) -> &HeaderValue {
        &self.0.challenge
    }

    fn challenge_text(&self) -> &str {
        self.0.challenge.to_str().unwrap_or("Bearer")
    }
}

impl Default for Realm {
    fn default() -> Self {
        Self::new(DEFAULT_REALM)
    }
}

/// The content of an RFC 9110 quoted-string: `"` and `\` escaped with a
/// backslash, anything but visible ASCII and space replaced by `?` (header
/// values must not carry it, and RFC 6750 allows no more).
fn quote(value: &str) -> Cow<'_, str> {
    let plain = |c: char| (c == ' ' || c.is_ascii_graphic()) && c != '"' && c != '\\';
    if value.chars().all(plain) {
        return Cow::Borrowed(value);
    }
    let mut quoted = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                quoted.push('\\');
                quoted.push(c);
            }
            c if plain(c) => quoted.push(c),
            _ => quoted.push('?'),
        }
    }
    Cow::Owned(quoted)
}

/// gRPC's `grpc-message` encoding: bytes outside space..`~`, and `%`, as `%XX`.
fn percent_encode(message: &str) -> String {
    let mut encoded = String::with_capacity(message.len());
    for &b in message.as_bytes() {
        if (b' '..=b'~').contains(&b) && b != b'%' {
            encoded.push(b as char);
        } else {
            let _ = write!(encoded, "%{b:02X}");
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_and_replaces() {
        assert_eq!(quote("plain text"), "plain text");
        assert_eq!(quote(r#"a "b" \c"#), r#"a \"b\" \\c"#);
        assert_eq!(quote("tab\there é"), "tab?here ?");
        assert_eq!(
            Realm::new("my \"api\"").challenge(),
            r#"Bearer realm="my \"api\"""#
        );
    }

    #[test]
    fn grpc_messages_are_percent_encoded() {
        assert_eq!(percent_encode("token expired"), "token expired");
        assert_eq!(percent_encode("50% é\n"), "50%25 %C3%A9%0A");
    }

    #[test]
    fn challenges_follow_rfc_6750() {
        let realm = Realm::new("orders");
        let headers = HeaderMap::new();
        let missing = Refusal::MissingToken.response(&realm, &headers);
        assert_eq!(missing.status(), 401);
        assert_eq!(
            missing.headers()[WWW_AUTHENTICATE],
            r#"Bearer realm="orders""#
        );
        assert_eq!(
            missing.body(),
            r#"{"error_description":"a bearer token is required"}"#
        );

        let scope = Refusal::InsufficientScope {
            scope: "read update".into(),
            description: "the token lacks a scope this API requires",
        }
        .response(&realm, &headers);
        assert_eq!(scope.status(), 403);
        assert_eq!(
            scope.headers()[WWW_AUTHENTICATE],
            r#"Bearer realm="orders", error="insufficient_scope", error_description="the token lacks a scope this API requires", scope="read update""#
        );

        for (outage, description) in [
            (
                Outage::SigningKeys,
                "signing keys unavailable; try again later",
            ),
            (
                Outage::Introspection,
                "token introspection unavailable; try again later",
            ),
        ] {
            let refusal = Refusal::Unavailable {
                outage,
                retry_after: Duration::from_millis(2500),
            };
            let unavailable = refusal.response(&realm, &headers);
            assert_eq!(unavailable.status(), 503);
            assert!(!unavailable.headers().contains_key(WWW_AUTHENTICATE));
            assert_eq!(unavailable.headers()[RETRY_AFTER], "3");
            assert_eq!(
                unavailable.body(),
                &format!(
                    r#"{{"error":"temporarily_unavailable","error_description":"{description}"}}"#
                )
            );
            let grpc = refusal.answer(&realm, true);
            assert_eq!(grpc.headers()["grpc-status"], "14");
            assert_eq!(grpc.headers()["grpc-message"], description);
            assert_eq!(grpc.headers()["grpc-retry-pushback-ms"], "2500");
        }
    }

    #[test]
    fn grpc_requests_get_a_trailers_only_status() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/grpc+proto"),
        );
        let response =
            Refusal::InvalidToken("token expired".into()).response(&Realm::default(), &headers);
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["grpc-status"], "16");
        assert_eq!(response.headers()["grpc-message"], "token expired");
        assert!(response.body().is_empty());
    }
}
