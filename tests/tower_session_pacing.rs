//! `SessionPacingLayer` inside `AddBearerLayer` on a hyper client (a tower service), against
//! the mock ERP.net Domain API: the same pacing as reqwest's, for tower clients.

use std::time::Duration;

use bytes::Bytes;
use erpnet_auth::pacing::Pacer;
use erpnet_auth::tower::{AddBearerLayer, SessionPacingLayer};
use erpnet_auth::{Authority, CachedTokenSource, ClientCredentials};
use erpnet_auth_testkit::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_ENTITY, MockDomainApi, MockIdentity,
};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tower::{BoxError, ServiceBuilder, ServiceExt, service_fn};

/// A minimal hyper client as a tower service: one HTTP/1.1 connection per request.
async fn send(request: Request<Empty<Bytes>>) -> Result<Response<Bytes>, BoxError> {
    let authority = request
        .uri()
        .authority()
        .ok_or("an absolute URI")?
        .to_string();
    let stream = tokio::net::TcpStream::connect(&authority).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let (mut parts, body) = request.into_parts();
    parts.headers.insert(http::header::HOST, authority.parse()?);
    let response = sender
        .send_request(Request::from_parts(parts, body))
        .await?;
    let (parts, body) = response.into_parts();
    Ok(Response::from_parts(
        parts,
        body.collect().await?.to_bytes(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_calls_through_a_tower_client_none_throttled() {
    let identity = MockIdentity::start().await;
    let api = MockDomainApi::builder(&identity)
        .service_time(Duration::from_millis(10))
        .start()
        .await;
    let grant = ClientCredentials::builder(
        Authority::parse(&identity.issuer()).expect("issuer"),
        DEFAULT_CLIENT_ID,
    )
    .client_secret(DEFAULT_CLIENT_SECRET)
    .scopes(["read"])
    .build()
    .expect("valid configuration");
    let pacer = Pacer::erpnet().build().expect("preset");
    let client = ServiceBuilder::new()
        .layer(
            AddBearerLayer::builder(CachedTokenSource::new(grant))
                .allow_origin(api.origin())
                .build()
                .expect("a loopback origin"),
        )
        .layer(SessionPacingLayer::new(pacer.clone()))
        .service(service_fn(send));

    let calls: Vec<_> = (0..16)
        .map(|_| {
            let request = Request::get(api.entity_url(DEFAULT_ENTITY))
                .body(Empty::<Bytes>::new())
                .expect("a request");
            tokio::spawn(client.clone().oneshot(request))
        })
        .collect();
    for call in calls {
        let response = call.await.expect("task").expect("answered");
        assert_eq!(response.status(), StatusCode::OK);
    }
    let seen = api.stats();
    assert_eq!(
        (seen.served, seen.refused(), seen.max_session_in_flight),
        (16, 0, 1)
    );
    assert_eq!(pacer.stats().sent, 16);

    // A 429 with Retry-After is waited out and the (body-less) GET sent again.
    api.fail_next(
        1,
        erpnet_auth_testkit::Failure::RetryAfter {
            status: 429,
            retry_after: "1".into(),
        },
    );
    let request = Request::get(api.entity_url(DEFAULT_ENTITY))
        .body(Empty::<Bytes>::new())
        .expect("a request");
    let response = client.oneshot(request).await.expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(pacer.stats().retried, 1);
}
