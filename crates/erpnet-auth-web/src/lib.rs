//! Sign-in for axum web apps, on [erpnet-auth]: routes for sign-in, callback, sign-out and
//! back-channel logout, sessions in tower-sessions (in memory, or in Redis for several
//! replicas), a layer that requires sign-in, and extractors for the signed-in user and their
//! access token, refreshed once per session however many requests and replicas need it.
//!
//! ```
//! use axum::{Router, response::Html, routing::get};
//! use erpnet_auth_web::{SignedIn, WebSignIn};
//! use erpnet_auth_oidc::{ClientConfig, Discovery};
//! use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, MockIdentity};
//!
//! async fn home(user: Option<SignedIn>) -> Html<String> {
//!     Html(match user {
//!         Some(user) => format!(
//!             "Signed in as {} {}",
//!             user.name.as_deref().unwrap_or(user.subject()),
//!             user.sign_out_form()
//!         ),
//!         None => r#"<a href="/login">Sign in</a>"#.to_owned(),
//!     })
//! }
//!
//! async fn data(user: SignedIn) -> String {
//!     // `user.tokens()` is a TokenSource: hand it to `BearerAuth` to call ERP.net as the user.
//!     format!("data for {}", user.subject())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A mock ERP.net Identity on 127.0.0.1; in production, `Discovery::fetch("myinstance")`.
//! let identity = MockIdentity::start().await;
//! let discovery = Discovery::fetch(&identity.issuer()).await?;
//! let client = ClientConfig::builder(discovery, DEFAULT_CLIENT_ID)
//!     .client_secret(DEFAULT_CLIENT_SECRET)
//!     .build()?;
//! let web = WebSignIn::builder(client, "http://127.0.0.1:8080")
//!     .scopes(["openid", "profile", "offline_access", "read"])
//!     .build()?;
//! assert_eq!(web.redirect_uri().as_str(), "http://127.0.0.1:8080/callback");
//!
//! let app: Router = Router::new()
//!     .route("/", get(home))
//!     .merge(Router::new().route("/data", get(data)).route_layer(web.require_sign_in()))
//!     .merge(web.routes())
//!     .layer(web.layer());
//! // axum::serve(tokio::net::TcpListener::bind("127.0.0.1:8080").await?, app).await?;
//! # let _ = app;
//! # Ok(()) }
//! ```
//!
//! # Routes
//!
//! | route | what it does |
//! |---|---|
//! | `GET /login?return_to=/path` | sends the browser to the provider: PKCE `S256`, `state`, `nonce`; the attempt is kept in the session; `return_to` is honoured only for a path of this site |
//! | `GET /callback` | the redirect URI: checks `state` (it must name an attempt of this session), RFC 9207 `iss`, exchanges the code, validates the ID token (`nonce`, …), reads userinfo where the provider has it, stores the sign-in, gives the session a new id, and returns to `return_to` |
//! | `GET /logout` | a page with the sign-out button |
//! | `POST /logout` | with the session's CSRF token (`csrf` field): removes the sign-in, revokes its refresh token where the provider can (RFC 7009), deletes the session, and sends the browser to the provider's end-session endpoint with `id_token_hint` and `post_logout_redirect_uri` |
//! | `POST /backchannel-logout` | OpenID Connect Back-Channel Logout 1.0: validates the logout token (`typ: logout+jwt`, signature, `iss`, `aud`, `iat`, `events`, no `nonce`, `sid` or `sub`) and ends the sign-ins it names |
//!
//! # Sessions and tokens
//!
//! The cookie carries a tower-sessions session id only: `HttpOnly`, `SameSite=Lax`, `Secure`
//! (with the `__Host-` prefix) except over http on loopback. The session holds the sign-in
//! attempts and the key of the sign-in; the sign-in itself (tokens and claims) lives in a
//! [`SignInStore`], so that the app's own writes to the session can never put back a stale
//! refresh token. [`MemorySignInStore`] and tower-sessions' memory store serve one process;
//! with the `redis` feature, `WebSignInBuilder::redis` puts both in Redis for several
//! replicas.
//!
//! # One refresh per session
//!
//! [`UserTokens`] hands out the user's access token and refreshes it when it is due with the
//! rotating refresh token, once: in a replica, every request that needs the refresh waits for
//! the one in flight (on its own task: a request that goes away cancels nothing); across
//! replicas, the refresh runs under a lock in the store (Redis: `SET NX PX` with a random
//! token, released by a compare-and-delete script), and a replica that waited reads the
//! refreshed tokens instead of refreshing again. ERP.net revokes the whole grant when a
//! rotated refresh token is reused; this is what keeps that from happening. A refreshed
//! sign-in is saved before its token is handed out; if the save fails the replica keeps the
//! new tokens, serves them, and saves them in the background while it keeps the lock. The
//! provider's `invalid_grant` ends the sign-in: the next request is signed out.
//!
//! Secrets (codes, tokens, session ids, CSRF tokens, the store's keys) are never logged nor
//! shown by `Debug`.
//!
//! [erpnet-auth]: https://docs.rs/erpnet-auth

#![cfg_attr(docsrs, feature(doc_cfg))]

mod backend;
mod config;
mod error;
mod extract;
mod inflight;
mod pages;
mod random;
mod record;
#[cfg(feature = "redis")]
mod redis;
mod refresh;
mod require;
mod return_to;
mod routes;
mod session;
mod store;
mod tokens;

pub use backend::SessionBackend;
pub use config::{DEFAULT_REFRESH_MARGIN, DEFAULT_SESSION_LIFETIME, WebSignIn, WebSignInBuilder};
pub use error::WebError;
pub use extract::SignedIn;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::{Redis, RedisSignInStore};
pub use require::{RequireSignIn, RequireSignInFuture, RequireSignInLayer};
pub use routes::SignInLayer;
pub use store::{LockToken, MemorySignInStore, NewSignIn, SignInStore, StoreError};
pub use tokens::UserTokens;

/// tower-sessions, whose [`Session`](tower_sessions::Session) the app may use for data of
/// its own.
pub use tower_sessions;
