//! JWT access-token validation against the mock ERP.net Identity: RS256 tokens
//! as ERP.net issues them, every hostile variant, key rotation, unknown-kid
//! floods and a key endpoint that goes down.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use erpnet_auth::{
    Algorithm, Authority, ErpNetClaims, JwksCache, JwtValidator, UserType, ValidationError,
};
use erpnet_auth_testkit::{
    Alg, DEFAULT_CLIENT_ID, Endpoint, Failure, MockIdentity, OldKey, TokenSpec,
};
use serde_json::json;

fn validator(identity: &MockIdentity) -> JwtValidator {
    JwtValidator::builder(Authority::parse(&identity.issuer()).expect("authority"))
        .audience("DomainAPI")
        .build()
        .expect("validator")
}

async fn refused(validator: &JwtValidator, token: &str) -> ValidationError {
    validator
        .validate(token)
        .await
        .expect_err("the token must be refused")
}

#[tokio::test]
async fn an_erpnet_access_token_validates_with_its_claims() {
    let identity = MockIdentity::start().await;
    let validator = validator(&identity);
    let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read", "update"]);
    let verified = validator.validate(&token).await.expect("valid");
    assert_eq!(verified.issuer(), identity.issuer());
    assert_eq!(verified.client_id(), Some(DEFAULT_CLIENT_ID));
    assert_eq!(verified.caller(), Some(DEFAULT_CLIENT_ID));
    assert!(verified.is_service_token());
    assert_eq!(verified.scopes(), ["read", "update"]);
    assert!(verified.audiences().contains(&"DomainAPI".to_owned()));
    assert_eq!(verified.key_id(), Some(identity.signing_kid().as_str()));
    assert_eq!(verified.algorithm(), Some(Algorithm::RS256));
    let erp: ErpNetClaims = verified.erpnet();
    assert!(erp.is_service());
    assert_eq!(erp.client_system_user_type, Some(UserType::InternalUser));

    // Seen again: served from the verified-token cache, same claims.
    let again = validator.validate(&token).await.expect("valid");
    assert_eq!(again.jwt_id(), verified.jwt_id());
    assert_eq!(identity.requests(Endpoint::Jwks), 1);
    assert_eq!(identity.requests(Endpoint::Discovery), 1);
}

#[tokio::test]
async fn audiences_and_scopes_in_both_forms() {
    let identity = MockIdentity::start().await;
    let validator = validator(&identity);
    let legacy = identity.mint(
        TokenSpec::access_token()
            .audience_str("DomainAPI")
            .scope_string("read update"),
    );
    let verified = validator
        .validate(&legacy)
        .await
        .expect("string aud and scope");
    assert_eq!(verified.audiences(), ["DomainAPI"]);
    assert_eq!(verified.scopes(), ["read", "update"]);
    let user = identity.mint(
        TokenSpec::access_token()
            .subject("jdoe")
            .claim("is_admin", json!("true"))
            .claim("user_type", json!("ExternalCommunityUser")),
    );
    let verified = validator.validate(&user).await.expect("user token");
    assert_eq!(verified.caller(), Some("jdoe"));
    let erp = verified.erpnet();
    assert_eq!(erp.is_admin, Some(true));
    assert_eq!(erp.user_type, Some(UserType::ExternalCommunityUser));
}

#[tokio::test]
async fn hostile_and_invalid_tokens_are_refused_with_the_right_reason() {
    let identity = MockIdentity::start().await;
    let validator = validator(&identity);
    let mint = |spec: TokenSpec| identity.mint(spec);
    let base = TokenSpec::access_token;
    type Case = (&'static str, String, fn(&ValidationError) -> bool);
    let cases: Vec<Case> = vec![
        ("alg none", mint(base().alg(Alg::None)), |e| {
            matches!(e, ValidationError::NoneAlgorithm)
        }),
        (
            "HS256 with the public key",
            mint(base().alg(Alg::Hs256)),
            |e| matches!(e, ValidationError::SymmetricAlgorithm),
        ),
        ("foreign key, known kid", mint(base().foreign_key()), |e| {
            matches!(e, ValidationError::BadSignature)
        }),
        ("expired", mint(base().expires_in(-120)), |e| {
            matches!(e, ValidationError::Expired)
        }),
        ("not yet valid", mint(base().not_before_offset(600)), |e| {
            matches!(e, ValidationError::NotYetValid)
        }),
        (
            "issued in the future",
            mint(base().issued_at_offset(600)),
            |e| matches!(e, ValidationError::IssuedInFuture),
        ),
        (
            "wrong issuer",
            mint(base().issuer("https://evil.example/id")),
            |e| matches!(e, ValidationError::WrongIssuer),
        ),
        (
            "wrong audience",
            mint(base().audiences(["TableAPI"])),
            |e| matches!(e, ValidationError::WrongAudience),
        ),
        ("no exp", mint(base().remove_claim("exp")), |e| {
            matches!(e, ValidationError::MissingClaim("exp"))
        }),
        ("no iss", mint(base().remove_claim("iss")), |e| {
            matches!(e, ValidationError::MissingClaim("iss"))
        }),
        ("ID token", mint(TokenSpec::id_token()), |e| {
            matches!(e, ValidationError::WrongType)
        }),
        ("no typ", mint(base().typ(None)), |e| {
            matches!(e, ValidationError::WrongType)
        }),
        ("typ JWT", mint(base().typ(Some("JWT"))), |e| {
            matches!(e, ValidationError::WrongType)
        }),
        ("crit", mint(base().crit(["exp"])), |e| {
            matches!(e, ValidationError::CriticalHeader)
        }),
        (
            "RS512 not allowed",
            mint(base().header_param("alg", json!("RS512"))),
            |e| matches!(e, ValidationError::AlgorithmNotAllowed),
        ),
        (
            "ES256 on an RSA key",
            mint(base().header_param("alg", json!("ES256"))),
            |e| matches!(e, ValidationError::AlgorithmNotAllowed),
        ),
        (
            "exp as a string",
            mint(base().claim("exp", json!("tomorrow"))),
            |e| matches!(e, ValidationError::MalformedClaims(_)),
        ),
        (
            "aud as a number",
            mint(base().claim("aud", json!(5))),
            |e| matches!(e, ValidationError::MalformedClaims(_)),
        ),
        ("garbage", "not.a.jwt".to_owned(), |e| {
            matches!(e, ValidationError::Malformed(_))
        }),
        ("two parts", "eyJhbGciOiJSUzI1NiJ9.e30".to_owned(), |e| {
            matches!(e, ValidationError::Malformed(_))
        }),
        (
            "bad base64",
            "eyJhbGciOiJSUzI1NiJ9.@@@.AAAA".to_owned(),
            |e| matches!(e, ValidationError::Malformed(_)),
        ),
        (
            "oversized",
            format!("{}.{}.{}", "a".repeat(9000), "b".repeat(9000), "c"),
            |e| matches!(e, ValidationError::TooLong),
        ),
        (
            "reference token",
            format!("enrt_{}", "0a".repeat(32)),
            |e| matches!(e, ValidationError::Malformed(_)),
        ),
    ];
    for (name, token, expected) in cases {
        let error = refused(&validator, &token).await;
        assert!(expected(&error), "{name}: got {error:?}");
        assert!(
            !error.to_string().contains(&token),
            "{name}: message quotes the token"
        );
    }
    // jku / x5u / jwk headers are never fetched or trusted: a token pointing
    // at a key of its own still needs the provider's key.
    let jku = mint(
        base()
            .foreign_key()
            .header_param("jku", json!("http://127.0.0.1:1/keys"))
            .header_param("jwk", json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"})),
    );
    assert!(matches!(
        refused(&validator, &jku).await,
        ValidationError::BadSignature
    ));
    assert_eq!(
        identity.requests(Endpoint::Jwks),
        1,
        "one key-set fetch in all of this"
    );
}

#[tokio::test]
async fn an_id_token_never_passes_even_when_typ_is_not_enforced() {
    let identity = MockIdentity::start().await;
    let validator = JwtValidator::builder(Authority::parse(&identity.issuer()).expect("authority"))
        .accept_any_audience()
        .accepted_types([Some("at+jwt"), Some("JWT"), None])
        .build()
        .expect("validator");
    let error = refused(&validator, &identity.mint(TokenSpec::id_token())).await;
    assert!(matches!(error, ValidationError::IdToken), "{error:?}");
    let plain = identity.mint(TokenSpec::access_token().typ(None));
    assert!(validator.validate(&plain).await.is_ok());
}

#[tokio::test]
async fn required_scopes_give_insufficient_scope() {
    let identity = MockIdentity::start().await;
    let validator = JwtValidator::builder(Authority::parse(&identity.issuer()).expect("authority"))
        .audience("DomainAPI")
        .require_scopes(["update"])
        .build()
        .expect("validator");
    let read_only = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let error = refused(&validator, &read_only).await;
    assert!(
        matches!(&error, ValidationError::InsufficientScope { required } if required == &["update"])
    );
    assert!(
        validator
            .validate(&identity.access_token_for(DEFAULT_CLIENT_ID, &["update"]))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn key_rotation_keep_then_drop() {
    let identity = MockIdentity::start().await;
    let validator = validator(&identity);
    let old = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    validator.validate(&old).await.expect("old key");
    assert_eq!(identity.requests(Endpoint::Jwks), 1);

    // The provider rotates and keeps publishing the old key: a token signed by
    // the new key validates at once (unknown kid → one refetch), the old token
    // keeps validating.
    identity.rotate_keys(OldKey::Keep);
    let new = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    validator
        .validate(&new)
        .await
        .expect("new key, right after rotation");
    assert_eq!(identity.requests(Endpoint::Jwks), 2);
    validator
        .validate(&old)
        .await
        .expect("old key still published");

    // The old key is dropped: once the key set is refetched, the old token (even
    // though it was cached as verified) is refused.
    identity.rotate_keys(OldKey::Drop);
    validator
        .jwks()
        .expect("one issuer")
        .refresh()
        .await
        .expect("refetch");
    let error = refused(&validator, &old).await;
    assert!(matches!(error, ValidationError::UnknownKey), "{error:?}");
}

#[tokio::test]
async fn ten_thousand_unknown_kids_cause_one_fetch_per_cooldown() {
    let identity = MockIdentity::start().await;
    let validator = validator(&identity);
    validator
        .validate(&identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]))
        .await
        .expect("valid");
    assert_eq!(identity.requests(Endpoint::Jwks), 1);
    // Unknown kids are refused before any signature check, so the flood can
    // reuse one token's payload and signature under 10,000 forged headers.
    let real = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let (_, rest) = real.split_once('.').expect("jws");
    let mut tasks = Vec::new();
    for i in 0..10_000u32 {
        let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": format!("{i:032X}")});
        let token = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()));
        let validator = validator.clone();
        tasks.push(tokio::spawn(
            async move { validator.validate(&token).await },
        ));
    }
    for task in tasks {
        let error = task.await.expect("task").expect_err("unknown kid");
        assert!(matches!(error, ValidationError::UnknownKey), "{error:?}");
    }
    assert_eq!(
        identity.requests(Endpoint::Jwks),
        2,
        "the first load, then one refetch for the whole flood"
    );
}

#[tokio::test]
async fn a_dead_key_endpoint_keeps_the_last_known_good_keys() {
    let identity = MockIdentity::start().await;
    let validator = validator(&identity);
    let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    validator.validate(&token).await.expect("valid");

    identity.fail_next(Endpoint::Jwks, 3, Failure::Status(503));
    assert!(
        validator
            .jwks()
            .expect("one issuer")
            .refresh()
            .await
            .is_err()
    );
    identity.fail_next(Endpoint::Jwks, 1, Failure::MalformedBody);
    assert!(
        validator
            .jwks()
            .expect("one issuer")
            .refresh()
            .await
            .is_err()
    );
    let fresh = identity.access_token_for(DEFAULT_CLIENT_ID, &["update"]);
    validator
        .validate(&fresh)
        .await
        .expect("still validating with the last good keys");
}

#[tokio::test]
async fn no_keys_at_all_is_unavailable_not_unauthorized() {
    let identity = MockIdentity::start().await;
    identity.fail_next(Endpoint::Jwks, 100, Failure::Status(503));
    let validator = validator(&identity);
    let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let error = refused(&validator, &token).await;
    assert!(error.is_unavailable(), "{error:?}");
    // A second token right after does not hammer the endpoint.
    let _ = refused(&validator, &token).await;
    assert_eq!(identity.requests(Endpoint::Jwks), 1);
}

#[tokio::test]
async fn a_new_key_the_key_endpoint_cannot_serve_is_unavailable_not_unauthorized() {
    let identity = MockIdentity::start().await;
    let validator = validator(&identity);
    let before = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    validator.validate(&before).await.expect("valid");

    identity.rotate_keys(OldKey::Keep);
    identity.fail_next(Endpoint::Jwks, 100, Failure::Status(503));
    let rotated = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let error = refused(&validator, &rotated).await;
    assert!(
        error.is_unavailable(),
        "the refetch failed, so the token may well be valid: {error:?}"
    );
    // Within the cooldown nothing is fetched, and the answer stays the same.
    let error = refused(&validator, &rotated).await;
    assert!(error.is_unavailable(), "{error:?}");
    assert_eq!(identity.requests(Endpoint::Jwks), 2);
    validator
        .validate(&before)
        .await
        .expect("tokens of the known key still validate");
}

#[tokio::test]
async fn a_static_key_set_validates_offline() {
    let identity = MockIdentity::start().await;
    let body = reqwest_free_get(&identity.jwks_uri()).await;
    let jwks = JwksCache::from_json(&body, 16).expect("key set");
    let validator = JwtValidator::builder_for_jwks(identity.issuer(), jwks)
        .audience("DomainAPI")
        .build()
        .expect("validator");
    let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    assert!(validator.validate_now(&token).is_ok());
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// Fetches a URL with a raw HTTP/1.1 request (keeps this test free of an HTTP
/// client dependency).
async fn reqwest_free_get(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = erpnet_auth::Url::parse(url).expect("url");
    let mut stream =
        tokio::net::TcpStream::connect((url.host_str().expect("host"), url.port().expect("port")))
            .await
            .expect("connect");
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        url.path()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .expect("body")
}
