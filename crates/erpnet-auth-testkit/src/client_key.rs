//! Client key pairs for `private_key_jwt` (RFC 7523 §2.2): what a test gives the client
//! under test (the private PEM) and registers at the mock (the public JWK).

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::keys::pem;

/// A freshly generated key pair of a client that authenticates with `private_key_jwt`:
/// RSA 2048 (RS256) or EC P-256 (ES256).
///
/// Register its [`public_jwk`](ClientKey::public_jwk) with
/// [`Client::public_key`](crate::Client::public_key) and give its
/// [`private_pem`](ClientKey::private_pem) to the client under test. `Debug` never shows
/// the private key.
///
/// ```
/// use erpnet_auth_testkit::{Client, ClientKey};
///
/// let key = ClientKey::ec_p256("reports-key-1");
/// let client = Client::with_key("reports", key.public_jwk());
/// assert!(key.private_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
/// assert_eq!(key.public_jwk()["kid"], "reports-key-1");
/// assert!(!client.is_public());
/// ```
#[derive(Clone)]
pub struct ClientKey {
    kid: String,
    private_pem: String,
    public_jwk: Value,
}

impl ClientKey {
    /// A new RSA 2048 key (RS256) with this `kid`.
    pub fn rsa(kid: impl Into<String>) -> ClientKey {
        let kid = kid.into();
        // Generation fails only without entropy or memory: nothing a test can recover from.
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("aws-lc-rs generates an RSA key");
        let pkcs8 = pair
            .as_der()
            .expect("aws-lc-rs serialises the key as PKCS#8");
        let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        ClientKey {
            public_jwk: json!({
                "kty": "RSA",
                "use": "sig",
                "alg": "RS256",
                "kid": kid,
                "n": URL_SAFE_NO_PAD.encode(&public.n),
                "e": URL_SAFE_NO_PAD.encode(&public.e),
            }),
            private_pem: pem("PRIVATE KEY", pkcs8.as_ref()),
            kid,
        }
    }

    /// A new EC P-256 key (ES256) with this `kid`.
    pub fn ec_p256(kid: impl Into<String>) -> ClientKey {
        let kid = kid.into();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .expect("aws-lc-rs generates an EC key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .expect("aws-lc-rs reads its own PKCS#8");
        // The uncompressed point: 0x04, then x and y, 32 bytes each.
        let point = pair.public_key().as_ref();
        let (x, y) = point.get(1..).unwrap_or_default().split_at(32);
        ClientKey {
            public_jwk: json!({
                "kty": "EC",
                "use": "sig",
                "alg": "ES256",
                "crv": "P-256",
                "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(x),
                "y": URL_SAFE_NO_PAD.encode(y),
            }),
            private_pem: pem("PRIVATE KEY", pkcs8.as_ref()),
            kid,
        }
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn private_pem(&self) -> &str {
        &self.private_pem
    }

    /// The public key as a JWK (`kty`, `kid`, `alg`, `use` and the key's numbers).
    pub fn public_jwk(&self) -> Value {
        self.public_jwk.clone()
    }
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientKey")
            .field("public_jwk", &self.public_jwk)
            .finish_non_exhaustive()
    }
}
