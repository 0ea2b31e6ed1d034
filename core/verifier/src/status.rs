//! The Token Status List (IETF OAuth "Token Status List" draft): fetching, verifying and reading
//! a list, and a verifier's cache of them ([`StatusLists`]).
//!
//! A credential's `status.status_list` names a list (`uri`) and an index (`idx`). The holder
//! publishes the list as a `statuslist+jwt` signed with its issuer key; whoever checks fetches
//! it, verifies it with the keys it trusts for the credential's issuer, checks `sub` equals the
//! URI and the token is not expired, inflates `lst` (zlib, capped) and reads the entry: 0 valid,
//! 1 revoked (invalid), 2 suspended. The wallet's own check of its stored credentials is
//! kluis-core's.
//!
//! Several instances of one verifier share their lists through a [`ListStore`] (the verifier
//! service puts them in its shared state): one fetch per list and `ttl` for all of them.

use std::collections::HashMap;
use std::future::Future;
use std::io::Read as _;
use std::pin::Pin;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use kluis_sdjwt::IssuerKeys;
use serde::Serialize;
use serde_json::Value;

use crate::http::{checked_url, Http, HttpPolicy};
use crate::jws::{header as jws_header, verify as jws_verify};
use crate::{now_unix, Error};

/// `typ` of a status list token.
pub const STATUS_LIST_TYP: &str = "statuslist+jwt";

/// Largest inflated status list accepted (the draft recommends lists of at least 16 KB; this
/// bounds a zip bomb).
const MAX_INFLATED: u64 = 8 * 1024 * 1024;

/// A decoded status list.
pub struct StatusList {
    bits: u8,
    bytes: Vec<u8>,
}

impl StatusList {
    /// Decodes `lst` (base64url of zlib) with `bits` per entry (1, 2, 4 or 8).
    pub fn decode(bits: u8, lst: &str) -> Result<StatusList, String> {
        if !matches!(bits, 1 | 2 | 4 | 8) {
            return Err(format!("unsupported bits {bits}"));
        }
        let compressed = URL_SAFE_NO_PAD
            .decode(lst.trim_end_matches('='))
            .map_err(|_| "lst is not base64url".to_string())?;
        let mut bytes = Vec::new();
        flate2::read::ZlibDecoder::new(&compressed[..])
            .take(MAX_INFLATED + 1)
            .read_to_end(&mut bytes)
            .map_err(|_| "lst is not zlib data".to_string())?;
        if bytes.len() as u64 > MAX_INFLATED {
            return Err("the status list is too large".into());
        }
        Ok(StatusList { bits, bytes })
    }

    /// The status value at `idx`, `None` if beyond the list.
    pub fn get(&self, idx: usize) -> Option<u8> {
        let per_byte = 8 / self.bits as usize;
        let byte = *self.bytes.get(idx / per_byte)?;
        let shift = (idx % per_byte) * self.bits as usize;
        let mask = ((1u16 << self.bits) - 1) as u8;
        Some((byte >> shift) & mask)
    }
}

/// Fetches one status list token (text, not yet verified).
async fn fetch_token(http: &Http, uri: &str) -> Result<String, String> {
    let body = get_status_list_token(http, uri).await?;
    let jwt = String::from_utf8(body).map_err(|_| "status list is not text".to_string())?;
    Ok(jwt.trim().to_string())
}

/// A status list token whose signature, `sub` and `exp` checked out.
struct VerifiedList {
    list: StatusList,
    /// `iat`: when the issuer made the list (0 when absent).
    issued_at: i64,
    exp: Option<i64>,
    ttl: Option<i64>,
}

/// Verifies a status list token for `uri` with `keys` (the issuer's trusted keys) at `now`.
fn verify_token(
    jwt: &str,
    uri: &str,
    iss: &str,
    keys: &dyn IssuerKeys,
    now: i64,
) -> Result<VerifiedList, String> {
    let header = jws_header(jwt).ok_or("status list is not a JWT")?;
    if header.get("typ").and_then(Value::as_str) != Some(STATUS_LIST_TYP) {
        return Err("status list has the wrong typ".into());
    }
    let kid = header.get("kid").and_then(Value::as_str);
    let v = jws_verify(jwt, &keys.keys_for(iss, kid))
        .ok_or("the status list signature does not verify with the issuer's key")?;
    let p = v.payload;
    if p.get("sub").and_then(Value::as_str) != Some(uri) {
        return Err("the status list's sub is not its URI".into());
    }
    let exp = p.get("exp").and_then(Value::as_i64);
    if exp.is_some_and(|e| e < now) {
        return Err("the status list has expired".into());
    }
    Ok(VerifiedList {
        list: status_list_claim(&p)?,
        issued_at: p.get("iat").and_then(Value::as_i64).unwrap_or(0),
        exp,
        ttl: p.get("ttl").and_then(Value::as_i64),
    })
}

/// Fetches and verifies one status list token with `keys` (the issuer's trusted keys).
pub async fn fetch_list(
    http: &Http,
    uri: &str,
    iss: &str,
    keys: &dyn IssuerKeys,
) -> Result<StatusList, String> {
    let jwt = fetch_token(http, uri).await?;
    verify_token(&jwt, uri, iss, keys, now_unix()).map(|v| v.list)
}

/// GETs a status list token (`application/statuslist+jwt`, https or http to loopback): its body,
/// or why not. Holders' lists and the mandate registry's are fetched the same way.
pub async fn get_status_list_token(http: &Http, uri: &str) -> Result<Vec<u8>, String> {
    let url = checked_url(uri).map_err(|e| e.to_string())?;
    let reply = http
        .get(&url, "application/statuslist+jwt")
        .await
        .map_err(|e| e.to_string())?;
    if !reply.status.is_success() {
        return Err(format!("status list HTTP {}", reply.status.as_u16()));
    }
    Ok(reply.body)
}

/// The `status_list` claim (`bits`, `lst`) of a verified status list token's payload, decoded.
pub fn status_list_claim(p: &serde_json::Map<String, Value>) -> Result<StatusList, String> {
    let sl = p.get("status_list").ok_or("no status_list")?;
    let bits = sl
        .get("bits")
        .and_then(Value::as_u64)
        .and_then(|b| u8::try_from(b).ok())
        .ok_or("status_list has no bits")?;
    let lst = sl
        .get("lst")
        .and_then(Value::as_str)
        .ok_or("status_list has no lst")?;
    StatusList::decode(bits, lst)
}

/// `(uri, idx)` of a credential's status list entry.
pub fn reference(status: Option<&Value>) -> Option<(String, usize)> {
    let sl = status?.get("status_list")?;
    let uri = sl.get("uri")?.as_str()?.to_string();
    let idx = usize::try_from(sl.get("idx")?.as_u64()?).ok()?;
    Some((uri, idx))
}

/// How long a list that states no `ttl` is used before it is fetched again (seconds).
pub const DEFAULT_LIST_TTL_SECS: i64 = 300;
/// The longest `ttl` honoured: no list keeps a verifier from looking again for more than a day.
pub const MAX_LIST_TTL_SECS: i64 = 24 * 3600;
/// Offline (an in-person QR, no network at the desk): how old, by the issuer's `iat`, a list may
/// be by default.
pub const DEFAULT_OFFLINE_LIST_AGE_SECS: i64 = 24 * 3600;
/// Most lists a [`StatusLists`] cache keeps (a verifier sees a few dozen issuers).
const MAX_CACHED_LISTS: usize = 1024;
/// How long a list that could not be fetched, or did not verify, is given as the reason before
/// it is fetched again (a long-running verifier must not keep one network fault for good).
pub const RETRY_FAILED_LIST_SECS: i64 = 30;

/// A status list token as a [`ListStore`] keeps it: the bytes the list's URI served, and when
/// they were fetched (its `ttl` runs from then, for every instance that uses them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredList {
    /// The `statuslist+jwt` as fetched.
    pub token: String,
    /// When it was fetched (Unix seconds).
    pub fetched_at: i64,
}

/// A boxed future of a [`ListStore`] (used behind `dyn`).
pub type ListStoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// Where a [`StatusLists`] cache keeps lists beside its own memory, so that several instances
/// of one verifier make one fetch per list and honour its `ttl` together
/// ([`StatusLists::through`]). Only tokens that verified are put (with the issuer key of the
/// credential that named them); a token got from the store is verified again before use, as
/// the issuer it must be signed by is known only then. An error fails the verification: a
/// store that cannot be read is never taken as "no list".
pub trait ListStore: Send + Sync {
    /// The list kept for `uri`, unless it is no longer fresh at `now`.
    fn get<'a>(&'a self, uri: &'a str, now: i64) -> ListStoreFuture<'a, Option<StoredList>>;

    /// Keeps `list` for `uri` until `fresh_until` (its fetch time plus `ttl`, or its `exp` if
    /// sooner).
    fn put<'a>(
        &'a self,
        uri: &'a str,
        list: StoredList,
        fresh_until: i64,
    ) -> ListStoreFuture<'a, ()>;
}

/// Which lists a verification may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListAge {
    /// Online: a list is used until its `ttl` runs out (or its `exp`), then fetched again.
    Online,
    /// Offline: a list past its `ttl` is still used if the issuer made it (`iat`) at most
    /// `max_age_secs` ago and it has not expired.
    Offline {
        /// Oldest list accepted, seconds since its `iat`.
        max_age_secs: i64,
    },
}

/// What a verifier found for one presented credential's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StatusCheck {
    /// The credential names no status list: there is nothing to check.
    NoReference,
    /// Its entry is 0 (valid) in a list its issuer signed at `list_issued_at`.
    Valid {
        /// The list's `iat`.
        list_issued_at: i64,
    },
    /// It could not be checked (no usable list: `reason`).
    NotChecked {
        /// Why.
        reason: String,
    },
}

struct CachedList {
    /// The token as fetched, or why it could not be.
    token: Result<String, String>,
    fetched_at: i64,
    /// The issuer whose key verified `token`, and what it said (verified once per issuer).
    verified: Option<(String, Result<std::sync::Arc<VerifiedList>, String>)>,
    /// Whether the [`ListStore`] has it (it came from there, or was put there).
    stored: bool,
}

impl CachedList {
    fn new(token: Result<String, String>, fetched_at: i64, stored: bool) -> Self {
        CachedList {
            token,
            fetched_at,
            verified: None,
            stored,
        }
    }
}

#[derive(Default)]
struct CacheInner {
    lists: HashMap<String, CachedList>,
    /// Fetched lists that verified and are not in the [`ListStore`] yet (uri, list, until).
    to_store: Vec<(String, StoredList, i64)>,
    fetches: u64,
    /// The highest citizen's update `seq` seen per mandate status list URI: an older list is
    /// refused after a newer one was seen (a replay).
    mandate_seqs: HashMap<String, i64>,
}

/// A verifier's cache of the issuers' Token Status Lists, shared by every verification that
/// uses it (clones share it): each list is fetched once and used until its `ttl` runs out
/// ([`DEFAULT_LIST_TTL_SECS`] when it states none, at most [`MAX_LIST_TTL_SECS`]) or it
/// expires. A token is checked with the keys trusted for the presented credential's issuer
/// each time it is used (once per issuer), so a list fetched for one credential never
/// vouches for another issuer's. Lists are fetched only for credentials whose issuer signature
/// already verified ([`StatusLists::fetch`] takes the URIs a verification asked for).
#[derive(Clone, Default)]
pub struct StatusLists {
    inner: std::sync::Arc<std::sync::Mutex<CacheInner>>,
    store: Option<Arc<dyn ListStore>>,
}

impl std::fmt::Debug for StatusLists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusLists")
            .field("fetches", &self.fetches())
            .finish_non_exhaustive()
    }
}

impl StatusLists {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// This cache (the same memory), also reading and keeping lists in `store`: a list not in
    /// memory is taken from the store before it is fetched, and a fetched list goes to the
    /// store once it verified ([`StatusLists::store_verified`]).
    pub fn through(&self, store: Arc<dyn ListStore>) -> StatusLists {
        StatusLists {
            inner: Arc::clone(&self.inner),
            store: Some(store),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        // A panic elsewhere while holding the lock leaves a usable map (entries are whole).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many list fetches this cache made (tests, metrics).
    pub fn fetches(&self) -> u64 {
        self.lock().fetches
    }

    /// Records that a mandate status list at `uri` carrying the citizen's update `seq` verified;
    /// returns false (and records nothing) if a higher `seq` was seen there before.
    pub fn note_mandate_seq(&self, uri: &str, seq: i64) -> bool {
        let mut inner = self.lock();
        if inner.mandate_seqs.get(uri).is_some_and(|s| *s > seq) {
            return false;
        }
        if inner.mandate_seqs.len() >= MAX_CACHED_LISTS && !inner.mandate_seqs.contains_key(uri) {
            // Bounded: forgetting a list only loses the replay check there, never accepts more.
            if let Some(k) = inner.mandate_seqs.keys().next().cloned() {
                inner.mandate_seqs.remove(&k);
            }
        }
        inner.mandate_seqs.insert(uri.to_string(), seq);
        true
    }

    /// Adds a token obtained some other way (a list carried to an offline desk), as fetched
    /// at `fetched_at`. It is verified when used, like a fetched one.
    pub fn insert(&self, uri: &str, token: &str, fetched_at: i64) {
        let mut inner = self.lock();
        Self::make_room(&mut inner);
        inner.lists.insert(
            uri.to_string(),
            CachedList::new(Ok(token.trim().to_string()), fetched_at, false),
        );
    }

    /// The tokens held (URI, token, fetched_at), to carry them elsewhere (a file for an
    /// offline desk).
    pub fn tokens(&self) -> Vec<(String, String, i64)> {
        self.lock()
            .lists
            .iter()
            .filter_map(|(u, c)| {
                c.token
                    .as_ref()
                    .ok()
                    .map(|t| (u.clone(), t.clone(), c.fetched_at))
            })
            .collect()
    }

    fn make_room(inner: &mut CacheInner) {
        if inner.lists.len() >= MAX_CACHED_LISTS {
            if let Some(oldest) = inner
                .lists
                .iter()
                .min_by_key(|(_, c)| c.fetched_at)
                .map(|(u, _)| u.clone())
            {
                inner.lists.remove(&oldest);
            }
        }
    }

    /// Fetches each of `uris` once (https, or http to loopback per `policy`); a failure is
    /// kept as the reason a later check gives (for [`RETRY_FAILED_LIST_SECS`]). Give only URIs
    /// from credentials whose issuer signature verified (what [`StatusLists::check`] reports as
    /// wanted). With a [`ListStore`], a fresh list there is used instead of fetching; the
    /// store's error is returned.
    pub async fn fetch(&self, uris: &[String], policy: HttpPolicy) -> Result<(), Error> {
        self.fetch_at(uris, policy, now_unix()).await
    }

    /// As [`StatusLists::fetch`], recording the fetch as made at `now` (a verifier with its own
    /// clock).
    pub async fn fetch_at(
        &self,
        uris: &[String],
        policy: HttpPolicy,
        now: i64,
    ) -> Result<(), Error> {
        let http = Http::new(policy)?;
        let mut done: Vec<&String> = Vec::new();
        for uri in uris {
            if done.contains(&uri) {
                continue;
            }
            done.push(uri);
            if let Some(store) = &self.store {
                if let Some(kept) = store.get(uri, now).await? {
                    let mut inner = self.lock();
                    Self::make_room(&mut inner);
                    let entry = CachedList::new(Ok(kept.token), kept.fetched_at, true);
                    inner.lists.insert(uri.clone(), entry);
                    continue;
                }
            }
            let token = fetch_token(&http, uri).await;
            let mut inner = self.lock();
            inner.fetches += 1;
            // A failed fetch does not throw away a list that an offline check may still use.
            if token.is_err() && inner.lists.get(uri).is_some_and(|c| c.token.is_ok()) {
                continue;
            }
            Self::make_room(&mut inner);
            inner
                .lists
                .insert(uri.clone(), CachedList::new(token, now, false));
        }
        Ok(())
    }

    /// Puts the fetched lists that verified since the last call into the [`ListStore`] (none
    /// without one). Called by the verifications that fetch, once they are done.
    pub async fn store_verified(&self) -> Result<(), Error> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let due = std::mem::take(&mut self.lock().to_store);
        for (uri, list, fresh_until) in due {
            store.put(&uri, list, fresh_until).await?;
        }
        Ok(())
    }

    /// Checks the status of a credential from `issuer` whose (issuer-signed) `status` claim is
    /// `status`, at `now`. A revoked or suspended entry, or a value kluis does not know, is an
    /// error. `Ok((check, wanted))`: `wanted` is the list URI to fetch when the cache had no
    /// list usable under `age` (then `check` is [`StatusCheck::NotChecked`]).
    pub fn check(
        &self,
        issuer: &str,
        status: Option<&Value>,
        keys: &dyn IssuerKeys,
        now: i64,
        age: ListAge,
    ) -> Result<(StatusCheck, Option<String>), Error> {
        let Some(status) = status else {
            return Ok((StatusCheck::NoReference, None));
        };
        let Some((uri, idx)) = reference(Some(status)) else {
            if status.get("status_list").is_some() {
                return Err(Error::InvalidPresentation {
                    reason: "the credential's status_list reference is malformed".into(),
                });
            }
            // Another status mechanism kluis does not know: it cannot be checked.
            return Ok((
                StatusCheck::NotChecked {
                    reason: "the credential names no Token Status List".into(),
                },
                None,
            ));
        };
        let not_checked = |reason: String, want: bool| {
            Ok((
                StatusCheck::NotChecked { reason },
                want.then(|| uri.clone()),
            ))
        };
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(entry) = inner.lists.get_mut(&uri) else {
            drop(guard);
            return not_checked("its status list has not been fetched".into(), true);
        };
        let fetched_at = entry.fetched_at;
        // A failure is the answer for a while, then the list is fetched again.
        let retry = now >= fetched_at.saturating_add(RETRY_FAILED_LIST_SECS);
        let token = match &entry.token {
            Ok(t) => t.clone(),
            Err(e) => {
                let e = format!("its status list could not be fetched ({e})");
                drop(guard);
                return not_checked(e, retry);
            }
        };
        let verified = match &entry.verified {
            Some((iss, v)) if iss == issuer => v.clone(),
            _ => {
                let v = verify_token(&token, &uri, issuer, keys, now).map(std::sync::Arc::new);
                entry.verified = Some((issuer.to_string(), v.clone()));
                v
            }
        };
        let list = match verified {
            Ok(l) => l,
            Err(e) => {
                drop(guard);
                return not_checked(format!("its status list is not usable: {e}"), retry);
            }
        };
        let ttl = list
            .ttl
            .unwrap_or(DEFAULT_LIST_TTL_SECS)
            .clamp(0, MAX_LIST_TTL_SECS);
        let fresh_until = fetched_at
            .saturating_add(ttl)
            .min(list.exp.unwrap_or(i64::MAX));
        if self.store.is_some()
            && !entry.stored
            && fresh_until > now
            && inner.to_store.len() < MAX_CACHED_LISTS
        {
            // Verified with the issuer's key: now it may serve the other instances.
            entry.stored = true;
            let kept = StoredList { token, fetched_at };
            inner.to_store.push((uri.clone(), kept, fresh_until));
        }
        drop(guard);
        if list.exp.is_some_and(|e| e < now) {
            return not_checked("its status list has expired".into(), true);
        }
        let fresh = now < fetched_at.saturating_add(ttl);
        match age {
            ListAge::Online if !fresh => {
                return not_checked("its status list is older than its ttl".into(), true)
            }
            ListAge::Offline { max_age_secs }
                if !fresh && now.saturating_sub(list.issued_at) > max_age_secs =>
            {
                return not_checked(
                    format!(
                        "its newest status list is {} s old, more than the {max_age_secs} s allowed",
                        now.saturating_sub(list.issued_at)
                    ),
                    true,
                )
            }
            _ => {}
        }
        let refused = |what: &str| {
            Err(Error::InvalidPresentation {
                reason: format!("the credential {what} (its issuer's status list)"),
            })
        };
        match list.list.get(idx) {
            None => refused("has a status index beyond its status list"),
            Some(0) => Ok((
                StatusCheck::Valid {
                    list_issued_at: list.issued_at,
                },
                None,
            )),
            Some(1) => refused("has been revoked"),
            Some(2) => refused("is suspended"),
            Some(v) => refused(&format!("has status {v:#04x}, which kluis does not accept")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write as _;

    fn lst(bytes: &[u8]) -> String {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(bytes).unwrap();
        URL_SAFE_NO_PAD.encode(z.finish().unwrap())
    }

    #[test]
    fn reads_the_drafts_examples() {
        // draft-ietf-oauth-status-list, 1-bit example: 0xB9 0xA3 → indexes 0..15.
        let l = StatusList::decode(1, &lst(&[0xB9, 0xA3])).unwrap();
        let got: Vec<u8> = (0..16).map(|i| l.get(i).unwrap()).collect();
        assert_eq!(got, [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]);
        assert_eq!(l.get(16), None);
        // 2-bit: 0xC9 = 0b11_00_10_01 → 1, 2, 0, 3.
        let l = StatusList::decode(2, &lst(&[0xC9])).unwrap();
        assert_eq!(
            (0..4).map(|i| l.get(i).unwrap()).collect::<Vec<_>>(),
            [1, 2, 0, 3]
        );
    }

    /// A [`ListStore`] in memory (another instance's view of the shared state).
    #[derive(Default)]
    struct Kept(std::sync::Mutex<Vec<(String, StoredList, i64)>>);

    impl ListStore for Kept {
        fn get<'a>(&'a self, uri: &'a str, now: i64) -> ListStoreFuture<'a, Option<StoredList>> {
            let found = self
                .0
                .lock()
                .unwrap()
                .iter()
                .rev()
                .find_map(|(u, l, until)| (u == uri && *until > now).then(|| l.clone()));
            Box::pin(std::future::ready(Ok(found)))
        }

        fn put<'a>(
            &'a self,
            uri: &'a str,
            list: StoredList,
            fresh_until: i64,
        ) -> ListStoreFuture<'a, ()> {
            self.0
                .lock()
                .unwrap()
                .push((uri.to_string(), list, fresh_until));
            Box::pin(std::future::ready(Ok(())))
        }
    }

    const URI: &str = "https://status.example/1";
    const ISS: &str = "https://holder.example";

    fn token(key: &kluis_sdjwt::SigningKey, now: i64) -> String {
        let payload = serde_json::json!({
            "sub": URI, "iat": now, "exp": now + 3600, "ttl": 600,
            // Entry 0 valid, entry 1 revoked.
            "status_list": { "bits": 1, "lst": lst(&[0b10]) },
        });
        crate::jws::unsigned(STATUS_LIST_TYP, None, &payload)
            .unwrap()
            .sign(key)
            .unwrap()
    }

    fn status(idx: usize) -> Value {
        serde_json::json!({ "status_list": { "uri": URI, "idx": idx } })
    }

    /// The store gets only lists that verified (with the credential issuer's key), fresh until
    /// fetch time + ttl; another instance takes them without fetching and verifies them again,
    /// so a list stored for one issuer never vouches for another.
    #[tokio::test]
    async fn only_verified_lists_are_stored_and_a_stored_one_is_verified_again() {
        let now = 1_800_000_000;
        let issuer = kluis_sdjwt::SigningKey::make_random().unwrap();
        let other = kluis_sdjwt::SigningKey::make_random().unwrap();
        let keys: std::collections::BTreeMap<String, Vec<kluis_sdjwt::PublicJwk>> =
            [(ISS.to_string(), vec![issuer.public_jwk()])].into();
        let store = Arc::new(Kept::default());
        let a = StatusLists::new().through(store.clone());

        // Signed by someone else: not usable, not stored.
        a.insert(URI, &token(&other, now), now);
        let (check, _) = a
            .check(ISS, Some(&status(0)), &keys, now, ListAge::Online)
            .unwrap();
        assert!(matches!(check, StatusCheck::NotChecked { .. }), "{check:?}");
        a.store_verified().await.unwrap();
        assert!(store.0.lock().unwrap().is_empty());

        // The issuer's list: used, and stored once, fresh for its ttl.
        let good = token(&issuer, now);
        a.insert(URI, &good, now);
        let (check, _) = a
            .check(ISS, Some(&status(0)), &keys, now, ListAge::Online)
            .unwrap();
        assert!(matches!(check, StatusCheck::Valid { .. }), "{check:?}");
        assert!(a
            .check(ISS, Some(&status(1)), &keys, now, ListAge::Online)
            .is_err());
        a.store_verified().await.unwrap();
        a.store_verified().await.unwrap();
        let kept = store.0.lock().unwrap().clone();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].1.token, good);
        assert_eq!(kept[0].2, now + 600);

        // Instance B: the list from the store, no fetch; revoked entry refused.
        let b = StatusLists::new().through(store.clone());
        let (_, wanted) = b
            .check(ISS, Some(&status(1)), &keys, now + 5, ListAge::Online)
            .unwrap();
        assert_eq!(wanted.as_deref(), Some(URI));
        b.fetch_at(&[URI.to_string()], HttpPolicy::default(), now + 5)
            .await
            .unwrap();
        assert_eq!(b.fetches(), 0);
        assert!(b
            .check(ISS, Some(&status(1)), &keys, now + 5, ListAge::Online)
            .unwrap_err()
            .to_string()
            .contains("revoked"));
        // A credential of another issuer naming the same list: the list does not verify for it.
        let theirs: std::collections::BTreeMap<String, Vec<kluis_sdjwt::PublicJwk>> = [(
            "https://other.example".to_string(),
            vec![other.public_jwk()],
        )]
        .into();
        let (check, _) = b
            .check(
                "https://other.example",
                Some(&status(1)),
                &theirs,
                now + 5,
                ListAge::Online,
            )
            .unwrap();
        assert!(matches!(check, StatusCheck::NotChecked { .. }), "{check:?}");
        // Past its ttl the list is wanted again, and the store no longer gives it.
        let (_, wanted) = b
            .check(ISS, Some(&status(0)), &keys, now + 600, ListAge::Online)
            .unwrap();
        assert_eq!(wanted.as_deref(), Some(URI));
        assert_eq!(store.get(URI, now + 600).await.unwrap(), None);
    }

    #[test]
    fn refuses_bad_lists() {
        assert!(StatusList::decode(3, &lst(&[0])).is_err());
        assert!(StatusList::decode(1, "!!!").is_err());
        assert!(StatusList::decode(1, &URL_SAFE_NO_PAD.encode(b"not zlib")).is_err());
        // A zip bomb: 16 MiB of zeros compresses to ~16 KiB and must be refused.
        let bomb = lst(&vec![0u8; 16 * 1024 * 1024]);
        assert!(StatusList::decode(1, &bomb).is_err());
    }
}
