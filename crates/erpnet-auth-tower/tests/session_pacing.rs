//! SessionPacingLayer over fake tower services, on Tokio's paused clock: the pacer's rules
//! reach tower clients through the same engine as reqwest's.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use erpnet_auth_core::pacing::{Pacer, PacingError, PacingLimit};
use erpnet_auth_tower::{SessionPacingError, SessionPacingLayer};
use http::{Request, Response, StatusCode};
use tokio::time::Instant;
use tower::{BoxError, Layer, Service, ServiceExt, service_fn};

/// What the fake server saw.
#[derive(Clone, Default)]
struct Seen {
    calls: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    most_running: Arc<AtomicUsize>,
    hosts: Arc<Mutex<Vec<String>>>,
}

/// A server taking `service` per request, answering `statuses` in turn (then 200) with
/// `Retry-After: 3`.
fn server(
    seen: &Seen,
    service: Duration,
    statuses: Vec<u16>,
) -> impl Service<Request<String>, Response = Response<String>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    let seen = seen.clone();
    let statuses = Arc::new(Mutex::new(statuses));
    service_fn(move |request: Request<String>| {
        let (seen, statuses) = (seen.clone(), Arc::clone(&statuses));
        async move {
            let call = seen.calls.fetch_add(1, Ordering::SeqCst);
            let host = request
                .headers()
                .get("host")
                .map(|h| h.to_str().unwrap_or_default().to_owned());
            seen.hosts
                .lock()
                .expect("lock")
                .push(host.unwrap_or_default());
            let running = seen.running.fetch_add(1, Ordering::SeqCst) + 1;
            seen.most_running.fetch_max(running, Ordering::SeqCst);
            tokio::time::sleep(service).await;
            seen.running.fetch_sub(1, Ordering::SeqCst);
            let status = statuses
                .lock()
                .expect("lock")
                .get(call)
                .copied()
                .unwrap_or(200);
            let response = Response::builder()
                .status(status)
                .header("retry-after", "3")
                .body(String::new())
                .expect("a response");
            Ok::<_, Infallible>(response)
        }
    })
}

fn get(token: &str) -> Request<String> {
    Request::get("https://demo.my.erp.net/api/domain/odata/General_Contacts_Parties")
        .header("authorization", format!("Bearer {token}"))
        .body(String::new())
        .expect("a request")
}

#[tokio::test(start_paused = true)]
async fn one_request_per_session_at_a_time() {
    let seen = Seen::default();
    let pacer = Pacer::erpnet().no_rate_limit().build().expect("valid");
    let service = SessionPacingLayer::new(pacer.clone()).layer(server(
        &seen,
        Duration::from_millis(100),
        vec![],
    ));
    let started = Instant::now();
    let calls: Vec<_> = (0..10)
        .map(|_| tokio::spawn(service.clone().oneshot(get("token-a"))))
        .collect();
    for call in calls {
        assert_eq!(
            call.await.expect("task").expect("answered").status(),
            StatusCode::OK
        );
    }
    assert_eq!(seen.most_running.load(Ordering::SeqCst), 1);
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert_eq!(pacer.stats().sent, 10);
}

#[tokio::test(start_paused = true)]
async fn a_bodyless_request_is_retried_after_retry_after() {
    let seen = Seen::default();
    let pacer = Pacer::erpnet().build().expect("valid");
    let service = SessionPacingLayer::new(pacer).layer(server(&seen, Duration::ZERO, vec![429]));
    let started = Instant::now();
    let response = service.oneshot(get("a")).await.expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert_eq!(seen.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_request_with_a_body_is_not_retried() {
    let seen = Seen::default();
    let pacer = Pacer::erpnet().build().expect("valid");
    let service = SessionPacingLayer::new(pacer).layer(server(&seen, Duration::ZERO, vec![503]));
    let mut request = get("a");
    *request.method_mut() = http::Method::PUT; // idempotent, but its body may be a stream
    *request.body_mut() = "{\"IsActive\":false}".to_owned();
    let response = service.oneshot(request).await.expect("answered");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "3", "unchanged");
    assert_eq!(seen.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_request_without_a_turn_is_refused_not_sent() {
    let seen = Seen::default();
    let pacer = Pacer::erpnet()
        .queue_timeout(Duration::from_secs(1))
        .build()
        .expect("valid");
    let service =
        SessionPacingLayer::new(pacer).layer(server(&seen, Duration::from_secs(10), vec![]));
    let first = tokio::spawn(service.clone().oneshot(get("a")));
    tokio::task::yield_now().await;
    let refused = service
        .clone()
        .oneshot(get("a"))
        .await
        .expect_err("no turn");
    assert!(refused.is_refused());
    assert!(matches!(
        refused,
        SessionPacingError::Refused(PacingError::QueueTimeout {
            limit: PacingLimit::SessionConcurrency,
            ..
        })
    ));
    let boxed: BoxError = Box::new(refused);
    assert!(boxed.to_string().contains("not sent"), "{boxed}");
    assert!(first.await.expect("task").is_ok());
    assert_eq!(seen.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn the_origin_comes_from_the_host_header_when_the_uri_has_none() {
    let seen = Seen::default();
    let pacer = Pacer::builder()
        .max_in_flight_per_origin(1)
        .build()
        .expect("valid");
    let service =
        SessionPacingLayer::new(pacer).layer(server(&seen, Duration::from_millis(100), vec![]));
    // tonic's requests carry only a path; the channel adds the origin below this layer.
    let grpc = |host: &str| {
        Request::post("/grpc.health.v1.Health/Check")
            .header("host", host)
            .body(String::new())
            .expect("a request")
    };
    let started = Instant::now();
    let calls: Vec<_> = ["a.example", "b.example", "a.example"]
        .into_iter()
        .map(|host| tokio::spawn(service.clone().oneshot(grpc(host))))
        .collect();
    for call in calls {
        assert!(call.await.expect("task").is_ok());
    }
    // The two hosts ran side by side; the second request to a.example waited for the first.
    assert_eq!(seen.most_running.load(Ordering::SeqCst), 2);
    assert_eq!(started.elapsed(), Duration::from_millis(200));
}

#[tokio::test]
async fn the_inner_services_errors_pass_through() {
    let pacer = Pacer::erpnet().build().expect("valid");
    let failing =
        service_fn(|_: Request<String>| async { Err::<Response<String>, _>("connection refused") });
    let error = SessionPacingLayer::new(pacer)
        .layer(failing)
        .oneshot(get("a"))
        .await
        .expect_err("the inner error");
    assert!(matches!(
        error,
        SessionPacingError::Service("connection refused")
    ));
    assert!(!error.is_refused());
}
