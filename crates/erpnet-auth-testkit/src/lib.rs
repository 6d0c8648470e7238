//! An in-process mock of ERP.net Identity (an IdentityServer4-based OAuth 2.0 / OpenID
//! Connect provider), for tests and local development.
//!
//! ```
//! use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Endpoint, MockIdentity};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> std::io::Result<()> {
//!     let idp = MockIdentity::start().await;
//!     println!("authority: {}", idp.issuer()); // http://127.0.0.1:PORT/id
//!
//!     // A client-credentials request as any HTTP client sends it (client_secret_post).
//!     let form = form_urlencoded::Serializer::new(String::new())
//!         .append_pair("grant_type", "client_credentials")
//!         .append_pair("client_id", DEFAULT_CLIENT_ID) // "my.trusted.app/first"
//!         .append_pair("client_secret", DEFAULT_CLIENT_SECRET)
//!         .append_pair("scope", "read")
//!         .finish();
//!     let mut stream = tokio::net::TcpStream::connect(idp.addr()).await?;
//!     let request = format!(
//!         "POST /id/connect/token HTTP/1.1\r\nHost: {}\r\n\
//!          Content-Type: application/x-www-form-urlencoded\r\n\
//!          Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
//!         idp.addr(),
//!         form.len(),
//!     );
//!     stream.write_all(request.as_bytes()).await?;
//!     let mut response = String::new();
//!     stream.read_to_string(&mut response).await?;
//!     assert!(response.starts_with("HTTP/1.1 200 OK"));
//!     assert!(response.contains(r#""token_type":"Bearer""#));
//!     assert!(response.contains(r#""scope":"read""#));
//!     assert_eq!(idp.requests(Endpoint::Token), 1);
//!
//!     // A token for an API under test, without going through HTTP.
//!     let token = idp.access_token_for(DEFAULT_CLIENT_ID, &["read", "update"]);
//!     println!("Authorization: Bearer {token}");
//!     Ok(())
//! }
//! ```
//!
//! What the mock does, as ERP.net does:
//! - discovery at `{issuer}/.well-known/openid-configuration` (an IdentityServer4 document)
//!   and the JWKS at `{issuer}/.well-known/openid-configuration/jwks` (RSA keys, uppercase hex
//!   kids);
//! - `POST {issuer}/connect/token` with `grant_type=client_credentials`, authenticated with
//!   `client_secret_post` or `client_secret_basic` (id and secret form-urlencoded before
//!   base64, RFC 6749 §2.3.1); errors answer `400 {"error":…}`;
//! - access tokens signed RS256 with header `typ: at+jwt`, `aud` an array, `scope` a JSON
//!   array, and the `client_*` claims of ERP.net service tokens.
//!
//! What tests can do to it: register [`Client`]s, queue [`Failure`]s per [`Endpoint`]
//! ([`MockIdentity::fail_next`]), count requests, rotate keys ([`MockIdentity::rotate_keys`]),
//! change the token lifetime, inspect the last token request
//! ([`MockIdentity::last_token_request`]), and mint arbitrary tokens ([`TokenSpec`]) to check
//! that a validator rejects them.
//!
//! The mock is a test oracle: it shares no protocol code with `erpnet-auth-core`, so a
//! misreading of a specification there cannot hide behind the same misreading here. It signs
//! with keys of its own (RSA 2048, generated with aws-lc-rs) through `jsonwebtoken`.
//!
//! Every request is logged with `tracing` at debug level (method, path, status); secrets and
//! tokens never are.

mod api_resource;
mod authorize;
mod backchannel;
mod client;
mod discovery;
mod end_session;
mod failure;
mod front_channel;
mod introspection;
mod jwt;
mod keys;
mod revocation;
mod server;
mod store;
mod token_endpoint;
mod token_spec;
mod user;
mod user_grants;

pub use api_resource::{ApiResource, DEFAULT_RESOURCE_ID, DEFAULT_RESOURCE_SECRET};
pub use backchannel::AuthMethodUsed;
pub use client::{
    AccessTokenType, Client, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
    DEFAULT_POST_LOGOUT_REDIRECT_URI, DEFAULT_PUBLIC_CLIENT_ID, DEFAULT_REDIRECT_URI,
    DEFAULT_SYSTEM_USER,
};
pub use failure::{Endpoint, Failure};
pub use server::{MockIdentity, MockIdentityBuilder, OldKey};
pub use token_endpoint::TokenRequestRecord;
pub use token_spec::{Alg, TokenSpec};
pub use user::{DEFAULT_USER, User, UserType};
