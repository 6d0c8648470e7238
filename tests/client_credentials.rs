//! Client credentials and discovery against the mock ERP.net Identity.

use std::time::Duration;

use erpnet_auth::{
    Authority, CachedTokenSource, ClientAuthMethod, ClientCredentials, Discovery, Error,
    HttpClient, OAuthErrorCode, TokenSource,
};
use erpnet_auth_testkit::{
    AuthMethodUsed, Client, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Endpoint, MockIdentity,
};

mod support;

fn grant(identity: &MockIdentity, method: ClientAuthMethod) -> ClientCredentials {
    let authority = Authority::parse(&identity.issuer()).expect("loopback issuer");
    ClientCredentials::builder(authority, DEFAULT_CLIENT_ID)
        .client_secret(DEFAULT_CLIENT_SECRET)
        .auth_method(method)
        .scopes(["read", "update"])
        .build()
        .expect("valid configuration")
}

#[tokio::test]
async fn discovery_finds_the_endpoints_and_checks_the_issuer() {
    let identity = MockIdentity::start().await;
    let discovery = Discovery::fetch(&identity.issuer())
        .await
        .expect("discovery");
    assert_eq!(discovery.issuer(), identity.issuer());
    assert_eq!(
        discovery.token_endpoint().as_str(),
        identity.token_endpoint()
    );
    assert_eq!(discovery.jwks_uri().as_str(), identity.jwks_uri());
    assert!(discovery.end_session_endpoint().is_some());
    assert!(discovery.introspection_endpoint().is_some());
    assert!(discovery.revocation_endpoint().is_some());
    assert!(discovery.scopes_supported().contains(&"read".to_owned()));
    assert!(
        discovery
            .grant_types_supported()
            .contains(&"client_credentials".to_owned())
    );

    // The same server under another configured issuer: the document names a
    // different one, which must be refused.
    let other = Authority::parse(&format!("http://localhost:{}/id", identity.addr().port()))
        .expect("authority");
    let error = Discovery::fetch_with(&other, &HttpClient::new().expect("http client"))
        .await
        .expect_err("issuer mismatch");
    assert!(matches!(error, Error::IssuerMismatch { .. }), "{error}");
    assert!(error.to_string().contains("issuer mismatch"), "{error}");
}

#[tokio::test]
async fn client_secret_post_sends_id_secret_and_scopes_in_the_form() {
    let identity = MockIdentity::start().await;
    let token = grant(&identity, ClientAuthMethod::ClientSecretPost)
        .token()
        .await
        .expect("token");
    assert_eq!(token.token_type(), "Bearer");
    assert_eq!(token.scopes(), ["read", "update"]);
    let lifetime = token.expires_in().expect("expiry");
    assert!(lifetime > Duration::from_secs(3500) && lifetime <= Duration::from_secs(3600));

    let request = identity.last_token_request().expect("recorded");
    assert_eq!(request.auth_method, AuthMethodUsed::Post);
    assert_eq!(request.client_id, DEFAULT_CLIENT_ID);
    assert_eq!(request.param("grant_type"), Some("client_credentials"));
    assert_eq!(request.param("scope"), Some("read update"));
}

#[tokio::test]
async fn client_secret_basic_form_encodes_a_client_id_with_a_slash() {
    let identity = MockIdentity::start().await;
    identity.register_client(Client::new("my.trusted.app/second", "p@ss:w/rd+ü").scopes(["read"]));
    let authority = Authority::parse(&identity.issuer()).expect("authority");
    let token = ClientCredentials::builder(authority, "my.trusted.app/second")
        .client_secret("p@ss:w/rd+ü")
        .auth_method(ClientAuthMethod::ClientSecretBasic)
        .scopes(["read"])
        .build()
        .expect("config")
        .token()
        .await
        .expect("token");
    assert_eq!(token.scopes(), ["read"]);
    let request = identity.last_token_request().expect("recorded");
    assert_eq!(request.auth_method, AuthMethodUsed::Basic);
    assert_eq!(request.client_id, "my.trusted.app/second");
    assert_eq!(request.param("client_id"), None, "not repeated in the form");
}

#[tokio::test]
async fn extra_parameters_are_sent() {
    let identity = MockIdentity::start().await;
    let authority = Authority::parse(&identity.issuer()).expect("authority");
    ClientCredentials::builder(authority, DEFAULT_CLIENT_ID)
        .client_secret(DEFAULT_CLIENT_SECRET)
        .scopes(["read"])
        .param("resource", "https://api.example.com")
        .build()
        .expect("config")
        .token()
        .await
        .expect("token");
    let request = identity.last_token_request().expect("recorded");
    assert_eq!(request.param("resource"), Some("https://api.example.com"));
}

#[tokio::test]
async fn the_cache_reuses_the_token_and_discovers_once() {
    let identity = MockIdentity::start().await;
    let tokens = CachedTokenSource::new(grant(&identity, ClientAuthMethod::ClientSecretPost));
    let token = support::same_token_for_all(&tokens, 200).await;
    assert_eq!(identity.requests(Endpoint::Token), 1);
    assert_eq!(identity.requests(Endpoint::Discovery), 1);

    // A rejected token is replaced by a new one.
    tokens.report_rejected(&token);
    let fresh = tokens.token().await.expect("token");
    assert_ne!(fresh, token);
    assert_eq!(identity.requests(Endpoint::Token), 2);
    assert_eq!(identity.requests(Endpoint::Discovery), 1);
}

#[tokio::test]
async fn wrong_secret_is_a_permanent_invalid_client() {
    let identity = MockIdentity::start().await;
    let authority = Authority::parse(&identity.issuer()).expect("authority");
    for method in [
        ClientAuthMethod::ClientSecretPost,
        ClientAuthMethod::ClientSecretBasic,
    ] {
        let error = ClientCredentials::builder(authority.clone(), DEFAULT_CLIENT_ID)
            .client_secret("not-the-secret")
            .auth_method(method)
            .scopes(["read"])
            .build()
            .expect("config")
            .token()
            .await
            .expect_err("wrong secret");
        assert_eq!(error.oauth_code(), Some(&OAuthErrorCode::InvalidClient));
        assert!(!error.is_transient());
        assert!(
            error.to_string().contains(&identity.token_endpoint()),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_scope_the_client_lacks_is_a_permanent_invalid_scope() {
    let identity = MockIdentity::start().await;
    let authority = Authority::parse(&identity.issuer()).expect("authority");
    let error = ClientCredentials::builder(authority, DEFAULT_CLIENT_ID)
        .client_secret(DEFAULT_CLIENT_SECRET)
        .scopes(["read", "admin"])
        .build()
        .expect("config")
        .token()
        .await
        .expect_err("unknown scope");
    assert_eq!(error.oauth_code(), Some(&OAuthErrorCode::InvalidScope));
    assert!(!error.is_transient());
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let identity = MockIdentity::start().await;
    identity.fail_next(
        Endpoint::Token,
        1,
        erpnet_auth_testkit::Failure::Body {
            status: 302,
            content_type: "text/plain".into(),
            body: String::new(),
        },
    );
    let error = grant(&identity, ClientAuthMethod::ClientSecretPost)
        .token()
        .await
        .expect_err("redirect");
    assert!(
        matches!(error, Error::Redirect { status: 302, .. }),
        "{error}"
    );
}

#[tokio::test]
async fn a_429_from_the_token_endpoint_is_waited_out_as_its_retry_after_says() {
    use erpnet_auth_testkit::Failure;

    let identity = MockIdentity::start().await;
    let tokens = CachedTokenSource::new(grant(&identity, ClientAuthMethod::ClientSecretPost));
    identity.fail_next(
        Endpoint::Token,
        1,
        Failure::RetryAfter {
            status: 429,
            retry_after: "2".into(),
        },
    );
    let error = tokens.token().await.expect_err("throttled");
    assert!(error.is_transient());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
    // The cache's own schedule would try again after at most 1 s; the server said 2.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let again = tokens.token().await.expect_err("still waiting");
    assert_eq!(again.retry_after(), Some(Duration::from_secs(2)));
    assert_eq!(identity.requests(Endpoint::Token), 1);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(tokens.token().await.is_ok());
    assert_eq!(identity.requests(Endpoint::Token), 2);
}
