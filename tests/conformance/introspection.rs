//! RFC 7662 introspection and RFC 7009 revocation of an opaque token at the
//! peer (it introspects only opaque access tokens).

use std::time::Duration;

use erpnet_auth::{
    AccessToken, ClientAuthMethod, ClientCredentials, Introspector, Revocation, TokenSource,
    TokenTypeHint,
};
use secrecy::SecretString;

use crate::peer::{CC_BASIC, OPAQUE_API, Peer, RESOURCE_SERVER, peer_or_skip};

async fn opaque_token(peer: &Peer) -> AccessToken {
    ClientCredentials::builder(peer.authority(), CC_BASIC.0)
        .client_secret(CC_BASIC.1)
        .auth_method(ClientAuthMethod::ClientSecretBasic)
        .scopes(["read"])
        .param("resource", OPAQUE_API)
        .build()
        .expect("grant")
        .token()
        .await
        .expect("opaque token")
}

#[tokio::test]
async fn an_opaque_token_is_active_until_revoked() {
    let peer = peer_or_skip!();
    let token = opaque_token(&peer).await;
    assert!(!erpnet_auth::looks_like_jwt(token.expose_secret()));

    // One introspector caching results (the default), one not at all.
    let cached = Introspector::builder(peer.authority(), RESOURCE_SERVER.0)
        .client_secret(RESOURCE_SERVER.1)
        .build()
        .expect("introspector");
    let uncached = Introspector::builder(peer.authority(), RESOURCE_SERVER.0)
        .client_secret(RESOURCE_SERVER.1)
        .cache_ttl(Duration::ZERO)
        .build()
        .expect("introspector");
    for introspector in [&cached, &uncached] {
        let active = introspector
            .introspect(token.expose_secret())
            .await
            .expect("introspection")
            .expect("active");
        assert_eq!(active.client_id(), Some(CC_BASIC.0));
        assert_eq!(active.scopes(), ["read"]);
        assert_eq!(active.audiences(), [OPAQUE_API]);
        assert_eq!(active.issuer(), peer.issuer());
    }

    // Revoked by the client it was issued to (the peer lets only that one).
    let revocation = Revocation::builder(peer.authority(), CC_BASIC.0)
        .client_secret(CC_BASIC.1)
        .auth_method(ClientAuthMethod::ClientSecretBasic)
        .build_revocation()
        .expect("revocation");
    let secret = SecretString::from(token.expose_secret().to_owned());
    revocation
        .revoke(&secret, TokenTypeHint::AccessToken)
        .await
        .expect("revoked");

    assert!(
        uncached
            .introspect(token.expose_secret())
            .await
            .expect("introspection")
            .is_none(),
        "inactive once revoked"
    );
    cached.forget(token.expose_secret());
    assert!(
        cached
            .introspect(token.expose_secret())
            .await
            .expect("introspection")
            .is_none(),
        "inactive once the cached result is forgotten"
    );

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
    let introspector = Introspector::builder(peer.authority(), RESOURCE_SERVER.0)
        .client_secret("not-the-secret")
        .build()
        .expect("introspector");
    let error = introspector
        .introspect(token.expose_secret())
        .await
        .expect_err("the peer refuses the resource server");
    assert_eq!(
        error.oauth_code(),
        Some(&erpnet_auth::OAuthErrorCode::InvalidClient),
        "{error}"
    );
    assert!(!error.is_transient(), "{error}");
}
