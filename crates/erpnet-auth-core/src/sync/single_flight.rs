//! [`SingleFlight`] and [`KeyedSingleFlight`]: concurrent callers that need the
//! same work share one run of it, and that run survives all of them.
//!
//! The work runs on its own tokio task, so a caller that goes away (a client
//! hangs up, a time-out fires, an HTTP/2 stream is reset) cancels nothing: the
//! work still ends, records what it must, and the next caller finds its result
//! instead of a half-done flight. The task takes its own entry out of the map
//! before it hands out the result, so no entry outlives its work, even when
//! every waiter was dropped.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::hash::Hash;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::sync::watch;

use super::lock;
use crate::error::Error;

/// What the waiters of a flight see: nothing yet, then how it ended.
type Outcome<T> = Option<Result<T, Abandoned>>;
/// The flights in progress, by key; shared with their tasks, which remove themselves.
type Flights<K, T> = Arc<Mutex<HashMap<K, watch::Receiver<Outcome<T>>>>>;

/// Runs one piece of work at a time for any number of callers; see
/// [`KeyedSingleFlight`] for one flight per key.
///
/// [`run`](Self::run) joins the work in flight or, when there is none, starts
/// it on its own task of the current tokio runtime; every caller gets a clone of
/// its result. Dropping a caller never cancels the work.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::time::Duration;
/// use erpnet_auth_core::sync::SingleFlight;
///
/// let requests = Arc::new(AtomicUsize::new(0));
/// let fetch = || {
///     let requests = requests.clone();
///     async move {
///         tokio::time::sleep(Duration::from_secs(1)).await; // a slow provider
///         format!("answer {}", requests.fetch_add(1, Ordering::SeqCst) + 1)
///     }
/// };
/// let flight = SingleFlight::new();
///
/// // The first caller gives up half-way; the work goes on without it.
/// let gave_up = tokio::time::timeout(Duration::from_millis(100), flight.run(fetch)).await;
/// assert!(gave_up.is_err());
/// assert!(flight.is_running());
///
/// // The next caller joins that same run instead of starting another.
/// assert_eq!(flight.run(fetch).await, Ok("answer 1".to_owned()));
/// assert_eq!(requests.load(Ordering::SeqCst), 1);
/// assert!(!flight.is_running(), "a finished run leaves nothing behind");
/// # }
/// ```
///
/// Without a tokio runtime to spawn on, the caller that starts the work runs it
/// itself, and the others join it as usual; dropping that caller then does
/// cancel the work, and those who joined get [`Abandoned::Cancelled`].
pub struct SingleFlight<T> {
    flights: KeyedSingleFlight<(), T>,
}

/// One [`SingleFlight`] per key, such as one request per token: callers with
/// the same key share one run of the work, callers with different keys do not
/// wait for each other.
///
/// The map holds only work in progress: each run removes its own entry when it
/// ends, whoever waited for it, so it stays as small as the number of keys in
/// flight.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use erpnet_auth_core::sync::KeyedSingleFlight;
///
/// let lookups = KeyedSingleFlight::new();
/// let (a, b, again) = tokio::join!(
///     lookups.run("a", || async { "looked up a" }),
///     lookups.run("b", || async { "looked up b" }),
///     lookups.run("a", || async { "not run: joins the lookup of a" }),
/// );
/// assert_eq!((a, b, again), (Ok("looked up a"), Ok("looked up b"), Ok("looked up a")));
/// assert!(lookups.is_empty());
/// # }
/// ```
pub struct KeyedSingleFlight<K, T> {
    flights: Flights<K, T>,
}

/// A caller's wait for the outcome of a flight: a future of the work's result,
/// or of [`Abandoned`] when the work could not end. Dropping it cancels nothing
/// (but see [`SingleFlight`] for the case without a runtime).
pub struct Waiter<T> {
    outcome: Pin<Box<dyn Future<Output = Result<T, Abandoned>> + Send>>,
}

/// Why a flight ended without a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Abandoned {
    /// The work panicked. The entry is gone: the next caller starts afresh.
    #[error("the work panicked")]
    Panicked,
    /// The work was dropped before it ended: its runtime shut down, or, without
    /// a runtime, the caller that ran it was dropped.
    #[error("the work was cancelled before it ended")]
    Cancelled,
}

impl Abandoned {
    /// This as a transient [`Error`] (the next call starts the work afresh),
    /// naming the `work`, such as "the token refresh".
    pub fn into_error(self, work: &str) -> Error {
        Error::source_failed(format!("{work} was abandoned: {self}"), true)
    }
}

impl<T: Clone + Send + Sync + 'static> SingleFlight<T> {
    /// No work in flight.
    pub fn new() -> Self {
        Self {
            flights: KeyedSingleFlight::new(),
        }
    }

    /// Joins the work in flight, or starts the future that `work` makes on its
    /// own task and joins that. `work` is called only to start.
    pub fn run<F, Fut>(&self, work: F) -> Waiter<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T> + Send + 'static,
    {
        self.flights.run((), work)
    }

    /// Like [`run`](Self::run), but when nothing is in flight, `start` decides:
    /// `Ok` with the work to start, or `Err` with an answer that needs no work
    /// (a result still cached, an error while backing off).
    ///
    /// Joining and starting are one step: `start` is called under the lock
    /// that other callers take to join, so two callers never both start, and
    /// `start` sees all that the last run wrote (a run leaves the map only
    /// after its work has ended). Keep `start` short, and do not use this
    /// `SingleFlight` inside it.
    pub fn try_run<F, Fut, E>(&self, start: F) -> Result<Waiter<T>, E>
    where
        F: FnOnce() -> Result<Fut, E>,
        Fut: Future<Output = T> + Send + 'static,
    {
        self.flights.try_run((), start)
    }

    /// Whether work is in flight.
    pub fn is_running(&self) -> bool {
        !self.flights.is_empty()
    }
}

impl<K, T> KeyedSingleFlight<K, T>
where
    K: Eq + Hash + Clone + Send + 'static,
    T: Clone + Send + Sync + 'static,
{
    /// No work in flight.
    pub fn new() -> Self {
        Self {
            flights: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Joins the work in flight for `key`, or starts the future that `work`
    /// makes on its own task and joins that. `work` is called only to start.
    pub fn run<F, Fut>(&self, key: K, work: F) -> Waiter<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T> + Send + 'static,
    {
        match self.try_run(key, || Ok::<_, Infallible>(work())) {
            Ok(waiter) => waiter,
            Err(never) => match never {},
        }
    }

    /// Like [`run`](Self::run), but when nothing is in flight for `key`,
    /// `start` decides: `Ok` with the work to start, or `Err` with an answer
    /// that needs no work. See [`SingleFlight::try_run`] for what `start` may do.
    pub fn try_run<F, Fut, E>(&self, key: K, start: F) -> Result<Waiter<T>, E>
    where
        F: FnOnce() -> Result<Fut, E>,
        Fut: Future<Output = T> + Send + 'static,
    {
        let (work, sender, receiver) = {
            let mut flights = lock(&self.flights);
            if let Some(receiver) = flights.get(&key) {
                return Ok(Waiter::join(receiver.clone()));
            }
            let work = start()?;
            let (sender, receiver) = watch::channel(None);
            flights.insert(key.clone(), receiver.clone());
            (work, sender, receiver)
        };
        // Made before anything can drop the work, so that the entry goes with it.
        let publisher = Publisher {
            flights: self.flights.clone(),
            key,
            sender,
            published: false,
        };
        // Spawned with the lock released: a runtime that is shutting down drops
        // the task at once, and the publisher then takes the lock to leave.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    // A panic is the waiters' answer; the task has nothing to report.
                    let _ = publisher.run(work).await;
                });
                Ok(Waiter::join(receiver))
            }
            Err(_) => Ok(Waiter::new(async move {
                match publisher.run(work).await {
                    Ok(value) => Ok(value),
                    // The caller that ran the work panics as the work did.
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            })),
        }
    }

    /// How many keys have work in flight.
    pub fn len(&self) -> usize {
        lock(&self.flights).len()
    }

    /// Whether no work is in flight.
    pub fn is_empty(&self) -> bool {
        lock(&self.flights).is_empty()
    }

    /// Whether work is in flight for `key`.
    pub fn contains_key(&self, key: &K) -> bool {
        lock(&self.flights).contains_key(key)
    }
}

/// The end of a flight: takes its entry out of the map, then tells the waiters
/// how it ended. Dropped before it could, it tells them the work was cancelled.
struct Publisher<K: Eq + Hash, T> {
    flights: Flights<K, T>,
    key: K,
    sender: watch::Sender<Outcome<T>>,
    published: bool,
}

impl<K: Eq + Hash, T: Clone> Publisher<K, T> {
    /// Runs `work` to its end and publishes its result, or [`Abandoned::Panicked`]
    /// with the panic handed back.
    async fn run(
        mut self,
        work: impl Future<Output = T>,
    ) -> Result<T, Box<dyn std::any::Any + Send>> {
        let mut work = std::pin::pin!(work);
        // The panic is caught here rather than left to tokio, so that the
        // waiters learn of it at once and the entry goes with it.
        let ended = std::future::poll_fn(|cx| {
            match std::panic::catch_unwind(AssertUnwindSafe(|| work.as_mut().poll(cx))) {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
                Err(panic) => Poll::Ready(Err(panic)),
            }
        })
        .await;
        match &ended {
            Ok(value) => self.publish(Ok(value.clone())),
            Err(_) => self.publish(Err(Abandoned::Panicked)),
        }
        ended
    }

    fn publish(&mut self, outcome: Result<T, Abandoned>) {
        // The entry goes first: a waiter woken by the outcome that calls again
        // starts a new flight instead of joining this finished one.
        lock(&self.flights).remove(&self.key);
        self.sender.send_replace(Some(outcome));
        self.published = true;
    }
}

impl<K: Eq + Hash, T> Drop for Publisher<K, T> {
    fn drop(&mut self) {
        if !self.published {
            lock(&self.flights).remove(&self.key);
            self.sender.send_replace(Some(Err(Abandoned::Cancelled)));
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Waiter<T> {
    fn new(outcome: impl Future<Output = Result<T, Abandoned>> + Send + 'static) -> Self {
        Self {
            outcome: Box::pin(outcome),
        }
    }

    fn join(mut receiver: watch::Receiver<Outcome<T>>) -> Self {
        Self::new(async move {
            match receiver.wait_for(Option::is_some).await {
                Ok(outcome) => outcome.clone().unwrap_or(Err(Abandoned::Cancelled)),
                // The publisher always sends before it goes; this is only for
                // completeness.
                Err(_) => Err(Abandoned::Cancelled),
            }
        })
    }
}

impl<T> Future for Waiter<T> {
    type Output = Result<T, Abandoned>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.outcome.as_mut().poll(cx)
    }
}

impl<T: Clone + Send + Sync + 'static> Default for SingleFlight<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, T> Default for KeyedSingleFlight<K, T>
where
    K: Eq + Hash + Clone + Send + 'static,
    T: Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for SingleFlight<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SingleFlight")
            .field("running", &!lock(&self.flights.flights).is_empty())
            .finish()
    }
}

impl<K, T> fmt::Debug for KeyedSingleFlight<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedSingleFlight")
            .field("in_flight", &lock(&self.flights).len())
            .finish()
    }
}

impl<T> fmt::Debug for Waiter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiter").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
