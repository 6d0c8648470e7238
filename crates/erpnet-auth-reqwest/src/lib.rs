//! Attaches ERP.net (OAuth 2.0) access tokens to outgoing [reqwest] requests:
//! the [reqwest-middleware] adapter of [erpnet-auth].
//!
//! ```
//! use erpnet_auth_oidc::{Authority, CachedTokenSource, ClientConfig, ClientCredentials};
//! use erpnet_auth_reqwest::BearerAuth;
//! # use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, MockIdentity};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let identity = MockIdentity::start().await;
//! # let (instance, api) = (identity.issuer(), erp_api().await?);
//! // `instance` is an ERP.net instance name ("myinstance") or an issuer URL;
//! // `api` the origin of its APIs, such as "https://myinstance.my.erp.net".
//! let client = ClientConfig::builder(instance.parse::<Authority>()?, DEFAULT_CLIENT_ID)
//!     .client_secret(DEFAULT_CLIENT_SECRET)
//!     .build()?;
//! let grant = ClientCredentials::builder(client).scopes(["read"]).build()?;
//! let tokens = CachedTokenSource::new(grant); // one per process and identity
//!
//! let auth = BearerAuth::builder(tokens).allow_origin(&api).build()?;
//! let client = auth.client_builder(reqwest::Client::builder())?.build();
//!
//! let response = client
//!     .get(format!("{api}/api/domain/odata/General_Contacts_Persons"))
//!     .send()
//!     .await?;
//! assert_eq!(response.status(), 200); // the API saw `Authorization: Bearer …`
//! # Ok(()) }
//! #
//! # /// A stand-in for the instance's API on 127.0.0.1: 200 with a bearer token, 401 without.
//! # async fn erp_api() -> std::io::Result<String> {
//! #     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! #     let origin = format!("http://{}", listener.local_addr()?);
//! #     let app = axum::Router::new().fallback(|headers: axum::http::HeaderMap| async move {
//! #         let bearer = headers.get("authorization").is_some_and(|v| v.as_bytes().starts_with(b"Bearer ey"));
//! #         if bearer { axum::http::StatusCode::OK } else { axum::http::StatusCode::UNAUTHORIZED }
//! #     });
//! #     tokio::spawn(async move { axum::serve(listener, app).await });
//! #     Ok(origin)
//! # }
//! ```
//!
//! # The rules
//!
//! - **Where the token goes**: only to the origins given to
//!   [`BearerAuthBuilder::allow_origin`] (scheme, host and port;
//!   `https://host` and `https://host:443` are one origin). Requests to any
//!   other origin go out without a token, and cause no token request.
//! - **https only**: an allowed origin must be `https`, or plain `http` to a
//!   loopback address (`127.0.0.0/8`, `[::1]`, `localhost`) for local tests.
//!   [`BearerAuthBuilder::build`] refuses anything else, and a middleware
//!   that allows no origin, with a [`ConfigError`]: a misconfigured
//!   `BearerAuth` never exists, so no request fails for its configuration.
//! - **Redirects never carry a credential out of its origin**: reqwest
//!   follows them inside one call, where no middleware can step in, and drops
//!   only some credential headers (`Authorization`, not `X-Api-Key`) when one
//!   leaves the origin. So `BearerAuth` is not a middleware for any client:
//!   [`BearerAuth::client_builder`] builds the reqwest client (from your
//!   `reqwest::ClientBuilder`) with a redirect policy that follows redirects
//!   only within the origin and hands back the 3xx of the first one that
//!   leaves it. This holds for every request through that client, with a token
//!   or not. A [`SameOriginClient`] shares one such client among many
//!   `BearerAuth` (one per user).
//! - **401**: the token is reported to [`TokenSource::report_rejected`] and the
//!   request is sent once more with a new token, if it can be cloned (a
//!   streaming body cannot: its 401 comes back unchanged) and the source has a
//!   different token. At most one retry per request; a 401 whose
//!   `WWW-Authenticate: Bearer` challenge names an error other than
//!   `invalid_token` is returned at once, as a new token would not help.
//!   Behind a [`CachedTokenSource`](erpnet_auth_core::CachedTokenSource), any
//!   number of concurrent 401s for one token cause one token request.
//! - **Requests with credentials of their own** (an `Authorization` or
//!   `X-Api-Key` header) are left alone.
//! - **Per request**: the [`SkipAuth`] extension sends a request without a
//!   token; a [`TokenHeader`] extension picks the header for that request.
//! - **No token, no request**: when the source cannot give a token, the request
//!   is not sent. The caller gets `reqwest_middleware::Error::Middleware`
//!   holding this crate's [`Error`], which holds the core
//!   [`erpnet_auth_core::Error`] (endpoint, reason, transient or not), never a
//!   secret:
//!
//! ```
//! # async fn demo(client: reqwest_middleware::ClientWithMiddleware) {
//! match client.get("https://myinstance.my.erp.net/api/domain/odata/").send().await {
//!     Ok(response) => println!("HTTP {}", response.status()),
//!     Err(error) => match erpnet_auth_reqwest::Error::downcast(&error) {
//!         Some(auth) if auth.is_transient() => eprintln!("no token yet, retry later: {auth}"),
//!         Some(auth) => eprintln!("check the configuration: {auth}"),
//!         None => eprintln!("request failed: {error}"),
//!     },
//! }
//! # }
//! ```
//!
//! `tracing`: a debug event with `token_attached = true` for each request that
//! gets a token, an info event with `refreshed_after_401 = true` for each retry;
//! never a token.
//!
//! # ERP.net's rate limits: [`SessionPacing`]
//!
//! ERP.net opens a server session at a token's first use and allows it 1
//! request at a time (5 more wait on the server, the rest get 429), 600 a
//! minute, and 2 requests at a time per site. [`SessionPacing`], placed after
//! `BearerAuth`, keeps those limits on the client with a [`Pacer`]: requests
//! wait their turn in a local queue (bounded, with a time-out that ends in
//! [`Error::Pacing`]), and a
//! `429` or `503` is retried after its `Retry-After` or a back-off, for
//! idempotent requests whose body can be sent again.
//!
//! ```no_run
//! # fn demo(tokens: erpnet_auth_core::CachedTokenSource<erpnet_auth_oidc::ClientCredentials>) -> Result<(), erpnet_auth_core::ConfigError> {
//! use erpnet_auth_reqwest::{BearerAuth, Pacer, SessionPacing};
//!
//! let pacer = Pacer::erpnet().build()?; // every number can be changed on the builder
//! let client = BearerAuth::builder(tokens)
//!     .allow_origin("https://myinstance.my.erp.net")
//!     .build()?
//!     .client_builder(reqwest::Client::builder())?
//!     .with(SessionPacing::new(pacer.clone()))
//!     .build();
//! // … 32 concurrent GETs through `client`: none gets a 429.
//! println!("{:?}", pacer.stats());
//! # let _ = client; Ok(()) }
//! ```
//!
//! [reqwest]: https://docs.rs/reqwest
//! [reqwest-middleware]: https://docs.rs/reqwest-middleware
//! [erpnet-auth]: https://docs.rs/erpnet-auth

#![cfg_attr(docsrs, feature(doc_cfg))]

mod bearer_auth;
mod challenge;
mod error;
// The challenge reader for the fuzz targets in `fuzz/`: not API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod header;
mod origin;
mod redirect;
mod session_pacing;
mod skip_auth;

pub use bearer_auth::{BearerAuth, BearerAuthBuilder};
pub use error::Error;
pub use header::TokenHeader;
pub use redirect::SameOriginClient;
pub use session_pacing::SessionPacing;
pub use skip_auth::SkipAuth;

#[doc(no_inline)]
pub use erpnet_auth_core::pacing::{Pacer, PacerStats, PacingError};
#[doc(no_inline)]
pub use erpnet_auth_core::{ConfigError, TokenSource};
