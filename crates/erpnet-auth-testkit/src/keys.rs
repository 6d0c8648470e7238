//! RSA signing keys: generation with aws-lc-rs, signing through jsonwebtoken, and the JWK
//! that the JWKS endpoint publishes.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde_json::{Value, json};

/// One RSA 2048 key of the mock: the private half signs, the public half is published.
pub(crate) struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    /// The public half, for checking tokens that come back (introspection, revocation, ID
    /// token hints).
    decoding: DecodingKey,
    /// Modulus, base64url without padding (the JWK `n`).
    n: String,
    /// Public exponent, base64url without padding (the JWK `e`).
    e: String,
    /// The public key as PEM `SubjectPublicKeyInfo` text: the HMAC secret of the
    /// algorithm-confusion attack.
    public_pem: String,
}

impl SigningKey {
    /// Generates a brand-new key with a random IdentityServer-style kid (32 uppercase hex).
    pub(crate) fn generate() -> SigningKey {
        SigningKey::generate_with_kid(random_hex(16))
    }

    /// Generates a brand-new key that carries the given kid.
    pub(crate) fn generate_with_kid(kid: String) -> SigningKey {
        // Generation only fails when the system has no entropy or memory: nothing a test can
        // do anything about, so a panic with a message is the honest answer.
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("aws-lc-rs generates an RSA key");
        let pkcs8 = pair
            .as_der()
            .expect("aws-lc-rs serialises the key as PKCS#8");
        // jsonwebtoken's aws-lc-rs signer wants PKCS#1 `RSAPrivateKey` DER, which PKCS#8 wraps.
        let pkcs1 = pkcs1_from_pkcs8(pkcs8.as_ref()).expect("PKCS#8 from aws-lc-rs is well formed");
        let public = pair.public_key();
        let components = PublicKeyComponents::<Vec<u8>>::from(public);
        let spki = public
            .as_der()
            .expect("aws-lc-rs serialises the public key");
        let decoding = DecodingKey::from_rsa_raw_components(&components.n, &components.e);
        SigningKey {
            kid,
            encoding: EncodingKey::from_rsa_der(pkcs1),
            decoding,
            n: URL_SAFE_NO_PAD.encode(&components.n),
            e: URL_SAFE_NO_PAD.encode(&components.e),
            public_pem: pem("PUBLIC KEY", spki.as_ref()),
        }
    }

    /// The key id published in the JWKS and put into token headers.
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// The PEM text of the public key (used as the HS256 secret of the confusion attack).
    pub(crate) fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// Signs `input` with RS256 and returns the base64url signature.
    pub(crate) fn sign_rs256(&self, input: &[u8]) -> String {
        jsonwebtoken::crypto::sign(input, &self.encoding, Algorithm::RS256)
            .expect("RS256 signing with a freshly generated key succeeds")
    }

    /// The public key, for verifying RS256 signatures.
    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    /// The JWK as IdentityServer publishes it.
    pub(crate) fn jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "e": self.e,
            "n": self.n,
            "alg": "RS256",
        })
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("private", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// `count` random bytes as uppercase hex, the way IdentityServer writes kids and jtis.
pub(crate) fn random_hex(count: usize) -> String {
    let mut bytes = vec![0u8; count];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator works");
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// PEM armour with 64-character lines.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Extracts the `RSAPrivateKey` from a PKCS#8 `PrivateKeyInfo`:
/// `SEQUENCE { INTEGER version, SEQUENCE algorithm, OCTET STRING privateKey, .. }`.
fn pkcs1_from_pkcs8(der: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const OCTET_STRING: u8 = 0x04;
    let (tag, info, _) = der_tlv(der)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, _, rest) = der_tlv(info)?;
    if tag != INTEGER {
        return None;
    }
    let (tag, _, rest) = der_tlv(rest)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, key, _) = der_tlv(rest)?;
    (tag == OCTET_STRING).then_some(key)
}

/// Splits one DER tag-length-value off `input`: `(tag, value, rest)`.
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, input) = input.split_first()?;
    let (&first, mut input) = input.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > std::mem::size_of::<usize>() || input.len() < count {
            return None;
        }
        let (len_bytes, rest) = input.split_at(count);
        input = rest;
        len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    if input.len() < len {
        return None;
    }
    let (value, rest) = input.split_at(len);
    Some((tag, value, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_publishes_rsa_components_and_signs() {
        let started = std::time::Instant::now();
        let key = SigningKey::generate();
        eprintln!("RSA 2048 generation took {:?}", started.elapsed());
        assert_eq!(key.kid().len(), 32);
        assert!(
            key.kid()
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        );
        assert_eq!(key.e, "AQAB");
        // 256 bytes of modulus in base64url without padding.
        assert_eq!(key.n.len(), 342);
        assert!(key.public_pem().starts_with("-----BEGIN PUBLIC KEY-----\n"));

        let signature = key.sign_rs256(b"header.payload");
        let decoding = jsonwebtoken::DecodingKey::from_rsa_components(&key.n, &key.e)
            .expect("JWK components decode");
        let valid = jsonwebtoken::crypto::verify(
            &signature,
            b"header.payload",
            &decoding,
            Algorithm::RS256,
        )
        .expect("verification runs");
        assert!(valid);
    }

    #[test]
    fn der_reader_rejects_truncated_input() {
        assert!(der_tlv(&[0x30, 0x05, 0x01]).is_none());
        assert!(der_tlv(&[0x30, 0x82, 0x01]).is_none());
        assert!(pkcs1_from_pkcs8(&[0x02, 0x00]).is_none());
    }
}
