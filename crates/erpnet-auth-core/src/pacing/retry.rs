//! What happens after a `429 Too Many Requests` or `503 Service Unavailable`: the wait the
//! server asks for in `Retry-After` (RFC 9110 §10.2.3), or else an exponential back-off with
//! jitter; and which requests may be sent again at all.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use http::header::{DATE, RETRY_AFTER};
use http::{HeaderMap, Method, StatusCode};

/// The wait a response's `Retry-After` header asks for, or `None` when it has none or one
/// that is neither form:
///
/// - delay-seconds (`Retry-After: 120`); a number too large for a `u64` is `Duration::MAX`;
/// - an HTTP-date (`Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`, and the two obsolete forms
///   RFC 9110 §5.6.7 asks recipients to accept), measured from the response's own `Date`
///   header when it has a valid one, so that the client's clock does not matter, or else
///   from this machine's clock. A date in the past is no wait.
///
/// ```
/// use std::time::Duration;
/// use erpnet_auth_core::pacing::retry_after;
/// use http::HeaderMap;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("retry-after", "7".parse().unwrap());
/// assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
///
/// headers.insert("date", "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
/// headers.insert("retry-after", "Wed, 21 Oct 2015 07:28:30 GMT".parse().unwrap());
/// assert_eq!(retry_after(&headers), Some(Duration::from_secs(30)));
///
/// headers.insert("retry-after", "soon".parse().unwrap());
/// assert_eq!(retry_after(&headers), None);
/// ```
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(
            value
                .parse::<u64>()
                .map_or(Duration::MAX, Duration::from_secs),
        );
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let now = headers
        .get(DATE)
        .and_then(|date| date.to_str().ok())
        .and_then(|date| httpdate::parse_http_date(date.trim()).ok())
        .unwrap_or_else(SystemTime::now);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Whether a status says "too much, come back later": 429 and 503.
pub(crate) fn is_throttled(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
}

/// Whether sending a request twice has the effect of sending it once (RFC 9110 §9.2.2):
/// `GET`, `HEAD`, `OPTIONS`, `TRACE`, `PUT` and `DELETE`.
pub(crate) fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// The retry rules of a pacer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Retries after the first answer; 0 turns retrying off.
    pub(crate) max_retries: u32,
    /// The first back-off, doubled for each retry of the same request.
    pub(crate) backoff_initial: Duration,
    /// No back-off is longer.
    pub(crate) backoff_max: Duration,
    /// A `Retry-After` asking for longer is not waited for: the answer goes back at once.
    pub(crate) max_retry_after: Duration,
    /// Retry `POST` and `PATCH` too.
    pub(crate) non_idempotent: bool,
}

impl RetryPolicy {
    /// Whether a request with this method may be sent again at all.
    pub(crate) fn may_retry(&self, method: &Method) -> bool {
        self.max_retries > 0 && (self.non_idempotent || is_idempotent(method))
    }

    /// The back-off before retry number `retry` (0 for the first) when the server named no
    /// wait: `backoff_initial * 2^retry`, at most `backoff_max`, then a random share of its
    /// second half taken off ("equal jitter"), so that callers throttled together spread out.
    /// `unit` is a random number in `[0, 1)`.
    pub(crate) fn backoff(&self, retry: u32, unit: f64) -> Duration {
        let full = self
            .backoff_initial
            .saturating_mul(1u32 << retry.min(20))
            .min(self.backoff_max);
        full.mul_f64(1.0 - 0.5 * unit.clamp(0.0, 1.0))
    }
}

/// A small generator of random numbers for the jitter (xorshift; spreading, not security).
#[derive(Debug)]
pub(crate) struct Jitter(AtomicU64);

impl Jitter {
    pub(crate) fn new(seed: u64) -> Jitter {
        Jitter(AtomicU64::new(seed | 1))
    }

    /// A number in `[0, 1)`.
    pub(crate) fn next_unit(&self) -> f64 {
        let mut x = self.0.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0.store(x, Ordering::Relaxed);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_str(value).expect("a header value"));
        }
        headers
    }

    #[test]
    fn retry_after_in_seconds() {
        let wait = |value| retry_after(&headers(&[("retry-after", value)]));
        assert_eq!(wait("0"), Some(Duration::ZERO));
        assert_eq!(wait(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(wait("99999999999999999999999"), Some(Duration::MAX));
        for malformed in ["", "-1", "1.5", "5s", "soon", "0x10"] {
            assert_eq!(wait(malformed), None, "{malformed}");
        }
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn retry_after_as_an_http_date_from_the_response_date() {
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        for later in [
            "Sun, 06 Nov 1994 08:50:07 GMT",  // IMF-fixdate
            "Sunday, 06-Nov-94 08:50:07 GMT", // RFC 850, obsolete
            "Sun Nov  6 08:50:07 1994",       // asctime, obsolete
        ] {
            let wait = retry_after(&headers(&[("date", date), ("retry-after", later)]));
            assert_eq!(wait, Some(Duration::from_secs(30)), "{later}");
        }
        let past = retry_after(&headers(&[
            ("date", date),
            ("retry-after", "Sun, 06 Nov 1994 08:00:00 GMT"),
        ]));
        assert_eq!(past, Some(Duration::ZERO));
        let bad_date = retry_after(&headers(&[(
            "retry-after",
            "Sun, 32 Nov 1994 08:49:37 GMT",
        )]));
        assert_eq!(bad_date, None);
    }

    #[test]
    fn retry_after_as_an_http_date_from_the_local_clock() {
        let at = SystemTime::now() + Duration::from_secs(90);
        let wait = retry_after(&headers(&[("retry-after", &httpdate::fmt_http_date(at))]))
            .expect("a wait");
        // HTTP-dates have whole seconds.
        assert!(
            wait > Duration::from_secs(88) && wait <= Duration::from_secs(90),
            "{wait:?}"
        );
    }

    #[test]
    fn only_safe_methods_are_retried_unless_asked() {
        let mut policy = RetryPolicy {
            max_retries: 3,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
            non_idempotent: false,
        };
        for method in [
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ] {
            assert!(policy.may_retry(&method), "{method}");
        }
        assert!(!policy.may_retry(&Method::POST));
        assert!(!policy.may_retry(&Method::PATCH));
        policy.non_idempotent = true;
        assert!(policy.may_retry(&Method::POST));
        policy.max_retries = 0;
        assert!(!policy.may_retry(&Method::GET));
        assert!(is_throttled(StatusCode::TOO_MANY_REQUESTS));
        assert!(is_throttled(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!is_throttled(StatusCode::BAD_GATEWAY));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_with_jitter_in_the_upper_half() {
        let policy = RetryPolicy {
            max_retries: 100,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
            non_idempotent: false,
        };
        let full: Vec<Duration> = (0..8).map(|retry| policy.backoff(retry, 0.0)).collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(
            full,
            [
                ms(500),
                ms(1000),
                ms(2000),
                ms(4000),
                ms(8000),
                ms(16000),
                ms(30000),
                ms(30000)
            ]
        );
        assert_eq!(policy.backoff(u32::MAX, 0.0), Duration::from_secs(30));
        let jitter = Jitter::new(7);
        for retry in 0..40 {
            let wait = policy.backoff(retry, jitter.next_unit());
            let cap = policy.backoff(retry, 0.0);
            assert!(
                wait <= cap && wait >= cap / 2,
                "{retry}: {wait:?} of {cap:?}"
            );
        }
    }
}
