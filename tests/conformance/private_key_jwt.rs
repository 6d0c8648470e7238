//! `private_key_jwt` client authentication (RFC 7523 §2.2) at the peer: a
//! client known only by its public keys gets tokens with RSA and EC P-256
//! keys, and revokes with one; a key it does not know is `invalid_client`.

use erpnet_auth::{
    ClientConfig, ClientCredentials, ClientSigningKey, Introspector, OAuthErrorCode, Revocation,
    TokenSource, TokenTypeHint,
};
use erpnet_auth_testkit::ClientKey;
use secrecy::SecretString;

use crate::peer::{JWT_API, OPAQUE_API, Peer, RESOURCE_SERVER};

/// The client the peer registers with `CLIENT_JWKS`.
const CC_JWT: &str = "cc-jwt";

/// A peer that knows `cc-jwt` by the public halves of `keys`.
async fn peer_knowing(keys: &[&ClientKey]) -> Option<Peer> {
    let jwks = serde_json::json!({
        "keys": keys.iter().map(|key| key.public_jwk()).collect::<Vec<_>>(),
    });
    Peer::start_with(vec![("CLIENT_JWKS", jwks.to_string())]).await
}

fn client(peer: &Peer, key: &ClientKey) -> ClientConfig {
    let signing_key = ClientSigningKey::from_pem(key.private_pem().as_bytes())
        .and_then(|signing_key| signing_key.with_kid(key.kid()))
        .expect("PEM key");
    ClientConfig::builder(peer.authority(), CC_JWT)
        .private_key(signing_key)
        .build()
        .expect("valid client")
}

fn grant(peer: &Peer, key: &ClientKey, resource: &str) -> ClientCredentials {
    ClientCredentials::builder(client(peer, key))
        .scopes(["read"])
        .param("resource", resource)
        .build()
        .expect("valid grant")
}

#[tokio::test]
async fn rsa_and_ec_keys_authenticate_for_tokens_and_revocation() {
    let (rsa, ec) = (ClientKey::rsa("rsa-1"), ClientKey::ec_p256("ec-1"));
    let Some(peer) = peer_knowing(&[&rsa, &ec]).await else {
        return;
    };
    let validator = peer.validator(JWT_API);
    for key in [&rsa, &ec] {
        let grant = grant(&peer, key, JWT_API);
        // Twice: each request carries a fresh assertion (the peer refuses a reused `jti`).
        for _ in 0..2 {
            let token = grant
                .token()
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", key.kid()));
            let verified = validator
                .validate(token.expose_secret())
                .await
                .expect("the peer's JWT validates");
            assert_eq!(verified.client_id(), Some(CC_JWT));
            assert_eq!(verified.scopes(), ["read"]);
        }
    }

    // Revocation authenticates the same way.
    let token = grant(&peer, &ec, OPAQUE_API)
        .token()
        .await
        .expect("opaque token");
    let introspector = Introspector::builder(peer.client(RESOURCE_SERVER))
        .cache_ttl(std::time::Duration::ZERO)
        .build()
        .expect("introspector");
    let active = |token: String| {
        let introspector = &introspector;
        async move {
            introspector
                .introspect(&token)
                .await
                .expect("introspection")
                .is_some()
        }
    };
    assert!(active(token.expose_secret().to_owned()).await);
    Revocation::new(client(&peer, &ec))
        .expect("revocation")
        .revoke(
            &SecretString::from(token.expose_secret().to_owned()),
            TokenTypeHint::AccessToken,
        )
        .await
        .expect("revoked with a client assertion");
    assert!(!active(token.expose_secret().to_owned()).await, "revoked");
}

#[tokio::test]
async fn a_key_the_peer_does_not_know_is_invalid_client() {
    let registered = ClientKey::ec_p256("ec-1");
    let Some(peer) = peer_knowing(&[&registered]).await else {
        return;
    };
    let impostor = ClientKey::ec_p256("ec-1");
    let error = grant(&peer, &impostor, JWT_API)
        .token()
        .await
        .expect_err("an unknown key");
    assert_eq!(
        error.oauth_code(),
        Some(&OAuthErrorCode::InvalidClient),
        "{error}"
    );
    assert!(!error.is_transient());
}
