//! [`CachedTokenSource`]: a lock-free token cache with single-flight refresh.
//!
//! # How it stays fast
//!
//! The current token lives in an [`ArcSwapOption`]; next to it one atomic word,
//! the *status*, holds the entry's generation and its state (fresh, due,
//! expired). Each thread keeps a few slots in thread-local storage that remember
//! the status under which it last found a cache's token fresh, with a weak
//! handle on the token. A hit is one atomic load of the status, a comparison
//! with the thread's slot and one reference-count increment to hand out an
//! owned token: no lock, no allocation, no clock read, not even the arc-swap
//! load. A thread whose slot does not match (first read, new token, the token
//! became due) takes the arc-swap load instead and refills its slot.
//!
//! The slots hold weak handles, so a thread that read a token keeps no copy of
//! it alive: the secret is wiped as soon as the cache replaces the token or is
//! dropped.
//!
//! Under load from several threads one reference count would become the
//! bottleneck (its cache line bounces between cores), so each entry keeps one
//! copy of the token per core and a thread clones "its" copy. The state is
//! advanced by a timer task spawned when the token is stored, which sleeps until
//! the refresh is due and again until the token expires.
//!
//! Reading `Instant::now()` on every call would cost several times the rest of the
//! hit path, so the clock is read only when the timer cannot be trusted: if the
//! timer task is dropped without finishing (its runtime shut down), the entry falls
//! back to comparing against the clock on every call.
//!
//! Tokio timers run on the monotonic clock, which on some systems stops while the
//! machine is suspended; a token can then be believed fresh after it expired. The
//! resource server's 401 covers that case: [`TokenSource::report_rejected`] drops
//! the token and the next call fetches a new one.
//!
//! # How it stays gentle with the provider
//!
//! - Only one request to the underlying source is in flight at a time; every
//!   caller that needs a token waits on that one request. It runs on its own
//!   task (a [`SingleFlight`]), so a caller that is dropped half-way cancels
//!   nothing: the request ends, its token is stored, and the next caller gets it.
//! - A token that is due for refresh but still valid is handed out at once while
//!   one background refresh runs.
//! - A failed refresh never replaces a still-valid token. Failures back off
//!   exponentially (with jitter) up to a cap; while backing off, callers that have
//!   no valid token get the last error at once instead of a new request.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::error::Error;
use crate::source::TokenSource;
use crate::sync::{SingleFlight, lock};
use crate::token::{AccessToken, WeakToken};

/// Default time before expiry at which a token is due for refresh.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// Default upper bound of the random extra margin that spreads refreshes of a fleet.
pub const DEFAULT_JITTER: Duration = Duration::from_secs(30);
/// Default time before expiry after which a token is no longer handed out.
pub const DEFAULT_EXPIRY_LEEWAY: Duration = Duration::from_secs(10);
/// Default first back-off after a failed refresh.
pub const DEFAULT_BACKOFF_INITIAL: Duration = Duration::from_secs(1);
/// Default longest back-off after repeated failures.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(60);

const FRESH: u8 = 0;
const DUE: u8 = 1;
/// The timer is gone; compare against the clock. Ordered between due and expired
/// so that `fetch_max` never moves an entry backwards.
const CHECK_CLOCK: u8 = 2;
const EXPIRED: u8 = 3;

/// `Shared::status` packs an entry's generation and its state: the state in the
/// low bits, the generation above them.
const STATE_BITS: u32 = 2;
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;
/// The status before the first token: generation 0, expired.
const NO_ENTRY: u64 = EXPIRED as u64;

/// Generations are unique across every cache of the process, so a status value
/// names one entry of one cache (see [`recent`]).
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

fn pack(generation: u64, state: u8) -> u64 {
    generation << STATE_BITS | u64::from(state)
}

/// Wraps any [`TokenSource`] with a lock-free cache, early refresh and
/// single-flight fetching.
///
/// Cheap to clone: clones share one cache. Keep one per process and identity;
/// ERP.net counts every token's first use as a licensed session, so sharing a
/// cache across processes or users is not allowed and creating one per request
/// wastes sessions.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), erpnet_auth_core::Error> {
/// use std::time::Duration;
/// use erpnet_auth_core::{AccessToken, CachedTokenSource, TokenSource, token_source_fn};
///
/// // Any source: a grant of erpnet-auth-oidc (`ClientCredentials`), or your own.
/// let grant = token_source_fn(|| async {
///     Ok(AccessToken::new("from-the-provider").with_expires_in(Duration::from_secs(3600)))
/// });
/// let tokens = CachedTokenSource::new(grant);
/// let token = tokens.token().await?; // fetched once, then served from memory
/// assert_eq!(token.expose_secret(), "from-the-provider");
/// # Ok(()) }
/// ```
///
/// # Timing rules
///
/// | token state | what a caller gets |
/// |---|---|
/// | fresh | the cached token, at once |
/// | due (within the refresh margin of expiry) | the cached token at once; one background refresh starts |
/// | expired, absent or rejected | waits for the single in-flight refresh |
/// | expired while backing off after a failure | the last error, at once |
///
/// An expired token is never handed out: a token that arrives already expired
/// (`expires_in: 0`) is not stored but is a failure, [`Error::ExpiredOnArrival`],
/// backed off like any other; an expired [`initial_token`](CacheBuilder::initial_token)
/// is ignored.
pub struct CachedTokenSource<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for CachedTokenSource<S> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

/// Settings of a [`CachedTokenSource`]; see [`CachedTokenSource::builder`].
#[derive(Debug, Clone)]
pub struct CacheBuilder<S> {
    source: S,
    config: Config,
    initial: Option<AccessToken>,
}

#[derive(Debug, Clone)]
struct Config {
    refresh_margin: Duration,
    jitter: Duration,
    expiry_leeway: Duration,
    backoff_initial: Duration,
    backoff_max: Duration,
    proactive: bool,
}

struct Shared<S> {
    source: S,
    config: Config,
    current: ArcSwapOption<Entry>,
    /// The generation of the current entry and its state (fresh, due, check the
    /// clock, expired), in one word so that a hit reads one atomic.
    status: AtomicU64,
    /// The refresh in flight, on its own task: every caller that needs a token
    /// waits on this one, and none of them can cancel it.
    flight: SingleFlight<Result<AccessToken, Error>>,
    backoff: Mutex<Backoff>,
    random: AtomicU64,
}

/// What failed refreshes leave behind.
#[derive(Default)]
struct Backoff {
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<Error>,
    retry_task: Option<AbortOnDrop>,
}

struct Entry {
    token: AccessToken,
    /// Equal copies of `token`, one per core (see the module docs).
    copies: Box<[AccessToken]>,
    due_at: Option<Instant>,
    usable_until: Option<Instant>,
    /// Which generation of `Shared::status` describes this entry.
    generation: u64,
    /// A background refresh was started for this entry (or is backing off).
    refreshing: AtomicBool,
    timer: OnceLock<AbortOnDrop>,
}

/// A pending [`Shared::fetch`], boxed so that the future of a hit stays small.
type Fetch<'a> = Pin<Box<dyn Future<Output = Result<AccessToken, Error>> + Send + 'a>>;

struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<S: TokenSource> CacheBuilder<S> {
    /// How long before expiry a token is due for refresh (default 5 minutes). For
    /// short-lived tokens at most half the lifetime is used.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.config.refresh_margin = margin;
        self
    }

    /// The upper bound of a random extra margin (default 30 s), so that many
    /// processes started together do not refresh in lockstep. For short-lived
    /// tokens at most a quarter of the lifetime is used.
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.config.jitter = jitter;
        self
    }

    /// How long before its expiry a token stops being handed out (default 10 s),
    /// so that it does not expire in flight. At most a quarter of the lifetime is
    /// used.
    pub fn expiry_leeway(mut self, leeway: Duration) -> Self {
        self.config.expiry_leeway = leeway;
        self
    }

    /// The exponential back-off after failed refreshes: the first wait and the cap
    /// (defaults 1 s and 60 s). Each wait is reduced by up to a quarter at random.
    /// A failure that says how long to wait ([`Error::retry_after`]: a `429` or
    /// `503` with `Retry-After` from the token endpoint) waits that long instead,
    /// at most the cap.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.config.backoff_initial = initial;
        self.config.backoff_max = max.max(initial);
        self
    }

    /// Keeps the token fresh from a background task instead of on demand: the
    /// first token is fetched right away and each refresh starts when it is due,
    /// whether or not anyone asks. The task ends when the last handle to the cache
    /// is dropped. Must be called within a tokio runtime to start at once;
    /// otherwise it starts with the first request.
    pub fn proactive(mut self, proactive: bool) -> Self {
        self.config.proactive = proactive;
        self
    }

    /// Starts the cache with a token obtained elsewhere, such as the access
    /// token of a sign-in, so that the first call does not fetch another. An
    /// expired one is ignored: the first call fetches a token.
    pub fn initial_token(mut self, token: AccessToken) -> Self {
        self.initial = Some(token);
        self
    }

    /// Builds the cache.
    pub fn build(self) -> CachedTokenSource<S> {
        let seed = RandomState::new().hash_one(0x5eed_u64) | 1;
        let shared = Arc::new(Shared {
            source: self.source,
            config: self.config,
            current: ArcSwapOption::empty(),
            status: AtomicU64::new(NO_ENTRY),
            flight: SingleFlight::new(),
            backoff: Mutex::new(Backoff::default()),
            random: AtomicU64::new(seed),
        });
        match &self.initial {
            Some(token) if token.is_expired() => {
                tracing::debug!("token cache: the initial token has expired; not stored");
            }
            Some(token) => shared.install(token),
            None => {}
        }
        if shared.config.proactive {
            shared.start_proactive();
        }
        CachedTokenSource { shared }
    }
}

impl<S: TokenSource> CachedTokenSource<S> {
    /// A cache with the default settings.
    pub fn new(source: S) -> Self {
        Self::builder(source).build()
    }

    /// A cache whose settings can be changed before it is built.
    pub fn builder(source: S) -> CacheBuilder<S> {
        CacheBuilder {
            source,
            config: Config {
                refresh_margin: DEFAULT_REFRESH_MARGIN,
                jitter: DEFAULT_JITTER,
                expiry_leeway: DEFAULT_EXPIRY_LEEWAY,
                backoff_initial: DEFAULT_BACKOFF_INITIAL,
                backoff_max: DEFAULT_BACKOFF_MAX,
                proactive: false,
            },
            initial: None,
        }
    }

    /// The wrapped source.
    pub fn source(&self) -> &S {
        &self.shared.source
    }

    /// The cached token if it can be used now: the lock-free hit path. Starts a
    /// background refresh when the token is due.
    pub fn cached_token(&self) -> Option<AccessToken> {
        self.shared.cached_token()
    }

    /// A usable token: from the cache when possible, otherwise from the single
    /// in-flight refresh. The cache is consulted when the future is first
    /// polled; a hit is ready at once, without allocating.
    pub fn token(&self) -> impl Future<Output = Result<AccessToken, Error>> + Send + '_ {
        let mut fetch = None;
        std::future::poll_fn(move |cx| {
            if fetch.is_none()
                && let Some(token) = self.shared.cached_token()
            {
                return Poll::Ready(Ok(token));
            }
            self.shared.poll_fetch(&mut fetch, cx)
        })
    }

    /// Drops `token` if it is still the current one, so the next call fetches a
    /// new token. Reports of an older token are ignored, so many concurrent 401s
    /// cause one refresh.
    pub fn report_rejected(&self, token: &AccessToken) {
        self.shared.report_rejected(token);
    }
}

#[async_trait]
impl<S: TokenSource> TokenSource for CachedTokenSource<S> {
    async fn token(&self) -> Result<AccessToken, Error> {
        CachedTokenSource::token(self).await
    }

    fn cached_token(&self) -> Option<AccessToken> {
        CachedTokenSource::cached_token(self)
    }

    fn report_rejected(&self, token: &AccessToken) {
        CachedTokenSource::report_rejected(self, token)
    }
}

impl<S: fmt::Debug> fmt::Debug for CachedTokenSource<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.shared.current.load();
        f.debug_struct("CachedTokenSource")
            .field("source", &self.shared.source)
            .field("current", &current.as_ref().map(|e| &e.token))
            .field("config", &self.shared.config)
            .finish()
    }
}

impl<S> Shared<S> {
    /// The state of `entry`; an entry that is not (or not yet) the one the status
    /// describes is judged by the clock.
    fn state_of(&self, entry: &Entry) -> u8 {
        let status = self.status.load(Ordering::Acquire);
        if status >> STATE_BITS == entry.generation {
            // The mask keeps two bits, so the cast is exact.
            (status & STATE_MASK) as u8
        } else {
            CHECK_CLOCK
        }
    }

    /// Moves the entry of `generation` forward to `state`, never backwards, and
    /// only while it is the current one. Returns whether the state changed.
    fn advance(&self, generation: u64, state: u8) -> bool {
        self.status
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |status| {
                (status >> STATE_BITS == generation && status & STATE_MASK < u64::from(state))
                    .then_some(pack(generation, state))
            })
            .is_ok()
    }
}

impl<S: TokenSource> Shared<S> {
    fn cached_token(self: &Arc<Self>) -> Option<AccessToken> {
        let status = self.status.load(Ordering::Acquire);
        if let Some(token) = recent::get(status) {
            return Some(token);
        }
        let guard = self.current.load();
        let entry = guard.as_ref()?;
        match self.state_of(entry) {
            FRESH => {
                let token = entry.local_token();
                recent::remember(pack(entry.generation, FRESH), &token);
                Some(token)
            }
            DUE => {
                self.refresh_in_background(entry);
                Some(entry.local_token())
            }
            CHECK_CLOCK => match entry.clock_state(Instant::now()) {
                FRESH => Some(entry.local_token()),
                DUE => {
                    self.refresh_in_background(entry);
                    Some(entry.local_token())
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// The token of the current entry, if usable now (reads the clock; slow path).
    fn usable_now(&self) -> Option<AccessToken> {
        let guard = self.current.load();
        let entry = guard.as_ref()?;
        if self.state_of(entry) == EXPIRED {
            return None;
        }
        (entry.clock_state(Instant::now()) != EXPIRED).then(|| entry.local_token())
    }

    fn refresh_in_background(self: &Arc<Self>, entry: &Entry) {
        // A plain load first keeps the hot cache line shared between readers.
        if entry.refreshing.load(Ordering::Relaxed) || entry.refreshing.swap(true, Ordering::AcqRel)
        {
            return;
        }
        if tokio::runtime::Handle::try_current().is_err() {
            entry.refreshing.store(false, Ordering::Release);
            return;
        }
        self.start_refresh();
    }

    /// The miss path of [`CachedTokenSource::token`], kept out of line so that
    /// the hit stays small enough to inline.
    #[inline(never)]
    fn poll_fetch<'a>(
        self: &'a Arc<Self>,
        fetch: &mut Option<Fetch<'a>>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<AccessToken, Error>> {
        fetch
            .get_or_insert_with(|| Box::pin(self.fetch()))
            .as_mut()
            .poll(cx)
    }

    async fn fetch(self: &Arc<Self>) -> Result<AccessToken, Error> {
        let refresh = self.flight.try_run(|| {
            // Nothing in flight: the last refresh, if any, has stored its token
            // or its error already.
            if let Some(token) = self.usable_now() {
                return Err(Ok(token));
            }
            let backoff = self.lock_backoff();
            if let (Some(retry_at), Some(error)) = (backoff.retry_at, &backoff.last_error)
                && Instant::now() < retry_at
            {
                return Err(Err(error.clone()));
            }
            Ok(self.clone().refresh())
        });
        match refresh {
            Ok(waiter) => waiter
                .await
                .unwrap_or_else(|abandoned| Err(abandoned.into_error("the token refresh"))),
            Err(answer) => answer,
        }
    }

    /// Starts a refresh unless one is in flight. It runs on its own task, so
    /// nobody needs to wait for it; without a runtime it would never run, so the
    /// callers check for one first.
    fn start_refresh(self: &Arc<Self>) {
        drop(self.flight.run(|| self.clone().refresh()));
    }

    /// One request to the source; stores the token, or the error and when to
    /// try again. The single flight clears itself after this returns, so the
    /// next caller finds the outcome stored.
    async fn refresh(self: Arc<Self>) -> Result<AccessToken, Error> {
        let started = Instant::now();
        let span = tracing::info_span!("token_refresh", replacing = self.current.load().is_some());
        let result = tracing::Instrument::instrument(self.source.token(), span.clone())
            .await
            .and_then(|token| {
                // Stored, a dead token would be handed out, and every caller
                // would then ask for another: a provider fault, backed off.
                match token.expires_at() {
                    Some(at) if at <= Instant::now() => Err(Error::ExpiredOnArrival),
                    _ => Ok(token),
                }
            });
        let _entered = span.enter();
        let elapsed = started.elapsed();
        match &result {
            Ok(token) => {
                self.install(token);
                *self.lock_backoff() = Backoff::default();
                tracing::debug!(
                    ?elapsed,
                    expires_in = ?token.expires_in(),
                    "token cache: new token stored"
                );
            }
            Err(error) => {
                let mut backoff = self.lock_backoff();
                backoff.failures = backoff.failures.saturating_add(1);
                // The server's own wait, when it named one, within the cap.
                let wait = error.retry_after().map_or_else(
                    || self.backoff(backoff.failures),
                    |asked| asked.min(self.config.backoff_max),
                );
                backoff.retry_at = Some(Instant::now() + wait);
                backoff.last_error = Some(error.clone());
                let keeping = self.usable_now().is_some();
                tracing::warn!(
                    %error,
                    transient = error.is_transient(),
                    failures = backoff.failures,
                    retry_in = ?wait,
                    keeping_current_token = keeping,
                    "token cache: refresh failed"
                );
                backoff.retry_task = self.schedule_retry(wait);
            }
        }
        result
    }

    /// After a failed refresh: once the back-off has passed, allow the next
    /// background refresh (and in proactive mode, start it).
    fn schedule_retry(self: &Arc<Self>, wait: Duration) -> Option<AbortOnDrop> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let weak = Arc::downgrade(self);
        let task = runtime.spawn(async move {
            tokio::time::sleep(wait).await;
            let Some(shared) = weak.upgrade() else { return };
            if let Some(entry) = shared.current.load_full() {
                entry.refreshing.store(false, Ordering::Release);
            }
            if shared.config.proactive {
                let needs_token = shared.current.load().as_ref().is_none_or(|entry| {
                    entry.clock_state(Instant::now()) != FRESH || shared.state_of(entry) != FRESH
                });
                if needs_token {
                    shared.start_refresh();
                }
            }
        });
        Some(AbortOnDrop(task.abort_handle()))
    }

    fn install(self: &Arc<Self>, token: &AccessToken) {
        let now = Instant::now();
        let config = &self.config;
        let (due_at, usable_until) = match token.expires_at() {
            None => (None, None),
            Some(expires_at) => {
                let lifetime = expires_at.saturating_duration_since(now);
                let leeway = config.expiry_leeway.min(lifetime / 4);
                let margin = config.refresh_margin.min(lifetime / 2);
                let jitter_cap = config.jitter.min(lifetime / 4);
                let jitter = jitter_cap.mul_f64(self.next_random_unit());
                let usable_until = expires_at - leeway;
                let due_at = (expires_at - margin - jitter).min(usable_until);
                (Some(due_at), Some(usable_until))
            }
        };
        let copies = std::iter::once(token.clone())
            .chain((1..copies_per_entry()).map(|_| token.duplicate()))
            .collect();
        let generation = GENERATIONS.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry {
            token: token.clone(),
            copies,
            due_at,
            usable_until,
            generation,
            refreshing: AtomicBool::new(false),
            timer: OnceLock::new(),
        });
        let deadlines = due_at.zip(usable_until);
        let runtime = deadlines.and_then(|_| tokio::runtime::Handle::try_current().ok());
        // A token past its usable deadline is never fresh, not even until its
        // timer fires. (The callers store only live tokens; this keeps the
        // rule where the state is set.)
        let state = if usable_until.is_some_and(|until| until <= now) {
            EXPIRED
        } else if deadlines.is_some() && runtime.is_none() {
            CHECK_CLOCK
        } else {
            FRESH
        };
        // The status first, so that a timer that fires at once finds its
        // generation; until the entry is stored, readers judge the old one by
        // the clock.
        self.status
            .store(pack(generation, state), Ordering::Release);
        if let (Some(runtime), Some((due_at, usable_until))) = (runtime, deadlines) {
            let timer = run_timer(Arc::downgrade(self), generation, due_at, usable_until);
            let task = runtime.spawn(timer);
            let _ = entry.timer.set(AbortOnDrop(task.abort_handle()));
        }
        self.current.store(Some(entry));
    }

    fn report_rejected(&self, token: &AccessToken) {
        let guard = self.current.load();
        if let Some(entry) = guard.as_ref()
            && entry.token == *token
            && self.advance(entry.generation, EXPIRED)
        {
            tracing::info!("token cache: token rejected by a resource server; dropping it");
        }
    }

    fn start_proactive(self: &Arc<Self>) {
        if tokio::runtime::Handle::try_current().is_err() {
            tracing::warn!("token cache: no tokio runtime; the first token is fetched on demand");
            return;
        }
        self.start_refresh();
    }

    fn backoff(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(20);
        let wait = self
            .config
            .backoff_initial
            .saturating_mul(1u32 << exponent)
            .min(self.config.backoff_max);
        // Full waits are trimmed by up to a quarter so that a fleet spreads out.
        wait.mul_f64(1.0 - 0.25 * self.next_random_unit())
    }

    /// A pseudo-random number in `[0, 1)` (xorshift; spreading, not security).
    fn next_random_unit(&self) -> f64 {
        let mut x = self.random.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.random.store(x, Ordering::Relaxed);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    fn lock_backoff(&self) -> MutexGuard<'_, Backoff> {
        lock(&self.backoff)
    }
}

/// How many copies of a token an entry keeps: one per core, at most 16.
fn copies_per_entry() -> usize {
    static COPIES: OnceLock<usize> = OnceLock::new();
    *COPIES.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 16)
    })
}

thread_local! {
    /// Which copy of a token this thread clones.
    static COPY_INDEX: usize = {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    };
}

impl Entry {
    /// This thread's copy of the token.
    fn local_token(&self) -> AccessToken {
        let index = COPY_INDEX.with(|i| *i) % self.copies.len();
        self.copies[index].clone()
    }

    /// The state by the clock, ignoring the timer.
    fn clock_state(&self, now: Instant) -> u8 {
        match (self.due_at, self.usable_until) {
            (_, Some(until)) if now >= until => EXPIRED,
            (Some(due), _) if now >= due => DUE,
            _ => FRESH,
        }
    }
}

/// Advances the state of the entry of `generation` at its deadlines. If the
/// task is dropped before it finishes (its runtime shut down), the entry falls
/// back to reading the clock.
async fn run_timer<S: TokenSource>(
    shared: Weak<Shared<S>>,
    generation: u64,
    due_at: Instant,
    usable_until: Instant,
) {
    struct FallBackToClock<S> {
        shared: Weak<Shared<S>>,
        generation: u64,
        finished: bool,
    }
    impl<S> Drop for FallBackToClock<S> {
        fn drop(&mut self) {
            if !self.finished
                && let Some(shared) = self.shared.upgrade()
            {
                shared.advance(self.generation, CHECK_CLOCK);
            }
        }
    }
    let mut guard = FallBackToClock {
        shared: shared.clone(),
        generation,
        finished: false,
    };

    tokio::time::sleep_until(due_at).await;
    let Some(current) = shared.upgrade() else {
        guard.finished = true;
        return;
    };
    current.advance(generation, DUE);
    if current.config.proactive
        && let Some(entry) = current.current.load_full()
        && entry.generation == generation
    {
        current.refresh_in_background(&entry);
    }
    drop(current);

    tokio::time::sleep_until(usable_until).await;
    if let Some(current) = shared.upgrade() {
        current.advance(generation, EXPIRED);
    }
    guard.finished = true;
}

/// The thread-local front of the hit path: each thread remembers, per cache, the
/// status value under which it last found the token fresh, with a weak handle on
/// its copy of the token. While the cache's status still equals that value (same
/// cache, same entry, still fresh), a hit is one atomic load and one upgrade of
/// the weak handle, without touching the arc-swap.
///
/// The handles are weak, so a thread that stops asking keeps no secret alive:
/// the token is wiped when its entry is replaced or the cache is dropped.
mod recent {
    use std::cell::RefCell;

    use super::{STATE_BITS, WeakToken};
    use crate::token::AccessToken;

    /// Caches a thread can use at once without evicting each other (mostly).
    const SLOTS: usize = 8;

    struct Slot {
        status: u64,
        token: WeakToken,
    }

    thread_local! {
        static RECENT: RefCell<[Slot; SLOTS]> = const {
            RefCell::new([const { Slot { status: 0, token: WeakToken::EMPTY } }; SLOTS])
        };
    }

    #[inline]
    fn index(status: u64) -> usize {
        // The remainder is below `SLOTS`, so the cast is exact.
        ((status >> STATE_BITS) % SLOTS as u64) as usize
    }

    /// The token this thread found fresh under exactly `status`, if any.
    #[inline]
    pub(super) fn get(status: u64) -> Option<AccessToken> {
        RECENT
            .try_with(|slots| {
                let slots = slots.try_borrow().ok()?;
                let slot = &slots[index(status)];
                if slot.status == status {
                    slot.token.upgrade()
                } else {
                    None
                }
            })
            .ok()
            .flatten()
    }

    /// Remembers that `token` is fresh under `status` (a fresh status).
    pub(super) fn remember(status: u64, token: &AccessToken) {
        let _ = RECENT.try_with(|slots| {
            if let Ok(mut slots) = slots.try_borrow_mut() {
                slots[index(status)] = Slot {
                    status,
                    token: token.downgrade(),
                };
            }
        });
    }
}

#[cfg(test)]
mod tests;
