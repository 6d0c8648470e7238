//! Redis (feature `redis`), for apps that run several replicas: sessions through
//! tower-sessions-redis-store, sign-ins and their refresh locks through [`RedisSignInStore`],
//! over one connection pool (fred).

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use fred::prelude::{
    Builder, ClientLike, Config, Expiration, KeysInterface, LuaInterface, Pool, ReconnectPolicy,
    SetOptions, SetsInterface,
};
use secrecy::{ExposeSecret, SecretString};

use crate::record::unix_seconds;
use crate::store::{LockToken, NewSignIn, SignInStore, StoreError};

/// Connections in the pool [`Redis::connect`] opens.
const POOL_SIZE: usize = 4;
/// How long one Redis command may take before it fails (fred waits forever by default).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// Deletes the lock only if it still holds this replica's token.
const UNLOCK: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
/// Extends the lock only if it still holds this replica's token.
const EXTEND: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";

/// A connection pool to the Redis that every replica of the app shares; give it to
/// [`WebSignInBuilder::redis`](crate::WebSignInBuilder::redis).
#[derive(Clone)]
pub struct Redis {
    pool: Pool,
}

impl Redis {
    /// Connects to `url` (`redis://host:6379/0`, `rediss://…` with the crate's TLS features
    /// of fred, `redis://user:password@host`), reconnecting on its own when the connection
    /// drops; each command fails after 5 s without an answer.
    pub async fn connect(url: &str) -> Result<Redis, StoreError> {
        let config =
            Config::from_url(url).map_err(|e| StoreError(format!("invalid Redis URL: {e}")))?;
        let pool = Builder::from_config(config)
            .with_performance_config(|performance| {
                performance.default_command_timeout = COMMAND_TIMEOUT;
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build_pool(POOL_SIZE)
            .map_err(redis_error)?;
        pool.init().await.map_err(redis_error)?;
        Ok(Redis { pool })
    }

    /// Uses a pool you built and connected (`fred` 10).
    pub fn from_pool(pool: Pool) -> Redis {
        Redis { pool }
    }

    /// The pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis").finish_non_exhaustive()
    }
}

/// Sign-ins and their refresh locks in Redis.
///
/// Keys, besides the sessions' own:
/// - `erpnet-auth:sign-in:{key}`: a sign-in (JSON), expiring with it (`SET … EXAT`); updated
///   after a refresh with `SET … XX KEEPTTL`, so a sign-in removed meanwhile (the user signed
///   out) is never written back;
/// - `erpnet-auth:sid:{sid}` and `erpnet-auth:sub:{sub}`: sets of sign-in keys, for
///   back-channel logout;
/// - `erpnet-auth:lock:{key}`: the refresh lock, `SET … NX PX 30000` with a random token;
///   released and extended by Lua scripts that act only while the lock still holds that token
///   (the single-instance lock of the Redis documentation), so a replica whose lock expired
///   can never release another's.
#[derive(Clone)]
pub struct RedisSignInStore {
    redis: Redis,
}

impl RedisSignInStore {
    /// Sign-ins in this Redis.
    pub fn new(redis: Redis) -> RedisSignInStore {
        RedisSignInStore { redis }
    }

    fn pool(&self) -> &Pool {
        &self.redis.pool
    }
}

impl fmt::Debug for RedisSignInStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSignInStore").finish_non_exhaustive()
    }
}

fn sign_in_key(key: &str) -> String {
    format!("erpnet-auth:sign-in:{key}")
}

fn lock_key(key: &str) -> String {
    format!("erpnet-auth:lock:{key}")
}

fn sid_key(sid: &str) -> String {
    format!("erpnet-auth:sid:{sid}")
}

fn sub_key(sub: &str) -> String {
    format!("erpnet-auth:sub:{sub}")
}

fn redis_error(error: fred::error::Error) -> StoreError {
    StoreError(format!("Redis: {}", error.details()))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl SignInStore for RedisSignInStore {
    async fn insert(&self, key: &str, sign_in: NewSignIn<'_>) -> Result<(), StoreError> {
        let expires_at = unix_seconds(sign_in.expires_at);
        if sign_in.expires_at <= SystemTime::now() {
            return Ok(());
        }
        let () = self
            .pool()
            .set(
                sign_in_key(key),
                sign_in.value.expose_secret(),
                Some(Expiration::EXAT(expires_at)),
                None,
                false,
            )
            .await
            .map_err(redis_error)?;
        let indexes =
            std::iter::once(sub_key(sign_in.subject)).chain(sign_in.session_id.map(sid_key));
        for index in indexes {
            let () = self.pool().sadd(&index, key).await.map_err(redis_error)?;
            let () = self
                .pool()
                .expire_at(&index, expires_at, None)
                .await
                .map_err(redis_error)?;
        }
        Ok(())
    }

    async fn load(&self, key: &str) -> Result<Option<SecretString>, StoreError> {
        let value: Option<String> = self
            .pool()
            .get(sign_in_key(key))
            .await
            .map_err(redis_error)?;
        Ok(value.map(SecretString::from))
    }

    async fn update(&self, key: &str, value: &SecretString) -> Result<bool, StoreError> {
        let written: Option<String> = self
            .pool()
            .set(
                sign_in_key(key),
                value.expose_secret(),
                Some(Expiration::KEEPTTL),
                Some(SetOptions::XX),
                false,
            )
            .await
            .map_err(redis_error)?;
        Ok(written.is_some())
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        let () = self
            .pool()
            .del(sign_in_key(key))
            .await
            .map_err(redis_error)?;
        Ok(())
    }

    async fn find(
        &self,
        subject: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        let index = match (session_id, subject) {
            (Some(sid), _) => sid_key(sid),
            (None, Some(sub)) => sub_key(sub),
            (None, None) => return Ok(Vec::new()),
        };
        self.pool().smembers(index).await.map_err(redis_error)
    }

    async fn lock(&self, key: &str, ttl: Duration) -> Result<Option<LockToken>, StoreError> {
        let token = LockToken::random()?;
        let taken: Option<String> = self
            .pool()
            .set(
                lock_key(key),
                token.as_str(),
                Some(Expiration::PX(millis(ttl))),
                Some(SetOptions::NX),
                false,
            )
            .await
            .map_err(redis_error)?;
        Ok(taken.map(|_| token))
    }

    async fn extend_lock(
        &self,
        key: &str,
        token: &LockToken,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let extended: i64 = self
            .pool()
            .eval(
                EXTEND,
                vec![lock_key(key)],
                vec![token.as_str().to_owned(), millis(ttl).to_string()],
            )
            .await
            .map_err(redis_error)?;
        Ok(extended == 1)
    }

    async fn unlock(&self, key: &str, token: &LockToken) -> Result<(), StoreError> {
        let _released: i64 = self
            .pool()
            .eval(UNLOCK, vec![lock_key(key)], vec![token.as_str().to_owned()])
            .await
            .map_err(redis_error)?;
        Ok(())
    }
}
