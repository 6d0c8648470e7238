//! `private_key_jwt` client authentication (RFC 7523 §2.2, OpenID Connect
//! Core §9): instead of a shared secret the client signs a short-lived JWT,
//! fresh for every request, with a private key whose public half the provider
//! knows.
//!
//! The key is parsed and checked once, when it is loaded, and normalised to
//! the DER form jsonwebtoken's aws-lc-rs signer takes (PKCS#1 for RSA, PKCS#8
//! for EC), so a request never meets a malformed key.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeyPairComponents, PublicKeyComponents};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use erpnet_auth_core::{ConfigError, Error};

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub(crate) const JWT_BEARER_ASSERTION: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long an assertion is valid: long enough for one request to arrive,
/// short enough that a captured one is soon useless.
pub(crate) const ASSERTION_LIFETIME: Duration = Duration::from_secs(60);

/// A client's private signing key for `private_key_jwt`: RSA (signing RS256,
/// 2048 bits or more) or EC P-256 (signing ES256), with the `kid` under which
/// the provider knows its public half.
///
/// `Debug` shows the algorithm and the `kid`, never the key.
///
/// ```
/// use erpnet_auth_oidc::ClientSigningKey;
///
/// let jwk = r#"{"kty":"EC","crv":"P-256","kid":"key-1",
///     "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
///     "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
///     "d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#;
/// let key = ClientSigningKey::from_jwk(jwk)?;
/// assert_eq!(key.kid(), "key-1");
/// assert!(!format!("{key:?}").contains("jpsQ"));
/// # Ok::<(), erpnet_auth_oidc::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct ClientSigningKey {
    kid: String,
    algorithm: Algorithm,
    encoding: EncodingKey,
}

impl ClientSigningKey {
    /// Loads a PEM private key: PKCS#8 (`-----BEGIN PRIVATE KEY-----`, RSA or
    /// EC P-256) or PKCS#1 (`-----BEGIN RSA PRIVATE KEY-----`). Its `kid` is
    /// the RFC 7638 thumbprint of its public key until
    /// [`with_kid`](Self::with_kid) names the one the provider knows it by.
    pub fn from_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        let (label, der) = decode_pem(pem)?;
        match label.as_str() {
            "PRIVATE KEY" => Self::from_pkcs8(&der),
            "RSA PRIVATE KEY" => Self::rsa(der),
            other => Err(ConfigError::invalid(format!(
                "a PEM `{other}` is not a private key: give a PKCS#8 `PRIVATE KEY` \
                 (RSA or EC P-256) or a PKCS#1 `RSA PRIVATE KEY`"
            ))),
        }
    }

    /// Loads a private JWK (RFC 7517): `kty` `RSA` with `n`, `e`, `d`, `p`,
    /// `q`, `dp`, `dq`, `qi`, or `kty` `EC` with `crv` `P-256`, `x`, `y`, `d`.
    /// Its `kid` is the JWK's, or else the RFC 7638 thumbprint; an `alg`, if
    /// present, must match the key.
    pub fn from_jwk(jwk: &str) -> Result<Self, ConfigError> {
        // serde_json's messages can quote the input, which holds the key.
        let jwk: PrivateJwk = serde_json::from_str(jwk).map_err(|e| {
            ConfigError::invalid(format!(
                "the JWK is not a JSON object of strings ({:?} error)",
                e.classify()
            ))
        })?;
        let key = match jwk.kty.as_str() {
            "RSA" => {
                let part = |name: &str, value: &Option<String>| decode_part(name, value.as_deref());
                let components = KeyPairComponents {
                    public_key: PublicKeyComponents {
                        n: part("n", &jwk.n)?,
                        e: part("e", &jwk.e)?,
                    },
                    d: part("d", &jwk.d)?,
                    p: part("p", &jwk.p)?,
                    q: part("q", &jwk.q)?,
                    dP: part("dp", &jwk.dp)?,
                    dQ: part("dq", &jwk.dq)?,
                    qInv: part("qi", &jwk.qi)?,
                };
                let pair =
                    RsaKeyPair::from_components(&components).map_err(|e| rejected("RSA", &e))?;
                let pkcs8 = pair
                    .as_der()
                    .map_err(|_| ConfigError::invalid("the RSA key cannot be serialised"))?;
                Self::from_pkcs8(pkcs8.as_ref())?
            }
            "EC" => {
                if jwk.crv.as_deref() != Some("P-256") {
                    return Err(ConfigError::invalid(
                        "only EC keys on the P-256 curve (ES256) are supported",
                    ));
                }
                let d = decode_part("d", jwk.d.as_deref())?;
                let mut public = vec![0x04];
                public.extend(decode_part("x", jwk.x.as_deref())?);
                public.extend(decode_part("y", jwk.y.as_deref())?);
                let pair = EcdsaKeyPair::from_private_key_and_public_key(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    &d,
                    &public,
                )
                .map_err(|e| rejected("EC P-256", &e))?;
                let pkcs8 = pair
                    .to_pkcs8v1()
                    .map_err(|_| ConfigError::invalid("the EC key cannot be serialised"))?;
                Self::from_pkcs8(pkcs8.as_ref())?
            }
            other => {
                return Err(ConfigError::invalid(format!(
                    "a JWK of type `{other}` cannot sign client assertions: use RSA or EC P-256"
                )));
            }
        };
        if let Some(alg) = jwk.alg.as_deref()
            && alg != key.algorithm_name()
        {
            return Err(ConfigError::invalid(format!(
                "the JWK says `alg` {alg}, but its key signs {}",
                key.algorithm_name()
            )));
        }
        match jwk.kid {
            Some(kid) => key.with_kid(kid),
            None => Ok(key),
        }
    }

    /// Names the key as the provider knows it: the `kid` of every assertion's
    /// header. Must not be empty.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Result<Self, ConfigError> {
        let kid = kid.into();
        if kid.trim().is_empty() {
            return Err(ConfigError::invalid(
                "an empty `kid`: the provider picks the public key by it",
            ));
        }
        self.kid = kid;
        Ok(self)
    }

    /// The key id put into every assertion's header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// `RS256` or `ES256`.
    pub fn algorithm_name(&self) -> &'static str {
        match self.algorithm {
            Algorithm::ES256 => "ES256",
            _ => "RS256",
        }
    }

    fn from_pkcs8(der: &[u8]) -> Result<Self, ConfigError> {
        if RsaKeyPair::from_pkcs8(der).is_ok() {
            // jsonwebtoken's aws-lc-rs signer takes the PKCS#1 key that PKCS#8 wraps.
            let pkcs1 = pkcs1_from_pkcs8(der)
                .ok_or_else(|| ConfigError::invalid("the PKCS#8 RSA key is malformed"))?;
            return Self::rsa(pkcs1.to_vec());
        }
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(|_| {
                ConfigError::invalid(
                    "the PKCS#8 key is neither an RSA key of 2048 bits or more nor an EC P-256 key",
                )
            })?;
        // The uncompressed point: 0x04, then x and y, 32 bytes each.
        let point = pair.public_key().as_ref();
        let (x, y) = point
            .get(1..)
            .filter(|xy| xy.len() == 64)
            .ok_or_else(|| ConfigError::invalid("the EC public key is not an uncompressed point"))?
            .split_at(32);
        // RFC 7638 §3.2: the required members in lexicographic order, no spaces.
        let members = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            URL_SAFE_NO_PAD.encode(x),
            URL_SAFE_NO_PAD.encode(y)
        );
        Ok(Self {
            kid: thumbprint(&members),
            algorithm: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(der),
        })
    }

    fn rsa(pkcs1: Vec<u8>) -> Result<Self, ConfigError> {
        let pair = RsaKeyPair::from_der(&pkcs1).map_err(|e| rejected("RSA", &e))?;
        let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let members = format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            URL_SAFE_NO_PAD.encode(&public.e),
            URL_SAFE_NO_PAD.encode(&public.n)
        );
        Ok(Self {
            kid: thumbprint(&members),
            algorithm: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_der(&pkcs1),
        })
    }

    /// A fresh client assertion of `client_id` for `audience`: `iss` = `sub`
    /// = the client id, a random `jti`, valid for [`ASSERTION_LIFETIME`].
    pub(crate) fn assertion(&self, client_id: &str, audience: &str) -> Result<String, Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| Error::Config(ConfigError::invalid("the system clock is before 1970")))?
            .as_secs();
        let mut jti = [0u8; 16];
        aws_lc_rs::rand::fill(&mut jti)
            .map_err(|_| Error::Config(ConfigError::invalid("no randomness for a `jti`")))?;
        let claims = AssertionClaims {
            iss: client_id,
            sub: client_id,
            aud: audience,
            jti: URL_SAFE_NO_PAD.encode(jti),
            iat: now,
            exp: now.saturating_add(ASSERTION_LIFETIME.as_secs()),
        };
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        // The key was checked when loaded; a failure here says nothing about it.
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(|e| {
            Error::Config(ConfigError::invalid(format!(
                "signing the client assertion failed: {:?}",
                e.kind()
            )))
        })
    }
}

impl fmt::Debug for ClientSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.algorithm_name())
            .finish_non_exhaustive()
    }
}

/// Which `aud` a client assertion names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AssertionAudience {
    /// The token endpoint's URL (OpenID Connect Core §9), for every call
    /// (introspection and revocation too).
    #[default]
    TokenEndpoint,
    /// The provider's issuer identifier (RFC 7523 §3 allows it; some
    /// providers want it). Needs discovery: not available with
    /// [`Endpoints`](crate::Endpoints).
    Issuer,
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    jti: String,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct PrivateJwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
    d: Option<String>,
    p: Option<String>,
    q: Option<String>,
    dp: Option<String>,
    dq: Option<String>,
    qi: Option<String>,
}

/// The RFC 7638 thumbprint of a public JWK's required `members`: SHA-256, base64url.
fn thumbprint(members: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        members.as_bytes(),
    ))
}

fn rejected(kind: &str, error: &aws_lc_rs::error::KeyRejected) -> ConfigError {
    ConfigError::invalid(format!("the {kind} private key is rejected: {error}"))
}

fn decode_part(name: &str, value: Option<&str>) -> Result<Vec<u8>, ConfigError> {
    let value =
        value.ok_or_else(|| ConfigError::invalid(format!("the private JWK has no `{name}`")))?;
    URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|_| ConfigError::invalid(format!("the JWK's `{name}` is not base64url")))
}

/// The label and bytes of the first PEM block.
fn decode_pem(pem: &[u8]) -> Result<(String, Vec<u8>), ConfigError> {
    let malformed = || ConfigError::invalid("not a PEM private key (no `-----BEGIN …-----` block)");
    let text = std::str::from_utf8(pem).map_err(|_| malformed())?;
    let start = text.find("-----BEGIN ").ok_or_else(malformed)?;
    let rest = &text[start + "-----BEGIN ".len()..];
    let (label, rest) = rest.split_once("-----").ok_or_else(malformed)?;
    let end_marker = format!("-----END {label}-----");
    let (body, _) = rest.split_once(&end_marker).ok_or_else(malformed)?;
    if body.contains(':') {
        return Err(ConfigError::invalid(
            "encrypted PEM keys are not supported: decrypt it first",
        ));
    }
    let base64: String = body.split_whitespace().collect();
    let der = STANDARD
        .decode(base64)
        .map_err(|_| ConfigError::invalid("the PEM body is not base64"))?;
    Ok((label.to_owned(), der))
}

/// The `privateKey` OCTET STRING of a PKCS#8 `PrivateKeyInfo` (RFC 5208):
/// `SEQUENCE { INTEGER version, SEQUENCE algorithm, OCTET STRING key, … }`.
fn pkcs1_from_pkcs8(der: &[u8]) -> Option<&[u8]> {
    let (tag, info, _) = der_element(der)?;
    if tag != 0x30 {
        return None;
    }
    let (version, _, rest) = der_element(info)?;
    let (algorithm, _, rest) = der_element(rest)?;
    let (octets, key, _) = der_element(rest)?;
    (version == 0x02 && algorithm == 0x30 && octets == 0x04).then_some(key)
}

/// One DER element: its tag, its contents and what follows it.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > std::mem::size_of::<usize>() {
            return None;
        }
        let (bytes, rest) = rest.split_at_checked(count)?;
        let length = bytes.iter().try_fold(0usize, |acc, b| {
            acc.checked_mul(256)?.checked_add(usize::from(*b))
        })?;
        (length, rest)
    };
    let (contents, rest) = rest.split_at_checked(length)?;
    Some((tag, contents, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsBigEndian;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::rsa::KeySize;

    fn pem(label: &str, der: &[u8]) -> String {
        let body = STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|line| std::str::from_utf8(line).expect("base64 is ASCII"))
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    fn claims_of(assertion: &str) -> (serde_json::Value, serde_json::Value) {
        let mut parts = assertion.split('.');
        let mut json = || {
            let part = parts.next().expect("three parts");
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
        };
        (json(), json())
    }

    #[test]
    fn rsa_and_ec_keys_load_from_pem_and_sign_fresh_assertions() {
        let rsa = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key");
        let rsa_pem = pem("PRIVATE KEY", rsa.as_der().expect("PKCS#8").as_ref());
        let ec =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .expect("EC key");
        let ec_pem = pem("PRIVATE KEY", ec.as_ref());
        for (text, alg) in [(rsa_pem, "RS256"), (ec_pem, "ES256")] {
            let key = ClientSigningKey::from_pem(text.as_bytes())
                .and_then(|key| key.with_kid("k1"))
                .expect("key");
            assert_eq!(key.algorithm_name(), alg);
            let shown = format!("{key:?}");
            assert!(shown.contains("k1") && shown.contains(alg), "{shown}");
            let first = key
                .assertion("my.trusted.app/first", "https://id/token")
                .expect("sign");
            let second = key
                .assertion("my.trusted.app/first", "https://id/token")
                .expect("sign");
            let (header, claims) = claims_of(&first);
            assert_eq!(header["alg"], alg);
            assert_eq!(header["kid"], "k1");
            assert_eq!(claims["iss"], "my.trusted.app/first");
            assert_eq!(claims["sub"], "my.trusted.app/first");
            assert_eq!(claims["aud"], "https://id/token");
            let lifetime =
                claims["exp"].as_u64().expect("exp") - claims["iat"].as_u64().expect("iat");
            assert_eq!(lifetime, ASSERTION_LIFETIME.as_secs());
            assert_ne!(
                claims["jti"],
                claims_of(&second).1["jti"],
                "a fresh jti each time"
            );
        }
    }

    #[test]
    fn jwks_load_and_their_alg_must_fit() {
        let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("EC key");
        let public = ec.public_key().as_ref().to_vec();
        let d = ec.private_key().as_be_bytes().expect("scalar");
        let jwk = |alg: &str| {
            serde_json::json!({
                "kty": "EC", "crv": "P-256", "kid": "ec-1", "alg": alg,
                "x": URL_SAFE_NO_PAD.encode(&public[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&public[33..]),
                "d": URL_SAFE_NO_PAD.encode(d.as_ref()),
            })
            .to_string()
        };
        let key = ClientSigningKey::from_jwk(&jwk("ES256")).expect("EC JWK");
        assert_eq!((key.kid(), key.algorithm_name()), ("ec-1", "ES256"));
        let public_jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&public[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&public[33..]),
        });
        let expected = serde_json::from_value::<jsonwebtoken::jwk::Jwk>(public_jwk)
            .expect("public JWK")
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .expect("thumbprint");
        let pkcs8 = ec.to_pkcs8v1().expect("PKCS#8");
        let from_pem = ClientSigningKey::from_pem(pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes())
            .expect("EC PEM");
        assert_eq!(from_pem.kid(), expected, "the RFC 7638 thumbprint");
        let err = ClientSigningKey::from_jwk(&jwk("RS256")).expect_err("alg mismatch");
        assert!(err.to_string().contains("RS256"), "{err}");
    }

    #[test]
    fn an_rsa_jwk_signs_what_its_public_half_verifies() {
        // A throwaway test key (Node's crypto.generateKeyPairSync, exported as JWK).
        let text = include_str!("private_key_jwt/test-rsa-key.json");
        let key = ClientSigningKey::from_jwk(text).expect("RSA JWK");
        assert_eq!((key.kid(), key.algorithm_name()), ("rsa-test", "RS256"));
        let assertion = key.assertion("app", "https://id/token").expect("sign");
        let (signed, signature) = assertion.rsplit_once('.').expect("three parts");
        let jwk: serde_json::Value = serde_json::from_str(text).expect("JSON");
        let part = |name: &str| {
            URL_SAFE_NO_PAD
                .decode(jwk[name].as_str().expect("string"))
                .expect("base64url")
        };
        let public = PublicKeyComponents {
            n: part("n"),
            e: part("e"),
        };
        public
            .verify(
                &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                signed.as_bytes(),
                &URL_SAFE_NO_PAD.decode(signature).expect("base64url"),
            )
            .expect("the signature verifies with the public key");
        assert!(!format!("{key:?}").contains(jwk["d"].as_str().expect("d")));

        // Without a `kid` the key is named by its RFC 7638 thumbprint, as jsonwebtoken
        // computes it from the public JWK.
        let mut public = jwk.clone();
        let object = public.as_object_mut().expect("object");
        for private in ["kid", "d", "p", "q", "dp", "dq", "qi"] {
            object.remove(private);
        }
        let expected = serde_json::from_value::<jsonwebtoken::jwk::Jwk>(public.clone())
            .expect("public JWK")
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .expect("thumbprint");
        let mut unnamed = jwk.clone();
        unnamed.as_object_mut().expect("object").remove("kid");
        let key = ClientSigningKey::from_jwk(&unnamed.to_string()).expect("RSA JWK");
        assert_eq!(key.kid(), expected);
    }

    #[test]
    fn bad_keys_are_configuration_errors_that_never_quote_the_key() {
        let err = ClientSigningKey::from_pem(
            b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n",
        )
        .expect_err("garbage");
        assert!(!err.to_string().contains("c2VjcmV0"), "{err}");
        let err = ClientSigningKey::from_pem(
            b"-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----",
        )
        .expect_err("public key");
        assert!(err.to_string().contains("PUBLIC KEY"), "{err}");
        assert!(ClientSigningKey::from_pem(b"no pem here").is_err());
        let rsa = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key");
        let good = pem("PRIVATE KEY", rsa.as_der().expect("PKCS#8").as_ref());
        let err = ClientSigningKey::from_pem(good.as_bytes())
            .and_then(|key| key.with_kid(" "))
            .expect_err("empty kid");
        assert!(err.to_string().contains("kid"), "{err}");
        let err = ClientSigningKey::from_jwk(r#"{"kty":"oct","kid":"h","k":"c2VjcmV0LXZhbHVl"}"#)
            .expect_err("symmetric");
        assert!(!err.to_string().contains("c2VjcmV0"), "{err}");
        let err =
            ClientSigningKey::from_jwk(r#"{"kty":"EC","crv":"P-256","kid":"e","d":["leak-me"]}"#)
                .expect_err("not strings");
        assert!(!err.to_string().contains("leak-me"), "{err}");
    }

    #[test]
    fn der_lengths_from_input_never_overflow() {
        assert_eq!(der_element(&[0x30, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9]), None);
        assert_eq!(
            der_element(&[0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            None
        );
        assert_eq!(der_element(&[0x30, 0x05, 1]), None);
        assert_eq!(
            der_element(&[0x04, 0x01, 7, 9]),
            Some((0x04, &[7u8][..], &[9u8][..]))
        );
        assert_eq!(pkcs1_from_pkcs8(&[0x30, 0x00]), None);
    }
}
