//! [`Backoff`]: what a failed call to the provider leaves behind, so that the
//! next callers get its error at once instead of calling again.
//!
//! Discovery and introspection share it: without it, a provider that is down
//! would be asked once per incoming request (every request of an API that
//! introspects, every grant's first call), each waiting out its own time-out.

use std::sync::Mutex;
use std::time::Duration;

use erpnet_auth_core::Error;
use erpnet_auth_core::sync::lock;
use tokio::time::Instant;

/// The first wait after a failure; doubled for each failure in a row.
pub(crate) const BACKOFF_INITIAL: Duration = Duration::from_secs(1);
/// The longest wait, also for a `Retry-After` that asks for more.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Failures in a row, and until when the last one is handed out instead of
/// calling again. On tokio's clock, so tests control it.
#[derive(Default)]
pub(crate) struct Backoff(Mutex<State>);

#[derive(Default)]
struct State {
    failures: u32,
    until: Option<Instant>,
    error: Option<Error>,
}

impl Backoff {
    /// The last failure's error while its wait lasts.
    pub(crate) fn current(&self) -> Option<Error> {
        let state = lock(&self.0);
        match (state.until, &state.error) {
            (Some(until), Some(error)) if Instant::now() < until => Some(error.clone()),
            _ => None,
        }
    }

    /// Records a failure; returns how long its error is handed out: the
    /// provider's `Retry-After` if it sent one, else 1 s doubled for each
    /// failure in a row, at most 30 s either way.
    pub(crate) fn failed(&self, error: &Error) -> Duration {
        let mut state = lock(&self.0);
        state.failures = state.failures.saturating_add(1);
        let doubled = BACKOFF_INITIAL.saturating_mul(1 << state.failures.saturating_sub(1).min(16));
        let wait = error.retry_after().unwrap_or(doubled).min(BACKOFF_MAX);
        state.until = Some(Instant::now() + wait);
        state.error = Some(error.clone());
        wait
    }

    /// Forgets the failures after a success.
    pub(crate) fn succeeded(&self) {
        let mut state = lock(&self.0);
        if state.failures > 0 {
            *state = State::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outage() -> Error {
        Error::source_failed("provider down", true)
    }

    #[tokio::test(start_paused = true)]
    async fn waits_double_up_to_the_cap_and_a_success_forgets_them() {
        let backoff = Backoff::default();
        assert!(backoff.current().is_none());
        let waits: Vec<u64> = (0..7)
            .map(|_| backoff.failed(&outage()).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        assert!(backoff.current().is_some());
        tokio::time::advance(Duration::from_secs(29)).await;
        assert!(backoff.current().is_some(), "still waiting");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(backoff.current().is_none(), "the wait is over: call again");

        backoff.succeeded();
        assert_eq!(backoff.failed(&outage()), BACKOFF_INITIAL);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_is_kept_within_the_cap() {
        let backoff = Backoff::default();
        let asked = |seconds| Error::Status {
            endpoint: "https://id.example.com/connect/introspect".into(),
            status: 503,
            retry_after: Some(Duration::from_secs(seconds)),
        };
        assert_eq!(backoff.failed(&asked(7)), Duration::from_secs(7));
        assert_eq!(backoff.failed(&asked(3600)), BACKOFF_MAX);
    }
}
