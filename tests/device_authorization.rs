//! The device authorization grant (RFC 8628) against the mock ERP.net Identity,
//! under a paused clock: polling at the interval, `slow_down`, approval,
//! refusal, expiry, cancellation, and the sign-in that comes out of it.

use std::time::Duration;

use erpnet_auth::{
    AuthorizationCodeFlow, ClientAuthMethod, ClientConfig, DeviceAuthorization, Discovery,
    SignInError, TokenSource,
};
use erpnet_auth_testkit::{
    DEFAULT_PUBLIC_CLIENT_ID, DEFAULT_USER, Endpoint, Failure, MockIdentity,
};
use tokio::time::Instant;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn flow(identity: &MockIdentity) -> AuthorizationCodeFlow {
    let discovery = Discovery::fetch(&identity.issuer())
        .await
        .expect("discovery");
    let client = ClientConfig::builder(discovery, DEFAULT_PUBLIC_CLIENT_ID)
        .auth_method(ClientAuthMethod::None)
        .build()
        .expect("public client");
    AuthorizationCodeFlow::builder(client)
        .scopes(["offline_access", "read"])
        .build()
        .expect("flow")
}

async fn started(identity: &MockIdentity) -> (AuthorizationCodeFlow, DeviceAuthorization) {
    let flow = flow(identity).await;
    let authorization = flow
        .start_device_authorization()
        .await
        .expect("device authorization");
    (flow, authorization)
}

#[tokio::test(start_paused = true)]
async fn an_approved_code_signs_the_user_in_with_refreshable_tokens() {
    let identity = MockIdentity::start().await;
    let (flow, authorization) = started(&identity).await;
    assert_eq!(authorization.user_code().len(), 9);
    assert_eq!(
        authorization.verification_uri().as_str(),
        format!("{}/device", identity.issuer())
    );
    let complete = authorization
        .verification_uri_complete()
        .expect("the mock gives the complete URI");
    assert!(complete.as_str().contains(authorization.user_code()));
    assert_eq!(authorization.interval(), Duration::from_secs(5));
    assert_eq!(authorization.expires_in(), Duration::from_secs(300));
    assert_eq!(
        identity.pending_user_codes(),
        [authorization.user_code().to_owned()]
    );

    let user_code = authorization.user_code().to_owned();
    let polling = tokio::spawn(async move {
        let sign_in = flow.complete_device_authorization(&authorization).await;
        (flow, authorization, sign_in)
    });
    // Nobody has entered the code yet: the client keeps polling, at the interval.
    tokio::time::sleep(Duration::from_secs(22)).await;
    let polls = identity.requests_for_grant(DEVICE_GRANT);
    assert!((3..=4).contains(&polls), "{polls} polls in 22 s");
    assert!(identity.approve_device(&user_code, DEFAULT_USER));
    let (flow, authorization, sign_in) = polling.await.expect("joined");
    let sign_in = sign_in.expect("signed in");

    let id_token = sign_in.id_token.expect("openid is always asked for");
    assert_eq!(id_token.subject(), DEFAULT_USER);
    assert!(sign_in.access_token.has_scope("read"));
    // The device code is a secret: never shown, even though it was sent.
    let device_code = identity
        .last_token_request()
        .and_then(|record| record.param("device_code").map(str::to_owned))
        .expect("the last poll carried the device code");
    assert!(!format!("{authorization:?}").contains(&device_code));

    // Its refresh token feeds the same refresh grant as a code flow's.
    let refresh_token = sign_in.refresh_token.expect("offline_access");
    let refreshed = flow
        .refresh_grant(refresh_token)
        .build()
        .expect("refresh grant")
        .token()
        .await
        .expect("refreshed");
    assert_ne!(refreshed, sign_in.access_token);
    assert!(
        !identity.approve_device(&user_code, DEFAULT_USER),
        "used up"
    );
}

#[tokio::test(start_paused = true)]
async fn slow_down_adds_five_seconds_to_the_interval_for_good() {
    let identity = MockIdentity::start().await;
    let (flow, authorization) = started(&identity).await;
    identity.fail_next(
        Endpoint::Token,
        1,
        Failure::Body {
            status: 400,
            content_type: "application/json".to_owned(),
            body: r#"{"error":"slow_down"}"#.to_owned(),
        },
    );
    let begun = Instant::now();
    let polling =
        tokio::spawn(async move { flow.complete_device_authorization(&authorization).await });
    // Polls at 5 s (slow_down) and 15 s (pending), then every 10 s: 25 s, 35 s.
    tokio::time::sleep(Duration::from_secs(32)).await;
    let polls = identity.requests_for_grant(DEVICE_GRANT);
    assert_eq!(polls, 3, "polls at 5, 15 and 25 s");
    let user_code = identity.pending_user_codes().pop().expect("pending");
    assert!(identity.approve_device(&user_code, DEFAULT_USER));
    polling.await.expect("joined").expect("signed in");
    let elapsed = begun.elapsed();
    assert!(
        elapsed >= Duration::from_secs(35) && elapsed < Duration::from_secs(40),
        "the fourth poll came at {elapsed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refusal_and_an_expiry_end_with_typed_errors() {
    let identity = MockIdentity::start().await;
    let (flow, authorization) = started(&identity).await;
    assert!(identity.deny_device(authorization.user_code()));
    let error = flow
        .complete_device_authorization(&authorization)
        .await
        .expect_err("refused");
    assert!(matches!(error, SignInError::AccessDenied), "{error}");
    assert!(!error.is_transient());

    // Nobody comes: the codes expire (300 s at the mock) and polling stops.
    let (flow, authorization) = started(&identity).await;
    let begun = Instant::now();
    let error = flow
        .complete_device_authorization(&authorization)
        .await
        .expect_err("expired");
    assert!(matches!(error, SignInError::Expired), "{error}");
    assert!(begun.elapsed() <= Duration::from_secs(300));

    // The provider's own `expired_token` ends it too.
    let (flow, authorization) = started(&identity).await;
    identity.fail_next(
        Endpoint::Token,
        1,
        Failure::Body {
            status: 400,
            content_type: "application/json".to_owned(),
            body: r#"{"error":"expired_token"}"#.to_owned(),
        },
    );
    let error = flow
        .complete_device_authorization(&authorization)
        .await
        .expect_err("expired at the provider");
    assert!(matches!(error, SignInError::Expired), "{error}");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_poller_polls_no_more_and_transient_failures_are_retried() {
    let identity = MockIdentity::start().await;
    let (flow, authorization) = started(&identity).await;
    let cancelled = tokio::time::timeout(
        Duration::from_secs(12),
        flow.complete_device_authorization(&authorization),
    )
    .await;
    assert!(cancelled.is_err(), "still pending when dropped");
    let polls = identity.requests_for_grant(DEVICE_GRANT);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        identity.requests_for_grant(DEVICE_GRANT),
        polls,
        "no poll after the drop"
    );

    // A 503 on the way is retried at the next interval.
    identity.fail_next(Endpoint::Token, 1, Failure::Status(503));
    assert!(identity.approve_device(authorization.user_code(), DEFAULT_USER));
    flow.complete_device_authorization(&authorization)
        .await
        .expect("signed in after the 503");
}

#[tokio::test]
async fn a_client_without_the_grant_is_refused_at_the_start() {
    let identity = MockIdentity::start().await;
    let discovery = Discovery::fetch(&identity.issuer())
        .await
        .expect("discovery");
    let client = ClientConfig::builder(discovery, erpnet_auth_testkit::DEFAULT_CLIENT_ID)
        .client_secret(erpnet_auth_testkit::DEFAULT_CLIENT_SECRET)
        .build()
        .expect("confidential client");
    let flow = AuthorizationCodeFlow::builder(client)
        .build()
        .expect("flow");
    let error = flow
        .start_device_authorization()
        .await
        .expect_err("client_credentials only");
    assert_eq!(
        error.oauth_code(),
        Some(&erpnet_auth::OAuthErrorCode::UnauthorizedClient),
        "{error}"
    );
}
