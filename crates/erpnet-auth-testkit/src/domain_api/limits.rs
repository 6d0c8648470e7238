//! ERP.net's rate limits as the mock enforces them (docs.erp.net, "Rate limits"): per session
//! (one access token) at most `session_concurrency` requests running with `session_queue` more
//! waiting in line, and at most `session_rpm` requests admitted in any 60 seconds; per site at
//! most `site_concurrency` requests running, with `site_queue` more waiting. Past any of them
//! the answer is `429 Too Many Requests`.
//!
//! The budget of a minute is a sliding window (the strictest reading of "per minute"), counted
//! when a request is admitted; refused requests use none of it. Times are Tokio's, so a paused
//! test clock moves the window.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::domain_api::stats::{Counters, add, raise};
use crate::state::lock;

/// The window of the requests-per-minute budget.
const MINUTE: Duration = Duration::from_secs(60);
/// The fewest sessions kept before idle ones are swept out.
const MIN_SWEEP: usize = 64;

/// The numbers, ERP.net's defaults unless the builder changed them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) session_concurrency: usize,
    pub(crate) session_queue: usize,
    pub(crate) session_rpm: usize,
    pub(crate) site_concurrency: usize,
    pub(crate) site_queue: usize,
}

impl Default for Limits {
    /// `SessionConcurrentRequests` 1 with ERP.net's queue of 5, `SessionRpm` 600,
    /// `GlobalConcurrentRequests` 2 (with no queue: the documentation names none).
    fn default() -> Limits {
        Limits {
            session_concurrency: 1,
            session_queue: 5,
            session_rpm: 600,
            site_concurrency: 2,
            site_queue: 0,
        }
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    SessionConcurrency,
    SessionRate,
    SiteConcurrency,
}

impl Refusal {
    pub(crate) fn count(self, counters: &Counters) {
        add(match self {
            Refusal::SessionConcurrency => &counters.refused_session_concurrency,
            Refusal::SessionRate => &counters.refused_session_rate,
            Refusal::SiteConcurrency => &counters.refused_site_concurrency,
        });
    }

    /// The `message` of the error body.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Refusal::SessionConcurrency => {
                "Too many concurrent requests in this session (SessionConcurrentRequests)."
            }
            Refusal::SessionRate => "Too many requests per minute in this session (SessionRpm).",
            Refusal::SiteConcurrency => {
                "Too many concurrent requests to this site (GlobalConcurrentRequests)."
            }
        }
    }
}

/// The sessions and the site's slots.
pub(crate) struct Limiter {
    limits: Limits,
    sessions: Mutex<Sessions>,
    site: Arc<Semaphore>,
    site_waiting: AtomicUsize,
    site_running: AtomicUsize,
}

struct Sessions {
    /// By access token. Only this module reads the keys, and it never prints them.
    map: HashMap<String, Arc<Session>>,
    /// Idle sessions are swept out when the map reaches this size.
    sweep_at: usize,
}

struct Session {
    slots: Arc<Semaphore>,
    state: Mutex<SessionState>,
}

#[derive(Default)]
struct SessionState {
    /// Requests running or waiting for a slot.
    admitted: usize,
    running: usize,
    /// When each request of the last minute was admitted, oldest first.
    starts: VecDeque<Instant>,
}

impl Session {
    /// Whether this session is as good as closed: nobody holds it, nothing is admitted and its
    /// last minute is empty.
    fn is_idle(self: &Arc<Self>, now: Instant) -> bool {
        let state = lock(&self.state);
        Arc::strong_count(self) == 1
            && state.admitted == 0
            && state
                .starts
                .back()
                .is_none_or(|&last| now.saturating_duration_since(last) >= MINUTE)
    }
}

/// A request admitted to run: it holds its session's slot and a site slot until dropped.
pub(crate) struct Admitted {
    _session_slot: OwnedSemaphorePermit,
    _site_slot: OwnedSemaphorePermit,
    ticket: Ticket,
    limiter: Arc<Limiter>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut state = lock(&self.ticket.session.state);
        state.running = state.running.saturating_sub(1);
        drop(state);
        self.limiter.site_running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A request's place in its session, given back when the request ends or is abandoned.
struct Ticket {
    session: Arc<Session>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut state = lock(&self.session.state);
        state.admitted = state.admitted.saturating_sub(1);
    }
}

/// Gives back a place in the site's queue, also when the wait is abandoned.
struct SiteWaiter<'a>(&'a AtomicUsize);

impl Drop for SiteWaiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Limiter {
    pub(crate) fn new(limits: Limits) -> Limiter {
        Limiter {
            limits,
            sessions: Mutex::new(Sessions {
                map: HashMap::new(),
                sweep_at: MIN_SWEEP,
            }),
            site: Arc::new(Semaphore::new(limits.site_concurrency)),
            site_waiting: AtomicUsize::new(0),
            site_running: AtomicUsize::new(0),
        }
    }

    /// Admits a request of the session that `token` opened (or opens now), waiting for a slot
    /// in the session's queue and then the site's, or says which limit refuses it.
    pub(crate) async fn admit(
        self: &Arc<Self>,
        token: &str,
        counters: &Counters,
    ) -> Result<Admitted, Refusal> {
        let ticket = self.enter_session(token, counters)?;
        let mut queued = false;
        let session_slot = match Arc::clone(&ticket.session.slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                queued = true;
                Arc::clone(&ticket.session.slots)
                    .acquire_owned()
                    .await
                    // The semaphore is never closed.
                    .map_err(|_| Refusal::SessionConcurrency)?
            }
        };
        let site_slot = match Arc::clone(&self.site).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if self.site_waiting.fetch_add(1, Ordering::SeqCst) >= self.limits.site_queue {
                    self.site_waiting.fetch_sub(1, Ordering::SeqCst);
                    if queued {
                        add(&counters.queued);
                    }
                    return Err(Refusal::SiteConcurrency);
                }
                let _waiter = SiteWaiter(&self.site_waiting);
                queued = true;
                Arc::clone(&self.site)
                    .acquire_owned()
                    .await
                    .map_err(|_| Refusal::SiteConcurrency)?
            }
        };
        if queued {
            add(&counters.queued);
        }
        let running = {
            let mut state = lock(&ticket.session.state);
            state.running += 1;
            state.running
        };
        raise(&counters.max_session_in_flight, running);
        let site_running = self.site_running.fetch_add(1, Ordering::SeqCst) + 1;
        raise(&counters.max_site_in_flight, site_running);
        Ok(Admitted {
            _session_slot: session_slot,
            _site_slot: site_slot,
            ticket,
            limiter: Arc::clone(self),
        })
    }

    /// The session's concurrency and rate checks, done at once under its lock.
    fn enter_session(&self, token: &str, counters: &Counters) -> Result<Ticket, Refusal> {
        let now = Instant::now();
        let mut sessions = lock(&self.sessions);
        if sessions.map.len() >= sessions.sweep_at {
            sessions.map.retain(|_, session| !session.is_idle(now));
            sessions.sweep_at = (sessions.map.len() * 2).max(MIN_SWEEP);
        }
        let session = match sessions.map.get(token) {
            Some(session) => Arc::clone(session),
            None => {
                add(&counters.sessions);
                let session = Arc::new(Session {
                    slots: Arc::new(Semaphore::new(self.limits.session_concurrency)),
                    state: Mutex::default(),
                });
                sessions.map.insert(token.to_owned(), Arc::clone(&session));
                session
            }
        };
        drop(sessions);
        let mut state = lock(&session.state);
        let capacity = self.limits.session_concurrency + self.limits.session_queue;
        if state.admitted >= capacity {
            return Err(Refusal::SessionConcurrency);
        }
        while state
            .starts
            .front()
            .is_some_and(|&start| now.saturating_duration_since(start) >= MINUTE)
        {
            state.starts.pop_front();
        }
        if state.starts.len() >= self.limits.session_rpm {
            return Err(Refusal::SessionRate);
        }
        state.starts.push_back(now);
        state.admitted += 1;
        drop(state);
        Ok(Ticket { session })
    }

    /// How many sessions the mock keeps state for now (open ones and idle ones not yet swept).
    pub(crate) fn sessions(&self) -> usize {
        lock(&self.sessions).map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(limits: Limits) -> Arc<Limiter> {
        Arc::new(Limiter::new(limits))
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_runs_one_request_and_queues_five() {
        let limiter = limiter(Limits::default());
        let counters = Counters::default();
        let first = limiter.admit("a", &counters).await.expect("runs");
        let mut waiting = Vec::new();
        for _ in 0..5 {
            let limiter = Arc::clone(&limiter);
            waiting.push(tokio::spawn(async move {
                let counters = Counters::default();
                limiter.admit("a", &counters).await.map(drop)
            }));
        }
        tokio::task::yield_now().await;
        assert_eq!(
            limiter.admit("a", &counters).await.err(),
            Some(Refusal::SessionConcurrency)
        );
        // Another session runs beside it, within the site's two slots.
        let other = limiter
            .admit("b", &counters)
            .await
            .expect("another session");
        assert_eq!(
            limiter.admit("c", &counters).await.err(),
            Some(Refusal::SiteConcurrency),
            "the site runs two requests at most"
        );
        drop(other);
        drop(first);
        for waiter in waiting {
            waiter.await.expect("task").expect("served in turn");
        }
        let stats = counters.snapshot();
        assert_eq!(stats.sessions, 3);
        assert_eq!(stats.max_session_in_flight, 1);
        assert_eq!(stats.max_site_in_flight, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_minute_budget_slides() {
        let limiter = limiter(Limits {
            session_rpm: 3,
            ..Limits::default()
        });
        let counters = Counters::default();
        for _ in 0..3 {
            drop(limiter.admit("a", &counters).await.expect("within budget"));
            tokio::time::advance(Duration::from_secs(10)).await;
        }
        assert_eq!(
            limiter.admit("a", &counters).await.err(),
            Some(Refusal::SessionRate)
        );
        // The first admission leaves the window 60 s after it was made.
        tokio::time::advance(Duration::from_secs(30)).await;
        drop(limiter.admit("a", &counters).await.expect("a slot freed"));
        assert_eq!(
            limiter.admit("a", &counters).await.err(),
            Some(Refusal::SessionRate)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_sessions_are_swept() {
        let limiter = limiter(Limits::default());
        let counters = Counters::default();
        for n in 0..MIN_SWEEP {
            drop(
                limiter
                    .admit(&format!("t{n}"), &counters)
                    .await
                    .expect("admitted"),
            );
        }
        assert_eq!(limiter.sessions(), MIN_SWEEP);
        tokio::time::advance(MINUTE).await;
        drop(limiter.admit("new", &counters).await.expect("admitted"));
        assert_eq!(limiter.sessions(), 1, "the idle sessions are gone");
    }
}
