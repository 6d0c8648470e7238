//! Secrets never appear in logs, `Debug` output or errors.
//!
//! Captures every tracing event and span at TRACE level, from every thread,
//! across a full run (discovery, both client authentication methods, the cache,
//! a refresh, a rejected token, failures, introspection, revocation,
//! `private_key_jwt`, the device grant and userinfo, and a web app's sign-in,
//! refresh, sign-out and back-channel logout), then searches the output and the
//! `Debug`/`Display` form of every value the run produced for the client
//! secret, the client's private key and its assertions, every access and
//! refresh token issued, the authorization and device codes, the session ids
//! and the CSRF tokens.

mod support;

use std::time::Duration;

use erpnet_auth::ClientSigningKey;
use erpnet_auth::{
    Authority, CachedTokenSource, ClientAuthMethod, ClientConfig, ClientCredentials, Discovery,
    TokenSource,
};
use erpnet_auth::{
    AuthorizationCodeFlow, Endpoints, Introspector, LoopbackRedirect, PendingAuthorization,
    TokenTypeHint, Url,
};
use erpnet_auth_testkit::{
    CapturedLogs, Client, ClientKey, DEFAULT_PUBLIC_CLIENT_ID, DEFAULT_RESOURCE_ID,
    DEFAULT_RESOURCE_SECRET, DEFAULT_USER, Endpoint, Failure, MockIdentity,
};
use secrecy::ExposeSecret;

const SECRET: &str = "n0t-f0r-l0gs-7f3a9c";
/// The client that authenticates with `private_key_jwt`.
const KEYED_CLIENT: &str = "my.trusted.app/keyed";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_debug_or_errors() {
    let captured = CapturedLogs::install();

    let key = ClientKey::rsa("logs-key-1");
    let identity = MockIdentity::builder()
        .token_lifetime(Duration::from_secs(2))
        .client(Client::new("my.trusted.app/logs", SECRET).scopes(["read", "update"]))
        .client(Client::default_public_client())
        .client(Client::with_key(KEYED_CLIENT, key.public_jwk()))
        .start()
        .await;
    let authority = Authority::parse(&identity.issuer()).expect("authority");
    let mut shown: Vec<String> = Vec::new();
    let mut tokens_seen = Vec::new();

    let discovery = Discovery::fetch(&identity.issuer())
        .await
        .expect("discovery");
    shown.push(format!("{discovery:?}"));
    let client = |secret: String, method: ClientAuthMethod, shown: &mut Vec<String>| {
        let builder = ClientConfig::builder(authority.clone(), "my.trusted.app/logs")
            .client_secret(secret)
            .auth_method(method);
        shown.push(format!("{builder:?}"));
        let client = builder.build().expect("config");
        shown.push(format!("{client:?}"));
        client
    };

    for method in [
        ClientAuthMethod::ClientSecretPost,
        ClientAuthMethod::ClientSecretBasic,
    ] {
        let builder = ClientCredentials::builder(client(SECRET.to_owned(), method, &mut shown))
            .scopes(["read", "update"]);
        shown.push(format!("{builder:?}"));
        let grant = builder.build().expect("config");
        shown.push(format!("{grant:?}"));
        let cache = CachedTokenSource::builder(grant).proactive(true).build();
        let token = cache.token().await.expect("token");
        shown.push(format!("{token:?} {token:#?} {cache:?}"));
        tokens_seen.push(token.expose_secret().to_owned());

        // Let the token come due and be refreshed in the background.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let refreshed = cache.token().await.expect("token");
        tokens_seen.push(refreshed.expose_secret().to_owned());

        // A rejection, then failures while refreshing.
        identity.fail_next(Endpoint::Token, 1, Failure::Status(503));
        cache.report_rejected(&refreshed);
        if let Err(error) = cache.token().await {
            shown.push(format!("{error} {error:?}"));
        }
    }

    let wrong_client = client(
        format!("{SECRET}-wrong"),
        ClientAuthMethod::ClientSecretPost,
        &mut shown,
    );
    let wrong = ClientCredentials::builder(wrong_client)
        .scopes(["read"])
        .build()
        .expect("config");
    let error = wrong.token().await.expect_err("invalid client");
    shown.push(format!("{error} {error:?}"));

    identity.fail_next(Endpoint::Token, 1, Failure::MalformedBody);
    let grant = ClientCredentials::builder(client(
        SECRET.to_owned(),
        ClientAuthMethod::ClientSecretBasic,
        &mut shown,
    ))
    .scopes(["read"])
    .build()
    .expect("config");
    let error = grant.token().await.expect_err("malformed");
    shown.push(format!("{error} {error:?}"));

    // The interactive half: a sign-in (code, PKCE verifier, ID token, refresh
    // token), a rotation, introspection and revocation.
    let public = ClientConfig::builder(discovery, DEFAULT_PUBLIC_CLIENT_ID)
        .auth_method(ClientAuthMethod::None)
        .build()
        .expect("public client");
    let flow = AuthorizationCodeFlow::builder(public)
        .scopes(["openid", "profile", "offline_access", "read"])
        .build()
        .expect("flow");
    let listener = LoopbackRedirect::bind().await.expect("bind");
    let pending = flow
        .authorization_request(listener.redirect_uri())
        .build()
        .expect("request");
    shown.push(format!("{pending:?} {flow:?}"));
    let url = pending.url().clone();
    tokio::spawn(async move { reqwest::get(url).await });
    let callback = listener
        .wait(Duration::from_secs(30))
        .await
        .expect("callback");
    let code = callback
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, value)| value.into_owned())
        .expect("code");
    let parts = pending.into_parts();
    let verifier = parts.code_verifier.expose_secret().to_owned();
    shown.push(format!("{parts:?}"));
    let signed_in = flow
        .complete(PendingAuthorization::from_parts(parts), &callback)
        .await
        .expect("signed in");
    shown.push(format!("{signed_in:?} {signed_in:#?}"));
    let refresh_token = signed_in.refresh_token.clone().expect("refresh token");
    let id_token = signed_in.id_token.clone().expect("ID token");
    let grant = flow
        .refresh_grant(refresh_token.clone())
        .build()
        .expect("grant");
    shown.push(format!("{grant:?}"));
    let refreshed = grant.token().await.expect("refreshed");
    let rotated = grant.refresh_token().await;
    let replay = flow
        .refresh_grant(refresh_token.clone())
        .build()
        .expect("grant");
    let error = replay.token().await.expect_err("rotated token replayed");
    shown.push(format!("{error} {error:?}"));
    let api = ClientConfig::builder(
        Endpoints::new().introspection(
            identity
                .introspection_endpoint()
                .parse::<Url>()
                .expect("url"),
        ),
        DEFAULT_RESOURCE_ID,
    )
    .client_secret(DEFAULT_RESOURCE_SECRET)
    .build()
    .expect("resource server");
    let introspector = Introspector::builder(api).build().expect("introspector");
    let _ = introspector
        .introspect(signed_in.access_token.expose_secret())
        .await;
    shown.push(format!("{introspector:?}"));
    // Introspection's refusals: a refresh token, a malformed answer, and a
    // failing endpoint that then backs off (logged as it goes).
    let json = |body: &str| Failure::Body {
        status: 200,
        content_type: "application/json".into(),
        body: body.into(),
    };
    for failure in [
        json(r#"{"active":true,"token_type":"refresh_token"}"#),
        json(r#"{"active":true,"token_type":"Bearer","aud":{}}"#),
        Failure::Status(503),
    ] {
        identity.fail_next(Endpoint::Introspection, 1, failure);
        let opaque =
            identity.mint_reference_token(DEFAULT_RESOURCE_ID, &["read"], Duration::from_secs(600));
        let outcome = introspector.introspect(&opaque).await;
        shown.push(format!("{outcome:?}"));
        if let Err(error) = outcome {
            shown.push(error.to_string());
        }
        tokens_seen.push(opaque);
    }
    let revocation = flow.revocation().expect("revocation");
    revocation
        .revoke(&rotated, TokenTypeHint::RefreshToken)
        .await
        .expect("revoked");
    shown.push(format!("{revocation:?}"));
    for secret in [
        code,
        verifier,
        refresh_token.expose_secret().to_owned(),
        rotated.expose_secret().to_owned(),
        id_token.expose_secret().to_owned(),
        signed_in.access_token.expose_secret().to_owned(),
        refreshed.expose_secret().to_owned(),
        DEFAULT_RESOURCE_SECRET.to_owned(),
    ] {
        tokens_seen.push(secret);
    }

    protocol_reach_secrets(&identity, &key, &flow, &mut shown, &mut tokens_seen).await;
    web_app_secrets(&identity, &mut shown, &mut tokens_seen).await;

    let logs = captured.text();
    assert!(logs.contains("token issued"), "the run was logged:\n{logs}");
    assert!(tokens_seen.len() >= 12);
    assert!(logs.contains("signed in"), "the sign-in was logged");
    assert!(logs.contains("token revoked"), "the revocation was logged");
    assert!(
        logs.contains("user signed in"),
        "the web sign-in was logged"
    );
    assert!(
        logs.contains("back-channel logout"),
        "the back-channel logout was logged"
    );
    for secret in std::iter::once(SECRET.to_owned()).chain(tokens_seen) {
        assert!(!logs.contains(&secret), "a secret reached the logs");
        for text in &shown {
            assert!(
                !text.contains(&secret),
                "a secret reached Debug/Display: {text}"
            );
        }
    }
}

/// `private_key_jwt` (the key, each assertion), the device grant (the device code, the tokens)
/// and userinfo: every secret met is added to `secrets`, every `Debug`/`Display` text to
/// `shown`.
async fn protocol_reach_secrets(
    identity: &MockIdentity,
    key: &ClientKey,
    flow: &AuthorizationCodeFlow,
    shown: &mut Vec<String>,
    secrets: &mut Vec<String>,
) {
    let pem = key.private_pem();
    // Every line of the key's body, and the assertions signed with it.
    secrets.extend(
        pem.lines()
            .filter(|line| !line.starts_with("-----"))
            .map(str::to_owned),
    );
    let signing_key = ClientSigningKey::from_pem(pem.as_bytes()).expect("PEM key");
    let signing_key = signing_key.with_kid(key.kid()).expect("kid");
    shown.push(format!("{signing_key:?}"));
    let keyed = ClientConfig::builder(
        Authority::parse(&identity.issuer()).expect("authority"),
        KEYED_CLIENT,
    )
    .private_key(signing_key);
    shown.push(format!("{keyed:?}"));
    let keyed = keyed.build().expect("keyed client");
    shown.push(format!("{keyed:?}"));
    let grant = ClientCredentials::builder(keyed.clone())
        .scopes(["read"])
        .build()
        .expect("grant");
    let token = grant.token().await.expect("token with a client assertion");
    secrets.push(token.expose_secret().to_owned());
    let assertion = identity
        .last_token_request()
        .and_then(|record| record.param("client_assertion").map(str::to_owned))
        .expect("the assertion was sent");
    shown.push(format!("{:?}", identity.last_token_request()));
    secrets.push(assertion);
    // A key the mock does not know: the error names neither key nor assertion.
    let impostor = ClientSigningKey::from_pem(ClientKey::ec_p256("other").private_pem().as_bytes())
        .expect("PEM key");
    let refused = ClientCredentials::builder(
        ClientConfig::builder(
            Authority::parse(&identity.issuer()).expect("authority"),
            KEYED_CLIENT,
        )
        .private_key(impostor)
        .build()
        .expect("client"),
    )
    .scopes(["read"])
    .build()
    .expect("grant");
    let error = refused.token().await.expect_err("unknown key");
    shown.push(format!("{error} {error:?}"));
    secrets.extend(
        identity
            .last_token_request()
            .and_then(|record| record.param("client_assertion").map(str::to_owned)),
    );

    // The device grant, then userinfo with its tokens.
    let authorization = flow
        .start_device_authorization()
        .await
        .expect("device authorization");
    shown.push(format!("{authorization:?}"));
    assert!(identity.approve_device(authorization.user_code(), DEFAULT_USER));
    let signed_in = flow
        .complete_device_authorization(&authorization)
        .await
        .expect("signed in on another device");
    shown.push(format!("{signed_in:?}"));
    let device_code = identity
        .last_token_request()
        .and_then(|record| record.param("device_code").map(str::to_owned))
        .expect("the device code was sent");
    shown.push(format!("{:?}", identity.last_token_request()));
    let id_token = signed_in.id_token.as_ref().expect("ID token");
    let userinfo = flow
        .userinfo(&signed_in.access_token, id_token)
        .await
        .expect("userinfo")
        .expect("endpoint");
    shown.push(format!("{userinfo:?}"));
    secrets.push(device_code);
    secrets.push(signed_in.access_token.expose_secret().to_owned());
    secrets.push(id_token.expose_secret().to_owned());
    secrets.extend(
        signed_in
            .refresh_token
            .as_ref()
            .map(|token| token.expose_secret().to_owned()),
    );
}

/// A web app's whole life against the mock: a refused callback, a sign-in (its code, its
/// session ids before and after, its CSRF token), a refresh (the rotated refresh token),
/// sign-out (revocation), another sign-in ended by back-channel logout. Every secret met is
/// added to `secrets`, every `Debug`/`Display` text to `shown`.
async fn web_app_secrets(
    identity: &MockIdentity,
    shown: &mut Vec<String>,
    secrets: &mut Vec<String>,
) {
    use support::browser::Browser;
    use support::web::{TestStore, listener, serve, web_client, web_sign_in};

    let (listener, url) = listener().await;
    identity.register_client(web_client(&url));
    identity.set_token_lifetime(Duration::from_secs(30)); // every token due: refreshed at once
    let store = TestStore::default();
    let builder = web_sign_in(identity, &url)
        .await
        .sign_in_store(store.clone());
    shown.push(format!("{builder:?}"));
    let web = builder.build().expect("web sign-in");
    shown.push(format!("{web:?}"));
    let app = serve(listener, &web);
    let cookie_of = |browser: &Browser| browser.cookie(&app.url, "erpnet-auth");

    let mut browser = Browser::new();
    let login = browser.get(&app.at("/login")).await;
    secrets.extend(cookie_of(&browser));
    let authorize = login.location().expect("to the provider");
    let callback = browser.get(&authorize).await.location().expect("back");
    let code = support::query_param(&callback, "code").expect("a code");
    secrets.push(code);
    secrets.push(support::query_param(&authorize, "state").expect("state"));
    secrets.push(support::query_param(&authorize, "code_challenge").expect("challenge"));
    let mut forged = callback.clone();
    forged.set_query(Some("code=x&state=forged"));
    let refused = browser.get(&forged).await;
    shown.push(refused.body);
    let home = browser.navigate(&callback).await;
    assert!(home.body.contains("Signed in as"), "{}", home.body);
    secrets.extend(cookie_of(&browser));
    let data = browser.get(&app.at("/data")).await;
    assert_eq!(data.status, 200);
    let field = "name=\"csrf\" value=\"";
    let csrf_start = home.body.find(field).expect("CSRF field") + field.len();
    let csrf = home.body[csrf_start..csrf_start + 64].to_owned();
    let out = browser
        .post_form(&app.at("/logout"), &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, 303);
    let back = browser
        .navigate(&out.location().expect("to end the session"))
        .await;
    assert!(back.body.contains("Sign in"), "{}", back.body);
    secrets.push(csrf);

    let mut other = Browser::new();
    other.navigate(&app.at("/login")).await;
    secrets.extend(cookie_of(&other));
    assert_eq!(
        identity
            .sign_out_user(erpnet_auth_testkit::DEFAULT_USER)
            .await,
        1
    );
    let logout_token = identity.mint(erpnet_auth_testkit::TokenSpec::logout_token());
    let refused = reqwest::Client::new()
        .post(app.at("/backchannel-logout"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("logout_token={logout_token}"))
        .send()
        .await
        .expect("answer");
    shown.push(refused.text().await.expect("body"));
    secrets.push(logout_token);

    for record in store.written() {
        let record: serde_json::Value = serde_json::from_str(&record).expect("JSON");
        for field in ["access_token", "refresh_token", "id_token"] {
            secrets.extend(record[field].as_str().map(str::to_owned));
        }
    }
    assert!(secrets.len() >= 12, "the web run met its secrets");
}
