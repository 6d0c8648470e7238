//! No token, no request; errors never hold a secret.

use erpnet_auth_core::{CachedTokenSource, Error as CoreError, OAuthErrorCode};
use erpnet_auth_reqwest::{BearerAuth, Error};
use erpnet_auth_testkit::{Endpoint, Failure, MockIdentity};

use crate::api::Api;
use crate::{auth_error, client, grant, start};

#[tokio::test]
async fn provider_down_gives_a_transient_error_and_sends_nothing() {
    let (identity, api, client) = start().await;
    identity.fail_next(Endpoint::Token, 5, Failure::Status(503));

    let result = client.get(api.url("/orders")).send().await;
    let error = result.expect_err("no token");
    assert!(error.is_middleware(), "{error:?}");
    let auth = Error::downcast(&error).expect("BearerAuth error");
    assert!(auth.is_transient(), "{auth}");
    let Error::Token { origin, .. } = auth else {
        panic!("{auth:?}")
    };
    assert_eq!(origin, &api.origin);
    let core = auth.token_error().expect("core error");
    assert!(
        matches!(core, CoreError::Status { status: 503, endpoint, .. } if *endpoint == identity.token_endpoint()),
        "{core:?}"
    );
    assert!(error.to_string().contains("503"), "{error}");
    assert!(api.seen().is_empty(), "no anonymous request went out");
}

#[tokio::test]
async fn a_permanent_token_error_is_not_transient_and_sends_nothing() {
    let identity = MockIdentity::start().await;
    let api = Api::start().await;
    let wrong_secret = "wr0ng-s3cret-d41d8c";
    let tokens = CachedTokenSource::new(grant(&identity, wrong_secret));
    let client = client(BearerAuth::new(tokens).allow_origin(&api.origin));

    let error = auth_error(client.get(api.url("/orders")).send().await);
    assert!(!error.is_transient(), "{error}");
    assert_eq!(
        error.token_error().and_then(CoreError::oauth_code),
        Some(&OAuthErrorCode::InvalidClient)
    );
    let shown = format!("{error} {error:?} {error:#?}");
    assert!(!shown.contains(wrong_secret), "{shown}");
    assert!(api.seen().is_empty());
}
