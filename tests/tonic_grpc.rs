//! The layers on a real tonic server and client over loopback: the gRPC
//! health service behind `ValidateBearerLayer` and `RequireScopesLayer`, and
//! `AddBearerLayer` on the client's channel. Refusals must reach the tonic
//! client as a proper `Status`.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use erpnet_auth::{
    AccessToken, Authority, Error, JwtValidator, StaticToken, TokenSource, async_trait,
};
use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, Endpoint, Failure, MockIdentity, TokenSpec};
use erpnet_auth_tower::{AddBearerError, AddBearerLayer, RequireScopesLayer, ValidateBearerLayer};
use tonic::Code;
use tonic::service::LayerExt as _;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::server::HealthReporter;
use tower::{ServiceBuilder, ServiceExt};

struct Fixture {
    identity: MockIdentity,
    addr: SocketAddr,
    _reporter: HealthReporter,
}

/// The health service on 127.0.0.1, every call needing a valid token with the
/// scope `read`.
async fn start(identity: MockIdentity) -> Fixture {
    let validator = JwtValidator::builder(Authority::parse(&identity.issuer()).expect("authority"))
        .audience("DomainAPI")
        .build()
        .expect("validator");
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (reporter, health) = tonic_health::server::health_reporter();
    let server = Server::builder()
        .layer(ValidateBearerLayer::new(validator))
        .add_service(RequireScopesLayer::all(["read"]).named_layer(health))
        .serve_with_incoming(TcpIncoming::from(listener));
    tokio::spawn(server);
    Fixture {
        identity,
        addr,
        _reporter: reporter,
    }
}

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

/// One health check through a channel with `AddBearerLayer` over `source`.
async fn check_with(addr: SocketAddr, source: impl TokenSource) -> Result<i32, tonic::Status> {
    let origin = format!("http://{addr}");
    let layer = AddBearerLayer::builder(source)
        .allow_origin(&origin)
        .build()
        .expect("layer");
    let service = ServiceBuilder::new()
        .layer(layer)
        .service(channel(addr).await);
    let mut client = HealthClient::with_origin(service, origin.parse().expect("uri"));
    client
        .check(HealthCheckRequest::default())
        .await
        .map(|response| response.into_inner().status)
}

#[tokio::test]
async fn grpc_calls_get_ok_unauthenticated_or_permission_denied() {
    let fixture = start(MockIdentity::start().await).await;
    let identity = &fixture.identity;

    // No token at all.
    let status = HealthClient::new(channel(fixture.addr).await)
        .check(HealthCheckRequest::default())
        .await
        .expect_err("no token");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "a bearer token is required");

    // A token with the scope: OK.
    let read = identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let serving = check_with(fixture.addr, StaticToken::new(read)).await;
    assert_eq!(serving.expect("OK"), ServingStatus::Serving as i32);

    // A valid token without the scope.
    let update = identity.access_token_for(DEFAULT_CLIENT_ID, &["update"]);
    let status = check_with(fixture.addr, StaticToken::new(update))
        .await
        .expect_err("no read scope");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        status.message(),
        "the token lacks a scope this operation requires"
    );

    // Invalid tokens.
    for (spec, message) in [
        (TokenSpec::access_token().foreign_key(), "invalid signature"),
        (TokenSpec::access_token().expires_in(-120), "token expired"),
    ] {
        let status = check_with(fixture.addr, StaticToken::new(identity.mint(spec)))
            .await
            .expect_err("invalid token");
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(status.message(), message);
    }
}

#[tokio::test]
async fn grpc_calls_without_signing_keys_are_unavailable() {
    let identity = MockIdentity::start().await;
    identity.fail_next(Endpoint::Jwks, 100, Failure::Status(503));
    let fixture = start(identity).await;
    let token = fixture
        .identity
        .access_token_for(DEFAULT_CLIENT_ID, &["read"]);
    let status = check_with(fixture.addr, StaticToken::new(token))
        .await
        .expect_err("no keys");
    assert_eq!(status.code(), Code::Unavailable);
}

/// A source with no cache: every request goes through `token()`.
struct Counting {
    token: String,
    fail: bool,
    fetched: AtomicUsize,
    rejected: AtomicUsize,
}

impl Counting {
    fn new(token: String) -> Arc<Self> {
        Arc::new(Self {
            token,
            fail: false,
            fetched: AtomicUsize::new(0),
            rejected: AtomicUsize::new(0),
        })
    }

    fn failing() -> Arc<Self> {
        Arc::new(Self {
            token: String::new(),
            fail: true,
            fetched: AtomicUsize::new(0),
            rejected: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl TokenSource for Counting {
    async fn token(&self) -> Result<AccessToken, Error> {
        self.fetched.fetch_add(1, Ordering::SeqCst);
        if self.fail {
            return Err(Error::source_failed("the vault is sealed", true));
        }
        Ok(AccessToken::new(self.token.clone()))
    }

    fn report_rejected(&self, _token: &AccessToken) {
        self.rejected.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn the_client_layer_fetches_reports_and_fails_cleanly() {
    let fixture = start(MockIdentity::start().await).await;
    let identity = &fixture.identity;

    // Nothing cached: the request waits for `token()`.
    let good = Counting::new(identity.access_token_for(DEFAULT_CLIENT_ID, &["read"]));
    for _ in 0..2 {
        let serving = check_with(fixture.addr, good.clone()).await;
        assert_eq!(serving.expect("OK"), ServingStatus::Serving as i32);
    }
    assert_eq!(good.fetched.load(Ordering::SeqCst), 2);
    assert_eq!(good.rejected.load(Ordering::SeqCst), 0);

    // The server refuses the token (UNAUTHENTICATED): reported to the source.
    let expired = Counting::new(identity.mint(TokenSpec::access_token().expires_in(-120)));
    let status = check_with(fixture.addr, expired.clone())
        .await
        .expect_err("expired");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(expired.rejected.load(Ordering::SeqCst), 1);

    // A permission failure is not the token's fault: not reported.
    let update = Counting::new(identity.access_token_for(DEFAULT_CLIENT_ID, &["update"]));
    let status = check_with(fixture.addr, update.clone())
        .await
        .expect_err("no scope");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(update.rejected.load(Ordering::SeqCst), 0);

    // The source fails: the call fails without reaching the server.
    let status = check_with(fixture.addr, Counting::failing())
        .await
        .expect_err("no token");
    assert!(
        status.message().contains("the vault is sealed"),
        "{status:?}"
    );
}

#[tokio::test]
async fn the_client_layer_adds_a_sensitive_header_and_types_its_errors() {
    let seen = Arc::new(std::sync::Mutex::new(None));
    let recorder = {
        let seen = seen.clone();
        tower::service_fn(move |request: http::Request<()>| {
            let seen = seen.clone();
            async move {
                let header = request.headers().get(http::header::AUTHORIZATION).cloned();
                *seen.lock().expect("lock") = header;
                Ok::<_, std::io::Error>(http::Response::new(()))
            }
        })
    };
    let origin = "https://api.example.com";
    let client = ServiceBuilder::new()
        .layer(
            AddBearerLayer::builder(StaticToken::new("abc.def.ghi"))
                .allow_origin(origin)
                .build()
                .expect("layer"),
        )
        .service(recorder.clone());
    let request = http::Request::builder()
        .uri(format!("{origin}/grpc.health.v1.Health/Check"))
        .header(http::header::AUTHORIZATION, "Basic old")
        .body(())
        .expect("request");
    client.oneshot(request).await.expect("sent");
    let header = seen.lock().expect("lock").clone().expect("header");
    assert_eq!(header, "Bearer abc.def.ghi", "replaces what was there");
    assert!(header.is_sensitive());

    let client = ServiceBuilder::new()
        .layer(
            AddBearerLayer::builder_from_arc(Counting::failing())
                .allow_origin(origin)
                .build()
                .expect("layer"),
        )
        .service(recorder.clone());
    let request = http::Request::get(format!("{origin}/x"))
        .body(())
        .expect("request");
    let error = client.clone().oneshot(request).await.expect_err("no token");
    assert!(
        matches!(&error, AddBearerError::Token(e) if e.is_transient()),
        "{error:?}"
    );
    assert!(error.is_transient_token_error());
    assert!(
        error
            .to_string()
            .starts_with("no access token for the request")
    );

    // A call from a tonic client made without `with_origin`: its URI is only
    // a path, so where the token would go is unknown, and the call fails
    // before the source is asked.
    let failing = Counting::failing();
    let layer = AddBearerLayer::builder_from_arc(failing.clone())
        .allow_origin(origin)
        .build()
        .expect("layer");
    let error = ServiceBuilder::new()
        .layer(layer)
        .service(recorder)
        .oneshot(http::Request::new(()))
        .await
        .expect_err("no origin");
    assert!(matches!(error, AddBearerError::NoOrigin), "{error:?}");
    assert!(error.to_string().contains("with_origin"), "{error}");
    assert_eq!(failing.fetched.load(Ordering::SeqCst), 0);
}
