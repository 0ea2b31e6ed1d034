//! [`RedisState`]: the state several instances share, in Redis (the `redis` crate, async, one
//! multiplexed connection that reconnects by itself). Each value carries its own expiry time
//! (8 bytes, big-endian) before the sealed bytes, so reads are judged by the service's clock;
//! Redis' own `EXAT` expiry is set too. Every step that must be atomic is one Lua script:
//! recording a result once, the replay check-and-set over all keys of a QR, a sweep.
//!
//! A Redis that restarts empty (no persistence) loses the replay cache: the marker key is gone
//! too, which the replay script notices and answers [`ReplayCheck::Incomplete`] for one QR
//! validity, so a QR shown before the restart cannot be shown again after it.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};

use super::{ReplayCheck, StateError, StateFuture, Tag, VerifierState};

/// The Redis-backed [`VerifierState`].
#[derive(Clone)]
pub struct RedisState {
    conn: ConnectionManager,
    prefix: String,
    finish: Script,
    delete: Script,
    sweep: Script,
    replay: Script,
}

const FINISH: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[2], KEYS[1])
redis.call('DEL', KEYS[2])
for i = 4, #KEYS do
  redis.call('SET', KEYS[i], ARGV[3], 'EXAT', ARGV[2])
  redis.call('ZADD', KEYS[3], ARGV[2], KEYS[i])
end
return 1
";

const DELETE: &str = r"
local n = redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], KEYS[2])
for i = 3, #KEYS do
  redis.call('DEL', KEYS[i])
  redis.call('ZREM', KEYS[1], KEYS[i])
end
return n
";

const SWEEP: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local n = 0
for _, k in ipairs(due) do
  redis.call('DEL', k)
  redis.call('ZREM', KEYS[1], k)
  if string.sub(k, 1, #ARGV[2]) == ARGV[2] then n = n + 1 end
end
return n
";

const REPLAY: &str = r"
local now = tonumber(ARGV[2])
local since = redis.call('GET', KEYS[1])
if not since then
  redis.call('SET', KEYS[1], ARGV[2])
  return {2, now + tonumber(ARGV[3])}
end
local complete_at = tonumber(since) + tonumber(ARGV[3])
if now < complete_at then return {2, complete_at} end
for i = 2, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v and tonumber(v) >= now then return {1, 0} end
end
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[1], 'EXAT', ARGV[1]) end
return {0, 0}
";

fn unavailable(e: redis::RedisError) -> StateError {
    // The kind and category only: a URL (with a password) never reaches an error.
    let what = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connection_refusal() || e.is_connection_dropped() || e.is_io_error() {
        "connection lost".to_string()
    } else {
        format!("{:?}", e.kind())
    };
    StateError::Unavailable(format!("Redis: {what}"))
}

fn with_expiry(at: i64, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + value.len());
    v.extend_from_slice(&at.to_be_bytes());
    v.extend_from_slice(value);
    v
}

/// The value if it has not expired by `now` (`strict`: expired at its own time).
fn live(stored: Option<Vec<u8>>, now: i64, strict: bool) -> Option<Vec<u8>> {
    let v = stored?;
    let at = i64::from_be_bytes(v.get(..8)?.try_into().ok()?);
    let alive = if strict { at > now } else { at >= now };
    alive.then(|| v[8..].to_vec())
}

fn tag_from(v: Vec<u8>) -> Option<Tag> {
    let bytes = hex::decode(v).ok()?;
    Some(Tag(bytes.try_into().ok()?))
}

impl RedisState {
    /// Connects to `url` (`redis://host:port/db`). Keys start with `prefix` (one party per
    /// prefix). Fails when Redis cannot be reached within `timeout`.
    pub async fn connect(url: &str, prefix: &str, timeout: Duration) -> Result<Self, StateError> {
        let client = redis::Client::open(url)
            .map_err(|_| StateError::Unavailable("Redis: the URL is not valid".into()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout)
            .set_number_of_retries(1);
        let conn = tokio::time::timeout(
            timeout * 2,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| StateError::Unavailable("Redis: timed out".into()))?
        .map_err(unavailable)?;
        Ok(RedisState {
            conn,
            prefix: prefix.to_string(),
            finish: Script::new(FINISH),
            delete: Script::new(DELETE),
            sweep: Script::new(SWEEP),
            replay: Script::new(REPLAY),
        })
    }

    fn key(&self, kind: &str, t: &Tag) -> String {
        format!("{}{kind}:{}", self.prefix, t.hex())
    }

    async fn get(&self, key: String) -> Result<Option<Vec<u8>>, StateError> {
        let mut c = self.conn.clone();
        c.get(key).await.map_err(unavailable)
    }

    async fn set_exat(&self, key: String, value: Vec<u8>, at: i64) -> Result<(), StateError> {
        let mut c = self.conn.clone();
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("EXAT")
            .arg(at.max(1))
            .query_async::<()>(&mut c)
            .await
            .map_err(unavailable)
    }
}

impl VerifierState for RedisState {
    fn put_pending<'a>(
        &'a self,
        id: Tag,
        alias: Option<Tag>,
        sealed: Vec<u8>,
        expires_at: i64,
        _now: i64,
    ) -> StateFuture<'a, ()> {
        Box::pin(async move {
            self.set_exat(
                self.key("p", &id),
                with_expiry(expires_at, &sealed),
                expires_at,
            )
            .await?;
            if let Some(a) = alias {
                let v = with_expiry(expires_at, id.hex().as_bytes());
                self.set_exat(self.key("a", &a), v, expires_at).await?;
            }
            Ok(())
        })
    }

    fn pending(&self, id: Tag, now: i64) -> StateFuture<'_, Option<Vec<u8>>> {
        Box::pin(async move { Ok(live(self.get(self.key("p", &id)).await?, now, false)) })
    }

    fn pending_by_alias(&self, alias: Tag, now: i64) -> StateFuture<'_, Option<Tag>> {
        Box::pin(async move {
            Ok(live(self.get(self.key("a", &alias)).await?, now, false).and_then(tag_from))
        })
    }

    fn finish<'a>(
        &'a self,
        id: Tag,
        sealed_result: Vec<u8>,
        index: &'a [Tag],
        delete_at: i64,
    ) -> StateFuture<'a, bool> {
        Box::pin(async move {
            let mut inv = self.finish.prepare_invoke();
            inv.key(self.key("r", &id))
                .key(self.key("p", &id))
                .key(format!("{}z", self.prefix));
            for t in index {
                inv.key(self.key("i", t));
            }
            inv.arg(with_expiry(delete_at, &sealed_result))
                .arg(delete_at.max(1))
                .arg(with_expiry(delete_at, id.hex().as_bytes()));
            let mut c = self.conn.clone();
            let n: i64 = inv.invoke_async(&mut c).await.map_err(unavailable)?;
            Ok(n == 1)
        })
    }

    fn result(&self, id: Tag, now: i64) -> StateFuture<'_, Option<Vec<u8>>> {
        Box::pin(async move { Ok(live(self.get(self.key("r", &id)).await?, now, true)) })
    }

    fn result_by_index(&self, index: Tag, now: i64) -> StateFuture<'_, Option<Tag>> {
        Box::pin(async move {
            Ok(live(self.get(self.key("i", &index)).await?, now, true).and_then(tag_from))
        })
    }

    fn delete_result<'a>(&'a self, id: Tag, index: &'a [Tag]) -> StateFuture<'a, bool> {
        Box::pin(async move {
            let mut inv = self.delete.prepare_invoke();
            inv.key(format!("{}z", self.prefix)).key(self.key("r", &id));
            for t in index {
                inv.key(self.key("i", t));
            }
            let mut c = self.conn.clone();
            let n: i64 = inv.invoke_async(&mut c).await.map_err(unavailable)?;
            Ok(n > 0)
        })
    }

    fn sweep(&self, now: i64) -> StateFuture<'_, u64> {
        Box::pin(async move {
            let mut c = self.conn.clone();
            let n: i64 = self
                .sweep
                .key(format!("{}z", self.prefix))
                .arg(now)
                .arg(format!("{}r:", self.prefix))
                .invoke_async(&mut c)
                .await
                .map_err(unavailable)?;
            Ok(n.max(0) as u64)
        })
    }

    fn check_replay<'a>(
        &'a self,
        keys: &'a [Tag],
        expires_at: i64,
        now: i64,
        window: i64,
    ) -> StateFuture<'a, ReplayCheck> {
        Box::pin(async move {
            let mut inv = self.replay.prepare_invoke();
            inv.key(format!("{}q", self.prefix));
            for k in keys {
                inv.key(self.key("q", k));
            }
            inv.arg(expires_at.max(1)).arg(now).arg(window);
            let mut c = self.conn.clone();
            let (code, until): (i64, i64) = inv.invoke_async(&mut c).await.map_err(unavailable)?;
            Ok(match code {
                0 => ReplayCheck::Fresh,
                1 => ReplayCheck::Replay,
                _ => ReplayCheck::Incomplete { until },
            })
        })
    }

    fn cached(&self, name: Tag, now: i64) -> StateFuture<'_, Option<Vec<u8>>> {
        Box::pin(async move { Ok(live(self.get(self.key("c", &name)).await?, now, true)) })
    }

    fn cache(&self, name: Tag, value: Vec<u8>, expires_at: i64) -> StateFuture<'_, ()> {
        Box::pin(async move {
            self.set_exat(
                self.key("c", &name),
                with_expiry(expires_at, &value),
                expires_at,
            )
            .await
        })
    }

    fn start(&self, now: i64, window: i64) -> StateFuture<'_, ()> {
        Box::pin(async move {
            let mut c = self.conn.clone();
            redis::cmd("SET")
                .arg(format!("{}q", self.prefix))
                .arg(now - window)
                .arg("NX")
                .query_async::<()>(&mut c)
                .await
                .map_err(unavailable)
        })
    }

    fn ping(&self) -> StateFuture<'_, ()> {
        Box::pin(async move {
            let mut c = self.conn.clone();
            redis::cmd("PING")
                .query_async::<String>(&mut c)
                .await
                .map(|_| ())
                .map_err(unavailable)
        })
    }
}
