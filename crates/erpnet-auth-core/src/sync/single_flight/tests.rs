//! The single-flight rules on tokio's paused clock, with the runs of the work
//! counted.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;
use crate::testing::{paused_runtime, settle};

/// Work that takes a second and answers with the number of its run.
#[derive(Clone, Default)]
struct Work {
    runs: Arc<AtomicUsize>,
}

impl Work {
    fn start(&self) -> impl Future<Output = usize> + Send + 'static {
        let runs = self.runs.clone();
        async move {
            let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_secs(1)).await;
            run
        }
    }

    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }
}

#[tokio::test(start_paused = true)]
async fn concurrent_callers_share_one_run() {
    let work = Work::default();
    let flight = Arc::new(SingleFlight::new());
    let callers: Vec<_> = (0..1000)
        .map(|_| {
            let (flight, work) = (flight.clone(), work.clone());
            tokio::spawn(async move { flight.run(|| work.start()).await })
        })
        .collect();
    for caller in callers {
        assert_eq!(caller.await.expect("task"), Ok(1));
    }
    assert_eq!(work.runs(), 1);
    assert!(!flight.is_running());
    // The next caller after the end starts a new run.
    assert_eq!(flight.run(|| work.start()).await, Ok(2));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_caller_cancels_nothing() {
    let work = Work::default();
    let flight = SingleFlight::new();
    let gave_up = tokio::time::timeout(Duration::from_millis(100), flight.run(|| work.start()));
    assert!(gave_up.await.is_err(), "the caller gave up half-way");
    assert!(flight.is_running(), "the work goes on without it");

    assert_eq!(
        flight.run(|| work.start()).await,
        Ok(1),
        "joined, not restarted"
    );
    assert_eq!(work.runs(), 1);
    assert!(!flight.is_running());
}

#[tokio::test(start_paused = true)]
async fn work_nobody_waits_for_ends_and_leaves_no_entry() {
    let work = Work::default();
    let flights = KeyedSingleFlight::new();
    for key in 0..100 {
        drop(flights.run(key, || work.start()));
    }
    assert_eq!(flights.len(), 100);
    settle().await;
    assert_eq!(work.runs(), 100, "each started although nobody waits");
    tokio::time::sleep(Duration::from_secs(1)).await;
    settle().await;
    assert!(flights.is_empty(), "each run removed its own entry");
}

#[tokio::test(start_paused = true)]
async fn keys_fly_apart_and_equal_keys_together() {
    let work = Work::default();
    let flights = KeyedSingleFlight::new();
    let (a, b, a_again) = tokio::join!(
        flights.run("a", || work.start()),
        flights.run("b", || work.start()),
        flights.run("a", || work.start()),
    );
    assert_eq!(a, a_again);
    assert_ne!(a, b);
    assert_eq!(work.runs(), 2);
    assert!(flights.is_empty());
}

#[tokio::test(start_paused = true)]
async fn try_run_decides_only_when_nothing_is_in_flight() {
    let work = Work::default();
    let flight = SingleFlight::new();
    let declined = flight.try_run(|| Err::<std::future::Ready<usize>, _>("cached answer"));
    assert_eq!(declined.err(), Some("cached answer"));
    assert!(!flight.is_running(), "declining starts nothing");

    let leader = flight
        .try_run(|| Ok::<_, ()>(work.start()))
        .expect("started");
    let joined = flight
        .try_run(|| -> Result<std::future::Ready<usize>, ()> {
            panic!("not asked while a run is in flight")
        })
        .expect("joined");
    assert_eq!((leader.await, joined.await), (Ok(1), Ok(1)));
    assert_eq!(work.runs(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_run_is_reported_and_cleared() {
    let flight = SingleFlight::<usize>::new();
    let first = flight.run(|| async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        panic!("the work fails hard");
    });
    let joined = flight.run(|| async { unreachable!("joins the run in flight") });
    assert_eq!(first.await, Err(Abandoned::Panicked));
    assert_eq!(joined.await, Err(Abandoned::Panicked));
    assert!(!flight.is_running());
    assert_eq!(
        flight.run(|| async { 7 }).await,
        Ok(7),
        "the next run starts afresh"
    );
}

#[test]
fn a_run_whose_runtime_shuts_down_is_cancelled_and_cleared() {
    let work = Work::default();
    let flights = KeyedSingleFlight::new();
    let first = paused_runtime();
    let waiter = {
        let _spawn_here = first.enter();
        flights.run("k", || work.start())
    };
    first.block_on(settle());
    assert_eq!(work.runs(), 1);
    assert!(flights.contains_key(&"k"));
    drop(first);
    assert!(flights.is_empty(), "the dropped task took its entry");

    paused_runtime().block_on(async {
        assert_eq!(waiter.await, Err(Abandoned::Cancelled));
        assert_eq!(flights.run("k", || work.start()).await, Ok(2));
    });
}

/// Polls `future` once, outside any runtime.
fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(std::task::Waker::noop()))
}

#[test]
fn without_a_runtime_the_first_caller_runs_the_work_and_the_others_join() {
    let flight = SingleFlight::new();
    let mut leader = flight.run(|| async { 7 });
    let mut joined = flight.run(|| async { unreachable!("joins the run in flight") });
    assert!(flight.is_running());
    assert_eq!(poll_once(&mut leader), Poll::Ready(Ok(7)));
    assert!(!flight.is_running());
    assert_eq!(poll_once(&mut joined), Poll::Ready(Ok(7)));

    // Dropping the caller that runs the work cancels it there, and says so.
    let leader = flight.run(std::future::pending::<usize>);
    let mut joined = flight.run(|| async { unreachable!("joins the run in flight") });
    drop(leader);
    assert!(!flight.is_running());
    assert_eq!(
        poll_once(&mut joined),
        Poll::Ready(Err(Abandoned::Cancelled))
    );
}

#[test]
fn abandoned_work_becomes_a_transient_error_naming_it() {
    let error = Abandoned::Panicked.into_error("the token refresh");
    assert!(error.is_transient());
    assert_eq!(
        error.to_string(),
        Error::source_failed("the token refresh was abandoned: the work panicked", true)
            .to_string()
    );
}
