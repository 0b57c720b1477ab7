use std::{collections::HashMap, sync::Arc, time::Duration};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{NonceEntry, NonceStatus, NonceStore};
use crate::clock::unix_now;
use crate::{StoreError, StoreFuture};

// Atomically: make sure the store's memory is intact, then record the nonce.
//
// KEYS[1] the nonce, KEYS[2] the epoch marker.
// ARGV[1] how many seconds to keep the nonce (computed from the app's clock,
//         not Redis's), ARGV[2] the request's signed_at, ARGV[3] its
//         valid_from, ARGV[4] now (the app's clock), ARGV[5] its request_id.
//
// The epoch marker, "<unix seconds> <how it began>", records since when this
// Redis has remembered nonces:
// - "<t> connect": written when a store connected and found no marker (a
//   fresh Redis, as far as anyone can tell). Requests signed at or before t
//   are refused; later ones pass. (A bare "<t>" reads the same way.)
// - "<t> lost": written here, when a store that was already running finds the
//   marker gone: the data was lost (a restart without persistence, a failover
//   to an empty replica) at about t. Every request that could have been
//   accepted before then, that is whose valid_from is at or before t, is
//   refused (-1): future-dated ones too, whose Time may be after the loss.
//   This refuses all requests for about max_clock_skew seconds after a loss.
//
// The nonce's value is the request_id of the request that recorded it: the
// same request calling verify() again (after a cancelled call whose SET
// landed) finds its own id and is Fresh (1); anyone else is a replay (0).
const RECORD: &str = r"
local marker = redis.call('GET', KEYS[2])
if not marker then
  marker = ARGV[4] .. ' lost'
  redis.call('SET', KEYS[2], marker)
end
local since = tonumber(string.match(marker, '^%d+'))
if not since then
  return -2
end
if string.find(marker, ' lost', 1, true) then
  if tonumber(ARGV[3]) <= since then
    return -1
  end
elseif tonumber(ARGV[2]) <= since then
  return -1
end
local recorded = redis.call('GET', KEYS[1])
if recorded then
  if recorded == ARGV[5] then
    return 1
  end
  return 0
end
redis.call('SET', KEYS[1], ARGV[5], 'EX', ARGV[1])
return 1
";

/// A nonce store in Redis, for several instances behind a load balancer:
/// a request accepted by one instance is a replay to all the others.
///
/// Each nonce is one key, `<prefix>:n:<key id>:<nonce>`, written only if
/// absent and with an expiry relative to the application's clock (Redis's
/// clock does not matter), so Redis forgets it on its own once the request
/// can no longer pass the time check. The check and the write are one
/// atomic script.
///
/// Failures fail closed: a Redis that is down, slow past the
/// [`timeout`](Self::timeout) (default 1 s), full, or that lost its data
/// makes `verify()` fail with 503 `replay_store_unavailable`, never "not
/// seen". The connection is re-established on its own after a restart.
///
/// # What Redis must be like
///
/// - **`maxmemory-policy noeviction`** (Redis's default). Under any other
///   policy Redis may evict nonces before they expire when memory runs
///   short, and replays of their requests would pass. [`connect`](Self::connect)
///   reads the policy (`CONFIG GET maxmemory-policy`) and refuses any other
///   one, or a Redis where `CONFIG` is disabled or renamed (as on some
///   managed services), unless told otherwise with
///   [`RedisNonceStoreBuilder::allow_nonce_eviction`]. The policy is read
///   when connecting only. With `noeviction`, a full Redis refuses writes and
///   requests fail closed.
/// - **Persistence, if a restart must not cost a few minutes.** A restart
///   without persistence loses the nonces; the store notices (its epoch
///   marker is gone) and, for about `max_clock_skew` seconds after the
///   loss, refuses every request that could have been accepted before it
///   (clients retry). A restore from an older snapshot is not noticed: run
///   Redis with `appendonly yes` if that matters to you. An empty Redis
///   found when connecting is taken as fresh: only requests signed before
///   that moment are refused.
///
/// ```no_run
/// # async fn demo() -> Result<(), tower_hmac::StoreError> {
/// use std::time::Duration;
/// use tower_hmac::{replay::RedisNonceStore, InMemoryKeys, SignatureLayer};
///
/// let nonces = RedisNonceStore::builder("redis://127.0.0.1:6379/")
///     .prefix("billing")
///     .timeout(Duration::from_millis(200))
///     .connect()
///     .await?;
/// let layer = SignatureLayer::new(InMemoryKeys::new()).nonce_store(nonces);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisNonceStore {
    connection: ConnectionManager,
    prefix: Arc<str>,
    timeout: Duration,
}

/// Settings for [`RedisNonceStore`], applied when it connects.
///
/// ```no_run
/// # async fn demo() -> Result<(), tower_hmac::StoreError> {
/// use tower_hmac::replay::RedisNonceStore;
///
/// // A managed Redis where CONFIG is disabled, whose policy was checked to be noeviction.
/// let nonces = RedisNonceStore::builder("rediss://cache.example.internal:6380/")
///     .allow_nonce_eviction()
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use = "a builder does nothing until connect() is called"]
pub struct RedisNonceStoreBuilder {
    url: String,
    prefix: Arc<str>,
    timeout: Duration,
    allow_eviction: bool,
}

impl RedisNonceStore {
    /// The default time allowed for one Redis round trip.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

    /// Connects to `url` (`redis://[:password@]host[:port][/db]`) with the
    /// default settings: prefix `tower-hmac`, a 1 s timeout, and Redis's
    /// `maxmemory-policy` required to be `noeviction`.
    ///
    /// Fails if Redis cannot be reached now, or if its `maxmemory-policy`
    /// is not `noeviction` or cannot be read (see [`builder`](Self::builder)
    /// to change that); later outages are handled by reconnecting.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder(url).connect().await
    }

    /// Settings to connect to `url` with (see [`RedisNonceStoreBuilder`]).
    pub fn builder(url: &str) -> RedisNonceStoreBuilder {
        RedisNonceStoreBuilder {
            url: url.to_owned(),
            prefix: "tower-hmac".into(),
            timeout: Self::DEFAULT_TIMEOUT,
            allow_eviction: false,
        }
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
        let command = redis::cmd("SET")
            .arg(self.epoch_key())
            .arg(format!("{} connect", unix_now().saturating_sub(1)))
            .arg("NX")
            .clone();
        self.query::<Option<String>>(command).await?;
        Ok(())
    }

    /// Refuses an evicting `maxmemory-policy` (or one that cannot be read)
    /// unless `allow` is set, in which case it is only logged.
    async fn check_eviction_policy(&self, allow: bool) -> Result<(), StoreError> {
        let command = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .clone();
        let problem = match self.query::<HashMap<String, String>>(command).await {
            Ok(config) => match config.get("maxmemory-policy").map(String::as_str) {
                Some("noeviction") => return Ok(()),
                Some(policy) => format!(
                    "Redis's maxmemory-policy is {policy}: under memory pressure Redis may \
                     evict nonces before they expire, and replays of their requests would pass"
                ),
                None => "Redis did not report its maxmemory-policy, so it may evict nonces \
                         before they expire"
                    .to_owned(),
            },
            Err(error) => format!(
                "cannot read Redis's maxmemory-policy ({error}; CONFIG may be disabled or \
                 renamed), so Redis may evict nonces before they expire"
            ),
        };
        if allow {
            tracing::warn!(
                "tower-hmac: {problem}; connecting anyway, as allow_nonce_eviction() asks"
            );
            Ok(())
        } else {
            Err(StoreError::new(format!(
                "{problem}. Set `maxmemory-policy noeviction` (a full Redis then fails \
                 requests closed), or, if the policy is known to be safe or the risk is \
                 accepted, connect with RedisNonceStore::builder(url).allow_nonce_eviction()"
            )))
        }
    }

    async fn query<T: redis::FromRedisValue>(&self, command: redis::Cmd) -> Result<T, StoreError> {
        let mut connection = self.connection.clone();
        tokio::time::timeout(self.timeout, command.query_async::<T>(&mut connection))
            .await
            .map_err(|_| StoreError::new("Redis did not answer in time"))?
            .map_err(StoreError::new)
    }

    /// [`NonceStore::insert`] with `now` as the application's clock.
    fn insert_at(
        &self,
        entry: NonceEntry<'_>,
        now: u64,
    ) -> StoreFuture<Result<NonceStatus, StoreError>> {
        let mut connection = self.connection.clone();
        let timeout = self.timeout;
        // Through the end of `expires_at`, by our clock: EX counts from when
        // Redis runs the script, so Redis's clock does not matter.
        let keep_for = entry
            .expires_at
            .saturating_add(1)
            .saturating_sub(now)
            .max(1);
        let command = redis::cmd("EVAL")
            .arg(RECORD)
            .arg(2)
            .arg(format!(
                "{}:n:{}:{}",
                self.prefix, entry.key_id, entry.nonce
            ))
            .arg(self.epoch_key())
            .arg(keep_for)
            .arg(entry.signed_at)
            .arg(entry.valid_from)
            .arg(now)
            .arg(entry.request_id.to_string())
            .clone();
        StoreFuture::new(async move {
            let answer = tokio::time::timeout(timeout, command.query_async::<i64>(&mut connection))
                .await
                .map_err(|_| StoreError::new(format!("Redis did not answer within {timeout:?}")))?
                .map_err(StoreError::new)?;
            match answer {
                1 => Ok(NonceStatus::Fresh),
                0 => Ok(NonceStatus::Replayed),
                -1 => Err(StoreError::new(
                    "Redis lost its nonces; requests that could have been accepted before \
                     the loss cannot be checked",
                )),
                _ => Err(StoreError::new(
                    "the nonce store's epoch marker in Redis holds something unexpected",
                )),
            }
        })
    }
}

impl RedisNonceStoreBuilder {
    /// Namespaces the keys (default `tower-hmac`), to share one Redis
    /// between services. Instances that must see each other's nonces use the same prefix.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The longest one nonce check (or one command while connecting) may
    /// take before it fails closed (default
    /// [`RedisNonceStore::DEFAULT_TIMEOUT`], 1 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connects even if Redis's `maxmemory-policy` is not `noeviction`, or
    /// cannot be read (`CONFIG` disabled or renamed); a warning is logged.
    ///
    /// Under an evicting policy (`allkeys-*`, `volatile-*`) Redis may drop
    /// nonces before they expire when memory runs short, and a captured
    /// request could then be replayed within its time window. Use this
    /// only where the policy is known to be `noeviction` although it cannot
    /// be read, or where that risk is accepted.
    pub fn allow_nonce_eviction(mut self) -> Self {
        self.allow_eviction = true;
        self
    }

    /// Connects, checks the eviction policy, and marks the start of this
    /// Redis's memory if it has none yet.
    ///
    /// Fails if Redis cannot be reached now, or if its eviction policy is
    /// refused (see [`allow_nonce_eviction`](Self::allow_nonce_eviction)).
    pub async fn connect(self) -> Result<RedisNonceStore, StoreError> {
        let client = redis::Client::open(self.url.as_str()).map_err(StoreError::new)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        let connection = tokio::time::timeout(
            self.timeout * 3,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| StoreError::new("timed out connecting to Redis"))?
        .map_err(StoreError::new)?;
        let store = RedisNonceStore {
            connection,
            prefix: self.prefix,
            timeout: self.timeout,
        };
        store.check_eviction_policy(self.allow_eviction).await?;
        store.mark_epoch().await?;
        Ok(store)
    }
}

impl NonceStore for RedisNonceStore {
    fn insert(&self, entry: NonceEntry<'_>) -> StoreFuture<Result<NonceStatus, StoreError>> {
        // Its own clock, not `entry.now`: a loss is stamped with it, and an
        // earlier stamp would let requests accepted before the loss pass.
        self.insert_at(entry, unix_now())
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

impl std::fmt::Debug for RedisNonceStoreBuilder {
    // The URL may hold a password: not shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisNonceStoreBuilder")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("allow_nonce_eviction", &self.allow_eviction)
            .finish_non_exhaustive()
    }
}

/// Against a real `redis-server` started by each test (as `tests/redis.rs`
/// does): what the integration tests cannot reach, such as the
/// application's clock.
#[cfg(test)]
mod tests {
    use std::process::{Child, Command, Stdio};

    use super::*;
    use crate::{KeyId, Nonce};

    struct Server {
        child: Child,
        port: u16,
    }

    impl Server {
        async fn start() -> Self {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--dir"])
                .arg(std::env::temp_dir())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server not found: install the Debian package redis-server");
            let server = Self { child, port };
            for _ in 0..500 {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return server;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("redis-server did not start");
        }

        fn url(&self) -> String {
            format!("redis://127.0.0.1:{}/", self.port)
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    async fn run(store: &RedisNonceStore, command: &mut redis::Cmd) -> redis::Value {
        store.query(command.clone()).await.unwrap()
    }

    fn entry<'a>(
        key_id: &'a KeyId,
        nonce: &'a Nonce,
        signed_at: u64,
        request_id: u64,
    ) -> NonceEntry<'a> {
        NonceEntry {
            key_id,
            nonce,
            signed_at,
            expires_at: signed_at + 600,
            valid_from: signed_at - 300,
            request_id,
            now: unix_now(),
        }
    }

    #[tokio::test]
    async fn nonces_expire_by_the_application_clock_not_redis_clock() {
        let server = Server::start().await;
        let store = RedisNonceStore::connect(&server.url()).await.unwrap();
        // The application's clock is an hour behind Redis's (the same as
        // Redis's being an hour ahead): an absolute expiry, in our time,
        // would already be past for Redis.
        let now = unix_now() - 3600;
        run(
            &store,
            redis::cmd("SET")
                .arg(store.epoch_key())
                .arg(format!("{} connect", now - 10)),
        )
        .await;
        let (key_id, nonce): (KeyId, Nonce) = ("7".parse().unwrap(), Nonce::random());
        let first = store
            .insert_at(entry(&key_id, &nonce, now, 1), now)
            .await
            .unwrap();
        assert_eq!(first, NonceStatus::Fresh);
        let replay = store
            .insert_at(entry(&key_id, &nonce, now, 2), now)
            .await
            .unwrap();
        assert_eq!(
            replay,
            NonceStatus::Replayed,
            "the nonce was forgotten at once"
        );
        let ttl = run(
            &store,
            redis::cmd("TTL").arg(format!("tower-hmac:n:7:{nonce}")),
        )
        .await;
        assert!(
            matches!(ttl, redis::Value::Int(599..=601)),
            "kept for {ttl:?} s, not the 601 s our clock asks for"
        );
    }

    #[tokio::test]
    async fn the_same_request_again_is_fresh_another_is_a_replay() {
        let server = Server::start().await;
        let store = RedisNonceStore::connect(&server.url()).await.unwrap();
        let (key_id, nonce): (KeyId, Nonce) = ("7".parse().unwrap(), Nonce::random());
        let now = unix_now();
        for (request_id, expected) in [
            (u64::MAX, NonceStatus::Fresh),
            (u64::MAX, NonceStatus::Fresh),
            (u64::MAX - 1, NonceStatus::Replayed),
            (0, NonceStatus::Replayed),
        ] {
            let status = store
                .insert_at(entry(&key_id, &nonce, now, request_id), now)
                .await
                .unwrap();
            assert_eq!(status, expected, "request id {request_id}");
        }
    }
}
