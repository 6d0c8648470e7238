//! `examples/web_app.rs` against the peer, in a real browser (headless Chromium): the user
//! signs in on oidc-provider's own login and consent pages, sees `Signed in as`, loads
//! `/data` (read from a local API that validates the peer's access tokens), signs out
//! through the peer's RP-initiated logout page, and is signed out there too; then signs in
//! again and out at the peer alone, whose back-channel logout token ends the app's session.

use std::net::TcpListener as StdListener;

use axum::Router;
use axum::routing::get;
use erpnet_auth::tower::{Claims, RequireScopesLayer, ValidateBearerLayer};
use serde_json::{Value, json};

use crate::peer::{JWT_API, Peer, WEB_APP};
use crate::support::webdriver::{Chromium, start_web_app};

/// An OData-shaped API at `/odata/` that accepts the peer's tokens for `JWT_API` with the
/// scope `read`; returns the OData root.
async fn odata_api(peer: &Peer) -> String {
    async fn parties(claims: Claims) -> axum::Json<Value> {
        let user = claims.token.subject().unwrap_or_default().to_owned();
        axum::Json(json!({ "value": [
            { "Id": "1", "DisplayText": format!("Parties of {user}") },
            { "Id": "2", "DisplayText": "Peer Enterprise Ltd" },
        ]}))
    }
    let app = Router::new()
        .route(
            "/odata/General_Contacts_Parties",
            get(parties).route_layer(RequireScopesLayer::all(["read"])),
        )
        .layer(ValidateBearerLayer::new(peer.validator(JWT_API)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let root = format!("http://{}/odata/", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    root
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_signs_in_on_the_providers_own_pages_and_out_again() {
    // The peer registers the app's redirect URIs, so the app's address comes first.
    let port = StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let app_url = format!("http://127.0.0.1:{port}");
    let Some(peer) = Peer::start_with(vec![("WEB_APP_URL", app_url.clone())]).await else {
        return;
    };
    let Some(browser) = Chromium::start().await else {
        return;
    };
    let api = odata_api(&peer).await;
    let bind = format!("127.0.0.1:{port}");
    let (_app, address) = start_web_app(&[
        ("BIND", bind.as_str()),
        ("ERPNET_AUTHORITY", peer.issuer()),
        ("ERPNET_CLIENT_ID", WEB_APP.id),
        ("ERPNET_CLIENT_SECRET", WEB_APP.secret),
        ("ERPNET_SCOPES", "openid profile offline_access read"),
        ("ERPNET_API_URL", api.as_str()),
        ("ERPNET_RESOURCE", JWT_API),
    ])
    .await;
    assert_eq!(address, app_url);

    browser.goto(&address).await;
    browser.wait_for_text("You are not signed in").await;
    browser.click("#sign-in").await;
    // oidc-provider's login page (any login and password), then its consent page.
    browser.type_into("input[name=login]", "alice").await;
    browser
        .type_into("input[name=password]", "any password")
        .await;
    browser.click("button[type=submit]").await;
    browser.wait_for_text("Continue").await;
    browser.click("button[type=submit]").await;
    browser.wait_for_text("Signed in as Alice Tester").await;

    browser.click("#data").await;
    let data = browser.wait_for_text("read as alice").await;
    assert!(data.contains("Parties of alice"), "{data}");

    browser.goto(&address).await;
    browser.click("#sign-out").await;
    // oidc-provider's RP-initiated logout asks first.
    browser.click("button[value=yes]").await;
    browser.wait_for_text("You are not signed in").await;
    assert!(browser.url().await.starts_with(&address));

    // Signed out at the peer too: a new sign-in shows its login page again.
    browser.goto(&format!("{address}/data")).await;
    browser.type_into("input[name=login]", "alice").await;
    browser
        .type_into("input[name=password]", "any password")
        .await;
    browser.click("button[type=submit]").await;
    if browser
        .wait_for_any(&["Continue", "read as alice"])
        .await
        .contains("Continue")
    {
        browser.click("button[type=submit]").await;
    }
    browser.wait_for_text("read as alice").await;

    // Signed out at the peer, not through the app: its logout token ends the app's session.
    browser
        .goto(&format!("{}/session/end", peer.issuer()))
        .await;
    browser.click("button[value=yes]").await;
    browser.wait_for_text("Sign-out").await;
    browser.goto(&address).await;
    browser.wait_for_text("You are not signed in").await;
}
