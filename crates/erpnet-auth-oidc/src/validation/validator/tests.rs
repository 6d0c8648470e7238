//! Validator units: the verified-token cache and the key rules, with Ed25519
//! tokens signed here. RS256 and hostile tokens are tested against the mock
//! identity in the workspace's `tests/`.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::*;

const ISSUER: &str = "https://demo.my.erp.net/id";

struct Signer {
    pair: Ed25519KeyPair,
    kid: String,
}

impl Signer {
    fn new(kid: &str) -> Self {
        Self {
            pair: Ed25519KeyPair::generate().expect("key"),
            kid: kid.to_owned(),
        }
    }
    fn jwk(&self) -> serde_json::Value {
        json!({"kty": "OKP", "crv": "Ed25519", "kid": self.kid,
               "x": URL_SAFE_NO_PAD.encode(self.pair.public_key().as_ref())})
    }
    fn sign(&self, header: serde_json::Value, claims: serde_json::Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.pair.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
    fn token(&self, claims: serde_json::Value) -> String {
        self.sign(
            json!({"alg": "EdDSA", "typ": "at+jwt", "kid": self.kid}),
            claims,
        )
    }
    /// A token whose payload is exactly `payload`, which need not be what a
    /// JSON serializer would write.
    fn token_with_payload(&self, payload: &[u8]) -> String {
        let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": self.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature = self.pair.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

fn claims(exp_in: i64) -> serde_json::Value {
    let now = unix_now();
    json!({"iss": ISSUER, "aud": ["DomainAPI"], "exp": now + exp_in, "iat": now, "nbf": now,
           "scope": ["read"], "client_id": "app"})
}

fn validator(signers: &[&Signer], capacity: usize) -> JwtValidator {
    let keys: Vec<_> = signers.iter().map(|s| s.jwk()).collect();
    let jwks = JwksCache::from_json(&json!({ "keys": keys }).to_string(), 8).expect("jwks");
    JwtValidator::builder_for_jwks(ISSUER, jwks)
        .audience("DomainAPI")
        .algorithms([Algorithm::EdDSA])
        .verified_cache_capacity(capacity)
        .build()
        .expect("validator")
}

#[test]
fn a_valid_token_verifies_and_a_tampered_one_does_not() {
    let signer = Signer::new("k1");
    let validator = validator(&[&signer], 100);
    let token = signer.token(claims(600));
    let verified = validator.validate_now(&token).expect("valid");
    assert_eq!(verified.client_id(), Some("app"));
    assert_eq!(verified.key_id(), Some("k1"));
    assert_eq!(verified.algorithm(), Some(Algorithm::EdDSA));
    assert!(verified.has_scope("read"));

    let (input, _) = token.rsplit_once('.').expect("dot");
    let forged = format!("{input}.{}", URL_SAFE_NO_PAD.encode([7u8; 64]));
    assert!(matches!(
        validator.validate_now(&forged),
        Err(ValidationError::BadSignature)
    ));

    let other = Signer::new("k1");
    assert!(matches!(
        validator.validate_now(&other.token(claims(600))),
        Err(ValidationError::BadSignature)
    ));
    let unknown = Signer::new("k9");
    assert!(matches!(
        validator.validate_now(&unknown.token(claims(600))),
        Err(ValidationError::UnknownKey)
    ));
}

#[test]
fn an_rsa_algorithm_never_uses_an_ed25519_key() {
    let signer = Signer::new("k1");
    let jwks =
        JwksCache::from_json(&json!({ "keys": [signer.jwk()] }).to_string(), 8).expect("jwks");
    let validator = JwtValidator::builder_for_jwks(ISSUER, jwks)
        .audience("DomainAPI")
        .algorithms([Algorithm::EdDSA, Algorithm::RS256])
        .build()
        .expect("validator");
    let token = signer.sign(
        json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"}),
        claims(600),
    );
    assert!(matches!(
        validator.validate_now(&token),
        Err(ValidationError::KeyMismatch)
    ));
}

#[test]
fn configuration_requires_an_audience_or_an_explicit_opt_out() {
    let jwks = JwksCache::from_json("{\"keys\":[]}", 8).expect("jwks");
    let err = JwtValidator::builder_for_jwks(ISSUER, jwks.clone())
        .build()
        .expect_err("no audience");
    assert!(err.to_string().contains("accept_any_audience"), "{err}");
    assert!(
        JwtValidator::builder_for_jwks(ISSUER, jwks.clone())
            .accept_any_audience()
            .build()
            .is_ok()
    );
    assert!(
        JwtValidator::builder_for_jwks(ISSUER, jwks)
            .audience("a")
            .algorithms([])
            .build()
            .is_err()
    );
}

#[test]
fn the_verified_cache_is_bounded_and_honours_expiry_and_generation() {
    let signer = Signer::new("k1");
    let cache = VerifiedCache::new(64);
    let validator = validator(&[&signer], 0);
    let verified = validator
        .validate_now(&signer.token(claims(600)))
        .expect("valid");
    let now = unix_now();
    for i in 0..10_000u32 {
        let token = format!("token-{i}");
        cache.insert(
            cache.key(&token),
            &token,
            verified.clone(),
            now + 600,
            Dated {
                generation: 1,
                issuer: None,
            },
            now,
        );
    }
    let total: usize = cache
        .shards
        .iter()
        .map(|s| s.lock().expect("lock").len())
        .sum();
    assert!(total <= 64, "bounded: {total}");

    let key = cache.key("token-9999");
    assert!(cache.get(key, "token-9999", now, 1).is_some());
    assert!(
        cache.get(key, "token-9999", now, 2).is_none(),
        "the key set changed"
    );
    assert!(
        cache.get(key, "token-9999", now + 600, 1).is_none(),
        "expired"
    );
    // A colliding key (forced here) with another token is a miss.
    assert!(cache.get(key, "token-9998", now, 1).is_none());
    assert!(cache.get(key, "token-99990", now, 1).is_none());

    let off = VerifiedCache::new(0);
    assert!(!off.enabled());
}

/// How many verified tokens the validator remembers.
fn remembered(validator: &JwtValidator) -> usize {
    let shards = &validator.inner.verified.shards;
    shards.iter().map(|s| s.lock().expect("lock").len()).sum()
}

#[test]
fn a_validator_never_remembers_more_tokens_than_its_capacity() {
    let signer = Signer::new("k1");
    for capacity in [1, 10, 17, 100] {
        let validator = validator(&[&signer], capacity);
        for i in 0..capacity * 3 + 20 {
            let mut claims = claims(600);
            claims["jti"] = json!(i);
            validator
                .validate_now(&signer.token(claims))
                .expect("valid");
            let held = remembered(&validator);
            assert!(held <= capacity, "capacity {capacity}: {held} remembered");
        }
        assert!(
            remembered(&validator) > 0,
            "capacity {capacity}: the cache is used"
        );
    }
    let off = validator(&[&signer], 0);
    off.validate_now(&signer.token(claims(600))).expect("valid");
    assert_eq!(remembered(&off), 0);
}

#[test]
fn the_token_hash_is_keyed_and_spreads_lengths_and_tails() {
    let a = TokenHasher::new();
    let b = TokenHasher::new();
    let token = "x".repeat(900);
    let hash = |h: &TokenHasher, bytes: &[u8]| h.hash(bytes, bytes.len());
    assert_eq!(hash(&a, token.as_bytes()), hash(&a, token.as_bytes()));
    assert_ne!(
        hash(&a, token.as_bytes()),
        hash(&b, token.as_bytes()),
        "keyed"
    );
    let mut seen = std::collections::HashSet::new();
    for len in 0..200 {
        assert!(seen.insert(hash(&a, &vec![0u8; len])), "length {len}");
        assert!(seen.insert(a.hash(&[1; 64], len)), "length {len} apart");
    }
    let mut last = token.into_bytes();
    for i in 0..last.len() {
        last[i] ^= 1;
        assert!(seen.insert(hash(&a, &last)), "byte {i}");
    }
    // The cache keys only the length and the last 64 bytes.
    let cache = VerifiedCache::new(16);
    assert_eq!(
        cache.key(&format!("a{}", "s".repeat(64))),
        cache.key(&format!("b{}", "s".repeat(64)))
    );
    assert_ne!(cache.key(&"s".repeat(64)), cache.key(&"s".repeat(65)));
}

#[test]
fn cached_results_end_with_the_token_and_with_its_key() {
    let signer = Signer::new("k1");
    let validator = validator(&[&signer], 100);
    let token = signer.token(claims(600));
    let first = validator.validate_now(&token).expect("valid");
    let again = validator.validate_now(&token).expect("cached");
    assert_eq!(first.jwt_id(), again.jwt_id());
    assert_eq!(first.expires_at(), again.expires_at());

    let expired = signer.token(claims(-3600));
    assert!(matches!(
        validator.validate_now(&expired),
        Err(ValidationError::Expired)
    ));
    assert!(matches!(
        validator.validate_now(&expired),
        Err(ValidationError::Expired)
    ));
}

#[test]
fn claims_are_read_from_the_payload_and_the_map_is_built_when_asked_for() {
    let signer = Signer::new("k1");
    let validator = validator(&[&signer], 0);
    let mut body = claims(600);
    body["sub"] = json!("alice");
    body["custom"] = json!({"nested": [1, 2, 3]});
    let verified = validator
        .validate_now(&signer.token(body.clone()))
        .expect("valid");
    assert_eq!(verified.issuer(), ISSUER);
    assert_eq!(verified.subject(), Some("alice"));
    assert_eq!(verified.audiences(), ["DomainAPI"]);
    assert_eq!(
        serde_json::Value::Object(verified.claims().clone()),
        body,
        "every claim, as the token carried it"
    );
    #[derive(serde::Deserialize)]
    struct Mine {
        sub: String,
        custom: serde_json::Value,
    }
    let mine: Mine = verified.deserialize().expect("typed");
    assert_eq!(
        (mine.sub.as_str(), &mine.custom),
        ("alice", &body["custom"])
    );
}

#[test]
fn claims_that_are_not_one_object_with_one_of_each_claim_are_refused() {
    let signer = Signer::new("k1");
    let validator = validator(&[&signer], 0);
    let exp = unix_now() + 600;
    let refused =
        |payload: String| validator.validate_now(&signer.token_with_payload(payload.as_bytes()));

    // Claims are an object, never an array read field by field.
    let array = format!(r#"["{ISSUER}", ["DomainAPI"], {exp}]"#);
    assert!(matches!(
        refused(array),
        Err(ValidationError::MalformedClaims(_))
    ));
    // RFC 7519 §4: duplicate claim names are refused, not resolved.
    let twice = format!(
        r#"{{"iss": "https://evil.example", "iss": "{ISSUER}", "aud": "DomainAPI", "exp": {exp}}}"#
    );
    assert!(matches!(
        refused(twice),
        Err(ValidationError::MalformedClaims(_))
    ));
    // Any claim, not only the registered ones, and whether or not its name
    // is written with escapes.
    for twice in [
        format!(
            r#"{{"iss": "{ISSUER}", "aud": "DomainAPI", "exp": {exp}, "role": "user", "role": "admin"}}"#
        ),
        format!(
            r#"{{"iss": "{ISSUER}", "\u0069ss": "{ISSUER}", "aud": "DomainAPI", "exp": {exp}}}"#
        ),
        format!(
            r#"{{"iss": "{ISSUER}", "aud": "DomainAPI", "exp": {exp}, "r\u006fle": 1, "role": 2}}"#
        ),
    ] {
        assert!(
            matches!(
                refused(twice.clone()),
                Err(ValidationError::MalformedClaims(_))
            ),
            "{twice}"
        );
    }
    assert!(matches!(
        refused("{\"iss\": ".to_owned()),
        Err(ValidationError::MalformedClaims(_))
    ));
    let fine = format!(r#" {{"iss": "{ISSUER}", "aud": "DomainAPI", "exp": {exp}}}"#);
    assert!(
        refused(fine).is_ok(),
        "leading white space is still an object"
    );

    // Whatever the claims map could not hold is refused now, not found out
    // when a handler asks for the claims: a claim nested deeper than serde_json
    // allows, a number beyond f64, a lone surrogate, bytes that are not UTF-8.
    let valid = format!(r#""iss": "{ISSUER}", "aud": "DomainAPI", "exp": {exp}"#);
    let deep = format!(
        r#"{{{valid}, "x": {}1{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let huge = format!(r#"{{{valid}, "x": 1e400}}"#);
    let surrogate = format!(r#"{{{valid}, "x": "\ud800"}}"#);
    for payload in [deep, huge, surrogate] {
        assert!(
            matches!(refused(payload), Err(ValidationError::MalformedClaims(_))),
            "refused"
        );
    }
    let mut not_utf8 = format!(r#"{{{valid}, "x": "#).into_bytes();
    not_utf8.extend_from_slice(b"\"\xff\xfe\"}");
    assert!(matches!(
        validator.validate_now(&signer.token_with_payload(&not_utf8)),
        Err(ValidationError::MalformedClaims(_))
    ));
    let nested = format!(
        r#"{{{valid}, "x": {}1{}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    let verified = refused(nested).expect("nesting serde_json allows");
    assert!(
        verified.claim("x").is_some(),
        "the map holds what was accepted"
    );
}

#[test]
fn a_nonce_marks_an_id_token_even_when_null() {
    let signer = Signer::new("k1");
    let keys = json!({ "keys": [signer.jwk()] }).to_string();
    let validator =
        JwtValidator::builder_for_jwks(ISSUER, JwksCache::from_json(&keys, 8).expect("jwks"))
            .audience("DomainAPI")
            .algorithms([Algorithm::EdDSA])
            .accepted_types([Some("at+jwt"), Some("JWT")])
            .build()
            .expect("validator");
    let mut body = claims(600);
    body["nonce"] = serde_json::Value::Null;
    assert!(matches!(
        validator.validate_now(&signer.token(body)),
        Err(ValidationError::IdToken)
    ));
    assert!(validator.validate_now(&signer.token(claims(600))).is_ok());
}
