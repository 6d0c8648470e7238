//! Protected resource metadata (RFC 9728) against the mock identity: the
//! document served beside an API protected by `ValidateBearerLayer`, built from
//! its validator; challenges that point to it; a client that starts from a
//! bare 401 and finds its way to a token; and `examples/api_server.rs`
//! serving it for one and for several authorities.

use std::process::Stdio;
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Router};
use erpnet_auth::tower::{
    RESOURCE_METADATA_PATH, RequireScopesLayer, ResourceMetadata, ValidateBearerLayer,
};
use erpnet_auth::{Authority, Discovery, Issuers, JwtValidator, VerifiedToken};
use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, MockIdentity, TokenSpec};
use http::header::{ALLOW, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tower::ServiceExt;

mod support;

fn validator(identity: &MockIdentity, audience: &str) -> JwtValidator {
    JwtValidator::builder(Authority::parse(&identity.issuer()).expect("authority"))
        .audience(audience)
        .build()
        .expect("validator")
}

/// An API at `resource` (its `/orders` needs `read`) with its metadata,
/// challenges pointing there.
fn api(validator: JwtValidator, resource: &str) -> (Router, ResourceMetadata) {
    let metadata = ResourceMetadata::builder(resource)
        .validator(&validator)
        .scopes_supported(["read", "update"])
        .resource_documentation("https://docs.example.com/orders")
        .build()
        .expect("metadata");
    let url = metadata.url().expect("the resource is a URL").to_owned();
    let app = Router::new()
        .route(
            "/orders",
            get(|Extension(token): Extension<VerifiedToken>| async move {
                token.caller().unwrap_or_default().to_owned()
            })
            .route_layer(RequireScopesLayer::all(["read"])),
        )
        .layer(ValidateBearerLayer::new(validator).resource_metadata(url))
        .layer(metadata.layer());
    (app, metadata)
}

async fn send(app: &Router, method: Method, path: &str, token: Option<&str>) -> Response<Body> {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    app.clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("answer")
}

async fn json_of(response: Response<Body>) -> Value {
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .expect("body");
    serde_json::from_slice(&body).expect("JSON")
}

fn challenge(response: &Response<Body>) -> String {
    response.headers()[WWW_AUTHENTICATE]
        .to_str()
        .expect("ascii")
        .to_owned()
}

#[tokio::test]
async fn the_document_is_served_without_a_token_and_built_from_the_validator() {
    let identity = MockIdentity::start().await;
    let resource = "http://127.0.0.1:8443";
    let (app, metadata) = api(validator(&identity, resource), resource);
    assert_eq!(metadata.path(), RESOURCE_METADATA_PATH);
    assert_eq!(
        metadata.url(),
        Some("http://127.0.0.1:8443/.well-known/oauth-protected-resource")
    );

    let response = send(&app, Method::GET, RESOURCE_METADATA_PATH, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        json_of(response).await,
        json!({
            "resource": resource,
            "authorization_servers": [identity.issuer()],
            "scopes_supported": ["read", "update"],
            "bearer_methods_supported": ["header"],
            "resource_documentation": "https://docs.example.com/orders",
        })
    );
    let head = send(&app, Method::HEAD, RESOURCE_METADATA_PATH, None).await;
    assert_eq!(head.status(), StatusCode::OK);
    let post = send(&app, Method::POST, RESOURCE_METADATA_PATH, None).await;
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.headers()[ALLOW], "GET, HEAD");

    // Everything else still goes through the validating layer.
    let anonymous = send(&app, Method::GET, "/orders", None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let token = identity.mint(
        TokenSpec::access_token()
            .audiences([resource])
            .scopes_array(["read"]),
    );
    let ok = send(&app, Method::GET, "/orders", Some(&token)).await;
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_resource_with_a_path_is_served_at_the_path_suffixed_form() {
    let identity = MockIdentity::start().await;
    let resource = "http://127.0.0.1:8443/tenants/orders/";
    let (app, metadata) = api(validator(&identity, resource), resource);
    let path = "/.well-known/oauth-protected-resource/tenants/orders";
    assert_eq!(metadata.path(), path);
    assert_eq!(
        metadata.url(),
        Some("http://127.0.0.1:8443/.well-known/oauth-protected-resource/tenants/orders")
    );
    let document = json_of(send(&app, Method::GET, path, None).await).await;
    assert_eq!(document["resource"], resource);
    // Not at the bare well-known path: that would describe another resource.
    let bare = send(&app, Method::GET, RESOURCE_METADATA_PATH, None).await;
    assert_ne!(bare.status(), StatusCode::OK);
}

#[tokio::test]
async fn every_challenge_points_to_the_metadata() {
    let identity = MockIdentity::start().await;
    let resource = "http://127.0.0.1:8443";
    let (app, metadata) = api(validator(&identity, resource), resource);
    let pointer = format!(r#"resource_metadata="{}""#, metadata.url().expect("url"));

    let missing = send(&app, Method::GET, "/orders", None).await;
    assert_eq!(
        challenge(&missing),
        format!(r#"Bearer realm="api", {pointer}"#)
    );
    let invalid = send(&app, Method::GET, "/orders", Some("a.b.c")).await;
    assert_eq!(invalid.status(), StatusCode::UNAUTHORIZED);
    assert!(
        challenge(&invalid).contains(&pointer),
        "{}",
        challenge(&invalid)
    );
    // RequireScopes, behind the layer, answers in the same terms.
    let no_read = identity.mint(
        TokenSpec::access_token()
            .audiences([resource])
            .scopes_array(["update"]),
    );
    let forbidden = send(&app, Method::GET, "/orders", Some(&no_read)).await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let text = challenge(&forbidden);
    assert!(
        text.contains(&pointer) && text.contains(r#"error="insufficient_scope""#),
        "{text}"
    );

    // The realm may be set before or after, and quotes are escaped.
    let layer = ValidateBearerLayer::new(validator(&identity, resource))
        .resource_metadata("http://127.0.0.1:8443/.well-known/oauth-protected-resource?\"x\"")
        .realm("orders");
    let app = Router::new()
        .route("/orders", get(|| async { "orders" }))
        .layer(layer);
    let missing = send(&app, Method::GET, "/orders", None).await;
    assert_eq!(
        challenge(&missing),
        r#"Bearer realm="orders", resource_metadata="http://127.0.0.1:8443/.well-known/oauth-protected-resource?\"x\"""#
    );
}

#[tokio::test]
async fn a_client_finds_its_way_from_a_bare_401_to_a_token() {
    let identity = MockIdentity::start().await;
    let resource = "http://127.0.0.1:8443";
    let (app, _) = api(validator(&identity, resource), resource);

    // 1. A call without a token: the challenge names the metadata.
    let refused = send(&app, Method::GET, "/orders", None).await;
    let text = challenge(&refused);
    let url = text
        .split(r#"resource_metadata=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("resource_metadata in the challenge");
    // 2. The metadata names the authorization server (this API is the mock
    //    origin 127.0.0.1:8443 in name only: fetch the path from the app).
    let path = url
        .strip_prefix(resource)
        .expect("on the resource's origin");
    let document = json_of(send(&app, Method::GET, path, None).await).await;
    assert_eq!(document["resource"], resource);
    let issuer = document["authorization_servers"][0]
        .as_str()
        .expect("an authorization server");
    // 3. Its discovery document names the token endpoint.
    let discovery = Discovery::fetch(issuer).await.expect("discovery");
    assert_eq!(discovery.issuer(), identity.issuer());
    assert_eq!(
        discovery.token_endpoint().as_str(),
        identity.token_endpoint()
    );
    // 4. A token for the resource, with a scope the document lists, is accepted.
    let scope = document["scopes_supported"][0].as_str().expect("a scope");
    let token = identity.mint(
        TokenSpec::access_token()
            .audiences([resource])
            .scopes_array([scope]),
    );
    let ok = send(&app, Method::GET, "/orders", Some(&token)).await;
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn several_issuers_are_listed_and_a_rule_needs_them_named() {
    let [a, b] = [MockIdentity::start().await, MockIdentity::start().await];
    let listed = JwtValidator::builder_for_issuers(Issuers::list([
        Authority::parse(&b.issuer()).expect("b"),
        Authority::parse(&a.issuer()).expect("a"),
    ]))
    .audience("DomainAPI")
    .build()
    .expect("validator");
    let metadata = ResourceMetadata::builder("https://api.example.com")
        .validator(&listed)
        .build()
        .expect("metadata");
    let document: Value = serde_json::from_str(metadata.json()).expect("JSON");
    let mut both = vec![a.issuer(), b.issuer()];
    both.sort();
    assert_eq!(document["authorization_servers"], json!(both));

    let rule = JwtValidator::builder_for_issuers(Issuers::rule(|_| true))
        .audience("DomainAPI")
        .build()
        .expect("validator");
    let unnamed = ResourceMetadata::builder("https://api.example.com")
        .validator(&rule)
        .build()
        .expect("metadata");
    assert!(!unnamed.json().contains("authorization_servers"));
    let named = ResourceMetadata::builder("https://api.example.com")
        .validator(&rule)
        .authorization_servers([a.issuer()])
        .build()
        .expect("metadata");
    let document: Value = serde_json::from_str(named.json()).expect("JSON");
    assert_eq!(document["authorization_servers"], json!([a.issuer()]));
}

#[test]
fn bad_documents_are_refused_at_build() {
    for (resource, why) in [
        ("", "empty"),
        ("http://api.example.com", "plain http off loopback"),
        ("https://api.example.com/#top", "fragment"),
        ("https://api.example.com/?tenant=1", "query"),
        ("urn:example:api#x", "fragment"),
    ] {
        assert!(
            ResourceMetadata::builder(resource).build().is_err(),
            "{why}: {resource}"
        );
    }
    assert!(
        ResourceMetadata::builder("https://api.example.com")
            .authorization_servers(["http://login.example.com"])
            .build()
            .is_err(),
        "an authorization server over plain http"
    );
    assert!(
        ResourceMetadata::builder("https://api.example.com")
            .resource_tos_uri("not a url")
            .build()
            .is_err()
    );
    // A resource that is no URL (an ERP.net audience) is served as it is.
    let audience = ResourceMetadata::builder("DomainAPI")
        .build()
        .expect("an audience");
    assert_eq!(audience.path(), RESOURCE_METADATA_PATH);
    assert_eq!(audience.url(), None);
    assert_eq!(
        audience.json(),
        r#"{"resource":"DomainAPI","bearer_methods_supported":["header"]}"#
    );
}

/// Starts `examples/api_server.rs` with these variables; returns it (killed on
/// drop) and its origin and metadata URL, read from its output.
async fn api_server(env: &[(&str, String)]) -> (tokio::process::Child, Vec<String>) {
    let mut command = tokio::process::Command::new(support::example_binary("api_server"));
    for (name, _) in std::env::vars() {
        if name.starts_with("ERPNET_") {
            command.env_remove(name);
        }
    }
    let mut server = command
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("BIND", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("api_server starts");
    let mut lines = BufReader::new(server.stdout.take().expect("stdout")).lines();
    let output = tokio::time::timeout(Duration::from_secs(60), async {
        let mut output = Vec::new();
        while let Some(line) = lines.next_line().await.expect("read") {
            let last = line.starts_with("resource metadata: ");
            output.push(line);
            if last {
                return output;
            }
        }
        panic!("api_server ended early: {output:?}");
    })
    .await
    .expect("api_server starts listening");
    (server, output)
}

fn after<'a>(output: &'a [String], prefix: &str) -> &'a str {
    output
        .iter()
        .find_map(|line| line.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line `{prefix}…` in {output:?}"))
}

#[tokio::test]
async fn the_api_server_example_serves_its_metadata_for_one_and_several_authorities() {
    let [a, b] = [MockIdentity::start().await, MockIdentity::start().await];
    let audience = "DomainAPI".to_owned();

    // One authority: as before, plus the metadata.
    let (_one, output) = api_server(&[
        ("ERPNET_AUTHORITY", a.issuer()),
        ("ERPNET_AUDIENCE", audience.clone()),
    ])
    .await;
    assert_eq!(output[0], format!("provider: {}", a.issuer()));
    let origin = after(&output, "listening on ");
    let metadata = after(&output, "resource metadata: ");
    assert_eq!(metadata, format!("{origin}{RESOURCE_METADATA_PATH}"));
    let document: Value = reqwest::get(metadata)
        .await
        .expect("metadata")
        .bytes()
        .await
        .map(|body| serde_json::from_slice(&body).expect("JSON"))
        .expect("body");
    assert_eq!(
        document,
        json!({
            "resource": "DomainAPI",
            "authorization_servers": [a.issuer()],
            "scopes_supported": ["read", "update"],
            "bearer_methods_supported": ["header"],
        })
    );
    let refused = reqwest::get(format!("{origin}/whoami")).await.expect("401");
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()["www-authenticate"],
        format!(r#"Bearer realm="api", resource_metadata="{metadata}""#).as_str()
    );

    // Several, separated by a comma and spaces: tokens of each are accepted.
    let (_several, output) = api_server(&[
        (
            "ERPNET_AUTHORITY",
            format!("{}, {}", a.issuer(), b.issuer()),
        ),
        ("ERPNET_AUDIENCE", audience),
    ])
    .await;
    let mut both = vec![a.issuer(), b.issuer()];
    both.sort();
    assert_eq!(output[0], format!("providers: {}", both.join(" ")));
    let origin = after(&output, "listening on ");
    let document: Value = reqwest::get(after(&output, "resource metadata: "))
        .await
        .expect("metadata")
        .bytes()
        .await
        .map(|body| serde_json::from_slice(&body).expect("JSON"))
        .expect("body");
    assert_eq!(document["authorization_servers"], json!(both));
    for identity in [&a, &b] {
        let answer = reqwest::Client::new()
            .get(format!("{origin}/whoami"))
            .bearer_auth(identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]))
            .send()
            .await
            .expect("answer");
        assert_eq!(answer.status(), 200, "a token of {}", identity.issuer());
    }
}
