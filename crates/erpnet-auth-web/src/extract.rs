//! The extractors: [`SignedIn`] (who is signed in, with their claims typed) and
//! [`UserTokens`] (their access token), and the answer a request gets when nobody is.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tower_sessions::Session;

use erpnet_auth_oidc::ErpNetClaims;

use crate::config::WebSignIn;
use crate::error::WebError;
use crate::pages;
use crate::record::{SignInRecord, unix_now};
use crate::session::SessionState;
use crate::tokens::UserTokens;

/// The sign-in of a request's session, once looked up (kept in the request's extensions so
/// that the layer and the extractors look it up once).
#[derive(Clone)]
pub(crate) struct Current {
    pub(crate) key: String,
    pub(crate) csrf: String,
    pub(crate) record: SignInRecord,
}

/// The signed-in user, with their claims as `T`: [`ErpNetClaims`] by default (`name`,
/// `email`, `id`, `user_type`, `is_admin`, …), or any `Deserialize` type of yours. The
/// claims are the ID token's, with the provider's userinfo answer over them.
///
/// As an extractor it answers a request without a sign-in as
/// [`RequireSignIn`](crate::RequireSignIn) does (a browser is sent to sign in, a JSON client
/// gets 401); `Option<SignedIn<T>>` is `None` instead. Needs [`WebSignIn::layer`] around the
/// router.
pub struct SignedIn<T = ErpNetClaims> {
    user: T,
    claims: Map<String, Value>,
    subject: String,
    csrf: String,
    logout_action: String,
    tokens: UserTokens,
}

impl<T> SignedIn<T> {
    /// `sub`: who signed in (ERP.net: the login name).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Every claim of the user, as JSON.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The user's access token, refreshed as needed, to call APIs as the user.
    pub fn tokens(&self) -> UserTokens {
        self.tokens.clone()
    }

    /// This session's CSRF token: the sign-out form must send it as the `csrf` field.
    pub fn csrf_token(&self) -> &str {
        &self.csrf
    }

    /// A sign-out button: an HTML form that POSTs the CSRF token to the sign-out route.
    pub fn sign_out_form(&self) -> String {
        pages::sign_out_form(&self.logout_action, &self.csrf)
    }

    /// The claims, typed.
    pub fn into_inner(self) -> T {
        self.user
    }
}

impl<T> Deref for SignedIn<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.user
    }
}

impl<T: fmt::Debug> fmt::Debug for SignedIn<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedIn")
            .field("subject", &self.subject)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl<S, T> FromRequestParts<S> for SignedIn<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        let (web, current) = resolve(parts).await.map_err(IntoResponse::into_response)?;
        match current {
            Some(current) => signed_in(&web, &current).map_err(IntoResponse::into_response),
            None => Err(web.sign_in_required(&parts.method, &parts.uri, &parts.headers)),
        }
    }
}

impl<S, T> OptionalFromRequestParts<S> for SignedIn<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Response> {
        let (web, current) = resolve(parts).await.map_err(IntoResponse::into_response)?;
        current
            .map(|current| signed_in(&web, &current))
            .transpose()
            .map_err(IntoResponse::into_response)
    }
}

impl<S> FromRequestParts<S> for UserTokens
where
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        let (web, current) = resolve(parts).await.map_err(IntoResponse::into_response)?;
        match current {
            Some(current) => Ok(UserTokens::new(web, &current.key)),
            None => Err(web.sign_in_required(&parts.method, &parts.uri, &parts.headers)),
        }
    }
}

fn signed_in<T: DeserializeOwned>(
    web: &WebSignIn,
    current: &Current,
) -> Result<SignedIn<T>, WebError> {
    let claims = current.record.claims.clone();
    let user = serde_json::from_value(Value::Object(claims.clone())).map_err(|error| {
        WebError::Internal(format!(
            "the signed-in user's claims do not fit the extractor's type: {error}"
        ))
    })?;
    Ok(SignedIn {
        user,
        claims,
        subject: current.record.subject.clone(),
        csrf: current.csrf.clone(),
        logout_action: web.public_path(&web.inner.paths.logout),
        tokens: UserTokens::new(web.clone(), &current.key),
    })
}

/// The configured sign-in and the request's sign-in, looked up once per request.
pub(crate) async fn resolve(
    parts: &mut Parts,
) -> Result<(WebSignIn, Option<Arc<Current>>), WebError> {
    let web = parts
        .extensions
        .get::<WebSignIn>()
        .cloned()
        .ok_or_else(|| {
            WebError::Internal(
                "no WebSignIn in the request: wrap the router in WebSignIn::layer()".into(),
            )
        })?;
    if let Some(current) = parts.extensions.get::<Option<Arc<Current>>>() {
        return Ok((web, current.clone()));
    }
    let session = parts.extensions.get::<Session>().cloned().ok_or_else(|| {
        WebError::Internal(
            "no session in the request: wrap the router in WebSignIn::layer()".into(),
        )
    })?;
    let current = web.current(&session).await?.map(Arc::new);
    parts.extensions.insert(current.clone());
    Ok((web, current))
}

impl WebSignIn {
    /// The sign-in the session holds, if it is still there. A sign-in that has ended
    /// (signed out elsewhere, refused by the provider, expired) is taken out of the session.
    pub(crate) async fn current(&self, session: &Session) -> Result<Option<Current>, WebError> {
        let mut state = SessionState::load(session).await?;
        let Some(signed_in) = state.signed_in.clone() else {
            return Ok(None);
        };
        match self.load_record(&signed_in.key).await? {
            Some(record) if record.expires_at > unix_now() => Ok(Some(Current {
                key: signed_in.key,
                csrf: signed_in.csrf,
                record,
            })),
            _ => {
                state.signed_in = None;
                state.save(session).await?;
                Ok(None)
            }
        }
    }

    /// The answer to a request that needs a sign-in and has none: a browser asking for a
    /// page (GET or HEAD, `Accept: text/html`) is sent to the sign-in route, which brings it
    /// back here; anything else (`Accept: application/json`, an API client) gets 401.
    pub(crate) fn sign_in_required(
        &self,
        method: &Method,
        uri: &http::Uri,
        headers: &HeaderMap,
    ) -> Response {
        let login = self.public_path(&self.inner.paths.login);
        if wants_html(headers) && (method == Method::GET || method == Method::HEAD) {
            let here = uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| self.public_path(p.as_str()));
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", &here)
                .finish();
            return see_other(&format!("{login}?{query}"));
        }
        let body = serde_json::json!({
            "error": "sign_in_required",
            "error_description": "sign in first",
            "sign_in": login,
        });
        let mut response = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// Whether the request asks for a page rather than data.
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|media| {
            let media = media.split(';').next().unwrap_or_default().trim();
            media.eq_ignore_ascii_case("text/html")
                || media.eq_ignore_ascii_case("application/xhtml+xml")
        })
}

/// `303 See Other` to `location`, not to be cached.
pub(crate) fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    match HeaderValue::from_str(location) {
        Ok(value) => {
            headers.insert(header::LOCATION, value);
        }
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_ask_for_html_and_api_clients_do_not() {
        let accept = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_static(value));
            wants_html(&headers)
        };
        assert!(accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(!accept("application/json"));
        assert!(!accept("*/*"));
        assert!(!wants_html(&HeaderMap::new()));
    }
}
