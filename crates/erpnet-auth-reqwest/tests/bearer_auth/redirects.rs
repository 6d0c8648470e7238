//! Redirects: no credential ever follows one that leaves its origin, whatever
//! the header and whatever redirect policy the caller asked reqwest for.

use erpnet_auth_core::StaticToken;
use erpnet_auth_reqwest::{BearerAuth, BearerAuthBuilder, TokenHeader};
use erpnet_auth_testkit::MockIdentity;
use reqwest::redirect::Policy;

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

/// The defect: in `X-Api-Key` mode the header followed reqwest's default
/// policy to any origin. Now the client `BearerAuth` builds stops at the
/// redirect, with either header, even when the caller asked reqwest for its
/// default policy, and even when the other origin is allowed too.
#[tokio::test]
async fn no_credential_follows_a_redirect_to_another_origin() {
    let identity = MockIdentity::start().await;
    let first = Api::start().await;
    let second = Api::start().await; // another port: another origin
    first.redirect_to(&second.url("/landing"));

    let bearer = || BearerAuth::builder(tokens(&identity)).allow_origin(&first.origin);
    let builders = [
        api_key_auth(&first),
        api_key_auth(&first).allow_origin(&second.origin),
        bearer(),
        bearer().allow_origin(&second.origin),
    ];
    for auth in builders {
        let asked_for_default = reqwest::Client::builder().redirect(Policy::default());
        let response = get(&client_on(asked_for_default, auth), first.url("/redirect")).await;
        assert_eq!(response.status(), 302, "the caller gets the redirect");
        assert_eq!(response.url().as_str(), first.url("/redirect"));
    }
    assert!(second.seen().is_empty(), "{:?}", second.seen());
    let sent = first.seen();
    assert_eq!(sent.len(), 4);
    assert!(sent.iter().all(|s| s.token().is_some()), "{sent:?}");
}

/// A request that carries no token of ours (another origin, or credentials of
/// its own) gets the same policy: the client cannot tell them apart.
#[tokio::test]
async fn own_credentials_do_not_follow_a_redirect_to_another_origin_either() {
    let first = Api::start().await;
    let second = Api::start().await;
    first.redirect_to(&second.url("/landing"));
    let client = client(api_key_auth(&first));
    let response = client
        .get(first.url("/redirect"))
        .header("x-api-key", "enrt_the_callers_own")
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 302);
    assert!(second.seen().is_empty());
    assert_eq!(
        first.seen()[0].api_key.as_deref(),
        Some("enrt_the_callers_own")
    );
}

#[tokio::test]
async fn a_redirect_within_the_origin_keeps_the_credential() {
    let identity = MockIdentity::start().await;
    let api = Api::start().await;
    api.redirect_to("/landing");
    let bearer = BearerAuth::builder(tokens(&identity)).allow_origin(&api.origin);
    for auth in [bearer, api_key_auth(&api)] {
        let response = get(&client(auth), api.url("/redirect")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.url().as_str(), api.url("/landing"));
    }
    let seen = api.seen();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[1].path, "/landing");
    assert!(seen[1].authorization.is_some());
    assert_eq!(seen[3].path, "/landing");
    assert_eq!(seen[3].api_key, Some(pat()));
}

#[tokio::test]
async fn a_redirect_loop_within_the_origin_ends() {
    let api = Api::start().await;
    api.redirect_to("/redirect");
    let error = client(api_key_auth(&api))
        .get(api.url("/redirect"))
        .send()
        .await
        .expect_err("a loop is an error");
    assert!(error.is_redirect(), "{error:?}");
    assert_eq!(api.seen().len(), 11, "the request and 10 redirects");
}
