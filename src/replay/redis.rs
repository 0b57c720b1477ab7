use std::{sync::Arc, time::Duration};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{unix_now, NonceEntry, NonceStatus, NonceStore};
use crate::{StoreError, StoreFuture};

// Atomically: make sure the store's memory is intact, then SET NX.
// KEYS[1] the nonce, KEYS[2] the epoch marker; ARGV: expires_at, signed_at, now.
// The epoch marker records since when this Redis has remembered nonces. If it
// is gone, the data was lost (a restart without persistence, a failover to an
// empty replica): requests signed before the loss (or in the same second)
// can no longer be checked, so they are refused (-1), not accepted unchecked.
const RECORD: &str = r"
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  redis.call('SET', KEYS[2], ARGV[3])
  epoch = ARGV[3]
end
if tonumber(ARGV[2]) <= tonumber(epoch) then
  return -1
end
if redis.call('SET', KEYS[1], '1', 'NX', 'EXAT', ARGV[1]) then
  return 1
end
return 0
";

/// A nonce store in Redis, for several instances behind a load balancer:
/// a request accepted by one instance is a replay to all the others.
///
/// Each nonce is one key, `<prefix>:n:<key id>:<nonce>`, set with `NX` and
/// an absolute expiry, so Redis forgets it on its own once the request can
/// no longer pass the time check. The check and the write are one atomic
/// script.
///
/// Failures fail closed: a Redis that is down, slow past the
/// [`timeout`](Self::timeout) (default 1 s), or that lost its data makes
/// `verify()` fail with 503 `replay_store_unavailable`, never "not seen".
/// The connection is re-established on its own after a restart.
///
/// A restart without persistence loses the nonces; the store notices (its
/// epoch marker is gone) and refuses requests signed before that moment,
/// which clients then sign again. A restore from an older snapshot is not
/// noticed: run Redis with `appendonly yes` if that matters to you.
///
/// ```no_run
/// # async fn demo() -> Result<(), tower_hmac::StoreError> {
/// use tower_hmac::{replay::RedisNonceStore, InMemoryKeys, SignatureLayer};
///
/// let nonces = RedisNonceStore::connect("redis://127.0.0.1:6379/").await?;
/// let layer = SignatureLayer::new(InMemoryKeys::new()).nonce_store(nonces);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisNonceStore {
    connection: ConnectionManager,
    prefix: Arc<str>,
    timeout: Duration,
}

impl RedisNonceStore {
    /// The default time allowed for one Redis round trip.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

    /// Connects to `url` (`redis://[:password@]host[:port][/db]`).
    ///
    /// Fails if Redis cannot be reached now; later outages are handled by
    /// reconnecting.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(StoreError::new)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Self::DEFAULT_TIMEOUT))
            .set_response_timeout(Some(Self::DEFAULT_TIMEOUT))
            .set_number_of_retries(1);
        let connection = tokio::time::timeout(
            Self::DEFAULT_TIMEOUT * 3,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| StoreError::new("timed out connecting to Redis"))?
        .map_err(StoreError::new)?;
        let store = Self {
            connection,
            prefix: "tower-hmac".into(),
            timeout: Self::DEFAULT_TIMEOUT,
        };
        store.mark_epoch().await?;
        Ok(store)
    }

    /// Namespaces the keys (default `tower-hmac`), to share one Redis
    /// between services. Instances that must see each other's nonces use the same prefix.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The longest one nonce check may take before it fails closed.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn epoch_key(&self) -> String {
        format!("{}:epoch", self.prefix)
    }

    /// Starts the memory of a fresh Redis now, before any traffic, so the
    /// first requests are not mistaken for ones that predate a data loss.
    async fn mark_epoch(&self) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let command = redis::cmd("SET")
            .arg(self.epoch_key())
            .arg(unix_now().saturating_sub(1))
            .arg("NX")
            .clone();
        tokio::time::timeout(
            self.timeout,
            command.query_async::<Option<String>>(&mut connection),
        )
        .await
        .map_err(|_| StoreError::new("Redis did not answer in time"))?
        .map_err(StoreError::new)?;
        Ok(())
    }
}

impl NonceStore for RedisNonceStore {
    fn insert(&self, entry: NonceEntry<'_>) -> StoreFuture<Result<NonceStatus, StoreError>> {
        let mut connection = self.connection.clone();
        let timeout = self.timeout;
        let command = redis::cmd("EVAL")
            .arg(RECORD)
            .arg(2)
            .arg(format!(
                "{}:n:{}:{}",
                self.prefix, entry.key_id, entry.nonce
            ))
            .arg(self.epoch_key())
            // EXAT removes the key at the start of that second; keep it through `expires_at`.
            .arg(entry.expires_at.saturating_add(1))
            .arg(entry.signed_at)
            .arg(unix_now())
            .clone();
        StoreFuture::new(async move {
            let answer = tokio::time::timeout(timeout, command.query_async::<i64>(&mut connection))
                .await
                .map_err(|_| StoreError::new(format!("Redis did not answer within {timeout:?}")))?
                .map_err(StoreError::new)?;
            match answer {
                1 => Ok(NonceStatus::Fresh),
                0 => Ok(NonceStatus::Replayed),
                _ => Err(StoreError::new(
                    "Redis lost its nonces; requests signed before the loss cannot be checked",
                )),
            }
        })
    }
}

impl std::fmt::Debug for RedisNonceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisNonceStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
