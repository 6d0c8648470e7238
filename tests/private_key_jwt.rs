//! `private_key_jwt` client authentication (RFC 7523 §2.2) against the mock ERP.net Identity,
//! which verifies every assertion: signature against the client's registered keys, `iss`,
//! `sub`, audience, expiry and single use of `jti`.

use erpnet_auth::{
    AssertionAudience, Authority, ClientAuthMethod, ClientConfig, ClientCredentials,
    ClientSigningKey, Introspector, OAuthErrorCode, Revocation, TokenSource, TokenTypeHint,
};
use erpnet_auth_testkit::{AuthMethodUsed, Client, ClientKey, MockIdentity};
use secrecy::SecretString;

const CLIENT_ID: &str = "reports.example/nightly";

/// A mock that knows `CLIENT_ID` by the public half of `key` alone.
async fn identity_knowing(key: &ClientKey) -> MockIdentity {
    MockIdentity::builder()
        .client(Client::with_key(CLIENT_ID, key.public_jwk()))
        .start()
        .await
}

fn client(identity: &MockIdentity, key: &ClientKey, audience: AssertionAudience) -> ClientConfig {
    let signing_key = ClientSigningKey::from_pem(key.private_pem().as_bytes())
        .and_then(|signing_key| signing_key.with_kid(key.kid()))
        .expect("PEM key");
    ClientConfig::builder(
        Authority::parse(&identity.issuer()).expect("loopback issuer"),
        CLIENT_ID,
    )
    .private_key(signing_key)
    .assertion_audience(audience)
    .build()
    .expect("valid client")
}

fn grant(client: ClientConfig) -> ClientCredentials {
    ClientCredentials::builder(client)
        .scopes(["read"])
        .build()
        .expect("valid grant")
}

#[tokio::test]
async fn rsa_and_ec_keys_get_tokens_with_a_fresh_assertion_each_time() {
    for key in [ClientKey::rsa("rsa-1"), ClientKey::ec_p256("ec-1")] {
        let identity = identity_knowing(&key).await;
        for audience in [AssertionAudience::TokenEndpoint, AssertionAudience::Issuer] {
            let grant = grant(client(&identity, &key, audience));
            let mut assertions = Vec::new();
            for _ in 0..2 {
                let token = grant.token().await.unwrap_or_else(|e| {
                    panic!("{} with {audience:?}: {e}", key.kid());
                });
                assert_eq!(token.scopes(), ["read"]);
                let record = identity.last_token_request().expect("recorded");
                assert_eq!(record.auth_method, AuthMethodUsed::PrivateKeyJwt);
                assert_eq!(record.client_id, CLIENT_ID);
                assert_eq!(
                    record.param("client_assertion_type"),
                    Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                );
                assert_eq!(record.param("client_secret"), None);
                assertions.push(record.param("client_assertion").expect("sent").to_owned());
            }
            assert_ne!(
                assertions[0], assertions[1],
                "never the same assertion twice"
            );
        }
    }
}

#[tokio::test]
async fn introspection_and_revocation_authenticate_with_the_key_too() {
    let key = ClientKey::ec_p256("ec-1");
    let identity = identity_knowing(&key).await;
    let client = client(&identity, &key, AssertionAudience::TokenEndpoint);
    let token = grant(client.clone()).token().await.expect("token");

    // Uncached, so that the second answer is the mock's, after the revocation.
    let introspector = Introspector::builder(client.clone())
        .cache_ttl(std::time::Duration::ZERO)
        .build()
        .expect("introspector");
    let verified = introspector
        .introspect(token.expose_secret())
        .await
        .expect("introspection answered")
        .expect("the client's own token is active");
    assert_eq!(verified.client_id(), Some(CLIENT_ID));

    Revocation::new(client)
        .expect("revocation")
        .revoke(
            &SecretString::from(token.expose_secret().to_owned()),
            TokenTypeHint::AccessToken,
        )
        .await
        .expect("revoked");
    let after = introspector
        .introspect(token.expose_secret())
        .await
        .expect("introspection answered");
    assert!(after.is_none(), "revoked");
}

#[tokio::test]
async fn an_unregistered_key_is_invalid_client_and_never_shown() {
    let registered = ClientKey::rsa("rsa-1");
    let identity = identity_knowing(&registered).await;
    // Same kid, other key: the signature cannot verify.
    let impostor = ClientKey::rsa("rsa-1");
    let client = client(&identity, &impostor, AssertionAudience::TokenEndpoint);
    let error = grant(client.clone()).token().await.expect_err("wrong key");
    assert_eq!(error.oauth_code(), Some(&OAuthErrorCode::InvalidClient));
    assert!(!error.is_transient());
    let pem_body: String = impostor
        .private_pem()
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    for shown in [
        format!("{error} {error:?}"),
        format!("{client:?}"),
        format!("{:?}", grant(client.clone())),
    ] {
        assert!(shown.len() > 10);
        for line in impostor.private_pem().lines().skip(1).take(3) {
            assert!(!shown.contains(line), "the key leaks into {shown}");
        }
        assert!(!shown.contains(&pem_body[..40]), "{shown}");
    }
    assert_eq!(client.auth_method(), ClientAuthMethod::PrivateKeyJwt);
}

#[tokio::test]
async fn a_replayed_assertion_is_refused() {
    let key = ClientKey::ec_p256("ec-1");
    let identity = identity_knowing(&key).await;
    grant(client(&identity, &key, AssertionAudience::TokenEndpoint))
        .token()
        .await
        .expect("first use");
    let record = identity.last_token_request().expect("recorded");
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&record.form)
        .finish();
    let replay = reqwest::Client::new()
        .post(identity.token_endpoint())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("answered");
    assert_eq!(replay.status(), 400);
    let body: serde_json::Value =
        serde_json::from_slice(&replay.bytes().await.expect("body")).expect("JSON");
    assert_eq!(body["error"], "invalid_client", "{body}");
    assert_eq!(
        body["error_description"], "the client assertion was already used",
        "refused for its jti, not for anything else: {body}"
    );
}

#[test]
fn a_missing_key_a_key_beside_a_secret_or_an_unknowable_audience_is_a_configuration_error() {
    let key = ClientKey::ec_p256("ec-1");
    let signing_key = ClientSigningKey::from_pem(key.private_pem().as_bytes())
        .and_then(|signing_key| signing_key.with_kid(key.kid()))
        .expect("PEM key");
    let endpoints = erpnet_auth::Endpoints::new()
        .token(erpnet_auth::Url::parse("https://id.example.com/token").expect("url"));
    let error = ClientConfig::builder(endpoints.clone(), "app")
        .private_key(signing_key.clone())
        .client_secret("also-a-secret")
        .build()
        .expect_err("key and secret");
    assert!(error.to_string().contains("only one"), "{error}");
    let error = ClientConfig::builder(endpoints.clone(), "app")
        .private_key(signing_key.clone())
        .auth_method(ClientAuthMethod::ClientSecretBasic)
        .client_secret("s")
        .build()
        .expect_err("a key with another method");
    assert!(error.to_string().contains("private key"), "{error}");
    let error = ClientConfig::builder(endpoints.clone(), "app")
        .auth_method(ClientAuthMethod::PrivateKeyJwt)
        .build()
        .expect_err("no key");
    assert!(error.to_string().contains("no key"), "{error}");
    let error = ClientConfig::builder(endpoints, "app")
        .private_key(signing_key)
        .assertion_audience(AssertionAudience::Issuer)
        .build()
        .expect_err("no issuer without discovery");
    assert!(error.to_string().contains("discovery"), "{error}");
}

/// A client assertion for the mock with these claims, signed ES256 by `key` (an EC P-256
/// `ClientKey`), as a client would send it.
fn hand_made_assertion(key: &ClientKey, claims: serde_json::Value) -> String {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    let der: String = key
        .private_pem()
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = STANDARD.decode(der).expect("PEM body");
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der).expect("EC P-256 key");
    let header = serde_json::json!({ "alg": "ES256", "typ": "JWT", "kid": key.kid() });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = pair
        .sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes())
        .expect("signed");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

/// A client-credentials request authenticated by `assertion` alone (and `client_id` when
/// given): the status and the JSON answer.
async fn post_assertion(
    token_endpoint: &str,
    assertion: &str,
    client_id: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials")
        .append_pair("scope", "read")
        .append_pair(
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        )
        .append_pair("client_assertion", assertion);
    if let Some(client_id) = client_id {
        form.append_pair("client_id", client_id);
    }
    let response = reqwest::Client::new()
        .post(token_endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.finish())
        .send()
        .await
        .expect("answered");
    let status = response.status().as_u16();
    let body = serde_json::from_slice(&response.bytes().await.expect("body")).expect("JSON");
    (status, body)
}

#[tokio::test]
async fn the_mock_checks_audience_issuer_expiry_and_lifetime_of_assertions() {
    let key = ClientKey::ec_p256("ec-1");
    let identity = identity_knowing(&key).await;
    let token_endpoint = identity.token_endpoint();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = |aud: &str, iss: &str, exp: u64, jti: &str| {
        serde_json::json!({
            "iss": iss, "sub": CLIENT_ID, "aud": aud, "jti": jti, "iat": now, "exp": exp,
        })
    };

    // Well made; the client named by the assertion's `iss` alone, as RFC 7521 allows.
    let assertion = hand_made_assertion(&key, claims(&token_endpoint, CLIENT_ID, now + 60, "j-1"));
    let (status, body) = post_assertion(&token_endpoint, &assertion, None).await;
    assert_eq!(status, 200, "{body}");
    for (why, claims) in [
        (
            "expired",
            claims(&token_endpoint, CLIENT_ID, now - 60, "j-2"),
        ),
        (
            "living an hour",
            claims(&token_endpoint, CLIENT_ID, now + 3600, "j-3"),
        ),
        (
            "another audience",
            claims(
                "https://elsewhere.example/token",
                CLIENT_ID,
                now + 60,
                "j-4",
            ),
        ),
        (
            "another issuer",
            claims(&token_endpoint, "someone.else", now + 60, "j-5"),
        ),
    ] {
        // `client_id` in the form, so that the assertion's `iss` cannot pick the client.
        let assertion = hand_made_assertion(&key, claims);
        let (status, body) = post_assertion(&token_endpoint, &assertion, Some(CLIENT_ID)).await;
        assert_eq!(status, 400, "{why}");
        assert_eq!(body["error"], "invalid_client", "{why}: {body}");
    }
}
