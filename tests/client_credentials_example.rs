//! `examples/client_credentials.rs` end to end: the built example binary
//! against the mock ERP.net Identity and an API on 127.0.0.1.
//!
//! `cargo test` builds the examples before it runs the tests, and puts them in
//! `target/<profile>/examples/`, beside this test's own `deps/` folder.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode, Uri};
use erpnet_auth_testkit::{
    AuthMethodUsed, Client, ClientKey, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Endpoint,
    MockIdentity,
};

mod support;

fn example_binary() -> PathBuf {
    support::example_binary("client_credentials")
}

/// The Authorization header of every request the API saw.
type Seen = Arc<Mutex<Vec<Option<String>>>>;

/// An API that answers 200 with a greeting to any bearer token, 404 under
/// `/missing`, and 401 without a token.
async fn start_api() -> (String, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("address"));
    let seen = Seen::default();
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let authorization = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        record.lock().expect("lock").push(authorization.clone());
        async move {
            match authorization {
                _ if uri.path() == "/missing" => (StatusCode::NOT_FOUND, "no such thing"),
                Some(value) if value.starts_with("Bearer ey") => {
                    (StatusCode::OK, "hello, service\nsecond line")
                }
                _ => (StatusCode::UNAUTHORIZED, "who are you?"),
            }
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    (origin, seen)
}

/// Runs the example with exactly these `ERPNET_*` variables and arguments.
async fn run_example(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(example_binary());
    for (name, _) in std::env::vars() {
        if name.starts_with("ERPNET_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied()).args(args);
    // The mock and the API run on this runtime while the example runs.
    tokio::task::spawn_blocking(move || command.output().expect("example runs"))
        .await
        .expect("join")
}

fn settings<'a>(identity: &'a str, secret: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("ERPNET_AUTHORITY", identity),
        ("ERPNET_CLIENT_ID", DEFAULT_CLIENT_ID),
        ("ERPNET_CLIENT_SECRET", secret),
        ("ERPNET_SCOPES", "read update"),
    ]
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prints_the_status_then_the_body_with_either_auth_method() {
    let identity = MockIdentity::start().await;
    let issuer = identity.issuer();
    let (api, seen) = start_api().await;
    let url = format!("{api}/api/domain/odata/General_Contacts_Persons?$top=1");

    for (method, used) in [
        (None, AuthMethodUsed::Post),
        (Some("post"), AuthMethodUsed::Post),
        (Some("basic"), AuthMethodUsed::Basic),
    ] {
        let mut env = settings(&issuer, DEFAULT_CLIENT_SECRET);
        env.extend(method.map(|m| ("ERPNET_AUTH_METHOD", m)));
        let output = run_example(&env, &[&url]).await;
        assert!(output.status.success(), "{}", text(&output.stderr));
        assert_eq!(text(&output.stdout), "200\nhello, service\nsecond line\n");
        let request = identity.last_token_request().expect("token request");
        assert_eq!(request.auth_method, used);
        assert_eq!(request.param("scope"), Some("read update"));
    }
    assert_eq!(identity.requests(Endpoint::Token), 3, "one per run");
    assert!(
        seen.lock()
            .expect("lock")
            .iter()
            .all(|a| a.as_deref().is_some_and(|a| a.starts_with("Bearer ")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_key_jwt_signs_with_the_pem_key_named_by_erpnet_client_key() {
    let key = ClientKey::ec_p256("reports-key-1");
    // Registered twice: under its kid, and without one (the mock then tries the key whatever
    // the assertion's kid, here the thumbprint the example uses by default).
    let mut unnamed = key.public_jwk();
    unnamed.as_object_mut().expect("JWK object").remove("kid");
    let identity = MockIdentity::builder()
        .client(Client::with_key("reports", key.public_jwk()))
        .client(Client::with_key("reports-unnamed", unnamed))
        .start()
        .await;
    let issuer = identity.issuer();
    let (api, _) = start_api().await;
    let url = format!("{api}/api/domain/odata/General_Contacts_Persons?$top=1");
    let pem_path = std::env::temp_dir().join(format!(
        "erpnet-auth-example-key-{}.pem",
        std::process::id()
    ));
    std::fs::write(&pem_path, key.private_pem()).expect("write the key");
    let pem_path = pem_path.to_str().expect("UTF-8 path").to_owned();

    for (client_id, kid) in [("reports", Some(key.kid())), ("reports-unnamed", None)] {
        let mut env = vec![
            ("ERPNET_AUTHORITY", issuer.as_str()),
            ("ERPNET_CLIENT_ID", client_id),
            ("ERPNET_SCOPES", "read"),
            ("ERPNET_AUTH_METHOD", "private_key_jwt"),
            ("ERPNET_CLIENT_KEY", pem_path.as_str()),
        ];
        env.extend(kid.map(|kid| ("ERPNET_CLIENT_KEY_ID", kid)));
        let output = run_example(&env, &[&url]).await;
        assert!(output.status.success(), "{}", text(&output.stderr));
        assert_eq!(text(&output.stdout), "200\nhello, service\nsecond line\n");
        let request = identity.last_token_request().expect("token request");
        assert_eq!(request.auth_method, AuthMethodUsed::PrivateKeyJwt);
        assert_eq!(request.client_id, client_id);
    }

    let env = [
        ("ERPNET_AUTHORITY", issuer.as_str()),
        ("ERPNET_CLIENT_ID", "reports"),
        ("ERPNET_SCOPES", "read"),
        ("ERPNET_AUTH_METHOD", "private_key_jwt"),
        ("ERPNET_CLIENT_KEY", "/no/such/key.pem"),
    ];
    let output = run_example(&env, &[&url]).await;
    assert_eq!(output.status.code(), Some(2), "a configuration error");
    assert!(text(&output.stderr).contains("ERPNET_CLIENT_KEY"));
    let _ = std::fs::remove_file(&pem_path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_zero_for_any_answered_status() {
    let identity = MockIdentity::start().await;
    let (api, _) = start_api().await;
    let output = run_example(
        &settings(&identity.issuer(), DEFAULT_CLIENT_SECRET),
        &[&format!("{api}/missing")],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "404\nno such thing\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_means_a_one_line_error_and_no_request() {
    let identity = MockIdentity::start().await;
    let (api, seen) = start_api().await;
    let wrong = "not-the-s3cret-4e1f";
    let output = run_example(&settings(&identity.issuer(), wrong), &[&format!("{api}/x")]).await;

    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: no access token"), "{stderr}");
    assert!(stderr.contains("invalid_client"), "{stderr}");
    assert!(!stderr.contains(wrong), "{stderr}");
    assert!(seen.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn without_erpnet_authority_it_says_what_to_set() {
    let output = run_example(&[], &["https://myinstance.my.erp.net/api"]).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for name in [
        "ERPNET_AUTHORITY",
        "ERPNET_CLIENT_ID",
        "ERPNET_CLIENT_SECRET",
        "ERPNET_SCOPES",
    ] {
        assert!(stderr.contains(name), "{stderr}");
    }
}
