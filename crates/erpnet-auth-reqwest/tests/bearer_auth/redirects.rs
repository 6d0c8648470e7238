//! Redirects: the token never follows one that leaves its origin.

use erpnet_auth_core::StaticToken;
use erpnet_auth_reqwest::{BearerAuth, BearerAuthBuilder, TokenHeader, same_origin_redirects};
use erpnet_auth_testkit::{Endpoint, MockIdentity};

use crate::api::Api;
use crate::{client, client_on, get, tokens};

fn pat() -> String {
    format!("enrt_{}", "fedcba9876543210".repeat(4))
}

fn api_key_auth(first: &Api) -> BearerAuthBuilder {
    BearerAuth::builder(StaticToken::new(pat()))
        .allow_origin(&first.origin)
        .token_header(TokenHeader::XApiKey)
}

#[tokio::test]
async fn a_redirect_to_another_origin_carries_no_authorization() {
    let identity = MockIdentity::start().await;
    let tokens = tokens(&identity);
    let first = Api::start().await;
    let second = Api::start().await; // another port: another origin
    first.redirect_to(&second.url("/landing"));

    // Even when the second origin is allowed too: reqwest follows the redirect
    // inside one call and drops `Authorization` on the way.
    for also_allow_second in [false, true] {
        let mut auth = BearerAuth::builder(tokens.clone()).allow_origin(&first.origin);
        if also_allow_second {
            auth = auth.allow_origin(&second.origin);
        }
        let response = client(auth)
            .get(first.url("/redirect"))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200);
        assert_eq!(response.url().as_str(), second.url("/landing"));
    }

    let sent = first.seen();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|s| s.token().is_some()), "{sent:?}");
    let landed = second.seen();
    assert_eq!(landed.len(), 2);
    assert!(
        landed
            .iter()
            .all(|s| s.authorization.is_none() && s.api_key.is_none()),
        "{landed:?}"
    );
}

#[tokio::test]
async fn a_redirect_within_the_origin_keeps_the_token() {
    let identity = MockIdentity::start().await;
    let api = Api::start().await;
    api.redirect_to("/landing");
    let response = client(BearerAuth::builder(tokens(&identity)).allow_origin(&api.origin))
        .get(api.url("/redirect"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let seen = api.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].path, "/landing");
    assert!(seen[1].token().is_some());
}

#[tokio::test]
async fn a_401_after_a_redirect_to_another_origin_is_not_the_tokens_fault() {
    let identity = MockIdentity::start().await;
    let first = Api::start().await;
    let second = Api::start().await;
    first.redirect_to(&second.url("/always-401"));
    let response = client(BearerAuth::builder(tokens(&identity)).allow_origin(&first.origin))
        .get(first.url("/redirect"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 401);
    assert_eq!(first.seen().len(), 1, "not retried");
    assert_eq!(second.seen().len(), 1);
    assert_eq!(identity.requests(Endpoint::Token), 1, "token not reported");
}

/// Why the docs ask for a redirect policy in X-Api-Key mode: reqwest does not
/// know the header holds a credential. If this starts failing, reqwest has
/// begun to drop it, and the docs can say so.
#[tokio::test]
async fn reqwests_default_policy_forwards_x_api_key_across_origins() {
    let first = Api::start().await;
    let second = Api::start().await;
    first.redirect_to(&second.url("/landing"));
    client(api_key_auth(&first))
        .get(first.url("/redirect"))
        .send()
        .await
        .expect("sent");
    assert_eq!(second.seen()[0].api_key, Some(pat()));
}

#[tokio::test]
async fn same_origin_redirects_keeps_x_api_key_within_its_origin() {
    let first = Api::start().await;
    let second = Api::start().await;
    let http = reqwest::Client::builder()
        .redirect(same_origin_redirects())
        .build()
        .expect("client");
    let client = client_on(http, api_key_auth(&first));

    // To another origin: not followed; the caller gets the 302.
    first.redirect_to(&second.url("/landing"));
    let response = get(&client, first.url("/redirect")).await;
    assert_eq!(response.status(), 302);
    assert!(second.seen().is_empty());

    // Within the origin: followed, key and all.
    first.redirect_to("/landing");
    let response = get(&client, first.url("/redirect")).await;
    assert_eq!(response.status(), 200);
    let seen = first.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].path, "/landing");
    assert_eq!(seen[2].api_key, Some(pat()));
}
