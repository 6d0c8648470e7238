//! Why a paced request was not sent: [`PacingError`].

use std::fmt;
use std::time::Duration;

/// The limit a request was waiting on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PacingLimit {
    /// Its session's concurrent requests (ERP.net: 1 per session).
    SessionConcurrency,
    /// Its session's requests-per-minute budget (ERP.net: 600), or a pause the server asked
    /// for with a `429`.
    SessionRate,
    /// The concurrent requests of its origin, all sessions together (ERP.net: 2 per site).
    OriginConcurrency,
}

impl fmt::Display for PacingLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PacingLimit::SessionConcurrency => "the session's concurrent requests",
            PacingLimit::SessionRate => "the session's requests-per-minute budget",
            PacingLimit::OriginConcurrency => "the origin's concurrent requests",
        })
    }
}

/// Why a [`Pacer`](crate::pacing::Pacer) did not send a request. Nothing went to the
/// server; both cases are transient (try again later, or raise the limits you configured).
///
/// No variant carries the credential or anything derived from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacingError {
    /// The session already had as many requests waiting as its local queue holds.
    #[error(
        "{origin}: {capacity} requests of this session already wait for their turn, as many as \
         the queue holds, so the request was not sent; send fewer at once or raise \
         queue_per_session"
    )]
    QueueFull {
        /// The request's origin, `scheme://host[:port]`.
        origin: String,
        /// The queue's capacity.
        capacity: usize,
    },
    /// The request would have waited longer than the queue's time-out for its turn.
    #[error(
        "{origin}: no turn within the queue's time-out of {timeout:?} (waited {waited:?} on \
         {limit}), so the request was not sent"
    )]
    QueueTimeout {
        /// The request's origin, `scheme://host[:port]`.
        origin: String,
        /// The limit it was waiting on when it gave up.
        limit: PacingLimit,
        /// How long it waited. Less than `timeout` when the turn was known to come too late.
        waited: Duration,
        /// The configured time-out.
        timeout: Duration,
    },
}

impl PacingError {
    /// Always `true`: the request was not sent because of local waiting, and may succeed
    /// later.
    pub fn is_transient(&self) -> bool {
        true
    }
}
