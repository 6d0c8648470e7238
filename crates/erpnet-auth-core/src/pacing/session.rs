//! Sessions and origins: who may send now, who waits, and for how long.
//!
//! A session is one credential, known only by a keyed hash of the header value that carries
//! it (`Authorization` or `X-Api-Key`): the value itself is read once per request and never
//! kept. Each session has its slots (concurrent requests), its bucket (requests per minute),
//! an optional pause a server asked for, and a bounded count of waiting requests. Each origin
//! may have slots shared by all sessions.
//!
//! State lives only while it matters: a session whose requests are done, whose bucket is full
//! again and whose pause is over is exactly a new one, and a sweep drops it. Sweeps run when
//! the number of sessions reaches twice what the last sweep left (at least 64), so memory
//! follows the sessions in use however many tokens pass through.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::HeaderMap;
use http::header::{AUTHORIZATION, HeaderName};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, timeout_at};

use crate::pacing::bucket::{Bucket, Rate};
use crate::pacing::error::{PacingError, PacingLimit};
use crate::pacing::stats::{Counters, Gauge, count};
use crate::sync::lock;

/// ERP.net's header for reference tokens.
const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
/// The fewest sessions kept before a sweep.
const MIN_SWEEP: usize = 64;

/// The numbers of a pacer that concern waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) session_concurrency: usize,
    pub(crate) rate: Option<Rate>,
    pub(crate) queue: usize,
    pub(crate) queue_timeout: Duration,
    pub(crate) origin_concurrency: Option<usize>,
}

/// A session: a keyed SipHash of its credential's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SessionKey(u64);

/// The sessions and origins of one pacer.
#[derive(Debug)]
pub(crate) struct Sessions {
    pub(crate) limits: Limits,
    /// Random keys of this pacer, so that a session's hash says nothing outside it.
    hasher: RandomState,
    registry: Mutex<Registry>,
}

#[derive(Debug)]
struct Registry {
    sessions: HashMap<SessionKey, Arc<Session>>,
    origins: HashMap<String, Arc<Semaphore>>,
    sweep_at: usize,
}

#[derive(Debug)]
struct Session {
    slots: Arc<Semaphore>,
    state: Mutex<SessionState>,
}

#[derive(Debug, Default)]
struct SessionState {
    waiting: usize,
    bucket: Bucket,
    /// No request of the session goes before this (a server's `Retry-After`).
    resume_at: Option<Instant>,
}

/// The right to send one request: its session's slot, its origin's slot, and one up on the
/// in-flight gauge, all given back when dropped.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    _session_slot: Option<OwnedSemaphorePermit>,
    _origin_slot: Option<OwnedSemaphorePermit>,
    /// Keeps the session from being swept while the request is out.
    _session: Option<Arc<Session>>,
    _in_flight: Gauge<'a>,
}

impl Session {
    /// Whether nothing distinguishes this session from a new one: nobody holds it, its bucket
    /// is full and no pause is pending. Only called under the registry's lock, where nobody
    /// can take a new hold of it.
    fn is_idle(self: &Arc<Self>, now: Instant) -> bool {
        if Arc::strong_count(self) > 1 {
            return false;
        }
        let state = lock(&self.state);
        state.waiting == 0
            && state.bucket.is_full(now)
            && state.resume_at.is_none_or(|at| at <= now)
    }
}

/// A slot of `slots`, at once or by `deadline` (setting `blocked` when it had to wait).
async fn slot(
    slots: &Arc<Semaphore>,
    deadline: Instant,
    blocked: &mut bool,
) -> Result<OwnedSemaphorePermit, ()> {
    if let Ok(slot) = Arc::clone(slots).try_acquire_owned() {
        return Ok(slot);
    }
    *blocked = true;
    match timeout_at(deadline, Arc::clone(slots).acquire_owned()).await {
        Ok(Ok(slot)) => Ok(slot),
        // Timed out; the slots are never closed.
        _ => Err(()),
    }
}

/// Gives a waiting request's place back, also when its future is dropped.
struct Waiting<'a>(&'a Session);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.0.state);
        state.waiting = state.waiting.saturating_sub(1);
    }
}

impl Sessions {
    pub(crate) fn new(limits: Limits) -> Sessions {
        Sessions {
            limits,
            hasher: RandomState::new(),
            registry: Mutex::new(Registry {
                sessions: HashMap::new(),
                origins: HashMap::new(),
                sweep_at: MIN_SWEEP,
            }),
        }
    }

    /// The session of a request: a hash of its `Authorization` and `X-Api-Key` values, or
    /// `None` when it carries neither.
    pub(crate) fn key(&self, headers: &HeaderMap) -> Option<SessionKey> {
        let bearer = headers.get(AUTHORIZATION).map(|value| value.as_bytes());
        let api_key = headers.get(X_API_KEY).map(|value| value.as_bytes());
        if bearer.is_none() && api_key.is_none() {
            return None;
        }
        Some(SessionKey(self.hasher.hash_one((bearer, api_key))))
    }

    /// How many sessions are held now.
    pub(crate) fn len(&self) -> usize {
        lock(&self.registry).sessions.len()
    }

    /// Holds every request of the session back until `until`.
    pub(crate) fn pause(&self, key: SessionKey, until: Instant) {
        let session = lock(&self.registry).sessions.get(&key).map(Arc::clone);
        if let Some(session) = session {
            let mut state = lock(&session.state);
            state.resume_at = Some(state.resume_at.map_or(until, |at| at.max(until)));
        }
    }

    /// Waits for the request's turn: a slot of its session, a token of its session's bucket
    /// (after any pause), then a slot of its origin, all within the queue's time-out.
    pub(crate) async fn acquire<'a>(
        &self,
        key: Option<SessionKey>,
        origin: &str,
        counters: &'a Counters,
    ) -> Result<Permit<'a>, PacingError> {
        let started = Instant::now();
        let deadline = started + self.limits.queue_timeout;
        let (session, origin_slots) = self.enter(key, origin, started);
        let timed_out = |limit| {
            count(&counters.refused);
            let waited = Instant::now().saturating_duration_since(started);
            tracing::warn!(%origin, %limit, ?waited, "pacing: no turn within the queue's time-out; request not sent");
            PacingError::QueueTimeout {
                origin: origin.to_owned(),
                limit,
                waited,
                timeout: self.limits.queue_timeout,
            }
        };

        let waiting_gauge = Gauge::raise(&counters.waiting);
        // Whether the request had to wait at any stage.
        let mut blocked = false;
        let mut session_slot = None;
        let mut waiting = None;
        if let Some(session) = &session {
            {
                let mut state = lock(&session.state);
                if state.waiting >= self.limits.queue {
                    drop(state);
                    count(&counters.refused);
                    tracing::warn!(%origin, capacity = self.limits.queue, "pacing: the session's queue is full; request not sent");
                    return Err(PacingError::QueueFull {
                        origin: origin.to_owned(),
                        capacity: self.limits.queue,
                    });
                }
                state.waiting += 1;
            }
            waiting = Some(Waiting(session));
            let slot = slot(&session.slots, deadline, &mut blocked)
                .await
                .map_err(|()| timed_out(PacingLimit::SessionConcurrency))?;
            session_slot = Some(slot);
            loop {
                let now = Instant::now();
                let ready_at = {
                    let mut state = lock(&session.state);
                    let paused = state.resume_at.filter(|&at| at > now);
                    let bucket = self
                        .limits
                        .rate
                        .and_then(|rate| state.bucket.ready_at(&rate, now));
                    match paused.max(bucket) {
                        Some(at) => Some(at),
                        None => {
                            if let Some(rate) = &self.limits.rate {
                                state.bucket.take(rate, now);
                            }
                            None
                        }
                    }
                };
                match ready_at {
                    None => break,
                    // Waiting that long holds the session's slot for nothing: give up now.
                    Some(at) if at > deadline => return Err(timed_out(PacingLimit::SessionRate)),
                    Some(at) => {
                        blocked = true;
                        tokio::time::sleep_until(at).await;
                    }
                }
            }
        }
        let origin_slot = match origin_slots {
            Some(slots) => Some(
                slot(&slots, deadline, &mut blocked)
                    .await
                    .map_err(|()| timed_out(PacingLimit::OriginConcurrency))?,
            ),
            None => None,
        };
        drop(waiting);
        drop(waiting_gauge);
        if blocked {
            count(&counters.delayed);
            let waited = started.elapsed();
            tracing::debug!(%origin, ?waited, "pacing: the request waited for its turn");
        }
        Ok(Permit {
            _session_slot: session_slot,
            _origin_slot: origin_slot,
            _session: session,
            _in_flight: Gauge::raise(&counters.in_flight),
        })
    }

    /// The session's and the origin's state, created if new, after a sweep if one is due.
    fn enter(
        &self,
        key: Option<SessionKey>,
        origin: &str,
        now: Instant,
    ) -> (Option<Arc<Session>>, Option<Arc<Semaphore>>) {
        let mut registry = lock(&self.registry);
        let origin = self.limits.origin_concurrency.map(|slots| {
            if let Some(known) = registry.origins.get(origin) {
                return Arc::clone(known);
            }
            let created = Arc::new(Semaphore::new(slots));
            registry
                .origins
                .insert(origin.to_owned(), Arc::clone(&created));
            created
        });
        let session = key.map(|key| {
            if registry.sessions.len() >= registry.sweep_at && !registry.sessions.contains_key(&key)
            {
                registry.sessions.retain(|_, session| !session.is_idle(now));
                registry
                    .origins
                    .retain(|_, slots| Arc::strong_count(slots) > 1);
                registry.sweep_at = (registry.sessions.len() * 2).max(MIN_SWEEP);
            }
            Arc::clone(registry.sessions.entry(key).or_insert_with(|| {
                Arc::new(Session {
                    slots: Arc::new(Semaphore::new(self.limits.session_concurrency)),
                    state: Mutex::default(),
                })
            }))
        });
        (session, origin)
    }
}
