//! Synchronisation shared by the crates of erpnet-auth: [`SingleFlight`] and
//! [`KeyedSingleFlight`], which coalesce concurrent work (token refreshes, key
//! fetches, introspection) into one run that survives its callers, and
//! [`lock()`], a mutex lock that outlives a panic.

mod lock;
mod single_flight;

pub use lock::lock;
pub use single_flight::{Abandoned, KeyedSingleFlight, SingleFlight, Waiter};
