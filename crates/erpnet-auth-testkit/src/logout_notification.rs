//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0): when a session ends, the mock
//! POSTs a signed logout token to the back-channel logout URI of every client the session
//! signed in to, and waits for each answer (up to a few seconds), so that a test sees the
//! clients' sessions end before the browser is sent on.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, header};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::state::Shared;
use crate::user_session::UserSession;

/// How long one delivery may take.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends a logout token about `session` to each of its clients that has a back-channel logout
/// URI; returns how many answered with a 2xx status.
pub(crate) async fn notify(shared: &Shared, session: &UserSession) -> usize {
    let mut accepted = 0;
    for client_id in &session.clients {
        let Some(uri) = shared
            .client(client_id)
            .and_then(|client| client.backchannel_logout_uri)
        else {
            continue;
        };
        let token = shared.sign_logout_token(client_id, &session.sign_in);
        let outcome = tokio::time::timeout(DELIVERY_TIMEOUT, deliver(&uri, &token)).await;
        match outcome {
            Ok(Ok(status)) if (200..300).contains(&status) => {
                tracing::debug!(client_id, status, "back-channel logout delivered");
                accepted += 1;
            }
            Ok(Ok(status)) => tracing::debug!(client_id, status, "back-channel logout refused"),
            Ok(Err(error)) => tracing::debug!(client_id, error, "back-channel logout failed"),
            Err(_) => tracing::debug!(client_id, "back-channel logout timed out"),
        }
    }
    accepted
}

/// POSTs `logout_token={token}` to an `http://` URI and returns the status.
async fn deliver(uri: &str, token: &str) -> Result<u16, String> {
    let rest = uri
        .strip_prefix("http://")
        .ok_or("only http:// back-channel logout URIs are served")?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    };
    let stream = TcpStream::connect(authority)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", token)
        .finish();
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::HOST, authority)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .map_err(|e| format!("request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("send: {e}"))?;
    Ok(response.status().as_u16())
}
