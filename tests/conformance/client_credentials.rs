//! Client credentials at the peer: both client authentication methods, JWT
//! access tokens for a resource (RFC 8707), the cache, typed errors.

use std::sync::atomic::Ordering;

use erpnet_auth::{CachedTokenSource, Error, OAuthErrorCode, TokenSource};

use crate::peer::{CC_BASIC, CC_POST, Confidential, Counting, JWT_API, peer_or_skip};
use crate::support::same_token_for_all;

#[tokio::test]
async fn both_authentication_methods_get_a_jwt_for_the_resource() {
    let peer = peer_or_skip!();
    let validator = peer.validator(JWT_API);
    for client in [CC_BASIC, CC_POST] {
        let method = client.method;
        let token = peer
            .client_credentials(client, &["read", "update"], JWT_API)
            .token()
            .await
            .unwrap_or_else(|e| panic!("{method:?}: {e}"));
        assert_eq!(token.token_type(), "Bearer");
        assert_eq!(token.scopes(), ["read", "update"], "{method:?}");
        assert!(token.expires_in().is_some(), "expires_in is honoured");
        let verified = validator
            .validate(token.expose_secret())
            .await
            .unwrap_or_else(|e| panic!("{method:?}: the peer's JWT must validate: {e}"));
        assert_eq!(verified.client_id(), Some(client.id));
        assert_eq!(verified.audiences(), [JWT_API]);
        assert_eq!(verified.scopes(), ["read", "update"]);
    }
}

#[tokio::test]
async fn the_cache_asks_the_peer_once_for_many_callers() {
    let peer = peer_or_skip!();
    let grant = peer.client_credentials(CC_BASIC, &["read", "update"], JWT_API);
    let (counting, requests) = Counting::new(grant);
    let tokens = CachedTokenSource::new(counting);
    let token = same_token_for_all(&tokens, 64).await;
    assert_eq!(tokens.token().await.expect("token"), token);
    assert_eq!(requests.load(Ordering::SeqCst), 1, "one token request");
}

#[tokio::test]
async fn unknown_api_scopes_are_dropped_and_the_token_says_what_was_granted() {
    let peer = peer_or_skip!();
    let token = peer
        .client_credentials(CC_POST, &["read", "delete-everything"], JWT_API)
        .token()
        .await
        .expect("the peer drops unknown API scopes silently");
    assert_eq!(token.scopes(), ["read"]);
    assert!(!token.has_scope("delete-everything"));
}

#[tokio::test]
async fn a_wrong_secret_and_an_unknown_resource_are_permanent_typed_errors() {
    let peer = peer_or_skip!();
    let wrong_secret = Confidential {
        secret: "not-the-secret",
        ..CC_BASIC
    };
    let permanent = |error: Error, code: OAuthErrorCode| {
        assert_eq!(error.oauth_code(), Some(&code), "{error}");
        assert!(!error.is_transient(), "{error}");
        for secret in [CC_BASIC.secret, wrong_secret.secret] {
            assert!(!format!("{error} {error:?}").contains(secret), "{error}");
        }
    };

    let grant = peer.client_credentials(wrong_secret, &["read"], JWT_API);
    permanent(
        grant.token().await.expect_err("wrong secret"),
        OAuthErrorCode::InvalidClient,
    );
    // Through the cache the same error arrives, unchanged.
    permanent(
        CachedTokenSource::new(grant)
            .token()
            .await
            .expect_err("wrong secret, cached"),
        OAuthErrorCode::InvalidClient,
    );
    let unknown_resource =
        peer.client_credentials(CC_BASIC, &["read"], "urn:erpnet-auth:peer:no-such-api");
    permanent(
        unknown_resource
            .token()
            .await
            .expect_err("unknown resource"),
        OAuthErrorCode::InvalidTarget,
    );
}
