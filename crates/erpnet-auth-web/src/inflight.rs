//! What one replica remembers about its sign-ins' refreshes: the refresh in flight per
//! sign-in (every request that needs it waits for that one), and refreshed sign-ins whose
//! save to the store has not succeeded yet (this replica serves them meanwhile).

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

use erpnet_auth_core::Error;
use erpnet_auth_core::sync::lock;

use crate::record::SignInRecord;

/// The outcome of a refresh, handed to every request that waited for it.
pub(crate) type Outcome = Option<Result<SignInRecord, Error>>;

#[derive(Default)]
pub(crate) struct Refresher {
    inflight: Mutex<HashMap<String, watch::Receiver<Outcome>>>,
    unsaved: Mutex<HashMap<String, SignInRecord>>,
}

impl Refresher {
    /// The refresh of `key` in flight, or `None` after registering `receiver` as the new one.
    pub(crate) fn join_or_register(
        &self,
        key: &str,
        receiver: &watch::Receiver<Outcome>,
    ) -> Option<watch::Receiver<Outcome>> {
        let mut inflight = lock(&self.inflight);
        if let Some(running) = inflight.get(key) {
            return Some(running.clone());
        }
        inflight.insert(key.to_owned(), receiver.clone());
        None
    }

    /// Forgets the refresh of `key` in flight (it has finished, or its task has gone).
    pub(crate) fn finished(&self, key: &str) {
        lock(&self.inflight).remove(key);
    }

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
