//! [`MemoryState`]: the state of one instance, in its own memory. Bounded: when full of live
//! entries it refuses ([`StateError::Full`]) rather than forgetting a replay entry. A restart
//! loses everything, pending requests and replay entries included: for one instance (the
//! embedded default, tests), not for a party behind a load balancer.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use super::{ReplayCheck, StateError, StateFuture, Tag, VerifierState};

/// Default bound on live entries of each kind.
pub const DEFAULT_CAPACITY: usize = 200_000;

#[derive(Default)]
struct Maps {
    pending: HashMap<Tag, (Vec<u8>, i64)>,
    aliases: HashMap<Tag, (Tag, i64)>,
    results: HashMap<Tag, (Vec<u8>, i64)>,
    index: HashMap<Tag, (Tag, i64)>,
    by_delete_at: BTreeSet<(i64, Tag)>,
    replay: HashMap<Tag, i64>,
    cache: HashMap<Tag, (Vec<u8>, i64)>,
}

/// The in-memory [`VerifierState`].
pub struct MemoryState {
    capacity: usize,
    maps: Mutex<Maps>,
}

impl Default for MemoryState {
    fn default() -> Self {
        MemoryState::new(DEFAULT_CAPACITY)
    }
}

impl MemoryState {
    /// A store holding at most `capacity` live entries of each kind.
    pub fn new(capacity: usize) -> Self {
        MemoryState {
            capacity: capacity.max(1),
            maps: Mutex::new(Maps::default()),
        }
    }

    fn maps(&self) -> MutexGuard<'_, Maps> {
        self.maps.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Makes room for `needed` more entries, dropping expired ones; refuses when still full.
fn room<K, V>(
    map: &mut HashMap<K, V>,
    needed: usize,
    cap: usize,
    live: impl Fn(&V) -> bool,
) -> Result<(), StateError> {
    if map.len() + needed > cap {
        map.retain(|_, v| live(v));
        if map.len() + needed > cap {
            return Err(StateError::Full);
        }
    }
    Ok(())
}

fn ready<'a, T: Send + 'a>(r: Result<T, StateError>) -> StateFuture<'a, T> {
    Box::pin(std::future::ready(r))
}

impl VerifierState for MemoryState {
    fn put_pending<'a>(
        &'a self,
        id: Tag,
        alias: Option<Tag>,
        sealed: Vec<u8>,
        expires_at: i64,
        now: i64,
    ) -> StateFuture<'a, ()> {
        let mut m = self.maps();
        let r = room(&mut m.pending, 1, self.capacity, |(_, exp)| *exp >= now)
            .and_then(|()| room(&mut m.aliases, 1, self.capacity, |(_, exp)| *exp >= now))
            .map(|()| {
                m.pending.insert(id, (sealed, expires_at));
                if let Some(a) = alias {
                    m.aliases.insert(a, (id, expires_at));
                }
            });
        ready(r)
    }

    fn pending(&self, id: Tag, now: i64) -> StateFuture<'_, Option<Vec<u8>>> {
        let m = self.maps();
        ready(Ok(m
            .pending
            .get(&id)
            .filter(|(_, exp)| *exp >= now)
            .map(|(v, _)| v.clone())))
    }

    fn pending_by_alias(&self, alias: Tag, now: i64) -> StateFuture<'_, Option<Tag>> {
        let m = self.maps();
        ready(Ok(m
            .aliases
            .get(&alias)
            .filter(|(_, exp)| *exp >= now)
            .map(|(id, _)| *id)))
    }

    fn finish<'a>(
        &'a self,
        id: Tag,
        sealed_result: Vec<u8>,
        index: &'a [Tag],
        delete_at: i64,
    ) -> StateFuture<'a, bool> {
        let mut m = self.maps();
        if m.results.contains_key(&id) {
            return ready(Ok(false));
        }
        if m.results.len() >= self.capacity {
            return ready(Err(StateError::Full));
        }
        m.pending.remove(&id);
        m.results.insert(id, (sealed_result, delete_at));
        m.by_delete_at.insert((delete_at, id));
        for t in index {
            m.index.insert(*t, (id, delete_at));
        }
        ready(Ok(true))
    }

    fn result(&self, id: Tag, now: i64) -> StateFuture<'_, Option<Vec<u8>>> {
        let m = self.maps();
        ready(Ok(m
            .results
            .get(&id)
            .filter(|(_, at)| *at > now)
            .map(|(v, _)| v.clone())))
    }

    fn result_by_index(&self, index: Tag, now: i64) -> StateFuture<'_, Option<Tag>> {
        let m = self.maps();
        ready(Ok(m
            .index
            .get(&index)
            .filter(|(_, at)| *at > now)
            .map(|(id, _)| *id)))
    }

    fn delete_result<'a>(&'a self, id: Tag, index: &'a [Tag]) -> StateFuture<'a, bool> {
        let mut m = self.maps();
        for t in index {
            m.index.remove(t);
        }
        let found = m.results.remove(&id);
        if let Some((_, at)) = &found {
            let at = *at;
            m.by_delete_at.remove(&(at, id));
        }
        ready(Ok(found.is_some()))
    }

    fn sweep(&self, now: i64) -> StateFuture<'_, u64> {
        let mut m = self.maps();
        let due: Vec<(i64, Tag)> = m
            .by_delete_at
            .range(..=(now, Tag([0xFF; 32])))
            .copied()
            .collect();
        for entry in &due {
            m.by_delete_at.remove(entry);
            m.results.remove(&entry.1);
        }
        m.index.retain(|_, (_, at)| *at > now);
        ready(Ok(due.len() as u64))
    }

    fn check_replay<'a>(
        &'a self,
        keys: &'a [Tag],
        expires_at: i64,
        now: i64,
        _window: i64,
    ) -> StateFuture<'a, ReplayCheck> {
        let mut m = self.maps();
        if keys
            .iter()
            .any(|k| m.replay.get(k).is_some_and(|exp| *exp >= now))
        {
            return ready(Ok(ReplayCheck::Replay));
        }
        if let Err(e) = room(&mut m.replay, keys.len(), self.capacity, |exp| *exp >= now) {
            return ready(Err(e));
        }
        for k in keys {
            m.replay.insert(*k, expires_at);
        }
        ready(Ok(ReplayCheck::Fresh))
    }

    fn cached(&self, name: Tag, now: i64) -> StateFuture<'_, Option<Vec<u8>>> {
        let m = self.maps();
        ready(Ok(m
            .cache
            .get(&name)
            .filter(|(_, exp)| *exp > now)
            .map(|(v, _)| v.clone())))
    }

    fn cache(&self, name: Tag, value: Vec<u8>, expires_at: i64) -> StateFuture<'_, ()> {
        let mut m = self.maps();
        if m.cache.len() >= 1024 && !m.cache.contains_key(&name) {
            // A cache, not a record: dropping old documents only costs a fetch.
            m.cache.clear();
        }
        m.cache.insert(name, (value, expires_at));
        ready(Ok(()))
    }

    fn start(&self, _now: i64, _window: i64) -> StateFuture<'_, ()> {
        ready(Ok(()))
    }

    fn ping(&self) -> StateFuture<'_, ()> {
        ready(Ok(()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_state_passes_the_conformance_suite() {
        super::super::testing::conformance(&MemoryState::default(), None).await;
    }

    #[tokio::test]
    async fn a_full_replay_cache_refuses_instead_of_forgetting() {
        let s = MemoryState::new(2);
        let k = |b: u8| Tag([b; 32]);
        assert_eq!(
            s.check_replay(&[k(1)], 100, 0, 120).await.unwrap(),
            ReplayCheck::Fresh
        );
        assert_eq!(
            s.check_replay(&[k(2)], 100, 0, 120).await.unwrap(),
            ReplayCheck::Fresh
        );
        assert_eq!(
            s.check_replay(&[k(3)], 100, 0, 120).await,
            Err(StateError::Full)
        );
        assert_eq!(
            s.check_replay(&[k(1)], 100, 0, 120).await.unwrap(),
            ReplayCheck::Replay
        );
        // Once the first two are stale there is room again.
        assert_eq!(
            s.check_replay(&[k(3)], 300, 200, 120).await.unwrap(),
            ReplayCheck::Fresh
        );
    }
}
