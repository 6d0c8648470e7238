use std::time::{Duration, Instant};

use erpnet_auth_testkit::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Endpoint, Failure, MockIdentity,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::http;

/// Sends a request on a fresh connection and returns what came back before EOF or reset.
async fn raw_exchange(idp: &MockIdentity, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(idp.addr()).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut received))
        .await
        .expect("the mock closes the connection");
    if let Err(error) = read {
        // A reset is as good as a close: what matters is that no response arrived.
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}");
    }
    received
}

#[tokio::test]
async fn status_failure_answers_with_that_status_then_recovers() {
    let idp = MockIdentity::start().await;
    idp.fail_next(Endpoint::Discovery, 1, Failure::Status(503));
    let failed = http::get(idp.addr(), &idp.discovery_url()).await;
    assert_eq!(failed.status, 503);
    assert!(failed.body.is_empty());
    let ok = http::get(idp.addr(), &idp.discovery_url()).await;
    assert_eq!(ok.status, 200);
    assert_eq!(idp.requests(Endpoint::Discovery), 2);
}

#[tokio::test]
async fn an_impossible_status_becomes_500() {
    let idp = MockIdentity::start().await;
    idp.fail_next(Endpoint::Discovery, 1, Failure::Status(42));
    assert_eq!(
        http::get(idp.addr(), &idp.discovery_url()).await.status,
        500
    );
}

#[tokio::test]
async fn failures_are_consumed_in_order_per_endpoint() {
    let idp = MockIdentity::start().await;
    idp.fail_next(Endpoint::Jwks, 2, Failure::Status(500));
    idp.fail_next(Endpoint::Jwks, 1, Failure::Status(502));
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(http::get(idp.addr(), &idp.jwks_uri()).await.status);
    }
    assert_eq!(statuses, [500, 500, 502, 200]);
    // Other endpoints are unaffected.
    assert_eq!(
        http::get(idp.addr(), &idp.discovery_url()).await.status,
        200
    );
    assert_eq!(idp.requests(Endpoint::Jwks), 4);
}

#[tokio::test]
async fn token_endpoint_failures_come_before_any_validation() {
    let idp = MockIdentity::start().await;
    idp.fail_next(Endpoint::Token, 1, Failure::Status(429));
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", DEFAULT_CLIENT_ID),
        ("client_secret", DEFAULT_CLIENT_SECRET),
    ];
    let failed = http::post_form(idp.addr(), &idp.token_endpoint(), &form, &[]).await;
    assert_eq!(failed.status, 429);
    let ok = http::post_form(idp.addr(), &idp.token_endpoint(), &form, &[]).await;
    assert_eq!(ok.status, 200);
    assert_eq!(idp.requests(Endpoint::Token), 2);
}

#[tokio::test]
async fn delay_answers_normally_after_the_delay() {
    let idp = MockIdentity::start().await;
    idp.fail_next(
        Endpoint::Discovery,
        1,
        Failure::Delay(Duration::from_millis(300)),
    );
    let started = Instant::now();
    let response = http::get(idp.addr(), &idp.discovery_url()).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["issuer"], serde_json::json!(idp.issuer()));
}

#[tokio::test]
async fn hang_never_answers_but_blocks_nothing_else() {
    let idp = MockIdentity::start().await;
    idp.fail_next(Endpoint::Token, 1, Failure::Hang);
    let mut stream = TcpStream::connect(idp.addr()).await.expect("connect");
    let request = http::request_bytes(
        idp.addr(),
        "POST",
        http::path_of(&idp.token_endpoint()),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"grant_type=client_credentials",
    );
    stream.write_all(&request).await.expect("write");

    // Meanwhile, the mock serves others.
    assert_eq!(
        http::get(idp.addr(), &idp.discovery_url()).await.status,
        200
    );

    let mut buffer = [0u8; 64];
    let waited = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buffer)).await;
    assert!(waited.is_err(), "no byte arrives from a hanging request");
    assert_eq!(idp.requests(Endpoint::Token), 1);

    // Dropping the mock closes the hanging connection.
    drop(idp);
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
        .await
        .expect("the connection closes when the mock is dropped");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test]
async fn malformed_body_is_truncated_json() {
    let idp = MockIdentity::start().await;
    for endpoint in [Endpoint::Discovery, Endpoint::Jwks] {
        idp.fail_next(endpoint, 1, Failure::MalformedBody);
    }
    idp.fail_next(Endpoint::Token, 1, Failure::MalformedBody);
    let responses = [
        http::get(idp.addr(), &idp.discovery_url()).await,
        http::get(idp.addr(), &idp.jwks_uri()).await,
        http::post_form(idp.addr(), &idp.token_endpoint(), &[], &[]).await,
    ];
    for response in responses {
        assert_eq!(response.status, 200);
        assert!(
            response
                .header("content-type")
                .expect("content type")
                .starts_with("application/json")
        );
        assert!(response.body.starts_with(b"{\""), "{}", response.text());
        assert!(serde_json::from_slice::<serde_json::Value>(&response.body).is_err());
    }
}

#[tokio::test]
async fn drop_connection_closes_without_a_response() {
    let idp = MockIdentity::start().await;
    idp.fail_next(Endpoint::Discovery, 1, Failure::DropConnection);
    let request = http::request_bytes(
        idp.addr(),
        "GET",
        http::path_of(&idp.discovery_url()),
        &[],
        b"",
    );
    let received = raw_exchange(&idp, &request).await;
    assert!(
        received.is_empty(),
        "got {:?}",
        String::from_utf8_lossy(&received)
    );

    // Also on a token POST, body and all.
    idp.fail_next(Endpoint::Token, 1, Failure::DropConnection);
    let request = http::request_bytes(
        idp.addr(),
        "POST",
        http::path_of(&idp.token_endpoint()),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"grant_type=client_credentials&client_id=a&client_secret=b",
    );
    let received = raw_exchange(&idp, &request).await;
    assert!(
        received.is_empty(),
        "got {:?}",
        String::from_utf8_lossy(&received)
    );

    assert_eq!(
        http::get(idp.addr(), &idp.discovery_url()).await.status,
        200
    );
    assert_eq!(idp.requests(Endpoint::Discovery), 2);
    assert_eq!(idp.requests(Endpoint::Token), 1);
}

#[tokio::test]
async fn drop_connection_on_a_kept_alive_connection() {
    // The first request on the connection is answered, the second is dropped.
    let idp = MockIdentity::start().await;
    let path = http::path_of(&idp.jwks_uri()).to_owned();
    let mut stream = TcpStream::connect(idp.addr()).await.expect("connect");
    let keep_alive = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", idp.addr());
    stream
        .write_all(keep_alive.as_bytes())
        .await
        .expect("write");
    let mut first = vec![0u8; 4096];
    let n = stream.read(&mut first).await.expect("read");
    assert!(first[..n].starts_with(b"HTTP/1.1 200"));
    // Let the whole first response arrive before queuing the failure.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut rest = vec![0u8; 65536];
    let _ = tokio::time::timeout(Duration::from_millis(50), stream.read(&mut rest)).await;

    idp.fail_next(Endpoint::Jwks, 1, Failure::DropConnection);
    stream
        .write_all(keep_alive.as_bytes())
        .await
        .expect("write");
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut received))
        .await
        .expect("closed");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(received.is_empty());
}

#[tokio::test]
async fn body_failure_answers_exactly() {
    let idp = MockIdentity::start().await;
    idp.fail_next(
        Endpoint::Token,
        1,
        Failure::Body {
            status: 401,
            content_type: "text/html".to_owned(),
            body: "<html>login</html>".to_owned(),
        },
    );
    let response = http::post_form(idp.addr(), &idp.token_endpoint(), &[], &[]).await;
    assert_eq!(response.status, 401);
    assert_eq!(response.header("content-type"), Some("text/html"));
    assert_eq!(response.text(), "<html>login</html>");
}

#[tokio::test]
async fn huge_is_an_eight_mebibyte_json_body() {
    let idp = MockIdentity::start().await;
    idp.fail_next(Endpoint::Jwks, 1, Failure::Huge);
    let response = http::get(idp.addr(), &idp.jwks_uri()).await;
    assert_eq!(response.status, 200);
    assert!(response.body.len() >= 8 * 1024 * 1024);
    assert!(
        response
            .header("content-type")
            .expect("content type")
            .starts_with("application/json")
    );
    assert!(serde_json::from_slice::<serde_json::Value>(&response.body).is_ok());
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_server() {
    let idp = MockIdentity::start().await;
    let clone = idp.clone();
    let addr = idp.addr();
    drop(idp);
    // A clone keeps it running.
    assert_eq!(http::get(addr, &clone.discovery_url()).await.status, 200);
    drop(clone);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if TcpStream::connect(addr).await.is_err() {
            break;
        }
        assert!(Instant::now() < deadline, "the listener is still open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
