//! Interactive flows against the mock ERP.net Identity: sign-in through the
//! loopback helper with a headless "browser", the code exchange, ID tokens,
//! rotating refresh tokens, introspection and revocation.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use erpnet_auth::{
    Authority, AuthorizationCodeFlow, CachedTokenSource, ClientAuthMethod, ClientConfig, Discovery,
    Endpoints, Error, Introspector, LoopbackOptions, LoopbackRedirect, PendingAuthorization,
    Revocation, SignIn, SignInError, TokenSource, TokenTypeHint, Url, refresh_token_store_fn,
    sign_in_with_loopback,
};
use erpnet_auth_testkit::{
    DEFAULT_CLIENT_ID, DEFAULT_PUBLIC_CLIENT_ID, DEFAULT_RESOURCE_ID, DEFAULT_RESOURCE_SECRET,
    DEFAULT_USER, Endpoint, MockIdentity,
};
use secrecy::{ExposeSecret, SecretString};

mod support;

const SCOPES: [&str; 5] = ["openid", "profile", "offline_access", "read", "update"];

async fn flow(identity: &MockIdentity) -> AuthorizationCodeFlow {
    let discovery = Discovery::fetch(&identity.issuer())
        .await
        .expect("discovery");
    let client = ClientConfig::builder(discovery, DEFAULT_PUBLIC_CLIENT_ID)
        .auth_method(ClientAuthMethod::None)
        .build()
        .expect("public client");
    AuthorizationCodeFlow::builder(client)
        .scopes(SCOPES)
        .build()
        .expect("flow")
}

/// Plays the browser: opens the URL and follows the redirects, back to the
/// loopback listener.
fn browse(url: &Url) {
    let url = url.clone();
    tokio::spawn(async move {
        let _ = reqwest::Client::new().get(url).send().await;
    });
}

async fn sign_in(identity: &MockIdentity) -> (AuthorizationCodeFlow, SignIn) {
    let flow = flow(identity).await;
    let options = LoopbackOptions::default()
        .open_browser(false)
        .timeout(Duration::from_secs(30));
    let signed_in = sign_in_with_loopback(&flow, options, browse)
        .await
        .expect("signed in");
    (flow, signed_in)
}

/// The callback URL the mock redirects to, without completing the sign-in.
async fn callback_for(flow: &AuthorizationCodeFlow) -> (PendingAuthorization, Url) {
    let listener = LoopbackRedirect::bind().await.expect("bind");
    let pending = flow
        .authorization_request(listener.redirect_uri())
        .build()
        .expect("request");
    browse(pending.url());
    let callback = listener
        .wait(Duration::from_secs(30))
        .await
        .expect("callback");
    (pending, callback)
}

fn with_param(url: &Url, name: &str, value: &str) -> Url {
    let mut changed = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(n, _)| n != name)
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect();
    changed
        .query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair(name, value);
    changed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_sign_in_through_the_loopback_helper() {
    let identity = MockIdentity::start().await;
    let (flow, signed_in) = sign_in(&identity).await;
    let id_token = signed_in.id_token.as_ref().expect("ID token");
    assert_eq!(id_token.subject(), DEFAULT_USER);
    assert!(id_token.claim("sid").is_some(), "the sign-in session");
    assert!(
        signed_in.refresh_token.is_some(),
        "offline_access gives a refresh token"
    );
    assert!(signed_in.access_token.has_scope("read"));
    assert_eq!(identity.requests_for_grant("authorization_code"), 1);

    // The authorization request carried PKCE S256, state, nonce, and consent
    // for offline_access; the end-session URL carries the ID token hint.
    let pending = flow
        .authorization_request(&Url::parse("http://127.0.0.1:9/callback").expect("url"))
        .build()
        .expect("request");
    let param = |name: &str| support::query_param(pending.url(), name);
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param("response_type").as_deref(), Some("code"));
    assert_eq!(param("prompt").as_deref(), Some("consent"));
    assert!(param("state").is_some_and(|s| s.len() >= 16));
    assert!(param("nonce").is_some());
    let logout = flow
        .end_session_url(
            Some(id_token),
            Some(&Url::parse("http://127.0.0.1/signed-out").expect("url")),
            Some("bye"),
        )
        .expect("end session");
    assert!(
        logout
            .as_str()
            .starts_with(&identity.end_session_endpoint())
    );
    assert!(
        logout
            .query_pairs()
            .any(|(n, v)| n == "id_token_hint" && v == id_token.expose_secret())
    );
}

#[tokio::test]
async fn sign_in_needs_a_fetched_document_and_a_request_adds_scopes() {
    let identity = MockIdentity::start().await;
    let authority: Authority = identity.issuer().parse().expect("authority");
    let discovered_later = ClientConfig::builder(authority, DEFAULT_PUBLIC_CLIENT_ID)
        .auth_method(ClientAuthMethod::None)
        .build()
        .expect("public client");
    let error = AuthorizationCodeFlow::builder(discovered_later)
        .build()
        .expect_err("no discovery document at hand");
    assert!(error.to_string().contains("Discovery::fetch"), "{error}");

    let flow = flow(&identity).await;
    assert_eq!(flow.scopes(), SCOPES);
    let pending = flow
        .authorization_request(&Url::parse("http://127.0.0.1:9/callback").expect("url"))
        .scopes(["update admin", "openid"])
        .build()
        .expect("request");
    assert_eq!(
        support::query_param(pending.url(), "scope").as_deref(),
        Some("openid profile offline_access read update admin"),
        "the flow's scopes, then the request's new ones"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_or_failed_callbacks_are_typed_errors() {
    let identity = MockIdentity::start().await;
    let flow = flow(&identity).await;

    let (pending, callback) = callback_for(&flow).await;
    let error = flow
        .complete(pending, &with_param(&callback, "state", "forged"))
        .await
        .expect_err("wrong state");
    assert!(matches!(error, SignInError::StateMismatch), "{error}");

    let (pending, callback) = callback_for(&flow).await;
    let error = flow
        .complete(
            pending,
            &with_param(&callback, "iss", "https://evil.example/id"),
        )
        .await
        .expect_err("wrong iss");
    assert!(
        matches!(error, SignInError::IssuerParameter { .. }),
        "{error}"
    );

    identity.deny_next_authorization();
    let (pending, callback) = callback_for(&flow).await;
    let error = flow.complete(pending, &callback).await.expect_err("denied");
    assert!(
        matches!(&error, SignInError::Authorization { code, .. } if code == "access_denied"),
        "{error}"
    );

    // The nonce of another sign-in attempt: the ID token is refused.
    let (pending, callback) = callback_for(&flow).await;
    let mut parts = pending.into_parts();
    parts.nonce = SecretString::from("another-attempt".to_owned());
    let error = flow
        .complete(PendingAuthorization::from_parts(parts), &callback)
        .await
        .expect_err("wrong nonce");
    assert!(
        matches!(&error, SignInError::IdToken { source, .. } if matches!(**source, erpnet_auth::ValidationError::WrongNonce)),
        "{error}"
    );

    // A replayed code fails, and the provider revokes what it had issued.
    let (pending, callback) = callback_for(&flow).await;
    let first = support::complete_twice(&flow, pending.into_parts(), &callback).await;
    let introspector = introspector(&identity);
    assert!(
        introspector
            .introspect(first.access_token.expose_secret())
            .await
            .expect("introspection")
            .is_none(),
        "tokens of a replayed code are revoked"
    );
}

/// The mock's API resource at its introspection endpoint, with `secret`.
fn introspector_with(identity: &MockIdentity, secret: &str) -> Introspector {
    let endpoint: Url = identity.introspection_endpoint().parse().expect("url");
    let api = ClientConfig::builder(
        Endpoints::new().introspection(endpoint),
        DEFAULT_RESOURCE_ID,
    )
    .client_secret(secret)
    .auth_method(ClientAuthMethod::ClientSecretBasic)
    .build()
    .expect("resource server");
    Introspector::builder(api).build().expect("introspector")
}

fn introspector(identity: &MockIdentity) -> Introspector {
    introspector_with(identity, DEFAULT_RESOURCE_SECRET)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_rotate_and_a_thousand_callers_cause_one_refresh() {
    let identity = MockIdentity::start().await;
    let (flow, signed_in) = sign_in(&identity).await;
    let (store, saved) = support::recording_store();
    let original = signed_in.refresh_token.clone().expect("refresh token");
    let grant = flow
        .refresh_grant(original.clone())
        .store(store)
        .build()
        .expect("grant");
    let tokens = CachedTokenSource::builder(grant)
        .initial_token(signed_in.access_token.clone())
        .build();
    assert_eq!(
        tokens.token().await.expect("seeded"),
        signed_in.access_token
    );
    assert_eq!(identity.requests_for_grant("refresh_token"), 0);

    // The API rejected the access token: a thousand callers at once.
    tokens.report_rejected(&signed_in.access_token);
    let refreshed = support::same_token_for_all(&tokens, 1000).await;
    assert_ne!(refreshed, signed_in.access_token);
    assert_eq!(
        identity.requests_for_grant("refresh_token"),
        1,
        "exactly one refresh"
    );
    let rotated = saved.lock().expect("lock").clone();
    assert_eq!(rotated.len(), 1, "the new refresh token was saved");
    assert_ne!(rotated[0], original.expose_secret(), "and it is a new one");

    // Once more: the grant uses the newest refresh token.
    tokens.report_rejected(&refreshed);
    tokens.token().await.expect("second refresh");
    assert_eq!(identity.requests_for_grant("refresh_token"), 2);

    // Someone replays the original, rotated refresh token: the provider
    // revokes the whole grant, and both sources end with "sign in again".
    let replay = flow.refresh_grant(original).build().expect("grant");
    let error = replay.token().await.expect_err("rotated token");
    assert!(matches!(error, Error::SignInAgain { .. }), "{error}");
    assert!(error.to_string().contains("sign in again"));
    let current = tokens
        .token()
        .await
        .expect("the cached access token is still served");
    tokens.report_rejected(&current);
    let error = tokens.token().await.expect_err("grant revoked");
    assert!(matches!(error, Error::SignInAgain { .. }), "{error}");
    let requests = identity.requests_for_grant("refresh_token");
    assert!(matches!(
        replay.token().await,
        Err(Error::SignInAgain { .. })
    ));
    assert_eq!(
        identity.requests_for_grant("refresh_token"),
        requests,
        "an ended source stays silent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_save_is_reported_and_nothing_is_lost() {
    let identity = MockIdentity::start().await;
    let (flow, signed_in) = sign_in(&identity).await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let store = {
        let attempts = attempts.clone();
        refresh_token_store_fn(move |_token: SecretString| {
            let attempts = attempts.clone();
            async move {
                if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(Error::source_failed("disk full", true))
                } else {
                    Ok(())
                }
            }
        })
    };
    let grant = flow
        .refresh_grant(signed_in.refresh_token.clone().expect("refresh token"))
        .store(store)
        .build()
        .expect("grant");
    let error = grant.token().await.expect_err("save failed");
    assert!(
        matches!(&error, Error::Persist(m) if m.contains("disk full")),
        "{error}"
    );
    assert!(error.is_transient());
    let token = grant.token().await.expect("saved on the retry");
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(
        identity.requests_for_grant("refresh_token"),
        1,
        "no second refresh"
    );
    assert!(token.has_scope("read"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_and_revocation_of_reference_tokens() {
    let identity = MockIdentity::start().await;
    let reference =
        identity.mint_reference_token(DEFAULT_CLIENT_ID, &["read"], Duration::from_secs(600));
    assert!(erpnet_auth::is_erpnet_reference_token(&reference));
    let introspector = introspector(&identity);

    let active = introspector
        .introspect(&reference)
        .await
        .expect("introspection")
        .expect("active");
    assert!(active.has_scope("read"));
    assert_eq!(active.client_id(), Some(DEFAULT_CLIENT_ID));
    assert_eq!(active.algorithm(), None);
    // Cached: the second look does not reach the provider.
    introspector.introspect(&reference).await.expect("cached");
    assert_eq!(identity.requests(Endpoint::Introspection), 1);
    // Single flight: concurrent first looks at a new token make one request.
    let other =
        identity.mint_reference_token(DEFAULT_CLIENT_ID, &["read"], Duration::from_secs(600));
    let lookups: Vec<_> = (0..50)
        .map(|_| {
            let introspector = introspector.clone();
            let other = other.clone();
            tokio::spawn(async move { introspector.introspect(&other).await })
        })
        .collect();
    for lookup in lookups {
        assert!(
            lookup
                .await
                .expect("task")
                .expect("introspection")
                .is_some()
        );
    }
    assert_eq!(identity.requests(Endpoint::Introspection), 2);

    let unknown = format!("enrt_{}", "ab".repeat(32));
    assert!(
        introspector
            .introspect(&unknown)
            .await
            .expect("introspection")
            .is_none()
    );

    let revocation_endpoint: Url = identity.revocation_endpoint().parse().expect("url");
    let client = ClientConfig::builder(
        Endpoints::new().revocation(revocation_endpoint),
        DEFAULT_CLIENT_ID,
    )
    .client_secret(erpnet_auth_testkit::DEFAULT_CLIENT_SECRET)
    .build()
    .expect("client");
    let revocation = Revocation::new(client).expect("revocation");
    revocation
        .revoke(
            &SecretString::from(reference.clone()),
            TokenTypeHint::AccessToken,
        )
        .await
        .expect("revoked");
    introspector.forget(&reference);
    assert!(
        introspector
            .introspect(&reference)
            .await
            .expect("introspection")
            .is_none(),
        "inactive after revocation"
    );

    let wrong = introspector_with(&identity, "wrong");
    let error = wrong.introspect(&other).await.expect_err("unauthenticated");
    assert!(!error.to_string().contains(&other));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userinfo_gives_the_profile_of_the_signed_in_user() {
    let identity = MockIdentity::start().await;
    let (flow, signed_in) = sign_in(&identity).await;
    let id_token = signed_in.id_token.as_ref().expect("ID token");
    let userinfo = flow
        .userinfo(&signed_in.access_token, id_token)
        .await
        .expect("userinfo")
        .expect("the mock has a userinfo endpoint");
    assert_eq!(userinfo.subject(), DEFAULT_USER);
    assert_eq!(userinfo.claim("name"), Some(&serde_json::json!("John Doe")));
    assert_eq!(identity.requests(Endpoint::UserInfo), 1);
}
