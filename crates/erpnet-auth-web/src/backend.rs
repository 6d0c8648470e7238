//! Where sessions and sign-ins live: this process's memory, or Redis (feature `redis`). One
//! choice configures both the tower-sessions store and the [`SignInStore`].

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use tower_sessions::MemoryStore;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use crate::store::{MemorySignInStore, SignInStore};

/// The tower-sessions store behind a [`WebSignIn`](crate::WebSignIn): its memory store by
/// default, its Redis store with `WebSignInBuilder::redis` (feature `redis`).
#[derive(Clone)]
pub struct SessionBackend(Backend);

#[derive(Clone)]
enum Backend {
    Memory(MemoryStore),
    #[cfg(feature = "redis")]
    Redis(tower_sessions_redis_store::RedisStore<fred::prelude::Pool>),
}

impl SessionBackend {
    /// Sessions and sign-ins in this process's memory.
    pub(crate) fn memory() -> (SessionBackend, Arc<dyn SignInStore>) {
        (
            SessionBackend(Backend::Memory(MemoryStore::default())),
            Arc::new(MemorySignInStore::new()),
        )
    }

    /// Sessions and sign-ins in Redis.
    #[cfg(feature = "redis")]
    pub(crate) fn redis(redis: &crate::redis::Redis) -> (SessionBackend, Arc<dyn SignInStore>) {
        (
            SessionBackend(Backend::Redis(tower_sessions_redis_store::RedisStore::new(
                redis.pool().clone(),
            ))),
            Arc::new(crate::redis::RedisSignInStore::new(redis.clone())),
        )
    }
}

impl fmt::Debug for SessionBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Backend::Memory(_) => "SessionBackend::Memory",
            #[cfg(feature = "redis")]
            Backend::Redis(_) => "SessionBackend::Redis",
        })
    }
}

#[async_trait]
impl SessionStore for SessionBackend {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match &self.0 {
            Backend::Memory(store) => store.create(record).await,
            #[cfg(feature = "redis")]
            Backend::Redis(store) => store.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match &self.0 {
            Backend::Memory(store) => store.save(record).await,
            #[cfg(feature = "redis")]
            Backend::Redis(store) => store.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match &self.0 {
            Backend::Memory(store) => store.load(id).await,
            #[cfg(feature = "redis")]
            Backend::Redis(store) => store.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match &self.0 {
            Backend::Memory(store) => store.delete(id).await,
            #[cfg(feature = "redis")]
            Backend::Redis(store) => store.delete(id).await,
        }
    }
}
