//! What one replica remembers about its sign-ins' refreshes: the refresh in flight per
//! sign-in (the core's keyed single flight: every request that needs it waits for that one),
//! and refreshed sign-ins whose save to the store has not succeeded yet (this replica serves
//! them meanwhile).

use std::collections::HashMap;
use std::sync::Mutex;

use erpnet_auth_core::Error;
use erpnet_auth_core::sync::{KeyedSingleFlight, lock};

use crate::record::SignInRecord;

pub(crate) struct Refresher {
    /// The refreshes in flight, by sign-in key.
    pub(crate) flights: KeyedSingleFlight<String, Result<SignInRecord, Error>>,
    unsaved: Mutex<HashMap<String, SignInRecord>>,
}

impl Default for Refresher {
    fn default() -> Self {
        Refresher {
            flights: KeyedSingleFlight::new(),
            unsaved: Mutex::default(),
        }
    }
}

impl Refresher {
    pub(crate) fn unsaved(&self, key: &str) -> Option<SignInRecord> {
        lock(&self.unsaved).get(key).cloned()
    }

    pub(crate) fn keep_unsaved(&self, key: &str, record: SignInRecord) {
        lock(&self.unsaved).insert(key.to_owned(), record);
    }

    /// Forgets an unsaved sign-in: saved at last, or ended.
    pub(crate) fn forget(&self, key: &str) {
        lock(&self.unsaved).remove(key);
    }
}
