//! Native sign-in (RFC 8252): authorization code + PKCE through a loopback
//! listener, the ID token validated, then one refresh with the rotating
//! refresh token.
//!
//! ```text
//! ERPNET_AUTHORITY=myinstance ERPNET_CLIENT_ID=my.native.app cargo run --example native_login
//! cargo run --example native_login -- --no-browser
//! ```
//!
//! Environment: `ERPNET_AUTHORITY` (instance name or issuer URL),
//! `ERPNET_CLIENT_ID` (a public client), `ERPNET_SCOPES` (space-separated,
//! default `openid profile offline_access read`) and optional
//! `ERPNET_RESOURCE`. With `ERPNET_AUTHORITY` unset it signs the mock identity's
//! test user in against the embedded mock ERP.net Identity, playing the browser
//! itself.

use std::time::Duration;

use erpnet_auth::{
    AuthorizationCodeFlow, CachedTokenSource, ClientAuthMethod, ClientConfig, Discovery,
    LoopbackOptions, Url, sign_in_with_loopback,
};
use erpnet_auth_testkit::{DEFAULT_PUBLIC_CLIENT_ID, MockIdentity};

const DEFAULT_SCOPES: &str = "openid profile offline_access read";

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let no_browser = std::env::args().skip(1).any(|a| a == "--no-browser");
    let scopes = std::env::var("ERPNET_SCOPES").unwrap_or_else(|_| DEFAULT_SCOPES.to_owned());
    let resource = std::env::var("ERPNET_RESOURCE").ok();

    // Without ERPNET_AUTHORITY: the embedded mock, and we play the browser.
    let (mock, authority, client_id) = match std::env::var("ERPNET_AUTHORITY") {
        Ok(authority) => {
            let client_id = std::env::var("ERPNET_CLIENT_ID")
                .map_err(|_| "ERPNET_CLIENT_ID is not set (the id of a public client)")?;
            (None, authority, client_id)
        }
        Err(_) => {
            let mock = MockIdentity::start().await;
            eprintln!(
                "provider: embedded mock ERP.net Identity at {} (set ERPNET_AUTHORITY and ERPNET_CLIENT_ID to use yours)",
                mock.issuer()
            );
            let issuer = mock.issuer();
            (Some(mock), issuer, DEFAULT_PUBLIC_CLIENT_ID.to_owned())
        }
    };

    let discovery = Discovery::fetch(&authority).await?;
    let client = ClientConfig::builder(discovery, client_id)
        .auth_method(ClientAuthMethod::None) // a public client
        .build()?;
    let flow = AuthorizationCodeFlow::builder(client)
        .scopes([scopes])
        .build()?;
    let mut options = LoopbackOptions::default().open_browser(!no_browser && mock.is_none());
    if let Some(resource) = resource {
        options = options.resource(resource);
    }
    let headless = mock.is_some();
    let sign_in = sign_in_with_loopback(&flow, options, |url| {
        println!("Open this URL to sign in: {url}");
        if headless {
            play_browser(url.clone());
        }
    })
    .await?;
    let subject = sign_in
        .id_token
        .as_ref()
        .map(|t| t.subject().to_owned())
        .ok_or("the provider returned no ID token (request the openid scope)")?;
    println!("signed in as {subject}");

    let refresh_token = sign_in
        .refresh_token
        .clone()
        .ok_or("the provider returned no refresh token (request the offline_access scope)")?;
    let tokens = CachedTokenSource::builder(flow.refresh_grant(refresh_token).build()?)
        .initial_token(sign_in.access_token.clone())
        .build();
    // Refresh once, as after a 401 from an API.
    tokens.report_rejected(&sign_in.access_token);
    let refreshed = tokens.token().await?;
    let valid_for = refreshed.expires_in().unwrap_or(Duration::ZERO).as_secs();
    println!("refreshed: access token valid for {valid_for} s");
    Ok(())
}

/// Opens the URL like a browser would and follows the redirects back to the
/// loopback listener (the mock signs its test user in without a page).
fn play_browser(url: Url) {
    tokio::spawn(async move {
        if let Err(error) = reqwest::Client::new().get(url).send().await {
            eprintln!("error: the headless sign-in failed: {error}");
        }
    });
}
