//! Failure injection: which endpoint, and what goes wrong there.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;
use tokio::sync::Notify;

/// An endpoint of the mock, for [`MockIdentity::requests`](crate::MockIdentity::requests) and
/// [`MockIdentity::fail_next`](crate::MockIdentity::fail_next).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `GET {issuer}/.well-known/openid-configuration`
    Discovery,
    /// `GET {issuer}/.well-known/openid-configuration/jwks`
    Jwks,
    /// `POST {issuer}/connect/token`
    Token,
    /// `GET {issuer}/connect/authorize`
    Authorize,
    /// `POST {issuer}/connect/introspect`
    Introspection,
    /// `POST {issuer}/connect/revocation`
    Revocation,
    /// `GET {issuer}/connect/endsession`
    EndSession,
    /// `GET|POST {issuer}/connect/userinfo`
    UserInfo,
    /// `POST {issuer}/account/login`: the sign-in page's form (see
    /// [`MockIdentityBuilder::sign_in_page`](crate::MockIdentityBuilder::sign_in_page)).
    Login,
    /// `POST {issuer}/connect/deviceauthorization` (RFC 8628).
    DeviceAuthorization,
}

impl Endpoint {
    pub(crate) const COUNT: usize = 10;

    pub(crate) fn index(self) -> usize {
        match self {
            Endpoint::Discovery => 0,
            Endpoint::Jwks => 1,
            Endpoint::Token => 2,
            Endpoint::Authorize => 3,
            Endpoint::Introspection => 4,
            Endpoint::Revocation => 5,
            Endpoint::EndSession => 6,
            Endpoint::UserInfo => 7,
            Endpoint::Login => 8,
            Endpoint::DeviceAuthorization => 9,
        }
    }
}

/// What the next request(s) to an endpoint get instead of the normal answer.
///
/// Queued with [`MockIdentity::fail_next`](crate::MockIdentity::fail_next) (per endpoint) or
/// [`MockDomainApi::fail_next`](crate::MockDomainApi::fail_next) and consumed in order, one
/// per request, before the request is even looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// Answer with this status code and an empty body. A code outside 100..=999 becomes 500.
    Status(u16),
    /// Wait this long, then answer normally. The wait is a Tokio timer, so under a paused
    /// test clock it passes as the clock advances.
    Delay(Duration),
    /// Never answer: the connection stays open until the client gives up (or the mock is
    /// dropped). Other requests are served as usual meanwhile.
    Hang,
    /// `200 OK`, `Content-Type: application/json`, and the first half of the normal body: JSON
    /// that ends in the middle.
    MalformedBody,
    /// Close the TCP connection without writing a single byte of a response.
    DropConnection,
    /// Exactly this answer.
    Body {
        /// The status code (outside 100..=999 becomes 500).
        status: u16,
        /// The `Content-Type` header value.
        content_type: String,
        /// The body.
        body: String,
    },
    /// `200 OK` with a syntactically valid `application/json` body of about 8 MiB, for
    /// testing response size caps.
    Huge,
    /// Answer with this status code (typically 429 or 503), an empty body and the header
    /// `Retry-After: {retry_after}`, sent as given: a number of seconds (`"5"`) or an
    /// HTTP-date (`"Wed, 21 Oct 2015 07:28:00 GMT"`), or any text, to test what a client
    /// makes of a malformed one. A code outside 100..=999 becomes 500.
    RetryAfter {
        /// The status code.
        status: u16,
        /// The `Retry-After` header value.
        retry_after: String,
    },
    /// An OAuth error with this code, delivered where the endpoint delivers errors.
    ///
    /// At [`Endpoint::Authorize`] the request is checked as usual and, if it is valid, the
    /// client is redirected with `error={code}` (plus `state` and `iss`) instead of a code:
    /// `"access_denied"` is the user refusing to sign in (see
    /// [`MockIdentity::deny_next_authorization`](crate::MockIdentity::deny_next_authorization)).
    /// An invalid request gets its own error, and the failure is used up all the same. At
    /// [`Endpoint::EndSession`] it is a `400` error page naming the code; at the mock Domain
    /// API a `400` with ERP.net's error body, the code as its message; everywhere else
    /// `400 {"error": code}`.
    OAuthError(String),
}

/// The size of the body sent for [`Failure::Huge`].
pub(crate) const HUGE_BODY_BYTES: usize = 8 * 1024 * 1024;

/// The per-connection switch a handler pulls to have its TCP connection dropped.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnectionControl(Arc<Notify>);

impl ConnectionControl {
    /// Asks the connection task to drop the connection (and with it the socket).
    pub(crate) fn drop_connection(&self) {
        self.0.notify_one();
    }

    /// Completes when a handler on this connection asked for it to be dropped.
    pub(crate) async fn dropped(&self) {
        self.0.notified().await;
    }
}

/// What a handler does after consulting the failure queue.
pub(crate) enum Injected {
    /// Send this response instead of the normal one.
    Respond(Response),
    /// Handle the request normally.
    Proceed,
    /// Answer with this OAuth error code, the endpoint's way.
    OAuthError(String),
}

/// Carries out `failure`. `Hang` and `DropConnection` never return: the first is abandoned
/// when the client or the mock goes away, the second when its connection is dropped.
pub(crate) async fn inject(
    failure: Failure,
    connection: &ConnectionControl,
    malformed_body: impl FnOnce() -> String,
) -> Injected {
    match failure {
        Failure::Status(status) => Injected::Respond(
            Response::builder()
                .status(status_code(status))
                .body(Body::empty())
                .unwrap_or_default(),
        ),
        Failure::Delay(delay) => {
            tokio::time::sleep(delay).await;
            Injected::Proceed
        }
        Failure::Hang => std::future::pending().await,
        Failure::MalformedBody => {
            let mut body = malformed_body();
            let mut cut = body.len() / 2;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            body.truncate(cut);
            Injected::Respond(raw(StatusCode::OK, "application/json; charset=UTF-8", body))
        }
        Failure::DropConnection => {
            connection.drop_connection();
            std::future::pending().await
        }
        Failure::Body {
            status,
            content_type,
            body,
        } => Injected::Respond(raw(status_code(status), &content_type, body)),
        Failure::RetryAfter {
            status,
            retry_after,
        } => Injected::Respond(
            Response::builder()
                .status(status_code(status))
                .header(header::RETRY_AFTER, retry_after)
                .body(Body::empty())
                // Only a header value a test made invalid can fail here.
                .unwrap_or_else(|_| {
                    raw(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "text/plain",
                        "invalid retry_after in Failure::RetryAfter".to_owned(),
                    )
                }),
        ),
        Failure::OAuthError(code) => Injected::OAuthError(code),
        Failure::Huge => {
            let mut body = String::with_capacity(HUGE_BODY_BYTES + 16);
            body.push_str("{\"padding\":\"");
            body.push_str(&"A".repeat(HUGE_BODY_BYTES));
            body.push_str("\"}");
            Injected::Respond(raw(StatusCode::OK, "application/json; charset=UTF-8", body))
        }
    }
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn raw(status: StatusCode, content_type: &str, body: String) -> Response {
    let response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body));
    // Only an invalid header value from a test's `Failure::Body` can fail here.
    response.unwrap_or_else(|_| {
        let mut fallback = Response::new(Body::from("invalid content_type in Failure::Body"));
        *fallback.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        fallback
    })
}
