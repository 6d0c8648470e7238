//! No token, no request; errors and logs never hold a secret.

use std::io::Write;
use std::sync::{Arc, Mutex};

use erpnet_auth_core::{CachedTokenSource, Error as CoreError, OAuthErrorCode};
use erpnet_auth_reqwest::{BearerAuth, Error};
use erpnet_auth_testkit::{DEFAULT_CLIENT_SECRET, Endpoint, Failure, MockIdentity};

use crate::api::Api;
use crate::{auth_error, client, grant, tokens};

#[tokio::test]
async fn provider_down_gives_a_transient_error_and_sends_nothing() {
    let identity = MockIdentity::start().await;
    let api = Api::start().await;
    identity.fail_next(Endpoint::Token, 5, Failure::Status(503));
    let client = client(BearerAuth::new(tokens(&identity)).allow_origin(&api.origin));

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
        matches!(core, CoreError::Status { status: 503, endpoint } if *endpoint == identity.token_endpoint()),
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

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A token attached, rejected, refreshed, then a refresh that fails: the
/// events say what happened, and neither they nor the error hold a secret.
#[tokio::test]
async fn events_tell_what_happened_and_nothing_holds_a_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // Current-thread test runtime: every task of the run logs on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);

    let identity = MockIdentity::start().await;
    let api = Api::start().await;
    let tokens = tokens(&identity);
    let client = client(BearerAuth::new(tokens.clone()).allow_origin(&api.origin));

    let first = tokens.token().await.expect("token");
    api.reject(first.expose_secret());
    let response = client.get(api.url("/orders")).send().await.expect("sent");
    assert_eq!(response.status(), 200);
    let second = tokens.cached_token().expect("refreshed");

    api.reject(second.expose_secret());
    identity.fail_next(Endpoint::Token, 5, Failure::Status(500));
    let failed = client.get(api.url("/orders")).send().await;
    let error = failed.expect_err("no new token");
    let auth = Error::downcast(&error).expect("BearerAuth error");
    assert!(auth.is_transient());

    let logs = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
    assert!(logs.contains("token_attached=true"), "{logs}");
    assert!(logs.contains("refreshed_after_401=true"), "{logs}");
    let shown = format!("{logs} {error} {error:?} {auth:#?} {:?}", client);
    for secret in [
        DEFAULT_CLIENT_SECRET,
        first.expose_secret(),
        second.expose_secret(),
    ] {
        assert!(!shown.contains(secret), "a secret leaked");
    }
}
