//! The requests-per-minute budget of a session: a token bucket, kept as the generic cell rate
//! algorithm (GCRA) so that its whole state is one instant.
//!
//! A bucket of `burst` tokens refills at `requests_per_minute - burst` tokens a minute. Any
//! window of 60 seconds then holds at most `burst` (what was in the bucket at its start) plus
//! `requests_per_minute - burst` (what flowed in during it): the budget, however the server
//! counts its minute (fixed windows, sliding ones or a bucket of its own).

use std::time::Duration;

use tokio::time::Instant;

use crate::error::ConfigError;

const MINUTE_NANOS: u64 = 60_000_000_000;

/// How fast a bucket refills, and how many requests it lets through at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate {
    pub(crate) requests_per_minute: u32,
    pub(crate) burst: u32,
    /// The time one token takes to flow in (rounded up, so never faster than the budget).
    interval: Duration,
    /// `(burst - 1) * interval`: how far ahead of the clock the bucket may run.
    tolerance: Duration,
}

impl Rate {
    /// A budget of `requests_per_minute` with bursts of `burst`; `burst` must be at least 1
    /// and less than `requests_per_minute`, as what flows in a minute is the difference.
    pub(crate) fn new(requests_per_minute: u32, burst: u32) -> Result<Rate, ConfigError> {
        if burst == 0 || burst >= requests_per_minute {
            return Err(ConfigError::invalid(format!(
                "pacing: the burst ({burst}) must be at least 1 and below the requests per minute \
                 ({requests_per_minute}), which needs requests_per_minute of at least 2"
            )));
        }
        let refill = u64::from(requests_per_minute - burst);
        let interval = Duration::from_nanos(MINUTE_NANOS.div_ceil(refill));
        Ok(Rate {
            requests_per_minute,
            burst,
            interval,
            tolerance: interval.saturating_mul(burst - 1),
        })
    }

    /// The default burst for a budget: a tenth of it, at most 10, at least 1.
    pub(crate) fn default_burst(requests_per_minute: u32) -> u32 {
        (requests_per_minute / 10).clamp(1, 10)
    }
}

/// One session's bucket: the theoretical arrival time of the next request (GCRA's TAT).
/// `None` is a full bucket that was never used.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Bucket {
    tat: Option<Instant>,
}

impl Bucket {
    /// The first instant at which a token is there, `None` when there is one now.
    pub(crate) fn ready_at(&self, rate: &Rate, now: Instant) -> Option<Instant> {
        let tat = self.tat?;
        let ready = tat.checked_sub(rate.tolerance).unwrap_or(now);
        (ready > now).then_some(ready)
    }

    /// Takes a token at `now` (the caller checked [`ready_at`](Self::ready_at)).
    pub(crate) fn take(&mut self, rate: &Rate, now: Instant) {
        let from = self.tat.map_or(now, |tat| tat.max(now));
        self.tat = Some(from + rate.interval);
    }

    /// Whether the bucket is full again at `now`, so that forgetting it changes nothing.
    pub(crate) fn is_full(&self, now: Instant) -> bool {
        self.tat.is_none_or(|tat| tat <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many tokens a bucket hands out between `start` and `start + span`, taking each
    /// the moment it is there.
    fn tokens_within(rate: &Rate, start: Instant, span: Duration) -> u32 {
        let mut bucket = Bucket::default();
        let mut now = start;
        let mut taken = 0;
        while now <= start + span {
            match bucket.ready_at(rate, now) {
                None => {
                    bucket.take(rate, now);
                    taken += 1;
                }
                Some(at) => now = at,
            }
        }
        taken
    }

    #[test]
    fn any_minute_holds_at_most_the_budget() {
        for (rpm, burst) in [(600, 10), (600, 1), (60, 6), (2, 1), (1000, 999)] {
            let rate = Rate::new(rpm, burst).expect("valid");
            let start = Instant::now();
            // The refill interval is rounded up to the nanosecond, so a minute may hold one
            // less than the budget, never one more.
            let minute = tokens_within(&rate, start, Duration::from_secs(60));
            assert!(
                (rpm - 1..=rpm).contains(&minute),
                "{rpm}/min with bursts of {burst}: {minute} in the closed minute from a full bucket"
            );
            assert_eq!(tokens_within(&rate, start, Duration::ZERO), burst);
        }
    }

    #[test]
    fn refills_at_the_rest_of_the_budget() {
        let rate = Rate::new(600, 10).expect("valid");
        let now = Instant::now();
        let mut bucket = Bucket::default();
        assert!(bucket.is_full(now));
        for _ in 0..10 {
            assert_eq!(bucket.ready_at(&rate, now), None);
            bucket.take(&rate, now);
        }
        let next = bucket.ready_at(&rate, now).expect("empty");
        // 590 tokens a minute: one every 101.69 ms (rounded up to the nanosecond).
        assert_eq!(next - now, Duration::from_nanos(101_694_916));
        assert!(!bucket.is_full(now));
        assert!(bucket.is_full(now + Duration::from_nanos(101_694_916 * 10)));
    }

    #[test]
    fn refuses_a_burst_that_leaves_nothing_to_refill() {
        assert!(Rate::new(10, 10).is_err());
        assert!(Rate::new(10, 0).is_err());
        assert!(Rate::new(1, Rate::default_burst(1)).is_err());
        assert_eq!(Rate::default_burst(600), 10);
        assert_eq!(Rate::default_burst(30), 3);
        assert_eq!(Rate::default_burst(5), 1);
    }
}
