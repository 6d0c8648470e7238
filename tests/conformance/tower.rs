//! The tower layer against the peer: an axum API behind `ValidateBearerLayer`
//! called through `BearerAuth` with the peer's tokens, introspection of opaque
//! tokens through the layer, and the `client_credentials` and `api_server`
//! examples run against the peer through their environment variables.

use std::process::Stdio;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use erpnet_auth::reqwest::BearerAuth;
use erpnet_auth::tower::{Claims, RequireScopesLayer, ValidateBearerLayer};
use erpnet_auth::{CachedTokenSource, Introspector, Revocation, TokenSource, TokenTypeHint};
use secrecy::SecretString;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::peer::{CC_BASIC, CC_POST, JWT_API, OPAQUE_API, Peer, RESOURCE_SERVER, peer_or_skip};
use crate::support::example_binary;

/// Serves `app` on 127.0.0.1; returns its origin.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    origin
}

async fn whoami(claims: Claims) -> String {
    claims.token.caller().unwrap_or_default().to_owned()
}

fn api(layer: ValidateBearerLayer) -> Router {
    Router::new()
        .route(
            "/whoami",
            get(whoami).route_layer(RequireScopesLayer::all(["read"])),
        )
        .route(
            "/items",
            post(|| async { "created" }).route_layer(RequireScopesLayer::all(["update"])),
        )
        .layer(layer)
}

fn client(peer: &Peer, origin: &str) -> reqwest_middleware::ClientWithMiddleware {
    let tokens = CachedTokenSource::new(peer.client_credentials(CC_BASIC, &["read"], JWT_API));
    let auth = BearerAuth::builder(tokens)
        .allow_origin(origin)
        .build()
        .expect("BearerAuth");
    auth.client_builder(reqwest::Client::builder())
        .expect("client")
        .build()
}

#[tokio::test]
async fn the_layer_protects_an_api_with_the_peers_tokens() {
    let peer = peer_or_skip!();
    let origin = serve(api(ValidateBearerLayer::new(peer.validator(JWT_API)))).await;
    let client = client(&peer, &origin);

    let ok = client
        .get(format!("{origin}/whoami"))
        .send()
        .await
        .expect("answer");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.expect("body"), CC_BASIC.id);

    let forbidden = client
        .post(format!("{origin}/items"))
        .send()
        .await
        .expect("answer");
    assert_eq!(forbidden.status(), 403);
    let challenge = forbidden.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        challenge.contains("insufficient_scope") && challenge.contains("scope=\"update\""),
        "{challenge}"
    );

    let anonymous = reqwest::get(format!("{origin}/whoami"))
        .await
        .expect("answer");
    assert_eq!(anonymous.status(), 401);

    // A token for another API of the same provider is refused.
    let opaque_api_token = peer.service_token(&["read"], OPAQUE_API).await;
    let foreign = reqwest::Client::new()
        .get(format!("{origin}/whoami"))
        .bearer_auth(opaque_api_token.expose_secret())
        .send()
        .await
        .expect("answer");
    assert_eq!(foreign.status(), 401);
}

#[tokio::test]
async fn a_revoked_opaque_token_gets_401_through_the_layer() {
    let peer = peer_or_skip!();
    let introspector = Introspector::builder(peer.client(RESOURCE_SERVER))
        .cache_ttl(Duration::ZERO)
        .build()
        .expect("introspector");
    let layer =
        ValidateBearerLayer::new(peer.validator(OPAQUE_API)).introspect_opaque_tokens(introspector);
    let origin = serve(api(layer)).await;
    let token = peer.service_token(&["read"], OPAQUE_API).await;
    let call = || {
        reqwest::Client::new()
            .get(format!("{origin}/whoami"))
            .bearer_auth(token.expose_secret())
            .send()
    };
    let ok = call().await.expect("answer");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.expect("body"), CC_BASIC.id);

    Revocation::new(peer.client(CC_BASIC))
        .expect("revocation")
        .revoke(
            &SecretString::from(token.expose_secret().to_owned()),
            TokenTypeHint::AccessToken,
        )
        .await
        .expect("revoked");
    let refused = call().await.expect("answer");
    assert_eq!(refused.status(), 401);
    assert!(
        refused.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn the_examples_work_against_the_peer() {
    let peer = peer_or_skip!();
    let mut server = tokio::process::Command::new(example_binary("api_server"))
        .env("ERPNET_AUTHORITY", peer.issuer())
        .env("ERPNET_AUDIENCE", JWT_API)
        .env("BIND", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("api_server starts");
    let mut lines = BufReader::new(server.stdout.take().expect("stdout")).lines();
    let origin = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if let Some(origin) = line.strip_prefix("listening on ") {
                return origin.to_owned();
            }
        }
        panic!("api_server ended without listening");
    })
    .await
    .expect("api_server listens");

    // /items needs `update`, which this token lacks.
    for (path, status) in [("/whoami", "200"), ("/items", "403")] {
        let output = tokio::process::Command::new(example_binary("client_credentials"))
            .env("ERPNET_AUTHORITY", peer.issuer())
            .env("ERPNET_CLIENT_ID", CC_POST.id)
            .env("ERPNET_CLIENT_SECRET", CC_POST.secret)
            .env("ERPNET_SCOPES", "read")
            .env("ERPNET_AUTH_METHOD", "post")
            .env("ERPNET_RESOURCE", JWT_API)
            .arg(format!("{origin}{path}"))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .expect("client_credentials runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(stdout.lines().next(), Some(status), "{path}: {stdout}");
        if path == "/whoami" {
            assert!(stdout.contains(CC_POST.id), "{stdout}");
        }
    }
    // The source the example uses would get a token too: the peer agrees.
    let grant = peer.client_credentials(CC_POST, &["read"], JWT_API);
    assert!(grant.token().await.is_ok());
}
