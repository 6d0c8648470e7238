//! Every timing rule of the pacer on Tokio's paused clock, against a scripted fake server.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::{AUTHORIZATION, DATE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::*;

/// A request of the fake client.
struct FakeRequest {
    method: Method,
    headers: HeaderMap,
    origin: &'static str,
    /// Whether its body can be sent again (`false`: a stream).
    replayable: bool,
}

impl FakeRequest {
    fn get(token: &str) -> FakeRequest {
        let mut headers = HeaderMap::new();
        if !token.is_empty() {
            let value = HeaderValue::from_str(&format!("Bearer {token}")).expect("a header");
            headers.insert(AUTHORIZATION, value);
        }
        FakeRequest {
            method: Method::GET,
            headers,
            origin: "https://demo.my.erp.net",
            replayable: true,
        }
    }

    fn method(mut self, method: Method) -> FakeRequest {
        self.method = method;
        self
    }

    fn origin(mut self, origin: &'static str) -> FakeRequest {
        self.origin = origin;
        self
    }

    fn streaming(mut self) -> FakeRequest {
        self.replayable = false;
        self
    }
}

/// What the fake server answers: a status and headers, after its service time.
#[derive(Clone)]
struct Answer {
    status: StatusCode,
    headers: Vec<(&'static str, String)>,
}

fn ok() -> Answer {
    Answer {
        status: StatusCode::OK,
        headers: Vec::new(),
    }
}

fn throttled(headers: &[(&'static str, &str)]) -> Answer {
    Answer {
        status: StatusCode::TOO_MANY_REQUESTS,
        headers: headers.iter().map(|(n, v)| (*n, (*v).to_owned())).collect(),
    }
}

/// The server: answers from a script (then 200), takes `service` per request, or waits for
/// `gate` permits when there is a gate; records when each request arrived and how many ran
/// at once.
#[derive(Clone, Default)]
struct Server {
    script: Arc<Mutex<VecDeque<Answer>>>,
    service: Duration,
    gate: Option<Arc<Semaphore>>,
    arrivals: Arc<Mutex<Vec<Instant>>>,
    running: Arc<AtomicUsize>,
    most_running: Arc<AtomicUsize>,
}

impl Server {
    fn answering(answers: impl IntoIterator<Item = Answer>) -> Server {
        Server {
            script: Arc::new(Mutex::new(answers.into_iter().collect())),
            ..Server::default()
        }
    }

    fn taking(service: Duration) -> Server {
        Server {
            service,
            ..Server::default()
        }
    }

    /// A server that answers only when the test adds permits to the returned gate.
    fn gated() -> (Server, Arc<Semaphore>) {
        let gate = Arc::new(Semaphore::new(0));
        let server = Server {
            gate: Some(Arc::clone(&gate)),
            ..Server::default()
        };
        (server, gate)
    }

    fn arrivals(&self) -> Vec<Instant> {
        self.arrivals.lock().expect("lock").clone()
    }

    fn most_running(&self) -> usize {
        self.most_running.load(Ordering::SeqCst)
    }
}

impl Exchange for Server {
    type Request = FakeRequest;
    type Response = Response<()>;
    type Error = PacingError;

    fn method(request: &FakeRequest) -> &Method {
        &request.method
    }

    fn headers(request: &FakeRequest) -> &HeaderMap {
        &request.headers
    }

    fn origin(request: &FakeRequest) -> String {
        request.origin.to_owned()
    }

    fn try_clone(request: &FakeRequest) -> Option<FakeRequest> {
        request.replayable.then(|| FakeRequest {
            method: request.method.clone(),
            headers: request.headers.clone(),
            origin: request.origin,
            replayable: true,
        })
    }

    fn send(
        &mut self,
        _: FakeRequest,
    ) -> impl Future<Output = Result<Response<()>, PacingError>> + Send {
        let server = self.clone();
        async move {
            server.arrivals.lock().expect("lock").push(Instant::now());
            let running = server.running.fetch_add(1, Ordering::SeqCst) + 1;
            server.most_running.fetch_max(running, Ordering::SeqCst);
            match &server.gate {
                Some(gate) => gate.acquire().await.expect("open").forget(),
                None => tokio::time::sleep(server.service).await,
            }
            server.running.fetch_sub(1, Ordering::SeqCst);
            let answer = server
                .script
                .lock()
                .expect("lock")
                .pop_front()
                .unwrap_or_else(ok);
            let mut response = Response::new(());
            *response.status_mut() = answer.status;
            for (name, value) in answer.headers {
                let value = HeaderValue::from_str(&value).expect("a header");
                response.headers_mut().insert(name, value);
            }
            Ok(response)
        }
    }

    fn status(response: &Response<()>) -> StatusCode {
        response.status()
    }

    fn response_headers(response: &Response<()>) -> &HeaderMap {
        response.headers()
    }

    fn refused(error: PacingError) -> PacingError {
        error
    }
}

fn pacer(builder: PacerBuilder) -> Pacer {
    builder.build().expect("a valid configuration")
}

/// Sends `request` on a task of its own.
fn spawn(
    pacer: &Pacer,
    server: &Server,
    request: FakeRequest,
) -> tokio::task::JoinHandle<Result<Response<()>, PacingError>> {
    let (pacer, mut server) = (pacer.clone(), server.clone());
    tokio::spawn(async move { pacer.send(&mut server, request).await })
}

/// Lets every runnable task run until it waits.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn one_request_per_session_at_a_time_others_wait_their_turn() {
    let pacer = pacer(Pacer::builder().no_rate_limit());
    let server = Server::taking(Duration::from_millis(100));
    let started = Instant::now();
    let calls: Vec<_> = (0..10)
        .map(|_| spawn(&pacer, &server, FakeRequest::get("token-a")))
        .collect();
    for call in calls {
        assert_eq!(call.await.expect("task").expect("sent").status(), 200);
    }
    assert_eq!(server.most_running(), 1);
    assert_eq!(started.elapsed(), Duration::from_millis(1000));
    let stats = pacer.stats();
    assert_eq!(
        (stats.sent, stats.delayed, stats.in_flight, stats.waiting),
        (10, 9, 0, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn the_queue_times_out_with_a_typed_error_never_a_hang() {
    let pacer = pacer(Pacer::builder().queue_timeout(Duration::from_secs(5)));
    let (server, gate) = Server::gated();
    let first = spawn(&pacer, &server, FakeRequest::get("token-a"));
    settle().await;
    let started = Instant::now();
    let second = pacer
        .send(&mut server.clone(), FakeRequest::get("token-a"))
        .await;
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    match second {
        Err(PacingError::QueueTimeout {
            limit,
            waited,
            timeout,
            origin,
        }) => {
            assert_eq!(limit, PacingLimit::SessionConcurrency);
            assert_eq!(
                (waited, timeout),
                (Duration::from_secs(5), Duration::from_secs(5))
            );
            assert_eq!(origin, "https://demo.my.erp.net");
        }
        other => panic!("expected a queue time-out, got {other:?}"),
    }
    gate.add_permits(1);
    assert_eq!(first.await.expect("task").expect("sent").status(), 200);
    assert_eq!((pacer.stats().refused, pacer.stats().waiting), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_refuses_at_once() {
    let pacer = pacer(Pacer::builder().queue_per_session(2));
    let (server, gate) = Server::gated();
    let running = spawn(&pacer, &server, FakeRequest::get("a"));
    settle().await;
    let waiting: Vec<_> = (0..2)
        .map(|_| spawn(&pacer, &server, FakeRequest::get("a")))
        .collect();
    settle().await;
    assert_eq!(pacer.stats().waiting, 2);
    let refused = pacer.send(&mut server.clone(), FakeRequest::get("a")).await;
    assert_eq!(
        refused.expect_err("queue full"),
        PacingError::QueueFull {
            origin: "https://demo.my.erp.net".into(),
            capacity: 2
        }
    );
    // Another session has a queue of its own.
    let other = spawn(&pacer, &server, FakeRequest::get("b"));
    gate.add_permits(4);
    for call in waiting.into_iter().chain([running, other]) {
        assert!(call.await.expect("task").is_ok());
    }
}

#[tokio::test(start_paused = true)]
async fn a_dropped_waiter_gives_its_place_back() {
    let pacer = pacer(Pacer::builder().queue_per_session(1));
    let (server, gate) = Server::gated();
    let running = spawn(&pacer, &server, FakeRequest::get("a"));
    settle().await;
    let waiter = spawn(&pacer, &server, FakeRequest::get("a"));
    settle().await;
    waiter.abort();
    settle().await;
    assert_eq!(pacer.stats().waiting, 0);
    let next = spawn(&pacer, &server, FakeRequest::get("a"));
    gate.add_permits(2);
    assert!(running.await.expect("task").is_ok());
    assert!(
        next.await.expect("task").is_ok(),
        "the queue had room again"
    );
}

#[tokio::test(start_paused = true)]
async fn the_bucket_lets_a_burst_through_then_refills_at_the_rest_of_the_budget() {
    // 60 a minute with bursts of 6: 54 tokens a minute flow in, one every 1.111… s.
    let pacer = pacer(
        Pacer::builder()
            .requests_per_minute(60)
            .burst(6)
            .max_in_flight_per_session(100),
    );
    let server = Server::default();
    let started = Instant::now();
    let calls: Vec<_> = (0..9)
        .map(|_| spawn(&pacer, &server, FakeRequest::get("a")))
        .collect();
    for call in calls {
        assert!(call.await.expect("task").is_ok());
    }
    let offsets: Vec<Duration> = server.arrivals().iter().map(|at| *at - started).collect();
    // Tokio's timers wake on the next millisecond; the bucket keeps its own exact time, so
    // the rounding does not add up.
    let interval_ns: u64 = 1_111_111_112;
    let expected: Vec<Duration> = [0, 0, 0, 0, 0, 0, 1, 2, 3]
        .iter()
        .map(|&n| Duration::from_millis((interval_ns * n).div_ceil(1_000_000)))
        .collect();
    assert_eq!(offsets, expected);
    // A minute later the bucket is full again: a burst of 6 goes at once.
    tokio::time::advance(Duration::from_secs(60)).await;
    let again = Instant::now();
    let calls: Vec<_> = (0..6)
        .map(|_| spawn(&pacer, &server, FakeRequest::get("a")))
        .collect();
    for call in calls {
        assert!(call.await.expect("task").is_ok());
    }
    assert!(server.arrivals()[9..].iter().all(|at| *at == again));
}

#[tokio::test(start_paused = true)]
async fn a_turn_that_comes_after_the_time_out_is_refused_at_once() {
    let pacer = pacer(
        Pacer::builder()
            .requests_per_minute(2)
            .burst(1)
            .queue_timeout(Duration::from_secs(10)),
    );
    let server = Server::default();
    assert!(
        pacer
            .send(&mut server.clone(), FakeRequest::get("a"))
            .await
            .is_ok()
    );
    let started = Instant::now();
    let refused = pacer.send(&mut server.clone(), FakeRequest::get("a")).await;
    assert!(matches!(
        refused,
        Err(PacingError::QueueTimeout { limit: PacingLimit::SessionRate, waited, .. }) if waited.is_zero()
    ));
    assert_eq!(started.elapsed(), Duration::ZERO, "no pointless wait");
}

#[tokio::test(start_paused = true)]
async fn retry_after_in_seconds_is_honoured() {
    let pacer = pacer(Pacer::erpnet());
    let server = Server::answering([throttled(&[("retry-after", "7")])]);
    let started = Instant::now();
    let response = pacer.send(&mut server.clone(), FakeRequest::get("a")).await;
    assert_eq!(response.expect("answered").status(), 200);
    assert_eq!(started.elapsed(), Duration::from_secs(7));
    let stats = pacer.stats();
    assert_eq!((stats.sent, stats.throttled, stats.retried), (2, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn retry_after_as_an_http_date_is_honoured() {
    let pacer = pacer(Pacer::erpnet());
    let server = Server::answering([throttled(&[
        (DATE.as_str(), "Tue, 15 Nov 1994 08:12:31 GMT"),
        (RETRY_AFTER.as_str(), "Tue, 15 Nov 1994 08:12:43 GMT"),
    ])]);
    let started = Instant::now();
    let response = pacer.send(&mut server.clone(), FakeRequest::get("a")).await;
    assert_eq!(response.expect("answered").status(), 200);
    assert_eq!(started.elapsed(), Duration::from_secs(12));
}

#[tokio::test(start_paused = true)]
async fn a_throttled_session_pauses_as_a_whole() {
    let pacer = pacer(Pacer::erpnet().max_in_flight_per_session(4));
    let server = Server::answering([throttled(&[("retry-after", "5")])]);
    let started = Instant::now();
    let first = spawn(&pacer, &server, FakeRequest::get("a"));
    settle().await;
    // Sent during the pause: waits for its end, although a slot is free.
    let second = pacer.send(&mut server.clone(), FakeRequest::get("a")).await;
    assert_eq!(second.expect("answered").status(), 200);
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert!(first.await.expect("task").is_ok());
    // Another session was never paused.
    let other = Instant::now();
    assert!(
        pacer
            .send(&mut server.clone(), FakeRequest::get("b"))
            .await
            .is_ok()
    );
    assert_eq!(other.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn without_retry_after_the_backoff_doubles_to_its_cap_then_the_answer_goes_back() {
    let pacer = pacer(
        Pacer::builder()
            .max_retries(5)
            .retry_backoff(Duration::from_secs(1), Duration::from_secs(4)),
    );
    let server = Server::answering(std::iter::repeat_n(throttled(&[]), 10));
    let started = Instant::now();
    let response = pacer.send(&mut server.clone(), FakeRequest::get("a")).await;
    let response = response.expect("the last answer, unchanged");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let arrivals = server.arrivals();
    assert_eq!(arrivals.len(), 6, "one request and five retries");
    let caps = [1, 2, 4, 4, 4].map(Duration::from_secs);
    for (pair, cap) in arrivals.windows(2).zip(caps) {
        let wait = pair[1] - pair[0];
        assert!(
            wait <= cap && wait >= cap / 2,
            "{wait:?} against a cap of {cap:?}"
        );
    }
    assert!(started.elapsed() <= Duration::from_secs(15));
    let stats = pacer.stats();
    assert_eq!((stats.throttled, stats.retried), (6, 5));
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_beyond_the_maximum_is_not_waited_for() {
    let pacer = pacer(Pacer::erpnet().max_retry_after(Duration::from_secs(60)));
    let server = Server::answering([throttled(&[("retry-after", "3600")])]);
    let started = Instant::now();
    let response = pacer.send(&mut server.clone(), FakeRequest::get("a")).await;
    let response = response.expect("answered");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()[RETRY_AFTER], "3600", "unchanged");
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(pacer.stats().retried, 0);
}

#[tokio::test(start_paused = true)]
async fn non_idempotent_requests_are_not_retried_unless_asked() {
    for (opt_in, sent) in [(false, 1), (true, 2)] {
        let pacer = pacer(Pacer::erpnet().retry_non_idempotent(opt_in));
        let server = Server::answering([throttled(&[("retry-after", "1")])]);
        let request = FakeRequest::get("a").method(Method::POST);
        let response = pacer
            .send(&mut server.clone(), request)
            .await
            .expect("answered");
        let expected = if opt_in { 200 } else { 429 };
        assert_eq!(response.status(), expected);
        assert_eq!(server.arrivals().len(), sent, "opt-in {opt_in}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_streaming_body_is_not_retried() {
    let pacer = pacer(Pacer::erpnet());
    let server = Server::answering([throttled(&[("retry-after", "1")])]);
    let response = pacer
        .send(&mut server.clone(), FakeRequest::get("a").streaming())
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(server.arrivals().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_503_is_retried_like_a_429() {
    let pacer = pacer(Pacer::erpnet());
    let unavailable = Answer {
        status: StatusCode::SERVICE_UNAVAILABLE,
        headers: vec![("retry-after", "2".to_owned())],
    };
    let server = Server::answering([unavailable]);
    let started = Instant::now();
    let response = pacer.send(&mut server.clone(), FakeRequest::get("a")).await;
    assert_eq!(response.expect("answered").status(), 200);
    assert_eq!(started.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_refreshed_token_is_a_new_session() {
    let pacer = pacer(Pacer::erpnet());
    let (server, gate) = Server::gated();
    // The old token's request is still out…
    let old = spawn(&pacer, &server, FakeRequest::get("token-before-refresh"));
    settle().await;
    // …and the new token's goes at once: another session.
    let new = spawn(&pacer, &server, FakeRequest::get("token-after-refresh"));
    settle().await;
    assert_eq!(server.arrivals().len(), 2);
    assert_eq!(pacer.stats().sessions, 2);
    gate.add_permits(2);
    assert!(old.await.expect("task").is_ok() && new.await.expect("task").is_ok());
}

#[tokio::test(start_paused = true)]
async fn memory_stays_bounded_over_ten_thousand_token_rotations() {
    let pacer = pacer(Pacer::erpnet());
    let server = Server::default();
    let mut most = 0;
    for rotation in 0..10_000 {
        let token = format!("token-{rotation}");
        assert!(
            pacer
                .send(&mut server.clone(), FakeRequest::get(&token))
                .await
                .is_ok()
        );
        most = most.max(pacer.stats().sessions);
        // One request every 10 ms: a session's bucket is full again 0.1 s after its request.
        tokio::time::advance(Duration::from_millis(10)).await;
    }
    assert!(most <= 64, "at most {most} sessions held at once");
    let after = pacer.stats();
    assert_eq!((after.sent, after.in_flight, after.waiting), (10_000, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn the_per_origin_cap_spans_sessions() {
    let pacer = pacer(Pacer::erpnet().queue_timeout(Duration::from_secs(3)));
    let (server, gate) = Server::gated();
    let running: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|token| spawn(&pacer, &server, FakeRequest::get(token)))
        .collect();
    settle().await;
    // A third session waits for one of the origin's two slots…
    let third = spawn(&pacer, &server, FakeRequest::get("c"));
    // …while another origin is not held back.
    let elsewhere = spawn(
        &pacer,
        &server,
        FakeRequest::get("d").origin("https://other.my.erp.net"),
    );
    settle().await;
    assert_eq!(server.arrivals().len(), 3);
    assert_eq!(pacer.stats().waiting, 1);
    gate.add_permits(1);
    settle().await;
    assert_eq!(server.arrivals().len(), 4, "a slot freed, the third went");
    gate.add_permits(3);
    for call in running.into_iter().chain([third, elsewhere]) {
        assert!(call.await.expect("task").is_ok());
    }
    assert_eq!(
        server.most_running(),
        3,
        "two for the origin, one elsewhere"
    );

    // With both slots taken past the time-out, a request gives up on the origin.
    let held: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|t| spawn(&pacer, &server, FakeRequest::get(t)))
        .collect();
    settle().await;
    let refused = pacer.send(&mut server.clone(), FakeRequest::get("c")).await;
    assert!(matches!(
        refused,
        Err(PacingError::QueueTimeout {
            limit: PacingLimit::OriginConcurrency,
            ..
        })
    ));
    gate.add_permits(2);
    for call in held {
        assert!(call.await.expect("task").is_ok());
    }
}

#[tokio::test(start_paused = true)]
async fn requests_without_a_credential_meet_only_the_origin_cap() {
    let pacer = pacer(Pacer::erpnet().max_in_flight_per_origin(3));
    let (server, gate) = Server::gated();
    let calls: Vec<_> = (0..3)
        .map(|_| spawn(&pacer, &server, FakeRequest::get("")))
        .collect();
    settle().await;
    assert_eq!(server.arrivals().len(), 3);
    assert_eq!(pacer.stats().sessions, 0);
    gate.add_permits(3);
    for call in calls {
        assert!(call.await.expect("task").is_ok());
    }
}

#[test]
fn refuses_numbers_that_cannot_work() {
    for builder in [
        Pacer::builder().max_in_flight_per_session(0),
        Pacer::builder().queue_per_session(0),
        Pacer::builder().queue_timeout(Duration::ZERO),
        Pacer::builder().max_in_flight_per_origin(0),
        Pacer::builder().requests_per_minute(1),
        Pacer::builder().requests_per_minute(100).burst(100),
    ] {
        let error = builder.build().expect_err("invalid");
        assert!(
            error
                .to_string()
                .starts_with("invalid configuration: pacing:"),
            "{error}"
        );
    }
    let printed = format!("{:?}", Pacer::erpnet().build().expect("valid"));
    assert!(
        printed.contains("max_in_flight_per_origin: Some(2)"),
        "{printed}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_credential_is_never_kept_or_printed() {
    let pacer = pacer(Pacer::erpnet());
    let server = Server::answering([throttled(&[])]);
    let secret = "eyJ-secret-access-token-value";
    assert!(
        pacer
            .send(&mut server.clone(), FakeRequest::get(secret))
            .await
            .is_ok()
    );
    let printed = format!("{pacer:?} {:?}", pacer.stats());
    assert!(!printed.contains(secret), "{printed}");
    let error = PacingError::QueueTimeout {
        origin: "https://demo.my.erp.net".into(),
        limit: PacingLimit::SessionRate,
        waited: Duration::from_secs(1),
        timeout: Duration::from_secs(30),
    };
    assert!(error.is_transient());
    assert!(error.to_string().contains("requests-per-minute budget"));
}
