//! BearerAuth against the mock ERP.net Identity and resource servers on 127.0.0.1.

mod api;
mod attach;
mod errors;
mod redirects;
mod retry;

use erpnet_auth_oidc::{Authority, CachedTokenSource, ClientConfig, ClientCredentials};
use erpnet_auth_reqwest::{BearerAuth, BearerAuthBuilder, Error};
use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, MockIdentity};
use reqwest_middleware::ClientWithMiddleware;

/// The mock's default client, with client credentials.
fn grant(identity: &MockIdentity, secret: &str) -> ClientCredentials {
    let authority = Authority::parse(&identity.issuer()).expect("loopback issuer");
    let client = ClientConfig::builder(authority, DEFAULT_CLIENT_ID)
        .client_secret(secret)
        .build()
        .expect("valid client");
    ClientCredentials::builder(client)
        .scopes(["read", "update"])
        .build()
        .expect("valid configuration")
}

/// The usual set-up: client credentials behind the cache.
fn tokens(identity: &MockIdentity) -> CachedTokenSource<ClientCredentials> {
    CachedTokenSource::new(grant(identity, DEFAULT_CLIENT_SECRET))
}

/// The usual set-up: the mock identity, one API, and a client that may send
/// that API tokens from the identity.
async fn start() -> (MockIdentity, api::Api, ClientWithMiddleware) {
    let identity = MockIdentity::start().await;
    let api = api::Api::start().await;
    let client = client(BearerAuth::builder(tokens(&identity)).allow_origin(&api.origin));
    (identity, api, client)
}

/// GETs `url`, which must be answered.
async fn get(client: &ClientWithMiddleware, url: String) -> reqwest::Response {
    client.get(url).send().await.expect("answered")
}

fn client(auth: BearerAuthBuilder) -> ClientWithMiddleware {
    client_on(reqwest::Client::builder(), auth)
}

fn client_on(http: reqwest::ClientBuilder, auth: BearerAuthBuilder) -> ClientWithMiddleware {
    auth.build()
        .expect("a valid BearerAuth")
        .client_builder(http)
        .expect("an HTTP client")
        .build()
}

/// This crate's error inside a failed request.
fn auth_error(result: reqwest_middleware::Result<reqwest::Response>) -> Error {
    let error = result.expect_err("the request must fail");
    Error::downcast(&error)
        .unwrap_or_else(|| panic!("not a BearerAuth error: {error:?}"))
        .clone()
}
