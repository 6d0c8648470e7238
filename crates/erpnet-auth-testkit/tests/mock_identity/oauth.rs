//! The client side of the interactive flows, written out by hand: authorization requests,
//! redirects, code redemption, refresh, introspection and revocation.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use erpnet_auth_testkit::{
    DEFAULT_PUBLIC_CLIENT_ID, DEFAULT_RESOURCE_ID, DEFAULT_RESOURCE_SECRET, MockIdentity,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::http::{self, RawResponse};

/// The JWKS, fetched over HTTP as a validator would.
pub async fn fetch_jwks(idp: &MockIdentity) -> Value {
    let response = http::get(idp.addr(), &idp.jwks_uri()).await;
    assert_eq!(response.status, 200);
    response.json()
}

/// A loopback redirect URI of the default public client, on some port.
pub const LOOPBACK: &str = "http://127.0.0.1:49152/callback";

/// A PKCE verifier (43 characters) and its S256 challenge, computed here with aws-lc-rs.
pub fn pkce(seed: &str) -> (String, String) {
    let verifier = format!("{seed:-<43}");
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    (verifier, URL_SAFE_NO_PAD.encode(hash))
}

/// `GET {authorization_endpoint}?{params}`.
pub async fn authorize(idp: &MockIdentity, params: &[(&str, &str)]) -> RawResponse {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let path = format!("{}?{query}", http::path_of(&idp.authorization_endpoint()));
    http::send(idp.addr(), "GET", &path, &[], b"").await
}

/// The query parameters of a redirect's `Location` (which must be a 302 to `expected_base`).
pub fn redirect_params(response: &RawResponse, expected_base: &str) -> Vec<(String, String)> {
    assert_eq!(response.status, 302, "{}", response.text());
    let location = response.header("location").expect("a Location header");
    let (base, query) = location.split_once('?').expect("parameters in the query");
    assert_eq!(base, expected_base);
    form_urlencoded::parse(query.as_bytes())
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
}

/// The value of `name` among `params`.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// The standard authorization request of the default public client, with `extra` added.
pub fn public_request<'a>(
    challenge: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("client_id", DEFAULT_PUBLIC_CLIENT_ID),
        ("redirect_uri", LOOPBACK),
        ("response_type", "code"),
        ("scope", "openid profile offline_access read"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("state", "st-1"),
    ];
    for (key, value) in extra {
        params.retain(|(known, _)| known != key);
        params.push((key, value));
    }
    params
}

/// Signs the default user in for the default public client and returns `(code, verifier)`.
pub async fn code_for_public_client(
    idp: &MockIdentity,
    extra: &[(&str, &str)],
) -> (String, String) {
    let (verifier, challenge) = pkce("verifier");
    let response = authorize(idp, &public_request(&challenge, extra)).await;
    let params = redirect_params(&response, LOOPBACK);
    let code = param(&params, "code").expect("a code").to_owned();
    (code, verifier)
}

/// Redeems a code of the default public client, for `LOOPBACK`.
pub async fn redeem(idp: &MockIdentity, code: &str, verifier: &str) -> RawResponse {
    redeem_for(idp, code, LOOPBACK, Some(verifier)).await
}

/// Redeems a code of the default public client, for `redirect_uri`, with or without a
/// verifier.
pub async fn redeem_for(
    idp: &MockIdentity,
    code: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
) -> RawResponse {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("client_id", DEFAULT_PUBLIC_CLIENT_ID),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    form.extend(verifier.map(|verifier| ("code_verifier", verifier)));
    http::post_form(idp.addr(), &idp.token_endpoint(), &form, &[]).await
}

/// The whole code flow of the default public client: the token response.
pub async fn sign_in(idp: &MockIdentity) -> Value {
    let (code, verifier) = code_for_public_client(idp, &[]).await;
    let response = redeem(idp, &code, &verifier).await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

/// A refresh of the default public client.
pub async fn refresh(idp: &MockIdentity, refresh_token: &str, scope: Option<&str>) -> RawResponse {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("client_id", DEFAULT_PUBLIC_CLIENT_ID),
        ("refresh_token", refresh_token),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    http::post_form(idp.addr(), &idp.token_endpoint(), &form, &[]).await
}

/// Introspection by the default API resource (HTTP Basic).
pub async fn introspect(idp: &MockIdentity, token: &str) -> Value {
    let authorization = http::basic(DEFAULT_RESOURCE_ID, DEFAULT_RESOURCE_SECRET);
    let response = http::post_form(
        idp.addr(),
        &idp.introspection_endpoint(),
        &[("token", token)],
        &[("Authorization", authorization.as_str())],
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

/// Whether introspection by the default API resource says `token` is active.
pub async fn is_active(idp: &MockIdentity, token: &str) -> bool {
    let answer = introspect(idp, token).await;
    let active = answer["active"].as_bool().expect("active is a boolean");
    if !active {
        assert_eq!(answer, serde_json::json!({"active": false}));
    }
    active
}

/// Revocation by the default public client.
pub async fn revoke(idp: &MockIdentity, token: &str, hint: Option<&str>) -> RawResponse {
    let mut form = vec![("client_id", DEFAULT_PUBLIC_CLIENT_ID), ("token", token)];
    if let Some(hint) = hint {
        form.push(("token_type_hint", hint));
    }
    http::post_form(idp.addr(), &idp.revocation_endpoint(), &form, &[]).await
}

/// The key of the mock's JWKS that `token`'s header names.
pub async fn jwks_key(
    idp: &MockIdentity,
    token: &str,
) -> jsonwebtoken::errors::Result<DecodingKey> {
    let jwks = fetch_jwks(idp).await;
    let header = jsonwebtoken::decode_header(token)?;
    let kid = header.kid.expect("the token has a kid");
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys is an array")
        .iter()
        .find(|key| key["kid"] == kid.as_str())
        .ok_or(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat)?;
    DecodingKey::from_rsa_components(jwk["n"].as_str().expect("n"), jwk["e"].as_str().expect("e"))
}

/// Verifies an ID token as a relying party would: key by kid from the JWKS, RS256, issuer
/// and audience (the client id) checked.
pub async fn verify_id_token(
    idp: &MockIdentity,
    token: &str,
    client_id: &str,
) -> jsonwebtoken::errors::Result<Value> {
    let key = jwks_key(idp, token).await?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[idp.issuer()]);
    validation.set_audience(&[client_id]);
    Ok(jsonwebtoken::decode::<Value>(token, &key, &validation)?.claims)
}

/// A back-channel error answer: `400`, `{"error": code}`, not to be cached.
pub fn assert_oauth_error(response: &RawResponse, code: &str) {
    assert_eq!(response.status, 400, "{}", response.text());
    assert_eq!(
        response.json()["error"],
        serde_json::json!(code),
        "{}",
        response.text()
    );
    assert_eq!(response.header("cache-control"), Some("no-store"));
}
