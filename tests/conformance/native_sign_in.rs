//! Native sign-in at the peer: the loopback helper with PKCE, the browser
//! played headless, the ID token validated, then rotating refresh tokens under
//! concurrency, and the replay of a rotated refresh token.

use std::sync::atomic::Ordering;
use std::time::Duration;

use erpnet_auth::{
    AccessToken, AuthorizationCodeFlow, CachedTokenSource, ClientAuthMethod, ClientConfig,
    Discovery, Error, JwtValidator, LoopbackOptions, PendingAuthorization, PendingParts,
    RefreshTokenGrant, RefreshTokenGrantBuilder, SignIn, SignInError, TokenSource, Url,
    ValidationError, sign_in_with_loopback,
};
use secrecy::{ExposeSecret, SecretString};

use crate::peer::{ACCOUNT, Counting, JWT_API, NATIVE_APP, Peer, peer_or_skip};
use crate::support::browser::Browser;
use crate::support::{complete_twice, query_param, recording_store, same_token_for_all};

const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(60);

async fn flow(peer: &Peer) -> AuthorizationCodeFlow {
    let discovery = Discovery::fetch(peer.issuer()).await.expect("discovery");
    let client = ClientConfig::builder(discovery, NATIVE_APP)
        .auth_method(ClientAuthMethod::None)
        .build()
        .expect("public client");
    AuthorizationCodeFlow::builder(client)
        .scopes(["openid", "profile", "offline_access", "read", "update"])
        .build()
        .expect("flow")
}

/// Signs in through `sign_in_with_loopback`, this test playing the browser:
/// it GETs the authorization URL and follows every redirect, the last one to
/// the loopback listener. Returns the sign-in and the authorization URL.
async fn sign_in(flow: &AuthorizationCodeFlow) -> (SignIn, Url) {
    let (shown, url) = tokio::sync::oneshot::channel::<Url>();
    let browser = tokio::spawn(async move {
        let url = url.await.expect("the authorization URL is shown");
        let last = Browser::new().follow(&url, |_| false).await;
        (url, last)
    });
    let options = LoopbackOptions::default()
        .open_browser(false)
        .timeout(SIGN_IN_TIMEOUT)
        .resource(JWT_API);
    let sign_in = sign_in_with_loopback(flow, options, move |url| {
        let _ = shown.send(url.clone());
    });
    let sign_in = tokio::time::timeout(SIGN_IN_TIMEOUT, sign_in)
        .await
        .expect("sign-in within the time-out")
        .expect("sign-in");
    let (url, last) = browser.await.expect("browser");
    assert_eq!(last.host_str(), Some("127.0.0.1"));
    assert_eq!(
        last.path(),
        "/callback",
        "the browser ended at the listener"
    );
    (sign_in, url)
}

/// The first half of a web app's sign-in: the authorization request for the
/// API, the browser sent to it until it is redirected to `redirect`. Returns
/// what the app keeps and the callback URL (not visited).
async fn web_sign_in(flow: &AuthorizationCodeFlow, redirect: &Url) -> (PendingParts, Url) {
    let pending = flow
        .authorization_request(redirect)
        .resource(JWT_API)
        .build()
        .expect("request");
    let at_redirect = |url: &Url| url.as_str().starts_with(redirect.as_str());
    let callback = Browser::new().follow(pending.url(), at_redirect).await;
    (pending.into_parts(), callback)
}

/// A refresh-token grant of the sign-in's client, for the API.
fn refresh_grant(
    flow: &AuthorizationCodeFlow,
    refresh_token: SecretString,
) -> RefreshTokenGrantBuilder {
    flow.refresh_grant(refresh_token).resource(JWT_API)
}

/// Asserts that `source` has ended: the user must sign in again.
async fn assert_must_sign_in_again(source: &impl TokenSource, why: &str) {
    let error = source.token().await.expect_err(why);
    assert!(matches!(error, Error::SignInAgain { .. }), "{why}: {error}");
    assert!(!error.is_transient(), "{why}: {error}");
}

/// Asserts `token` is a JWT for the API, for the signed-in user.
async fn assert_user_token(validator: &JwtValidator, token: &AccessToken) {
    let verified = validator
        .validate(token.expose_secret())
        .await
        .expect("a JWT access token for the API");
    assert_eq!(verified.subject(), Some(ACCOUNT));
    assert_eq!(verified.client_id(), Some(NATIVE_APP));
    assert_eq!(verified.scopes(), ["read", "update"]);
}

#[tokio::test]
async fn loopback_sign_in_with_pkce_yields_a_validated_id_token_and_an_api_token() {
    let peer = peer_or_skip!();
    let flow = flow(&peer).await;
    let (sign_in, url) = sign_in(&flow).await;

    let param = |name: &str| query_param(&url, name);
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(
        param("prompt").as_deref(),
        Some("consent"),
        "offline_access asks consent"
    );
    assert_eq!(param("resource").as_deref(), Some(JWT_API));
    assert!(param("nonce").is_some() && param("state").is_some());

    let id_token = sign_in.id_token.as_ref().expect("openid: an ID token");
    assert_eq!(id_token.subject(), ACCOUNT);
    assert_eq!(
        id_token.claim("aud").and_then(|a| a.as_str()),
        Some(NATIVE_APP)
    );
    assert!(
        sign_in.refresh_token.is_some(),
        "offline_access was granted"
    );
    assert_user_token(&peer.validator(JWT_API), &sign_in.access_token).await;
    assert_eq!(sign_in.access_token.scopes(), ["read", "update"]);

    // The ID token is no access token, for the API or anyone.
    let error = peer
        .validator(JWT_API)
        .validate(id_token.expose_secret())
        .await
        .expect_err("an ID token is refused as an access token");
    assert!(matches!(error, ValidationError::WrongType), "{error}");
}

#[tokio::test]
async fn a_wrong_nonce_and_a_reused_code_are_refused() {
    let peer = peer_or_skip!();
    let flow = flow(&peer).await;
    let redirect = Url::parse("http://127.0.0.1:9/callback").expect("url");

    // The web-app shape: keep the parts, complete from them. A stored nonce
    // that is not the one sent (a replayed or injected ID token) fails.
    let (mut parts, callback) = web_sign_in(&flow, &redirect).await;
    parts.nonce = SecretString::from("not-the-nonce-that-was-sent");
    let error = flow
        .complete(PendingAuthorization::from_parts(parts), &callback)
        .await
        .expect_err("wrong nonce");
    match &error {
        SignInError::IdToken { source, .. } => {
            assert!(matches!(**source, ValidationError::WrongNonce), "{error}")
        }
        other => panic!("expected an ID token error, got {other}"),
    }

    // A fresh sign-in completes once; the same code a second time is refused
    // by the peer, which then revokes the grant (RFC 6749 §4.1.2).
    let (parts, callback) = web_sign_in(&flow, &redirect).await;
    let first = complete_twice(&flow, parts, &callback).await;
    let revoked = refresh_grant(&flow, first.refresh_token.expect("refresh token"))
        .build()
        .expect("grant");
    assert_must_sign_in_again(&revoked, "the grant was revoked").await;
}

#[tokio::test]
async fn concurrent_callers_share_one_refresh_and_a_replayed_refresh_token_ends_the_session() {
    let peer = peer_or_skip!();
    let flow = flow(&peer).await;
    let validator = peer.validator(JWT_API);
    let (sign_in, _) = sign_in(&flow).await;
    let original = sign_in.refresh_token.clone().expect("refresh token");

    let (store, saved) = recording_store();
    let grant = refresh_grant(&flow, original.clone())
        .store(store)
        .build()
        .expect("grant");
    let (grant, refreshes) = Counting::new(grant);
    let tokens = CachedTokenSource::builder(grant)
        .initial_token(sign_in.access_token.clone())
        .build();
    assert_eq!(
        tokens.token().await.expect("token"),
        sign_in.access_token,
        "the sign-in's token is served first"
    );
    assert_eq!(refreshes.load(Ordering::SeqCst), 0);

    // The API rejected the access token: 64 callers at once get one new
    // token from one refresh. (Two refreshes with the same refresh token
    // would make the peer revoke the whole grant.)
    tokens.report_rejected(&sign_in.access_token);
    let refreshed = same_token_for_all(&tokens, 64).await;
    assert_ne!(refreshed, sign_in.access_token);
    assert_eq!(refreshes.load(Ordering::SeqCst), 1, "one refresh request");
    assert_user_token(&validator, &refreshed).await;

    // Rotated: the new refresh token was saved, and it works.
    let rotated = saved.lock().expect("saved").clone();
    assert_eq!(rotated.len(), 1);
    assert_ne!(rotated[0], original.expose_secret());
    let current = tokens.source().inner().refresh_token().await;
    assert_eq!(current.expose_secret(), rotated[0]);
    tokens.report_rejected(&refreshed);
    let again = tokens.token().await.expect("second refresh");
    assert_ne!(again, refreshed);
    assert_eq!(refreshes.load(Ordering::SeqCst), 2);
    assert_eq!(saved.lock().expect("saved").len(), 2);

    // Someone replays the first, rotated-away refresh token: the peer refuses
    // it and revokes the grant. Both sources end with `SignInAgain`.
    let replay = refresh_grant(&flow, original).build().expect("grant");
    let error = replay.token().await.expect_err("a rotated refresh token");
    assert!(error.to_string().contains("sign in again"), "{error}");
    assert_must_sign_in_again(&replay, "ended, without asking the peer").await;
    tokens.report_rejected(&again);
    assert_must_sign_in_again(&tokens, "the grant is revoked").await;
}

#[tokio::test]
async fn refreshing_without_the_resource_gets_no_api_token() {
    // Why `RefreshTokenGrantBuilder::resource` exists: without it the peer
    // issues the refreshed token for its userinfo endpoint, opaque, which the
    // API cannot accept.
    let peer = peer_or_skip!();
    let flow = flow(&peer).await;
    let (sign_in, _) = sign_in(&flow).await;
    let grant: RefreshTokenGrant = flow
        .refresh_grant(sign_in.refresh_token.expect("refresh token"))
        .build()
        .expect("grant");
    let token = grant.token().await.expect("refreshed");
    let error = peer
        .validator(JWT_API)
        .validate(token.expose_secret())
        .await
        .expect_err("not a JWT for the API");
    assert!(matches!(error, ValidationError::Malformed(_)), "{error}");
}
