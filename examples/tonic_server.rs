//! A tonic gRPC server protected with ERP.net identities, and a client that
//! sends its token with every call, both on 127.0.0.1 against the embedded
//! mock ERP.net Identity.
//!
//! ```sh
//! cargo run --example tonic_server
//! ```
//!
//! The protected service is the standard gRPC health service (`tonic-health`
//! ships its generated code, so no protobuf compiler is needed); every call
//! needs a valid token with the scope `read`.
//!
//! - Server: `Server::builder().layer(ValidateBearerLayer::new(validator))`,
//!   and `RequireScopesLayer::all(["read"]).named_layer(service)` for the
//!   service's scopes.
//! - Client: `ServiceBuilder::new().layer(layer).service(channel)`, with
//!   `layer` an `AddBearerLayer` over a `CachedTokenSource` that sends tokens
//!   to the server's origin only, and the client made with
//!   `HealthClient::with_origin`, so that the layer sees where each call goes.
//!
//! With the facade crate (`erpnet-auth`, feature `tower`) the middleware is
//! `erpnet_auth::tower::…`; this example names `erpnet_auth_tower` directly.

use std::net::Ipv4Addr;

use erpnet_auth::{Authority, CachedTokenSource, ClientCredentials, JwtValidator, StaticToken};
use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, MockIdentity};
use erpnet_auth_tower::{AddBearerLayer, RequireScopesLayer, ValidateBearerLayer};
use tonic::service::LayerExt as _;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower::ServiceBuilder;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let identity = MockIdentity::start().await;
    println!(
        "provider: embedded mock ERP.net Identity at {}",
        identity.issuer()
    );
    let authority = Authority::parse(&identity.issuer())?;

    // Server half: validate every call, require `read` for the health service.
    let validator = JwtValidator::builder(authority.clone())
        .audience("DomainAPI")
        .build()?;
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let server = Server::builder()
        .layer(ValidateBearerLayer::new(validator))
        .add_service(RequireScopesLayer::all(["read"]).named_layer(health))
        .serve_with_incoming(TcpIncoming::from(listener));
    tokio::spawn(server);
    println!("gRPC server listening on http://{addr}");

    // Client half: a channel whose every call carries a cached token.
    let origin = format!("http://{addr}");
    let channel = Channel::from_shared(origin.clone())?.connect().await?;
    let grant = ClientCredentials::builder(authority, DEFAULT_CLIENT_ID)
        .client_secret(DEFAULT_CLIENT_SECRET)
        .scopes(["read"])
        .build()?;
    let tokens = CachedTokenSource::new(grant);
    let authorized = ServiceBuilder::new()
        .layer(
            AddBearerLayer::builder(tokens)
                .allow_origin(&origin)
                .build()?,
        )
        .service(channel.clone());
    let mut client = HealthClient::with_origin(authorized, origin.parse()?);
    for call in 1..=3 {
        let response = client.check(HealthCheckRequest::default()).await?;
        println!(
            "{call}. with a `read` token: OK, status {:?}",
            response.into_inner().status()
        );
    }

    // What refused calls look like to a tonic client.
    let anonymous = HealthClient::new(channel.clone())
        .check(HealthCheckRequest::default())
        .await
        .expect_err("refused");
    println!(
        "4. without a token: {:?} \"{}\"",
        anonymous.code(),
        anonymous.message()
    );

    let update_only = identity.access_token_for(DEFAULT_CLIENT_ID, &["update"]);
    let authorized = ServiceBuilder::new()
        .layer(
            AddBearerLayer::builder(StaticToken::new(update_only))
                .allow_origin(&origin)
                .build()?,
        )
        .service(channel);
    let denied = HealthClient::with_origin(authorized, origin.parse()?)
        .check(HealthCheckRequest::default())
        .await
        .expect_err("refused");
    println!(
        "5. with an `update`-only token: {:?} \"{}\"",
        denied.code(),
        denied.message()
    );
    println!("done");
    Ok(())
}
