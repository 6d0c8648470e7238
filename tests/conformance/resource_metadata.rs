//! Protected resource metadata (RFC 9728) against the peer: an API behind
//! `ValidateBearerLayer` serves its metadata, built from a validator of the
//! peer's tokens, and a client that knows only the API's URL follows a bare
//! 401 to the metadata, the metadata to the peer, and gets a token there that
//! the API accepts.

use axum::Router;
use axum::routing::get;
use erpnet_auth::tower::{Claims, RequireScopesLayer, ResourceMetadata, ValidateBearerLayer};
use erpnet_auth::{Authority, ClientConfig, ClientCredentials, TokenSource};
use serde_json::Value;

use crate::peer::{CC_BASIC, JWT_API, peer_or_skip};

#[tokio::test]
async fn a_client_follows_the_metadata_from_a_401_to_the_peer_and_back() {
    let peer = peer_or_skip!();
    let validator = peer.validator(JWT_API);
    // The peer's resource indicator is a URN: served at the bare well-known
    // path of this server.
    let metadata = ResourceMetadata::builder(JWT_API)
        .validator(&validator)
        .scopes_supported(["read"])
        .build()
        .expect("metadata");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    let app =
        Router::new()
            .route(
                "/whoami",
                get(|claims: Claims| async move {
                    claims.token.caller().unwrap_or_default().to_owned()
                })
                .route_layer(RequireScopesLayer::all(["read"])),
            )
            .layer(
                ValidateBearerLayer::new(validator)
                    .resource_metadata(format!("{origin}{}", metadata.path())),
            )
            .layer(metadata.layer());
    tokio::spawn(async move { axum::serve(listener, app).await });

    // A bare call: 401, with the way to the metadata.
    let refused = reqwest::get(format!("{origin}/whoami"))
        .await
        .expect("answer");
    assert_eq!(refused.status(), 401);
    let challenge = refused.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let url = challenge
        .split(r#"resource_metadata=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("resource_metadata in the challenge");

    // The metadata: the peer as the authorization server.
    let body = reqwest::get(url)
        .await
        .expect("metadata")
        .bytes()
        .await
        .expect("body");
    let document: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(document["resource"], JWT_API);
    assert_eq!(document["bearer_methods_supported"][0], "header");
    let issuer = document["authorization_servers"][0]
        .as_str()
        .expect("an authorization server");
    assert_eq!(issuer, peer.issuer());

    // A token from there, for the resource and a scope the document names.
    let client = ClientConfig::builder(Authority::parse(issuer).expect("issuer"), CC_BASIC.id)
        .client_secret(CC_BASIC.secret)
        .auth_method(CC_BASIC.method)
        .build()
        .expect("client");
    let token = ClientCredentials::builder(client)
        .scopes([document["scopes_supported"][0].as_str().expect("a scope")])
        .param("resource", document["resource"].as_str().expect("resource"))
        .build()
        .expect("grant")
        .token()
        .await
        .expect("a token from the peer");
    let answer = reqwest::Client::new()
        .get(format!("{origin}/whoami"))
        .bearer_auth(token.expose_secret())
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.expect("body"), CC_BASIC.id);
}
