//! The signed-in user's access token, refreshed with their rotating refresh token: once per
//! sign-in however many requests need it at once, in one replica or in several.
//!
//! Within a replica, the first request that finds the token due starts the refresh on a task
//! of its own (so that a request that goes away cancels nothing) and every other request
//! waits for that task. Across replicas, the task takes the sign-in's lock in the store
//! first (in Redis: `SET key token NX PX 30000`, released by a script that deletes it only if
//! it still holds the same token), then reads the sign-in again: if another replica refreshed
//! it meanwhile (its generation moved on), that result is used and the provider is not asked.
//! A replica that finds the lock taken waits for it and reads the other replica's result.
//! ERP.net revokes the whole grant when a rotated refresh token is used twice, so this is
//! the one rule that must never break.
//!
//! A refreshed sign-in is saved before its access token is handed out. If the save fails,
//! this replica keeps the new tokens, serves them, and keeps trying to save them while it
//! holds on to the lock, so that no replica can use the old refresh token meanwhile. The
//! provider's `invalid_grant` ends the sign-in.

use std::time::Duration;

use secrecy::SecretString;
use tokio::time::Instant;

use erpnet_auth_core::{AccessToken, Error, constant_time_eq};

use crate::config::WebSignIn;
use crate::record::{SignInRecord, unix_now};
use crate::store::{LockToken, StoreError};

/// How long a refresh may hold the lock: longer than one token request may take (15 s by
/// default), so that a replica that dies mid-refresh frees the sign-in after this long.
pub(crate) const LOCK_TTL: Duration = Duration::from_secs(30);
/// How long a replica waits for another one's refresh before it gives up (transient).
const LOCK_WAIT: Duration = Duration::from_secs(40);
/// The pauses between looks at a lock someone else holds.
const LOCK_POLL_FIRST: Duration = Duration::from_millis(20);
const LOCK_POLL_MAX: Duration = Duration::from_millis(250);
/// Attempts to save a refreshed sign-in before the replica keeps it unsaved.
const SAVE_ATTEMPTS: u32 = 3;
/// The pauses of the background saving of an unsaved sign-in.
const PERSIST_PAUSE_FIRST: Duration = Duration::from_millis(250);
const PERSIST_PAUSE_MAX: Duration = Duration::from_secs(5);

/// What a refresh under the lock leads to.
enum Locked {
    /// Done: release the lock.
    Release(Result<SignInRecord, Error>),
    /// Refreshed, but not saved: keep the lock until a background save succeeds.
    Keep(SignInRecord),
}

impl WebSignIn {
    /// The sign-in under `key`: this replica's unsaved newer one, or the store's.
    pub(crate) async fn load_record(&self, key: &str) -> Result<Option<SignInRecord>, StoreError> {
        if let Some(record) = self.inner.refresher.unsaved(key) {
            return Ok(Some(record));
        }
        match self.inner.store.load(key).await? {
            Some(value) => SignInRecord::from_secret(&value).map(Some),
            None => Ok(None),
        }
    }

    /// The access token of the sign-in under `key`, refreshed first when it is due or when
    /// `rejected` (reported by a resource server) is the current one.
    pub(crate) async fn access_token(
        &self,
        key: &str,
        rejected: Option<&AccessToken>,
    ) -> Result<AccessToken, Error> {
        let record = self
            .load_record(key)
            .await
            .map_err(store_error)?
            .ok_or_else(|| self.ended("the sign-in has ended"))?;
        let now = unix_now();
        let rejected = rejected
            .is_some_and(|token| constant_time_eq(token.expose_secret(), &record.access_token));
        if !rejected && !record.is_due(now, self.inner.refresh_margin) {
            return Ok(record.access_token());
        }
        match self.refresh(key, record.generation).await {
            Ok(fresh) => Ok(fresh.access_token()),
            // A failed refresh never replaces a token that still works.
            Err(error) if error.is_transient() && !rejected && !record.is_expired(now) => {
                tracing::warn!(%error, "refresh failed; the current access token is still valid");
                Ok(record.access_token())
            }
            Err(error) => Err(error),
        }
    }

    /// Refreshes the sign-in under `key`, whose generation `seen` was found due: joins the
    /// refresh in flight in this replica, or starts one on a task of its own (a request that
    /// goes away cancels nothing).
    async fn refresh(&self, key: &str, seen: u64) -> Result<SignInRecord, Error> {
        let web = self.clone();
        let owned = key.to_owned();
        self.inner
            .refresher
            .flights
            .run(key.to_owned(), move || async move {
                web.run_refresh(&owned, seen).await
            })
            .await
            .unwrap_or_else(|abandoned| Err(abandoned.into_error("the refresh of the sign-in")))
    }

    /// Takes the sign-in's lock (waiting for another replica's refresh if need be), then
    /// refreshes unless that other replica already did.
    async fn run_refresh(&self, key: &str, seen: u64) -> Result<SignInRecord, Error> {
        let store = &self.inner.store;
        let started = Instant::now();
        let mut pause = LOCK_POLL_FIRST;
        let token = loop {
            if let Some(token) = store.lock(key, LOCK_TTL).await.map_err(store_error)? {
                break token;
            }
            match self.load_record(key).await.map_err(store_error)? {
                None => return Err(self.ended("the sign-in has ended")),
                Some(record) if record.generation != seen => return Ok(record),
                Some(_) => {}
            }
            if started.elapsed() >= LOCK_WAIT {
                return Err(Error::source_failed(
                    "another replica's refresh of this sign-in did not finish in time",
                    true,
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(LOCK_POLL_MAX);
        };
        match self.refresh_locked(key, seen).await {
            Locked::Release(result) => {
                if let Err(error) = store.unlock(key, &token).await {
                    tracing::warn!(%error, "the refresh lock could not be released; it expires by itself");
                }
                result
            }
            Locked::Keep(record) => {
                self.persist_in_background(key.to_owned(), record.clone(), token);
                Ok(record)
            }
        }
    }

    /// The refresh itself, with the lock held.
    async fn refresh_locked(&self, key: &str, seen: u64) -> Locked {
        let record = match self.load_record(key).await {
            Ok(Some(record)) => record,
            Ok(None) => return Locked::Release(Err(self.ended("the sign-in has ended"))),
            Err(error) => return Locked::Release(Err(store_error(error))),
        };
        if record.generation != seen {
            // Another replica refreshed between our look and our lock.
            return Locked::Release(Ok(record));
        }
        let Some(refresh_token) = record.refresh_token.clone() else {
            return Locked::Release(Err(self.ended(
                "the access token expired and there is no refresh token (ask for offline_access)",
            )));
        };
        let grant = match self
            .inner
            .flow
            .refresh_grant(SecretString::from(refresh_token))
            .build()
        {
            Ok(grant) => grant,
            Err(error) => return Locked::Release(Err(error.into())),
        };
        let access = match erpnet_auth_core::TokenSource::token(&grant).await {
            Ok(access) => access,
            Err(error @ Error::SignInAgain { .. }) => {
                tracing::warn!(%error, "the provider refused the refresh token: the sign-in ends");
                self.inner.refresher.forget(key);
                if let Err(error) = self.inner.store.remove(key).await {
                    tracing::warn!(%error, "an ended sign-in could not be removed");
                }
                return Locked::Release(Err(error));
            }
            Err(error) => return Locked::Release(Err(error)),
        };
        let updated = record.refreshed(&access, Some(grant.refresh_token().await));
        tracing::info!(generation = updated.generation, "sign-in refreshed");
        match self.save_refreshed(key, &updated).await {
            Ok(true) => {
                self.inner.refresher.forget(key);
                Locked::Release(Ok(updated))
            }
            // Signed out while the refresh ran: it must not come back.
            Ok(false) => Locked::Release(Err(self.ended("the sign-in has ended"))),
            Err(error) => {
                tracing::error!(%error, "a refreshed sign-in could not be saved; kept in this replica, saving again");
                self.inner.refresher.keep_unsaved(key, updated.clone());
                Locked::Keep(updated)
            }
        }
    }

    async fn save_refreshed(&self, key: &str, record: &SignInRecord) -> Result<bool, StoreError> {
        let value = record.to_secret()?;
        let mut pause = Duration::from_millis(50);
        let mut attempt = 1;
        loop {
            match self.inner.store.update(key, &value).await {
                Ok(saved) => return Ok(saved),
                Err(error) if attempt >= SAVE_ATTEMPTS => return Err(error),
                Err(_) => {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                    attempt += 1;
                }
            }
        }
    }

    /// Saves an unsaved refreshed sign-in until it is saved, ended or expired, holding the
    /// lock all the while so that no other replica refreshes with the old refresh token.
    fn persist_in_background(&self, key: String, record: SignInRecord, token: LockToken) {
        let web = self.clone();
        tokio::spawn(async move {
            let store = &web.inner.store;
            let mut pause = PERSIST_PAUSE_FIRST;
            loop {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(PERSIST_PAUSE_MAX);
                if unix_now() >= record.expires_at || web.inner.refresher.unsaved(&key).is_none() {
                    break;
                }
                let _ = store.extend_lock(&key, &token, LOCK_TTL).await;
                let saved = match record.to_secret() {
                    Ok(value) => store.update(&key, &value).await,
                    Err(error) => Err(error),
                };
                match saved {
                    Ok(saved) => {
                        tracing::info!(saved, "the refreshed sign-in is saved at last");
                        break;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "the refreshed sign-in still cannot be saved")
                    }
                }
            }
            web.inner.refresher.forget(&key);
            let _ = store.unlock(&key, &token).await;
        });
    }

    /// The error of a sign-in that has ended: the user must sign in again.
    pub(crate) fn ended(&self, why: &str) -> Error {
        let mut endpoint = self.inner.flow.discovery().token_endpoint().clone();
        endpoint.set_query(None);
        Error::SignInAgain {
            endpoint: endpoint.to_string(),
            description: Some(why.to_owned()),
        }
    }
}

fn store_error(error: StoreError) -> Error {
    Error::source_failed(error.to_string(), true)
}
