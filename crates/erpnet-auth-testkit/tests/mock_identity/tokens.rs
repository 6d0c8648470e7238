use aws_lc_rs::encoding::AsDer;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use erpnet_auth_testkit::{Alg, Client, DEFAULT_CLIENT_ID, MockIdentity, OldKey, TokenSpec};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::json;

use crate::{fetch_jwks, now, parts, verify};

#[tokio::test]
async fn minted_access_token_verifies_against_the_jwks() {
    let idp = MockIdentity::start().await;
    let token = idp.mint(TokenSpec::access_token());
    let claims = verify(&idp, &token).await.expect("valid");
    assert_eq!(claims["scope"], json!(["read", "update"]));
    assert_eq!(claims["client_id"], DEFAULT_CLIENT_ID);
    assert_eq!(claims["aud"], json!(idp.audiences()));
    let (header, _, _) = parts(&token);
    assert_eq!(
        header,
        json!({"alg": "RS256", "kid": idp.signing_kid(), "typ": "at+jwt"})
    );
}

#[tokio::test]
async fn access_token_for_uses_the_registered_client() {
    let idp = MockIdentity::start().await;
    idp.register_client(
        Client::new("svc/app", "pw")
            .scopes(["read"])
            .system_user("svc"),
    );
    let token = idp.access_token_for("svc/app", &[]);
    let claims = verify(&idp, &token).await.expect("valid");
    assert_eq!(claims["client_id"], "svc/app");
    assert_eq!(claims["client_system_user"], "svc");
    assert_eq!(claims["scope"], json!(["read"]));

    let token = idp.access_token_for(DEFAULT_CLIENT_ID, &["update"]);
    let claims = verify(&idp, &token).await.expect("valid");
    assert_eq!(claims["scope"], json!(["update"]));
    assert_eq!(claims["client_system_user"], "api-user");
    assert_eq!(claims["client_system_user_type"], "InternalUser");
    assert_eq!(claims["client_db"], "mockdb");
}

#[tokio::test]
async fn rotate_keys_keep_publishes_both_keys() {
    let idp = MockIdentity::start().await;
    let old_kid = idp.signing_kid();
    let old_token = idp.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let new_kid = idp.rotate_keys(OldKey::Keep);
    assert_ne!(new_kid, old_kid);
    assert_eq!(idp.signing_kid(), new_kid);

    let jwks = fetch_jwks(&idp).await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|key| key["kid"].as_str().expect("kid"))
        .collect();
    assert_eq!(kids, [new_kid.as_str(), old_kid.as_str()]);

    let new_token = idp.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    assert_eq!(parts(&new_token).0["kid"], json!(new_kid));
    verify(&idp, &new_token).await.expect("new token valid");
    verify(&idp, &old_token)
        .await
        .expect("old token still valid");
}

#[tokio::test]
async fn rotate_keys_drop_retires_the_old_key() {
    let idp = MockIdentity::start().await;
    let old_kid = idp.signing_kid();
    let old_token = idp.mint(TokenSpec::access_token());
    idp.rotate_keys(OldKey::Keep);
    let new_kid = idp.rotate_keys(OldKey::Drop);
    let jwks = fetch_jwks(&idp).await;
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kid"], json!(new_kid));
    assert!(!keys.iter().any(|key| key["kid"] == json!(old_kid)));
    assert!(verify(&idp, &old_token).await.is_err());
    verify(&idp, &idp.mint(TokenSpec::access_token()))
        .await
        .expect("new token valid");
}

#[tokio::test]
async fn time_claims_follow_the_offsets() {
    let idp = MockIdentity::start().await;
    let token = idp.mint(
        TokenSpec::access_token()
            .expires_in(-600)
            .not_before_offset(30)
            .issued_at_offset(-10),
    );
    let (_, claims, _) = parts(&token);
    let t = now();
    assert!((claims["exp"].as_i64().expect("exp") - (t - 600)).abs() <= 5);
    assert!((claims["nbf"].as_i64().expect("nbf") - (t + 30)).abs() <= 5);
    assert!((claims["iat"].as_i64().expect("iat") - (t - 10)).abs() <= 5);
    // Beyond jsonwebtoken's default leeway of 60 s.
    let error = verify(&idp, &token).await.expect_err("expired");
    assert!(
        matches!(error.kind(), ErrorKind::ExpiredSignature),
        "{error:?}"
    );
}

#[tokio::test]
async fn claim_setters_change_what_they_say() {
    let idp = MockIdentity::start().await;
    let token = idp.mint(
        TokenSpec::access_token()
            .issuer("https://evil.example/id")
            .audience_str("DomainApi")
            .scope_string("read update")
            .client_id("other/app")
            .subject("john.smith")
            .claim("is_admin", json!("true"))
            .remove_claim("jti"),
    );
    let (_, claims, _) = parts(&token);
    assert_eq!(claims["iss"], "https://evil.example/id");
    assert_eq!(claims["aud"], "DomainApi");
    assert_eq!(claims["scope"], "read update");
    assert_eq!(claims["client_id"], "other/app");
    assert_eq!(claims["sub"], "john.smith");
    assert_eq!(claims["is_admin"], "true");
    assert!(claims.get("jti").is_none());

    let token = idp.mint(
        TokenSpec::access_token()
            .audiences(["OLAP", "AppServer"])
            .scopes_array(["update"]),
    );
    let (_, claims, _) = parts(&token);
    assert_eq!(claims["aud"], json!(["OLAP", "AppServer"]));
    assert_eq!(claims["scope"], json!(["update"]));

    // Later edits win.
    let token = idp.mint(TokenSpec::access_token().issuer("a").claim("iss", json!(7)));
    assert_eq!(parts(&token).1["iss"], 7);
    let token = idp.mint(TokenSpec::access_token().remove_claim("exp").expires_in(10));
    assert!(parts(&token).1["exp"].is_i64());
}

#[tokio::test]
async fn header_setters_change_what_they_say() {
    let idp = MockIdentity::start().await;
    let (header, _, _) = parts(&idp.mint(TokenSpec::access_token().typ(None).kid(None)));
    assert_eq!(header, json!({"alg": "RS256"}));

    let (header, _, _) = parts(
        &idp.mint(
            TokenSpec::access_token()
                .typ(Some("JWT"))
                .kid(Some("UNKNOWN"))
                .crit(["exp"])
                .header_param("jku", json!("https://evil.example/jwks")),
        ),
    );
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], "UNKNOWN");
    assert_eq!(header["crit"], json!(["exp"]));
    assert_eq!(header["jku"], "https://evil.example/jwks");

    let (header, _, _) = parts(&idp.mint(TokenSpec::access_token().remove_header_param("typ")));
    assert!(header.get("typ").is_none());

    // A token with an unknown kid is still signed by the current key.
    let token = idp.mint(TokenSpec::access_token().kid(Some("UNKNOWN")));
    let jwks = fetch_jwks(&idp).await;
    let key = DecodingKey::from_rsa_components(
        jwks["keys"][0]["n"].as_str().expect("n"),
        jwks["keys"][0]["e"].as_str().expect("e"),
    )
    .expect("key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_aud = false;
    jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).expect("signature valid");
}

#[tokio::test]
async fn alg_none_is_unsigned() {
    let idp = MockIdentity::start().await;
    let token = idp.mint(TokenSpec::access_token().alg(Alg::None));
    assert!(token.ends_with('.'));
    let (header, claims, signature) = parts(&token);
    assert_eq!(header["alg"], "none");
    assert!(signature.is_empty());
    assert_eq!(claims["client_id"], DEFAULT_CLIENT_ID);
    assert!(verify(&idp, &token).await.is_err());
}

#[tokio::test]
async fn alg_hs256_uses_the_public_key_pem_as_hmac_secret() {
    let idp = MockIdentity::start().await;
    let token = idp.mint(TokenSpec::access_token().alg(Alg::Hs256));
    let (header, _, _) = parts(&token);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["kid"], json!(idp.signing_kid()));
    assert!(
        verify(&idp, &token).await.is_err(),
        "an RS256 validator refuses it"
    );

    // Rebuild the PEM an attacker would use from the published JWK, and check the HMAC.
    let jwks = fetch_jwks(&idp).await;
    let n = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["n"].as_str().expect("n"))
        .expect("n");
    let e = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["e"].as_str().expect("e"))
        .expect("e");
    let spki = aws_lc_rs::rsa::PublicKeyComponents { n, e }
        .as_der()
        .expect("SPKI");
    let body = STANDARD.encode(spki.as_ref());
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_aud = false;
    jsonwebtoken::decode::<serde_json::Value>(
        &token,
        &DecodingKey::from_secret(pem.as_bytes()),
        &validation,
    )
    .expect("HMAC with the public key PEM");
}

#[tokio::test]
async fn foreign_key_signs_under_the_current_kid_but_does_not_verify() {
    let idp = MockIdentity::start().await;
    let token = idp.mint(TokenSpec::access_token().foreign_key());
    let (header, _, _) = parts(&token);
    assert_eq!(header["kid"], json!(idp.signing_kid()));
    assert_eq!(header["alg"], "RS256");
    let error = verify(&idp, &token).await.expect_err("foreign signature");
    assert!(
        matches!(error.kind(), ErrorKind::InvalidSignature),
        "{error:?}"
    );
}

#[tokio::test]
async fn id_token_has_the_erpnet_shape() {
    let idp = MockIdentity::start().await;
    let token = idp.mint(TokenSpec::id_token());
    let (header, claims, _) = parts(&token);
    assert_eq!(
        header,
        json!({"alg": "RS256", "kid": idp.signing_kid(), "typ": "JWT"})
    );
    assert_eq!(claims["aud"], DEFAULT_CLIENT_ID);
    assert_eq!(claims["iss"], json!(idp.issuer()));
    for claim in ["nonce", "sub", "sid"] {
        assert!(
            claims[claim].as_str().is_some_and(|v| !v.is_empty()),
            "{claim}"
        );
    }
    let iat = claims["iat"].as_i64().expect("iat");
    assert_eq!(claims["exp"].as_i64(), Some(iat + 300));
    assert!(claims["auth_time"].is_i64());
    assert!(claims.get("scope").is_none());
    assert!(claims.get("client_id").is_none());

    let (_, claims, _) = parts(&idp.mint(TokenSpec::id_token().client_id("spa/app")));
    assert_eq!(claims["aud"], "spa/app");

    // Signed by the same key: only the header and claims tell it from an access token.
    let jwks = fetch_jwks(&idp).await;
    let key = DecodingKey::from_rsa_components(
        jwks["keys"][0]["n"].as_str().expect("n"),
        jwks["keys"][0]["e"].as_str().expect("e"),
    )
    .expect("key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[DEFAULT_CLIENT_ID]);
    validation.set_issuer(&[idp.issuer()]);
    jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).expect("valid id token");
}
