//! What a pacer counts: [`PacerStats`].

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A pacer's state and counters, from [`Pacer::stats`](crate::pacing::Pacer::stats).
///
/// Gauges (`sessions`, `in_flight`, `waiting`) are the state at the moment of the call;
/// counters add up since the pacer was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PacerStats {
    /// Sessions the pacer holds state for: those with requests in flight or waiting, and
    /// idle ones whose budget has not refilled yet (or that the next sweep drops).
    pub sessions: usize,
    /// Requests sent and not yet answered.
    pub in_flight: usize,
    /// Requests waiting for their turn.
    pub waiting: usize,
    /// Requests sent, retries included.
    pub sent: u64,
    /// Requests that waited for their turn before being sent.
    pub delayed: u64,
    /// `429` and `503` answers received.
    pub throttled: u64,
    /// Requests sent again after a `429` or `503`.
    pub retried: u64,
    /// Requests not sent: the session's queue was full, or the turn came too late.
    pub refused: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) in_flight: AtomicUsize,
    pub(crate) waiting: AtomicUsize,
    pub(crate) sent: AtomicU64,
    pub(crate) delayed: AtomicU64,
    pub(crate) throttled: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) refused: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self, sessions: usize) -> PacerStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        PacerStats {
            sessions,
            in_flight: self.in_flight.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
            sent: read(&self.sent),
            delayed: read(&self.delayed),
            throttled: read(&self.throttled),
            retried: read(&self.retried),
            refused: read(&self.refused),
        }
    }
}

/// Adds one to a counter.
pub(crate) fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// One up on a gauge until dropped.
#[derive(Debug)]
pub(crate) struct Gauge<'a>(&'a AtomicUsize);

impl<'a> Gauge<'a> {
    pub(crate) fn raise(gauge: &'a AtomicUsize) -> Gauge<'a> {
        gauge.fetch_add(1, Ordering::Relaxed);
        Gauge(gauge)
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
