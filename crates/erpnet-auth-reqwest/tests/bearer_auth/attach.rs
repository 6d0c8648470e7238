//! Which requests get a token, in which header.

use std::sync::Arc;

use erpnet_auth_core::StaticToken;
use erpnet_auth_reqwest::{BearerAuth, ConfigError, SkipAuth, TokenHeader, TokenSource};
use erpnet_auth_testkit::{Endpoint, MockIdentity};

use crate::api::Api;
use crate::{client, get, start, tokens};

#[tokio::test]
async fn attaches_a_bearer_token_from_the_source_and_reuses_it() {
    let identity = MockIdentity::start().await;
    let api = Api::start().await;
    let tokens = tokens(&identity);
    let client = client(BearerAuth::builder(tokens.clone()).allow_origin(&api.origin));

    for _ in 0..3 {
        let response = get(&client, api.url("/orders")).await;
        assert_eq!(response.status(), 200);
    }

    let expected = tokens.cached_token().expect("cached");
    let seen = api.seen();
    assert_eq!(seen.len(), 3);
    for request in &seen {
        assert_eq!(
            request.authorization.as_deref(),
            Some(format!("Bearer {}", expected.expose_secret()).as_str())
        );
        assert_eq!(request.api_key, None);
    }
    assert_eq!(
        identity.requests(Endpoint::Token),
        1,
        "served from the cache"
    );
}

#[tokio::test]
async fn keeps_the_credentials_a_request_already_has() {
    let (identity, api, client) = start().await;

    client
        .get(api.url("/a"))
        .bearer_auth("my-own-token")
        .send()
        .await
        .expect("sent");
    client
        .get(api.url("/b"))
        .header("X-Api-Key", "enrt_mine")
        .send()
        .await
        .expect("sent");

    let seen = api.seen();
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Bearer my-own-token")
    );
    assert_eq!(seen[0].api_key, None);
    assert_eq!(seen[1].authorization, None, "one method per request");
    assert_eq!(seen[1].api_key.as_deref(), Some("enrt_mine"));
    assert_eq!(identity.requests(Endpoint::Token), 0);
}

#[tokio::test]
async fn sends_no_token_to_an_origin_that_was_not_allowed() {
    let identity = MockIdentity::start().await;
    let allowed = Api::start().await;
    let foreign = Api::start().await;
    let client = client(BearerAuth::builder(tokens(&identity)).allow_origin(&allowed.origin));

    // Another port is another origin, and so is another name for the same host.
    let same_port_other_host = foreign.origin.replace("127.0.0.1", "localhost");
    for url in [foreign.url("/x"), format!("{same_port_other_host}/y")] {
        let response = get(&client, url).await;
        assert_eq!(response.status(), 200);
    }
    let seen = foreign.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.token().is_none()), "{seen:?}");
    assert_eq!(identity.requests(Endpoint::Token), 0, "no token was needed");

    get(&client, allowed.url("/z")).await;
    assert!(allowed.seen()[0].token().is_some());
}

#[tokio::test]
async fn refuses_plain_http_to_a_host_that_is_not_loopback() {
    let identity = MockIdentity::start().await;
    let api = Api::start().await;

    // Refused when built, even with a fine origin after the bad one: a
    // misconfigured BearerAuth never exists, so no request can go through it.
    let error = BearerAuth::builder(tokens(&identity))
        .allow_origin("http://myinstance.my.erp.net")
        .allow_origin(&api.origin)
        .build()
        .expect_err("insecure");
    assert!(
        matches!(&error, ConfigError::InsecureUrl { url, .. } if url == "http://myinstance.my.erp.net"),
        "{error}"
    );
    assert!(error.to_string().contains("use https"), "{error}");
    assert!(!erpnet_auth_core::Error::from(error).is_transient());

    // Not an origin at all: refused the same way, without a panic.
    let error = BearerAuth::builder(tokens(&identity))
        .allow_origin(&api.origin)
        .allow_origin("myinstance")
        .build()
        .expect_err("not an origin");
    assert!(matches!(error, ConfigError::Invalid(_)), "{error}");
    assert!(error.to_string().contains("`myinstance`"), "{error}");
    assert!(api.seen().is_empty());
    assert_eq!(identity.requests(Endpoint::Token), 0);
}

#[tokio::test]
async fn a_middleware_that_allows_no_origin_is_refused() {
    let identity = MockIdentity::start().await;
    let error = BearerAuth::builder(tokens(&identity))
        .build()
        .expect_err("no origin");
    assert!(matches!(error, ConfigError::Invalid(_)), "{error}");
    assert!(error.to_string().contains("allows no origin"), "{error}");
    assert_eq!(identity.requests(Endpoint::Token), 0);
}

#[tokio::test]
async fn x_api_key_mode_sends_the_token_in_x_api_key_only() {
    let api = Api::start().await;
    let pat = format!("enrt_{}", "0123456789abcdef".repeat(4));
    // A source already shared as `Arc<dyn TokenSource>`.
    let shared: Arc<dyn TokenSource> = Arc::new(StaticToken::new(pat.clone()));
    let auth = BearerAuth::builder_for_arc(shared)
        .allow_origin(&api.origin)
        .token_header(TokenHeader::XApiKey);
    let client = client(auth);

    get(&client, api.url("/x")).await;
    // A request's own TokenHeader extension wins.
    client
        .get(api.url("/y"))
        .with_extension(TokenHeader::Authorization)
        .send()
        .await
        .expect("sent");

    let seen = api.seen();
    assert_eq!(seen[0].api_key.as_deref(), Some(pat.as_str()));
    assert_eq!(seen[0].authorization, None);
    assert_eq!(seen[1].authorization, Some(format!("Bearer {pat}")));
    assert_eq!(seen[1].api_key, None);
}

#[tokio::test]
async fn skip_auth_sends_a_request_without_a_token() {
    let (identity, api, client) = start().await;

    client
        .get(api.url("/public"))
        .with_extension(SkipAuth)
        .send()
        .await
        .expect("sent");
    assert_eq!(api.seen()[0].token(), None);
    assert_eq!(identity.requests(Endpoint::Token), 0);

    // The next request without the marker gets its token as usual.
    get(&client, api.url("/private")).await;
    assert!(api.seen()[1].token().is_some());
}
