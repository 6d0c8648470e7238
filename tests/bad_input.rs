//! Malformed, hostile and absent answers from the provider: each gets a typed
//! error naming the endpoint and the problem, never a panic.

use std::time::Duration;

use erpnet_auth::{
    Authority, CachedTokenSource, ClientConfig, ClientCredentials, ConfigError, Discovery,
    Endpoints, Error, HttpClient, TokenSource,
};
use erpnet_auth_testkit::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Endpoint, Failure, MockIdentity,
};

fn http() -> HttpClient {
    HttpClient::new()
        .expect("http client")
        .timeout(Duration::from_millis(500))
}

fn body(status: u16, content_type: &str, body: &str) -> Failure {
    Failure::Body {
        status,
        content_type: content_type.into(),
        body: body.into(),
    }
}

async fn discover(identity: &MockIdentity, failure: Failure) -> Error {
    identity.fail_next(Endpoint::Discovery, 1, failure);
    let authority = Authority::parse(&identity.issuer()).expect("authority");
    Discovery::fetch_with(&authority, &http())
        .await
        .expect_err("the injected failure must surface")
}

/// Client credentials straight at the mock's token endpoint, with a short time-out.
fn grant(identity: &MockIdentity) -> ClientCredentials {
    let endpoint: erpnet_auth::Url = identity.token_endpoint().parse().expect("url");
    let client = ClientConfig::builder(Endpoints::new().token(endpoint), DEFAULT_CLIENT_ID)
        .client_secret(DEFAULT_CLIENT_SECRET)
        .http(http())
        .build()
        .expect("config");
    ClientCredentials::builder(client)
        .scopes(["read"])
        .build()
        .expect("config")
}

async fn token(identity: &MockIdentity, failure: Failure) -> Error {
    identity.fail_next(Endpoint::Token, 1, failure);
    grant(identity)
        .token()
        .await
        .expect_err("the injected failure must surface")
}

fn assert_names(error: &Error, endpoint: &str, needle: &str) {
    let text = error.to_string();
    assert!(text.contains(endpoint), "`{text}` should name {endpoint}");
    assert!(text.contains(needle), "`{text}` should say `{needle}`");
}

#[tokio::test]
async fn malformed_discovery_documents() {
    let identity = MockIdentity::start().await;
    let endpoint = identity.discovery_url();

    let e = discover(&identity, Failure::MalformedBody).await;
    assert!(matches!(e, Error::InvalidResponse { .. }), "{e}");
    assert_names(&e, &endpoint, "malformed JSON");

    let e = discover(&identity, body(200, "text/html", "<html>login</html>")).await;
    assert_names(&e, &endpoint, "content type `text/html`");

    let e = discover(
        &identity,
        body(
            200,
            "application/json",
            &format!(r#"{{"issuer":"{}"}}"#, identity.issuer()),
        ),
    )
    .await;
    assert_names(&e, &endpoint, "authorization_endpoint");

    let e = discover(&identity, body(200, "application/json", "[1,2,3]")).await;
    assert!(matches!(e, Error::InvalidResponse { .. }), "{e}");

    let e = discover(&identity, body(200, "application/json", "")).await;
    assert!(matches!(e, Error::InvalidResponse { .. }), "{e}");

    let e = discover(&identity, Failure::Status(500)).await;
    assert!(matches!(e, Error::Status { status: 500, .. }), "{e}");
    assert!(e.is_transient());

    let e = discover(&identity, Failure::Status(404)).await;
    assert!(!e.is_transient(), "{e}");

    let e = discover(&identity, Failure::Huge).await;
    assert!(matches!(e, Error::BodyTooLarge { .. }), "{e}");
    assert_names(&e, &endpoint, "larger than");
}

#[tokio::test]
async fn discovery_documents_with_insecure_endpoints_are_refused() {
    let identity = MockIdentity::start().await;
    let document = serde_json::json!({
        "issuer": identity.issuer(),
        "authorization_endpoint": "http://evil.example.com/authorize",
        "token_endpoint": identity.token_endpoint(),
        "jwks_uri": identity.jwks_uri(),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    let e = discover(
        &identity,
        body(200, "application/json", &document.to_string()),
    )
    .await;
    assert_names(&e, &identity.discovery_url(), "loopback");
}

#[tokio::test]
async fn malformed_token_responses() {
    let identity = MockIdentity::start().await;
    let endpoint = identity.token_endpoint();

    let e = token(&identity, Failure::MalformedBody).await;
    assert!(matches!(e, Error::InvalidResponse { .. }), "{e}");
    assert_names(&e, &endpoint, "malformed JSON");
    assert!(e.is_transient());

    let e = token(&identity, body(200, "text/html", "<html>proxy</html>")).await;
    assert_names(&e, &endpoint, "content type `text/html`");

    let e = token(
        &identity,
        body(
            200,
            "application/json",
            r#"{"token_type":"Bearer","expires_in":3600}"#,
        ),
    )
    .await;
    assert_names(&e, &endpoint, "missing `access_token`");

    let e = token(
        &identity,
        body(
            200,
            "application/json",
            r#"{"access_token":"x","expires_in":{}}"#,
        ),
    )
    .await;
    assert_names(&e, &endpoint, "expires_in");

    let e = token(
        &identity,
        body(
            200,
            "application/json",
            r#"{"error":"invalid_grant","error_description":"revoked"}"#,
        ),
    )
    .await;
    assert_names(&e, &endpoint, "invalid_grant: revoked");
    assert!(!e.is_transient());

    let e = token(
        &identity,
        body(
            400,
            "application/json",
            r#"{"error":"temporarily_unavailable"}"#,
        ),
    )
    .await;
    assert!(e.is_transient(), "{e}");

    let e = token(&identity, Failure::Status(503)).await;
    assert!(matches!(e, Error::Status { status: 503, .. }), "{e}");
    assert!(e.is_transient());

    let e = token(&identity, Failure::Status(429)).await;
    assert!(e.is_transient(), "{e}");

    let e = token(&identity, Failure::Huge).await;
    assert!(matches!(e, Error::BodyTooLarge { .. }), "{e}");
}

#[tokio::test]
async fn dead_and_slow_providers() {
    let identity = MockIdentity::start().await;
    let endpoint = identity.token_endpoint();

    let e = token(&identity, Failure::DropConnection).await;
    assert!(matches!(e, Error::Transport { .. }), "{e}");
    assert!(e.is_transient());
    assert_names(&e, &endpoint, "request failed");

    let e = token(&identity, Failure::Hang).await;
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    assert!(e.is_transient());
    assert_names(&e, &endpoint, "no answer within 500ms");

    // A slow answer inside the time-out is fine.
    identity.fail_next(
        Endpoint::Token,
        1,
        Failure::Delay(Duration::from_millis(100)),
    );
    assert!(grant(&identity).token().await.is_ok());

    // Nobody listening at all.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let e = Discovery::fetch_with(
        &Authority::parse(&format!("http://127.0.0.1:{port}/id")).expect("authority"),
        &http(),
    )
    .await
    .expect_err("refused");
    assert!(matches!(e, Error::Transport { .. }), "{e}");
    assert!(e.is_transient());
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_valid_token() {
    let identity = MockIdentity::builder()
        .token_lifetime(Duration::from_secs(3600))
        .start()
        .await;
    let tokens = CachedTokenSource::new(grant(&identity));
    let first = tokens.token().await.expect("token");

    // The provider goes down; a rejected token must be replaced, which fails;
    // a caller gets a typed transient error, and the provider is not hammered.
    identity.fail_next(Endpoint::Token, 100, Failure::Status(503));
    tokens.report_rejected(&first);
    let e = tokens.token().await.expect_err("provider down");
    assert!(e.is_transient());
    for _ in 0..50 {
        assert!(tokens.token().await.is_err());
    }
    assert_eq!(identity.requests(Endpoint::Token), 2, "backing off");
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused_before_sending() {
    let url: erpnet_auth::Url = "http://demo.my.erp.net/id/connect/token"
        .parse()
        .expect("url");
    let e = ClientConfig::builder(Endpoints::new().token(url), DEFAULT_CLIENT_ID)
        .client_secret(DEFAULT_CLIENT_SECRET)
        .build()
        .expect_err("insecure");
    assert!(matches!(e, ConfigError::InsecureUrl { .. }), "{e}");
    let e = Authority::parse("http://demo.my.erp.net/id").expect_err("insecure");
    assert!(matches!(e, ConfigError::InsecureUrl { .. }), "{e}");
}
