//! Revocation: the citizen's wallet keeps one Token Status List per registry (1 bit per mandate:
//! 0 valid, 1 revoked), sealed in its vault, and sends each change to the mandate registry as an
//! *update* signed with its main holder key (`status_key`), numbered by `seq`
//! (`PUT {registry}/lists/{id}`; the first writer's key owns a list, a `seq` not above the last
//! is refused). The registry, a participant the scheme lists and the mandate names
//! (`status_registry`), serves a short-lived `statuslist+jwt` it signs itself and re-signs on its
//! own schedule, carrying the citizen's update. Verifiers and the helper's wallet fetch it (`GET`)
//! and check both signatures: the registry's says the list is current, the citizen's what it
//! says. Mandates without `status_registry` (issued before) have a list signed by `status_key`.

use std::collections::HashMap;
use std::io::Write as _;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use kluis_sdjwt::{PublicJwk, SigningKey};
use serde_json::{json, Value};

use super::mandate::{sign_jws, StatusRegistry};
use super::DelegationError;
use crate::http::{checked_url, client as http_client, Http, HttpPolicy};
use crate::jws::header as jws_header;
use crate::status::{get_status_list_token, status_list_claim, StatusList, STATUS_LIST_TYP};
use crate::{Error, NetworkFailure};

/// Bits per mandate: revoked or not.
pub const MANDATE_LIST_BITS: u8 = 1;

/// Smallest list published (entries): hides how many mandates a citizen issued, roughly.
const MIN_ENTRIES: usize = 1024;

/// How long a list signed by the citizen (mandates without `status_registry`) is valid.
pub const LIST_VALIDITY_SECS: i64 = 24 * 3600;

/// `typ` of the citizen's signed update of its list, sent to the registry.
pub const STATUS_UPDATE_TYP: &str = "kluis-mandate-status-update+jwt";

/// The longest a registry-signed list may be valid (`exp` − `iat`): a list signed for longer is
/// refused, so that a revocation reaches every verifier within this (plus the clock skew) even
/// from a registry that signs with a long `exp`.
pub const MAX_REGISTRY_LIST_SECS: i64 = 3600;

/// Clock skew allowed on a registry-signed list's `iat`.
const LIST_SKEW_SECS: i64 = 60;

/// Status lists fetched for the mandates of presentations: list URI → the `statuslist+jwt`, or
/// why it could not be fetched. Filled by [`MandateStatusLists::fetch`] (or by hand, offline).
#[derive(Debug, Clone, Default)]
pub struct MandateStatusLists {
    lists: HashMap<String, Result<String, String>>,
}

impl MandateStatusLists {
    /// An empty set: a delegated presentation is then rejected as "status not checked".
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a list token fetched by the caller.
    pub fn insert(&mut self, uri: &str, jwt: &str) {
        self.lists
            .insert(uri.to_string(), Ok(jwt.trim().to_string()));
    }

    /// Fetches each URI once (https, or http to loopback), keeping failures as reasons.
    pub async fn fetch(uris: &[String], policy: HttpPolicy) -> Result<Self, Error> {
        Ok(Self::fetch_with(&Http::new(policy)?, uris).await)
    }

    /// [`MandateStatusLists::fetch`] over `http` (its connections and per-host bound shared).
    pub async fn fetch_with(http: &Http, uris: &[String]) -> Self {
        let mut out = Self::default();
        for uri in uris {
            if out.lists.contains_key(uri) {
                continue;
            }
            let got = fetch_one(http, uri).await;
            out.lists.insert(uri.clone(), got);
        }
        out
    }

    pub(crate) fn get(&self, uri: &str) -> Option<&Result<String, String>> {
        self.lists.get(uri)
    }
}

async fn fetch_one(http: &Http, uri: &str) -> Result<String, String> {
    let body = get_status_list_token(http, uri).await?;
    String::from_utf8(body)
        .map(|s| s.trim().to_string())
        .map_err(|_| "the status list is not text".to_string())
}

/// Verifies a mandate status list token: `typ`, ES256 signature by `key` (the mandate's
/// `status_key`), `sub` equal to `uri`, an `exp` not passed at `now`; returns the decoded list.
pub fn verify_status_list(
    jwt: &str,
    uri: &str,
    key: &PublicJwk,
    now: i64,
) -> Result<StatusList, String> {
    let header = jws_header(jwt).ok_or("the status list is not a JWT")?;
    if header.get("typ").and_then(Value::as_str) != Some(STATUS_LIST_TYP) {
        return Err("the status list has the wrong typ".into());
    }
    let (_, p) = kluis_sdjwt::verify_compact_es256(jwt, key)
        .ok_or("the status list is not signed by the mandate's status key")?;
    if p.get("sub").and_then(Value::as_str) != Some(uri) {
        return Err("the status list's sub is not its URI".into());
    }
    // A mandate list must expire: a registry replaying an old list is bounded by its `exp`.
    match p.get("exp").and_then(Value::as_i64) {
        None => return Err("the status list has no exp".into()),
        Some(e) if e < now => return Err("the status list has expired".into()),
        Some(_) => {}
    }
    status_list_claim(&p)
}

/// Verifies a status list signed by the mandate's registry: `typ`, ES256 signature by
/// `registry.key`, `iss` = `registry.iss`, `sub` = `uri`, `iat` not in the future, `exp` not
/// passed and at most [`MAX_REGISTRY_LIST_SECS`] after `iat`; and inside it the citizen's update
/// (`kluis_update`: `typ` [`STATUS_UPDATE_TYP`], signed by `citizen`, the mandate's
/// `status_key`, same `sub`, `seq` = `kluis_seq`, the same `status_list`). Returns the list and
/// the update's `seq`.
pub fn verify_registry_status_list(
    jwt: &str,
    uri: &str,
    registry: &StatusRegistry,
    citizen: &PublicJwk,
    now: i64,
) -> Result<(StatusList, i64), String> {
    let header = jws_header(jwt).ok_or("the status list is not a JWT")?;
    if header.get("typ").and_then(Value::as_str) != Some(STATUS_LIST_TYP) {
        return Err("the status list has the wrong typ".into());
    }
    let (_, p) = kluis_sdjwt::verify_compact_es256(jwt, &registry.key)
        .ok_or("the status list is not signed by the mandate's registry")?;
    if p.get("iss").and_then(Value::as_str) != Some(registry.iss.as_str()) {
        return Err("the status list's iss is not the mandate's registry".into());
    }
    if p.get("sub").and_then(Value::as_str) != Some(uri) {
        return Err("the status list's sub is not its URI".into());
    }
    let (Some(iat), Some(exp)) = (
        p.get("iat").and_then(Value::as_i64),
        p.get("exp").and_then(Value::as_i64),
    ) else {
        return Err("the status list needs iat and exp".into());
    };
    if iat > now + LIST_SKEW_SECS {
        return Err("the status list is issued in the future".into());
    }
    if exp - iat > MAX_REGISTRY_LIST_SECS {
        return Err("the status list is valid for too long".into());
    }
    if exp + LIST_SKEW_SECS < now {
        return Err("the status list has expired".into());
    }
    let update = p
        .get("kluis_update")
        .and_then(Value::as_str)
        .ok_or("the status list carries no update signed by the citizen")?;
    if jws_header(update).and_then(|h| h.get("typ").cloned())
        != Some(Value::String(STATUS_UPDATE_TYP.into()))
    {
        return Err("the citizen's update has the wrong typ".into());
    }
    let (_, u) = kluis_sdjwt::verify_compact_es256(update, citizen)
        .ok_or("the list's update is not signed by the mandate's status key")?;
    let seq = u.get("seq").and_then(Value::as_i64);
    if u.get("sub").and_then(Value::as_str) != Some(uri)
        || seq.is_none()
        || p.get("kluis_seq").and_then(Value::as_i64) != seq
        || u.get("status_list") != p.get("status_list")
    {
        return Err("the status list does not match the citizen's update".into());
    }
    Ok((status_list_claim(&p)?, seq.unwrap_or_default()))
}

/// Whether the mandate at `idx` is revoked, per a verified list.
pub(crate) fn is_revoked(list: &StatusList, idx: usize) -> Result<bool, DelegationError> {
    match list.get(idx) {
        Some(0) => Ok(false),
        Some(1) => Ok(true),
        Some(_) => Err(DelegationError::StatusUnchecked(
            "unknown status value".into(),
        )),
        None => Err(DelegationError::StatusUnchecked(
            "the index is beyond the status list".into(),
        )),
    }
}

/// `base64url(zlib(bits))`, one bit per entry, least significant bit first.
fn encode_lst(revoked: &[bool]) -> Result<String, DelegationError> {
    let entries = revoked.len().max(MIN_ENTRIES);
    let mut bytes = vec![0u8; entries.div_ceil(8)];
    for (i, r) in revoked.iter().enumerate() {
        if *r {
            bytes[i / 8] |= 1 << (i % 8);
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&bytes)
        .map_err(|_| DelegationError::Internal("status list compression"))?;
    let compressed = z
        .finish()
        .map_err(|_| DelegationError::Internal("status list compression"))?;
    Ok(URL_SAFE_NO_PAD.encode(compressed))
}

/// A mandate status list token for `uri` (its `sub`): one bit per mandate, signed by `key` (the
/// mandates' `status_key`) with the public key in the header for the registry.
pub fn sign_status_list(
    key: &SigningKey,
    uri: &str,
    revoked: &[bool],
    now: i64,
) -> Result<String, DelegationError> {
    let payload = json!({
        "sub": uri,
        "iat": now,
        "exp": now + LIST_VALIDITY_SECS,
        "ttl": 300,
        "status_list": { "bits": MANDATE_LIST_BITS, "lst": encode_lst(revoked)? },
    });
    sign_jws(key, STATUS_LIST_TYP, true, &payload)
}

/// The citizen's update of its list at `uri`: one bit per mandate, number `seq` (above every
/// earlier one), signed by `key` (the mandates' `status_key`) with the public key in the header
/// (the registry pins the first writer's key).
pub fn sign_status_update(
    key: &SigningKey,
    uri: &str,
    revoked: &[bool],
    seq: i64,
    now: i64,
) -> Result<String, DelegationError> {
    let payload = json!({
        "sub": uri,
        "iat": now,
        "seq": seq,
        "status_list": { "bits": MANDATE_LIST_BITS, "lst": encode_lst(revoked)? },
    });
    sign_jws(key, STATUS_UPDATE_TYP, true, &payload)
}

/// What the registry did with an update or list sent to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publication {
    /// Accepted: it is what the registry serves now.
    Published,
    /// Refused as older than what the registry holds (HTTP 409: a replay, or a wallet restored
    /// from an older state).
    Superseded,
}

/// Publishes a signed list or update at `uri` with `PUT` (https, or http to loopback).
pub async fn publish_status_list(uri: &str, jwt: &str, policy: &HttpPolicy) -> Result<(), Error> {
    match put_status(uri, jwt, policy).await? {
        Publication::Published => Ok(()),
        Publication::Superseded => Err(Error::Network {
            kind: NetworkFailure::HttpStatus { status: 409 },
            reason: "the mandate registry holds a newer version of this list (HTTP 409)".into(),
        }),
    }
}

/// As [`publish_status_list`], telling a refusal as older apart.
pub async fn put_status(uri: &str, jwt: &str, policy: &HttpPolicy) -> Result<Publication, Error> {
    let url = checked_url(uri)?;
    policy.check(&url)?;
    let client = http_client(policy)?;
    let reply = client
        .put(url)
        .header(
            "content-type",
            match jws_header(jwt).and_then(|h| h.get("typ").cloned()) {
                Some(Value::String(t)) if t == STATUS_UPDATE_TYP => "application/jwt",
                _ => "application/statuslist+jwt",
            },
        )
        .body(jwt.to_string())
        .send()
        .await
        .map_err(|e| Error::Network {
            kind: if e.is_timeout() {
                NetworkFailure::Timeout
            } else {
                NetworkFailure::Unreachable
            },
            reason: format!(
                "publishing the mandate status list to {}: {}",
                crate::http::shorten(uri),
                if e.is_timeout() {
                    "timed out"
                } else {
                    "connection failed"
                }
            ),
        })?;
    if reply.status() == reqwest::StatusCode::CONFLICT {
        return Ok(Publication::Superseded);
    }
    if !reply.status().is_success() {
        return Err(Error::Network {
            kind: NetworkFailure::HttpStatus {
                status: reply.status().as_u16(),
            },
            reason: format!(
                "the mandate registry refused the status list (HTTP {})",
                reply.status().as_u16()
            ),
        });
    }
    Ok(Publication::Published)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_published_list_reads_back_bit_by_bit() {
        let key = SigningKey::make_random().unwrap();
        let uri = "http://127.0.0.1:9/lists/00ff";
        let mut revoked = vec![false; 10];
        revoked[3] = true;
        revoked[9] = true;
        let jwt = sign_status_list(&key, uri, &revoked, 1_000).unwrap();
        let list = verify_status_list(&jwt, uri, &key.public_jwk(), 1_000).unwrap();
        let got: Vec<bool> = (0..10).map(|i| is_revoked(&list, i).unwrap()).collect();
        assert_eq!(got, revoked);
        assert!(!is_revoked(&list, 1000).unwrap());
        assert!(is_revoked(&list, 5000).is_err());
        // Another key, another URI, or too late: refused.
        let other = SigningKey::make_random().unwrap();
        assert!(verify_status_list(&jwt, uri, &other.public_jwk(), 1_000).is_err());
        assert!(
            verify_status_list(&jwt, "http://127.0.0.1:9/lists/x", &key.public_jwk(), 1_000)
                .is_err()
        );
        assert!(
            verify_status_list(&jwt, uri, &key.public_jwk(), 1_000 + LIST_VALIDITY_SECS + 1)
                .is_err()
        );
        // A list without `exp` is refused (a replayed old list must run out).
        let no_exp = sign_jws(
            &key,
            STATUS_LIST_TYP,
            true,
            &json!({ "sub": uri, "status_list": { "bits": 1, "lst": encode_lst(&[]).unwrap() } }),
        )
        .unwrap();
        assert!(verify_status_list(&no_exp, uri, &key.public_jwk(), 1_000)
            .err()
            .unwrap()
            .contains("no exp"));
    }

    /// Publishing goes through the one HTTP seam and honours the policy: without loopback http,
    /// a loopback registry is refused before anything is sent (port 9: nothing listens).
    #[tokio::test]
    async fn publishing_honours_the_policy() {
        let strict = HttpPolicy {
            allow_loopback_http: false,
            ..HttpPolicy::default()
        };
        let uri = "http://127.0.0.1:9/lists/x";
        assert!(matches!(
            publish_status_list(uri, "a.b.c", &strict).await,
            Err(Error::InvalidInput { .. })
        ));
        // With the default policy the same call is sent (and meets the closed port).
        assert!(matches!(
            publish_status_list(uri, "a.b.c", &HttpPolicy::default()).await,
            Err(Error::Network { .. })
        ));
    }
}
