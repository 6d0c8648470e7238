//! Talking to a provider as a client: client authentication (RFC 6749 §2.3) on
//! every request, and the token endpoint's response (§5.1) or error (§5.2).
//! [`ClientConfig`](crate::ClientConfig) sends the requests.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use erpnet_auth_core::pacing::retry_after;
use erpnet_auth_core::{AccessToken, ConfigError, Error, OAuthErrorCode};

#[cfg(feature = "private-key-jwt")]
use crate::client::private_key_jwt::{AssertionAudience, ClientSigningKey, JWT_BEARER_ASSERTION};
use crate::http::{HttpClient, HttpResponse, endpoint_name, is_json, media_type, request_error};

/// How the client authenticates to the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// `client_id` and `client_secret` in the form body: ERP.net's documented way.
    #[default]
    ClientSecretPost,
    /// HTTP Basic with the form-urlencoded client id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// A public client: only `client_id` is sent, no secret.
    None,
    /// A JWT signed with the client's private key, fresh for every request
    /// (RFC 7523 §2.2, OpenID Connect Core §9): set the key with
    /// [`ClientConfigBuilder::private_key`](crate::ClientConfigBuilder::private_key).
    #[cfg(feature = "private-key-jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "private-key-jwt")))]
    PrivateKeyJwt,
}

impl ClientAuthMethod {
    /// Parses `post`, `basic`, `none` or the RFC 8414 names `client_secret_post`,
    /// `client_secret_basic` (and `private_key_jwt` with the `private-key-jwt`
    /// feature).
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "post" | "client_secret_post" => Some(Self::ClientSecretPost),
            "basic" | "client_secret_basic" => Some(Self::ClientSecretBasic),
            "none" => Some(Self::None),
            #[cfg(feature = "private-key-jwt")]
            "private_key_jwt" => Some(Self::PrivateKeyJwt),
            _ => None,
        }
    }

    /// The RFC 8414 name: `client_secret_post`, `client_secret_basic`, `none`
    /// or `private_key_jwt`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::None => "none",
            #[cfg(feature = "private-key-jwt")]
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }
}

/// A client's credentials and how to present them.
#[derive(Clone)]
pub(crate) struct ClientAuth {
    pub(crate) client_id: String,
    pub(crate) secret: Option<SecretString>,
    pub(crate) method: ClientAuthMethod,
    /// The private key of `private_key_jwt` and the audience of its assertions.
    #[cfg(feature = "private-key-jwt")]
    pub(crate) key: Option<(ClientSigningKey, AssertionAudience)>,
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut f = f.debug_struct("ClientAuth");
        f.field("client_id", &self.client_id)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("method", &self.method);
        // The key's own Debug shows its kid and algorithm only.
        #[cfg(feature = "private-key-jwt")]
        f.field("key", &self.key);
        f.finish()
    }
}

/// Encodes one part of HTTP Basic client credentials: RFC 6749 §2.3.1 requires
/// the `application/x-www-form-urlencoded` encoding before base64, so an ERP.net
/// client id such as `my.trusted.app/first` is sent as `my.trusted.app%2Ffirst`.
fn form_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

impl ClientAuth {
    /// Checks a client's configuration: a non-empty id, and a secret unless the
    /// client is public (and none if it is).
    pub(crate) fn checked(
        client_id: String,
        secret: Option<SecretString>,
        method: ClientAuthMethod,
        #[cfg(feature = "private-key-jwt")] key: Option<(ClientSigningKey, AssertionAudience)>,
    ) -> Result<Self, ConfigError> {
        if client_id.trim().is_empty() {
            return Err(ConfigError::invalid("the client id is empty"));
        }
        match (method, &secret) {
            (ClientAuthMethod::None, Some(_)) => {
                return Err(ConfigError::invalid(format!(
                    "client `{client_id}` is public (ClientAuthMethod::None) but has a client secret; \
                     drop the secret, or choose client_secret_post or client_secret_basic"
                )));
            }
            (ClientAuthMethod::ClientSecretPost | ClientAuthMethod::ClientSecretBasic, None) => {
                return Err(ConfigError::invalid(format!(
                    "client `{client_id}` has no client secret; set one or use ClientAuthMethod::None for a public client"
                )));
            }
            _ => {}
        }
        #[cfg(feature = "private-key-jwt")]
        match (method, &key, &secret) {
            (ClientAuthMethod::PrivateKeyJwt, None, _) => {
                return Err(ConfigError::invalid(format!(
                    "client `{client_id}` uses private_key_jwt but has no key; set one with ClientConfigBuilder::private_key"
                )));
            }
            (ClientAuthMethod::PrivateKeyJwt, Some(_), Some(_)) => {
                return Err(ConfigError::invalid(format!(
                    "client `{client_id}` has both a private key and a client secret; give only one"
                )));
            }
            (ClientAuthMethod::PrivateKeyJwt, Some(_), None) | (_, None, _) => {}
            (_, Some(_), _) => {
                return Err(ConfigError::invalid(format!(
                    "client `{client_id}` has a private key but authenticates with {}; \
                     choose ClientAuthMethod::PrivateKeyJwt",
                    method.as_str()
                )));
            }
        }
        Ok(Self {
            client_id,
            secret,
            method,
            #[cfg(feature = "private-key-jwt")]
            key,
        })
    }

    /// Builds the request: form body with the grant's parameters and the client
    /// authentication the method calls for. `assertion` is the signed client
    /// assertion of `private_key_jwt`, made for this request.
    pub(crate) fn request(
        &self,
        http: &HttpClient,
        endpoint: &Url,
        params: &[(&str, &str)],
        assertion: Option<&str>,
    ) -> Result<reqwest::Request, Error> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (name, value) in params {
            form.append_pair(name, value);
        }
        let mut builder = http
            .reqwest_client()
            .post(endpoint.clone())
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        match self.method {
            ClientAuthMethod::ClientSecretPost => {
                form.append_pair("client_id", &self.client_id);
                if let Some(secret) = &self.secret {
                    form.append_pair("client_secret", secret.expose_secret());
                }
            }
            ClientAuthMethod::ClientSecretBasic => {
                let secret = self
                    .secret
                    .as_ref()
                    .map(|s| s.expose_secret())
                    .unwrap_or("");
                let credentials =
                    format!("{}:{}", form_encode(&self.client_id), form_encode(secret));
                let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
                let mut value =
                    http::HeaderValue::try_from(format!("Basic {encoded}")).map_err(|_| {
                        ConfigError::invalid("client credentials are not valid in a header")
                    })?;
                value.set_sensitive(true);
                builder = builder.header(http::header::AUTHORIZATION, value);
            }
            ClientAuthMethod::None => {
                form.append_pair("client_id", &self.client_id);
            }
            #[cfg(feature = "private-key-jwt")]
            ClientAuthMethod::PrivateKeyJwt => {
                let assertion = assertion.ok_or_else(|| {
                    ConfigError::invalid("private_key_jwt needs a client assertion")
                })?;
                form.append_pair("client_id", &self.client_id);
                form.append_pair("client_assertion_type", JWT_BEARER_ASSERTION);
                form.append_pair("client_assertion", assertion);
            }
        }
        #[cfg(not(feature = "private-key-jwt"))]
        let _ = assertion;
        builder
            .body(form.finish())
            .build()
            .map_err(|e| request_error(&endpoint_name(endpoint), &e))
    }
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Clone)]
pub struct TokenResponse {
    /// The access token, with expiry and granted scopes.
    pub access_token: AccessToken,
    /// The refresh token, if one was issued.
    pub refresh_token: Option<SecretString>,
    /// The ID token, if one was issued.
    pub id_token: Option<SecretString>,
    /// The lifetime the server announced in `expires_in`.
    pub expires_in: Option<Duration>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &self.access_token)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("id_token", &self.id_token.as_ref().map(|_| "[redacted]"))
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

#[derive(Deserialize)]
struct RawResponse {
    access_token: Option<SecretString>,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
    refresh_token: Option<SecretString>,
    id_token: Option<SecretString>,
    scope: Option<serde_json::Value>,
    error: Option<String>,
    error_description: Option<String>,
    error_uri: Option<String>,
}

/// Interprets a token endpoint's answer.
pub(crate) fn parse_token_response(
    endpoint: &str,
    status: u16,
    headers: &http::HeaderMap,
    body: &[u8],
    requested_scopes: &[String],
) -> Result<TokenResponse, Error> {
    let invalid = |reason: String| Error::InvalidResponse {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let is_success = (200..300).contains(&status);
    // A 429 or 503 may say when to come back; the cache waits that long.
    let retry_after = if is_success {
        None
    } else {
        retry_after(headers)
    };
    if !is_json(headers) {
        if !is_success {
            return Err(Error::Status {
                endpoint: endpoint.to_owned(),
                status,
                retry_after,
            });
        }
        return Err(invalid(format!(
            "expected a JSON document, got content type `{}`",
            media_type(headers).unwrap_or_default()
        )));
    }
    let raw: RawResponse = match serde_json::from_slice(body) {
        Ok(raw) => raw,
        // An error status with an unreadable body says more by its status.
        Err(_) if !is_success => {
            return Err(Error::Status {
                endpoint: endpoint.to_owned(),
                status,
                retry_after,
            });
        }
        // serde_json's messages can quote the input, which may hold a token:
        // say only where and what kind of problem it was.
        Err(e) => {
            return Err(invalid(format!(
                "malformed JSON ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            )));
        }
    };
    if let Some(code) = raw.error {
        return Err(Error::OAuth {
            endpoint: endpoint.to_owned(),
            code: OAuthErrorCode::parse(&code),
            description: raw.error_description,
            uri: raw.error_uri,
            status,
            retry_after,
        });
    }
    if !is_success {
        return Err(Error::Status {
            endpoint: endpoint.to_owned(),
            status,
            retry_after,
        });
    }
    let access_token = raw
        .access_token
        .filter(|t| !t.expose_secret().is_empty())
        .ok_or_else(|| invalid("missing `access_token`".to_owned()))?;
    let token_type = raw.token_type.unwrap_or_else(|| "Bearer".to_owned());
    let expires_in =
        match raw.expires_in {
            None | Some(serde_json::Value::Null) => None,
            Some(value) => Some(parse_expires_in(&value).ok_or_else(|| {
                invalid(format!("`expires_in` is not a number of seconds: {value}"))
            })?),
        };
    let scopes = match raw.scope {
        None | Some(serde_json::Value::Null) => requested_scopes.to_vec(),
        Some(serde_json::Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid("`scope` array holds a non-string".to_owned()))?,
        Some(_) => {
            return Err(invalid(
                "`scope` is neither a string nor an array".to_owned(),
            ));
        }
    };
    let mut token = AccessToken::new(access_token.expose_secret().to_owned())
        .with_token_type(token_type)
        .with_scopes(scopes);
    if let Some(lifetime) = expires_in {
        token = token.with_expires_in(lifetime);
    }
    Ok(TokenResponse {
        access_token: token,
        refresh_token: raw.refresh_token.filter(|t| !t.expose_secret().is_empty()),
        id_token: raw.id_token,
        expires_in,
    })
}

/// `expires_in` as a JSON number or a numeric string (some providers quote it);
/// negative values mean already expired.
fn parse_expires_in(value: &serde_json::Value) -> Option<Duration> {
    let seconds = match value {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    if !seconds.is_finite() {
        return None;
    }
    // Cap at ten years so that absurd values cannot overflow an Instant.
    Some(Duration::from_secs_f64(seconds.clamp(0.0, 315_360_000.0)))
}

/// An unsuccessful answer as an error: the RFC 6749 §5.2 error document when
/// there is one (`invalid_client` from an introspection or revocation
/// endpoint, RFC 7662 §2.3, RFC 7009 §2.2.1), the status otherwise.
pub(crate) fn error_answer(endpoint: &str, response: &HttpResponse) -> Error {
    let status = response.status.as_u16();
    match parse_token_response(endpoint, status, &response.headers, &response.body, &[]) {
        Err(error) => error,
        Ok(_) => Error::Status {
            endpoint: endpoint.to_owned(),
            status,
            retry_after: retry_after(&response.headers),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_headers() -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json; charset=utf-8"),
        );
        headers
    }

    fn parse(status: u16, body: &str) -> Result<TokenResponse, Error> {
        parse_token_response(
            "https://id/connect/token",
            status,
            &json_headers(),
            body.as_bytes(),
            &["read".to_owned()],
        )
    }

    #[test]
    fn parses_expires_in_as_number_or_string_and_scope_as_string_or_array() {
        let a = parse(
            200,
            r#"{"access_token":"t","token_type":"Bearer","expires_in":3600,"scope":"read update"}"#,
        )
        .expect("valid");
        assert_eq!(a.expires_in, Some(Duration::from_secs(3600)));
        assert_eq!(a.access_token.scopes(), ["read", "update"]);
        let b = parse(
            200,
            r#"{"access_token":"t","token_type":"bearer","expires_in":"60","scope":["read"]}"#,
        )
        .expect("valid");
        assert_eq!(b.expires_in, Some(Duration::from_secs(60)));
        assert_eq!(b.access_token.token_type(), "Bearer");
        let c = parse(200, r#"{"access_token":"t","token_type":"Bearer"}"#).expect("valid");
        assert_eq!(c.expires_in, None);
        assert_eq!(
            c.access_token.scopes(),
            ["read"],
            "missing scope = as requested"
        );
    }

    #[test]
    fn a_throttled_answer_carries_the_servers_retry_after() {
        let with = |status: u16, retry_after: &'static str, body: &str| {
            let mut headers = json_headers();
            headers.insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static(retry_after),
            );
            parse_token_response(
                "https://id/connect/token",
                status,
                &headers,
                body.as_bytes(),
                &[],
            )
        };
        let err = with(429, "30", "{}").expect_err("throttled");
        assert!(matches!(err, Error::Status { status: 429, .. }));
        assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
        assert!(err.is_transient());
        let err = with(400, "5", r#"{"error":"slow_down"}"#).expect_err("slow down");
        assert_eq!(err.oauth_code(), Some(&OAuthErrorCode::SlowDown));
        assert_eq!(err.retry_after(), Some(Duration::from_secs(5)));
        let err = with(503, "soon", "").expect_err("unavailable");
        assert_eq!(err.retry_after(), None, "a malformed Retry-After is none");
        assert_eq!(parse(429, "{}").expect_err("no header").retry_after(), None);
        assert!(with(200, "30", r#"{"access_token":"t"}"#).is_ok());
    }

    #[test]
    fn errors_are_typed() {
        let err = parse(
            400,
            r#"{"error":"invalid_client","error_description":"bad"}"#,
        )
        .expect_err("error");
        assert_eq!(err.oauth_code(), Some(&OAuthErrorCode::InvalidClient));
        assert!(!err.is_transient());
        assert!(err.to_string().contains("invalid_client: bad"), "{err}");

        let err = parse(200, r#"{"error":"invalid_scope"}"#).expect_err("200 carrying an error");
        assert_eq!(err.oauth_code(), Some(&OAuthErrorCode::InvalidScope));

        // RFC 8707: an unknown `resource`.
        let err = parse(400, r#"{"error":"invalid_target"}"#).expect_err("unknown resource");
        assert_eq!(err.oauth_code(), Some(&OAuthErrorCode::InvalidTarget));
        assert_eq!(OAuthErrorCode::InvalidTarget.as_str(), "invalid_target");
        assert!(!err.is_transient());

        let err = parse(503, "<html>down</html>").expect_err("status");
        assert!(matches!(err, Error::Status { status: 503, .. }));
        assert!(err.is_transient());

        let err = parse(200, r#"{"access_token":"t","#).expect_err("truncated");
        assert!(matches!(err, Error::InvalidResponse { .. }), "{err}");

        let err = parse(200, r#"{"token_type":"Bearer"}"#).expect_err("missing token");
        assert!(err.to_string().contains("missing `access_token`"), "{err}");

        let err =
            parse(200, r#"{"access_token":"t","expires_in":"soon"}"#).expect_err("bad expires_in");
        assert!(err.to_string().contains("expires_in"), "{err}");
    }

    #[test]
    fn malformed_json_never_quotes_the_body() {
        let err = parse(200, r#"{"access_token":"leaky-secret" "x"}"#).expect_err("malformed");
        assert!(!err.to_string().contains("leaky-secret"), "{err}");
        let err = parse(200, r#"{"access_token":["leaky-secret"]}"#).expect_err("wrong type");
        assert!(!err.to_string().contains("leaky-secret"), "{err}");
    }

    #[test]
    fn wrong_content_type_is_reported() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/html"),
        );
        let err = parse_token_response("e", 200, &headers, b"<html>", &[]).expect_err("html");
        assert!(err.to_string().contains("text/html"), "{err}");
    }

    #[test]
    fn basic_credentials_are_form_encoded_before_base64() {
        assert_eq!(
            form_encode("my.trusted.app/first"),
            "my.trusted.app%2Ffirst"
        );
        assert_eq!(form_encode("a b:c"), "a+b%3Ac");
        assert_eq!(
            ClientAuthMethod::parse("basic"),
            Some(ClientAuthMethod::ClientSecretBasic)
        );
        assert_eq!(
            ClientAuthMethod::parse("POST"),
            Some(ClientAuthMethod::ClientSecretPost)
        );
        assert_eq!(ClientAuthMethod::parse("jwt"), None);
    }

    fn answer(status: u16, content_type: &str, body: &str) -> crate::http::HttpResponse {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_str(content_type).expect("header"),
        );
        crate::http::HttpResponse {
            status: http::StatusCode::from_u16(status).expect("status"),
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn an_error_document_is_a_typed_oauth_error_and_anything_else_a_status() {
        let error = error_answer(
            "https://id/introspect",
            &answer(401, "application/json", r#"{"error":"invalid_client"}"#),
        );
        assert_eq!(error.oauth_code(), Some(&OAuthErrorCode::InvalidClient));
        assert!(!error.is_transient());
        let error = error_answer("https://id/introspect", &answer(503, "text/html", "down"));
        assert!(
            matches!(error, Error::Status { status: 503, .. }),
            "{error}"
        );
        assert!(error.is_transient());
        let error = error_answer(
            "https://id/introspect",
            &answer(400, "application/json", r#"{"unexpected":true}"#),
        );
        assert!(
            matches!(error, Error::Status { status: 400, .. }),
            "{error}"
        );
    }
}
