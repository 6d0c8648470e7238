//! A small web app signed in through `erpnet_auth::web`, served on 127.0.0.1 for the
//! behaviour tests: `/` says who is signed in, `/data` (behind `RequireSignInLayer`) answers
//! a fingerprint of the user's access token, `/api/me` answers the user's claims as JSON.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use erpnet_auth::web::{
    LockToken, MemorySignInStore, NewSignIn, SignInStore, SignedIn, StoreError, WebSignIn,
    WebSignInBuilder,
};
use erpnet_auth::{ClientConfig, Discovery, Error, TokenSource, Url, async_trait};
use erpnet_auth_testkit::{Client, MockIdentity};
use http::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The web app's client at the mock.
pub(crate) const WEB_CLIENT_ID: &str = "my.web.app";
/// Its secret.
pub(crate) const WEB_CLIENT_SECRET: &str = "web-app-s3cret-value";

/// The web app as registered at the mock for `public_url`: the redirect, post-logout and
/// back-channel logout URIs made from it.
pub(crate) fn web_client(public_url: &str) -> Client {
    Client::new(WEB_CLIENT_ID, WEB_CLIENT_SECRET)
        .grant_types(["authorization_code"])
        .scopes(["openid", "profile", "offline_access", "read", "update"])
        .redirect_uri(format!("{public_url}/callback"))
        .post_logout_redirect_uri(format!("{public_url}/"))
        .backchannel_logout_uri(format!("{public_url}/backchannel-logout"))
}

/// The sign-in of the web app at `identity`, for `public_url`, not built yet.
pub(crate) async fn web_sign_in(identity: &MockIdentity, public_url: &str) -> WebSignInBuilder {
    let discovery = Discovery::fetch(&identity.issuer())
        .await
        .expect("discovery");
    let client = ClientConfig::builder(discovery, WEB_CLIENT_ID)
        .client_secret(WEB_CLIENT_SECRET)
        .build()
        .expect("web client");
    WebSignIn::builder(client, public_url).scopes(["openid", "profile", "offline_access", "read"])
}

/// A listener on a free port of 127.0.0.1, and the app's URL on it.
pub(crate) async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    (listener, url)
}

/// The app, served until dropped.
pub(crate) struct TestApp {
    pub(crate) url: Url,
    task: JoinHandle<()>,
}

impl TestApp {
    /// `path` on the app.
    pub(crate) fn at(&self, path: &str) -> Url {
        self.url.join(path).expect("a path of the app")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves the test app with `web` on `listener`.
pub(crate) fn serve(listener: TcpListener, web: &WebSignIn) -> TestApp {
    let url =
        Url::parse(&format!("http://{}/", listener.local_addr().expect("addr"))).expect("url");
    let app = Router::new()
        .route("/", get(home))
        .route("/api/me", get(me))
        .merge(
            Router::new()
                .route("/data", get(data))
                .route_layer(web.require_sign_in()),
        )
        .merge(web.routes())
        .layer(web.layer());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    TestApp { url, task }
}

async fn home(user: Option<SignedIn>) -> Html<String> {
    Html(match user {
        Some(user) => format!(
            "<p>Signed in as {}</p>{}",
            user.name.as_deref().unwrap_or(user.subject()),
            user.sign_out_form()
        ),
        None => "<a href=\"/login\">Sign in</a>".to_owned(),
    })
}

async fn me(user: SignedIn) -> Json<serde_json::Value> {
    Json(json!({ "subject": user.subject(), "claims": user.claims() }))
}

async fn data(user: SignedIn) -> Response {
    match user.tokens().token().await {
        Ok(token) => Json(json!({
            "subject": user.subject(),
            "token": fingerprint(token.expose_secret()),
        }))
        .into_response(),
        Err(error @ Error::SignInAgain { .. }) => {
            (StatusCode::UNAUTHORIZED, error.to_string()).into_response()
        }
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response(),
    }
}

/// A short, non-secret stand-in for a token: the start of its SHA-256, in hex.
pub(crate) fn fingerprint(token: &str) -> String {
    digest(&SHA256, token.as_bytes()).as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A sign-in store in memory whose updates fail while told to, and which remembers every
/// value written (the sign-ins, with their tokens).
#[derive(Clone, Default)]
pub(crate) struct TestStore {
    inner: Arc<MemorySignInStore>,
    failing: Arc<Mutex<bool>>,
    written: Arc<Mutex<Vec<String>>>,
}

impl TestStore {
    pub(crate) fn fail_updates(&self, failing: bool) {
        *self.failing.lock().expect("lock") = failing;
    }

    /// Every value written so far: inserted sign-ins and refreshed ones.
    pub(crate) fn written(&self) -> Vec<String> {
        self.written.lock().expect("lock").clone()
    }
}

#[async_trait]
impl SignInStore for TestStore {
    async fn insert(&self, key: &str, sign_in: NewSignIn<'_>) -> Result<(), StoreError> {
        self.written
            .lock()
            .expect("lock")
            .push(sign_in.value.expose_secret().to_owned());
        self.inner.insert(key, sign_in).await
    }
    async fn load(&self, key: &str) -> Result<Option<SecretString>, StoreError> {
        self.inner.load(key).await
    }
    async fn update(&self, key: &str, value: &SecretString) -> Result<bool, StoreError> {
        if *self.failing.lock().expect("lock") {
            return Err(StoreError("the store is down (test)".into()));
        }
        self.written
            .lock()
            .expect("lock")
            .push(value.expose_secret().to_owned());
        self.inner.update(key, value).await
    }
    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.inner.remove(key).await
    }
    async fn find(
        &self,
        subject: Option<&str>,
        sid: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        self.inner.find(subject, sid).await
    }
    async fn lock(&self, key: &str, ttl: Duration) -> Result<Option<LockToken>, StoreError> {
        self.inner.lock(key, ttl).await
    }
    async fn extend_lock(
        &self,
        key: &str,
        token: &LockToken,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.inner.extend_lock(key, token, ttl).await
    }
    async fn unlock(&self, key: &str, token: &LockToken) -> Result<(), StoreError> {
        self.inner.unlock(key, token).await
    }
}
