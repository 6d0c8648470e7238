//! [`lock()`]: a mutex lock that outlives a panic.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, also when an earlier holder panicked.
///
/// For mutexes that guard data each critical section leaves consistent
/// (counters, small maps, single-flight markers): a poisoned lock is still safe
/// to use there, and refusing it would turn one panic into every later request
/// failing.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
