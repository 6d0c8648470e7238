//! `JwtValidator` on the peer's access tokens: RFC 9068 as someone else wrote
//! it (`aud` and `scope` as strings, not ERP.net's arrays), and key rotation
//! at the peer.

use erpnet_auth::{AccessToken, Algorithm, JwtValidator, ValidationError};

use crate::peer::{CC_BASIC, JWT_API, OPAQUE_API, Peer, peer_or_skip};

/// A JWT from the peer for the API.
async fn jwt(peer: &Peer) -> AccessToken {
    peer.service_token(&["read", "update"], JWT_API).await
}

/// The id of the key that signed `token`; it must validate.
async fn signing_key(validator: &JwtValidator, token: &AccessToken) -> String {
    let verified = validator
        .validate(token.expose_secret())
        .await
        .expect("a valid token");
    verified.key_id().expect("a kid").to_owned()
}

#[tokio::test]
async fn string_aud_and_string_scope_validate_and_scopes_are_enforced() {
    let peer = peer_or_skip!();
    let token = jwt(&peer).await;
    let raw = token.expose_secret();

    let verified = peer.validator(JWT_API).validate(raw).await.expect("valid");
    assert_eq!(verified.issuer(), peer.issuer());
    assert_eq!(verified.audiences(), [JWT_API], "`aud` as one string");
    assert_eq!(verified.scopes(), ["read", "update"], "`scope` as a string");
    assert_eq!(verified.client_id(), Some(CC_BASIC.id));
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

    let error = peer
        .validator(OPAQUE_API)
        .validate(raw)
        .await
        .expect_err("another API's audience");
    assert!(matches!(error, ValidationError::WrongAudience), "{error}");
}

#[tokio::test]
async fn key_rotation_new_keys_at_once_old_ones_while_published() {
    let peer = peer_or_skip!();
    let validator = peer.validator(JWT_API);
    let old = jwt(&peer).await;
    let first_key = signing_key(&validator, &old).await;
    assert_eq!(validator.jwks().expect("one issuer").fetch_count(), 1);

    // A new signing key; the old one stays published. A token signed with the
    // new key validates at once (one refetch for its unknown kid), the old
    // token still does.
    let kids = peer.rotate_keys(true).await;
    assert_eq!(kids, [kids[0].clone(), first_key.clone()]);
    let new = jwt(&peer).await;
    assert_eq!(signing_key(&validator, &new).await, kids[0]);
    assert_eq!(
        validator.jwks().expect("one issuer").fetch_count(),
        2,
        "one refetch"
    );
    assert_eq!(signing_key(&validator, &old).await, first_key);

    // Another new key, and every older one dropped: once the key set is
    // refreshed, neither earlier token validates.
    let kids = peer.rotate_keys(false).await;
    assert_eq!(kids.len(), 1);
    validator
        .jwks()
        .expect("one issuer")
        .refresh()
        .await
        .expect("key-set refresh");
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
    assert_eq!(signing_key(&validator, &jwt(&peer).await).await, kids[0]);
}
