//! The sign-in page, for browser tests: `GET {issuer}/connect/authorize` shows an HTML form
//! (login and password) when no session of the mock is open in the browser, and
//! `POST {issuer}/account/login` checks it, opens a session (its cookie) and sends the browser
//! back to the authorization endpoint, which then redirects to the client with a code, as
//! IdentityServer does. Only with [`MockIdentityBuilder::sign_in_page`](crate::MockIdentityBuilder::sign_in_page).

use axum::http::{StatusCode, header};
use axum::response::Response;

use crate::backchannel::FormRequest;
use crate::discovery::AUTHORIZE_PATH;
use crate::front_channel::{ResponseMode, error_page, escape_html, html, redirect};
use crate::jwt::{self, SignIn};
use crate::keys::random_hex;
use crate::state::Shared;
use crate::user_session::session_cookie;

/// The path of the form's target below the issuer.
pub(crate) const LOGIN_PATH: &str = "/account/login";

/// The sign-in form for the authorization request `query`, with `login` filled in and an
/// error message if the last attempt failed.
pub(crate) fn page(
    state: &Shared,
    query: &str,
    login: Option<&str>,
    error: Option<&str>,
) -> Response {
    let error = error
        .map(|error| {
            format!(
                "<p id=\"error\" role=\"alert\">{}</p>\n",
                escape_html(error)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>\n\
         <h1>Sign in</h1>\n<p>to {issuer}</p>\n{error}\
         <form method=\"post\" action=\"{action}\">\n\
         <input type=\"hidden\" name=\"return\" value=\"{query}\">\n\
         <label>Username <input id=\"username\" name=\"username\" autocomplete=\"username\" value=\"{login}\"></label>\n\
         <label>Password <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\"></label>\n\
         <button id=\"sign-in\" type=\"submit\">Sign in</button>\n\
         </form>\n</body></html>\n",
        issuer = escape_html(state.issuer()),
        action = escape_html(&format!("{}{LOGIN_PATH}", state.issuer_path)),
        query = escape_html(query),
        login = escape_html(login.unwrap_or_default()),
    );
    html(StatusCode::OK, body)
}

/// Checks a submitted form: a wrong login or password shows the form again; a right one opens
/// a session and redirects to the authorization endpoint with the original request, less its
/// `prompt` (the user has just signed in).
pub(crate) fn submit(state: &Shared, request: FormRequest) -> Response {
    let Ok(form) = request.form else {
        return error_page("invalid_request", "expected the sign-in form");
    };
    let query = form.get("return").unwrap_or_default();
    let login = form.get("username");
    let user = login
        .and_then(|login| state.user(login))
        .filter(|user| form.get("password") == Some(user.password.as_str()));
    let Some(user) = user else {
        tracing::debug!("mock identity refuses a sign-in: wrong login or password");
        return page(state, query, login, Some("Invalid username or password"));
    };
    tracing::debug!(
        user = user.login(),
        "mock identity signs a user in with its form"
    );
    let sign_in = SignIn {
        user,
        sid: random_hex(16),
        auth_time: jwt::now(),
    };
    let handle = state.sessions().start(sign_in);
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| name != "prompt")
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let authorize = format!("{}{AUTHORIZE_PATH}", state.issuer());
    let mut response = redirect(&authorize, ResponseMode::Query, &pairs);
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&state.issuer_path, Some(&handle)),
    );
    response
}
