//! The Redis state backend against a real redis-server: the same conformance suite as memory,
//! including an empty restart (the replay cache then says "incomplete", never "fresh"), and
//! clear errors while Redis is down.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kluis_verifier_server::state::testing::{conformance, TestRedis};
use kluis_verifier_server::state::{StateError, Tag, VerifierState};
use kluis_verifier_server::RedisState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_state_passes_the_conformance_suite_across_a_restart() {
    let Some(redis) = TestRedis::start() else {
        return;
    };
    let url = redis.url.clone();
    let state = RedisState::connect(&url, "t:", Duration::from_secs(2))
        .await
        .unwrap();
    let redis = Arc::new(Mutex::new(redis));
    let r = Arc::clone(&redis);
    let restart = move || r.lock().unwrap().restart();
    // The manager reconnects after the restart by itself; the first command may see the drop.
    let s = Reconnecting(state);
    conformance(&s, Some(&restart)).await;
}

/// Retries a command once after a dropped connection (what the service's callers see as one
/// 503 at most).
struct Reconnecting(RedisState);

macro_rules! retry {
    ($e:expr) => {{
        match $e.await {
            Err(StateError::Unavailable(_)) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                $e.await
            }
            other => other,
        }
    }};
}

impl VerifierState for Reconnecting {
    fn put_pending<'a>(
        &'a self,
        id: Tag,
        alias: Option<Tag>,
        sealed: Vec<u8>,
        e: i64,
        now: i64,
    ) -> kluis_verifier_server::state::StateFuture<'a, ()> {
        Box::pin(async move { retry!(self.0.put_pending(id, alias, sealed.clone(), e, now)) })
    }
    fn pending(
        &self,
        id: Tag,
        now: i64,
    ) -> kluis_verifier_server::state::StateFuture<'_, Option<Vec<u8>>> {
        Box::pin(async move { retry!(self.0.pending(id, now)) })
    }
    fn pending_by_alias(
        &self,
        a: Tag,
        now: i64,
    ) -> kluis_verifier_server::state::StateFuture<'_, Option<Tag>> {
        Box::pin(async move { retry!(self.0.pending_by_alias(a, now)) })
    }
    fn finish<'a>(
        &'a self,
        id: Tag,
        v: Vec<u8>,
        index: &'a [Tag],
        at: i64,
    ) -> kluis_verifier_server::state::StateFuture<'a, bool> {
        Box::pin(async move { retry!(self.0.finish(id, v.clone(), index, at)) })
    }
    fn result(
        &self,
        id: Tag,
        now: i64,
    ) -> kluis_verifier_server::state::StateFuture<'_, Option<Vec<u8>>> {
        Box::pin(async move { retry!(self.0.result(id, now)) })
    }
    fn result_by_index(
        &self,
        i: Tag,
        now: i64,
    ) -> kluis_verifier_server::state::StateFuture<'_, Option<Tag>> {
        Box::pin(async move { retry!(self.0.result_by_index(i, now)) })
    }
    fn delete_result<'a>(
        &'a self,
        id: Tag,
        index: &'a [Tag],
    ) -> kluis_verifier_server::state::StateFuture<'a, bool> {
        Box::pin(async move { retry!(self.0.delete_result(id, index)) })
    }
    fn sweep(&self, now: i64) -> kluis_verifier_server::state::StateFuture<'_, u64> {
        Box::pin(async move { retry!(self.0.sweep(now)) })
    }
    fn check_replay<'a>(
        &'a self,
        keys: &'a [Tag],
        e: i64,
        now: i64,
        w: i64,
    ) -> kluis_verifier_server::state::StateFuture<'a, kluis_verifier_server::state::ReplayCheck>
    {
        Box::pin(async move { retry!(self.0.check_replay(keys, e, now, w)) })
    }
    fn cached(
        &self,
        n: Tag,
        now: i64,
    ) -> kluis_verifier_server::state::StateFuture<'_, Option<Vec<u8>>> {
        Box::pin(async move { retry!(self.0.cached(n, now)) })
    }
    fn cache(
        &self,
        n: Tag,
        v: Vec<u8>,
        e: i64,
    ) -> kluis_verifier_server::state::StateFuture<'_, ()> {
        Box::pin(async move { retry!(self.0.cache(n, v.clone(), e)) })
    }
    fn start(&self, now: i64, w: i64) -> kluis_verifier_server::state::StateFuture<'_, ()> {
        Box::pin(async move { retry!(self.0.start(now, w)) })
    }
    fn ping(&self) -> kluis_verifier_server::state::StateFuture<'_, ()> {
        Box::pin(async move { retry!(self.0.ping()) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_is_a_clear_error_never_a_fresh_answer() {
    let Some(mut redis) = TestRedis::start() else {
        return;
    };
    let state = RedisState::connect(&redis.url, "down:", Duration::from_millis(500))
        .await
        .unwrap();
    state.start(1_800_000_000, 150).await.unwrap();
    redis.stop();
    let k = [Tag([7; 32])];
    let e = state
        .check_replay(&k, 1_800_000_100, 1_800_000_000, 150)
        .await
        .unwrap_err();
    assert!(matches!(e, StateError::Unavailable(_)), "{e:?}");
    assert!(e.to_string().contains("unavailable"), "{e}");
    assert!(
        !e.to_string().contains("127.0.0.1"),
        "no address in the error: {e}"
    );
    let e = state
        .finish(Tag([1; 32]), vec![1], &[], 1_800_000_100)
        .await
        .unwrap_err();
    assert!(matches!(e, StateError::Unavailable(_)));
    // Not reachable at start: a clear error too.
    let e = RedisState::connect(&redis.url, "x:", Duration::from_millis(300))
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("unavailable"), "{e}");
}
