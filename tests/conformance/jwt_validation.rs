//! `JwtValidator` on the peer's access tokens: RFC 9068 as someone else wrote
//! it (`aud` and `scope` as strings, not ERP.net's arrays), and key rotation
//! at the peer.

use erpnet_auth::{
    AccessToken, Algorithm, ClientAuthMethod, ClientCredentials, JwtValidator, TokenSource,
    ValidationError,
};

use crate::peer::{CC_BASIC, JWT_API, OPAQUE_API, Peer, peer_or_skip};

async fn jwt(peer: &Peer) -> AccessToken {
    ClientCredentials::builder(peer.authority(), CC_BASIC.0)
        .client_secret(CC_BASIC.1)
        .auth_method(ClientAuthMethod::ClientSecretBasic)
        .scopes(["read", "update"])
        .param("resource", JWT_API)
        .build()
        .expect("grant")
        .token()
        .await
        .expect("token")
}

fn validator(peer: &Peer, audience: &str) -> JwtValidator {
    JwtValidator::builder(peer.authority())
        .audience(audience)
        .build()
        .expect("validator")
}

#[tokio::test]
async fn string_aud_and_string_scope_validate_and_scopes_are_enforced() {
    let peer = peer_or_skip!();
    let token = jwt(&peer).await;
    let raw = token.expose_secret();

    let verified = validator(&peer, JWT_API)
        .validate(raw)
        .await
        .expect("valid");
    assert_eq!(verified.issuer(), peer.issuer());
    assert_eq!(verified.audiences(), [JWT_API], "`aud` as one string");
    assert_eq!(verified.scopes(), ["read", "update"], "`scope` as a string");
    assert_eq!(verified.client_id(), Some(CC_BASIC.0));
    assert_eq!(verified.algorithm(), Some(Algorithm::RS256));
    assert!(verified.jwt_id().is_some());
    assert!(verified.key_id().is_some());

    let needs_update = JwtValidator::builder(peer.authority())
        .audience(JWT_API)
        .require_scopes(["update"])
        .build()
        .expect("validator");
    assert!(needs_update.validate(raw).await.is_ok());
    let needs_admin = JwtValidator::builder(peer.authority())
        .audience(JWT_API)
        .require_scopes(["admin"])
        .build()
        .expect("validator");
    let error = needs_admin.validate(raw).await.expect_err("no admin scope");
    assert!(
        matches!(error, ValidationError::InsufficientScope { .. }),
        "{error}"
    );

    let error = validator(&peer, OPAQUE_API)
        .validate(raw)
        .await
        .expect_err("another API's audience");
    assert!(matches!(error, ValidationError::WrongAudience), "{error}");
}

#[tokio::test]
async fn key_rotation_new_keys_at_once_old_ones_while_published() {
    let peer = peer_or_skip!();
    let validator = validator(&peer, JWT_API);
    let old = jwt(&peer).await;
    validator
        .validate(old.expose_secret())
        .await
        .expect("first key");
    assert_eq!(validator.jwks().fetch_count(), 1);

    // A new signing key; the old one stays published.
    let kids = peer.rotate_keys(true).await;
    assert_eq!(kids.len(), 2);
    let new = jwt(&peer).await;
    let verified = validator
        .validate(new.expose_secret())
        .await
        .expect("a token signed with the new key validates at once");
    assert_eq!(verified.key_id(), Some(kids[0].as_str()));
    assert_eq!(
        validator.jwks().fetch_count(),
        2,
        "one refetch for the unknown kid"
    );
    let verified = validator
        .validate(old.expose_secret())
        .await
        .expect("the old key is still published");
    assert_eq!(verified.key_id(), Some(kids[1].as_str()));

    // Another new key, and every older one dropped.
    let kids = peer.rotate_keys(false).await;
    assert_eq!(kids.len(), 1);
    validator.jwks().refresh().await.expect("key-set refresh");
    for (name, token) in [("first", &old), ("second", &new)] {
        let error = validator
            .validate(token.expose_secret())
            .await
            .expect_err("its key is no longer published");
        assert!(
            matches!(error, ValidationError::UnknownKey),
            "{name}: {error}"
        );
    }
    let newest = jwt(&peer).await;
    let verified = validator
        .validate(newest.expose_secret())
        .await
        .expect("the newest key");
    assert_eq!(verified.key_id(), Some(kids[0].as_str()));
}
