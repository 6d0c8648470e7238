//! RFC 7662 introspection and RFC 7009 revocation of an opaque token at the
//! peer (it introspects only opaque access tokens).

use std::time::Duration;

use erpnet_auth::{AccessToken, Introspector, OAuthErrorCode, Revocation, TokenTypeHint};
use secrecy::SecretString;

use crate::peer::{CC_BASIC, Confidential, OPAQUE_API, Peer, RESOURCE_SERVER, peer_or_skip};

async fn opaque_token(peer: &Peer) -> AccessToken {
    peer.service_token(&["read"], OPAQUE_API).await
}

/// Whether the peer says `token` is active (`Some`), through `introspector`.
async fn is_active(introspector: &Introspector, token: &AccessToken) -> bool {
    introspector
        .introspect(token.expose_secret())
        .await
        .expect("introspection")
        .is_some()
}

#[tokio::test]
async fn an_opaque_token_is_active_until_revoked() {
    let peer = peer_or_skip!();
    let token = opaque_token(&peer).await;
    assert!(!erpnet_auth::looks_like_jwt(token.expose_secret()));

    // One introspector caching results (the default), one not at all.
    let cached = Introspector::builder(peer.client(RESOURCE_SERVER))
        .build()
        .expect("introspector");
    let uncached = Introspector::builder(peer.client(RESOURCE_SERVER))
        .cache_ttl(Duration::ZERO)
        .build()
        .expect("introspector");
    for introspector in [&cached, &uncached] {
        let active = introspector
            .introspect(token.expose_secret())
            .await
            .expect("introspection")
            .expect("active");
        assert_eq!(active.client_id(), Some(CC_BASIC.id));
        assert_eq!(active.scopes(), ["read"]);
        assert_eq!(active.audiences(), [OPAQUE_API]);
        assert_eq!(active.issuer(), peer.issuer());
    }

    // Revoked by the client it was issued to (the peer lets only that one).
    let revocation = Revocation::new(peer.client(CC_BASIC)).expect("revocation");
    let secret = SecretString::from(token.expose_secret().to_owned());
    revocation
        .revoke(&secret, TokenTypeHint::AccessToken)
        .await
        .expect("revoked");

    assert!(!is_active(&uncached, &token).await, "inactive once revoked");
    assert!(
        is_active(&cached, &token).await,
        "the cached result, until…"
    );
    cached.forget(token.expose_secret());
    assert!(!is_active(&cached, &token).await, "…it is forgotten");

    // RFC 7009 §2.2: revoking it again (or any unknown token) still succeeds.
    revocation
        .revoke(&secret, TokenTypeHint::AccessToken)
        .await
        .expect("idempotent");
}

#[tokio::test]
async fn a_wrong_introspection_secret_is_an_error_not_an_inactive_token() {
    let peer = peer_or_skip!();
    let token = opaque_token(&peer).await;
    let wrong = Confidential {
        secret: "not-the-secret",
        ..RESOURCE_SERVER
    };
    let introspector = Introspector::builder(peer.client(wrong))
        .build()
        .expect("introspector");
    let error = introspector
        .introspect(token.expose_secret())
        .await
        .expect_err("the peer refuses the resource server");
    assert_eq!(
        error.oauth_code(),
        Some(&OAuthErrorCode::InvalidClient),
        "{error}"
    );
    assert!(!error.is_transient(), "{error}");
}
