//! `GET {issuer}/connect/authorize`: the authorization code flow's front half. The user signs
//! in without a UI, or through the sign-in page when the mock has one (`sign_in_page`); either
//! way the browser gets a session cookie, so a second authorization request (from another
//! client, say) signs the same session in at once (single sign-on).
//!
//! The client and its `redirect_uri` are checked first; when either fails the answer is a
//! `400` error page, never a redirect. Every later error, and success, redirects to the
//! `redirect_uri` with `state` and `iss` (RFC 9207).

use axum::http::{HeaderMap, header};
use axum::response::Response;

use crate::backchannel::OAuthError;
use crate::client::{AUTHORIZATION_CODE, Client};
use crate::front_channel::{ResponseMode, error_page, query_params, redirect};
use crate::jwt::{self, SignIn};
use crate::keys::random_hex;
use crate::params::Params;
use crate::sign_in_page;
use crate::state::Shared;
use crate::store::{AuthorizationCode, Grant};
use crate::user_grants::{OPENID, is_pkce_value};
use crate::user_session::{session_cookie, session_handle};

/// Scopes that describe the user and need `openid` beside them.
const IDENTITY_SCOPES: [&str; 1] = ["profile"];

/// An error to send back to the client: the OAuth code and maybe a description.
struct Refused {
    error: String,
    description: Option<&'static str>,
}

impl From<OAuthError> for Refused {
    fn from(error: OAuthError) -> Refused {
        Refused {
            error: error.code.to_owned(),
            description: error.description,
        }
    }
}

fn refused(code: &'static str, description: &'static str) -> Refused {
    OAuthError::described(code, description).into()
}

/// What a valid request leads to.
enum Authorized {
    /// A code for the client: `(code, scope)`, and the cookie handle of a session opened now.
    Code(String, String, Option<String>),
    /// The sign-in page, since no session is open and the mock has one.
    SignInPage,
}

/// Handles an authorization request. `injected` is an error a test queued for this request
/// (`Failure::OAuthError`): it is sent once the client and redirect URI are known good and
/// the request is otherwise valid, as if the user had refused.
pub(crate) fn handle(
    state: &Shared,
    query: Option<&str>,
    headers: &HeaderMap,
    injected: Option<String>,
) -> Response {
    let params = match query_params(query) {
        Ok(params) => params,
        Err(description) => return error_page("invalid_request", description),
    };
    let Some(client) = params.get("client_id").map(|id| state.client(id)) else {
        return error_page("invalid_request", "client_id is missing");
    };
    let Some(client) = client else {
        return error_page("unauthorized_client", "unknown client");
    };
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return error_page("invalid_request", "redirect_uri is missing");
    };
    if !is_registered_redirect(&client, redirect_uri) {
        return error_page(
            "invalid_request",
            "redirect_uri is not registered for this client",
        );
    }
    let mode = match params.get("response_mode") {
        Some("fragment") => ResponseMode::Fragment,
        _ => ResponseMode::Query,
    };
    let issuer = state.issuer();
    let handle = session_handle(headers);
    let outcome = authorize(state, &client, &params, redirect_uri, handle, injected);
    let mut reply: Vec<(&str, &str)> = Vec::with_capacity(5);
    let mut opened = None;
    match &outcome {
        Ok(Authorized::SignInPage) => {
            return sign_in_page::page(
                state,
                query.unwrap_or_default(),
                params.get("login_hint"),
                None,
            );
        }
        Ok(Authorized::Code(code, scope, new_session)) => {
            reply.push(("code", code));
            reply.push(("scope", scope));
            opened = new_session.as_deref();
        }
        Err(refusal) => {
            reply.push(("error", &refusal.error));
            if let Some(description) = refusal.description {
                reply.push(("error_description", description));
            }
        }
    }
    if let Some(client_state) = params.get("state") {
        reply.push(("state", client_state));
    }
    reply.push(("iss", issuer));
    let mut response = redirect(redirect_uri, mode, &reply);
    if let Some(handle) = opened {
        response.headers_mut().insert(
            header::SET_COOKIE,
            session_cookie(&state.issuer_path, Some(handle)),
        );
    }
    response
}

/// Validates the rest of the request, signs the user in (the browser's session, or a new one)
/// and issues a code, or asks for the sign-in page.
fn authorize(
    state: &Shared,
    client: &Client,
    params: &Params,
    redirect_uri: &str,
    handle: Option<String>,
    injected: Option<String>,
) -> Result<Authorized, Refused> {
    if params.get("request").is_some() {
        return Err(refused(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if params.get("request_uri").is_some() {
        return Err(refused(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    match params.get("response_type") {
        None => return Err(refused("invalid_request", "response_type is missing")),
        Some("code") => {}
        Some(_) => {
            return Err(refused(
                "unsupported_response_type",
                "only response_type=code is supported",
            ));
        }
    }
    match params.get("response_mode") {
        None | Some("query" | "fragment") => {}
        Some(_) => {
            return Err(refused(
                "invalid_request",
                "response_mode must be query or fragment",
            ));
        }
    }
    if !client.allows_grant(AUTHORIZATION_CODE) {
        return Err(refused(
            "unauthorized_client",
            "the client may not use the authorization code flow",
        ));
    }
    let scopes = requested_scopes(client, params.get("scope"))?;
    let code_challenge = code_challenge(client, params)?;
    let prompts: Vec<&str> = params
        .get("prompt")
        .map(|prompt| prompt.split_whitespace().collect())
        .unwrap_or_default();
    if prompts.contains(&"none") && prompts.len() > 1 {
        return Err(refused(
            "invalid_request",
            "prompt=none cannot be combined with other prompts",
        ));
    }
    if let Some(error) = injected {
        return Err(Refused {
            error,
            description: None,
        });
    }
    let hint = params.get("login_hint");
    // The browser's session signs in at once, unless the request asks for a fresh sign-in or
    // names another user.
    let existing = handle
        .filter(|_| !prompts.contains(&"login"))
        .and_then(|handle| {
            let session = state.sessions().get(&handle)?.clone();
            hint.is_none_or(|login| session.sign_in.user.login == login)
                .then_some((handle, session.sign_in))
        });
    let (handle, sign_in, opened) = match existing {
        Some((handle, sign_in)) => (handle, sign_in, false),
        None if state.has_sign_in_page() => {
            if prompts.contains(&"none") {
                return Err(refused("login_required", "the user is not signed in"));
            }
            return Ok(Authorized::SignInPage);
        }
        None => {
            let user = match hint {
                Some(login) => state.user(login).ok_or_else(|| {
                    refused("access_denied", "login_hint names no registered user")
                })?,
                None => state
                    .first_user()
                    .ok_or_else(|| refused("access_denied", "no user is registered"))?,
            };
            tracing::debug!(
                client_id = client.id(),
                user = user.login(),
                "mock identity signs a user in"
            );
            let sign_in = SignIn {
                user,
                sid: random_hex(16),
                auth_time: jwt::now(),
            };
            let handle = state.sessions().start(sign_in.clone());
            (handle, sign_in, true)
        }
    };
    state.sessions().add_client(&handle, client.id());

    let now = jwt::now();
    let refresh_lifetime =
        i64::try_from(client.refresh_token_lifetime.as_secs()).unwrap_or(i64::MAX);
    let grant = Grant::new(
        client.id().to_owned(),
        sign_in,
        scopes.clone(),
        now.saturating_add(refresh_lifetime),
    );
    // IdentityServer's handles: 32 random bytes, 64 uppercase hex characters.
    let code = random_hex(32);
    let entry = |grant_id| {
        AuthorizationCode::new(
            grant_id,
            client.id().to_owned(),
            redirect_uri.to_owned(),
            code_challenge.map(str::to_owned),
            params.get("nonce").map(str::to_owned),
            now.saturating_add(state.code_lifetime_secs()),
        )
    };
    let mut store = state.store();
    let grant_id = store.start_grant(grant);
    store.insert_code(code.clone(), entry(grant_id));
    Ok(Authorized::Code(
        code,
        scopes.join(" "),
        opened.then_some(handle),
    ))
}

/// The scopes asked for: each one the client may request, `profile` only beside `openid`.
fn requested_scopes(client: &Client, scope: Option<&str>) -> Result<Vec<String>, Refused> {
    let Some(scope) = scope else {
        return Err(refused("invalid_request", "scope is missing"));
    };
    let mut scopes: Vec<String> = Vec::new();
    for scope in scope.split_whitespace() {
        if !client.allows_scope(scope) {
            return Err(refused(
                "invalid_scope",
                "a scope is not allowed for this client",
            ));
        }
        if !scopes.iter().any(|known| known == scope) {
            scopes.push(scope.to_owned());
        }
    }
    let has = |wanted: &str| scopes.iter().any(|scope| scope == wanted);
    if IDENTITY_SCOPES.iter().any(|scope| has(scope)) && !has(OPENID) {
        return Err(refused(
            "invalid_scope",
            "identity scopes need the openid scope",
        ));
    }
    Ok(scopes)
}

/// The PKCE challenge: required for public clients (and confidential ones that say so), and
/// only ever `S256`.
fn code_challenge<'a>(client: &Client, params: &'a Params) -> Result<Option<&'a str>, Refused> {
    let Some(challenge) = params.get("code_challenge") else {
        return if client.pkce_required() {
            Err(refused("invalid_request", "code_challenge is required"))
        } else {
            Ok(None)
        };
    };
    match params.get("code_challenge_method") {
        Some("S256") => {}
        None | Some("plain") => {
            return Err(refused(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not allowed)",
            ));
        }
        Some(_) => {
            return Err(refused(
                "invalid_request",
                "code_challenge_method is not supported",
            ));
        }
    }
    if !is_pkce_value(challenge) {
        return Err(refused(
            "invalid_request",
            "code_challenge must be 43 to 128 unreserved characters",
        ));
    }
    Ok(Some(challenge))
}

/// Whether `requested` is one of the client's redirect URIs: exactly, or for a public client
/// a loopback URI on the same address and path with any port (RFC 8252 §7.3).
pub(crate) fn is_registered_redirect(client: &Client, requested: &str) -> bool {
    client.redirect_uris().iter().any(|registered| {
        registered == requested
            || (client.is_public()
                && loopback(registered).is_some_and(|known| loopback(requested) == Some(known)))
    })
}

/// `(address, rest)` of an `http` loopback URI with the port taken out, e.g.
/// `http://127.0.0.1:8080/cb?x` → `("127.0.0.1", "/cb?x")`.
fn loopback(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let (host, rest) = ["127.0.0.1", "[::1]"]
        .into_iter()
        .find_map(|host| Some((host, rest.strip_prefix(host)?)))?;
    let rest = match rest.strip_prefix(':') {
        Some(port_and_rest) => {
            let digits = port_and_rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(port_and_rest.len());
            port_and_rest[..digits].parse::<u16>().ok()?;
            &port_and_rest[digits..]
        }
        None => rest,
    };
    (rest.is_empty() || rest.starts_with(['/', '?'])).then_some((host, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_uris_lose_their_port() {
        assert_eq!(
            loopback("http://127.0.0.1:51234/callback"),
            Some(("127.0.0.1", "/callback"))
        );
        assert_eq!(
            loopback("http://127.0.0.1/callback"),
            Some(("127.0.0.1", "/callback"))
        );
        assert_eq!(
            loopback("http://[::1]:80/cb?x=1"),
            Some(("[::1]", "/cb?x=1"))
        );
        assert_eq!(loopback("http://127.0.0.1"), Some(("127.0.0.1", "")));
        assert_eq!(loopback("http://127.0.0.1:/cb"), None);
        assert_eq!(loopback("http://127.0.0.1:99999/cb"), None);
        assert_eq!(loopback("http://127.0.0.10/cb"), None);
        assert_eq!(loopback("http://127.0.0.1.evil.example/cb"), None);
        assert_eq!(loopback("https://127.0.0.1/cb"), None);
        assert_eq!(loopback("http://localhost:80/cb"), None);
    }

    #[test]
    fn any_port_matches_only_for_public_clients_on_the_same_address_and_path() {
        let public = Client::public("app").redirect_uri("http://127.0.0.1/callback");
        assert!(is_registered_redirect(&public, "http://127.0.0.1/callback"));
        assert!(is_registered_redirect(
            &public,
            "http://127.0.0.1:4711/callback"
        ));
        assert!(!is_registered_redirect(
            &public,
            "http://127.0.0.1:4711/other"
        ));
        assert!(!is_registered_redirect(
            &public,
            "http://[::1]:4711/callback"
        ));
        assert!(!is_registered_redirect(
            &public,
            "http://127.0.0.1:4711/callback/"
        ));
        let confidential = Client::new("web", "s").redirect_uri("http://127.0.0.1:8080/cb");
        assert!(is_registered_redirect(
            &confidential,
            "http://127.0.0.1:8080/cb"
        ));
        assert!(!is_registered_redirect(
            &confidential,
            "http://127.0.0.1:8081/cb"
        ));
    }
}
