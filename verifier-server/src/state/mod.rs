//! The verifier's shared state behind one trait, so that a party runs several stateless
//! instances over one store: pending requests (single use, expiring), results (deleted when
//! their retention ends), the offline-QR replay cache (atomic check-and-set) and a cache of
//! fetched lists (the scheme's participant list, status lists).
//!
//! The store sees only opaque 32-byte tags (keyed hashes made by the service) and sealed
//! values: a copy of the Redis database holds no state, nonce, claim or key in the clear.
//! Every time is passed in by the caller (the service's clock), so expiry is decided by one
//! clock; Redis expiry is set as well, as a backstop for an instance that stops sweeping.

mod memory;
mod redis;
pub mod testing;

use std::future::Future;
use std::pin::Pin;

pub use self::redis::RedisState;
pub use memory::MemoryState;

/// A boxed future, as the trait is used behind `dyn`.
pub type StateFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StateError>> + Send + 'a>>;

/// An opaque key: a keyed hash of the natural key (the service makes them).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub [u8; 32]);

impl Tag {
    /// Lower-case hex, for stores that key by text.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Debug for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tag({}…)", &self.hex()[..8])
    }
}

/// Why the store could not do what was asked. The service refuses the request (503): it never
/// treats an unavailable store as "not seen before".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The backend cannot be reached or failed (Redis down or restarting).
    #[error("the verifier's state store is unavailable ({0})")]
    Unavailable(String),
    /// The in-memory store is full of live entries.
    #[error("the verifier's state store is full: try again in a minute")]
    Full,
}

/// What the replay cache said about an offline QR's presentations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayCheck {
    /// None of them was seen: all are recorded now.
    Fresh,
    /// At least one was seen before (nothing new recorded).
    Replay,
    /// The cache lost its entries (the store restarted empty) less than one QR validity ago: it
    /// cannot tell a replay from a first showing until `until` (Unix seconds).
    Incomplete {
        /// When the cache is complete again.
        until: i64,
    },
}

/// The verifier's shared state. Implementations: [`MemoryState`] (one instance) and
/// [`RedisState`] (several instances). [`testing::conformance`] is the behaviour both pass.
pub trait VerifierState: Send + Sync {
    /// Keeps a pending request until `expires_at`; `alias` (the tag of its response
    /// encryption key id) finds it too.
    fn put_pending<'a>(
        &'a self,
        id: Tag,
        alias: Option<Tag>,
        sealed: Vec<u8>,
        expires_at: i64,
        now: i64,
    ) -> StateFuture<'a, ()>;

    /// The pending request `id`, unless it expired (by `now`) or was answered.
    fn pending(&self, id: Tag, now: i64) -> StateFuture<'_, Option<Vec<u8>>>;

    /// The request whose alias is `alias`.
    fn pending_by_alias(&self, alias: Tag, now: i64) -> StateFuture<'_, Option<Tag>>;

    /// Records the result of request `id` — once: `false` when a result is already recorded
    /// (the request was answered; nothing changes). The pending request is dropped; the result
    /// and its `index` tags (which [`VerifierState::result_by_index`] resolves) live until
    /// `delete_at`.
    fn finish<'a>(
        &'a self,
        id: Tag,
        sealed_result: Vec<u8>,
        index: &'a [Tag],
        delete_at: i64,
    ) -> StateFuture<'a, bool>;

    /// The result of request `id`, unless deleted.
    fn result(&self, id: Tag, now: i64) -> StateFuture<'_, Option<Vec<u8>>>;

    /// The request whose result carries index tag `index`.
    fn result_by_index(&self, index: Tag, now: i64) -> StateFuture<'_, Option<Tag>>;

    /// Deletes result `id` and its index tags now; `false` when there was none.
    fn delete_result<'a>(&'a self, id: Tag, index: &'a [Tag]) -> StateFuture<'a, bool>;

    /// Deletes every result whose `delete_at` is ≤ `now`; returns how many.
    fn sweep(&self, now: i64) -> StateFuture<'_, u64>;

    /// Atomically: if none of `keys` is recorded, records all until `expires_at`
    /// ([`ReplayCheck::Fresh`]); else records nothing ([`ReplayCheck::Replay`]). A store that
    /// lost its entries answers [`ReplayCheck::Incomplete`] until `window` seconds after it
    /// noticed.
    fn check_replay<'a>(
        &'a self,
        keys: &'a [Tag],
        expires_at: i64,
        now: i64,
        window: i64,
    ) -> StateFuture<'a, ReplayCheck>;

    /// A cached document (participant list, status list), unless expired.
    fn cached(&self, name: Tag, now: i64) -> StateFuture<'_, Option<Vec<u8>>>;

    /// Caches a document until `expires_at`.
    fn cache(&self, name: Tag, value: Vec<u8>, expires_at: i64) -> StateFuture<'_, ()>;

    /// Called once when an instance starts: a store without replay history (new, or emptied
    /// while every instance was down) is taken as complete from `now - window` on. Only a
    /// store that loses its entries while instances run is caught ([`ReplayCheck::Incomplete`]).
    fn start(&self, now: i64, window: i64) -> StateFuture<'_, ()>;

    /// Whether the backend answers (health checks).
    fn ping(&self) -> StateFuture<'_, ()>;
}
