//! [`SignInStore`]: where the signed-in users' tokens live, server-side, and the lock that
//! lets exactly one request refresh a session's tokens. [`MemorySignInStore`] serves one
//! process; `RedisSignInStore` (feature `redis`) serves several replicas.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use secrecy::SecretString;
use tokio::time::Instant;

use erpnet_auth_core::sync::lock;

use crate::random::random_token;

/// The store could not be reached or answered nonsense. Always worth trying again: the
/// session is kept, the request fails with 503.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the sign-in store failed: {0}")]
pub struct StoreError(pub String);

impl StoreError {
    /// Always true: a store failure says nothing about the session itself.
    pub fn is_transient(&self) -> bool {
        true
    }
}

/// A new sign-in as [`SignInStore::insert`] receives it.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct NewSignIn<'a> {
    /// The serialized sign-in: the user's tokens and claims. A secret.
    pub value: &'a SecretString,
    /// The user (`sub`), for back-channel logout by user.
    pub subject: &'a str,
    /// The provider's session (`sid`), for back-channel logout by session.
    pub session_id: Option<&'a str>,
    /// When the sign-in ends, whatever happens.
    pub expires_at: SystemTime,
}

impl fmt::Debug for NewSignIn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSignIn")
            .field("subject", &self.subject)
            .field("session_id", &self.session_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Proof of holding a sign-in's refresh lock, for [`SignInStore::unlock`].
#[derive(Clone, PartialEq, Eq)]
pub struct LockToken(String);

impl LockToken {
    /// A fresh random token.
    pub fn random() -> Result<LockToken, StoreError> {
        random_token()
            .map(LockToken)
            .ok_or_else(|| StoreError("the random number generator failed".into()))
    }

    /// The token's text, to store beside the lock.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for LockToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockToken")
    }
}

/// Where sign-ins live: the signed-in users' tokens, keyed by a random key that only the
/// server-side session knows, so no token ever reaches a cookie.
///
/// Every replica of an application must share one store. [`MemorySignInStore`] is for one
/// process; `RedisSignInStore` (feature `redis`) for several. Implement it for another shared
/// store; the lock must be exclusive across every replica, or a rotated refresh token may be
/// used twice (ERP.net then revokes the whole sign-in).
#[async_trait]
pub trait SignInStore: Send + Sync + 'static {
    /// Stores a new sign-in under `key`, findable by its subject and session until it expires.
    async fn insert(&self, key: &str, sign_in: NewSignIn<'_>) -> Result<(), StoreError>;

    /// The sign-in under `key`, or `None` when there is none (signed out, expired).
    async fn load(&self, key: &str) -> Result<Option<SecretString>, StoreError>;

    /// Replaces the value of the sign-in under `key`, keeping its expiry; `false` when it no
    /// longer exists (it must not be created again: the user signed out meanwhile).
    async fn update(&self, key: &str, value: &SecretString) -> Result<bool, StoreError>;

    /// Removes the sign-in under `key`, if any.
    async fn remove(&self, key: &str) -> Result<(), StoreError>;

    /// The keys of the sign-ins of the provider's session `session_id`, or else of the user
    /// `subject` (a back-channel logout token names one or both). May name sign-ins that are
    /// gone already.
    async fn find(
        &self,
        subject: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<Vec<String>, StoreError>;

    /// Takes the refresh lock of the sign-in under `key` for `ttl`, if nobody holds it.
    async fn lock(&self, key: &str, ttl: Duration) -> Result<Option<LockToken>, StoreError>;

    /// Extends a lock still held with `token` to `ttl` from now; `false` if it was lost.
    async fn extend_lock(
        &self,
        key: &str,
        token: &LockToken,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Releases the lock, if `token` still holds it.
    async fn unlock(&self, key: &str, token: &LockToken) -> Result<(), StoreError>;
}

/// Sign-ins in this process's memory: the default, for an application that runs as one
/// process. Expired sign-ins are dropped as new ones arrive.
#[derive(Default)]
pub struct MemorySignInStore {
    state: Mutex<MemoryState>,
}

#[derive(Default)]
struct MemoryState {
    sign_ins: HashMap<String, Entry>,
    locks: HashMap<String, (LockToken, Instant)>,
}

struct Entry {
    value: SecretString,
    subject: String,
    session_id: Option<String>,
    expires_at: SystemTime,
}

impl MemorySignInStore {
    /// An empty store.
    pub fn new() -> MemorySignInStore {
        MemorySignInStore::default()
    }
}

impl fmt::Debug for MemorySignInStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("MemorySignInStore")
            .field("sign_ins", &state.sign_ins.len())
            .finish()
    }
}

#[async_trait]
impl SignInStore for MemorySignInStore {
    async fn insert(&self, key: &str, sign_in: NewSignIn<'_>) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let now = SystemTime::now();
        state.sign_ins.retain(|_, entry| entry.expires_at > now);
        state.sign_ins.insert(
            key.to_owned(),
            Entry {
                value: sign_in.value.clone(),
                subject: sign_in.subject.to_owned(),
                session_id: sign_in.session_id.map(str::to_owned),
                expires_at: sign_in.expires_at,
            },
        );
        Ok(())
    }

    async fn load(&self, key: &str) -> Result<Option<SecretString>, StoreError> {
        let state = lock(&self.state);
        Ok(state
            .sign_ins
            .get(key)
            .filter(|entry| entry.expires_at > SystemTime::now())
            .map(|entry| entry.value.clone()))
    }

    async fn update(&self, key: &str, value: &SecretString) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        Ok(match state.sign_ins.get_mut(key) {
            Some(entry) => {
                entry.value = value.clone();
                true
            }
            None => false,
        })
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        lock(&self.state).sign_ins.remove(key);
        Ok(())
    }

    async fn find(
        &self,
        subject: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        let state = lock(&self.state);
        Ok(state
            .sign_ins
            .iter()
            .filter(|(_, entry)| match (session_id, subject) {
                (Some(sid), _) => entry.session_id.as_deref() == Some(sid),
                (None, Some(sub)) => entry.subject == sub,
                (None, None) => false,
            })
            .map(|(key, _)| key.clone())
            .collect())
    }

    async fn lock(&self, key: &str, ttl: Duration) -> Result<Option<LockToken>, StoreError> {
        let mut state = lock(&self.state);
        let now = Instant::now();
        if state.locks.get(key).is_some_and(|(_, until)| *until > now) {
            return Ok(None);
        }
        let token = LockToken::random()?;
        state
            .locks
            .insert(key.to_owned(), (token.clone(), now + ttl));
        Ok(Some(token))
    }

    async fn extend_lock(
        &self,
        key: &str,
        token: &LockToken,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        let now = Instant::now();
        Ok(match state.locks.get_mut(key) {
            Some((held, until)) if held == token && *until > now => {
                *until = now + ttl;
                true
            }
            _ => false,
        })
    }

    async fn unlock(&self, key: &str, token: &LockToken) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        if state.locks.get(key).is_some_and(|(held, _)| held == token) {
            state.locks.remove(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_sign_in<'a>(value: &'a SecretString, subject: &'a str, sid: &'a str) -> NewSignIn<'a> {
        NewSignIn {
            value,
            subject,
            session_id: Some(sid),
            expires_at: SystemTime::now() + Duration::from_secs(60),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_lock_is_exclusive_until_released_or_expired() {
        let store = MemorySignInStore::new();
        let ttl = Duration::from_secs(30);
        let first = store.lock("k", ttl).await.expect("store").expect("free");
        assert!(store.lock("k", ttl).await.expect("store").is_none());
        assert!(store.lock("other", ttl).await.expect("store").is_some());
        store
            .unlock("k", &LockToken::random().expect("random"))
            .await
            .expect("store");
        assert!(
            store.lock("k", ttl).await.expect("store").is_none(),
            "not ours"
        );
        tokio::time::advance(Duration::from_secs(20)).await;
        assert!(store.extend_lock("k", &first, ttl).await.expect("store"));
        tokio::time::advance(Duration::from_secs(20)).await;
        assert!(
            store.lock("k", ttl).await.expect("store").is_none(),
            "extended"
        );
        tokio::time::advance(Duration::from_secs(11)).await;
        let second = store.lock("k", ttl).await.expect("store").expect("expired");
        assert!(!store.extend_lock("k", &first, ttl).await.expect("store"));
        store.unlock("k", &second).await.expect("store");
        assert!(store.lock("k", ttl).await.expect("store").is_some());
    }

    #[tokio::test]
    async fn sign_ins_are_found_by_session_or_user_and_never_recreated_by_update() {
        let store = MemorySignInStore::new();
        let value = SecretString::from("v");
        store
            .insert("a", new_sign_in(&value, "jdoe", "S1"))
            .await
            .expect("insert");
        store
            .insert("b", new_sign_in(&value, "jdoe", "S2"))
            .await
            .expect("insert");
        store
            .insert("c", new_sign_in(&value, "mary", "S3"))
            .await
            .expect("insert");
        assert_eq!(
            store.find(Some("jdoe"), Some("S2")).await.expect("find"),
            ["b"]
        );
        let mut by_user = store.find(Some("jdoe"), None).await.expect("find");
        by_user.sort();
        assert_eq!(by_user, ["a", "b"]);
        assert!(store.find(None, None).await.expect("find").is_empty());
        store.remove("a").await.expect("remove");
        assert!(store.load("a").await.expect("load").is_none());
        assert!(!store.update("a", &value).await.expect("update"));
        assert!(store.load("a").await.expect("load").is_none());
        assert!(
            store
                .update("b", &SecretString::from("w"))
                .await
                .expect("update")
        );
    }
}
