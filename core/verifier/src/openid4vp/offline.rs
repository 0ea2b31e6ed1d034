//! In person without network: the offline QR, verified. The wallet (kluis-core) puts one or more
//! complete presentations in one compact payload (`kluis_qr::offline`, `KL2:`), each with a
//! key-binding JWT whose `aud` is the chosen party, whose `nonce` the wallet picks, and whose
//! `iat` is now. The verifier accepts it
//! only within [`MAX_AGE_SECS`] of `iat`, only with its own identifier as `aud`, and only once:
//! it keeps every `(nonce, sd_hash)` it accepted in a [`ReplayCache`] until it would be stale anyway.
//!
//! This is the weaker mode (docs/PRESENTING.md "In person"): with no verifier nonce, a QR that is
//! photographed can be shown again to the same party within the window by someone else, unless that
//! party's replay cache already saw it; and it is bound to the party only by `aud`. The session QR
//! ([`super::proximity`]) has neither weakness and is the default.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use kluis_sdjwt::{verify_presentation, PresentationExpectations, VerifiedPresentation};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::association;
use super::dcql::DcqlQuery;
use super::verifier::VerifierTrust;
use crate::status::{ListAge, StatusCheck, StatusLists};
use crate::trust::TrustList;
use crate::{now_unix, Error};

/// How old an offline QR's key-binding JWT may be when the verifier reads it (the issue: ≤ 2 min).
pub const MAX_AGE_SECS: i64 = 120;
/// Clock difference tolerated between the phone and the verifier.
pub const SKEW_SECS: i64 = 15;
/// Default capacity of [`MemoryReplayCache`]: far more QR codes than a desk scans in 2 minutes.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// The holders' small rental-purpose credential types, each an alternative to the full type the
/// rental query asks (fewer claims and decoys: a smaller QR).
pub const RENTAL_PURPOSE_TYPES: &[(&str, &str)] = &[
    (
        "urn:nl:gemeente:brp-address:1",
        "urn:nl:gemeente:brp-rental:1",
    ),
    (
        "urn:nl:uwv:income-statement:1",
        "urn:nl:uwv:income-rental:1",
    ),
    ("urn:nl:cak:care-arrears:1", "urn:nl:cak:arrears-rental:1"),
];

/// The standard rental-application disclosure ([`super::rental_dcql`]: name and current address,
/// monthly income, no registered payment arrears), each query also accepting the holder's small
/// rental-purpose type; the offline QR then uses whichever credential gives the smaller QR.
pub fn rental_query() -> DcqlQuery {
    let mut q = super::rental_dcql();
    if let Some(creds) = q.get_mut("credentials").and_then(Value::as_array_mut) {
        for c in creds {
            if let Some(vcts) = c
                .pointer_mut("/meta/vct_values")
                .and_then(Value::as_array_mut)
            {
                let extra: Vec<Value> = RENTAL_PURPOSE_TYPES
                    .iter()
                    .filter(|(full, _)| vcts.iter().any(|v| v == full))
                    .map(|(_, small)| Value::String(small.to_string()))
                    .collect();
                vcts.extend(extra);
            }
        }
    }
    // A constant: a failure here is a programming error, caught by the unit test.
    DcqlQuery::parse(&q).expect("the rental query is valid DCQL")
}

/// Remembers which offline presentations a verifier accepted, until they would be stale anyway.
/// Implement it over a database to share it between a party's desks or keep it across restarts.
pub trait ReplayCache: Send + Sync {
    /// Records `key` as seen until `expires_at`. Returns `Ok(false)` when it was already seen and
    /// has not expired (a replay); `Err` when it cannot record (the verifier must then refuse).
    fn check_and_insert(&self, key: &[u8; 32], expires_at: i64, now: i64) -> Result<bool, Error>;
}

/// A bounded in-memory [`ReplayCache`]: expired entries are dropped as new ones come in; when it
/// is full of live entries it refuses (fails closed) rather than forgetting one.
pub struct MemoryReplayCache {
    capacity: usize,
    entries: Mutex<HashMap<[u8; 32], i64>>,
}

impl MemoryReplayCache {
    /// A cache holding at most `capacity` live entries.
    pub fn new(capacity: usize) -> Self {
        MemoryReplayCache {
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Live entries (for tests and monitoring).
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for MemoryReplayCache {
    fn default() -> Self {
        Self::new(DEFAULT_REPLAY_CAPACITY)
    }
}

impl ReplayCache for MemoryReplayCache {
    fn check_and_insert(&self, key: &[u8; 32], expires_at: i64, now: i64) -> Result<bool, Error> {
        let mut entries = self.entries.lock().map_err(|_| Error::Internal {
            reason: "replay cache poisoned".into(),
        })?;
        if entries.get(key).is_some_and(|&exp| exp >= now) {
            return Ok(false);
        }
        if entries.len() >= self.capacity {
            entries.retain(|_, exp| *exp >= now);
            if entries.len() >= self.capacity {
                return Err(Error::Internal {
                    reason: "the replay cache is full: try again in a minute".into(),
                });
            }
        }
        entries.insert(*key, expires_at);
        Ok(true)
    }
}

/// A [`ReplayCache`] kept in a file, so that a verifier that runs once per QR (the `kluis verify-qr`
/// command, a desk's scanner script) still sees a replay. One process at a time; the file holds
/// only hashes and expiry times. Written whole on each insert (a temporary file, then a rename).
pub struct FileReplayCache {
    path: std::path::PathBuf,
    memory: MemoryReplayCache,
}

impl FileReplayCache {
    /// Opens (or starts) the cache at `path`; an unreadable file is an error, not an empty cache.
    pub fn open(path: &std::path::Path) -> Result<FileReplayCache, Error> {
        let memory = MemoryReplayCache::default();
        match std::fs::read(path) {
            Ok(bytes) => {
                let entries: Vec<(String, i64)> =
                    serde_json::from_slice(&bytes).map_err(|_| Error::Internal {
                        reason: "the replay cache file is damaged".into(),
                    })?;
                let mut map = memory.entries.lock().map_err(|_| Error::Internal {
                    reason: "replay cache poisoned".into(),
                })?;
                for (k, exp) in entries {
                    let mut key = [0u8; 32];
                    if hex::decode_to_slice(&k, &mut key).is_ok() {
                        map.insert(key, exp);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::Internal {
                    reason: format!("the replay cache file cannot be read ({})", e.kind()),
                })
            }
        }
        Ok(FileReplayCache {
            path: path.to_path_buf(),
            memory,
        })
    }

    fn save(&self, now: i64) -> Result<(), Error> {
        let entries: Vec<(String, i64)> = {
            let map = self.memory.entries.lock().map_err(|_| Error::Internal {
                reason: "replay cache poisoned".into(),
            })?;
            map.iter()
                .filter(|(_, exp)| **exp >= now)
                .map(|(k, exp)| (hex::encode(k), *exp))
                .collect()
        };
        let body = serde_json::to_vec(&entries).map_err(|_| Error::Internal {
            reason: "replay cache".into(),
        })?;
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, body)
            .and_then(|_| std::fs::rename(&tmp, &self.path))
            .map_err(|e| Error::Internal {
                reason: format!("the replay cache file cannot be written ({})", e.kind()),
            })
    }
}

impl ReplayCache for FileReplayCache {
    fn check_and_insert(&self, key: &[u8; 32], expires_at: i64, now: i64) -> Result<bool, Error> {
        if !self.memory.check_and_insert(key, expires_at, now)? {
            return Ok(false);
        }
        self.save(now)?;
        Ok(true)
    }
}

/// The verifier's trust from the scheme: fetches the participant list at `list_uri`, verifies it
/// with the pinned scheme key, and trusts exactly its holders for their listed types.
pub async fn scheme_trust(
    list_uri: &str,
    scheme_key: &kluis_sdjwt::PublicJwk,
    policy: crate::http::HttpPolicy,
) -> Result<super::verifier::VerifierTrust, Error> {
    let http = crate::http::Http::new(policy)?;
    let (_, list) = crate::scheme::fetch_list(&http, list_uri, scheme_key).await?;
    Ok(super::verifier::VerifierTrust::from_participant_list(&list))
}

/// What a verifier expects of an offline QR.
#[derive(Debug, Clone)]
pub struct OfflineExpectations {
    /// This verifier's client identifier: the `aud` the QR must carry.
    pub audience: String,
    /// Verification time, Unix seconds.
    pub now: i64,
    /// Maximum age of the key-binding JWTs (at most [`MAX_AGE_SECS`] is sensible).
    pub max_age_secs: i64,
    /// Clock skew tolerated.
    pub skew_secs: i64,
}

impl OfflineExpectations {
    /// The defaults (2 minutes, 15 s skew) at the current time.
    pub fn new(audience: &str) -> Self {
        OfflineExpectations {
            audience: audience.to_string(),
            now: now_unix(),
            max_age_secs: MAX_AGE_SECS,
            skew_secs: SKEW_SECS,
        }
    }
}

/// The claims of the key-binding JWT at the end of a compact presentation, unverified: only to
/// learn which nonce to check it against.
fn kb_claims(presentation: &str) -> Option<Value> {
    let kb = presentation.rsplit('~').next()?;
    let payload = kb.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidPresentation {
        reason: reason.into(),
    }
}

/// Decodes an offline QR (`KL1:` or `KL2:`) and verifies every presentation in it: issuer trusted,
/// signatures, disclosures, key binding, `aud` = this verifier, `iat` within the window, one nonce
/// for all, and not seen before (the replay cache). Returns the verified presentations in order.
pub fn verify_offline(
    text: &str,
    trust: &TrustList,
    expect: &OfflineExpectations,
    cache: &dyn ReplayCache,
) -> Result<Vec<VerifiedPresentation>, Error> {
    let (out, _) = verify_offline_listed(text, trust, &BTreeMap::new(), expect, cache, None)?;
    Ok(out.into_iter().map(|p| p.presentation).collect())
}

/// As [`verify_offline`] with the scheme's trust: each issuer only for the types it is listed for.
/// Neither checks the credentials' status lists: a desk uses [`verify_offline_checked`] or
/// [`verify_offline_fetching`], which say for each credential whether its status was checked.
pub fn verify_offline_with(
    text: &str,
    trust: &VerifierTrust,
    expect: &OfflineExpectations,
    cache: &dyn ReplayCache,
) -> Result<Vec<VerifiedPresentation>, Error> {
    let (out, _) = verify_offline_listed(text, &trust.issuers, &trust.types, expect, cache, None)?;
    Ok(out.into_iter().map(|p| p.presentation).collect())
}

/// One credential of a verified offline QR and what became of its status check.
#[derive(Debug, Clone)]
pub struct OfflinePresentation {
    /// The verified presentation.
    pub presentation: VerifiedPresentation,
    /// Its status: valid in a list no older than allowed, no reference, or not checked (why).
    pub status: StatusCheck,
}

/// How an offline verifier checks the credentials' status lists.
#[derive(Debug, Clone)]
pub struct OfflineStatus {
    /// The lists at hand (fetched earlier, or now when the desk has network).
    pub lists: StatusLists,
    /// The oldest list (by its issuer's `iat`) accepted once its `ttl` has run out.
    pub max_list_age_secs: i64,
}

impl Default for OfflineStatus {
    fn default() -> Self {
        OfflineStatus {
            lists: StatusLists::new(),
            max_list_age_secs: crate::status::DEFAULT_OFFLINE_LIST_AGE_SECS,
        }
    }
}

/// As [`verify_offline_with`], checking each credential's status with the lists in `status`:
/// a revoked or suspended credential is refused; one whose list is missing or too old is
/// accepted with [`StatusCheck::NotChecked`] saying why (the desk decides what to do with it).
pub fn verify_offline_checked(
    text: &str,
    trust: &VerifierTrust,
    expect: &OfflineExpectations,
    cache: &dyn ReplayCache,
    status: &OfflineStatus,
) -> Result<Vec<OfflinePresentation>, Error> {
    verify_offline_listed(
        text,
        &trust.issuers,
        &trust.types,
        expect,
        cache,
        Some(status),
    )
    .map(|(out, _)| out)
}

/// As [`verify_offline_checked`] for a desk that may have network: the lists the QR's
/// credentials need and `status` lacks (or holds past their `ttl`) are fetched first, but only
/// once every presentation's signatures verified; a failed fetch leaves the older list, if any,
/// or "not checked".
pub async fn verify_offline_fetching(
    text: &str,
    trust: &VerifierTrust,
    expect: &OfflineExpectations,
    cache: &dyn ReplayCache,
    status: &OfflineStatus,
    policy: crate::http::HttpPolicy,
) -> Result<Vec<OfflinePresentation>, Error> {
    // A dry run (its own replay cache): learns which lists are wanted without using the QR up.
    let (_, wanted) = verify_offline_listed(
        text,
        &trust.issuers,
        &trust.types,
        expect,
        &MemoryReplayCache::new(kluis_qr::offline::MAX_PRESENTATIONS),
        Some(status),
    )?;
    if !wanted.is_empty() {
        // Network trouble is not the citizen's fault: the check below says "not checked".
        let _ = status.lists.fetch_at(&wanted, policy, expect.now).await;
    }
    let checked = verify_offline_checked(text, trust, expect, cache, status);
    // Likewise a store that cannot keep the lists (the caller's store sees its own errors).
    let _ = status.lists.store_verified().await;
    checked
}

fn verify_offline_listed(
    text: &str,
    issuers: &TrustList,
    types: &BTreeMap<String, Vec<String>>,
    expect: &OfflineExpectations,
    cache: &dyn ReplayCache,
    status: Option<&OfflineStatus>,
) -> Result<(Vec<OfflinePresentation>, Vec<String>), Error> {
    let presentations =
        kluis_qr::offline::decode_set_deriving(text, Some(&association::qr_claim()))
            .map_err(|e| invalid(format!("offline QR: {e}")))?;
    let mut nonce: Option<String> = None;
    let mut verified = Vec::with_capacity(presentations.len());
    let mut keys = Vec::with_capacity(presentations.len());
    let mut wanted: Vec<String> = Vec::new();
    for p in &presentations {
        let kb = kb_claims(p).ok_or_else(|| invalid("offline QR: unreadable key-binding JWT"))?;
        let this_nonce = kb
            .get("nonce")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty() && n.len() <= 256)
            .ok_or_else(|| invalid("offline QR: the key-binding JWT has no usable nonce"))?;
        match &nonce {
            None => nonce = Some(this_nonce.to_string()),
            Some(n) if n == this_nonce => {}
            Some(_) => {
                return Err(invalid(
                    "offline QR: the presentations carry different nonces",
                ))
            }
        }
        let sdx = PresentationExpectations {
            max_age_secs: expect.max_age_secs,
            skew_secs: expect.skew_secs,
            require_key_binding: true,
            ..PresentationExpectations::new(this_nonce, expect.audience.clone(), expect.now)
        };
        let v =
            verify_presentation(p, issuers, &sdx).map_err(|e| Error::from_presentation(e, p))?;
        // Held on a citizen's behalf: only with its mandate, which offline cannot be checked.
        if v.claims
            .get(crate::delegation::collect::ON_BEHALF_OF_CLAIM)
            .is_some()
        {
            return Err(invalid(
                "offline QR: a credential held on a citizen's behalf needs its mandate checked online",
            ));
        }
        // With the scheme's list, an issuer is trusted only for the types it is listed for.
        if let Some(listed) = types.get(&v.issuer) {
            if !listed.contains(&v.vct) {
                return Err(invalid(format!(
                    "offline QR: {} is not listed as an issuer of {}",
                    v.issuer, v.vct
                )));
            }
        } else if !types.is_empty() {
            return Err(Error::UntrustedIssuer {
                issuer: v.issuer.clone(),
            });
        }
        // Status last: only a credential whose signatures verified may lead to a fetch.
        let check = match status {
            Some(st) => {
                let (check, want) = st.lists.check(
                    &v.issuer,
                    v.status.as_ref(),
                    issuers,
                    expect.now,
                    ListAge::Offline {
                        max_age_secs: st.max_list_age_secs,
                    },
                )?;
                if let Some(u) = want {
                    if !wanted.contains(&u) {
                        wanted.push(u);
                    }
                }
                check
            }
            None => StatusCheck::NotChecked {
                reason: "no status lists were given to the verifier".into(),
            },
        };
        // Verified above: the KB-JWT's sd_hash is that of this presentation.
        let sd_hash = kb.get("sd_hash").and_then(Value::as_str).unwrap_or("");
        let mut h = Sha256::new();
        h.update(this_nonce.as_bytes());
        h.update([0]);
        h.update(sd_hash.as_bytes());
        keys.push(<[u8; 32]>::from(h.finalize()));
        verified.push(OfflinePresentation {
            presentation: v,
            status: check,
        });
    }
    // One wallet's answer: every KB-JWT names the keys of all the QR's credentials.
    let answer: Vec<(&str, &kluis_sdjwt::PublicJwk)> = presentations
        .iter()
        .zip(&verified)
        .map(|(p, v)| {
            let key = v.presentation.holder_jwk.as_ref();
            key.map(|k| (p.as_str(), k))
                .ok_or_else(|| invalid("offline QR: a presentation is not key-bound"))
        })
        .collect::<Result<_, _>>()?;
    association::check(&answer).map_err(|e| invalid(format!("offline QR: {e}")))?;
    // Only a QR that passed every check enters the cache; it stays until it is stale anyway.
    let expires_at = expect.now + expect.max_age_secs + 2 * expect.skew_secs;
    for key in &keys {
        if !cache.check_and_insert(key, expires_at, expect.now)? {
            return Err(invalid(
                "offline QR already used: this presentation was shown before (replay)",
            ));
        }
    }
    Ok((verified, wanted))
}

/// As [`disclosed_json`], with each credential's `status_check` (see [`StatusCheck`]).
pub fn disclosed_json_checked(verified: &[OfflinePresentation]) -> Value {
    let plain: Vec<VerifiedPresentation> =
        verified.iter().map(|p| p.presentation.clone()).collect();
    let mut out = disclosed_json(&plain);
    if let Value::Array(items) = &mut out {
        for (item, p) in items.iter_mut().zip(verified) {
            item["status_check"] = serde_json::to_value(&p.status).unwrap_or(Value::Null);
        }
    }
    out
}

/// The disclosed claims of verified presentations as one JSON object per credential
/// (`issuer`, `vct`, `claims`), for printing and pages.
pub fn disclosed_json(verified: &[VerifiedPresentation]) -> Value {
    Value::Array(
        verified
            .iter()
            .map(|v| {
                let mut claims = v.claims.clone();
                if let Value::Object(m) = &mut claims {
                    // Registered claims are shown as fields of their own or not at all.
                    for k in [
                        "iss", "vct", "cnf", "iat", "exp", "nbf", "status", "_sd_alg",
                    ] {
                        m.remove(k);
                    }
                }
                let mut o = BTreeMap::new();
                o.insert("issuer", Value::String(v.issuer.clone()));
                o.insert("vct", Value::String(v.vct.clone()));
                o.insert("claims", claims);
                json!(o)
            })
            .collect(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rental_query_parses() {
        let q = rental_query();
        assert_eq!(q.credentials.len(), 3);
    }

    #[test]
    fn replay_cache_remembers_expires_and_fails_closed() {
        let c = MemoryReplayCache::new(2);
        let (a, b, d) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        assert!(c.check_and_insert(&a, 100, 0).unwrap());
        assert!(!c.check_and_insert(&a, 100, 50).unwrap(), "replay");
        assert!(c.check_and_insert(&b, 100, 50).unwrap());
        assert!(
            c.check_and_insert(&d, 300, 60).is_err(),
            "full of live entries"
        );
        // Once a and b are stale they make room, and a is new again.
        assert!(c.check_and_insert(&d, 300, 101).unwrap());
        assert!(c.check_and_insert(&a, 300, 101).unwrap());
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn file_replay_cache_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replay.json");
        let c = FileReplayCache::open(&path).unwrap();
        assert!(c.check_and_insert(&[7u8; 32], 100, 0).unwrap());
        let again = FileReplayCache::open(&path).unwrap();
        assert!(
            !again.check_and_insert(&[7u8; 32], 100, 10).unwrap(),
            "replay after restart"
        );
        assert!(
            again.check_and_insert(&[7u8; 32], 300, 101).unwrap(),
            "expired"
        );
        std::fs::write(&path, b"garbage").unwrap();
        assert!(FileReplayCache::open(&path).is_err());
    }
}
