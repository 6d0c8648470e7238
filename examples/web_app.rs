//! A web app that signs users in with ERP.net and reads the Domain API as the signed-in
//! user: `erpnet_auth::web` (routes, sessions, `RequireSignInLayer`, the `SignedIn`
//! extractor) and the user's own token through `BearerAuth`.
//!
//! With no environment it runs against the embedded mock ERP.net Identity (with its sign-in
//! page: user `jdoe`, password `correct horse battery`) and mock Domain API:
//!
//! ```text
//! cargo run --example web_app      # then open the printed address in a browser
//! ```
//!
//! Against a real instance (register the redirect URIs first, see the README):
//!
//! ```text
//! ERPNET_AUTHORITY=myinstance \
//! ERPNET_CLIENT_ID=my.web.app \
//! ERPNET_CLIENT_SECRET=… \
//! ERPNET_API_URL=https://myinstance.my.erp.net/api/domain/odata/ \
//! PUBLIC_URL=https://app.example.com BIND=0.0.0.0:8080 \
//! cargo run --example web_app
//! ```
//!
//! - `ERPNET_AUTHORITY`, `ERPNET_CLIENT_ID`, `ERPNET_CLIENT_SECRET`: the provider and the web
//!   app's trusted application;
//! - `ERPNET_SCOPES`: space-separated (default `openid profile offline_access read`);
//! - `BIND`: where to listen (default `127.0.0.1:8080`);
//! - `PUBLIC_URL`: the address browsers use (default `http://` and `BIND`); the redirect URI
//!   is `PUBLIC_URL/callback`, the post-logout redirect URI `PUBLIC_URL/`, the back-channel
//!   logout URI `PUBLIC_URL/backchannel-logout`;
//! - `REDIS_URL`: optional; sessions and sign-ins in Redis, for several replicas;
//! - `ERPNET_RESOURCE`: optional, an RFC 8707 resource indicator for providers that want
//!   one (ERP.net does not);
//! - `ERPNET_API_URL`: the Domain API's OData root, with the trailing slash (as in
//!   `examples/domain_api.rs`); `ERPNET_ENTITY` the entity set `/data` reads (default
//!   `General_Contacts_Parties`).
//!
//! It prints `listening on http://ADDR`. Pages: `/` says `Signed in as <name>` with a
//! sign-out button, or offers a sign-in link; `/data` (signed-in users only) lists a few
//! records read as the user. Exits 2 when the configuration is wrong, 1 when the provider or
//! Redis cannot be reached at start.

use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use erpnet_auth::reqwest::{BearerAuth, SameOriginClient};
use erpnet_auth::web::{SignedIn, WebSignIn};
use erpnet_auth::{ClientConfig, Discovery, Error, Url};
use erpnet_auth_testkit::{
    Client, DEFAULT_ENTITY, DEFAULT_PASSWORD, DEFAULT_USER, MockDomainApi, MockIdentity,
};
use serde_json::Value;

const DEFAULT_SCOPES: &str = "openid profile offline_access read";
const WHAT_TO_SET: &str = "set ERPNET_AUTHORITY, ERPNET_CLIENT_ID, ERPNET_CLIENT_SECRET and \
     ERPNET_API_URL, or none of them to use the embedded mock";
/// The embedded mock's web app.
const MOCK_CLIENT_ID: &str = "my.web.app";
const MOCK_CLIENT_SECRET: &str = "web-app-secret";

/// Why the example stopped: its exit code and a one-line message.
struct Stop(u8, String);

fn config_error(message: impl Into<String>) -> Stop {
    Stop(2, message.into())
}

/// What the pages need.
struct App {
    /// One connection pool for every user's `BearerAuth`.
    http: SameOriginClient,
    api: Url,
    entity: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Stop(code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

async fn run() -> Result<(), Stop> {
    // Sign-ins, sign-outs and refusals (info), never a secret.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::stderr)
        .init();
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|e| config_error(format!("cannot listen on BIND `{bind}`: {e}")))?;
    let addr = listener.local_addr().map_err(|e| Stop(1, e.to_string()))?;
    let public_url = std::env::var("PUBLIC_URL").unwrap_or_else(|_| format!("http://{addr}"));
    let public_url = public_url.trim_end_matches('/').to_owned();
    let scopes = std::env::var("ERPNET_SCOPES").unwrap_or_else(|_| DEFAULT_SCOPES.to_owned());
    let entity = std::env::var("ERPNET_ENTITY").unwrap_or_else(|_| DEFAULT_ENTITY.to_owned());

    // The provider, the client and the API: the environment's, or the embedded mocks (kept
    // alive as long as the app).
    let var = |name: &str| {
        std::env::var(name).map_err(|_| config_error(format!("{name} is not set: {WHAT_TO_SET}")))
    };
    let (authority, client_id, client_secret, api, _mocks) = match std::env::var("ERPNET_AUTHORITY")
    {
        Ok(authority) => (
            authority,
            var("ERPNET_CLIENT_ID")?,
            var("ERPNET_CLIENT_SECRET")?,
            var("ERPNET_API_URL")?,
            None,
        ),
        Err(_) => {
            let identity = MockIdentity::builder().sign_in_page(true).start().await;
            identity.register_client(
                Client::new(MOCK_CLIENT_ID, MOCK_CLIENT_SECRET)
                    .grant_types(["authorization_code"])
                    .scopes(["openid", "profile", "offline_access", "read", "update"])
                    .redirect_uri(format!("{public_url}/callback"))
                    .post_logout_redirect_uri(format!("{public_url}/"))
                    .backchannel_logout_uri(format!("{public_url}/backchannel-logout")),
            );
            let api = MockDomainApi::start(&identity).await;
            println!(
                "embedded mock ERP.net Identity at {} (sign in as {DEFAULT_USER}, password \
                 `{DEFAULT_PASSWORD}`) and Domain API at {}",
                identity.issuer(),
                api.odata_root()
            );
            let odata_root = api.odata_root();
            (
                identity.issuer(),
                MOCK_CLIENT_ID.to_owned(),
                MOCK_CLIENT_SECRET.to_owned(),
                odata_root,
                Some((identity, api)),
            )
        }
    };
    let api = Url::parse(&api)
        .map_err(|e| config_error(format!("ERPNET_API_URL `{api}` is not a URL: {e}")))?;

    let discovery = Discovery::fetch(&authority)
        .await
        .map_err(|e| Stop(1, format!("discovery of `{authority}` failed: {e}")))?;
    let client = ClientConfig::builder(discovery, client_id)
        .client_secret(client_secret)
        .build()
        .map_err(|e| config_error(e.to_string()))?;
    let mut builder = WebSignIn::builder(client, &public_url).scopes(scopes.split_whitespace());
    if let Ok(resource) = std::env::var("ERPNET_RESOURCE") {
        builder = builder.resource(resource);
    }
    if let Ok(url) = std::env::var("REDIS_URL") {
        let redis = erpnet_auth::web::Redis::connect(&url)
            .await
            .map_err(|e| Stop(1, format!("REDIS_URL: {e}")))?;
        builder = builder.redis(&redis);
    }
    let web = builder.build().map_err(|e| config_error(e.to_string()))?;

    let app = Arc::new(App {
        http: SameOriginClient::new(reqwest::Client::builder())
            .map_err(|e| config_error(e.to_string()))?,
        api,
        entity,
    });
    let router = Router::new()
        .route("/", get(home))
        .merge(
            Router::new()
                .route("/data", get(data))
                .route_layer(web.require_sign_in()),
        )
        .with_state(app)
        .merge(web.routes())
        .layer(web.layer());
    println!("listening on http://{addr}");
    axum::serve(listener, router)
        .await
        .map_err(|e| Stop(1, e.to_string()))
}

async fn home(user: Option<SignedIn>) -> Html<String> {
    let body = match user {
        Some(user) => format!(
            "<p>Signed in as {}</p>\n<p><a href=\"/data\" id=\"data\">Your data</a></p>\n{}",
            escape(user.name.as_deref().unwrap_or(user.subject())),
            user.sign_out_form()
        ),
        None => {
            "<p>You are not signed in.</p>\n<p><a href=\"/login\" id=\"sign-in\">Sign in</a></p>"
                .to_owned()
        }
    };
    page("Home", &body)
}

/// A few records of the entity set, read with the signed-in user's token.
async fn data(State(app): State<Arc<App>>, user: SignedIn) -> Response {
    let auth = match BearerAuth::builder(user.tokens())
        .allow_origin(app.api.origin().ascii_serialization())
        .build()
    {
        Ok(auth) => auth,
        Err(error) => return failure(&error.to_string()),
    };
    let client = auth.client_builder_sharing(&app.http).build();
    let mut url = match app.api.join(&app.entity) {
        Ok(url) => url,
        Err(error) => return failure(&error.to_string()),
    };
    url.query_pairs_mut()
        .append_pair("$top", "5")
        .append_pair("$select", "Id,DisplayText");
    let answer = match client.get(url).send().await {
        Ok(answer) => answer,
        Err(error) => {
            let ended = erpnet_auth::reqwest::Error::downcast(&error)
                .and_then(|e| e.token_error())
                .is_some_and(|e| matches!(e, Error::SignInAgain { .. }));
            if ended {
                // The sign-in ended (signed out elsewhere, or the refresh token was refused).
                return Redirect::to("/login?return_to=/data").into_response();
            }
            return failure(&error.to_string());
        }
    };
    let status = answer.status();
    let body: Value = answer
        .bytes()
        .await
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or_default();
        return failure(&format!("the Domain API answered {status} {message}"));
    }
    let items: String = body["value"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|record| {
            format!(
                "<li>{}</li>\n",
                escape(record["DisplayText"].as_str().unwrap_or("(no name)"))
            )
        })
        .collect();
    page(
        "Your data",
        &format!(
            "<p>{} of {}, read as {}:</p>\n<ul id=\"records\">\n{items}</ul>\n<p><a href=\"/\">Home</a></p>",
            body["value"].as_array().map_or(0, Vec::len),
            escape(&app.entity),
            escape(user.subject()),
        ),
    )
    .into_response()
}

fn failure(message: &str) -> Response {
    (
        axum::http::StatusCode::BAD_GATEWAY,
        page("Error", &format!("<p>{}</p>", escape(message))),
    )
        .into_response()
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body>\n<h1>erpnet-auth web app</h1>\n{body}\n</body></html>\n"
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
