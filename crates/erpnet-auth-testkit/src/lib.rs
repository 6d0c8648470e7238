//! An in-process mock of ERP.net Identity (an IdentityServer4-based OAuth 2.0 / OpenID
//! Connect provider) and of an instance's Domain API ([`MockDomainApi`], with ERP.net's
//! per-session rate limits), for tests and local development.
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
//!   base64, RFC 6749 §2.3.1), or with `private_key_jwt` by a client registered with its
//!   public keys ([`Client::with_key`]; [`ClientKey`] makes key pairs): the assertion's
//!   signature, `iss`, `sub`, audience, expiry and single-use `jti` are checked; errors
//!   answer `400 {"error":…}`;
//! - access tokens signed RS256 with header `typ: at+jwt`, `aud` an array, `scope` a JSON
//!   array, and the `client_*` claims of ERP.net service tokens.
//!
//! And the interactive half, headless by default so that tests and examples need no browser:
//! - `GET {issuer}/connect/authorize` signs a registered [`User`] in without a UI (the first
//!   one, or the one `login_hint` names) and redirects (`302`) to the client's `redirect_uri`
//!   with `code`, `state` and `iss` (RFC 9207). PKCE `S256` is required for public clients;
//!   a native client's loopback redirect matches on any port (RFC 8252 §7.3). A bad client or
//!   redirect URI gets a `400` page, never a redirect; other errors are redirected. With
//!   [`MockIdentityBuilder::sign_in_page`] a browser without a session gets an HTML sign-in
//!   form instead (login and password, [`DEFAULT_PASSWORD`]), for tests in a real browser.
//!   Either way the browser gets a session cookie: a later request signs in at once;
//! - `GET {issuer}/connect/userinfo` answers the user's claims for their access token;
//! - `POST {issuer}/connect/deviceauthorization` starts the device authorization grant
//!   (RFC 8628): nine-digit user codes, 300 s, interval 5 s; the token endpoint answers
//!   `authorization_pending`, `slow_down` (polled faster than the interval),
//!   `access_denied` or `expired_token` until a test decides with
//!   [`MockIdentity::approve_device`] or [`MockIdentity::deny_device`];
//! - the token endpoint redeems codes once (a replay is `invalid_grant` and revokes what the
//!   code issued), checks `redirect_uri` and `code_verifier`, and issues user access tokens
//!   (ERP.net user claims, `is_admin` and `email_verified` as strings), ID tokens (`nonce`,
//!   `at_hash`, 300 s) and refresh tokens (64 hex characters) that rotate: reusing a rotated
//!   one is `invalid_grant` and revokes the whole sign-in;
//! - `POST {issuer}/connect/introspect` (RFC 7662) for [`ApiResource`]s and confidential
//!   clients, for JWTs and opaque reference tokens (`enrt_…`, ERP.net's PAT/SAT format);
//!   `POST {issuer}/connect/revocation` (RFC 7009); `GET {issuer}/connect/endsession` ends
//!   the user's session (the `id_token_hint`'s `sid`, or the browser's), posts a signed
//!   back-channel logout token to every client of that session that registered a
//!   [`Client::backchannel_logout_uri`], and redirects to a registered post-logout URI with
//!   `state`. [`MockIdentity::sign_out_user`] ends a user's sessions the same way from a test.
//!
//! By default the mock knows a confidential client ([`DEFAULT_CLIENT_ID`]), a public native
//! client ([`DEFAULT_PUBLIC_CLIENT_ID`], redirect [`DEFAULT_REDIRECT_URI`]), a user
//! ([`DEFAULT_USER`]) and an API resource ([`DEFAULT_RESOURCE_ID`]).
//!
//! What tests can do to it: register [`Client`]s, [`User`]s and [`ApiResource`]s, queue
//! [`Failure`]s per [`Endpoint`] ([`MockIdentity::fail_next`]; a user who refuses to sign in
//! with [`MockIdentity::deny_next_authorization`]), count requests per endpoint and per grant
//! type ([`MockIdentity::requests_for_grant`]), rotate keys ([`MockIdentity::rotate_keys`]),
//! change token and code lifetimes, inspect the last token request
//! ([`MockIdentity::last_token_request`]), mint arbitrary tokens ([`TokenSpec`]) to check
//! that a validator rejects them, and mint reference tokens
//! ([`MockIdentity::mint_reference_token`]).
//!
//! The mock Domain API ([`MockDomainApi::start(&identity)`](MockDomainApi::start)) trusts one
//! identity's tokens and answers `GET {root}{Entity}` (`$top`, `$skip`, `$select`, `$filter` on
//! equality) with OData JSON from ERP.net-shaped records ([`DEFAULT_ENTITY`] is
//! `General_Contacts_Parties`), `401` and `403` with ERP.net's error body, and `429` past
//! ERP.net's documented limits: per session (one access token) 1 request running, 5 waiting
//! and 600 a minute; per site 2 running. Every number, a service time per request and a
//! `Retry-After` are configurable; [`MockDomainApi::stats`] counts what was served, queued and
//! refused.
//!
//! Codes, refresh tokens and access tokens expire by wall-clock time in whole seconds, the
//! clock of `iat` and `exp`; a paused Tokio clock does not age them.
//!
//! The mock is a test oracle: it shares no protocol code with `erpnet-auth-core`, so a
//! misreading of a specification there cannot hide behind the same misreading here. It signs
//! with keys of its own (RSA 2048, generated with aws-lc-rs) through `jsonwebtoken`.
//!
//! Every request is logged with `tracing` at debug level (method, path, status); secrets,
//! codes, verifiers and tokens never are, and no `Debug` output of the crate shows them.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod api_resource;
mod authorize;
mod backchannel;
mod client;
mod client_assertion;
mod client_auth;
mod client_key;
mod device;
mod device_codes;
mod discovery;
mod domain_api;
mod end_session;
mod failure;
mod front_channel;
mod introspection;
mod jwt;
mod keys;
mod logout_notification;
mod logs;
mod params;
mod revocation;
mod server;
mod sign_in_page;
mod state;
mod store;
mod token_endpoint;
mod token_request;
mod token_spec;
mod user;
mod user_grants;
mod user_session;
mod userinfo;

pub use api_resource::{ApiResource, DEFAULT_RESOURCE_ID, DEFAULT_RESOURCE_SECRET};
pub use backchannel::AuthMethodUsed;
pub use client::{
    AccessTokenType, Client, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
    DEFAULT_POST_LOGOUT_REDIRECT_URI, DEFAULT_PUBLIC_CLIENT_ID, DEFAULT_REDIRECT_URI,
    DEFAULT_SYSTEM_USER,
};
pub use client_key::ClientKey;
pub use domain_api::{
    DEFAULT_ENTITY, DomainApiStats, ENTERPRISE_COMPANY_ID, MockDomainApi, MockDomainApiBuilder,
};
pub use failure::{Endpoint, Failure};
pub use logs::CapturedLogs;
pub use server::{MockIdentity, MockIdentityBuilder, OldKey};
pub use token_request::TokenRequestRecord;
pub use token_spec::{Alg, TokenSpec};
pub use user::{DEFAULT_PASSWORD, DEFAULT_USER, User, UserType};
