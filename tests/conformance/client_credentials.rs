//! Client credentials at the peer: both client authentication methods, JWT
//! access tokens for a resource (RFC 8707), the cache, typed errors.

use std::sync::atomic::Ordering;

use erpnet_auth::{
    CachedTokenSource, ClientAuthMethod, ClientCredentials, Error, JwtValidator, OAuthErrorCode,
    TokenSource,
};

use crate::peer::{CC_BASIC, CC_POST, Counting, JWT_API, Peer, peer_or_skip};

fn grant(
    peer: &Peer,
    (id, secret): (&str, &str),
    method: ClientAuthMethod,
    resource: &str,
) -> ClientCredentials {
    ClientCredentials::builder(peer.authority(), id)
        .client_secret(secret)
        .auth_method(method)
        .scopes(["read", "update"])
        .param("resource", resource)
        .build()
        .expect("valid configuration")
}

#[tokio::test]
async fn both_authentication_methods_get_a_jwt_for_the_resource() {
    let peer = peer_or_skip!();
    let validator = JwtValidator::builder(peer.authority())
        .audience(JWT_API)
        .build()
        .expect("validator");
    for (client, method) in [
        (CC_BASIC, ClientAuthMethod::ClientSecretBasic),
        (CC_POST, ClientAuthMethod::ClientSecretPost),
    ] {
        let token = grant(&peer, client, method, JWT_API)
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
        assert_eq!(verified.client_id(), Some(client.0));
        assert_eq!(verified.audiences(), [JWT_API]);
        assert_eq!(verified.scopes(), ["read", "update"]);
    }
}

#[tokio::test]
async fn the_cache_asks_the_peer_once_for_many_callers() {
    let peer = peer_or_skip!();
    let (counting, requests) = Counting::new(grant(
        &peer,
        CC_BASIC,
        ClientAuthMethod::ClientSecretBasic,
        JWT_API,
    ));
    let tokens = CachedTokenSource::new(counting);
    let callers: Vec<_> = (0..64)
        .map(|_| {
            let tokens = tokens.clone();
            tokio::spawn(async move { tokens.token().await })
        })
        .collect();
    let mut seen = Vec::new();
    for caller in callers {
        seen.push(caller.await.expect("task").expect("token"));
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "one token for all");
    assert_eq!(tokens.token().await.expect("token"), seen[0]);
    assert_eq!(requests.load(Ordering::SeqCst), 1, "one token request");
}

#[tokio::test]
async fn unknown_api_scopes_are_dropped_and_the_token_says_what_was_granted() {
    let peer = peer_or_skip!();
    let token = ClientCredentials::builder(peer.authority(), CC_POST.0)
        .client_secret(CC_POST.1)
        .scopes(["read", "delete-everything"])
        .param("resource", JWT_API)
        .build()
        .expect("grant")
        .token()
        .await
        .expect("the peer drops unknown API scopes silently");
    assert_eq!(token.scopes(), ["read"]);
    assert!(!token.has_scope("delete-everything"));
}

#[tokio::test]
async fn a_wrong_secret_and_an_unknown_resource_are_permanent_typed_errors() {
    let peer = peer_or_skip!();
    let permanent = |error: Error, code: OAuthErrorCode| {
        assert_eq!(error.oauth_code(), Some(&code), "{error}");
        assert!(!error.is_transient(), "{error}");
        for secret in [CC_BASIC.1, "not-the-secret"] {
            assert!(!format!("{error} {error:?}").contains(secret), "{error}");
        }
    };

    let wrong_secret = grant(
        &peer,
        (CC_BASIC.0, "not-the-secret"),
        ClientAuthMethod::ClientSecretBasic,
        JWT_API,
    );
    permanent(
        wrong_secret.token().await.expect_err("wrong secret"),
        OAuthErrorCode::InvalidClient,
    );
    let unknown_resource = grant(
        &peer,
        CC_BASIC,
        ClientAuthMethod::ClientSecretBasic,
        "urn:erpnet-auth:peer:no-such-api",
    );
    permanent(
        unknown_resource
            .token()
            .await
            .expect_err("unknown resource"),
        OAuthErrorCode::InvalidTarget,
    );
    // Through the cache the same error arrives, unchanged.
    let cached = CachedTokenSource::new(wrong_secret);
    permanent(
        cached.token().await.expect_err("wrong secret, cached"),
        OAuthErrorCode::InvalidClient,
    );
}
