//! The one way this crate takes a `std::sync::Mutex`.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, also when an earlier holder panicked: every mutex here guards
/// data that each critical section leaves consistent (counters, small maps,
/// single-flight markers), so a poisoned lock is still safe to use, and
/// refusing it would turn one panic into every later request failing.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
