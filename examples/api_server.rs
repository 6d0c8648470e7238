//! An axum API protected with ERP.net identities.
//!
//! ```sh
//! cargo run --example api_server                 # against the embedded mock identity
//! ERPNET_AUTHORITY=myinstance ERPNET_AUDIENCE=DomainAPI cargo run --example api_server
//! ERPNET_AUTHORITY="customer-a customer-b" ERPNET_AUDIENCE=DomainAPI cargo run --example api_server
//! ```
//!
//! | variable | meaning |
//! |---|---|
//! | `ERPNET_AUTHORITY` | ERP.net instance name (`myinstance` → `https://myinstance.my.erp.net/id`) or issuer URL; several, separated by spaces or commas, to accept tokens of each (one validator of several issuers); unset: the embedded mock identity |
//! | `ERPNET_AUDIENCE` | the audience this API accepts, e.g. `DomainAPI` (required with `ERPNET_AUTHORITY`) |
//! | `BIND` | the address to listen on (default `127.0.0.1:8080`) |
//!
//! Routes: `GET /health` (no authentication), `GET /whoami` (scope `read`),
//! `POST /items` (scope `update`, answers 201), and the protected resource
//! metadata (RFC 9728) at `GET /.well-known/oauth-protected-resource` (no
//! authentication): `resource` is the accepted audience,
//! `authorization_servers` the configured issuer(s). Refusals point to it
//! with `resource_metadata="…"` in their `WWW-Authenticate` challenge.
//!
//! With the facade crate (`erpnet-auth`, feature `axum`) the middleware is
//! `erpnet_auth::tower::…`; this example names `erpnet_auth_tower` directly.

use std::io::Write as _;
use std::process::ExitCode;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use erpnet_auth::{Authority, Issuers, JwtValidator};
use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, MockIdentity};
use erpnet_auth_tower::{Claims, RequireScopesLayer, ResourceMetadata, ValidateBearerLayer};
use serde_json::{Value, json};

async fn health() -> &'static str {
    "ok"
}

async fn whoami(claims: Claims) -> Json<Value> {
    let token = &claims.token;
    Json(json!({
        "subject": token.subject(),
        "client_id": token.client_id(),
        "caller": token.caller(),
        "system_user": claims.client_system_user,
        "scopes": token.scopes(),
    }))
}

async fn create_item(claims: Claims) -> (StatusCode, Json<Value>) {
    let by = claims.token.caller().unwrap_or_default().to_owned();
    (StatusCode::CREATED, Json(json!({ "created_by": by })))
}

/// The API: `/health` and the metadata open, the rest behind the validating
/// layer, each route with its scope.
fn app(validator: JwtValidator, metadata: &ResourceMetadata, metadata_url: String) -> Router {
    let read = Router::new()
        .route("/whoami", get(whoami))
        .route_layer(RequireScopesLayer::all(["read"]));
    let update = Router::new()
        .route("/items", post(create_item))
        .route_layer(RequireScopesLayer::all(["update"]));
    let protected = read
        .merge(update)
        .layer(ValidateBearerLayer::new(validator).resource_metadata(metadata_url));
    Router::new()
        .route("/health", get(health))
        .merge(protected)
        .layer(metadata.layer())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());

    // The mock lives as long as `run`, so it is held here even when unused.
    let mut mock = None;
    let mut audience = "DomainAPI".to_owned();
    let validator = match std::env::var("ERPNET_AUTHORITY") {
        Ok(authorities) => {
            audience = std::env::var("ERPNET_AUDIENCE").map_err(|_| {
                "ERPNET_AUDIENCE is required with ERPNET_AUTHORITY: name the audience this API accepts (e.g. DomainAPI)".to_owned()
            })?;
            let issuers = Issuers::parse_list(&authorities).map_err(|e| e.to_string())?;
            let listed: Vec<String> = (issuers.listed().unwrap_or_default().into_iter())
                .map(str::to_owned)
                .collect();
            let builder = match listed.as_slice() {
                // One authority: a validator of one issuer, as always.
                [issuer] => {
                    let authority = Authority::parse(issuer).map_err(|e| e.to_string())?;
                    println!("provider: {}", authority.issuer());
                    JwtValidator::builder(authority)
                }
                several => {
                    println!("providers: {}", several.join(" "));
                    JwtValidator::builder_for_issuers(issuers)
                }
            };
            builder
                .audience(&audience)
                .build()
                .map_err(|e| e.to_string())?
        }
        Err(_) => {
            let identity = MockIdentity::start().await;
            println!(
                "provider: embedded mock ERP.net Identity at {}",
                identity.issuer()
            );
            let authority = Authority::parse(&identity.issuer()).map_err(|e| e.to_string())?;
            let validator = JwtValidator::builder(authority)
                .audience(&audience)
                .build()
                .map_err(|e| e.to_string())?;
            mock = Some(identity);
            validator
        }
    };

    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let origin = format!("http://{addr}");
    let metadata = ResourceMetadata::builder(&audience)
        .validator(&validator)
        .scopes_supported(["read", "update"])
        .build()
        .map_err(|e| e.to_string())?;
    // Where clients find it: derived from the resource when that is a URL
    // (this server behind that URL), else on this server.
    let metadata_url = metadata
        .url()
        .map_or_else(|| format!("{origin}{}", metadata.path()), str::to_owned);
    println!("listening on {origin}");
    if let Some(identity) = &mock {
        let token = identity.access_token_for(DEFAULT_CLIENT_ID, &["read", "update"]);
        println!("try: curl -H \"Authorization: Bearer {token}\" http://{addr}/whoami");
        println!("     curl -X POST -H \"Authorization: Bearer {token}\" http://{addr}/items");
        println!("     curl -i http://{addr}/whoami   (no token: 401)");
    }
    println!("resource metadata: {metadata_url}");
    std::io::stdout().flush().map_err(|e| e.to_string())?;

    axum::serve(listener, app(validator, &metadata, metadata_url))
        .await
        .map_err(|e| e.to_string())
}
