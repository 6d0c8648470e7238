//! The routes an app mounts ([`WebSignIn::routes`]): sign-in, callback, sign-out and
//! back-channel logout, and the layer that gives every request its session
//! ([`WebSignIn::layer`]).

use std::time::SystemTime;

use axum::extract::{Form, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use http::{HeaderValue, StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tower::layer::util::Stack;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

use erpnet_auth_core::constant_time_eq;
use erpnet_auth_oidc::{PendingAuthorization, PendingParts, SignInError, TokenTypeHint};

use crate::backend::SessionBackend;
use crate::config::WebSignIn;
use crate::error::WebError;
use crate::extract::see_other;
use crate::pages;
use crate::random::random_token;
use crate::record::{SignInRecord, unix_now};
use crate::return_to::same_site;
use crate::session::{PendingSignIn, SessionState, SignedInRef};
use crate::store::NewSignIn;

/// The layer of [`WebSignIn::layer`]: tower-sessions' session manager with this crate's
/// cookie settings, and the [`WebSignIn`] in every request's extensions.
pub type SignInLayer = Stack<Extension<WebSignIn>, SessionManagerLayer<SessionBackend>>;

/// The session cookie's name where it is `Secure`: the `__Host-` prefix makes browsers refuse
/// it unless it is `Secure`, for the whole host (`Path=/`) and without `Domain`.
const SECURE_COOKIE_NAME: &str = "__Host-erpnet-auth";
/// The session cookie's name on a loopback address over plain http.
const LOOPBACK_COOKIE_NAME: &str = "erpnet-auth";

impl WebSignIn {
    /// The routes to merge into the app's router: `GET` sign-in (`?return_to=` a path of
    /// this site), `GET` callback, `GET` and `POST` sign-out (the `POST` needs the session's
    /// CSRF token; the `GET` shows a button), and `POST` back-channel logout.
    pub fn routes<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let paths = &self.inner.paths;
        Router::new()
            .route(&paths.login, get(login))
            .route(&paths.callback, get(callback))
            .route(&paths.logout, get(confirm_logout).post(logout))
            .route(&paths.backchannel_logout, post(backchannel_logout))
            .with_state(self.clone())
    }

    /// The layer to wrap the whole app in (routes included): a tower-sessions session per
    /// browser, in the configured store, with a cookie that is `HttpOnly`, `SameSite=Lax`
    /// (the provider's redirect back is a cross-site navigation), `Secure` with the
    /// `__Host-` prefix except over http on loopback, and that lasts as long as the sign-in.
    /// The cookie holds the session id only; tokens never leave the server.
    pub fn layer(&self) -> SignInLayer {
        let lifetime =
            time::Duration::try_from(self.inner.session_lifetime).unwrap_or(time::Duration::MAX);
        let name = if self.inner.secure_cookie {
            SECURE_COOKIE_NAME
        } else {
            LOOPBACK_COOKIE_NAME
        };
        let sessions = SessionManagerLayer::new(self.inner.sessions.clone())
            .with_name(name)
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_secure(self.inner.secure_cookie)
            .with_path("/")
            .with_expiry(Expiry::OnInactivity(lifetime));
        Stack::new(Extension(self.clone()), sessions)
    }

    /// Starts a sign-in: remembers the attempt in the session and sends the browser to the
    /// provider (PKCE `S256`, `state`, `nonce`).
    async fn start_sign_in(
        &self,
        session: &Session,
        query: Option<&str>,
    ) -> Result<Response, WebError> {
        let requested = query.and_then(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(name, _)| name == "return_to")
                .map(|(_, value)| value.into_owned())
        });
        let return_to = requested
            .and_then(|r| same_site(&r, &self.inner.public_url))
            .unwrap_or_else(|| self.public_path("/"));
        if self.current(session).await?.is_some() {
            return Ok(see_other(&return_to));
        }
        let mut request = self
            .inner
            .flow
            .authorization_request(&self.inner.redirect_uri);
        for resource in &self.inner.resources {
            request = request.resource(resource.clone());
        }
        let pending = request
            .build()
            .map_err(|e| WebError::Internal(e.to_string()))?;
        let url = pending.url().to_string();
        let parts = pending.into_parts();
        let now = unix_now();
        let mut state = SessionState::load(session).await?;
        state.push_pending(
            PendingSignIn {
                state: parts.state.expose_secret().to_owned(),
                nonce: parts.nonce.expose_secret().to_owned(),
                code_verifier: parts.code_verifier.expose_secret().to_owned(),
                redirect_uri: parts.redirect_uri,
                resources: parts.resources,
                return_to,
                started_at: now,
            },
            now,
        );
        state.save(session).await?;
        Ok(see_other(&url))
    }

    /// Completes a sign-in from the provider's redirect: the attempt `state` names, the code
    /// exchange and the ID token (by the flow: `iss`, `nonce`, PKCE), the user's claims, a
    /// new sign-in in the store, and a new session id.
    async fn finish_sign_in(
        &self,
        session: &Session,
        query: Option<&str>,
    ) -> Result<Response, WebError> {
        let mut callback = self.inner.redirect_uri.clone();
        callback.set_query(query);
        let returned_state = callback
            .query_pairs()
            .find(|(name, _)| name == "state")
            .map(|(_, value)| value.into_owned());
        let now = unix_now();
        let mut state = SessionState::load(session).await?;
        let Some(pending) = returned_state.and_then(|s| state.take_pending(&s, now)) else {
            return Err(SignInError::StateMismatch.into());
        };
        // The attempt is used up, whatever comes of it.
        state.save(session).await?;
        let parts = PendingParts::new(
            SecretString::from(pending.state),
            SecretString::from(pending.nonce),
            SecretString::from(pending.code_verifier),
            pending.redirect_uri,
            pending.resources,
        );
        let signed_in = self
            .inner
            .flow
            .complete(PendingAuthorization::from_parts(parts), &callback)
            .await?;
        let id_token = signed_in
            .id_token
            .ok_or_else(|| SignInError::Callback("no ID token came back".into()))?;
        let subject = id_token.subject().to_owned();
        let session_id = id_token
            .claim("sid")
            .and_then(|sid| sid.as_str())
            .map(str::to_owned);
        let mut claims = SignInRecord::user_claims(id_token.claims());
        match self
            .inner
            .flow
            .userinfo(&signed_in.access_token, &id_token)
            .await
        {
            Ok(Some(userinfo)) => claims.extend(userinfo.into_claims()),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, "userinfo failed; the user's claims are the ID token's");
            }
        }
        let lifetime = self.inner.session_lifetime;
        let record = SignInRecord {
            subject,
            session_id,
            claims,
            access_token: signed_in.access_token.expose_secret().to_owned(),
            access_expires_at: signed_in
                .access_token
                .expires_in()
                .map(|left| now.saturating_add(i64::try_from(left.as_secs()).unwrap_or(i64::MAX))),
            scopes: signed_in.access_token.scopes().to_vec(),
            refresh_token: signed_in
                .refresh_token
                .map(|token| token.expose_secret().to_owned()),
            id_token: Some(id_token.expose_secret().to_owned()),
            generation: 0,
            expires_at: now.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)),
        };
        let random = || {
            random_token()
                .ok_or_else(|| WebError::Internal("the random number generator failed".into()))
        };
        let key = random()?;
        let csrf = random()?;
        let value = record.to_secret()?;
        let new = NewSignIn {
            value: &value,
            subject: &record.subject,
            session_id: record.session_id.as_deref(),
            expires_at: SystemTime::now() + lifetime,
        };
        self.inner.store.insert(&key, new).await?;
        if let Some(earlier) = state.signed_in.take() {
            self.inner.store.remove(&earlier.key).await?;
        }
        // A new session id at sign-in: a session id planted before (fixation) is worth nothing.
        session.cycle_id().await.map_err(WebError::session)?;
        state.pending.clear();
        state.signed_in = Some(SignedInRef { key, csrf });
        state.save(session).await?;
        tracing::info!(subject = %record.subject, "user signed in");
        Ok(see_other(&pending.return_to))
    }

    /// Signs out: the sign-in leaves the store (its refresh token revoked where the provider
    /// can), the session is deleted, and the browser goes on to the provider's end-session
    /// endpoint (`id_token_hint`, `post_logout_redirect_uri`), or straight back.
    async fn sign_out(&self, session: &Session, csrf: Option<&str>) -> Result<Response, WebError> {
        let state = SessionState::load(session).await?;
        let Some(signed_in) = state.signed_in else {
            session.flush().await.map_err(WebError::session)?;
            return Ok(see_other(self.inner.post_logout_redirect_uri.as_str()));
        };
        if !csrf.is_some_and(|csrf| constant_time_eq(csrf, &signed_in.csrf)) {
            return Err(WebError::Csrf);
        }
        let record = self.load_record(&signed_in.key).await?;
        self.inner.store.remove(&signed_in.key).await?;
        self.inner.refresher.forget(&signed_in.key);
        session.flush().await.map_err(WebError::session)?;
        let record = record.as_ref();
        if let (Some(revocation), Some(token)) = (
            &self.inner.revocation,
            record.and_then(|r| r.refresh_token.clone()),
        ) && let Err(error) = revocation
            .revoke(&SecretString::from(token), TokenTypeHint::RefreshToken)
            .await
        {
            tracing::warn!(%error, "the refresh token could not be revoked at sign-out");
        }
        tracing::info!(
            subject = record.map(|r| r.subject.as_str()),
            "user signed out"
        );
        let Some(mut end_session) = self.inner.flow.discovery().end_session_endpoint().cloned()
        else {
            return Ok(see_other(self.inner.post_logout_redirect_uri.as_str()));
        };
        {
            let mut query = end_session.query_pairs_mut();
            if let Some(id_token) = record.and_then(|r| r.id_token.as_deref()) {
                query.append_pair("id_token_hint", id_token);
            }
            query.append_pair(
                "post_logout_redirect_uri",
                self.inner.post_logout_redirect_uri.as_str(),
            );
            query.append_pair("client_id", self.inner.flow.client().client_id());
        }
        Ok(see_other(end_session.as_str()))
    }

    /// Ends the sign-ins a valid logout token names (OpenID Connect Back-Channel Logout 1.0).
    async fn back_channel_logout(&self, token: Option<&str>) -> Response {
        let Some(token) = token else {
            return backchannel_error(StatusCode::BAD_REQUEST, "logout_token is missing");
        };
        let logout = match self.inner.flow.validate_logout_token(token).await {
            Ok(logout) => logout,
            Err(error) if error.is_unavailable() => {
                tracing::warn!(%error, "a logout token could not be checked");
                return backchannel_error(StatusCode::SERVICE_UNAVAILABLE, &error.to_string());
            }
            Err(error) => {
                tracing::warn!(%error, "a logout token was refused");
                return backchannel_error(StatusCode::BAD_REQUEST, &error.to_string());
            }
        };
        match self
            .end_sign_ins(logout.subject(), logout.session_id())
            .await
        {
            Ok(ended) => {
                tracing::info!(ended, "back-channel logout");
                let mut response = StatusCode::OK.into_response();
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
            Err(error) => {
                tracing::error!(%error, "back-channel logout failed");
                backchannel_error(StatusCode::SERVICE_UNAVAILABLE, "the sign-in store failed")
            }
        }
    }

    /// Removes the sign-ins of the provider session `session_id` (of `subject`, if named
    /// too), or of every session of `subject`; returns how many ended.
    async fn end_sign_ins(
        &self,
        subject: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<usize, WebError> {
        let mut ended = 0;
        for key in self.inner.store.find(subject, session_id).await? {
            if let Some(subject) = subject
                && let Some(record) = self.load_record(&key).await?
                && record.subject != subject
            {
                continue;
            }
            self.inner.store.remove(&key).await?;
            self.inner.refresher.forget(&key);
            ended += 1;
        }
        Ok(ended)
    }
}

async fn login(
    State(web): State<WebSignIn>,
    session: Session,
    RawQuery(query): RawQuery,
) -> Response {
    web.start_sign_in(&session, query.as_deref())
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn callback(
    State(web): State<WebSignIn>,
    session: Session,
    RawQuery(query): RawQuery,
) -> Response {
    web.finish_sign_in(&session, query.as_deref())
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// `GET` sign-out: a page with the sign-out button (a `GET` never signs out: a link or an
/// image on another site could trigger it), or straight back when nobody is signed in.
async fn confirm_logout(State(web): State<WebSignIn>, session: Session) -> Response {
    match web.current(&session).await {
        Ok(Some(current)) => pages::page(
            StatusCode::OK,
            "Sign out",
            &format!(
                "<h1>Sign out?</h1>\n{}\n",
                pages::sign_out_form(&web.public_path(&web.inner.paths.logout), &current.csrf)
            ),
        ),
        Ok(None) => see_other(web.inner.post_logout_redirect_uri.as_str()),
        Err(error) => error.into_response(),
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    csrf: Option<String>,
}

async fn logout(
    State(web): State<WebSignIn>,
    session: Session,
    Form(form): Form<LogoutForm>,
) -> Response {
    web.sign_out(&session, form.csrf.as_deref())
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

#[derive(Deserialize)]
struct BackchannelForm {
    logout_token: Option<String>,
}

async fn backchannel_logout(
    State(web): State<WebSignIn>,
    Form(form): Form<BackchannelForm>,
) -> Response {
    web.back_channel_logout(form.logout_token.as_deref()).await
}

/// A refused logout request (§2.8): `400` (or `503`) with an OAuth error body.
fn backchannel_error(status: StatusCode, description: &str) -> Response {
    let code = if status == StatusCode::BAD_REQUEST {
        "invalid_request"
    } else {
        "temporarily_unavailable"
    };
    let body = serde_json::json!({ "error": code, "error_description": description });
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
