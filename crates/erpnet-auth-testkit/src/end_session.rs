//! `GET {issuer}/connect/endsession`: signs the user out (the session the `id_token_hint`
//! names, or the browser's), tells the session's clients through back-channel logout, and,
//! when asked, redirects to a registered post-logout redirect URI with `state`.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use crate::front_channel::{ResponseMode, error_page, html, query_params, redirect};
use crate::logout_notification;
use crate::state::Shared;
use crate::user_session::{session_cookie, session_handle};

/// The page shown when there is no post-logout redirect.
pub(crate) const SIGNED_OUT_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Signed out</title></head>\
     <body>\n<h1>You are now signed out</h1>\n</body></html>\n";

/// Handles an end-session request. The client is named by `id_token_hint` (an ID token of
/// this mock, expired or not) or `client_id`; `post_logout_redirect_uri` must be one of its
/// registered URIs. `injected` is an error a test queued for this request.
///
/// A valid request ends the session of the hint's `sid`, or else the browser's, and delivers
/// the back-channel logout tokens before it answers, so that the clients have ended their
/// sessions by the time the browser arrives at the post-logout redirect URI.
pub(crate) async fn handle(
    state: &Shared,
    query: Option<&str>,
    headers: &HeaderMap,
    injected: Option<String>,
) -> Response {
    if let Some(error) = injected {
        return error_page(&error, "injected by the test");
    }
    let params = match query_params(query) {
        Ok(params) => params,
        Err(description) => return error_page("invalid_request", description),
    };
    let hint = params
        .get("id_token_hint")
        .map(|hint| state.verify_jwt(hint, "JWT", false));
    let hinted_sid = hint
        .as_ref()
        .and_then(|claims| claims.as_ref()?.get("sid")?.as_str().map(str::to_owned));
    let hinted_client = match hint {
        Some(claims) => match claims.as_ref().and_then(audience) {
            Some(client_id) => Some(client_id),
            None => {
                return error_page(
                    "invalid_request",
                    "id_token_hint is not an ID token of this identity",
                );
            }
        },
        None => None,
    };
    let client_id = match (hinted_client, params.get("client_id")) {
        (Some(hinted), Some(named)) if hinted != named => {
            return error_page(
                "invalid_request",
                "client_id differs from the audience of the id_token_hint",
            );
        }
        (hinted, named) => hinted.or(named.map(str::to_owned)),
    };
    let uri = params.get("post_logout_redirect_uri");
    if let Some(uri) = uri {
        let Some(client) = client_id.and_then(|id| state.client(&id)) else {
            return error_page(
                "invalid_request",
                "post_logout_redirect_uri needs a known client_id or an id_token_hint",
            );
        };
        if !client
            .post_logout_redirect_uris
            .iter()
            .any(|known| known == uri)
        {
            return error_page(
                "invalid_request",
                "post_logout_redirect_uri is not registered for this client",
            );
        }
    }
    let ended = {
        let mut sessions = state.sessions();
        match (&hinted_sid, session_handle(headers)) {
            (Some(sid), _) => sessions.end_by_sid(sid),
            (None, Some(handle)) => sessions.end_by_handle(&handle),
            (None, None) => None,
        }
    };
    if let Some(session) = ended {
        tracing::debug!(
            user = session.sign_in.user.login(),
            "mock identity ends a session"
        );
        logout_notification::notify(state, &session).await;
    }
    let mut response = match uri {
        Some(uri) => {
            let reply: Vec<(&str, &str)> = params
                .get("state")
                .map(|s| ("state", s))
                .into_iter()
                .collect();
            redirect(uri, ResponseMode::Query, &reply)
        }
        None => html(StatusCode::OK, SIGNED_OUT_PAGE.to_owned()),
    };
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state.issuer_path, None));
    response
}

/// The client an ID token was issued to: its `aud`, a string or a one-element array.
fn audience(claims: &crate::jwt::Object) -> Option<String> {
    match claims.get("aud")? {
        Value::String(aud) => Some(aud.clone()),
        Value::Array(auds) if auds.len() == 1 => auds[0].as_str().map(str::to_owned),
        _ => None,
    }
}
