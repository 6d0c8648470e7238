//! What the mock Domain API counts: [`DomainApiStats`] and the counters behind it.

use std::sync::atomic::{AtomicUsize, Ordering};

/// What a [`MockDomainApi`](crate::MockDomainApi) saw since it started, or since
/// [`reset_stats`](crate::MockDomainApi::reset_stats).
///
/// A request is counted once in `requests` and then in at most one of `served`, the three
/// `refused_*` counters, `unauthorized`, `forbidden` or `injected`; `queued` counts the served
/// or refused requests that had to wait for a slot first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DomainApiStats {
    /// Every request that reached the API's path (`{root}…`).
    pub requests: usize,
    /// Requests that passed authentication and every limit and were answered by the entity
    /// handlers (whatever their status: a 404 for an unknown entity set is served too).
    pub served: usize,
    /// Requests that waited in a session's queue (or the site's) before running.
    pub queued: usize,
    /// `429`: the session already had its concurrent requests running and its queue full.
    pub refused_session_concurrency: usize,
    /// `429`: the session had used its requests-per-minute budget.
    pub refused_session_rate: usize,
    /// `429`: the site had its concurrent requests running (and its queue, if any, full).
    pub refused_site_concurrency: usize,
    /// `401`: no credential, or a token that is malformed, expired, revoked or not this
    /// identity's.
    pub unauthorized: usize,
    /// `403`: a valid token of another issuer or audience, or without the scope the method
    /// needs.
    pub forbidden: usize,
    /// Sessions opened: the distinct access tokens seen (a session closes, and a later use of
    /// its token opens a new one, once it has been idle for a minute).
    pub sessions: usize,
    /// The most requests of one session that ever ran at the same time.
    pub max_session_in_flight: usize,
    /// The most requests that ever ran on the site at the same time.
    pub max_site_in_flight: usize,
    /// Requests answered by an injected [`Failure`](crate::Failure).
    pub injected: usize,
}

impl DomainApiStats {
    /// Every `429`: the sum of the three `refused_*` counters.
    pub fn refused(&self) -> usize {
        self.refused_session_concurrency + self.refused_session_rate + self.refused_site_concurrency
    }
}

/// The live counters; [`Counters::snapshot`] reads them into a [`DomainApiStats`].
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicUsize,
    pub(crate) served: AtomicUsize,
    pub(crate) queued: AtomicUsize,
    pub(crate) refused_session_concurrency: AtomicUsize,
    pub(crate) refused_session_rate: AtomicUsize,
    pub(crate) refused_site_concurrency: AtomicUsize,
    pub(crate) unauthorized: AtomicUsize,
    pub(crate) forbidden: AtomicUsize,
    pub(crate) sessions: AtomicUsize,
    pub(crate) max_session_in_flight: AtomicUsize,
    pub(crate) max_site_in_flight: AtomicUsize,
    pub(crate) injected: AtomicUsize,
}

impl Counters {
    fn all(&self) -> [&AtomicUsize; 12] {
        [
            &self.requests,
            &self.served,
            &self.queued,
            &self.refused_session_concurrency,
            &self.refused_session_rate,
            &self.refused_site_concurrency,
            &self.unauthorized,
            &self.forbidden,
            &self.sessions,
            &self.max_session_in_flight,
            &self.max_site_in_flight,
            &self.injected,
        ]
    }

    pub(crate) fn snapshot(&self) -> DomainApiStats {
        let [
            requests,
            served,
            queued,
            refused_session_concurrency,
            refused_session_rate,
            refused_site_concurrency,
            unauthorized,
            forbidden,
            sessions,
            max_session_in_flight,
            max_site_in_flight,
            injected,
        ] = self.all().map(|counter| counter.load(Ordering::SeqCst));
        DomainApiStats {
            requests,
            served,
            queued,
            refused_session_concurrency,
            refused_session_rate,
            refused_site_concurrency,
            unauthorized,
            forbidden,
            sessions,
            max_session_in_flight,
            max_site_in_flight,
            injected,
        }
    }

    pub(crate) fn reset(&self) {
        for counter in self.all() {
            counter.store(0, Ordering::SeqCst);
        }
    }
}

/// Adds one to `counter`.
pub(crate) fn add(counter: &AtomicUsize) {
    counter.fetch_add(1, Ordering::SeqCst);
}

/// Raises `max` to `value` if it is lower.
pub(crate) fn raise(max: &AtomicUsize, value: usize) {
    max.fetch_max(value, Ordering::SeqCst);
}
