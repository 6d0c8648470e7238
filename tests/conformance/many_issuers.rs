//! One API, several issuers, against the peer: two oidc-provider processes,
//! each its own issuer with its own keys, accepted by one `ValidateBearerLayer`
//! through a `JwtValidator` of several issuers; an issuer outside the list is
//! refused without a request to it.

use axum::Router;
use axum::routing::get;
use erpnet_auth::tower::{Claims, ValidateBearerLayer};
use erpnet_auth::{Issuers, JwtValidator};
use erpnet_auth_testkit::{DEFAULT_CLIENT_ID, Endpoint, MockIdentity};

use crate::peer::{JWT_API, peer_or_skip};

#[tokio::test]
async fn one_layer_accepts_the_tokens_of_two_peers() {
    let first = peer_or_skip!();
    let second = peer_or_skip!();
    assert_ne!(first.issuer(), second.issuer());
    let validator =
        JwtValidator::builder_for_issuers(Issuers::list([first.authority(), second.authority()]))
            .audience(JWT_API)
            .build()
            .expect("validator");
    let app = Router::new()
        .route(
            "/issuer",
            get(|claims: Claims| async move { claims.token.issuer().to_owned() }),
        )
        .layer(ValidateBearerLayer::new(validator.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let call = |token: String| {
        reqwest::Client::new()
            .get(format!("{origin}/issuer"))
            .bearer_auth(token)
            .send()
    };

    for peer in [&first, &second] {
        let token = peer.service_token(&["read"], JWT_API).await;
        let answer = call(token.expose_secret().to_owned())
            .await
            .expect("answer");
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.text().await.expect("body"), peer.issuer());
    }
    let mut both = vec![first.issuer().to_owned(), second.issuer().to_owned()];
    both.sort();
    assert_eq!(validator.held_issuers(), both);

    // A token of another issuer (the mock, which counts what it is asked).
    let outsider = MockIdentity::start().await;
    let refused = call(outsider.access_token_for(DEFAULT_CLIENT_ID, &["read"]))
        .await
        .expect("answer");
    assert_eq!(refused.status(), 401);
    assert_eq!(outsider.requests(Endpoint::Discovery), 0);
    assert_eq!(outsider.requests(Endpoint::Jwks), 0);

    // The first peer rotates its keys: its new key is fetched, and the
    // second peer's keys are untouched.
    first.rotate_keys(false).await;
    let rotated = first.service_token(&["read"], JWT_API).await;
    let answer = call(rotated.expose_secret().to_owned())
        .await
        .expect("answer");
    assert_eq!(
        answer.status(),
        200,
        "the new key is fetched for the first peer"
    );
    let token = second.service_token(&["read"], JWT_API).await;
    let answer = call(token.expose_secret().to_owned())
        .await
        .expect("answer");
    assert_eq!(answer.status(), 200);
}
