//! Key-set rules on tokio's paused clock, with the fetches counted.

use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use serde_json::json;

use super::*;

/// A JWK for a fresh Ed25519 key.
fn ed25519_jwk(kid: &str) -> serde_json::Value {
    let pair = Ed25519KeyPair::generate().expect("key");
    json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig",
           "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())})
}

/// A key-set body with its `max-age`, or the HTTP status of a failure.
type Served = Result<(String, Option<Duration>), u16>;

/// What the fake provider serves, how long it takes, and how often it was asked.
#[derive(Clone)]
struct Provider {
    body: Arc<Mutex<Served>>,
    delay: Arc<Mutex<Duration>>,
    fetches: Arc<AtomicUsize>,
}

impl Provider {
    fn new(keys: serde_json::Value) -> Self {
        Self {
            body: Arc::new(Mutex::new(Ok((json!({"keys": keys}).to_string(), None)))),
            delay: Arc::new(Mutex::new(Duration::ZERO)),
            fetches: Arc::new(AtomicUsize::new(0)),
        }
    }
    /// Answers each fetch after `delay` (on the tokio clock).
    fn slow(&self, delay: Duration) {
        *self.delay.lock().expect("lock") = delay;
    }
    fn serve(&self, keys: serde_json::Value, max_age: Option<Duration>) {
        *self.body.lock().expect("lock") = Ok((json!({"keys": keys}).to_string(), max_age));
    }
    fn serve_raw(&self, body: &str) {
        *self.body.lock().expect("lock") = Ok((body.to_owned(), None));
    }
    fn fail(&self, status: u16) {
        *self.body.lock().expect("lock") = Err(status);
    }
    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
    /// A cache of this provider's keys without the background refresh.
    fn lazy_cache(&self) -> JwksCache {
        self.cache()
            .background_refresh(false)
            .build()
            .expect("cache")
    }
    fn cache(&self) -> JwksCacheBuilder {
        let me = self.clone();
        JwksCache::fake(move || {
            me.fetches.fetch_add(1, Ordering::SeqCst);
            let delay = *me.delay.lock().expect("lock");
            let answer = match &*me.body.lock().expect("lock") {
                Ok((body, max_age)) => Ok((body.clone().into_bytes(), *max_age)),
                Err(status) => Err(Error::Status {
                    endpoint: "fake".into(),
                    status: *status,
                    retry_after: None,
                }),
            };
            async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                answer
            }
        })
    }
}

/// Moves the clock with every task run before and after, as a real clock would.
async fn pass(duration: Duration) {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    tokio::time::advance(duration).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

fn kids(cache: &JwksCache) -> Vec<String> {
    cache.keys().into_iter().filter_map(|k| k.kid).collect()
}

#[test]
fn only_signature_keys_of_supported_types_are_kept() {
    let one_kbit_rsa = json!({"kty": "RSA", "kid": "small", "n": URL_SAFE_NO_PAD.encode([0xffu8; 128]), "e": "AQAB"});
    let set = json!({"keys": [
        ed25519_jwk("good"),
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        {"kty": "OKP", "crv": "Ed25519", "kid": "enc", "use": "enc", "x": "AAAA"},
        {"kty": "OKP", "crv": "X25519", "kid": "ecdh", "x": URL_SAFE_NO_PAD.encode([1u8; 32])},
        {"kty": "XYZ", "kid": "alien"},
        {"kty": "EC", "crv": "P-256", "kid": "short", "x": "AAAA", "y": "AAAA"},
        {"kty": "OKP", "crv": "Ed25519", "kid": "hs", "alg": "HS256", "x": URL_SAFE_NO_PAD.encode([1u8; 32])},
        {"kty": "OKP", "crv": "Ed25519", "kid": "wrong-alg", "alg": "RS256", "x": URL_SAFE_NO_PAD.encode([1u8; 32])},
        {"kty": "OKP", "crv": "Ed25519", "kid": "no-verify", "key_ops": ["sign"], "x": URL_SAFE_NO_PAD.encode([1u8; 32])},
        one_kbit_rsa,
        "not an object",
        ed25519_jwk("also-good"),
    ]});
    let cache = JwksCache::from_json(&set.to_string(), DEFAULT_MAX_KEYS).expect("set");
    assert_eq!(kids(&cache), ["good", "also-good"]);
    let info = &cache.keys()[0];
    assert_eq!(
        (info.kty, info.crv, info.bits),
        ("OKP", Some("Ed25519"), 256)
    );
    assert_eq!(info.algorithms, [Algorithm::EdDSA]);

    let many: Vec<_> = (0..10).map(|i| ed25519_jwk(&format!("k{i}"))).collect();
    let capped = JwksCache::from_json(&json!({"keys": many}).to_string(), 3).expect("set");
    assert_eq!(kids(&capped), ["k0", "k1", "k2"]);

    assert!(JwksCache::from_json("{\"keys\": 5}", 8).is_err());
    assert!(JwksCache::from_json("<html>", 8).is_err());
}

#[test]
fn rsa_keys_with_an_empty_or_zero_modulus_are_skipped_not_a_panic() {
    // Each of these once underflowed `n.len() * 8 - 8` (debug) or made
    // `split_at` panic (release), from every path that parses a key set.
    let rsa = |n: &str| json!({"kty": "RSA", "kid": n, "n": n, "e": "AQAB"});
    let zeros = URL_SAFE_NO_PAD.encode([0u8; 300]);
    let set = json!({"keys": [
        rsa(""),
        rsa("AA"),
        rsa("AAAA"),
        rsa(&zeros),
        {"kty": "RSA", "kid": "no-e", "n": URL_SAFE_NO_PAD.encode([0xffu8; 256]), "e": ""},
        ed25519_jwk("good"),
    ]});
    let cache = JwksCache::from_json(&set.to_string(), DEFAULT_MAX_KEYS).expect("set");
    assert_eq!(kids(&cache), ["good"]);
    for n in ["", "AA", zeros.as_str()] {
        let error = parse_key(rsa(n)).err().expect("refused");
        assert_eq!(error, "RSA key shorter than 2048 bits", "n = {n:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn unknown_key_ids_refetch_at_most_once_per_cooldown() {
    let provider = Provider::new(json!([ed25519_jwk("a")]));
    let cache = provider.lazy_cache();

    // 100 concurrent callers with no keys loaded: one fetch.
    let callers: Vec<_> = (0..100)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.refresh_for_unknown_key(0).await })
        })
        .collect();
    for caller in callers {
        caller.await.expect("task").expect("fetched");
    }
    assert_eq!(provider.fetches(), 1);
    assert_eq!(kids(&cache), ["a"]);

    // A flood of unknown key ids: one refetch, then none within the cooldown.
    let seen = cache.generation();
    for _ in 0..10_000 {
        cache.refresh_for_unknown_key(seen).await.expect("no fetch");
    }
    assert_eq!(provider.fetches(), 2);
    tokio::time::advance(DEFAULT_JWKS_COOLDOWN - Duration::from_secs(1)).await;
    for _ in 0..10_000 {
        cache.refresh_for_unknown_key(seen).await.expect("no fetch");
    }
    assert_eq!(provider.fetches(), 2);

    // After the cooldown, one more fetch picks up a rotated key.
    provider.serve(json!([ed25519_jwk("a"), ed25519_jwk("b")]), None);
    tokio::time::advance(Duration::from_secs(1)).await;
    for _ in 0..100 {
        cache.refresh_for_unknown_key(seen).await.expect("fetch");
    }
    assert_eq!(provider.fetches(), 3);
    assert_eq!(kids(&cache), ["a", "b"]);
    assert_ne!(cache.generation(), seen);
}

/// A cache of `a` whose provider now publishes `a` and `b`, slowly; and the
/// generation a token signed with `b` was checked against.
async fn rotated_slowly(provider: &Provider, delay: Duration) -> (JwksCache, u64) {
    let cache = provider.lazy_cache();
    cache.refresh().await.expect("first fetch");
    provider.serve(json!([ed25519_jwk("a"), ed25519_jwk("b")]), None);
    provider.slow(delay);
    let seen = cache.generation();
    (cache, seen)
}

#[tokio::test(start_paused = true)]
async fn a_refetch_whose_caller_is_dropped_still_ends_and_arms_the_cooldown_only_then() {
    let provider = Provider::new(json!([ed25519_jwk("a")]));
    let (cache, seen) = rotated_slowly(&provider, Duration::from_secs(10)).await;

    // A token signed with the new key `b`; its request is dropped after 1 s
    // (a client hung up, a time-out layer fired) while the key set is on its way.
    let dropped = tokio::time::timeout(Duration::from_secs(1), cache.refresh_for_unknown_key(seen));
    assert!(dropped.await.is_err());
    assert_eq!(provider.fetches(), 2);
    assert!(
        cache.inner.flight.is_running(),
        "the refetch goes on without its caller"
    );
    assert!(
        lock(&cache.inner.state).last_unknown_kid_fetch.is_none(),
        "a refetch that has not ended arms no cooldown"
    );

    // The next token with `b` joins that refetch and finds its key.
    cache
        .refresh_for_unknown_key(seen)
        .await
        .expect("the refetch ends");
    assert_eq!(kids(&cache), ["a", "b"]);
    assert_eq!(provider.fetches(), 2, "joined, not fetched again");
    assert!(!cache.inner.flight.is_running(), "nothing left in flight");
    assert!(lock(&cache.inner.state).last_unknown_kid_fetch.is_some());
}

#[test]
fn a_refetch_dropped_with_its_runtime_arms_no_cooldown() {
    let paused_runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime")
    };
    let provider = Provider::new(json!([ed25519_jwk("a")]));
    let first = paused_runtime();
    let (cache, seen) = first.block_on(async {
        let (cache, seen) = rotated_slowly(&provider, Duration::from_secs(10)).await;
        let dropped =
            tokio::time::timeout(Duration::from_secs(1), cache.refresh_for_unknown_key(seen));
        assert!(dropped.await.is_err());
        (cache, seen)
    });
    // The runtime shuts down with the refetch half-way: it never ends.
    drop(first);
    assert_eq!(provider.fetches(), 2);
    assert!(!cache.inner.flight.is_running(), "the dropped refetch left");
    assert!(lock(&cache.inner.state).last_unknown_kid_fetch.is_none());

    // So the next token with `b` refetches at once instead of getting a 401
    // for the length of the cooldown.
    provider.slow(Duration::ZERO);
    paused_runtime().block_on(async {
        cache
            .refresh_for_unknown_key(seen)
            .await
            .expect("refetched");
    });
    assert_eq!(kids(&cache), ["a", "b"]);
    assert_eq!(provider.fetches(), 3);
}

#[tokio::test(start_paused = true)]
async fn last_known_good_keys_survive_failures_and_garbage() {
    let provider = Provider::new(json!([ed25519_jwk("a")]));
    let cache = provider.lazy_cache();
    cache.refresh().await.expect("first fetch");
    let generation = cache.generation();

    provider.fail(503);
    assert!(cache.refresh().await.is_err());
    provider.serve_raw("{\"keys\": [tru");
    assert!(cache.refresh().await.is_err());
    provider.serve(json!([]), None);
    assert!(cache.refresh().await.is_ok());
    provider.serve(json!([{"kty": "oct", "k": "c2VjcmV0"}]), None);
    assert!(cache.refresh().await.is_ok());
    assert_eq!(
        kids(&cache),
        ["a"],
        "an empty or unusable set never replaces usable keys"
    );
    assert_eq!(cache.generation(), generation);
    assert_eq!(provider.fetches(), 5);
}

#[tokio::test(start_paused = true)]
async fn the_generation_changes_only_when_the_keys_do() {
    let a = ed25519_jwk("a");
    let provider = Provider::new(json!([a.clone()]));
    let cache = provider.lazy_cache();
    cache.refresh().await.expect("fetch");
    let first = cache.generation();
    cache.refresh().await.expect("fetch");
    assert_eq!(cache.generation(), first, "same keys, same generation");
    provider.serve(json!([a, ed25519_jwk("b")]), None);
    cache.refresh().await.expect("fetch");
    assert_eq!(cache.generation(), first + 1);
}

#[tokio::test(start_paused = true)]
async fn the_background_refresh_follows_max_age_and_ends_with_the_cache() {
    let provider = Provider::new(json!([ed25519_jwk("a")]));
    let cache = provider.cache().build().expect("cache");
    let _ = cache.current(); // first use starts the background task
    pass(DEFAULT_JWKS_REFRESH + Duration::from_millis(1)).await;
    assert_eq!(provider.fetches(), 1, "refreshed after the default period");

    // The provider asks for max-age=120 s, then for an absurd 1 s (raised to 60 s).
    provider.serve(json!([ed25519_jwk("a")]), Some(Duration::from_secs(120)));
    pass(DEFAULT_JWKS_REFRESH).await;
    assert_eq!(provider.fetches(), 2);
    provider.serve(json!([ed25519_jwk("a")]), Some(Duration::from_secs(1)));
    pass(Duration::from_secs(120)).await;
    assert_eq!(provider.fetches(), 3);
    pass(Duration::from_secs(59)).await;
    assert_eq!(provider.fetches(), 3);
    pass(Duration::from_secs(1)).await;
    assert_eq!(provider.fetches(), 4);

    // Dropping the cache ends the task: no further fetch, however long we wait.
    drop(cache);
    tokio::task::yield_now().await;
    pass(Duration::from_secs(24 * 3600)).await;
    assert_eq!(provider.fetches(), 4);
    assert_eq!(
        Arc::strong_count(&provider.fetches),
        1,
        "the fetcher was dropped"
    );
}

#[test]
fn max_age_is_read_from_cache_control() {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("public, max-age=3600, must-revalidate"),
    );
    assert_eq!(max_age(&headers), Some(Duration::from_secs(3600)));
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    assert_eq!(max_age(&headers), None);
}

#[tokio::test(start_paused = true)]
async fn a_retired_key_set_drops_its_keys_and_refreshes_no_more() {
    let provider = Provider::new(json!([ed25519_jwk("a")]));
    let cache = provider.cache().build().expect("cache");
    cache.refresh().await.expect("fetch");
    let _ = cache.current(); // starts the background task
    let generation = cache.generation();
    cache.retire();
    assert!(cache.keys().is_empty(), "the keys are dropped");
    assert_ne!(
        cache.generation(),
        generation,
        "results dated to them no longer count"
    );
    // Still referenced (by remembered results), yet no fetch however long we wait.
    let _ = cache.current();
    pass(Duration::from_secs(24 * 3600)).await;
    assert_eq!(provider.fetches(), 1);
}
